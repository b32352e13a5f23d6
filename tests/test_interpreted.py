"""Interpreted kernels (accelsim._jit): the same results to the bit, and who runs them.

A process with ``ACCELSIM_JIT=0`` runs the engine's kernels as plain Python without importing numba;
``accelsim simulate`` / ``compare`` run as programs do so by themselves when the work is small. Both
must give exactly what the compiled kernels give: every report field, on the IR-built zoo models and
every shipped config, a batch through the parallel driver's loop, and a network as rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim import _jit
from accelsim.config import available_hardware, load_hardware
from accelsim.engine import simulate, simulate_many
from accelsim.engine import kernels
from accelsim.workload.zoo import load_model

ROOT = Path(__file__).resolve().parents[1]
# the zoo models built without torch (an interpreted command on a torch model pays torch's import anyway)
MODELS = {"mobilenet_v2": {}, "deeplabv3_mobilenet_v2": {"resolution": 257}, "ibn_block": {},
          "fused_ibn_block": {}, "nb201": {}}

RESULTS = """
import hashlib, json, sys
from accelsim.config import available_hardware, load_hardware
from accelsim.engine import simulate, simulate_many
from accelsim.engine import kernels
from accelsim.workload.zoo import load_model
models = json.loads(sys.argv[1])
out = {"reports": {}}
hws = [load_hardware(n) for n in sorted(available_hardware())]
for name, options in models.items():
    net = load_model(name, **options)
    for hw in hws:
        out["reports"][f"{name} on {hw.name}"] = hashlib.sha256(simulate(net, hw).to_json().encode()).hexdigest()
net = load_model("mobilenet_v2")
many = simulate_many(net, hws * (kernels.PARALLEL_MIN_PAIRS // len(hws) + 1))
out["many"] = [many.latency_ms.tolist(), many.energy_mj.tolist(), many.dram_bytes.tolist()]
from codesign.spaces.space import packed_network
from codesign.spaces.zoo_genomes import zoo_genome
rows = packed_network(zoo_genome("efficientnet_b0"))
out["rows"] = [rows.macs, rows.params, list(rows.memory_bytes()), simulate_many(rows, hws[:3]).latency_ms.tolist()]
out["numba"] = "numba" in sys.modules
print(json.dumps(out))
"""


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _in_child(jit: str) -> dict:
    out = subprocess.run([sys.executable, "-c", RESULTS, json.dumps(MODELS)], cwd=ROOT, capture_output=True,
                         text=True, env=_env(ACCELSIM_JIT=jit), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_interpreted_kernels_give_the_compiled_results_to_the_bit():
    interpreted = _in_child("0")
    assert interpreted["numba"] is False                       # numba never imported
    compiled = _in_child("1")
    assert compiled["numba"] is True
    assert len(interpreted["reports"]) == len(MODELS) * len(available_hardware())
    assert interpreted == {**compiled, "numba": False}


def test_this_process_matches_the_interpreted_child():
    """The pytest process's own kernels (compiled, or plain Python in CI's JIT-off pass) agree too."""
    child = _in_child("0")
    hws = [load_hardware(n) for n in sorted(available_hardware())]
    net = load_model("ibn_block")
    for hw in hws:
        digest = hashlib.sha256(simulate(net, hw).to_json().encode()).hexdigest()
        assert digest == child["reports"][f"ibn_block on {hw.name}"], hw.name
    many = simulate_many(load_model("mobilenet_v2"), hws * (kernels.PARALLEL_MIN_PAIRS // len(hws) + 1))
    assert many.latency_ms.tolist() == child["many"][0]


PROBE = """
import contextlib, io, json, sys
sys.argv = ["accelsim", *sys.argv[1:]]
from accelsim.cli import main
err = io.StringIO()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    status = main()
print(json.dumps({"status": status, "stderr": err.getvalue(), "numba": "numba" in sys.modules}))
"""


def _command(argv: list, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                         env=_env(**env), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_small_command_runs_without_numba_and_writes_the_same_report(tmp_path):
    r = _command(["simulate", "--hw", "edge_tpu_like", "--model", "mobilenet_v2", "--no-table",
                  "--json", str(tmp_path / "small.json")])
    assert r["status"] == 0 and r["numba"] is False, r["stderr"]
    expected = simulate(load_model("mobilenet_v2"), load_hardware("edge_tpu_like")).to_json()
    assert (tmp_path / "small.json").read_text() == expected


@pytest.mark.slow
def test_large_work_or_accelsim_jit_1_loads_the_compiled_kernels():
    # 69 layers x 5 configs > SMALL_WORK: compiled
    assert 69 * 5 > _jit.SMALL_WORK
    r = _command(["compare", "--hw", "neural_engine", "edge_tpu_like", "eyeriss_like", "camera_like",
                  "datacenter_wide", "--model", "deeplabv3_mobilenet_v2"])
    assert r["status"] == 0 and r["numba"] is True, r["stderr"]
    r = _command(["simulate", "--model", "ibn_block", "--no-table"], ACCELSIM_JIT="1")
    assert r["status"] == 0 and r["numba"] is True, r["stderr"]


def test_an_unknown_accelsim_jit_is_one_line():
    r = _command(["simulate", "--model", "ibn_block", "--no-table"], ACCELSIM_JIT="fast")
    assert r["status"] == 2 and r["numba"] is False
    assert r["stderr"] == ("accelsim: error: ACCELSIM_JIT='fast': expected auto, 1 (always compile) or 0 "
                           "(never compile)\n")


def test_a_library_call_of_main_never_switches_the_process(monkeypatch):
    """main([...]) from Python (a test, a notebook) is not the program: its process keeps its kernels."""
    from accelsim.cli import main
    monkeypatch.setattr(_jit, "_interpret", None)
    monkeypatch.setattr(_jit, "_may_interpret", False)
    assert main(["simulate", "--model", "ibn_block", "--no-table", "--quiet"]) == 0
    # untouched by the command: still undecided, or what ACCELSIM_JIT itself says (0: interpreted)
    assert _jit._may_interpret is False and _jit._interpret in (None, _jit.mode() == "0")
