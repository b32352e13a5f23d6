"""Block ids on layers and results grouped by block or stage: conservation, the zoo's and the search
space's block structure, module paths of imported models, and the CLI's --group."""

from __future__ import annotations

import json

import pytest

import accelsim
from accelsim.cli import main
from accelsim.engine.grouping import group_layers, grouped_table
from accelsim.workload import load_model
from accelsim.workload.ir import NetworkBuilder

MBV2_BLOCKS = ["stem.0", "s0.b0", "s1.b0", "s1.b1", "s2.b0", "s2.b1", "s2.b2", "s3.b0", "s3.b1", "s3.b2", "s3.b3",
               "s4.b0", "s4.b1", "s4.b2", "s5.b0", "s5.b1", "s5.b2", "s6.b0", "head.0"]


@pytest.fixture(scope="module")
def mbv2_report():
    return accelsim.simulate(load_model("mobilenet_v2"), "neural_engine")


# ------------------------------------------------------------------------------------ builder
def test_block_context_nests_and_ibn_stamps_its_name():
    b = NetworkBuilder("blocks", (16, 16, 8))
    x = b.conv(b.input, 8, 3, name="free")
    with b.block("s1.b0"):
        x = b.conv(x, 8, 1, name="outer")
        with b.block("s1.b1"):
            x = b.conv(x, 8, 1, name="inner")
        x = b.ibn(x, 8, expansion=2, name="ibn_in_block")     # the active block wins over the IBN's name
    x = b.ibn(x, 8, expansion=2, name="s2.b0")
    b.fused_ibn(x, 16, expansion=2, name="s2.b1")
    net = b.build()
    blocks = {l.name: l.block for l in net.layers}
    assert blocks["free"] == "" and blocks["outer"] == "s1.b0" and blocks["inner"] == "s1.b1"
    assert {blocks[n] for n in blocks if n.startswith("ibn_in_block.")} == {"s1.b0"}
    assert {blocks[n] for n in blocks if n.startswith("s2.b0.")} == {"s2.b0"}
    assert {blocks[n] for n in blocks if n.startswith("s2.b1.")} == {"s2.b1"}
    assert net.layer("s2.b0.dw").stage == "s2" and net.layer("free").stage == ""


def test_splice_keeps_block_ids():
    inner = NetworkBuilder("stage", (8, 8, 4))
    inner.ibn(inner.input, 4, expansion=2, name="s0.b0")
    b = NetworkBuilder("outer", (8, 8, 4))
    with b.block("other.0"):
        b.splice(inner.layers, b.input)
    assert {l.block for l in b.build().layers} == {"s0.b0"}


# ------------------------------------------------------------------------------------ grouping
@pytest.mark.parametrize("by", ["block", "stage"])
def test_group_totals_equal_network_totals(mbv2_report, by):
    r = mbv2_report
    groups = group_layers(r, by)
    assert sum(g["layers"] for g in groups) == len(r.network.layers)
    assert sum(g["macs"] for g in groups) == r.network.macs
    # float sums in another order: equal up to rounding
    for key, total in (("total_cycles", r.total_cycles), ("compute_cycles", r.compute_cycles),
                       ("stall_cycles", r.stall_cycles), ("energy_pj", r.energy_pj),
                       ("latency_ms", r.latency_ms)):
        assert sum(g[key] for g in groups) == pytest.approx(total, rel=1e-12), key
    assert sum(g["dram_read_bytes"] + g["dram_write_bytes"] for g in groups) == pytest.approx(r.dram_bytes, rel=1e-12)
    assert sum(g["cycle_share"] for g in groups) == pytest.approx(1.0)


def test_mobilenet_v2_has_17_ibn_blocks_plus_stem_and_head(mbv2_report):
    blocks = mbv2_report.by_block()
    assert [g["name"] for g in blocks] == MBV2_BLOCKS
    assert sum(g["name"].startswith("s") and ".b" in g["name"] for g in blocks) == 17
    assert [g["layers"] for g in blocks[:4]] == [1, 2, 3, 4]   # stem; t=1 IBN (no expand); stride-2 IBN; residual IBN
    assert blocks[-1]["layers"] == 3                           # head conv, pool, classifier


def test_stage_grouping_merges_blocks(mbv2_report):
    blocks, stages = mbv2_report.by_block(), mbv2_report.by_stage()
    assert [g["name"] for g in stages] == ["stem", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "head"]
    s3 = next(g for g in stages if g["name"] == "s3")
    parts = [g for g in blocks if g["name"].startswith("s3.")]
    assert len(parts) == 4 and s3["layers"] == sum(g["layers"] for g in parts)
    assert s3["total_cycles"] == pytest.approx(sum(g["total_cycles"] for g in parts), rel=1e-12)
    assert s3["macs"] == sum(g["macs"] for g in parts)


