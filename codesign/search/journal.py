"""Append-only JSON-lines journal of evaluations, so a killed run resumes with nothing lost or repeated.

Each append (one record, or a batch of them) is one ``os.write`` of the records with their
newlines on a descriptor opened ``O_APPEND``: once it returns, the records outlive a kill of the
process (the kernel holds them). ``fsync``, which makes them outlive a crash of the machine too, is
paid at most once per ``sync_seconds`` (1 s by default; 0: after every append) and by
:meth:`Journal.sync`, which a run calls when it ends, so a search writing many small batches
does not wait on the disk for each. A kill can cut the file at any byte:
a final line without its newline (or one that does not parse) is torn; reading ignores it, and
opening the journal to append truncates it away first, so a new record is never glued to a torn
one. The first line is a header naming the run's configuration hash: resuming a journal under a
different configuration is an error, not a silent mix.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from accelsim.errors import AccelsimError


class JournalError(AccelsimError):
    """A journal file is corrupt or belongs to another run configuration."""


class Journal:
    def __init__(self, path: "str | os.PathLike", run_hash: str, meta: dict | None = None,
                 sync_seconds: float = 1.0):
        self.path = Path(path)
        self.run_hash = run_hash
        self.records: list[dict] = []
        self.sync_seconds = sync_seconds
        self._synced = -float("inf")   # time.monotonic() of the last fsync
        self._unsynced = False
        if self.path.exists() and self._load():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._append({"journal": 1, "run_hash": run_hash, "meta": meta or {}})

    def _load(self) -> bool:
        """Read the records and cut a torn tail away; False when not even the header is complete."""
        data = self.path.read_bytes()
        parsed, good_bytes = _parse(self.path, data)
        if good_bytes < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        if not parsed:     # killed while writing the header: start the journal again
            return False
        _check_header(self.path, parsed)
        if parsed[0]["run_hash"] != self.run_hash:
            raise JournalError(f"{self.path}: journal belongs to another run configuration "
                               f"(hash {parsed[0]['run_hash']}, this run {self.run_hash}); use a new output folder")
        self.records = parsed[1:]
        return True

    def _append(self, *records: dict) -> None:
        data = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:                      # one write() call; a short write (rare) is continued
                view = view[os.write(fd, view):]
            now = time.monotonic()
            if now - self._synced >= self.sync_seconds:
                os.fsync(fd)
                self._synced, self._unsynced = now, False
            else:
                self._unsynced = True
        finally:
            os.close(fd)

    def sync(self) -> None:
        """``fsync`` what was appended since the last one (nothing to do when every append was)."""
        if self._unsynced:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced, self._unsynced = time.monotonic(), False

    def append(self, record: dict) -> None:
        self._append(record)
        self.records.append(record)

    def append_many(self, records: list) -> None:
        """Several finished evaluations in one write (a kill keeps a prefix of them)."""
        if records:
            self._append(*records)
            self.records.extend(records)

    def __len__(self) -> int:
        return len(self.records)


def read_journal(path: "str | os.PathLike") -> tuple[dict, list]:
    """(header, records) of a journal, for inspection; a torn last line is ignored, not removed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"{path}: cannot read ({exc.strerror})") from None
    parsed, _ = _parse(path, data)
    _check_header(path, parsed)
    return parsed[0], parsed[1:]


def _check_header(path: Path, parsed: list) -> None:
    """The header names the run; every record after it is an evaluation: an object holding the
    candidate's ``genome`` (an object) and its ``metrics`` (an object)."""
    if not parsed or not isinstance(parsed[0], dict) or "run_hash" not in parsed[0]:
        raise JournalError(f"{path}: missing journal header (not a codesign journal?)")
    for i, rec in enumerate(parsed[1:], start=2):
        if not (isinstance(rec, dict) and isinstance(rec.get("genome"), dict) and isinstance(rec.get("metrics"), dict)):
            raise JournalError(f"{path}: line {i}: expected an evaluation record with a genome and its metrics "
                               "(corrupt journal)")


def _parse(path: Path, data: bytes) -> tuple[list, int]:
    """Records of a journal's bytes and the length of its intact prefix. Only newline-terminated
    lines count: a final line without its newline was cut by a kill and is left out even if it
    parses; so is a final line that does not parse. A bad line before the last is corruption."""
    lines = data.split(b"\n")
    complete = lines[:-1]            # what follows the last newline is torn (or empty)
    good_bytes = 0
    parsed = []
    for i, raw in enumerate(complete):
        if raw.strip():
            try:
                parsed.append(json.loads(raw))
            except (json.JSONDecodeError, UnicodeDecodeError):
                if i == len(complete) - 1:   # a damaged last line: treat it as torn
                    break
                raise JournalError(f"{path}: line {i + 1} is not valid JSON (corrupt journal)") from None
        good_bytes += len(raw) + 1
    return parsed, good_bytes
