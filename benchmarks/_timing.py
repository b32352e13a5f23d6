"""Timing shared by the benchmarks: CPU time, min / median of repeats, pinned thread counts.

The benchmarks run on shared machines, so their primary measure is CPU time: of this process
(``time.process_time``, every thread's user + system time) or of finished child processes
(``resource.getrusage(RUSAGE_CHILDREN)``). Other jobs' load does not count in it as it does in wall
time. Every measurement here also records the wall time of the same calls; a benchmark may print it
beside the CPU time, labelled as wall time, but never compares one against the other.

Numba, torch and the OpenMP/BLAS pools are pinned to a stated number of threads (``pin_threads``,
called before numba or torch is imported, so that their pools are sized by it), and each table's
header line says what was timed, over how many repeats, on how many threads (``header``).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MIN_REPEATS = 3


def pin_threads(n: int) -> dict:
    """Run Numba, torch and OpenMP/BLAS on ``n`` threads (also in child processes, through the
    environment). Returns ``env`` for a child process. Call it before numba or torch is imported:
    their pools are sized from the environment when they start; an already imported one is set
    at run time."""
    if n < 1:
        raise ValueError(f"threads: expected >= 1, got {n}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    if "numba" in sys.modules:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        import torch
        torch.set_num_threads(n)
    return dict(os.environ)


def threads_in_use() -> str:
    """The thread counts of the pools loaded so far, e.g. ``Numba 1, torch 1``."""
    parts = []
    if "numba" in sys.modules:
        import numba
        parts.append(f"Numba {numba.get_num_threads()}")
    if "torch" in sys.modules:
        import torch
        parts.append(f"torch {torch.get_num_threads()}")
    return ", ".join(parts) if parts else f"{os.environ.get('NUMBA_NUM_THREADS', '?')} (no Numba or torch loaded)"


def header(what: str, repeats: int, threads: str | None = None) -> str:
    """The line above a table: what was timed, the repeats, the threads and the cores."""
    return (f"timed: {what}; min / median of {repeats} repeats; threads: {threads or threads_in_use()}; "
            f"cores: {os.cpu_count()}")


def require_repeats(parser, option: str, value: int) -> None:
    """Refuse fewer than three repeats: a min and a median of fewer say little."""
    if value < MIN_REPEATS:
        parser.error(f"{option}: expected at least {MIN_REPEATS}, got {value}")


@dataclass
class Times:
    """Seconds per repeat (per call when ``calls`` > 1), CPU and wall of the same calls."""
    cpu: list = field(default_factory=list)
    wall: list = field(default_factory=list)

    def add(self, cpu: float, wall: float) -> None:
        self.cpu.append(cpu)
        self.wall.append(wall)

    @property
    def cpu_min(self) -> float:
        return min(self.cpu)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_min(self) -> float:
        return min(self.wall)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    def per(self, n: int) -> "Times":
        """Seconds per one of the ``n`` calls each repeat made."""
        return Times([c / n for c in self.cpu], [w / n for w in self.wall])

    def rate(self, items: float) -> tuple:
        """Items per CPU second: best (from the fastest repeat) and median."""
        return items / self.cpu_min, items / self.cpu_median

    def wall_rate(self, items: float) -> tuple:
        return items / self.wall_min, items / self.wall_median


def once(fn) -> tuple:
    """(CPU seconds, wall seconds, result) of one call of ``fn``."""
    c, w = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - c, time.perf_counter() - w, result


def measure(fn, repeats: int, calls: int = 1) -> Times:
    """``repeats`` timings of ``calls`` calls of ``fn`` each, in seconds per call."""
    out = Times()
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        out.add((time.process_time() - c) / calls, (time.perf_counter() - w) / calls)
    return out


def interleaved(fns: dict, repeats: int, calls: int = 1) -> dict:
    """Like ``measure`` for each of ``fns`` (name -> function), the functions taking turns round by
    round, so that a change in the machine's load falls on all of them alike."""
    out = {name: Times() for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = measure(fn, 1, calls)
            out[name].add(t.cpu[0], t.wall[0])
    return out


def child_run(argv: list, **kwargs) -> tuple:
    """(CPU seconds, wall seconds, CompletedProcess) of one child process run to its end: user +
    system time of the child and everything it waited for, from ``RUSAGE_CHILDREN``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    res = subprocess.run(argv, **kwargs)
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, res


def min_median(values, fmt: str = ".3f", best=min) -> str:
    """``min / median`` of ``values`` (``best=max`` for rates, where higher is better)."""
    return f"{format(best(values), fmt)} / {format(statistics.median(values), fmt)}"
