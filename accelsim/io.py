"""One I/O layer: atomic writes, strict YAML reads and versioned, checksummed checkpoints.

Files written whole (outputs, manifests, tables, figures, checkpoints) go through :func:`write_atomic`
(or :func:`atomic_open` for a writer that streams, or :func:`write_json`): the data goes to
``.NAME.<random>.tmp`` in the target's folder and is renamed into place, so a reader (or a resumed
run) never sees half a file, and a failed write leaves no temporary behind. The temporary is created by ``os.open(..., 0o666)``, so the kernel gives
it the mode ``open()`` would (``0o666`` less the umask); the process umask is never read or changed.

YAML inputs (hardware configs, scenarios, run configs, precision maps) are read by :func:`read_yaml`
/ :func:`load_yaml` with :class:`StrictLoader`: a non-UTF-8 file, a syntax error, a duplicate key or
an alias bomb is one ``ConfigError`` line naming the file and the line.

Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) are a one-line magic, a one-line JSON
header (kind, format version, payload size and sha256) and a ``torch.save`` payload, loaded with
``weights_only=True`` only once its size and checksum match; every way a file can be wrong is one
line naming the file. torch is imported only inside those two functions, so ``accelsim`` imports
without it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import secrets
from pathlib import Path

import yaml

from .errors import AccelsimError, ConfigError, one_line, quote, read_text

__all__ = ["atomic_open", "write_atomic", "write_json", "leftover_temporaries", "MAX_YAML_VALUES", "StrictLoader", "load_yaml", "read_yaml",
           "CHECKPOINT_MAGIC", "save_checkpoint", "load_checkpoint"]


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _create_temporary(path: Path) -> "tuple[int, Path]":
    """A new ``.NAME.<random>.tmp`` next to ``path``, open for writing, with the mode ``open()`` gives."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666), tmp   # the kernel applies the umask
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no unused temporary file name in {path.parent}")


@contextlib.contextmanager
def atomic_open(path: "str | os.PathLike", binary: bool = False):
    """A file object writing to a temporary file next to ``path``; when the block ends without an
    exception the file is renamed onto ``path``, otherwise removed. A missing folder is one
    AccelsimError line."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise AccelsimError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            fd = None
            yield fh
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def leftover_temporaries(path: "str | os.PathLike") -> "list[Path]":
    """The temporary files (``.NAME.<random>.tmp``) that writes of ``path`` left when their process was
    killed before the rename. Only a caller that alone writes ``path``'s folder (it holds the folder's
    lock) may remove them: another writer's may still be in use."""
    path = Path(path)
    name = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]+\.tmp")
    return sorted(p for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp")
                  if name.fullmatch(p.name) and p.is_file())


def check_out_file(arg: str, path: "str | os.PathLike") -> None:
    """A file a command writes at the end: its folder must already exist and be writable (a mistyped
    folder is an error rather than a new directory tree), and it must not be a folder. Commands check
    this before any work; a problem is one :class:`AccelsimError` line naming ``arg``."""
    p = Path(path)
    text = str(path) if len(str(path)) <= 60 else str(path)[:57] + "..."
    if p.is_dir():
        raise AccelsimError(f"{arg}: expected a file path, got a folder: {text}")
    parent = p.parent
    folder = str(parent) if len(str(parent)) <= 60 else str(parent)[:57] + "..."
    if not parent.is_dir():
        raise AccelsimError(f"{arg}: folder {folder} does not exist (create it first), for {text}")
    if not os.access(parent, os.W_OK):
        raise AccelsimError(f"{arg}: folder {folder} is not writable, for {text}")
    if p.exists() and not os.access(p, os.W_OK):
        raise AccelsimError(f"{arg}: {text} exists and is not writable")


def write_atomic(path: "str | os.PathLike", data: "str | bytes") -> None:
    """Write via a temporary file in the same folder and rename, so a reader never sees half a file.
    ``bytes`` (a rendered figure, a checkpoint) are written as they are, text in text mode."""
    with atomic_open(path, binary=isinstance(data, (bytes, bytearray, memoryview))) as fh:
        fh.write(data)


def write_json(path: "str | os.PathLike", obj, **dumps_options) -> None:
    """``json.dumps(obj, indent=1, **dumps_options)`` written with :func:`write_atomic`."""
    write_atomic(path, json.dumps(obj, **{"indent": 1, **dumps_options}))


# ---------------------------------------------------------------------------------------------
# Strict YAML
# ---------------------------------------------------------------------------------------------
MAX_YAML_VALUES = 100_000   # values a YAML document may hold once its aliases are expanded


