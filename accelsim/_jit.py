"""Compiled or interpreted kernels: which one this process runs (read before the engine is imported).

The engine's kernels are plain Python functions that Numba compiles (``accelsim.engine._numba``). A
process pays for that once: importing numba and loading the compiled kernels from the cache costs
about 0.5 s of CPU, and compiling them on a cold cache (after an install or an upgrade) about a
minute. Run as plain Python the same functions take 0.04-0.9 ms per layer (``benchmarks/startup.py``
measures both), so a command that simulates a few hundred layers and exits -- ``accelsim simulate``
or ``compare`` on one model -- is done sooner without numba at all. The results are the same to the
last bit either way (``tests/test_interpreted.py`` compares them on five zoo models built
without torch on every shipped config; CI runs the engine tests with ACCELSIM_JIT=0 too).

``ACCELSIM_JIT`` chooses, for the whole process:

- ``auto`` (or unset): compiled, except that a command run as a program (``accelsim simulate``,
  ``accelsim compare``) calls :func:`interpret_if_small` before its first engine call and runs
  interpreted when the work is small (``SMALL_WORK`` layer simulations) and numba is not loaded yet;
- ``1``: always compiled (a long-lived process that will simulate much later);
- ``0``: always interpreted (no numba import at all; slow for batches and searches).

The choice is fixed when ``accelsim.engine`` is first imported; later calls do not change it.
"""

from __future__ import annotations

import os
import sys

from .errors import AccelsimError

SMALL_WORK = 300   # layer simulations below which interpreting beats loading numba (~0.5 s of CPU):
# the slowest layer of the IR-built zoo models on the shipped configs took 0.87 ms interpreted
# (benchmarks/startup.py), so 300 cost less than loading numba

_MODES = ("auto", "0", "1")
_interpret = None   # decided: True / False; None until the engine's first import or a decision
_may_interpret = False   # set by a command line run as a program (never by library calls or tests)


def mode() -> str:
    """``ACCELSIM_JIT`` as given (``auto`` when unset); an unknown value is an AccelsimError naming it."""
    value = os.environ.get("ACCELSIM_JIT", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise AccelsimError(f"ACCELSIM_JIT={value!r}: expected auto, 1 (always compile) or 0 (never compile)")
    return value


def interpreted() -> bool:
    """Whether this process runs the kernels as plain Python (fixed by the engine's first import)."""
    global _interpret
    if _interpret is None:
        _interpret = mode() == "0"
    return _interpret


def engine_loaded() -> bool:
    return "accelsim.engine._numba" in sys.modules


def allow_small_commands() -> None:
    """Called by a command line run as a program (``accelsim ...``): its small commands may then
    choose interpreted kernels. A library user's process never switches by itself."""
    global _may_interpret
    _may_interpret = True


def interpret_if_small(work: int) -> bool:
    """Before the engine is imported: run it interpreted in this process when ``work`` (layers times
    configs to simulate) is at most ``SMALL_WORK``, ``ACCELSIM_JIT`` is ``auto``, numba is not loaded
    and the process is a command line (:func:`allow_small_commands`). Returns whether the kernels run
    interpreted. An unknown ``ACCELSIM_JIT`` is an AccelsimError here, before any work."""
    global _interpret
    if mode() == "auto" and _may_interpret and _interpret is None and not engine_loaded():
        _interpret = work <= SMALL_WORK and "numba" not in sys.modules
    return interpreted()
