"""The base install is the simulator; torch, optuna, pyarrow, ray and onnx come with extras.

Each command runs in a subprocess whose import system acts as if the extras' packages were not
installed (a meta-path finder refuses them), so nothing is uninstalled: the simulator must work, and
whatever needs an extra must fail with one line naming it, exit status 2 and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelsim.errors import AccelsimError
from accelsim.extras import MissingExtraError, importing, require

ROOT = Path(__file__).resolve().parents[1]
EXTRA_PACKAGES = ("torch", "optuna", "pyarrow", "ray", "onnx", "scipy", "moocore")

PRELUDE = textwrap.dedent("""
    import sys

    BLOCKED = set(sys.argv[1].split(","))


    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, _NotInstalled())
""")


def run_without(code: str, cwd, blocked=EXTRA_PACKAGES) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which the ``blocked`` packages cannot be imported."""
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), ",".join(blocked)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def run_cli(module: str, argv: list, cwd, blocked=EXTRA_PACKAGES) -> subprocess.CompletedProcess:
    """``module.main(argv)`` without the extras; its status is the exit status, and the last line of
    stdout lists the blocked packages that got imported anyway (there must be none)."""
    return run_without(f"""
        import {module} as cli
        status = cli.main({argv!r})
        print("imported:", sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
        sys.exit(status)
    """, cwd, blocked)


def assert_one_line(res: subprocess.CompletedProcess, expected: str) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert expected in lines[0], lines[0]


