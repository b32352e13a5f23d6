"""PyTorch model zoo: MACs and parameters against published figures, options, and simulation.

Parameters are counted as accelsim does: conv/linear weights + biases, with every batch norm folded
into one bias per channel of the conv before it (frameworks count two BN parameters per channel, so
their totals are slightly higher). MACs count conv, linear and matmul layers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

import accelsim
from accelsim.errors import WorkloadError
from accelsim.workload import load_model
from accelsim.workload.zoo import MODELS, model_info

pytest.importorskip("torch")

HW_CONFIGS = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "hw_configs").glob("*.yaml"))


@lru_cache(maxsize=None)
def net(name: str, **options):
    return load_model(name, **options)


def cached(name, options=()):
    return net(name, **dict(options))


# name, options, published MACs, published params, source
PUBLISHED = [
    ("mobilenet_v2_torch", (), 300e6, 3.47e6, "Sandler et al. 2018 / TF-slim table: 300 M MACs, 3.47 M"),
    ("mobilenet_v3_large", (), 219e6, 5.4e6, "Howard et al. 2019, Table 3: 219 M MAdds, 5.4 M"),
    ("mobilenet_v3_small", (), 56e6, 2.5e6, "Howard et al. 2019, Table 3: 56 M MAdds, 2.5 M"),
    ("efficientnet_b0", (), 390e6, 5.3e6, "Tan & Le 2019, Table 2: 0.39 B FLOPs (multiply-adds), 5.3 M"),
    ("efficientnet_edgetpu_s", (), 1.8e9, 5.4e6, "timm efficientnet_es model card: 1.8 GMACs, 5.4 M"),
    ("mnasnet_a1", (), 312e6, 3.9e6, "Tan et al. 2019, Table 1: 312 M MACs, 3.9 M"),
    ("resnet18", (), 1.82e9, 11.7e6, "He et al. 2016 / torchvision: 1.82 G, 11.7 M"),
    ("resnet50", (), 4.1e9, 25.6e6, "torchvision ResNet-50 (v1.5): 4.09 GFLOPS (MACs), 25.6 M"),
    # Hello Edge Table: ops = 2 x MACs; memory = 8-bit weights + two activation buffers
    ("ds_cnn", (("size", "s"),), 5.4e6 / 2, 38.6e3 - 2 * 25 * 5 * 64, "Zhang et al. 2017: 5.4 M ops, 38.6 KB"),
    ("ds_cnn", (("size", "m"),), 19.8e6 / 2, 189.7e3 - 25 * 10 * 172 - 13 * 5 * 172,
     "Zhang et al. 2017: 19.8 M ops, 189.7 KB"),
    ("ds_cnn", (("size", "l"),), 56.9e6 / 2, 497.6e3 - 25 * 10 * 276 - 13 * 5 * 276,
     "Zhang et al. 2017: 56.9 M ops, 497.6 KB"),
    ("ssdlite_mobilenet_v2", (), 0.8e9, 4.3e6, "Sandler et al. 2018, Table 6 (320x320): 0.8 B MAdds, 4.3 M"),
    ("lraspp_mobilenet_v3", (), 2.086e9, 3.221538e6, "torchvision lraspp_mobilenet_v3_large: 2.086 GFLOPS, 3221538"),
    ("vit_tiny", (), 1.26e9, 5.72e6, "DeiT-Ti (mmpretrain table): 1.26 GFLOPs, 5.72 M"),
    ("nb201", (("arch", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                "nor_conv_3x3~2|"),), 220.11e6, 1.53e6, "NAS-Bench-201 API, all-conv3x3 cell (CIFAR-10)"),
]


@pytest.mark.parametrize("name,options,macs,params,source", PUBLISHED,
                         ids=[f"{p[0]}{'-' + str(p[1][0][1])[:6] if p[1] else ''}" for p in PUBLISHED])
def test_counts_match_published(name, options, macs, params, source):
    n = cached(name, options)
    assert n.macs == pytest.approx(macs, rel=0.02), source
    assert n.params == pytest.approx(params, rel=0.02), source


def test_exact_counts_are_pinned():
    # Regression pins of our own numbers (the published ones above are rounded).
    assert cached("mobilenet_v3_large").macs == 216_589_760
    assert cached("resnet50").macs == 4_089_184_256
    assert cached("lraspp_mobilenet_v3").macs == 2_086_219_688
    assert cached("ds_cnn", (("size", "s"),)).params == 22_604


def test_mobilenet_v2_torch_equals_fast_path():
    fast, traced = load_model("mobilenet_v2"), cached("mobilenet_v2_torch")

    def key(layer):
        return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.bias,
                layer.activation, layer.macs)

    assert [key(l) for l in fast.layers] == [key(l) for l in traced.layers]


def test_resolution_and_width_options():
    base = cached("mobilenet_v3_large")
    small = cached("mobilenet_v3_large", (("resolution", 160),))
    assert small.input_shape == (160, 160, 3)
    assert small.params == base.params
    assert small.macs == pytest.approx(base.macs * (160 / 224) ** 2, rel=0.05)
    half = load_model("mobilenet_v2_torch", width=0.5)
    assert half.params / 1e6 == pytest.approx(1.95, rel=0.02)   # TF-slim table, as the fast path
    # one ViT-Ti block on 196 tokens: q, k, v, proj 4 x 196*192*192; attention 2 x 3*196*196*64; MLP 2 x 196*192*768
    block = 4 * 196 * 192 * 192 + 2 * 3 * 196 * 196 * 64 + 2 * 196 * 192 * 768
    assert cached("vit_tiny").macs - load_model("vit_tiny", depth=2).macs == 10 * block


def test_nb201_arch_strings():
    skip = cached("nb201", (("arch", "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"),))
    # no cell convs: stem + two reduction blocks + classifier = 7.78 M MACs (the NB201 minimum)
    assert skip.macs == 7_783_040
    default = cached("nb201")
    convs = [l for l in default.layers if l.op == "conv" and l.kernel == (3, 3)]
    assert len(convs) == 1 + 15 * 3 + 2 * 2     # stem, 3 conv3x3 edges x 15 cells, reduction blocks
    zero_arch = "|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
    as_written = load_model("nb201", arch=zero_arch, prune=False)
    assert sum(l.is_zero and l.kind == "mul_const" for l in as_written.layers) == 2 * 15   # nodes 1, 2: x * 0
    # node 3 is BN(conv(ReLU(0))), a constant: so is every cell and the whole network, which a compiler
    # (and the default, pruned model) folds to one trivial layer
    assert [l.name for l in load_model("nb201", arch=zero_arch).layers] == ["constant"]
    for bad in ("|nor_conv_3x3~0|", "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"):
        with pytest.raises(WorkloadError, match="NAS-Bench-201 arch"):
            load_model("nb201", arch=bad)


def test_bad_options():
    with pytest.raises(WorkloadError, match="unknown option 'depth'"):
        load_model("resnet18", depth=3)
    with pytest.raises(WorkloadError, match="DS-CNN size"):
        load_model("ds_cnn", size="xl")


def test_precision_option():
    n = load_model("ds_cnn", precision="int16")
    assert n.precisions_used() == {"int16"}


def test_model_info_lists_every_model():
    info = model_info(["ds_cnn", "mobilenet_v2", "nb201"])
    assert info["ds_cnn"] == {"input_shape": (49, 10, 1), "macs": cached("ds_cnn", (("size", "s"),)).macs,
                              "params": 22_604, "layers": len(cached("ds_cnn", (("size", "s"),)).layers)}
    assert info["mobilenet_v2"]["macs"] == 300_774_272
    assert set(model_info()) == set(MODELS)
    with pytest.raises(WorkloadError, match="unknown model"):
        model_info(["nope"])


def test_import_accelsim_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, accelsim, accelsim.workload.zoo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("hw", HW_CONFIGS, ids=[Path(p).stem for p in HW_CONFIGS])
def test_every_zoo_model_simulates_on_every_config(hw):
    hardware = accelsim.load_hardware(hw)
    for name in MODELS:
        n = cached(name)
        report = accelsim.simulate(n, hardware)
        assert 0 < report.latency_ms < float("inf"), name
        assert report.compute_cycles > 0 and report.energy_mj > 0, name
        assert report.totals()["macs"] == n.macs
