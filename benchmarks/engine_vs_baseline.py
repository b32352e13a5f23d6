"""The engine against an earlier version of itself: batch throughput and one-call time, measured in
separate processes (one per version and round, interleaved), one Numba thread, CPU time.

    git archive 20c1b49 | (mkdir -p /tmp/baseline && tar -x -C /tmp/baseline)
    python benchmarks/engine_vs_baseline.py --baseline /tmp/baseline [--rounds 6] [--policy resident]

Timed in CPU time (``time.process_time`` inside each child process, imports and warm-up excluded),
both versions on one Numba, OpenMP and BLAS thread; the processes of the two versions alternate,
round by round, so that a change in the machine's load falls on both alike.

Both versions simulate MobileNetV2 on the same 1,000 random hardware configs (as in
engine_speed.py) in one ``simulate_many`` call, five times per process, and one ``simulate`` call on
``neural_engine`` thirty times; each process reports the best batch and the median call. The table
gives min and median over the rounds. Target: this checkout's batch no more than 1.5x as long as
the baseline's (medians). A baseline older than ``memory.activation_policy`` runs its only model
(every tensor through DRAM); this checkout runs ``--policy``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _timing import MIN_REPEATS, THREAD_VARIABLES, header

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5   # this checkout's batch time against the baseline's

CHILD = r"""
import os, sys, time
import numpy as np
import accelsim
from accelsim.workload.zoo import mobilenet_v2
policy = sys.argv[1]
base = accelsim.load_hardware("neural_engine")
if hasattr(base, "activation_policy"):
    base = base.replace(activation_policy=policy)
rng = np.random.default_rng(0)
hws = []
for _ in range(1000):
    kb = float(rng.choice([64, 128, 256, 512, 1024]))
    hws.append(base.replace(array__rows=int(rng.choice([8, 16, 32, 64])), array__cols=int(rng.choice([8, 16, 32, 64])),
                            array__dataflow=str(rng.choice(["os", "ws", "is"])), sram__ifmap_kb=kb,
                            sram__filter_kb=kb, sram__ofmap_kb=kb / 2,
                            dram__bandwidth_gb_per_s=float(rng.uniform(4, 64))))
net = mobilenet_v2()
accelsim.simulate_many(net, hws[:70])
accelsim.simulate(net, base)
batch = []
for _ in range(5):
    t = time.process_time()
    accelsim.simulate_many(net, hws)
    batch.append(time.process_time() - t)
one = []
for _ in range(30):
    t = time.process_time()
    accelsim.simulate(net, base)
    one.append(time.process_time() - t)
print(1000 / min(batch), statistics.median(one) * 1e3)
"""


def run(tree: Path, policy: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), **{name: "1" for name in THREAD_VARIABLES}}
    res = subprocess.run([sys.executable, "-c", "import statistics\n" + CHILD, policy], env=env,
                         capture_output=True, text=True, cwd=tree)
    if res.returncode != 0:
        raise SystemExit(f"{tree}: {res.stderr.strip().splitlines()[-1] if res.stderr else res.returncode}")
    rate, ms = map(float, res.stdout.split())
    return rate, ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a source tree of the earlier version")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds (6)")
    ap.add_argument("--policy", default="resident", help="this checkout's activation policy (resident)")
    args = ap.parse_args(argv)
    if not (args.baseline / "accelsim" / "__init__.py").is_file():
        print(f"--baseline: {args.baseline} holds no accelsim package", file=sys.stderr)
        return 2
    if args.rounds < MIN_REPEATS:
        print(f"--rounds: expected >= {MIN_REPEATS}, got {args.rounds}", file=sys.stderr)
        return 2
    results = {"baseline": [], "this checkout": []}
    for _ in range(args.rounds):
        results["baseline"].append(run(args.baseline.resolve(), args.policy))
        results["this checkout"].append(run(ROOT, args.policy))
    print(header("CPU time inside each child process (process_time), the two versions' processes alternating; "
                 "per process: best of 5 batches, median of 30 calls", args.rounds, "Numba 1 per child (pinned)"))
    print(f"{'version':<16}{'batch evals/CPU-s best / median':>34}{'one call CPU ms min / median':>30}")
    rows = {}
    for name, rs in results.items():
        rates, ms = [r[0] for r in rs], [r[1] for r in rs]
        rows[name] = (max(rates), statistics.median(rates), min(ms), statistics.median(ms))
        print(f"{name:<16}{rows[name][0]:>20,.0f} / {rows[name][1]:>9,.0f}{rows[name][2]:>20.3f} / {rows[name][3]:.3f}")
    b, c = rows["baseline"], rows["this checkout"]
    print(f"\nthis checkout takes {b[0] / c[0]:.2f}x / {b[1] / c[1]:.2f}x as long per batch and "
          f"{c[2] / b[2]:.2f}x / {c[3] / b[3]:.2f}x per call (best / median)")
    ratio = b[1] / c[1]
    print(f"batch time against the baseline <= {TARGET_RATIO}x (medians): "
          + ("target met" if ratio <= TARGET_RATIO else f"gap {ratio - TARGET_RATIO:.2f}x"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
