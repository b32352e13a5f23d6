"""Start-up cost of the two commands: CPU time of a whole process, from exec to exit.

    python benchmarks/startup.py [--runs 7] [--threads 1]

Each command runs ``--runs`` times as a child process, one at a time; its CPU time is the user + system
time the child used (``resource.getrusage(RUSAGE_CHILDREN)`` before and after, so the load of other
processes on the machine does not count, as it would in wall time). The table gives the min / median
over the runs. Each child gets ``--threads`` (1) as its Numba, OpenMP and BLAS thread count through
the environment, so that no row depends on the machine's core count. The child runs what the
installed console script runs (``from accelsim.cli import main; sys.exit(main())``), from this
checkout.

Before timing, ``accelsim warmup`` runs once, so the simulate row is a warm Numba cache (the kernels
load from the cache, nothing compiles). Targets: ``accelsim --help`` <= 0.15 s CPU, and the whole
``accelsim simulate`` process <= 0.35 s CPU with a warm cache; the last column says, from the median,
whether a target is met or by how much it is missed. The interpreter's own start-up is the first row:
on a busy machine every row grows with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _timing import child_run, header, pin_threads

ROOT = Path(__file__).resolve().parent.parent

# (label, program, arguments, target CPU seconds or None)
COMMANDS = (
    ("python -c pass (the interpreter alone)", None, [], None),
    ("accelsim --help", "accelsim", ["--help"], 0.15),
    ("accelsim list", "accelsim", ["list"], None),
    ("accelsim simulate --hw neural_engine --model mobilenet_v2 --quiet --no-table (warm cache)", "accelsim",
     ["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2", "--quiet", "--no-table"], 0.35),
    ("codesign --help", "codesign", ["--help"], None),
)


def argv_of(program, args: list) -> list:
    """The child's command line: the console script's body, run by this interpreter from this checkout."""
    if program is None:
        return [sys.executable, "-c", "pass"]
    return [sys.executable, "-c", f"import sys; from {program}.cli import main; sys.exit(main())", *args]


def cpu_seconds(argv: list) -> float:
    """User + system CPU seconds of one run of ``argv`` (which must succeed)."""
    cpu, _, _ = child_run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return cpu


def verdict(value: float, target) -> str:
    if target is None:
        return ""
    return "met" if value <= target else f"missed by {value - target:.3f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per command, >= 5 (7)")
    ap.add_argument("--threads", type=int, default=1, help="Numba, OpenMP and BLAS threads of each child (1)")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error(f"--runs: expected at least 5, got {args.runs}")
    pin_threads(args.threads)   # the children inherit it
    subprocess.run(argv_of("accelsim", ["warmup"]), cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(header("CPU seconds (user + sys, RUSAGE_CHILDREN) of the whole child process, one at a time",
                 args.runs, f"{args.threads} per child (NUMBA_NUM_THREADS, OMP_NUM_THREADS)") + "\n")
    print("| command | min s | median s | target | |")
    print("|---|---:|---:|---:|---|")
    for label, program, cmd_args, target in COMMANDS:
        times = [cpu_seconds(argv_of(program, cmd_args)) for _ in range(args.runs)]
        best, median = min(times), statistics.median(times)
        print(f"| `{label}` | {best:.3f} | {median:.3f} | {'≤ %.2f s' % target if target else ''} | "
              f"{verdict(median, target)} |", flush=True)


if __name__ == "__main__":
    main()
