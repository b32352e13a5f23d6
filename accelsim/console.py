"""What both command lines (``accelsim``, ``codesign``) print the same way.

- A number that is missing (None or NaN: an area a config does not give, a rank correlation of
  fewer than two values) prints as ``–``, and the reason once below the table (:class:`Blanks`);
  ``nan`` is never printed.
- Progress bars go to stderr, only on a terminal and never under ``--quiet`` (:func:`show_progress`,
  :func:`progress`). ``--quiet`` means the same in every command (:data:`QUIET_HELP`): no progress
  bars and no informational notes; results (tables, summary lines) still print.
- An option kept under an old name (``--base`` for ``--hw``) or an old use of an option is
  accepted with one warning line on stderr once the command has run (:func:`deprecate`,
  :class:`RenamedOption`, printed by :func:`accelsim.cli.run_cli`).

Importing this module imports nothing heavy: tqdm loads when a bar is shown.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

MISSING = "–"   # a missing number, in every table and summary line of both command lines

# why a number is missing, where several tables share the reason
AREA_UNKNOWN = "area unknown: the config gives none (roofline.area_mm2)"

QUIET_HELP = "no progress bars and no informational notes (results still print)"


def quiet_help(extra: str = "") -> str:
    """The ``--quiet`` help of every command, with ``extra`` (a command's own addition) after it."""
    return QUIET_HELP + (f"; {extra}" if extra else "")


def is_missing(value) -> bool:
    """None or NaN (a float or a numpy scalar)."""
    if value is None:
        return True
    try:
        return math.isnan(value)
    except TypeError:
        return False


_WIDTH = re.compile(r"(?P<align>[<>^])?[+\- ]?#?0?(?P<width>\d*)")   # the head of a format spec


class Blanks:
    """The missing values of one table or summary: :meth:`cell` formats a number, or gives ``–`` and
    keeps the reason; :meth:`notes` are the reasons, each once, for below the table."""

    def __init__(self):
        self.reasons: list[str] = []

    def cell(self, value, spec: str = "", reason: str = "no value") -> str:
        """``format(value, spec)``, or ``–`` right-aligned to the width ``spec`` starts with (if any)."""
        if not is_missing(value):
            return format(value, spec)
        if reason not in self.reasons:
            self.reasons.append(reason)
        m = _WIDTH.match(spec)
        return f"{MISSING:{m['align'] or '>'}{m['width']}}" if m["width"] else MISSING

    def notes(self) -> list[str]:
        """One line per reason: ``–: <reason>``."""
        return [f"{MISSING}: {reason}" for reason in self.reasons]


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):   # a replaced or closed stream
        return False


def show_progress(quiet: bool) -> bool:
    """Whether a command shows progress bars: on a terminal (stderr is one) and not under --quiet."""
    return not quiet and stderr_is_tty()


PROGRESS_DELAY_S = 1.0   # a bar appears once its work has taken this long


def progress(iterable, quiet: bool, *, desc: str, unit: str):
    """``iterable`` under a tqdm bar on stderr that appears after PROGRESS_DELAY_S and is cleared at the
    end (stdout is left as it would be without it); the iterable itself when no bar is shown."""
    if not show_progress(quiet):
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, unit=unit, delay=PROGRESS_DELAY_S, leave=False, file=sys.stderr)


class Steps:
    """A bar over a command's few long steps, each named as it starts (``start``). Shown at once, not
    after a delay (tqdm redraws only when a step ends), on a terminal and not under --quiet."""

    def __init__(self, quiet: bool, desc: str, total: int):
        self.bar, self.started = None, False
        if show_progress(quiet):
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr,
                            bar_format="{desc}: step {n_fmt}/{total_fmt}{postfix} [{elapsed}]")

    def start(self, name: str) -> None:
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.started = True
            self.bar.set_postfix_str(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def deprecate(args: argparse.Namespace, note: str) -> None:
    """Keep ``note`` (one line) for stderr, printed once after the command has run."""
    notes = args.__dict__.setdefault("deprecations", [])
    if note not in notes:
        notes.append(note)


class RenamedOption(argparse.Action):
    """An option's old name, still accepted: it sets the new option's value and leaves a
    deprecation note naming the new one (``new``). Declared after the new option, with the same
    ``dest`` and no default, and left out of ``--help``."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        kwargs.setdefault("default", argparse.SUPPRESS)
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        deprecate(namespace, f"{option_string} is deprecated and will be removed; use {self.new} (same meaning)")
