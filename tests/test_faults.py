"""Fault tolerance: `codesign search` and `codesign dataset` killed with SIGKILL at many points, then resumed.

Each chain test first makes an uninterrupted run, then drives a second folder through a chain of runs
of the same command, each killed with SIGKILL (its whole process group) at a different point, and
finally runs the command to completion. After every kill the folder may hold only a prefix of the
uninterrupted run's results (journal lines, shard folders, output files equal to the uninterrupted
run's); after the last run it must hold exactly that run's results: the same journal records with
the same indices, none lost and none twice, and the same front / dataset tables byte for byte.

The kill points cover every stage: the interpreter's imports, argument parsing and identity checks,
the first atomic writes, inside one journal write (a torn header, a line cut in the middle, a record
cut before its newline, a batch cut between two of its records), between batches, at an arbitrary
moment while evaluating (an asynchronous kill when the journal reaches a size), the front / summary /
plot outputs, and after the command has finished; for a dataset: the manifest writes, a shard's
temporary folder holding some of its tables or a torn table, a finished but not renamed shard,
between shards, at an arbitrary moment, and the final manifest. The stage of each point is fixed;
its parameters (delays, journal lines, cut positions, shards, tables) are drawn from a seeded RNG
(``CODESIGN_FAULT_SEED`` picks other points; ``-m slow`` runs three more seeds).

How processes are started: a `codesign` process spends ~2 s importing numba, the engine, optuna and
matplotlib before it touches a file, so one fresh interpreter per kill point would take a minute.
The chains therefore start one helper process that does those imports once and forks a child per
run; the child starts its own session and calls ``codesign.cli.main(argv)``, which is all the
`codesign` command does after its imports. Kills during the imports themselves are covered by one
freshly started interpreter per command. A precise point (inside one journal write, after one table
of a shard, just before a rename) is reached by a hook in the child: there the child tells the test
and waits, and the test SIGKILLs its process group, so the process dies with the files in exactly
that state. The other points are timed from outside: a delay after the start, or the journal / the
shard folder reaching a size while the child runs (slowed at each journal write or shard rename, so
that the kill lands mid-run).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from codesign.estimator import dataset as dataset_module
from codesign.estimator.dataset import DatasetRequest, generate, load_dataset

pytestmark = pytest.mark.skipif(not (hasattr(os, "fork") and hasattr(os, "killpg") and os.path.isdir("/proc/self")),
                                reason="needs fork, process groups and /proc (Linux)")

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("CODESIGN_FAULT_SEED", "0"))
SEEDS = [SEED] + [pytest.param(SEED + k, marks=pytest.mark.slow) for k in (1, 2, 3)]

# small shards, so a small dataset has many of them (the helper and every child use these sizes)
SHARD_SIZE = {"op": 10, "block": 5, "network": 2}
DATASET_ARGS = ["--operators", "60", "--blocks", "10", "--networks", "6", "--hardware", "3", "--hw-per-network", "2",
                "--quiet"]
DATASET_SHARDS = [f"op-{i:05d}" for i in range(6)] + [f"block-{i:05d}" for i in range(2)] \
    + [f"network-{i:05d}" for i in range(3)]
TABLE_FILES = ("layers.parquet", "pairs.parquet", "hardware.parquet")

BUDGET, BATCH = 64, 4
JOURNAL_LINES = 1 + BUDGET                          # the header and one line per evaluation
SEARCH_OUTPUTS = ("identity.json", "run.yaml", "journal.jsonl", "pareto.csv", "pareto.json", "hypervolume.csv",
                  "summary.json", "pareto.png")
# summary.json is the one output that holds wall-clock figures; everything else in it is compared
TIMING_KEYS = ("seconds", "evaluations_per_second")

# One-thread numerical libraries: the helper forks only while it has a single thread.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Started with ``python -c`` by the tests: a run of `codesign` with the small shard sizes.
BOOT = r"""
import json, sys
import codesign.estimator.dataset
codesign.estimator.dataset.SHARD_SIZE.update(json.loads(sys.argv[1]))
from codesign.cli import main
sys.exit(main(sys.argv[2:]))
"""

# The helper: imports once, then per line on stdin {"argv", "point", "log"} forks a child that runs
# ``codesign.cli.main(argv)`` in a new session with the point's hook installed. Messages to the test
# (one line each on the helper's stdout): ready (helper) / started PID (the child, once it leads its
# own process group) / frozen PID (the child, at its hook's point) / exited PID CODE (helper).
HELPER = r"""
import json, os, sys, time, traceback

