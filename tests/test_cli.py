"""The accelsim command line: outputs, and one clear line with exit status 2 for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from accelsim.cli import main

GOOD_TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 32, 32, 3, 3, 3, 16, 1,
Conv2, 30, 30, 1, 1, 16, 32, 1,
"""


def test_simulate_writes_json_csv_and_plot(tmp_path, capsys):
    js, cs, png = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.png"
    assert main(["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2", "--json", str(js), "--csv",
                 str(cs), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2_1_224 on neural_engine" in out and "s0.b0.dw" in out
    data = json.loads(js.read_text())
    assert len(data["layers"]) == 64
    rec = data["layers"][1]
    for key in ("name", "op", "unit", "compute_cycles", "stall_cycles", "total_cycles", "dram_read_bytes",
                "dram_write_bytes", "energy_pj"):
        assert key in rec
    assert rec["unit"] == "vector"
    assert data["totals"]["total_cycles"] == pytest.approx(sum(r["total_cycles"] for r in data["layers"]))
    assert cs.read_text().splitlines()[0].startswith("name,op,in_shape")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_options_and_precision(capsys):
    assert main(["simulate", "--option", "width=0.5", "--option", "resolution=160", "--precision", "int16",
                 "--quiet", "--json", "/dev/null"]) == 0


def test_topology_and_cfg(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text(GOOD_TOPOLOGY)
    assert main(["simulate", "--hw", "examples/scalesim/scale.cfg", "--topology", str(topo)]) == 0
    assert "Conv2" in capsys.readouterr().out


def test_compare_and_list(capsys):
    assert main(["compare", "--hw", "neural_engine", "eyeriss_like", "--model", "ibn_block"]) == 0
    out = capsys.readouterr().out
    assert "neural_engine" in out and "eyeriss_like" in out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "neural_engine" in out and "mobilenet_v2" in out and "INVALID" not in out


BAD_YAML = "name: x\narray: {rows: 8, cols: [\n"


@pytest.mark.parametrize("args,files,message", [
    (["simulate", "--hw", "nope"], {}, "--hw nope: no such file or hardware name"),
    (["simulate", "--hw", "{d}/bad.yaml"], {"bad.yaml": BAD_YAML}, "bad.yaml: line"),
    (["simulate", "--model", "resnet9000"], {}, "--model resnet9000: unknown model"),
    (["simulate", "--option", "width"], {}, "--option width: expected KEY=VALUE"),
    (["simulate", "--option", "depth=3"], {}, "unknown option 'depth'"),
    (["simulate", "--precision", "int4"], {}, "uses int4 weights, but hardware 'neural_engine' supports"),
    (["simulate", "--precision", "int3"], {}, "--precision int3: expected one of"),
    (["simulate", "--topology", "{d}/t.csv"], {"t.csv": "Layer name, IFMAP Height\n"}, "row 1: expected header"),
    (["simulate", "--json", "{d}/missing/out.json"], {}, "does not exist"),
    (["simulate", "--hw", "{d}/tiny.cfg", "--topology", "{d}/wide.csv"],
     {"tiny.cfg": "[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 1\nFilterSramSzkB: 1\n"
                  "OfmapSramSzkB: 1\nDataflow: os\n",
      # one 23x23 window of one channel is 529 B: more than half the 1 KiB ifmap buffer
      "wide.csv": GOOD_TOPOLOGY.splitlines()[0] + "\nWide, 30, 30, 23, 23, 8, 8, 1,\n"},
     "layer 'Wide' of wide (conv (30, 30, 8)->(8, 8, 8)) fits no tiling in the SRAM of hardware 'tiny' (3 KiB); "
     "not even one filter window of one output fits"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [a.format(d=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelsim: error: ") and message in err and err.count("\n") == 1


def test_console_script_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "neg.yaml"
    bad.write_text(open("hw_configs/neural_engine.yaml").read().replace("ifmap_kb: 512", "ifmap_kb: -4"))
    res = subprocess.run([sys.executable, "-m", "accelsim.cli", "simulate", "--hw", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip() == f"accelsim: error: {bad}: memory.sram.ifmap_kb: expected a positive number, got -4"
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_help_lists_subcommands():
    res = subprocess.run([sys.executable, "-m", "accelsim.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and all(c in res.stdout for c in ("simulate", "compare", "list"))


FACTORY = """import torch.nn as nn
def make():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, 10))
"""


def test_torch_factory_model_and_precision_policy(tmp_path, monkeypatch, capsys):
    (tmp_path / "cli_factory_mod.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    js = tmp_path / "r.json"
    assert main(["simulate", "--model", "cli_factory_mod:make", "--input-shape", "3", "32", "32",
                 "--precision-policy", "first_last:int16:int8", "--quiet", "--json", str(js)]) == 0
    layers = json.loads(js.read_text())["layers"]
    assert [l["op"] for l in layers] == ["conv", "pool", "conv"]  # BN folded, ReLU fused, flatten free
    assert layers[0]["weight_precision"] == "int16" and layers[-1]["weight_precision"] == "int16"
    assert layers[0]["macs"] == 32 * 32 * 16 * 27


def test_models_lists_zoo_with_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out and "300.8" in out and "3.488" in out


@pytest.mark.parametrize("args,message", [
    (["simulate", "--model", "cli_nope_mod:make", "--input-shape", "3", "8", "8"], "cannot import the factory"),
    (["simulate", "--model", "os:getcwd"], "needs --input-shape C H W"),
    (["simulate", "--precision-policy", "bogus"], "--precision-policy bogus: expected uniform:FMT"),
])
def test_bad_model_sources(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
