"""What a run was made from, and who is working in its folder.

A resumable run (a search, a dataset, a supernet checkpoint) may only continue from results made
from the same inputs. :func:`identity` describes those inputs as a plain, JSON-able dict:

- resolved hardware configs in their full YAML form (``accelsim.config.hardware_to_dict``: every
  field, not the file name that held them);
- the network / space / request settings as the run resolves them;
- ``files``: a sha256 of every file the run reads (estimator checkpoint, accuracy table, training
  data, ONNX model...), by label, with the file's base name;
- ``engine_model``: :func:`engine_model_version`, a sha256 over the source text of the code that
  computes results (:func:`model_sources`), so editing the model invalidates old results.

:func:`fingerprint` is the sha256 of the identity's canonical JSON; runs store the identity itself
(``identity.json`` of a search folder, the dataset manifest, the supernet checkpoint) so that a
mismatch is reported by :func:`describe_change` as one line naming the first input that differs,
e.g. ``hardware.dram.latency_ns 100 → 120``.

Run folders: :func:`claim_folder` locks ``DIR/.lock`` with ``fcntl.flock`` for the run's lifetime
(a second process is refused at once; the lock dies with its process, so a killed run leaves no
stale lock) and, with ``force_new``, first moves a non-empty folder aside to
``DIR.old-<YYYYmmdd-HHMMSS>`` so nothing a user ran is lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path

from .errors import CodesignError

# The engine model: every accelsim module except the command line, the plots and the system-level
# model (accelsim.system: codesign never runs it), and every module of the codesign subpackages whose
# code decides what a result is (spaces, features, dataset sampler, estimator, accuracy sources and
# tables, problems, search algorithms, Pareto fronts, supernet). Modules that only read configs,
# write files or report (cli, runs, runconfig, runners, journal, identity, validate, baselines, and
# the package __init__ export tables) are left out: editing them does not change a result.
_ROOT = Path(__file__).resolve().parent.parent
ACCELSIM_EXCLUDED = ("cli.py", "plots.py")
ACCELSIM_EXCLUDED_PACKAGES = ("system",)
CODESIGN_MODEL_PACKAGES = ("spaces", "estimator", "accuracy", "search", "supernet")
CODESIGN_NOT_MODEL = ("estimator/baselines.py", "estimator/validate.py", "search/journal.py", "search/runconfig.py",
                      "search/runs.py")
VALUE_CHARS = 60     # longest value a change message shows


def model_sources(root: "str | os.PathLike | None" = None) -> list[Path]:
    """The source files of the engine model, sorted (see ``CODESIGN_MODEL_PACKAGES``)."""
    root = Path(root) if root is not None else _ROOT
    files = [p for p in (root / "accelsim").rglob("*.py")
             if not (p.parent == root / "accelsim" and p.name in ACCELSIM_EXCLUDED)
             and p.relative_to(root / "accelsim").parts[0] not in ACCELSIM_EXCLUDED_PACKAGES]
    files += [p for pkg in CODESIGN_MODEL_PACKAGES for p in (root / "codesign" / pkg).glob("*.py")
              if p.name != "__init__.py" and p.relative_to(root / "codesign").as_posix() not in CODESIGN_NOT_MODEL]
    return sorted((p for p in files if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def engine_model_version(root: "str | os.PathLike | None" = None) -> str:
    """sha256 over the relative path and source text of every engine-model file, as they are on
    disk now (about 20 ms; read afresh each time, so every process agrees on the current code)."""
    root = Path(root) if root is not None else _ROOT
    h = hashlib.sha256()
    for p in model_sources(root):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def file_checksum(path: "str | os.PathLike") -> str:
    """sha256 of a file's bytes; an unreadable file is one CodesignError line naming it."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise CodesignError(f"{path}: cannot read ({exc.strerror})") from None
    return h.hexdigest()


