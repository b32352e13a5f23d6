"""Argument errors of both command lines: one line on stderr naming the argument, exit status 2.

argparse's own error prints the whole usage block before its message; the shared
``accelsim.cli.OneLineArgumentParser`` (used by every subcommand of ``accelsim`` and ``codesign``)
prints ``PROG: error: MESSAGE (see PROG --help)`` alone, and ``--help`` still prints the usage.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelsim.cli import OneLineArgumentParser
from accelsim.cli import main as accelsim_main
from codesign.cli import main as codesign_main

MAINS = {"accelsim": accelsim_main, "codesign": codesign_main}

# (program, argv, the subcommand's prog, fragments the line must hold)
CASES = [
    ("accelsim", [], "accelsim", ["the following arguments are required: COMMAND"]),
    ("accelsim", ["simulat"], "accelsim", ["argument COMMAND: invalid choice: 'simulat'", "'simulate'"]),
    ("accelsim", ["simulate", "--batch", "abc"], "accelsim simulate", ["unrecognized arguments: --batch abc"]),
    ("accelsim", ["simulate", "--group", "layer"], "accelsim simulate",
     ["argument --group: invalid choice: 'layer'"]),
    ("accelsim", ["simulate", "--input-shape", "3", "8"], "accelsim simulate",
     ["argument --input-shape: expected 3 arguments"]),
    ("accelsim", ["simulate", "--model", "a", "--topology", "b.csv"], "accelsim simulate",
     ["argument --topology: not allowed with argument --model"]),
    ("accelsim", ["compare"], "accelsim compare", ["the following arguments are required: --hw"]),
    ("accelsim", ["system"], "accelsim system", ["the following arguments are required: --scenario"]),
    ("accelsim", ["system", "--scenario", "smart_display", "--seed", "1.5"], "accelsim system",
     ["argument --seed: invalid int value: '1.5'"]),
    ("accelsim", ["system", "--scenario", "smart_display", "--max-miss", "abc"], "accelsim system",
     ["argument --max-miss: invalid float value: 'abc'"]),
    ("accelsim", ["list", "extra"], "accelsim list", ["unrecognized arguments: extra"]),
    ("codesign", [], "codesign", ["the following arguments are required: COMMAND"]),
    ("codesign", ["serch"], "codesign", ["argument COMMAND: invalid choice: 'serch'", "'search'"]),
    ("codesign", ["search", "--config", "x.yaml", "--workers", "abc"], "codesign search",
     ["argument --workers: invalid int value: 'abc'"]),
    ("codesign", ["search", "--config", "x.yaml", "--threads", "two"], "codesign search",
     ["argument --threads: invalid int value: 'two'"]),
    ("codesign", ["search"], "codesign search", ["the following arguments are required: --config"]),
    ("codesign", ["search", "--config", "x.yaml", "--runner", "mpi"], "codesign search",
     ["argument --runner: invalid choice: 'mpi'"]),
    ("codesign", ["search", "--config", "x.yaml", "--budget", "-5"], "codesign search",
     ["argument --budget: expected a count >= 0, got -5"]),
    ("codesign", ["search", "--config", "x.yaml", "--bogus"], "codesign search", ["unrecognized arguments: --bogus"]),
    ("codesign", ["dataset", "--out", "d", "--operators", "many"], "codesign dataset",
     ["argument --operators: expected a whole number, got 'many'"]),
    ("codesign", ["train-estimator", "--out", "e.pt"], "codesign train-estimator",
     ["one of the arguments --data --measured is required"]),
    ("codesign", ["show"], "codesign show", ["the following arguments are required: run"]),
    ("codesign", ["supernet", "--out", "d", "--latency-weight", "heavy"], "codesign supernet",
     ["argument --latency-weight: invalid float value: 'heavy'"]),
    ("codesign", ["supernet", "--out", "d", "--config"], "codesign supernet", ["argument --config: expected one argument"]),
]


def _usage_error(program: str, argv: list, capsys) -> tuple:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        MAINS[program](argv)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _assert_one_line(code, out: str, err: str, prog: str, fragments) -> str:
    assert code == 2, err
    assert out == "", "nothing on stdout"
    assert "Traceback" not in err and "usage:" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"expected exactly one line, got {err!r}"
    line = err.rstrip("\n")
    assert line.startswith(f"{prog}: error: "), line
    assert line.endswith(f"(see {prog} --help)"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.mark.parametrize("program, argv, prog, fragments", CASES,
                         ids=[f"{c[0]} {' '.join(c[1]) or '(nothing)'}" for c in CASES])
def test_argument_error_is_one_line_naming_the_argument(program, argv, prog, fragments, capsys):
    code, out, err = _usage_error(program, argv, capsys)
    _assert_one_line(code, out, err, prog, fragments)


@pytest.mark.parametrize("program, argv, prog, fragment", [
    ("accelsim", ["simulate", "--hw"], "accelsim simulate", "argument --hw: expected one argument"),
    ("codesign", ["search", "--config", "x.yaml", "--seed", "1e3"], "codesign search",
     "argument --seed: invalid int value: '1e3'"),
])
def test_argument_error_in_a_real_process_has_no_traceback(program, argv, prog, fragment):
    proc = subprocess.run([sys.executable, "-m", f"{program}.cli", *argv], capture_output=True, text=True,
                          timeout=120)
    _assert_one_line(proc.returncode, proc.stdout, proc.stderr, prog, [fragment])


def test_a_huge_argument_value_is_cut_to_one_short_line(capsys):
    code, out, err = _usage_error("codesign", ["search", "--config", "x.yaml", "--workers", "9" * 100 + "x" * 5000],
                                  capsys)
    line = _assert_one_line(code, out, err, "codesign search", ["argument --workers: invalid int value"])
    assert len(line) <= OneLineArgumentParser.MAX_CHARS


@pytest.mark.parametrize("program, argv, expected", [
    ("accelsim", ["--help"], ["usage: accelsim", "simulate", "system"]),
    ("accelsim", ["system", "--help"], ["usage: accelsim system", "--scenario", "--duration", "--quiet"]),
    ("codesign", ["search", "--help"], ["usage: codesign search", "--config", "--workers", "--threads"]),
])
def test_help_still_prints_the_full_usage(program, argv, expected, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        MAINS[program](argv)
    out = capsys.readouterr()
    assert info.value.code == 0 and out.err == ""
    assert out.out.count("\n") > 5
    for fragment in expected:
        assert fragment in out.out


def test_every_subcommand_parser_reports_in_one_line():
    """Subparsers inherit the class, so no command falls back to argparse's multi-line error."""
    from accelsim.cli import build_parser as accelsim_parser
    from codesign.cli import build_parser as codesign_parser
    import argparse
    for parser in (accelsim_parser(), codesign_parser()):
        assert isinstance(parser, OneLineArgumentParser)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        assert len(subs) == 1 and subs[0].choices
        for name, sub in subs[0].choices.items():
            assert isinstance(sub, OneLineArgumentParser), name
