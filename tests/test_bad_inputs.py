"""Hostile inputs: every bad file or argument gives one line on stderr and exit status 2, quickly.

The corpus in ``tests/bad_inputs/`` (listed with its command and expected error in ``cases.yaml``) is run
through ``accelsim.cli.main`` in-process; the other tests cover bad arguments, the sane ranges of every
hardware config field, the YAML loader, ONNX files with external weights and a closed stdout.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.cli import main
from accelsim.config import hardware_to_dict, hardware_from_dict, load_hardware, reference_markdown
from accelsim.errors import ConfigError, WorkloadError, quote
from accelsim.io import load_yaml
from conftest import time_limit

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]
LIMIT_S = 5.0   # per case; a hang fails the test instead of stalling the suite




def run_cli(argv, capsys) -> tuple:
    """(exit status, stderr, seconds) of ``accelsim ARGV`` run in this process."""
    capsys.readouterr()
    start = time.perf_counter()
    with time_limit(LIMIT_S):
        rc = main(argv)
    seconds = time.perf_counter() - start
    return rc, capsys.readouterr().err, seconds


def assert_one_line_error(rc: int, err: str, *fragments: str) -> str:
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"expected exactly one line, got {err!r}"
    line = err.rstrip("\n")
    assert line.startswith("accelsim: error: ") and "Traceback" not in line
    assert len(line) < 1000, f"message too long ({len(line)} characters)"
    for fragment in fragments:
        assert fragment in line
    return line


# ------------------------------------------------------------------------------------------ corpus
def test_manifest_lists_every_file_of_the_corpus():
    files = {p.name for p in CORPUS.iterdir() if p.name not in ("cases.yaml", "_generate.py", "__pycache__")}
    listed = [c["file"] for c in CASES]
    assert len(listed) == len(set(listed)) and set(listed) == files
    assert len(files) >= 30
    assert {Path(f).suffix for f in files} >= {".yaml", ".cfg", ".csv", ".onnx"}
    assert all("{file}" in c["command"] and c["error"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_input_file_is_one_line_naming_the_file(case, capsys):
    if case["file"].endswith(".onnx"):
        pytest.importorskip("onnx")
    path = CORPUS / case["file"]
    argv = [arg.replace("{file}", str(path)) for arg in shlex.split(case["command"])]
    rc, err, seconds = run_cli(argv, capsys)
    assert_one_line_error(rc, err, str(path), case["error"])
    assert seconds < LIMIT_S


# ------------------------------------------------------------------------------------ arguments
@pytest.mark.parametrize("args, message", [
    (["--option", "width=abc"], "--option width=abc: expected a number in [0.05, 8]"),
    (["--option", "width=-1"], "--option width=-1: expected a number in [0.05, 8]"),
    (["--option", "width=nan"], "--option width=nan: expected a number"),
    (["--option", "width=inf"], "--option width=inf: expected a number"),
    (["--option", "resolution=0"], "--option resolution=0: expected an integer in [1, 2048]"),
    (["--option", "resolution=1000000"], "--option resolution=1000000: expected an integer in [1, 2048]"),
    (["--option", "resolution=1e3"], "--option resolution=1e3: expected an integer"),
    (["--option", "resolution=16", "--option", "precision=int3"], "--option precision=int3: expected one of int4"),
    (["--option", "depth=3"], "--option depth=3: unknown option 'depth' for model mobilenet_v2"),
    (["--model", "ds_cnn", "--option", "size=xl"], "--option size=xl: expected one of s, m, l"),
    (["--model", "resnet18", "--option", "resolution=0"], "--option resolution=0: expected an integer"),
    (["--model", "vit_tiny", "--option", "depth=100000"], "--option depth=100000: expected an integer in [1, 96]"),
    (["--model", "ibn_block", "--option", "kernel=-3"], "--option kernel=-3: expected an integer in [1, 31]"),
    (["--model", "ibn_block", "--option", "expansion=1e400"], "--option expansion=1e400: expected a number"),
    (["--topology", str(CORPUS / "topo_negative.csv"), "--option", "width=2"],
     "builder options apply to zoo models"),
    (["--model", "no_such_mod:make", "--input-shape", "3", "0", "8"], "--input-shape 3 0 8: expected C in [1, 65536]"),
    (["--model", "no_such_mod:make", "--input-shape", "3", "100000", "100000"], "--input-shape 3 100000 100000"),
    (["--model", "os:sep", "--input-shape", "3", "8", "8"], "--model os:sep: expected a function"),
    (["--model", "os:system", "--input-shape", "3", "8", "8"], "--model os:system: the factory failed (TypeError"),
    (["--model", "os:getcwd", "--input-shape", "3", "8", "8"], "expected a torch.nn.Module, got str"),
    (["--hw", "/dev/zero"], "/dev/zero: larger than 64 MiB"),
    (["--hw", str(CORPUS)], f"{CORPUS}: cannot read"),
])
def test_bad_arguments_are_one_line(args, message, capsys):
    if args[1] == "/dev/zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    rc, err, _ = run_cli(["simulate", "--quiet", *args], capsys)
    assert_one_line_error(rc, err, message)


def test_zoo_builder_options_are_checked_in_scenarios_and_load_model():
    from accelsim.workload import load_model
    from accelsim.workload.zoo import MODELS, OPTIONS, option_names
    for name in MODELS:   # every option of every builder has a declared kind and range
        assert set(option_names(name)) <= set(OPTIONS), name
    with pytest.raises(WorkloadError, match=r"^model mobilenet_v2: option width: expected a number in \[0.05, 8\] "
                                            r"\(channel width multiplier\), got 'abc'$"):
        load_model("mobilenet_v2", width="abc")
    with pytest.raises(WorkloadError, match=r"option resolution: expected an integer in \[1, 2048\] \(.*\), got True"):
        load_model("mobilenet_v2", resolution=True)
    assert load_model("mobilenet_v2", resolution=96.0).input_shape == (96, 96, 3)   # 96.0 is the integer 96


def test_system_duration_argument_is_bounded(capsys):
    rc, err, _ = run_cli(["system", "--scenario", "smart_display", "--duration", "1e9s"], capsys)
    assert_one_line_error(rc, err, "--duration 1e9s: expected at most 86400s (one day)")


# ------------------------------------------------------------------------------------ config ranges
def _reference_keys() -> list:
    """(key path, range text) of every numeric field in the config reference."""
    rows = [r.split(" | ") for r in reference_markdown().splitlines()[2:]]
    return [(cells[0].strip("| `"), cells[2]) for cells in rows if cells[2][:1] in "[("]


def _set(data: dict, key: str, value) -> dict:
    parts = key.replace("<format>", "int8").split(".")
    if parts[-1] == "ops_per_lane_per_cycle":
        parts.append("int8")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


@pytest.mark.parametrize("key, text", _reference_keys(), ids=[k for k, _ in _reference_keys()])
def test_every_numeric_config_field_has_an_upper_bound(key, text):
    """A value 10**6 times the top of the documented range is refused, naming the key and the range."""
    top = text.rstrip("]").rsplit(", ", 1)[1]
    high = 2 ** int(top[2:]) if top.startswith("2^") else float(top)
    base = "gpu_like" if key.startswith("roofline.") else "neural_engine"   # keys of kind roofline on a roofline config
    data = _set(hardware_to_dict(load_hardware(base)), key, high * 1e6)
    if key == "memory.sram.unified_kb":
        data["memory"]["sram"] = {k: v for k, v in data["memory"]["sram"].items() if not k.endswith(("ifmap_kb",
                                  "filter_kb", "ofmap_kb"))} | {"unified_kb": high * 1e6}
    where = key.replace("<format>", "int8") + (".int8" if key.endswith("ops_per_lane_per_cycle") else "")
    with pytest.raises(ConfigError, match=rf"^x.yaml: {where}: expected an? (integer|number) in "):
        hardware_from_dict(data, "x.yaml")
    # the top of the range itself is accepted by the field check (a later cross-field check may still object)
    try:
        hardware_from_dict(_set(hardware_to_dict(load_hardware(base)), key, high), "x.yaml")
    except ConfigError as exc:
        assert f"{where}: expected" not in str(exc)


def test_extreme_but_valid_configs_give_finite_json():
    ne = load_hardware("neural_engine")
    slow = {"int8": 1e-3, "int16": 1e-3, "fp16": 1e-3}
    for changes in (dict(array__clock_mhz=1e6, dram__bandwidth_gb_per_s=1e-3),
                    dict(array__rows=1, array__cols=1, array__clock_mhz=1e-3, vector__lanes=1,
                         vector__ops_per_lane_per_cycle=slow),
                    dict(array__rows=65536, array__cols=65536, dram__bandwidth_gb_per_s=1e6)):
        report = accelsim.simulate(accelsim.load_model("ibn_block"), ne.replace(**changes))
        json.loads(report.to_json(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON of {changes}"))
        assert report.table()


def test_replace_rejects_absurd_values_like_a_file():
    ne = load_hardware("neural_engine")
    with pytest.raises(ConfigError, match=r"array.rows: expected an integer in \[1, 65536\], got 100000000000$"):
        ne.replace(array__rows=10 ** 11)
    with pytest.raises(ConfigError, match=r"array.clock_mhz: expected a number in \[0.001, 1e6\], got 1e-300$"):
        ne.replace(array__clock_mhz=1e-300)
    with pytest.raises(ConfigError, match="dram.bandwidth_gb_per_s: expected a finite number"):
        ne.replace(dram__bandwidth_gb_per_s=10 ** 400)


# ------------------------------------------------------------------------------------ YAML loader
def test_yaml_anchors_and_merges_still_work():
    data = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n", "a.yaml")
    assert data == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}] * 2}


def test_recursive_alias_and_bomb_are_refused_without_expanding():
    bomb = (CORPUS / "hw_alias_bomb.yaml").read_text()
    with time_limit(LIMIT_S):   # a watchdog: expanding the bomb would not finish
        with pytest.raises(ConfigError, match=r"^b.yaml: line 1: YAML aliases expand to more than 100,000 values"):
            load_yaml(bomb, "b.yaml")
        with pytest.raises(ConfigError, match="^r.yaml"):
            load_yaml("a: &a [1, *a]\n", "r.yaml")


def test_quote_caps_huge_and_nested_values():
    nested = ["lol"] * 9
    for _ in range(8):
        nested = [nested] * 9   # 9**9 strings when expanded
    with time_limit(LIMIT_S):   # a watchdog: printing the nested value whole would not finish
        for value in (nested, "x" * 10 ** 6, 10 ** 5000, {i: i for i in range(10 ** 5)}):
            assert len(quote(value)) <= 60
    assert quote(-4) == "-4" and quote("fast") == "'fast'"


# ------------------------------------------------------------------------------------ ONNX
def _conv_model(onnx):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 4])
    w = numpy_helper.from_array(np.ones((16, 4, 3, 3), dtype=np.float32), "w")
    b = numpy_helper.from_array(np.ones((16,), dtype=np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_with_external_weights_imports_from_shapes_alone(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from accelsim.workload.onnx_import import from_onnx
    inline = tmp_path / "inline.onnx"
    onnx.save_model(_conv_model(onnx), str(inline))
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    ext = ext_dir / "model.onnx"
    onnx.save_model(_conv_model(onnx), str(ext), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    (ext_dir / "weights.bin").unlink()   # the simulator needs no weight values: the file may be elsewhere
    a, b = from_onnx(inline), from_onnx(ext)
    assert [(l.op, l.out_shape, l.macs, l.bias) for l in a.layers] == [(l.op, l.out_shape, l.macs, l.bias)
                                                                        for l in b.layers]
    assert b.params == a.params == 16 * 4 * 9 + 16
    rc, err, _ = run_cli(["simulate", "--model", str(ext), "--quiet"], capsys)
    assert rc == 0, err


def test_missing_onnx_file_is_one_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    rc, err, _ = run_cli(["simulate", "--model", str(tmp_path / "nope.onnx"), "--quiet"], capsys)
    assert_one_line_error(rc, err, f"{tmp_path / 'nope.onnx'}: cannot read")


# ------------------------------------------------------------------------------------ stdout closed
class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_stdout_exits_1_quietly_in_process(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["simulate", "--model", "ibn_block"]) == 1
    assert capsys.readouterr().err == ""


def test_simulate_piped_into_head_has_no_traceback():
    """``accelsim simulate | head -1``: the reader goes away before the table is written."""
    proc = subprocess.Popen([sys.executable, "-m", "accelsim.cli", "simulate", "--model", "mobilenet_v2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # as head does after its first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err == "", err


def test_codesign_closed_stdout_exits_1_quietly(monkeypatch, capsys, tmp_path):
    """``codesign search ... | head -1`` and ``codesign show DIR | head -1``: the reader of stdout left;
    status 1, nothing on stderr, and the run's files are written all the same."""
    from codesign.cli import main as codesign_main
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    config = str(ROOT / "examples" / "search" / "hw_search.yaml")
    assert codesign_main(["search", "--config", config, "--out", str(out), "--budget", "8", "--quiet"]) == 1
    assert (out / "summary.json").exists()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())   # the first exit pointed stdout at /dev/null
    assert codesign_main(["show", str(out)]) == 1
    assert capsys.readouterr().err == ""