def test_simulator_runs_without_any_extra(tmp_path):
    res = run_cli("accelsim.cli", ["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2", "--quiet",
                                   "--no-table"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.strip().splitlines()[-1] == "imported: []"


def test_import_accelsim_and_the_python_api_need_no_extra(tmp_path):
    res = run_without("""
        import accelsim
        report = accelsim.simulate(accelsim.load_model("mobilenet_v2"), accelsim.load_hardware("neural_engine"))
        assert report.latency_ms > 0
        import codesign, codesign.cli, codesign.search.runs, codesign.estimator.dataset
        print(sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
    """, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_model_list_without_torch_marks_the_traced_models(tmp_path):
    res = run_cli("accelsim.cli", ["models"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines() if line.strip()}
    assert "300.8" in rows["mobilenet_v2"]                            # built in the IR: figures shown
    assert rows["resnet18"].split()[1:5] == ["–", "–", "–", "–"]      # traced from PyTorch: none
    assert 'need torch: pip install "accelsim-codesign[torch]"' in res.stdout


def test_traced_zoo_model_without_torch_names_the_torch_extra(tmp_path):
    res = run_cli("accelsim.cli", ["simulate", "--model", "resnet18"], tmp_path)
    assert_one_line(res, 'accelsim: error: model resnet18 needs torch: pip install "accelsim-codesign[torch]"')


def test_torch_factory_without_torch_names_the_torch_extra(tmp_path):
    res = run_cli("accelsim.cli", ["simulate", "--model", "mymodels:make", "--input-shape", "3", "32", "32"],
                  tmp_path)
    assert_one_line(res, 'needs torch: pip install "accelsim-codesign[torch]"')


def test_onnx_model_without_onnx_names_the_onnx_extra(tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"not read")
    res = run_cli("accelsim.cli", ["simulate", "--model", "net.onnx"], tmp_path, blocked=("onnx",))
    assert_one_line(res, 'needs onnx: pip install "accelsim-codesign[onnx]"')


def test_codesign_help_needs_no_extra(tmp_path):
    res = run_cli("codesign.cli", ["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "usage: codesign" in res.stdout and res.stderr == ""


def test_codesign_search_without_optuna_names_the_codesign_extra(tmp_path):
    config = ROOT / "examples" / "search" / "hw_search.yaml"   # algorithm nsga2: Optuna's sampler
    res = run_cli("codesign.cli", ["search", "--config", str(config), "--out", "run", "--quiet"], tmp_path)
    assert_one_line(res, 'algorithm nsga2 needs optuna: pip install "accelsim-codesign[codesign]"')
    assert not (tmp_path / "run").exists()   # refused before the run folder is made


@pytest.mark.parametrize("argv", [["train-estimator", "--data", "d", "--out", "e.pt"],
                                  ["validate-estimator", "--model", "e.pt", "--data", "d", "--report", "r"],
                                  ["supernet", "--out", "s"]], ids=lambda a: a[0])
def test_codesign_torch_commands_without_torch_name_the_codesign_extra(tmp_path, argv):
    res = run_cli("codesign.cli", argv, tmp_path)
    assert_one_line(res, f'codesign {argv[0]} needs torch: pip install "accelsim-codesign[codesign]"')


def test_codesign_parquet_dataset_without_pyarrow_names_the_codesign_extra(tmp_path):
    res = run_cli("codesign.cli", ["dataset", "--out", "d", "--operators", "1", "--blocks", "0", "--networks",
                                   "0", "--hardware", "1", "--hw-per-network", "1", "--quiet"], tmp_path)
    assert_one_line(res, 'format parquet needs pyarrow: pip install "accelsim-codesign[codesign]" '
                         '(or use format npz)')


def test_ray_runner_without_ray_names_the_ray_extra(tmp_path):
    (tmp_path / "run.yaml").write_text(textwrap.dedent("""
        name: ray_run
        network: mobilenet_v2
        space: {hardware: {rows: [16, 32]}}
        objectives: [latency_ms, energy_mj]
        algorithm: random
        budget: 2
        runner: ray
    """))
    res = run_cli("codesign.cli", ["search", "--config", "run.yaml", "--out", "run", "--quiet"], tmp_path)
    assert_one_line(res, 'runner ray needs ray: pip install "accelsim-codesign[ray]"')
    lib = run_without("""
        from codesign.runners import RayRunner
        try:
            RayRunner()
        except Exception as exc:
            print(type(exc).__name__, exc)
    """, tmp_path)
    assert lib.stdout.strip().startswith('MissingExtraError runner ray needs ray: pip install '
                                         '"accelsim-codesign[ray]"'), lib.stderr


def test_library_import_of_a_torch_module_names_the_extra(tmp_path):
    res = run_without("""
        try:
            import codesign.estimator.model
        except Exception as exc:
            print(type(exc).__name__, exc)
    """, tmp_path)
    assert res.stdout.strip() == ('MissingExtraError codesign.estimator.model needs torch: '
                                  'pip install "accelsim-codesign[codesign]"'), res.stderr


# ---- the helper itself, in this process -------------------------------------------------------------
def test_require_returns_the_module():
    import json
    assert require("json", "codesign", "x") is json


def test_require_names_the_extra_in_one_line():
    with pytest.raises(MissingExtraError) as info:
        require("accelsim_no_such_package.sub", "onnx", "the thing", hint="or do without")
    assert str(info.value) == ('the thing needs accelsim_no_such_package: pip install "accelsim-codesign[onnx]" '
                               '(or do without)')
    assert isinstance(info.value, AccelsimError)


def test_require_reports_a_package_that_does_not_import(tmp_path, monkeypatch):
    (tmp_path / "accelsim_broken_pkg.py").write_text("import accelsim_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"^the thing needs accelsim_broken_pkg \(it does not import: "
                                                r"ModuleNotFoundError: .*accelsim_missing_dependency.*\): "
                                                r'pip install "accelsim-codesign\[torch\]"$'):
        require("accelsim_broken_pkg", "torch", "the thing")


def test_importing_turns_a_missing_package_into_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelsim_blocked_pkg", None)
    with pytest.raises(MissingExtraError, match=r'^mod needs accelsim_blocked_pkg: pip install '
                                                r'"accelsim-codesign\[codesign\]"$'):
        with importing("accelsim_blocked_pkg", "codesign", "mod"):
            import accelsim_blocked_pkg  # noqa: F401
    with pytest.raises(ModuleNotFoundError):   # the package imports: another failure is left as it is
        with importing("json", "codesign", "mod"):
            import accelsim_no_such_package  # noqa: F401


def test_base_dependencies_are_the_simulator():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {req.split(">")[0].split("<")[0].split("=")[0].strip().lower() for req in project["dependencies"]}
    assert not base & set(EXTRA_PACKAGES)
    assert {"numpy", "numba", "pyyaml", "matplotlib", "simpy", "tqdm"} <= base
    extras = project["optional-dependencies"]
    assert any(r.startswith("torch") for r in extras["torch"])
    assert "accelsim-codesign[torch]" in extras["codesign"]
    assert {r.split(">")[0] for r in extras["codesign"]} >= {"optuna", "pyarrow"}
    assert extras["all"] == ["accelsim-codesign[codesign,onnx,ray]"]
    assert "accelsim-codesign[all]" in extras["test"]