def _plain(value):
    """``value`` as JSON-able plain data: Hardware -> its YAML form, dataclasses -> dicts, tuples -> lists."""
    from accelsim.config import Hardware, hardware_to_dict
    if isinstance(value, Hardware):
        return _plain(hardware_to_dict(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if type(value).__module__ == "numpy":
        return value.tolist()    # numpy scalars and arrays
    return value


def identity(parts: dict, engine_model: "str | None" = None) -> dict:
    """The identity of a run's inputs: ``parts`` made plain (Hardware -> ``hardware_to_dict``,
    dataclasses -> dicts, tuples -> lists), its ``files`` entry (``{label: path}``, ``None`` paths
    dropped) turned into ``{label: {"name": base name, "sha256": ...}}``, and ``engine_model`` (the
    :func:`engine_model_version` unless given) added last."""
    out = {}
    for key, value in parts.items():
        if key == "files":
            out["files"] = {label: {"name": Path(p).name, "sha256": file_checksum(p)}
                            for label, p in (value or {}).items() if p is not None}
        elif key != "engine_model":
            out[key] = _plain(value)
    out["engine_model"] = engine_model or parts.get("engine_model") or engine_model_version()
    # a JSON round trip (key order kept: describe_change names inputs in this order), so a fresh
    # identity is exactly what reading it back from disk gives
    return json.loads(json.dumps(out, ensure_ascii=False))


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(ident: dict) -> str:
    """sha256 (hex) of the identity's canonical JSON (keys sorted, no spaces)."""
    return hashlib.sha256(canonical_json(ident).encode()).hexdigest()


# ------------------------------------------------------------------------------------ describing changes
_ABSENT = object()


def _show(value) -> str:
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def _same(a, b) -> bool:
    if a is _ABSENT or b is _ABSENT:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return canonical_json(a) == canonical_json(b)


def _first_diff(old, new, path: str):
    """(key path, old value, new value) of the first difference, or None."""
    if _same(old, new):
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            d = _first_diff(old.get(k, _ABSENT), new.get(k, _ABSENT), f"{path}.{k}" if path else str(k))
            if d is not None:
                return d
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            d = _first_diff(a, b, f"{path}[{i}]")
            if d is not None:
                return d
        return None
    return path, old, new


def _file_change(label: str, old, new) -> str:
    if old is _ABSENT or not isinstance(old, dict):
        return f"{label} {_show(new.get('name', '?'))} is new (the old run read no {label})"
    if new is _ABSENT or not isinstance(new, dict):
        return f"{label} {_show(old.get('name', '?'))} is no longer read"
    if old.get("name") != new.get("name"):
        how = "" if old.get("sha256") == new.get("sha256") else ", contents differ"
        return f"{label} {_show(old.get('name'))} → {_show(new.get('name'))}{how}"
    return f"{label} {_show(new.get('name'))} changed"


def describe_change(old: dict, new: dict) -> str:
    """One line naming the first input that differs between two identities, with old → new values
    (capped at ``VALUE_CHARS``): ``hardware.dram.latency_ns 100 → 120``, ``estimator checkpoint
    est.pt changed``, ``engine model code changed``."""
    old_files, new_files = old.get("files") or {}, new.get("files") or {}
    keys = list(old) + [k for k in new if k not in old]
    # the engine model last: a user's own input that changed is the more useful thing to name
    keys = [k for k in keys if k != "engine_model"] + ["engine_model"]
    for key in keys:
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if _same(a, b):
            continue
        if key == "engine_model":
            return "engine model code changed"
        if key == "files":
            for label in list(old_files) + [k for k in new_files if k not in old_files]:
                fa, fb = old_files.get(label, _ABSENT), new_files.get(label, _ABSENT)
                if not _same(fa, fb):
                    return _file_change(label, fa, fb)
            continue
        d = _first_diff(a, b, key)
        if d is not None:
            return f"{d[0]} {_show(d[1])} → {_show(d[2])}"
    return "inputs changed"


def check_same(stored: "dict | None", current: dict, where: str, what: str = "this folder") -> None:
    """Refuse (one CodesignError line) when ``stored`` is missing or differs from ``current``."""
    if stored is None:
        raise CodesignError(f"{where}: {what} has no stored input identity (made by an older codesign), so it "
                            f"cannot be checked against this run; {FORCE_NEW_HINT}")
    if fingerprint(stored) != fingerprint(current):
        raise CodesignError(f"{where}: {what} was made from other inputs ({describe_change(stored, current)}); "
                            f"{FORCE_NEW_HINT}")


FORCE_NEW_HINT = "rerun with --force-new to start afresh (the old folder is moved aside, not deleted) " \
                 "or use another output folder"


# ------------------------------------------------------------------------------------ run folders
LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:      # not POSIX: no locking
    fcntl = None


class FolderLock:
    """An exclusive ``flock`` on ``DIR/.lock``; the file holds the owner's pid (for the message)."""

    def __init__(self, folder: "str | os.PathLike"):
        self.folder = Path(folder)
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        if fcntl is None:
            return self
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CodesignError(f"{self.folder}: cannot create the lock file {LOCK_FILE} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            raise CodesignError(f"{self.folder}: another codesign process (pid {pid}) is using this folder") from None
        except OSError as exc:     # e.g. a file system without flock
            os.close(fd)
            raise CodesignError(f"{self.folder}: cannot lock {LOCK_FILE} ({exc.strerror})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)     # closing the last descriptor drops the flock

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_pid(fd: int) -> str:
    # the owner writes its pid right after taking the lock: allow it a moment
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.01)
    return "unknown"


def aside_path(folder: "str | os.PathLike") -> Path:
    """``DIR.old-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken)."""
    folder = Path(folder)
    base = folder.with_name(f"{folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _has_content(folder: Path) -> bool:
    return any(p.name != LOCK_FILE for p in folder.iterdir())


@contextlib.contextmanager
def claim_folder(folder: "str | os.PathLike", force_new: bool = False):
    """Create and lock ``folder`` for the body; with ``force_new`` a folder that holds anything is
    first moved aside (under its lock, so a folder in use is never moved). Yields the path it was
    moved to, or None."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodesignError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    if not folder.is_dir():
        raise CodesignError(f"{folder}: expected a folder")
    lock = FolderLock(folder).acquire()
    moved = None
    try:
        if force_new and _has_content(folder):
            moved = aside_path(folder)
            try:
                os.rename(folder, moved)
            except OSError as exc:
                raise CodesignError(f"{folder}: cannot move it aside to {moved.name} ({exc.strerror})") from None
            lock.release()
            folder.mkdir(parents=True, exist_ok=True)
            lock = FolderLock(folder).acquire()
        yield moved
    finally:
        lock.release()


__all__ = ["identity", "fingerprint", "describe_change", "check_same", "engine_model_version", "model_sources",
           "file_checksum", "FolderLock", "claim_folder", "aside_path", "FORCE_NEW_HINT"]
