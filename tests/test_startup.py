"""Start-up: what a command imports before it does its work, and the Numba kernel cache note.

Each command runs ``main(argv)`` in a fresh interpreter (the modules a process has imported cannot be
forgotten) and reports which heavy packages ended up in ``sys.modules``. ``--help``, ``list``,
``schema`` and every argument or config error must not import numba (nor scipy, which numba loads
with its kernels), torch or matplotlib: they answer in a fraction of a second, without the engine.
``accelsim models`` is left out: it traces the PyTorch zoo models for their figures, by design.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "scipy", "torch", "matplotlib")
NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")

PROBE = """
import contextlib, io, json, sys
program, argv = sys.argv[1], sys.argv[2:]
main = __import__(program + ".cli", fromlist=["main"]).main
err = io.StringIO()
try:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(argv)
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "stderr": err.getvalue(),
                  "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def run_probe(program: str, argv: list, cwd: Path = ROOT) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, program, *argv], cwd=cwd, capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("startup")
    base = (ROOT / "hw_configs" / "neural_engine.yaml").read_text()
    files = {"malformed": "array: {rows: 16, cols: [\n", "unknown_key": base + "\nsurprise_key: 1\n"}
    paths = {}
    for name, text in files.items():
        paths[name] = d / f"{name}.yaml"
        paths[name].write_text(text)
    paths["measured"] = d / "measured.csv"
    paths["measured"].write_text("network,pixel\nmobilenet_v2,1.0\n")
    return paths


# (program, argv, expected exit status); argv entries in braces name a file of ``bad_files``
CASES = [
    ("accelsim", ["--help"], 0),
    ("accelsim", ["--version"], 0),
    ("accelsim", ["list"], 0),
    ("accelsim", ["schema", "hardware"], 0),
    ("accelsim", ["schema", "scenario", "--markdown"], 0),
    ("accelsim", ["simulate", "--help"], 0),
    ("accelsim", ["calibrate", "--help"], 0),
    ("accelsim", ["warmup", "--help"], 0),
    ("accelsim", ["simulate", "--bogus"], 2),
    ("accelsim", [], 2),
    ("accelsim", ["simulate", "--hw", "no_such_config"], 2),
    ("accelsim", ["simulate", "--hw", "{malformed}"], 2),
    ("accelsim", ["simulate", "--hw", "{unknown_key}"], 2),
    ("accelsim", ["simulate", "--model", "no_such_model"], 2),
    ("accelsim", ["simulate", "--precision", "int3"], 2),
    ("accelsim", ["compare", "--hw", "neural_engine", "no_such_config"], 2),
    ("accelsim", ["calibrate", "--hw", "no_such_config", "--measured", "{measured}", "--target", "pixel"], 2),
    ("accelsim", ["system", "--scenario", "no_such_scenario"], 2),
    ("accelsim", ["system", "--scenario", "smart_display", "--hw", "{unknown_key}"], 2),
    ("codesign", ["--help"], 0),
    ("codesign", ["--version"], 0),
    ("codesign", ["no-such-command"], 2),
    ("codesign", ["search", "--config", "run.yaml", "--workers", "x"], 2),
    ("codesign", ["search", "--config", "run.yaml", "--workers", "0"], 2),
    ("codesign", ["dataset", "--out", "out", "--workers", "0"], 2),
]


# one of each kind in the default suite (a fresh interpreter each, ~0.5 s); every case with -m slow
QUICK = {("accelsim", ("--help",)), ("accelsim", ("list",)), ("accelsim", ("simulate", "--hw", "{malformed}")),
         ("accelsim", ("simulate", "--precision", "int3")), ("codesign", ("--help",)),
         ("codesign", ("search", "--config", "run.yaml", "--workers", "0"))}


@pytest.mark.parametrize("program, argv, status", [
    c if (c[0], tuple(c[1])) in QUICK else pytest.param(*c, marks=pytest.mark.slow) for c in CASES],
    ids=[f"{p} {' '.join(a)}" for p, a, _ in CASES])
def test_no_engine_before_it_is_needed(program, argv, status, bad_files, tmp_path):
    argv = [str(bad_files[a[1:-1]]) if a.startswith("{") else a for a in argv]
    r = run_probe(program, argv, cwd=tmp_path if program == "codesign" else ROOT)
    assert r["status"] == status, r["stderr"]
    if status == 2:
        assert r["stderr"].count("\n") == 1 and ": error: " in r["stderr"], r["stderr"]
    assert r["heavy"] == [], f"{program} {' '.join(argv)} imported {r['heavy']}"