import codesign.estimator.dataset as D
D.SHARD_SIZE.update(json.loads(sys.argv[1]))
# what `codesign search` and `codesign dataset` import before their first write; pyarrow (which
# starts a thread when imported) is left to the children, so that the helper forks with one thread
import accelsim.plots, codesign.cli, codesign.identity, codesign.search.journal, codesign.search.problems, codesign.search.runconfig
import codesign.search.runs, codesign.search.algorithms, matplotlib.pyplot, optuna  # noqa: F401

PROTO = os.dup(1)
_open, _write, _close, _replace = os.open, os.write, os.close, os.replace


def say(text):
    _write(PROTO, (text + "\n").encode())


def freeze():
    say("frozen %d" % os.getpid())
    while True:              # until the test's SIGKILL
        time.sleep(60)


def journal_hooks(point):
    fds = {}

    def h_open(path, flags, *args, **kwargs):
        fd = _open(path, flags, *args, **kwargs)
        if os.fspath(path).endswith("journal.jsonl"):
            fds[fd] = os.fspath(path)
        return fd

    def h_close(fd):
        fds.pop(fd, None)
        return _close(fd)

    def h_write(fd, data):
        if fd not in fds:
            return _write(fd, data)
        data = bytes(data)
        if point["kind"] == "slow-journal":
            time.sleep(point["sleep"])
            return _write(fd, data)
        with open(fds[fd], "rb") as fh:
            before = fh.read().count(b"\n")
        if before + data.count(b"\n") < point["line"]:
            return _write(fd, data)
        cut = point["cut"]
        if cut == "whole":               # the write completes; the kill comes before the next one
            n = len(data)
        elif cut == "newline":           # every byte but the final newline
            n = len(data) - 1
        elif cut == "lines":             # whole lines up to journal line point["line"], then nothing
            n = 0
            for _ in range(point["line"] - before):
                n = data.index(b"\n", n) + 1
        else:                            # a fraction of the write, cut inside a line
            n = min(max(int(len(data) * cut), 1), len(data) - 2)
            while data[n - 1:n] == b"\n":
                n += 1
        _write(fd, data[:n])
        freeze()

    os.open, os.write, os.close = h_open, h_write, h_close


