"""Mixed-precision policies: uniform, first/last, maps from YAML/JSON, and SQNR sensitivity."""

from __future__ import annotations

import json

import pytest

import accelsim
from accelsim.errors import MappingError, WorkloadError
from accelsim.workload import load_model
from accelsim.workload.precision_policy import (first_last, from_map, layer_sqnr, sensitivity, uniform,
                                                weight_layers)


@pytest.fixture(scope="module")
def mnv2():
    return load_model("mobilenet_v2")


def formats(net):
    return {l.name: (l.weight_precision, l.act_precision) for l in net.layers}


def test_uniform(mnv2):
    net = uniform(mnv2, "int16")
    assert net.precisions_used() == {"int16"}
    assert uniform(mnv2, "int8", "int16").layers[0].act_precision == "int16"
    with pytest.raises(WorkloadError, match="unknown precision 'int9'; expected one of int4, int8"):
        uniform(mnv2, "int9")


def test_first_last_and_the_hardware_check(mnv2):
    net = first_last(mnv2)
    f = formats(net)
    assert f["stem"] == f["classifier"] == ("int16", "int16")
    assert {v for k, v in f.items() if k not in ("stem", "classifier")} == {("int8", "int8")}
    assert net.input_precision == "int8"
    # int16 layers cost more on an engine that packs two int8 MACs per PE
    ne = accelsim.load_hardware("neural_engine")
    assert accelsim.simulate(net, ne).total_cycles > accelsim.simulate(mnv2, ne).total_cycles
    with pytest.raises(MappingError, match="int16"):      # edge_tpu_like has no int16
        accelsim.simulate(net, "edge_tpu_like")
    with pytest.raises(WorkloadError, match=r"first_last\(high\): unknown precision 'fp64'"):
        first_last(mnv2, high="fp64")


def test_from_map_dict_globs_and_exact_names(mnv2):
    net = from_map(mnv2, {"*": "int8", "s1.*": "int16", "s1.b0.dw": {"weight": "int4"}, "classifier": "fp16"})
    f = formats(net)
    assert f["s1.b0.expand"] == ("int16", "int16")
    assert f["s1.b0.dw"] == ("int4", "int16")       # exact name overrides the glob, act kept from it
    assert f["classifier"] == ("fp16", "fp16")
    assert f["stem"] == ("int8", "int8")


def test_from_map_files(mnv2, tmp_path):
    y = tmp_path / "p.yaml"
    y.write_text("stem: int16\n'head': {weight: int16, act: int8}\n")
    f = formats(from_map(mnv2, y))
    assert f["stem"] == ("int16", "int16") and f["head"] == ("int16", "int8") and f["pool"] == ("int8", "int8")
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"s6.*": "int16"}))
    assert formats(from_map(mnv2, j))["s6.b0.project"] == ("int16", "int16")
    assert formats(from_map(mnv2, j, default="int16"))["stem"] == ("int16", "int16")


@pytest.mark.parametrize("mapping,message", [
    ({"stemm": "int16"}, r"precision map: stemm: no layer named 'stemm' in mobilenet_v2_1_224 \(did you mean stem"),
    ({"s9.*": "int16"}, r"precision map: s9\.\*: glob matches no layer"),
    ({"stem": "int12"}, r"precision map: stem: unknown precision 'int12'"),
    ({"stem": {"weights": "int8"}}, r"precision map: stem: expected keys weight and/or act"),
    ({"stem": {"act": "int3"}}, r"precision map: stem\.act: unknown precision 'int3'"),
    ({"stem": 8}, r"precision map: stem: expected a precision name"),
])
def test_from_map_errors(mnv2, mapping, message):
    with pytest.raises(WorkloadError, match=message):
        from_map(mnv2, mapping)


def test_from_map_file_errors(mnv2, tmp_path):
    with pytest.raises(WorkloadError, match="not found"):
        from_map(mnv2, tmp_path / "missing.yaml")
    txt = tmp_path / "p.txt"
    txt.write_text("stem: int8")
    with pytest.raises(WorkloadError, match=r"p\.txt: expected a \.yaml"):
        from_map(mnv2, txt)
    bad = tmp_path / "bad.json"
    bad.write_text("{stem: ")
    with pytest.raises(WorkloadError, match=r"bad\.json: cannot parse"):
        from_map(mnv2, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- stem\n")
    with pytest.raises(WorkloadError, match="expected a mapping"):
        from_map(mnv2, lst)


# ---- sensitivity -------------------------------------------------------------------------------
def small_model(torch):
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(8, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    with torch.no_grad():
        m[2].weight[0, 0, 0, 0] = 50.0   # one outlier: per-tensor int8 wipes out the other weights of layer 2
    return m


def test_sensitivity_keeps_the_noisiest_layer_high():
    torch = pytest.importorskip("torch")
    from accelsim.workload.torch_import import from_torch
    m = small_model(torch)
    net = from_torch(m, (3, 8, 8))
    calib = [torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    s8, s16 = layer_sqnr(m, net, calib, "int8"), layer_sqnr(m, net, calib, "int16")
    assert set(s8) == set(weight_layers(net)) == {"0", "2", "4", "8"}
    assert min(s8, key=s8.get) == "2"
    assert all(s16[n] > s8[n] + 20 for n in s8)          # 8 more bits: ~48 dB better
    mixed = sensitivity(m, net, calib, fraction_high=0.25)
    assert {n for n, f in formats(mixed).items() if f == ("int16", "int16")} == {"2"}
    # a weight-bit budget that pays for layer 2's upgrade and nothing more
    low_bits = 8 * net.params
    extra = 8 * net.layer("2").param_count
    by_bits = sensitivity(m, net, calib, bits_budget=low_bits + extra)
    assert formats(by_bits) == formats(mixed)
    assert formats(sensitivity(m, net, calib, bits_budget=low_bits)) == formats(uniform(net, "int8"))
    assert m.training   # the module's mode is restored


def test_sensitivity_errors():
    torch = pytest.importorskip("torch")
    from accelsim.workload.torch_import import from_torch
    m = small_model(torch)
    net = from_torch(m, (3, 8, 8))
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(WorkloadError, match="exactly one of bits_budget or fraction_high"):
        sensitivity(m, net, x)
    with pytest.raises(WorkloadError, match="exactly one"):
        sensitivity(m, net, x, bits_budget=1e9, fraction_high=0.5)
    with pytest.raises(WorkloadError, match="below the"):
        sensitivity(m, net, x, bits_budget=10)
    with pytest.raises(WorkloadError, match="fraction_high must be in"):
        sensitivity(m, net, x, fraction_high=1.5)
    with pytest.raises(WorkloadError, match=r"sensitivity\(high\): unknown precision"):
        sensitivity(m, net, x, fraction_high=0.5, high="int32")
    with pytest.raises(WorkloadError, match="no conv/linear module"):
        sensitivity(torch.nn.Sequential(torch.nn.ReLU()), net, x, fraction_high=0.5)
