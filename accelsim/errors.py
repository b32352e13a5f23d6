"""Error types whose message is one line a user can act on.

Every error raised for bad input names where the problem is (file, key path, argument or layer)
and what was expected; the CLI prints the message alone and exits with status 2.
"""


class AccelsimError(Exception):
    """Base class for errors caused by user input (configs, models, arguments)."""


class ConfigError(AccelsimError):
    """A hardware config or scenario file is malformed or holds an impossible value."""


class WorkloadError(AccelsimError):
    """A network, topology file or layer is malformed or cannot be built."""


class MappingError(AccelsimError):
    """A layer cannot run on the given hardware (no tiling fits, unsupported precision, no unit)."""


# ---------------------------------------------------------------------------------------------
# Helpers for those messages: quote a value as written (capped), and read an input file as text
# ---------------------------------------------------------------------------------------------
QUOTE_LIMIT = 60            # characters of a quoted value in a message
MAX_INPUT_BYTES = 64 << 20  # configs, scenarios, topologies and precision maps are small text files


def _make_repr():
    import reprlib
    r = reprlib.Repr()
    # reprlib stops at these sizes and depths, so quoting even a huge nested value (a YAML alias
    # expansion) takes microseconds; the final cut below bounds the length.
    r.maxlevel, r.maxstring, r.maxother, r.maxlong = 3, QUOTE_LIMIT, QUOTE_LIMIT, QUOTE_LIMIT
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 6
    return r


_REPR = _make_repr()


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters (``...`` marks the cut)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails must not hide the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def one_line(text, limit: int = 200) -> str:
    """The first line of a library's message (``str(exc)``), cut to ``limit`` characters."""
    lines = str(text).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first if len(first) <= limit else first[:limit - 3] + "..."


def read_text(path, error: type = AccelsimError) -> str:
    """The contents of a UTF-8 text file with universal newlines.

    Raises ``error`` with one line naming the file when it cannot be read, is larger than
    ``MAX_INPUT_BYTES`` (``/dev/zero`` must not fill memory), or is not UTF-8:
    ``edge.yaml: not UTF-8 text (byte 0xe9 at offset 25)``.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise error(f"{path}: larger than {MAX_INPUT_BYTES >> 20} MiB; expected a small text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
