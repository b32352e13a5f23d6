"""Quantities with units as scenario files write them: durations ('33ms', '10s') and rates ('15fps').

A bare number is an error: '33' could be seconds, milliseconds or cycles, and guessing is how
deadline bugs are born. Each parser raises :class:`~accelsim.errors.ConfigError` with the location
it is given (``file: key.path``) and the value as written.
"""

from __future__ import annotations

import re

from ..errors import ConfigError

DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
RATE_UNITS = {"hz": 1.0, "khz": 1e3, "fps": 1.0, "/s": 1.0}

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(ns|us|µs|ms|s|min)\s*$")
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*(hz|khz|fps|/s)\s*$", re.IGNORECASE)


def _quantity(value, pattern, units: dict, what: str, example: str, where: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ConfigError(f"{where}: expected a {what} with a unit, as a string like {example}; got {value!r}")
    m = pattern.match(value)
    if not m:
        raise ConfigError(f"{where}: expected a {what} with a unit (one of {', '.join(units)}; "
                          f"e.g. {example}), got {value!r}")
    number = float(m.group(1)) * units[m.group(2).lower() if units is RATE_UNITS else m.group(2)]
    if positive and not number > 0:
        raise ConfigError(f"{where}: expected a positive {what}, got {value!r}")
    if not positive and number < 0:
        raise ConfigError(f"{where}: expected a non-negative {what}, got {value!r}")
    return number


def parse_duration(value, where: str, *, positive: bool = True) -> float:
    """'33ms' -> 0.033 (seconds)."""
    return _quantity(value, _DURATION_RE, DURATION_UNITS, "duration", "'33ms', '10s'", where, positive=positive)


def parse_rate(value, where: str) -> float:
    """'15fps', '50Hz', '2kHz', '5/s' -> events per second (always positive)."""
    return _quantity(value, _RATE_RE, RATE_UNITS, "rate", "'15fps', '50Hz'", where, positive=True)


def format_duration(seconds: float) -> str:
    """A short human string for a duration in seconds ('33.3ms', '10s', '250us')."""
    if seconds >= 1.0:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.4g}ms"
    return f"{seconds * 1e6:.4g}us"