def test_import_accelsim_is_lazy_and_complete():
    code = ("import sys, accelsim; before = sorted(m for m in ('numpy', 'numba', 'yaml') if m in sys.modules); "
            "names = {n: type(getattr(accelsim, n)).__name__ for n in accelsim.__all__}; "
            "import json; print(json.dumps([before, names, 'numba' in sys.modules, accelsim.config.__name__, "
            "sorted(set(accelsim.__all__) - set(dir(accelsim)))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, names, numba_after, config_name, missing = json.loads(out.stdout)
    assert before == []                          # import accelsim alone: no numpy, numba or yaml
    assert set(names) == {"Hardware", "load_hardware", "Report", "ManyResult", "simulate", "simulate_many",
                          "Network", "NetworkBuilder", "Layer", "load_model", "load_topology", "AccelsimError",
                          "ConfigError", "MappingError", "WorkloadError", "calibrate", "FitReport"}
    assert names["simulate"] == "function" and names["Report"] == "type"
    assert numba_after                           # reading accelsim.simulate loads the engine
    assert config_name == "accelsim.config"      # a submodule still reads as an attribute
    assert missing == []


def test_an_unknown_name_is_an_attribute_error():
    import accelsim
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        accelsim.no_such_name
    from accelsim import ConfigError, errors, simulate
    from accelsim.engine import simulate as engine_simulate
    assert simulate is engine_simulate and ConfigError is errors.ConfigError


def test_codesign_still_imports_the_shared_lazy_helper():
    from accelsim._lazy import lazy_exports
    from codesign._lazy import lazy_exports as codesign_lazy_exports
    assert codesign_lazy_exports is lazy_exports


# ------------------------------------------------------------------------------- kernel cache
@pytest.mark.skipif(NO_JIT, reason="NUMBA_DISABLE_JIT: no kernel is compiled, so none is cold")
def test_an_empty_kernel_cache_reads_as_cold(tmp_path):
    """A fresh NUMBA_CACHE_DIR holds no index: every kernel is cold and the note names the cost. Nothing
    compiles (only the indexes are read)."""
    code = ("import json, time; from accelsim.engine import warmup; t = time.process_time(); "
            "share = warmup.cold_share(); print(json.dumps([share, warmup.cold_note(), time.process_time() - t]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**_env(), "NUMBA_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    share, note, seconds = json.loads(out.stdout)
    assert share == 1.0
    assert note.startswith("accelsim: compiling the simulator kernels once (about ") and \
        note.endswith(" s); later runs load them from the cache")
    assert seconds < 0.5   # cheap enough to run before every command that simulates


class _Terminal:
    """A stderr that says it is a terminal, collecting what is written."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_the_note_comes_before_the_first_engine_call_on_a_terminal(monkeypatch):
    from accelsim.cli import main
    from accelsim.engine import warmup
    simulate_module = importlib.import_module("accelsim.engine.simulate")

    terminal, order = _Terminal(), []
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(warmup, "cold_share", lambda: 1.0)
    real_run = simulate_module.run_pairs
    monkeypatch.setattr(simulate_module, "run_pairs", lambda *a: order.append(terminal.text) or real_run(*a))
    assert main(["simulate", "--model", "ibn_block", "--no-table"]) == 0
    assert order and order[0].count("\n") == 1 and "compiling the simulator kernels once" in order[0]

    terminal.text = ""
    assert main(["simulate", "--model", "ibn_block", "--no-table", "--quiet"]) == 0
    assert terminal.text == ""                                 # --quiet: no note

    monkeypatch.setattr(warmup, "cold_share", lambda: 0.0)
    assert main(["simulate", "--model", "ibn_block", "--no-table"]) == 0
    assert terminal.text == ""                                 # a warm cache says nothing


def test_the_note_stays_out_of_a_redirected_stderr(monkeypatch, capsys):
    from accelsim.cli import main
    from accelsim.engine import warmup
    monkeypatch.setattr(warmup, "cold_share", lambda: 1.0)
    capsys.readouterr()
    assert main(["simulate", "--model", "ibn_block", "--no-table"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(NO_JIT, reason="NUMBA_DISABLE_JIT: warmup has nothing to compile")
def test_warmup_prints_one_line_per_group(capsys):
    from accelsim.cli import main
    capsys.readouterr()
    assert main(["warmup"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ... ")[0] for line in lines[:-1]] == \
        ["simulate (one network on one config)", "simulate_many (a batch across threads)",
         "failing_share (feasibility without simulating)", "networks as rows (the search fast path)"]
    assert all(line.endswith(" s") for line in lines[:-1])
    assert lines[-1].startswith("kernels ready in ")


def test_warmup_without_jit_compiles_nothing(monkeypatch):
    from accelsim.engine import warmup
    monkeypatch.setattr(warmup, "_dispatchers", lambda: [])
    monkeypatch.setattr(warmup, "_groups", lambda: pytest.fail("no group runs without JIT"))
    assert warmup.warmup() == 0.0 and warmup.cold_share() == 0.0 and warmup.cold_note() is None


@pytest.mark.skipif(NO_JIT, reason="numba loads nothing without JIT")
def test_simulating_leaves_scipy_linalg_unimported_and_importable_after():
    # numba's BLAS probe would import scipy.linalg (~0.3 s) for linear algebra the kernels never call
    pytest.importorskip("scipy")
    code = ("import sys, json, accelsim; r = accelsim.simulate(accelsim.load_model('mobilenet_v2'), "
            "accelsim.load_hardware('neural_engine')); during = 'scipy.linalg' in sys.modules; "
            "import scipy.linalg; from scipy.stats import spearmanr; "
            "print(json.dumps([during, r.latency_ms > 0, float(scipy.linalg.norm([3.0, 4.0]))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True, 5.0]