def install(point):
    kind = point.get("kind")
    if kind in ("journal", "slow-journal"):
        journal_hooks(point)
    elif kind == "replace":              # the nth rename onto a file or folder of this name
        seen = [0]

        def h_replace(src, dst, *args, **kwargs):
            if os.path.basename(os.fspath(dst)) == point["name"]:
                seen[0] += 1
                if seen[0] == point.get("nth", 1):
                    if point["when"] == "before":
                        freeze()
                    _replace(src, dst, *args, **kwargs)
                    freeze()
            return _replace(src, dst, *args, **kwargs)

        os.replace = h_replace
    elif kind == "slow-shards":
        def h_replace(src, dst, *args, **kwargs):
            if os.path.basename(os.fspath(src)).startswith(".tmp-"):
                time.sleep(point["sleep"])
            return _replace(src, dst, *args, **kwargs)

        os.replace = h_replace
    elif kind == "table":                # a shard's temporary folder holding its tables up to this one
        real = D._write_table

        def h_table(path, table, fmt):
            real(path, table, fmt)
            if path.name == point["table"] and path.parent.name.startswith(".tmp-%s-" % point["shard"]):
                if point.get("torn"):
                    f = path.with_suffix("." + fmt)
                    os.truncate(f, f.stat().st_size // 2)
                freeze()

        D._write_table = h_table


def child(job):
    os.setsid()
    say("started %d" % os.getpid())    # from here on, the test can kill its process group
    os.dup2(_open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
    install(job["point"])
    try:
        rc = codesign.cli.main(job["argv"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        rc = 99
    sys.stdout.flush()
    sys.stderr.flush()
    if rc == 0 and job["point"].get("kind") == "exit":
        freeze()
    os._exit(rc)


os.dup2(_open(os.devnull, os.O_RDWR), 1)   # the commands' own output; PROTO carries the messages
say("ready")
for line in sys.stdin:
    job = json.loads(line)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        say("error the helper has %d threads; it forks only with one" % threads)
        continue
    pid = os.fork()
    if pid == 0:
        try:
            child(job)
        finally:
            os._exit(98)
    _, status = os.waitpid(pid, 0)
    say("exited %d %d" % (pid, os.waitstatus_to_exitcode(status)))
"""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:       # already gone: the caller sees its exit code
        pass


class Helper:
    """The forking helper process, seen from the test."""

    def __init__(self, workdir: Path):
        self.logs = workdir
        self.err = open(workdir / "helper.err", "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", HELPER, json.dumps(SHARD_SIZE)], cwd=ROOT, env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     start_new_session=True)
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.runs = 0
        self.ready = False

    def message(self, timeout: float) -> "list[str] | None":
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    self.err.flush()
                    raise AssertionError("the helper process ended: "
                                         + (self.logs / "helper.err").read_text(errors="replace")[-3000:])
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().split()

    def wait_ready(self) -> None:
        if not self.ready:
            msg = self.message(300)
            assert msg == ["ready"], f"helper did not start: {msg}"
            self.ready = True

    def run(self, argv: list, point: dict | None = None, watch: Callable | None = None,
            timeout: float = 300) -> tuple[int, int, str]:
        """Run ``codesign argv`` in a forked child; SIGKILL its process group when the child reports
        its hook's point or when ``watch(seconds since start)`` says so. (pid, exit code, stderr)."""
        self.runs += 1
        log = self.logs / f"run-{self.runs}.err"
        self.proc.stdin.write(json.dumps({"argv": [str(a) for a in argv], "point": point or {},
                                          "log": str(log)}).encode() + b"\n")
        self.proc.stdin.flush()
        msg = self.message(60)
        assert msg and msg[0] == "started", f"helper: {msg}"
        pid, start, killed = int(msg[1]), time.monotonic(), False
        while True:
            msg = self.message(0.002 if watch is not None and not killed else 1.0)
            if msg is None:
                if watch is not None and not killed and watch(time.monotonic() - start):
                    _kill_group(pid)
                    killed = True
                if time.monotonic() - start > timeout:
                    _kill_group(pid)
                    raise AssertionError(f"codesign {' '.join(map(str, argv))}: no end after {timeout} s")
                continue
            if msg[0] == "frozen" and int(msg[1]) == pid:
                _kill_group(pid)
                killed = True
            elif msg[0] == "exited" and int(msg[1]) == pid:
                return pid, int(msg[2]), log.read_text(errors="replace") if log.exists() else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid)
                self.proc.wait()
        self.err.close()


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    h = Helper(tmp_path_factory.mktemp("helper"))
    try:
        yield h
    finally:
        h.close()


def _kill_during_imports(argv: list, delay: float) -> None:
    """`codesign argv` in a new interpreter and a new session, SIGKILLed ``delay`` s (at most 0.5 s)
    after its start, while the interpreter starts and imports (that takes over half a second)."""
    proc = subprocess.Popen([sys.executable, "-c", BOOT, json.dumps(SHARD_SIZE)] + [str(a) for a in argv], cwd=ROOT,
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    assert proc.poll() is None, "the process ended before its kill point"
    _kill_group(proc.pid)
    assert proc.wait() == -signal.SIGKILL


@dataclass
class Point:
    """One kill: a hook in the child (``child``) or a timed kill from outside (``watch``), and what the
    folder must show afterwards (``check(folder, pid)``) so that the point is known to have been hit."""

    label: str
    child: dict
    watch: Callable | None = None
    check: Callable | None = None
    cleaned: bool = True      # the process got past the start of its work (dataset: the cleanup)


@contextlib.contextmanager
def _after(point: Point):
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"after the kill {point.label}: {exc}") from None


def _kill(helper: Helper, argv: list, point: Point, folder: Path) -> int:
    pid, rc, err = helper.run(argv, point.child, point.watch)
    assert rc == -signal.SIGKILL, f"kill point {point.label}: not reached, the run ended with {rc}\n{err[-3000:]}"
    if point.check is not None:
        with _after(point):
            point.check(folder, pid)
    return pid


def holds(predicate: Callable, what: str) -> Callable:
    """A point's check: ``predicate(folder)`` must hold after the kill."""
    def check(folder: Path, pid: int) -> None:
        assert predicate(folder), f"expected {what} in {sorted(p.name for p in folder.iterdir())}"
    return check


def _tmp_names(folder: Path) -> set:
    return {p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")}


# ------------------------------------------------------------------------------------ search
def _run_config(path: Path) -> Path:
    """The shipped hardware search, made small: MobileNetV2 at 160x160, 64 evaluations in batches of 4."""
    cfg = yaml.safe_load((ROOT / "examples" / "search" / "hw_search.yaml").read_text())
    cfg.update(name="hw_faults", network={"model": "mobilenet_v2", "resolution": 160},
               objectives=["latency_ms", "energy_mj", "area_mm2"], algorithm={"name": "nsga2", "population": 8},
               budget=BUDGET, batch_size=BATCH, seed=0, runner="serial")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _summary(path: Path) -> dict:
    d = json.loads(path.read_text())
    for k in TIMING_KEYS:
        d.pop(k, None)
    return d


def _search_points(rng: random.Random, r: Path) -> list[Point]:
    """Kill points in the order one run after another reaches them (journal line L is the header
    for L = 1, then batch b ends at line 1 + 4 b)."""
    end = lambda b: 1 + BATCH * b            # noqa: E731
    journal = r / "journal.jsonl"

    def lines(expect, newline):
        def check(r: Path, pid: int) -> None:
            data = journal.read_bytes()
            got = (data.count(b"\n"), data.endswith(b"\n"))
            assert got == (expect, newline), f"journal: (lines, ends with a newline) = {got}"
        return check

    def torn(r: Path, pid: int) -> None:
        assert not journal.read_bytes().endswith(b"\n")

    def record_without_newline(expect):
        def check(r: Path, pid: int) -> None:
            data = journal.read_bytes()
            assert not data.endswith(b"\n") and data.count(b"\n") == expect - 1
            assert isinstance(json.loads(data[data.rindex(b"\n") + 1:]), dict)   # a whole record but its newline
        return check

    def tmp_of(name):
        def check(r: Path, pid: int) -> None:
            assert any(n.startswith(f".{name}.") for n in _tmp_names(r)), f"no temporary {name}: {_tmp_names(r)}"
        return check

    fork_delay = rng.uniform(0.0, 0.03)
    frac_header, frac = rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.95)
    b_frac, b_whole = rng.randint(1, 2), rng.randint(3, 4)
    b_async = b_whole + rng.randint(1, 2)
    b_lines, keep = rng.randint(10, 11), rng.randint(1, BATCH - 1)
    b_newline = rng.randint(13, 14)
    return [
        Point(f"{1e3 * fork_delay:.0f} ms after start (arguments, run config, identity)", {},
              watch=lambda t: t >= fork_delay, cleaned=False),
        Point("before identity.json is renamed into place",
              {"kind": "replace", "name": "identity.json", "when": "before"}, check=tmp_of("identity.json")),
        Point("after run.yaml was renamed into place, before the journal",
              {"kind": "replace", "name": "run.yaml", "when": "after"},
              check=holds(lambda r: (r / "run.yaml").exists(), "run.yaml")),
        Point(f"inside the journal header ({frac_header:.2f} of it written)",
              {"kind": "journal", "line": 1, "cut": frac_header}, check=lines(0, False)),
        Point(f"inside batch {b_frac}'s journal write ({frac:.2f} of it written)",
              {"kind": "journal", "line": end(b_frac), "cut": frac}, check=torn),
        Point(f"after batch {b_whole}'s journal write", {"kind": "journal", "line": end(b_whole), "cut": "whole"},
              check=lines(end(b_whole), True)),
        Point(f"at any moment once the journal holds {end(b_async)} lines",
              {"kind": "slow-journal", "sleep": 0.08}, watch=lambda t: _lines(journal) >= end(b_async),
              check=holds(lambda r: end(b_async) <= _lines(journal) < JOURNAL_LINES, "a longer, unfinished journal")),
        Point(f"inside batch {b_lines}'s journal write, after {keep} of its records",
              {"kind": "journal", "line": end(b_lines - 1) + keep, "cut": "lines"},
              check=lines(end(b_lines - 1) + keep, True)),
        Point(f"inside batch {b_newline}'s journal write, before its last newline",
              {"kind": "journal", "line": end(b_newline), "cut": "newline"},
              check=record_without_newline(end(b_newline))),
        Point("after the last batch's journal write, before any output",
              {"kind": "journal", "line": JOURNAL_LINES, "cut": "whole"}, check=lines(JOURNAL_LINES, True)),
        Point("before pareto.csv is renamed into place", {"kind": "replace", "name": "pareto.csv", "when": "before"},
              check=tmp_of("pareto.csv")),
        Point("after pareto.json was renamed into place", {"kind": "replace", "name": "pareto.json", "when": "after"},
              check=holds(lambda r: (r / "pareto.json").exists() and not (r / "hypervolume.csv").exists(),
                          "pareto.json and no hypervolume.csv")),
        Point("before summary.json is renamed into place",
              {"kind": "replace", "name": "summary.json", "when": "before"}, check=tmp_of("summary.json")),
        Point("before pareto.png is renamed into place", {"kind": "replace", "name": "pareto.png", "when": "before"},
              check=tmp_of("pareto.png")),
        Point("after the command finished, before the process exits", {"kind": "exit"},
              check=holds(lambda r: (r / "pareto.png").exists(), "pareto.png")),
    ]


def _check_search_prefix(r: Path, ref: Path) -> None:
    """What a killed run leaves is part of the uninterrupted run: whole journal lines equal to its first
    lines, and any output file equal to its (outputs are written only once the journal is complete)."""
    journal = r / "journal.jsonl"
    if journal.exists():
        data = journal.read_bytes()
        whole = data[:data.rfind(b"\n") + 1]
        assert (ref / "journal.jsonl").read_bytes().startswith(whole), "the journal differs from the uninterrupted run"
    for name in SEARCH_OUTPUTS:
        if name == "journal.jsonl" or not (r / name).exists():
            continue
        if name == "summary.json":
            assert _summary(r / name) == _summary(ref / name)
        else:
            assert (r / name).read_bytes() == (ref / name).read_bytes(), f"{name} differs from the uninterrupted run"


@pytest.mark.parametrize("seed", SEEDS)
def test_search_killed_at_many_points_resumes_to_the_uninterrupted_front(tmp_path, helper, seed):
    cfg = _run_config(tmp_path / "run.yaml")
    ref, r = tmp_path / "whole", tmp_path / "killed"
    argv = lambda out: ["search", "--config", cfg, "--out", out, "--quiet"]      # noqa: E731
    rng = random.Random(seed)
    _kill_during_imports(argv(r), rng.uniform(0.05, 0.5))     # while the helper does its imports
    helper.wait_ready()
    _, rc, err = helper.run(argv(ref))
    assert rc == 0, err
    points = _search_points(rng, r)
    assert len(points) >= 10
    for point in points:
        _kill(helper, argv(r), point, r)
        with _after(point):
            _check_search_prefix(r, ref)
    _, rc, err = helper.run(argv(r))
    assert rc == 0, err

    # exactly the uninterrupted run's evaluations: each index once, the same genomes and metrics
    records = [json.loads(line) for line in (r / "journal.jsonl").read_text().splitlines()[1:]]
    whole = [json.loads(line) for line in (ref / "journal.jsonl").read_text().splitlines()[1:]]
    assert [rec["i"] for rec in records] == list(range(BUDGET))
    assert records == whole
    # the same files (write_atomic's temporaries left by kills before a rename aside: see
    # test_search_resume_removes_the_temporaries_of_a_killed_run), byte for byte but for the timings in
    # summary.json
    names = lambda d: {p.name for p in d.iterdir()} - _tmp_names(d) - {".lock"}   # noqa: E731
    assert names(r) == names(ref) == set(SEARCH_OUTPUTS)
    for name in SEARCH_OUTPUTS:
        if name == "summary.json":
            assert _summary(r / name) == _summary(ref / name)
        else:
            assert (r / name).read_bytes() == (ref / name).read_bytes(), name
    assert json.loads((r / "pareto.json").read_text()), "the front is empty: nothing was compared"


def test_search_resume_removes_the_temporaries_of_a_killed_run(tmp_path, helper):
    cfg = _run_config(tmp_path / "run.yaml")
    r = tmp_path / "r"
    argv = ["search", "--config", cfg, "--out", r, "--budget", "8", "--quiet"]
    helper.wait_ready()
    _kill(helper, argv, Point("before pareto.csv is renamed into place",
                              {"kind": "replace", "name": "pareto.csv", "when": "before"}), r)
    assert any(n.startswith(".pareto.csv.") for n in _tmp_names(r))
    _, rc, err = helper.run(argv)
    assert rc == 0, err
    assert (r / "pareto.csv").exists()
    assert _tmp_names(r) == set(), "a killed run's temporary files are still in the run folder"


# ------------------------------------------------------------------------------------ dataset
def _shard_dirs(shards: Path) -> list:
    try:
        return sorted(p.name for p in shards.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return []


def _dataset_points(rng: random.Random, d: Path, ref: Path) -> list[Point]:
    """Kill points in the order the shards are made (op-00000..op-00005, block-00000/1, network-00000..2)."""
    S = DATASET_SHARDS

    def tmp_shard(shard, tables, torn=None):
        def check(d: Path, pid: int) -> None:
            tmp = d / "shards" / f".tmp-{shard}-{pid}"
            assert tmp.is_dir() and not (d / "shards" / shard).exists()
            assert sorted(p.name for p in tmp.iterdir()) == sorted(tables)
            if torn is not None:
                assert (tmp / torn).stat().st_size < (ref / "shards" / shard / torn).stat().st_size
        return check

    def manifest(complete, tmp=False):
        def check(d: Path, pid: int) -> None:
            assert any(p.is_file() for p in d.glob(".manifest.json.*.tmp")) == tmp
            if complete is not None:
                assert json.loads((d / "manifest.json").read_text())["complete"] is complete
        return check

    def shards(lo, hi=len(S)):
        def check(d: Path, pid: int) -> None:
            assert lo <= len(_shard_dirs(d / "shards")) <= hi, _shard_dirs(d / "shards")
        return check

    def both(*checks):
        def check(d: Path, pid: int) -> None:
            for c in checks:
                c(d, pid)
        return check

    fork_delay = rng.uniform(0.0, 0.03)
    partial = rng.randint(1, 2)                              # tables written before the kill
    between = rng.randint(1, 2)                              # the shard renamed just before the kill
    n_async = between + 2                                    # shards on disk when the timed kill comes
    torn_shard, torn_table = rng.choice(S[6:8]), rng.choice(TABLE_FILES)
    unrenamed = rng.choice([s for s in S[7:9] if s != torn_shard])
    return [
        Point(f"{1e3 * fork_delay:.0f} ms after start (arguments, request, identity)", {},
              watch=lambda t: t >= fork_delay, cleaned=False),
        Point("before the first manifest.json is renamed into place",
              {"kind": "replace", "name": "manifest.json", "nth": 1, "when": "before"}, check=manifest(None, True)),
        Point("after the first manifest.json was renamed into place, before any shard",
              {"kind": "replace", "name": "manifest.json", "nth": 1, "when": "after"},
              check=both(manifest(False), shards(0, 0))),
        Point(f"inside {S[0]}'s temporary folder, after {partial} of its tables",
              {"kind": "table", "shard": S[0], "table": TABLE_FILES[partial - 1].split(".")[0]},
              check=tmp_shard(S[0], TABLE_FILES[:partial])),
        Point(f"between shards, just after {S[between]} was renamed into place",
              {"kind": "replace", "name": S[between], "when": "after"}, check=shards(between + 1, between + 1)),
        Point(f"at any moment once {n_async} shards are on disk", {"kind": "slow-shards", "sleep": 0.15},
              watch=lambda t: len(_shard_dirs(d / "shards")) >= n_async, check=shards(n_async, len(S) - 1)),
        Point("before a resumed run's manifest.json is renamed into place (shards on disk)",
              {"kind": "replace", "name": "manifest.json", "nth": 1, "when": "before"}, check=manifest(False, True)),
        Point(f"inside {torn_shard}'s temporary folder, its {torn_table} torn",
              {"kind": "table", "shard": torn_shard, "table": torn_table.split(".")[0], "torn": True},
              check=tmp_shard(torn_shard, TABLE_FILES[:TABLE_FILES.index(torn_table) + 1], torn_table)),
        Point(f"with {unrenamed} written but not renamed into place",
              {"kind": "replace", "name": unrenamed, "when": "before"}, check=tmp_shard(unrenamed, TABLE_FILES)),
        Point(f"inside {S[9]}'s temporary folder, after its first table",
              {"kind": "table", "shard": S[9], "table": "layers"}, check=tmp_shard(S[9], TABLE_FILES[:1])),
        Point(f"between shards, just after the last one ({S[10]}) was renamed into place",
              {"kind": "replace", "name": S[10], "when": "after"}, check=shards(len(S))),
        Point("before the final manifest.json is renamed into place",
              {"kind": "replace", "name": "manifest.json", "nth": 2, "when": "before"}, check=manifest(False, True)),
        Point("after the command finished, before the process exits", {"kind": "exit"}, check=manifest(True)),
    ]


def _files(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones included, the lock file not) by relative path."""
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _hidden(d: Path) -> set:
    """Names of the hidden entries (temporaries) in a dataset folder and its shards folder, the lock aside."""
    shards = d / "shards"
    return {p.name for p in [*(d.iterdir() if d.is_dir() else []), *(shards.iterdir() if shards.is_dir() else [])]
            if p.name.startswith(".") and p.name != ".lock"}


def _check_dataset_prefix(d: Path, ref: Path, pid: int, cleaned: bool, before: set = frozenset()) -> None:
    """What a killed run leaves is part of the uninterrupted run: whole shard folders equal to its, a
    manifest equal to its but for the completion fields; and once a run got going, no temporary of an
    earlier, dead run. A shard's temporary folder names its writer's pid; the manifest's temporary file
    has a random name, so one left must not have been there (``before``) when the run started."""
    shards = d / "shards"
    for name in _shard_dirs(shards):
        got, want = _files(shards / name), _files(ref / "shards" / name)
        assert got.keys() == want.keys(), f"shard {name} holds {sorted(got)}"
        for k in got:
            assert got[k].read_bytes() == want[k].read_bytes(), f"shard {name}/{k} differs from the uninterrupted run"
    if (d / "manifest.json").exists():
        m, whole = json.loads((d / "manifest.json").read_text()), json.loads((ref / "manifest.json").read_text())
        if m["complete"]:
            assert (d / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
        else:
            assert m == {**{k: v for k, v in whole.items() if k not in ("pairs", "layers")}, "complete": False}
    if cleaned:
        left = sorted(_hidden(d))
        assert all(re.search(rf"[.-]{pid}(\.tmp)?$", n) or (re.fullmatch(r"\.manifest\.json\.[0-9a-f]+\.tmp", n)
                                                             and n not in before) for n in left), \
            f"temporaries of a dead run left: {left}"


@pytest.mark.parametrize("seed", SEEDS)
def test_dataset_killed_at_many_points_resumes_to_the_uninterrupted_tables(tmp_path, helper, seed):
    ref, d = tmp_path / "whole", tmp_path / "killed"
    argv = lambda out: ["dataset", "--out", out] + DATASET_ARGS     # noqa: E731
    rng = random.Random(1000 + seed)
    _kill_during_imports(argv(d), rng.uniform(0.05, 0.5))     # while the helper does its imports
    helper.wait_ready()
    _, rc, err = helper.run(argv(ref))
    assert rc == 0, err
    assert _shard_dirs(ref / "shards") == sorted(DATASET_SHARDS)
    points = _dataset_points(rng, d, ref)
    assert len(points) >= 10
    for point in points:
        before = _hidden(d)
        pid = _kill(helper, argv(d), point, d)
        with _after(point):
            _check_dataset_prefix(d, ref, pid, point.cleaned, before)
    _, rc, err = helper.run(argv(d))
    assert rc == 0, err

    # the same files, hidden ones included (no temporary of a killed run is left), byte for byte
    got, want = _files(d), _files(ref)
    assert got.keys() == want.keys()
    for k in got:
        assert got[k].read_bytes() == want[k].read_bytes(), k
    a, b = load_dataset(d), load_dataset(ref)
    assert a.n_pairs == b.n_pairs == json.loads((ref / "manifest.json").read_text())["pairs"] > 0
    for col in ("kind", "workload", "hw", "total_cycles", "layer_start", "n_layers"):
        assert np.array_equal(a.pairs[col], b.pairs[col]), col


# ------------------------------------------------------------------------------------ dataset temporaries
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dataset_resume_removes_temporaries_of_dead_writers_only(tmp_path, monkeypatch):
    monkeypatch.setitem(dataset_module.SHARD_SIZE, "op", 10)
    req = DatasetRequest(operators=30, blocks=0, networks=0, hardware=2, hw_per_network=1, format="npz")
    out = tmp_path / "d"

    def stop(summary):
        raise KeyboardInterrupt      # stopped after its first shard

    with pytest.raises(KeyboardInterrupt):
        generate(req, out, progress=False, on_shard=stop)
    shards = out / "shards"
    dead, mine = _dead_pid(), os.getpid()
    # a process that is still running: a worker of a killed `--runner processes` run can outlive it
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        planted = {"dead": shards / f".tmp-op-00001-{dead}", "mine": shards / f".tmp-op-00002-{mine}",
                   "live": shards / f".tmp-op-00002-{live.pid}"}
        for p in planted.values():
            p.mkdir()
            (p / "layers.npz").write_bytes(b"half a table")
        manifest_tmp = out / f".manifest.json.{dead}.tmp"
        manifest_tmp.write_text('{"content_hash": ')
        other = shards / ".tmp-notes"          # not a name this writer makes: not its to remove
        other.mkdir()
        r = generate(req, out, progress=False)
        assert (r.skipped_shards, r.computed_shards, r.pairs) == (1, 2, 30)
        assert not planted["dead"].exists() and not planted["mine"].exists() and not manifest_tmp.exists()
        assert (planted["live"] / "layers.npz").read_bytes() == b"half a table" and other.is_dir()
        assert _shard_dirs(shards) == ["op-00000", "op-00001", "op-00002"]
    finally:
        live.kill()
        live.wait()
    # a later resume (here: the cache hit of the finished request) removes it once its writer is gone
    assert generate(req, out, progress=False).cached
    assert not planted["live"].exists() and other.is_dir()


def test_dataset_shard_finished_meanwhile_by_a_worker_of_a_killed_run_is_kept(tmp_path, monkeypatch):
    """A worker of a killed run can rename its shard into place while the resumed run computes the same
    shard: the resumed run keeps the one on disk (shard i depends only on the request and i)."""
    pytest.importorskip("pyarrow")
    monkeypatch.setitem(dataset_module.SHARD_SIZE, "op", 10)
    req = DatasetRequest(operators=30, blocks=0, networks=0, hardware=2, hw_per_network=1)
    ref, out = tmp_path / "whole", tmp_path / "d"
    generate(req, ref, progress=False)

    def orphan_finishes_op_2(summary):
        if summary["shard"] == "op-00000":
            shutil.copytree(ref / "shards" / "op-00002", out / "shards" / "op-00002")

    r = generate(req, out, progress=False, on_shard=orphan_finishes_op_2)
    assert r.pairs == 30
    got, want = _files(out), _files(ref)
    assert got.keys() == want.keys()
    assert all(got[k].read_bytes() == want[k].read_bytes() for k in got)
