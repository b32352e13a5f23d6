"""experiments/run_all.py: every experiment it names exists, its packaged-table names are the package's,
and bad inputs stop it before any experiment runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import run_all  # noqa: E402


def test_every_experiment_script_exists_and_takes_quick():
    for name, (script, _needs, make_args, claim) in run_all.EXPERIMENTS.items():
        text = (ROOT / "experiments" / script).read_text()
        assert '"--quick"' in text, script
        assert "--quick" in make_args(True, None, {"help": "help-nb201", "fbnet": "hwnasbench-fbnet"}), name
        assert "--quick" not in make_args(False, None, {"help": "help-nb201", "fbnet": "hwnasbench-fbnet"}), name
        assert claim


def test_packaged_names_are_the_packages():
    from codesign.estimator.measured import PACKAGED_TABLES
    assert run_all.PACKAGED == tuple(PACKAGED_TABLES)


def test_output_arguments_only_when_asked():
    tables = {"help": "help-nb201", "fbnet": "hwnasbench-fbnet"}
    for name, (_script, _needs, make_args, _claim) in run_all.EXPERIMENTS.items():
        default = make_args(False, None, tables)
        assert not any(a in ("--out", "--results", "--runs") for a in default), name
        assert any(a in ("--out", "--results") for a in make_args(True, Path("runs/quick"), tables)), name


def test_every_output_and_run_folder_lies_under_out_and_each_script_takes_it():
    # every path an experiment writes is under --out (a quick check never meets the full mode's run folders,
    # nor stale ones from earlier code), file arguments are files, and each flag exists in its script
    out = Path("/somewhere/quick")
    options = {"help": "help-nb201", "fbnet": "hwnasbench-fbnet", "force_new": True}
    for name, (script, _needs, make_args, _claim) in run_all.EXPERIMENTS.items():
        argv = make_args(True, out, options)
        text = (ROOT / "experiments" / script).read_text()
        flags = [a for a in argv if a.startswith("--")]
        for flag in flags:
            assert f'"{flag}"' in text or (flag == "--force-new" and "add_force_new" in text), (name, flag)
        for flag, value in zip(argv, argv[1:]):
            if flag in ("--out", "--results", "--runs"):
                assert Path(value).is_relative_to(out), (name, flag, value)
        if "search" in text and "execute_run" in (ROOT / "experiments" / "product_models.py").read_text() \
                and ("PM.run_search" in text or "PM.execute_run" in text):
            assert "--runs" in argv and "--force-new" in argv, name
    assert run_all.EXPERIMENTS["kernel_by_target"][2](True, out, options)[-1].endswith("kernel_by_target_quick.md")


@pytest.mark.parametrize("argv, match", [
    (["--help-table", "no_such.csv"], "--help-table no_such.csv: no such file, nor a packaged table"),
    (["--only", "nosuch"], "invalid choice"),
])
def test_bad_input_stops_before_any_experiment(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        run_all.main(argv)
    assert match in str(e.value) + capsys.readouterr().err