class _YAMLInputError(yaml.MarkedYAMLError):
    """A document the strict loader refuses (duplicate key, alias expansion); ``problem`` says why."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses what PyYAML lets through silently or slowly.

    A key given twice in one mapping is an error (PyYAML keeps the last), and a document whose
    aliases expand to more than ``MAX_YAML_VALUES`` values (a "billion laughs") is refused while it
    is composed, before anything walks or prints the expanded value.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._values = 0
        self._sizes: dict = {}
        self._open: set = set()   # anchors of the collections being composed

    def _expanded(self, node) -> int:
        """Values under ``node`` with every alias expanded; shared nodes are sized once."""
        size = self._sizes.get(id(node))
        if size is None:
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._expanded(v) for v in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(self._expanded(k) + self._expanded(v) for k, v in node.value)
            self._sizes[id(node)] = size
        return size

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self._open:
            raise _YAMLInputError(None, None, f"alias *{event.anchor} refers to the collection that contains it",
                                  event.start_mark)
        anchor = getattr(event, "anchor", None) if not isinstance(event, yaml.AliasEvent) else None
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)
        self._values += self._expanded(node) if isinstance(event, yaml.AliasEvent) else 1
        if self._values > MAX_YAML_VALUES:
            raise _YAMLInputError(None, None, f"YAML aliases expand to more than {MAX_YAML_VALUES:,} values; "
                                  "expected a config file (write the values out)", event.start_mark)
        return node

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # '<<: *base' merges; later keys override it
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:   # an unhashable key: SafeLoader reports it
                continue
            if first is not key_node:
                raise _YAMLInputError(None, None, f"duplicate key {quote(key)} (first given on line "
                                      f"{first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str):
    """Parse YAML text with :class:`StrictLoader`; every problem is one ConfigError line naming ``source``
    and the line: ``edge.yaml: line 4: duplicate key 'rows' (first given on line 3)``."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except _YAMLInputError as exc:
        raise ConfigError(f"{source}: line {exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        if isinstance(exc, yaml.reader.ReaderError):   # a control character; str(exc) spans two lines
            what = f"unacceptable character #x{exc.character:04x} at offset {exc.position}"
        else:
            what = one_line(getattr(exc, "problem", None) or exc)
        raise ConfigError(f"{source}:{line} malformed YAML ({what})") from None
    except RecursionError:
        raise ConfigError(f"{source}: malformed YAML (nested too deeply)") from None


def read_yaml(path: Path):
    """Parse a YAML file; a syntax error, an unreadable or non-UTF-8 file, a duplicate key or an alias
    bomb is one ConfigError line naming the file (and the line)."""
    return load_yaml(read_text(path, ConfigError), str(path))


# ---------------------------------------------------------------------------------------------
# Versioned, checksummed checkpoints
# ---------------------------------------------------------------------------------------------
CHECKPOINT_MAGIC = b"accelsim checkpoint\n"
_HEADER_LIMIT = 4096   # bytes of the JSON header line


def save_checkpoint(path: "str | os.PathLike", payload, kind: str, version: int) -> None:
    """Write ``payload`` (tensors and plain data) atomically as a checkpoint of ``kind`` at format
    ``version``: the magic line, a JSON header line holding the kind, the version, the payload's size
    and sha256, then the ``torch.save`` bytes of ``payload``."""
    import torch
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"checkpoint kind: expected a non-empty string, got {quote(kind)}")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"checkpoint version: expected an integer, got {quote(version)}")
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getbuffer()
    header = json.dumps({"kind": kind, "version": version, "bytes": len(body),
                         "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True)
    with atomic_open(path, binary=True) as fh:
        fh.write(CHECKPOINT_MAGIC)
        fh.write(header.encode("utf-8") + b"\n")
        fh.write(body)


def load_checkpoint(path: "str | os.PathLike", kind: str, version: int, *, what: str | None = None,
                    hint: str = "", error: type = AccelsimError):
    """The payload :func:`save_checkpoint` wrote to ``path`` for ``kind`` and ``version``.

    Every way the file can be wrong raises ``error`` with one line naming the file (``what`` names the
    checkpoint in it, ``kind`` by default; ``hint`` ends the lines about another format version or a
    file without the header): missing, unreadable, no header (corrupt, or written by an older format),
    another kind, another version, truncated, a checksum that does not match, or a payload holding
    more than tensors and plain data. The payload is unpickled only after its checksum matched, and
    with ``weights_only=True``; torch's own message is not quoted, since it may suggest loading the
    file in a way that runs code from it."""
    path = Path(path)
    what = what or kind
    if not path.is_file():
        raise error(f"{path}: no such {what} checkpoint")

    def unreadable(why: str):
        return error(f"{path}: not a readable {what} checkpoint ({why})")

    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(CHECKPOINT_MAGIC))
            line = fh.readline(_HEADER_LIMIT) if magic == CHECKPOINT_MAGIC else b""
            body = fh.read() if line.endswith(b"\n") else b""
    except OSError as exc:
        raise error(f"{path}: cannot read {what} checkpoint ({exc.strerror or type(exc).__name__})") from None
    if magic != CHECKPOINT_MAGIC:
        raise unreadable(f"no checkpoint header: corrupt, or written in an older format{hint}")
    try:
        header = json.loads(line.decode("utf-8")) if line.endswith(b"\n") else None
        have_kind, have_version, size, digest = (header["kind"], header["version"], header["bytes"],
                                                 header["sha256"])
        if isinstance(size, bool) or not isinstance(size, int) or not isinstance(digest, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):   # UnicodeDecodeError is a ValueError
        raise unreadable("corrupt or truncated header") from None
    if have_kind != kind:
        raise error(f"{path}: holds a {quote(have_kind)} checkpoint, not {quote(kind)}")
    if have_version != version:
        raise error(f"{path}: checkpoint format version {quote(have_version)}, this code reads version "
                    f"{version}{hint}")
    if len(body) != size:
        raise unreadable(f"truncated: {len(body):,} of {size:,} payload bytes" if len(body) < size else
                         f"corrupt: {len(body):,} payload bytes where the header says {size:,}")
    if hashlib.sha256(body).hexdigest() != digest:
        raise unreadable("corrupt: the payload's sha256 does not match its header")
    import torch
    try:
        return torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, RuntimeError, ... (the checksum matched: not a damaged file)
        raise unreadable(f"holding more than tensors and plain data; {type(exc).__name__}") from None
