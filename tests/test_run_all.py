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


@pytest.mark.parametrize("argv, match", [
    (["--help-table", "no_such.csv"], "--help-table no_such.csv: no such file, nor a packaged table"),
    (["--only", "nosuch"], "invalid choice"),
])
def test_bad_input_stops_before_any_experiment(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        run_all.main(argv)
    assert match in str(e.value) + capsys.readouterr().err
