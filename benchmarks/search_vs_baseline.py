"""Search throughput against an earlier version of the code: cold batches of never-seen designs per
problem, measured in separate processes (one per version, problem and round, interleaved), one Numba
thread, CPU time.

    git archive 8c988c1 | (mkdir -p /tmp/baseline && tar -x -C /tmp/baseline)
    python benchmarks/search_vs_baseline.py --baseline /tmp/baseline [--rounds 3] [--batch 256] [--batches 3]
                                            [--problems network hardware joint nb201]

The machine's speed drifts (by half, from one hour to the next, on the shared 2-core development
machine), so a rate measured now and one written down earlier do not compare; here the two
versions' processes alternate, round by round, so a change in load falls on both alike. Each child
builds the problem as ``search_speed.py`` does (neural_engine, latency and energy, the engine
scoring), evaluates a warm-up batch of 8 and one of ``--batch`` (kernels compiled or loaded, not
timed), then ``--batches`` batches of fresh random genomes with the caches of built stages and
validated hardware emptied before each, and reports evaluations per CPU second
(``time.process_time`` of the child) of its best and median batch. The table gives, per problem
and version, the best and the median over the rounds of the children's medians, the ratio of the
medians, and the median (and range) of the ratios within a round, whose two children ran minutes
apart at most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _timing import MIN_REPEATS, THREAD_VARIABLES, header

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ("network", "hardware", "joint", "nb201")

CHILD = r"""
import json, statistics, sys, time
import numpy as np
from accelsim.config import load_hardware
from accelsim.workload import load_model
from codesign.search import problems as P
from codesign.search.algorithms import random_genome
from codesign.spaces import space as S
from codesign.spaces.space import HardwareSpace, NetworkSpace
name, batch, batches, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ne = load_hardware("neural_engine")
metrics = ("latency_ms", "energy_mj")
if name == "network":
    prob = P.SearchProblem(P.MobileAxis(NetworkSpace()), P.FixedHardware(ne), metrics)
elif name == "hardware":
    prob = P.SearchProblem(P.FixedNetwork(load_model("mobilenet_v2")), P.HardwareAxis(HardwareSpace(), ne), metrics)
elif name == "joint":
    prob = P.SearchProblem(P.MobileAxis(NetworkSpace()), P.HardwareAxis(HardwareSpace(), ne), metrics)
else:
    prob = P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), metrics)
warm = np.random.default_rng(99)
for n in (8, batch):
    prob.evaluate([random_genome(prob.choices, warm) for _ in range(n)])
rng = np.random.default_rng(seed)
rates = []
for _ in range(batches):
    gs = [random_genome(prob.choices, rng) for _ in range(batch)]
    S.clear_caches()
    t = time.process_time()
    prob.evaluate(gs)
    rates.append(batch / (time.process_time() - t))
print(json.dumps([max(rates), statistics.median(rates)]))
"""


def run(tree: Path, problem: str, batch: int, batches: int, seed: int) -> float:
    """The median batch rate of one child process on ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree), **{name: "1" for name in THREAD_VARIABLES}}
    res = subprocess.run([sys.executable, "-c", CHILD, problem, str(batch), str(batches), str(seed)], env=env,
                         capture_output=True, text=True, cwd=tree)
    if res.returncode != 0:
        last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit status {res.returncode}"
        raise SystemExit(f"{tree} ({problem}): {last}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a source tree of the earlier version")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds, >= 3 (3)")
    ap.add_argument("--batch", type=int, default=256, help="genomes per batch (256)")
    ap.add_argument("--batches", type=int, default=3, help="timed batches per child process (3)")
    ap.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS), help="problems to time")
    args = ap.parse_args(argv)
    if not (args.baseline / "codesign" / "search" / "problems.py").is_file():
        ap.error(f"--baseline: {args.baseline} holds no codesign package")
    if args.rounds < MIN_REPEATS:
        ap.error(f"--rounds: expected at least {MIN_REPEATS}, got {args.rounds}")
    if args.batch < 1 or args.batches < 1:
        ap.error("--batch and --batches: expected positive numbers")
    trees = {"baseline": args.baseline.resolve(), "this checkout": ROOT}
    rates = {(p, v): [] for p in args.problems for v in trees}
    for r in range(args.rounds):
        for problem in args.problems:
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]   # neither version always goes first
            for version in order:
                rates[(problem, version)].append(run(trees[version], problem, args.batch, args.batches, seed=r))
    print(header(f"CPU time inside each child process (process_time), evaluations per CPU second of cold batches "
                 f"of {args.batch}; per child the median of {args.batches} batches; the versions' children "
                 "alternating", args.rounds, "Numba 1 per child (pinned)") + "\n")
    print("| problem | baseline, best / median | this checkout, best / median | this checkout over baseline (medians) "
          "| round by round: median (min–max) |")
    print("|---|---:|---:|---:|---:|")
    for problem in args.problems:
        b, c = rates[(problem, "baseline")], rates[(problem, "this checkout")]
        paired = [y / x for x, y in zip(b, c)]   # the two children of a round ran one after the other
        print(f"| {problem} | {max(b):,.0f} / {statistics.median(b):,.0f} | {max(c):,.0f} / {statistics.median(c):,.0f} "
              f"| {statistics.median(c) / statistics.median(b):.2f}x | {statistics.median(paired):.2f}x "
              f"({min(paired):.2f}–{max(paired):.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
