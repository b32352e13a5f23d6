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
