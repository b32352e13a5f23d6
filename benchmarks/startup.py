"""Start-up cost of the two commands: CPU time of a whole process, from exec to exit.

    python benchmarks/startup.py [--runs 7] [--threads 1]

Each command runs ``--runs`` times as a child process, one at a time; its CPU time is the user + system
time the child used (``resource.getrusage(RUSAGE_CHILDREN)`` before and after, so the load of other
processes on the machine does not count, as it would in wall time). The table gives the min / median
over the runs. Each child gets ``--threads`` (1) as its Numba, OpenMP and BLAS thread count through
the environment, so that no row depends on the machine's core count. The child runs what the
installed console script runs (``from accelsim.cli import main; sys.exit(main())``), from this
checkout.

Before timing, ``accelsim warmup`` runs once, so the compiled simulate row is a warm Numba cache (the
kernels load from the cache, nothing compiles), and every module's bytecode is written (as an installed
package's is after its first run; ``PYTHONDONTWRITEBYTECODE`` is dropped for the children). The plain
simulate row runs as a user's command does (``ACCELSIM_JIT=auto``: one small network runs the kernels
interpreted, without loading numba; see ``accelsim._jit``); the ``ACCELSIM_JIT=1`` row loads the
compiled kernels instead. A last table times the interpreted kernels per layer. Targets: ``accelsim --help`` <= 0.15 s CPU, and the whole
``accelsim simulate`` process <= 0.35 s CPU with a warm cache; the last column says, from the median,
whether a target is met or by how much it is missed. The interpreter's own start-up is the first row:
on a busy machine every row grows with it.
"""

from __future__ import annotations

import argparse
import json
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
    ("accelsim simulate --hw neural_engine --model mobilenet_v2 --quiet --no-table", "accelsim",
     ["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2", "--quiet", "--no-table"], 0.35),
    ("ACCELSIM_JIT=1 accelsim simulate ... (the same, compiled kernels from a warm cache)", "accelsim",
     ["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2", "--quiet", "--no-table"], None),
    ("codesign --help", "codesign", ["--help"], None),
)


def argv_of(program, args: list) -> list:
    """The child's command line: the console script's body, run by this interpreter from this checkout."""
    if program is None:
        return [sys.executable, "-c", "pass"]
    return [sys.executable, "-c", f"import sys; from {program}.cli import main; sys.exit(main())", *args]


def child_env(label: str = "") -> dict:
    """The children's environment: this checkout first on the path, bytecode written as a user's
    would be, and ``ACCELSIM_JIT`` as the label says (``auto`` otherwise)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACCELSIM_JIT": "auto"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if label.startswith("ACCELSIM_JIT="):
        env["ACCELSIM_JIT"] = label.split()[0].split("=", 1)[1]
    return env


def cpu_seconds(argv: list, env: dict) -> float:
    """User + system CPU seconds of one run of ``argv`` (which must succeed)."""
    cpu, _, _ = child_run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    return cpu


# One child times every zoo model built without torch on every shipped config, interpreted: the
# slowest layer is what accelsim._jit.SMALL_WORK (the most layer simulations a command interprets
# rather than load numba) rests on.
PER_LAYER = """
import json, sys, time
from accelsim.config import available_hardware, load_hardware
from accelsim.workload.zoo import load_model
from accelsim.engine import simulate
out = {}
for name in sys.argv[1:]:
    net = load_model(name)
    for hw in map(load_hardware, sorted(available_hardware())):
        simulate(net, hw)
        best = min(_timed(net, hw) for _ in range(3))
        out.setdefault(name, []).append(best / len(net.layers))
print(json.dumps(out))
"""
TIMED = """
def _timed(net, hw):
    t = time.process_time()
    simulate(net, hw)
    return time.process_time() - t
"""
IR_MODELS = ("mobilenet_v2", "deeplabv3_mobilenet_v2", "ibn_block", "fused_ibn_block", "nb201")


def per_layer_table(env: dict) -> None:
    """Interpreted CPU ms per layer of each IR-built zoo model, max and median over the shipped configs."""
    code = PER_LAYER.replace("out = {}", TIMED + "out = {}")
    run = subprocess.run([sys.executable, "-c", code, *IR_MODELS], cwd=ROOT, check=True, capture_output=True,
                         text=True, env={**env, "ACCELSIM_JIT": "0"})
    data = json.loads(run.stdout)
    print("\nInterpreted kernels (ACCELSIM_JIT=0), CPU ms per layer of one `simulate()`, min of 3, over every "
          "shipped config:\n")
    print("| model | layers | median ms/layer | max ms/layer |")
    print("|---|---:|---:|---:|")
    from accelsim.workload.zoo import load_model
    for name in IR_MODELS:
        v = data[name]
        print(f"| {name} | {len(load_model(name).layers)} | {statistics.median(v) * 1e3:.3f} | "
              f"{max(v) * 1e3:.3f} |")
    from accelsim._jit import SMALL_WORK
    worst = max(max(v) for v in data.values())
    print(f"\nA command interprets at most {SMALL_WORK} layer simulations (accelsim._jit.SMALL_WORK): at the "
          f"slowest layer above, {SMALL_WORK * worst:.2f} s of CPU, against the compiled row's load cost above.")


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
    env = child_env("ACCELSIM_JIT=1")
    subprocess.run(argv_of("accelsim", ["warmup"]), cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    # bytecode of every module, as an installed package has after its first run
    subprocess.run([sys.executable, "-m", "compileall", "-q", "accelsim", "codesign"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    print(header("CPU seconds (user + sys, RUSAGE_CHILDREN) of the whole child process, one at a time",
                 args.runs, f"{args.threads} per child (NUMBA_NUM_THREADS, OMP_NUM_THREADS)") + "\n")
    print("| command | min s | median s | target | |")
    print("|---|---:|---:|---:|---|")
    for label, program, cmd_args, target in COMMANDS:
        times = [cpu_seconds(argv_of(program, cmd_args), child_env(label)) for _ in range(args.runs)]
        best, median = min(times), statistics.median(times)
        print(f"| `{label}` | {best:.3f} | {median:.3f} | {'≤ %.2f s' % target if target else ''} | "
              f"{verdict(median, target)} |", flush=True)
    per_layer_table(child_env())


if __name__ == "__main__":
    main()
