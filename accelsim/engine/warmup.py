"""Compiling the engine's Numba kernels ahead of time, and telling a cold kernel cache from a warm one.

Every kernel is ``@njit(cache=True)``: numba saves its machine code in a cache folder (``__pycache__``
beside ``kernels.py``; numba's own folder under the user's cache when that is not writable; or
``NUMBA_CACHE_DIR``) and later processes load it in a fraction of a second. The first run after an
install, or after ``kernels.py`` or ``folds.py`` changed, compiles instead, for tens of seconds.
:func:`warmup` (``accelsim warmup``) pays that once, through the public entry points, so that every
signature the engine dispatches is compiled: one network on one config, a batch across threads, and
the feasibility pass.

Cold or warm is read from numba's index files without compiling or loading anything
(:func:`cold_share`). Each kernel's ``.nbi`` index starts with the numba version that wrote it and the
source file's modification time and size; numba treats an index with another version or stamp as
empty, and so does this module. A kernel the install never called (a driver that only large batches
use, say) has no index yet, so the cache counts as cold only when most kernels lack a current index,
as all of them do after an install or a source change. A cache that is warm for one entry point but
not for another (simulate run, simulate_many not yet) counts as warm: the compile still to do is the
smaller one.
"""

from __future__ import annotations

import sys
import time

from . import kernels, nb201_rows, rows

# What a cold first call costs: the whole engine compiled once (the `simulate` group below),
# measured on the 2-core development machine; a faster machine takes less.
COLD_COMPILE_SECONDS = 60   # `accelsim warmup` from an empty cache: 64 s CPU on the loaded 2-core machine
COLD_SHARE = 0.5   # the cache is cold when more than this share of the kernels lacks a current index


def _dispatchers() -> list:
    """The engine's Numba dispatchers (none when the kernels run interpreted: ACCELSIM_JIT=0, a small
    command's choice, or NUMBA_DISABLE_JIT=1)."""
    from .._jit import interpreted
    if interpreted():
        return []
    from numba.core.dispatcher import Dispatcher
    found = {id(v): v for module in (kernels, rows, nb201_rows) for v in vars(module).values() if isinstance(v, Dispatcher)}
    return list(found.values())


def _has_current_index(dispatcher) -> bool:
    """Whether numba's index file for ``dispatcher`` exists, matches this numba and the source file's
    stamp, and lists at least one compiled signature (numba's own reading of it, so no rule is
    restated here)."""
    return bool(dispatcher._cache._cache_file._load_index())


def cold_share() -> float:
    """Share of the engine's kernels whose cache index is missing or stale; 0 when the kernels are not
    compiled at all (NUMBA_DISABLE_JIT=1), or when numba's cache internals cannot be read (another
    numba version): then nothing is claimed."""
    try:
        disps = _dispatchers()
        if not disps:
            return 0.0
        return sum(not _has_current_index(d) for d in disps) / len(disps)
    except Exception:   # numba moved its private cache attributes: say nothing rather than guess
        return 0.0


def cold_note(prog: str = "accelsim") -> "str | None":
    """The one line a command prints on stderr before a cold first call, or None when the cache is warm."""
    if cold_share() <= COLD_SHARE:
        return None
    return (f"{prog}: compiling the simulator kernels once (about {COLD_COMPILE_SECONDS} s); later runs load "
            f"them from the cache")


def say_if_cold(prog: str = "accelsim", stream=None) -> bool:
    """Before a command's first engine call: print :func:`cold_note` on ``stream`` (stderr) when the
    cache is cold and the stream is a terminal, so that a long first run says why. Like a progress bar
    it is left out of a redirected stream: a script reading stderr still gets one line per error.
    Returns whether it printed."""
    stream = sys.stderr if stream is None else stream
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):   # a replaced or closed stream
        return False
    note = cold_note(prog)
    if note:
        print(note, file=stream, flush=True)
    return note is not None


def cache_folder() -> "str | None":
    """Where numba keeps the engine's compiled kernels (None without JIT)."""
    disps = _dispatchers()
    try:
        return str(disps[0]._cache.cache_path) if disps else None
    except AttributeError:
        return None


def _groups() -> list:
    """``(label, function)`` per group of kernel signatures, in the order a command first needs them."""
    from ..config import load_hardware
    from ..workload.zoo import load_model
    from .simulate import failing_share, simulate, simulate_many

    net = load_model("mobilenet_v2")
    hw = load_hardware("neural_engine")
    return [
        ("simulate (one network on one config)", lambda: simulate(net, hw)),
        ("simulate_many (a batch across threads)",
         lambda: simulate_many(net, [hw] * kernels.PARALLEL_MIN_PAIRS)),
        ("failing_share (feasibility without simulating)", lambda: failing_share(net, [hw])),
        ("networks as rows (the search fast path)", _rows_network),
    ]


def _rows_network() -> None:
    """Build a small network as rows (a stem, a cached-stage run of two IBN blocks with squeeze-excite),
    plan its memory, and build a batch of one classifier and one of one NAS-Bench-201 network: every
    compiled loop of :mod:`accelsim.engine.rows` and :mod:`accelsim.engine.nb201_rows`."""
    from ..workload.packed import RowBuilder
    b = RowBuilder("warmup", (32, 32, 3))
    x = b.conv(b.input, 16, 3, 2)
    b.append_rows(x, *rows.stage_rows(True, 3, 16, 1, 2, 1, 16, 16, 16, 96, 96, 4, 4, 1))
    b.build().memory_bytes()
    # a batch of whole classifiers (a search's never-seen genomes): stem 16, one stage as above, head, classes
    import numpy as np
    from ..workload.ir import MAX_DIM, MAX_ELEMENTS
    rows.classifier_rows(np.array([[32, 16, 1, 64, 0, 10, 0, 1]], dtype=np.int64),
                         np.array([[1, 3, 16, 1, 2, 16, 96, 4, 4, 1]], dtype=np.int64), MAX_DIM, MAX_ELEMENTS)
    # and a batch of NAS-Bench-201 networks (one cell of every op, one cell per stage)
    nb201_rows.nb201_rows(np.array([[0, 1, 2, 3, 4, 3]], dtype=np.int64), 4, 1, 10, 8, 1, MAX_DIM, MAX_ELEMENTS)


def warmup(progress=None) -> float:
    """Compile, or load from the cache, every kernel signature the engine uses; returns the seconds.
    ``progress(label, seconds)`` is called as each group starts (seconds None) and ends. Without JIT
    (NUMBA_DISABLE_JIT=1) there is nothing to compile, and nothing runs: 0 seconds."""
    if not _dispatchers():
        return 0.0
    start = time.perf_counter()
    for label, run in _groups():
        if progress:
            progress(label, None)
        t = time.perf_counter()
        run()
        if progress:
            progress(label, time.perf_counter() - t)
    return time.perf_counter() - start
