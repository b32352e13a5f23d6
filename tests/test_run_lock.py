"""Run folders: one process at a time (DIR/.lock), and a journal that survives a kill at any byte."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from codesign.cli import main
from codesign.estimator.dataset import DatasetRequest, generate
from codesign.errors import CodesignError
from codesign.identity import FolderLock, claim_folder
from codesign.search.journal import Journal, JournalError, read_journal

ROOT = Path(__file__).resolve().parents[1]
BASE_RUN = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
            "accuracy": {"source": "nb201"}, "budget": 32, "batch_size": 4}
HOLD = ("import sys, time\nfrom codesign.identity import FolderLock\n"
        "with FolderLock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(120)\n")


def _wait_for_pid(lock: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"the other process never took {lock}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)     # a kill leaves no stale lock: flock dies with the process
    proc.wait()


@pytest.fixture
def holder(tmp_path):
    """A second process holding a folder's lock (a plain lock holder: quick to start)."""
    procs = []

    def hold(folder: Path) -> subprocess.Popen:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for p in procs:
        if p.poll() is None:
            _stop(p)


# ------------------------------------------------------------------------------------ locks
def test_a_search_in_progress_locks_its_folder_against_a_second_one(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**BASE_RUN, "budget": 10 ** 6}))
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "codesign.cli", "search", "--config", str(cfg), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_pid(out / ".lock", proc)
        assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet", "--budget", "8"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("codesign:")]
        assert err == [f"codesign: error: {out}: another codesign process (pid {proc.pid}) is using this folder"]
        # --force-new never moves a folder another process works in
        assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet", "--force-new"]) == 2
        assert f"(pid {proc.pid})" in capsys.readouterr().err
        assert not [p for p in tmp_path.iterdir() if ".old-" in p.name]
    finally:
        _stop(proc)
    # the killed process's lock is gone with it: the run resumes from its journal (a run never shrinks,
    # so the budget covers what the killed process journaled)
    held = len((out / "journal.jsonl").read_text().splitlines()) - 1
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet", "--budget", str(held + 8)]) == 0
    assert "replayed" in capsys.readouterr().out


def test_dataset_and_supernet_folders_are_locked_too(tmp_path, holder, capsys):
    first = holder(tmp_path / "d")
    req = DatasetRequest(operators=10, blocks=0, networks=0, hardware=1, hw_per_network=1, format="npz")
    with pytest.raises(CodesignError, match=rf"d: another codesign process \(pid {first.pid}\) is using this folder"):
        generate(req, tmp_path / "d", progress=False)
    other = holder(tmp_path / "sn")
    assert main(["supernet", "--steps", "2", "--warmup", "1", "--samples", "64", "--device", "cpu",
                 "--out", str(tmp_path / "sn"), "--quiet"]) == 2
    assert f"sn: another codesign process (pid {other.pid}) is using this folder" in capsys.readouterr().err
    _stop(first)
    assert not generate(req, tmp_path / "d", progress=False).cached      # free once the holder is gone


def test_lock_is_released_on_errors_and_force_new_moves_only_a_folder_with_content(tmp_path):
    folder = tmp_path / "f"
    with pytest.raises(RuntimeError):
        with claim_folder(folder):
            raise RuntimeError("a run that fails")
    with FolderLock(folder):                                   # free again
        with pytest.raises(CodesignError, match="another codesign process"):
            FolderLock(folder).acquire()                       # a second descriptor conflicts, even in-process
    with claim_folder(folder, force_new=True) as moved:       # only the lock file there: nothing to keep
        assert moved is None
        (folder / "result.json").write_text("{}")
    with claim_folder(folder, force_new=True) as moved:
        assert moved.name.startswith("f.old-") and (moved / "result.json").exists()
        assert not (folder / "result.json").exists()
    with claim_folder(folder, force_new=True) as moved:       # an empty folder again: nothing moved
        assert moved is None
    (folder / "x").write_text("x")
    with claim_folder(folder, force_new=True) as second:      # the same second: another name
        assert second.exists() and len([p for p in tmp_path.iterdir() if p.name.startswith("f.old-")]) == 2


# ------------------------------------------------------------------------------------ journal
def _journal_bytes(path: Path, n: int) -> bytes:
    j = Journal(path, "h", meta={"m": 1})
    for i in range(n):
        j.append({"i": i, "genome": {"a": i}, "metrics": {"x": 0.5 + i}})
    return path.read_bytes()


def test_journal_survives_a_kill_at_any_byte(tmp_path):
    whole = _journal_bytes(tmp_path / "whole.jsonl", 3)
    ends = [i + 1 for i, b in enumerate(whole) if b == ord("\n")]
    for cut in range(len(whole) + 1):
        path = tmp_path / "cut.jsonl"
        path.write_bytes(whole[:cut])
        complete = sum(e <= cut for e in ends)                # newline-terminated lines before the cut
        if complete:
            _, records = read_journal(path)                   # reading ignores a torn tail, leaves the file
            assert [r["i"] for r in records] == list(range(complete - 1))
            assert path.read_bytes() == whole[:cut]
        j = Journal(path, "h")
        assert len(j) == max(0, complete - 1)
        j.append({"i": 99, "genome": {}, "metrics": {}})
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])   # nothing glued
        header, records = read_journal(path)
        assert header["run_hash"] == "h" and [r["i"] for r in records] == list(range(len(j) - 1)) + [99]


def test_journal_writes_each_batch_in_one_write_call(tmp_path, monkeypatch):
    import os
    calls = []
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: calls.append(bytes(data)) or real(fd, data))
    j = Journal(tmp_path / "j.jsonl", "h")
    j.append_many([{"i": 0}, {"i": 1}])
    assert len(calls) == 2 and calls[1] == b'{"i":0}\n{"i":1}\n'
    assert calls[0].endswith(b"\n") and calls[0].count(b"\n") == 1


def test_journal_corruption_before_the_last_line_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    whole = _journal_bytes(path, 3).split(b"\n")
    whole[2] = b"{not json"
    path.write_bytes(b"\n".join(whole))
    with pytest.raises(JournalError, match="line 3 is not valid JSON"):
        Journal(path, "h")


@pytest.mark.parametrize("cut", ["mid-line", "before-newline"])
def test_search_resumes_from_a_journal_with_a_torn_last_line(tmp_path, capsys, cut):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(BASE_RUN))
    out = tmp_path / "r"
    args = ["search", "--config", str(cfg), "--out", str(out), "--quiet"]
    assert main(args) == 0
    journal = out / "journal.jsonl"
    full = journal.read_text()
    lines = full.splitlines()
    torn = lines[11][:25] if cut == "mid-line" else lines[11]     # a kill before the record's newline
    journal.write_text("\n".join(lines[:11]) + "\n" + torn)
    capsys.readouterr()
    assert main(args) == 0
    assert "22 evaluated, 10 replayed" in capsys.readouterr().out
    assert journal.read_text() == full                          # the same records, each once, none glued