def test_layers_without_a_block_group_under_none():
    b = NetworkBuilder("mixed", (16, 16, 8))
    x = b.conv(b.input, 8, 1, name="loose")
    with b.block("s0.b0"):
        b.conv(x, 8, 3, name="kept")
    r = accelsim.simulate(b.build(), "neural_engine")
    assert [(g["name"], g["layers"]) for g in r.by_block()] == [("(none)", 1), ("s0.b0", 1)]
    assert [g["name"] for g in r.by_stage()] == ["(none)", "s0"]


def test_grouped_table_lists_groups_and_totals(mbv2_report):
    text = grouped_table(mbv2_report.by_stage())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["group", "layers", "MACs"]
    assert any(line.startswith("s3 ") for line in lines)
    assert lines[-1].startswith(f"9 groups, {len(mbv2_report.network.layers)} layers:")


def test_group_by_must_be_block_or_stage(mbv2_report):
    with pytest.raises(ValueError, match="expected one of block, stage"):
        group_layers(mbv2_report, "layer")


# ------------------------------------------------------------------------------------ builders
def test_search_space_networks_carry_stem_stage_block_head_ids():
    np = pytest.importorskip("numpy")
    from codesign.spaces.space import NetworkSpace
    space = NetworkSpace()
    genome = space.sample(np.random.default_rng(0))
    net = space.build(genome)
    blocks = list(dict.fromkeys(l.block for l in net.layers))
    depths = genome.stage_depths()
    expected = ["stem.0"] + [f"s{si}.b{i}" for si, d in enumerate(depths) for i in range(d)] + ["head.0"]
    assert blocks == expected


def test_single_block_zoo_models():
    for name in ("ibn_block", "fused_ibn_block"):
        assert {l.block for l in load_model(name).layers} == {"s0.b0"}


# ------------------------------------------------------------------------------------ imported models
def test_torch_model_groups_by_module_path():
    torch = pytest.importorskip("torch")
    import torch.nn as nn
    from accelsim.workload.torch_import import from_torch

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.body = nn.Sequential(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                                    nn.Conv2d(8, 8, 1)),
                                      nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU()))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.stem(x)
            x = x + self.body[0](x)                     # a top-level functional op: no module
            x = self.body[1](x)
            return self.fc(torch.flatten(x.mean((2, 3)), 1))

    net = from_torch(Net(), (3, 16, 16), name="paths")
    blocks = [(l.name, l.block) for l in net.layers]
    assert blocks[:4] == [("stem.0", "stem.0"), ("body.0.0", "body.0"), ("body.0.2", "body.0"), ("add", "")]
    r = accelsim.simulate(net, "neural_engine")
    assert [g["name"] for g in r.by_block()] == ["stem.0", "body.0", "(none)", "body.1", "fc"]
    assert [(g["name"], g["layers"]) for g in r.by_stage()] == [("stem", 1), ("body", 3), ("(none)", 2), ("fc", 1)]


def test_traced_zoo_model_blocks_are_module_paths():
    pytest.importorskip("torch")
    net = load_model("mobilenet_v2_torch", resolution=96)
    blocks = list(dict.fromkeys(l.block for l in net.layers))
    # torch_zoo.MobileNetV2: features.0 (stem), 17 inverted residuals, features.18 (last conv), then the head
    assert blocks[:19] == [f"features.{i}" for i in range(19)]
    assert {l.stage for l in net.layers} >= {"features", "classifier"}


# ------------------------------------------------------------------------------------ CLI
def test_cli_group_block_prints_block_table(tmp_path, capsys):
    js = tmp_path / "r.json"
    assert main(["simulate", "--model", "mobilenet_v2", "--group", "block", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "by block" in out and "s3.b1" in out and "s0.b0.dw" not in out   # no per-layer rows
    data = json.loads(js.read_text())
    assert data["group_by"] == "block" and [g["name"] for g in data["groups"]] == MBV2_BLOCKS
    assert len(data["layers"]) == 64 and "totals" in data
    assert main(["simulate", "--model", "mobilenet_v2", "--group", "stage"]) == 0
    assert "\ns3 " in capsys.readouterr().out


def test_cli_group_rejects_other_values(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--group", "layer"])
    assert exc.value.code == 2
    assert "invalid choice: 'layer'" in capsys.readouterr().err
