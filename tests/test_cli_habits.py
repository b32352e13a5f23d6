"""The habits both command lines share (accelsim.console): ``--version``; ``--quiet`` drops progress
bars and notes, never results; ``--hw`` names the hardware (``codesign dataset --base`` still works,
with one warning line); a missing number prints as '–' with its reason once below the table, never
as ``nan``; progress bars only on a terminal."""

from __future__ import annotations

import argparse
import io
import re
import sys

import numpy as np
import pytest
import yaml

import accelsim
import codesign
from accelsim import console
from accelsim.cli import build_parser as accelsim_parser
from accelsim.cli import main as accelsim_main
from codesign.cli import build_parser as codesign_parser
from codesign.cli import main as codesign_main

NAN = re.compile(r"\bnan\b", re.IGNORECASE)
UNKNOWN_AREA = f"{console.MISSING}: {console.AREA_UNKNOWN}"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def commands(parser) -> dict:
    """``{name: subparser}``, each with its deferred arguments added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub._add_deferred()
            return dict(action.choices)
    return {}


def option(parser, flag: str):
    return next((a for a in parser._actions if flag in a.option_strings), None)


# ------------------------------------------------------------------------------------ --version
@pytest.mark.parametrize("main, prog, version", [(accelsim_main, "accelsim", accelsim.__version__),
                                                 (codesign_main, "codesign", codesign.__version__)])
def test_version_on_both(main, prog, version, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"{prog} {version}\n"


# ------------------------------------------------------------------------------------ --quiet
def test_quiet_means_the_same_in_every_command():
    have = {}
    for prog, parser in (("accelsim", accelsim_parser()), ("codesign", codesign_parser())):
        for name, sub in commands(parser).items():
            quiet = option(sub, "--quiet")
            if quiet is not None:
                have[f"{prog} {name}"] = quiet.help
    # every command that shows progress or notes takes it
    assert set(have) >= {"accelsim simulate", "accelsim compare", "accelsim system", "accelsim models", "accelsim calibrate",
                         "codesign dataset", "codesign train-estimator", "codesign validate-estimator",
                         "codesign search", "codesign sweep", "codesign supernet"}
    for name, text in have.items():
        assert text.startswith(console.QUIET_HELP), name


def test_simulate_no_table_and_the_old_quiet(capsys):
    assert accelsim_main(["simulate", "--model", "ibn_block", "--quiet", "--no-table"]) == 0
    assert capsys.readouterr() == ("", "")
    # --quiet alone hid the table before --no-table: it still does, and says so once
    assert accelsim_main(["simulate", "--model", "ibn_block", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("accelsim: warning: simulate --quiet:") and "--no-table" in lines[0]
    assert accelsim_main(["simulate", "--model", "ibn_block"]) == 0
    out, err = capsys.readouterr()
    assert "ibn_56_24 on neural_engine" in out and err == ""


def test_progress_only_on_a_terminal_and_never_under_quiet(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not console.show_progress(False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert console.show_progress(False) and not console.show_progress(True)


def test_models_output_unchanged_with_progress_on_stderr(monkeypatch, capsys):
    from accelsim.workload import zoo
    monkeypatch.setattr(zoo, "MODELS", {k: zoo.MODELS[k] for k in ("mobilenet_v2", "ibn_block")})
    monkeypatch.setattr(console, "PROGRESS_DELAY_S", 0.0)
    assert accelsim_main(["models"]) == 0   # stderr is not a terminal here: no bar
    plain, err = capsys.readouterr()
    assert err == ""
    assert plain.splitlines() == [
        "model                      input (H,W,C)  layers    MACs (M)  params (M)  description",
        "mobilenet_v2                   224,224,3      64       300.8       3.488  MobileNetV2 (Sandler et al. "
        "2018): 300 M MACs, 3.4 M parameters at width 1.0, 224x224.",
        "ibn_block                       56,56,24       4        25.7       0.009  A single inverted-bottleneck "
        "block, for block-level studies."]
    for quiet, shown in (([], True), (["--quiet"], False)):
        terminal = Terminal()
        with monkeypatch.context() as m:
            m.setattr(sys, "stderr", terminal)
            assert accelsim_main(["models", *quiet]) == 0
        assert capsys.readouterr().out == plain
        assert ("building the zoo" in terminal.getvalue()) == shown


# ------------------------------------------------------------------------------------ --hw
def test_dataset_base_still_works_and_warns_once(tmp_path, capsys):
    sub = commands(codesign_parser())["dataset"]
    assert "--base" not in sub.format_help() and "--hw HW" in sub.format_help()
    assert sub.parse_args(["--out", "x", "--base", "eyeriss_like"]).hw == "eyeriss_like"
    assert sub.parse_args(["--out", "x"]).hw == "neural_engine"
    args = ["dataset", "--out", str(tmp_path / "d"), "--operators", "8", "--blocks", "0", "--networks", "1",
            "--hardware", "1", "--hw-per-network", "1", "--format", "npz", "--quiet"]
    assert codesign_main(args + ["--base", "neural_engine"]) == 0
    out, err = capsys.readouterr()
    assert "records" in out   # --quiet keeps the result line
    assert err.splitlines() == ["codesign: warning: --base is deprecated and will be removed; use --hw (same meaning)"]
    assert codesign_main(args + ["--hw", "neural_engine"]) == 0   # the same request: a cache hit, no warning
    out, err = capsys.readouterr()
    assert "cache hit" in out and err == ""


# ------------------------------------------------------------------------------------ no nan
def test_compare_prints_a_dash_and_the_reason_once(capsys):
    assert accelsim_main(["compare", "--hw", "neural_engine", "mobile_cpu_like", "dsp_like", "--model",
                          "ibn_block"]) == 0
    out = capsys.readouterr().out
    assert not NAN.search(out)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:6]}
    assert rows["mobile_cpu_like"][-2] == rows["dsp_like"][-2] == console.MISSING
    assert rows["neural_engine"][-2] == "5.08"
    assert out.count(UNKNOWN_AREA) == 1 and out.rstrip().endswith(UNKNOWN_AREA)


def test_system_tables_print_a_dash_and_the_reason(tmp_path, capsys):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump({"name": "tiny", "duration": "20ms", "seed": 1, "streams": {
        "block": {"model": "ibn_block", "arrival": {"process": "periodic", "rate": "100fps"}, "deadline": "10ms"}}}))
    assert accelsim_main(["system", "--scenario", str(scenario), "--hw", "mobile_cpu_like"]) == 0
    out = capsys.readouterr().out
    assert not NAN.search(out) and "(– mm2)" in out and out.count(UNKNOWN_AREA) == 1
    assert accelsim_main(["system", "--scenario", str(scenario), "--sweep", "mobile_cpu_like", "dsp_like"]) == 0
    out = capsys.readouterr().out
    assert not NAN.search(out) and out.count(UNKNOWN_AREA) == 1
    assert "none of known area (met by mobile_cpu_like, dsp_like, area unknown)" in out


def test_sweep_and_show_print_a_dash_and_the_reason(tmp_path, capsys):
    run = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
           "accuracy": {"source": "nb201"}, "hardware": "mobile_cpu_like", "budget": 8, "batch_size": 8}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"run": run, "sweep": {"key": "hardware", "values": ["mobile_cpu_like"]}}))
    assert codesign_main(["sweep", "--config", str(sweep), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert not NAN.search(out) and out.count(UNKNOWN_AREA) == 1
    winner = next(line for line in out.splitlines() if line.startswith("| mobile_cpu_like |"))
    assert " – |" in winner
    assert codesign_main(["show", str(tmp_path / "s" / "mobile_cpu_like")]) == 0
    out = capsys.readouterr().out
    assert not NAN.search(out) and out.count(UNKNOWN_AREA) == 1
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert rows and all(" – |" in line for line in rows)


def test_validate_estimator_prints_a_dash_and_the_reason(tmp_path, monkeypatch, capsys):
    from codesign.estimator import dataset, model, validate
    true = np.array([1.0, 2.0, 3.0])
    configs = np.array(["a", "b", "c"])   # one pair per config: no Spearman per config
    summary = {
        "held-out networks, seen hardware": {
            "pairs": 3, "latency": validate.metrics(np.array([1.1, 2.1, 2.9]), true, configs),
            "baselines": {"macs": validate.metrics(true * 2, true, configs)}},
        "held-out networks, held-out hardware": {   # one predicted latency for all: no Spearman at all
            "pairs": 3, "latency": validate.metrics(np.full(3, 2.0), true, configs),
            "baselines": {"macs": validate.metrics(true * 2, true, configs)}}}
    assert np.isnan(summary["held-out networks, held-out hardware"]["latency"]["spearman"])

    class Data:
        n_pairs = 6

    monkeypatch.setattr(model.Estimator, "load", staticmethod(lambda path: None))
    monkeypatch.setattr(dataset, "load_dataset", lambda paths: Data())
    monkeypatch.setattr(validate, "write_report", lambda est, path, ds, report: summary)
    assert codesign_main(["validate-estimator", "--model", "m.pt", "--data", "d", "--report",
                          str(tmp_path / "rep")]) == 0
    out, err = capsys.readouterr()
    assert not NAN.search(out) and err == ""
    lines = out.splitlines()
    assert "Spearman 1.0000 (per config –); MACs baseline Spearman per config –" in lines[0]
    assert "Spearman – (per config –)" in lines[1]
    assert lines[2:] == ["–: Spearman per config undefined: no hardware config holds 5 or more of the split's pairs",
                         "–: Spearman undefined: fewer than 2 pairs, or all latencies equal",
                         f"report: {tmp_path / 'rep' / 'report.md'}"]


def test_blanks_keep_widths_and_each_reason_once():
    b = console.Blanks()
    assert b.cell(1.5, ">8.2f") == "    1.50"
    assert b.cell(float("nan"), ">8.2f", "why") == "       –"
    assert b.cell(None, "<4", "why") == "–   "
    assert b.cell(np.float32("nan"), ".3f", "other") == "–"
    assert b.notes() == ["–: why", "–: other"]
