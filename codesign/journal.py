"""Append-only JSON-lines journal of evaluations, so a killed run resumes with nothing lost or repeated.

Each line is one finished evaluation, written with a single ``write`` + ``flush`` + ``fsync``; a
line cut off by a kill is detected (it does not parse) and dropped on the next open, so the file
always ends on a complete record. The first line is a header naming the run's configuration hash:
resuming a journal under a different configuration is an error, not a silent mix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from accelsim.errors import AccelsimError


class JournalError(AccelsimError):
    """A journal file is corrupt or belongs to another run configuration."""


class Journal:
    def __init__(self, path: "str | os.PathLike", run_hash: str, meta: dict | None = None):
        self.path = Path(path)
        self.run_hash = run_hash
        self.records: list[dict] = []
        if self.path.exists() and self.path.stat().st_size > 0:
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"journal": 1, "run_hash": run_hash, "meta": meta or {}})

    def _load(self) -> None:
        parsed, good_bytes = _parse(self.path, self.path.read_bytes())
        if parsed[0]["run_hash"] != self.run_hash:
            raise JournalError(f"{self.path}: journal belongs to another run configuration "
                               f"(hash {parsed[0]['run_hash']}, this run {self.run_hash}); use a new output folder")
        size = self.path.stat().st_size
        if good_bytes < size:
            with open(self.path, "r+b") as fh:
                fh.truncate(min(good_bytes, size))
        self.records = parsed[1:]

    def _append(self, *records: dict) -> None:
        text = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)
        with open(self.path, "a") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: dict) -> None:
        self._append(record)
        self.records.append(record)

    def append_many(self, records: list) -> None:
        """Several finished evaluations in one write and one fsync (a kill keeps a prefix of them)."""
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
    return parsed[0], parsed[1:]


def _parse(path: Path, data: bytes) -> tuple[list, int]:
    """Records of a journal's bytes and the length of its intact prefix (a torn last line is left out)."""
    lines = data.split(b"\n")
    good_bytes = 0
    parsed = []
    for i, raw in enumerate(lines):
        if raw.strip():
            try:
                parsed.append(json.loads(raw))
            except json.JSONDecodeError:
                if i >= len(lines) - 2:  # a torn last line from a kill
                    break
                raise JournalError(f"{path}: line {i + 1} is not valid JSON (corrupt journal)") from None
        good_bytes += len(raw) + 1
    if not parsed or "run_hash" not in parsed[0]:
        raise JournalError(f"{path}: missing journal header (not a codesign journal?)")
    return parsed, good_bytes
