"""Candidate evaluations per second in codesign searches, by problem and scorer.

    python benchmarks/search_speed.py [--batch 256] [--batches 4] [--model est.pt] [--proxy-nets 6]

Prints a Markdown table. "cold" batches hold networks and configs never built before (every genome
is fresh: network construction + simulation); "search loop" is a whole aging-evolution run
(ask, build, score, tell, journal), where mutation re-uses many built networks. Zero-shot proxy
scoring runs a torch model per network and is reported on its own rows. The target is >= 1,000
evaluations per second with the engine or the estimator as scorer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--model", help="estimator checkpoint (default: train a small one first)")
    p.add_argument("--proxy-nets", type=int, default=6, help="networks scored by each zero-shot proxy")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    from accelsim.config import load_hardware
    from accelsim.workload import load_model
    from codesign.search import problems as P
    from codesign.search.algorithms import random_genome, run_search
    from codesign.spaces.space import HardwareSpace, NetworkSpace

    ne = load_hardware("neural_engine")
    mobile = P.MobileAxis(NetworkSpace())
    hw_axis = P.HardwareAxis(HardwareSpace(), ne)
    problems = {
        "network search (IBN/fused-IBN) on neural_engine": P.SearchProblem(mobile, P.FixedHardware(ne), ("latency_ms", "energy_mj")),
        "hardware search for MobileNetV2": P.SearchProblem(P.FixedNetwork(load_model("mobilenet_v2")), hw_axis,
                                                           ("latency_ms", "energy_mj")),
        "joint network x hardware": P.SearchProblem(mobile, hw_axis, ("latency_ms", "energy_mj")),
        "NAS-Bench-201 cells on neural_engine": P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), ("latency_ms", "energy_mj")),
    }
    def cold_rate(prob) -> float:
        """Evaluations per second on batches of fresh random genomes (after a warm-up batch)."""
        warm = np.random.default_rng(99)
        prob.evaluate([random_genome(prob.choices, warm) for _ in range(8)])   # compile + warm caches
        rng = np.random.default_rng(0)
        total, n = 0.0, 0
        for _ in range(args.batches):
            gs = [random_genome(prob.choices, rng) for _ in range(args.batch)]
            t0 = time.perf_counter()
            prob.evaluate(gs)
            total += time.perf_counter() - t0
            n += len(gs)
        return n / total

    rows = []
    for name, prob in problems.items():
        rows.append((name, "engine", "cold batches", cold_rate(prob)))
    for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
        prob = problems[name]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_search(prob, "evolution", 2048, 0, journal_path=Path(tmp) / "j.jsonl", batch_size=64)
            rows.append((name, "engine", "search loop (evolution, journaled)", 2048 / (time.perf_counter() - t0)))

    # estimator scorer
    import torch
    torch.set_num_threads(args.threads)
    from codesign.estimator.model import Estimator
    if args.model:
        est = Estimator.load(args.model)
    else:
        from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
        from codesign.estimator.model import TrainConfig, train_estimator
        tmp = Path(tempfile.mkdtemp(prefix="codesign-bench-"))
        generate(DatasetRequest(operators=2000, blocks=500, networks=30, hardware=8, format="npz"), tmp / "small",
                 progress=False)
        est = train_estimator(load_dataset(tmp / "small"), TrainConfig(epochs=1, threads=args.threads), progress=False)
    for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
        base = problems[name]
        prob = P.SearchProblem(base.net_axis, base.hw_axis, base.metrics, estimator=est,
                               estimator_prefer="estimator")   # the estimator itself, not the engine
        rows.append((name, "estimator", "cold batches", cold_rate(prob)))

    # zero-shot proxies: a torch forward/backward per network
    for source, opts in (("synflow", {"batch": 2, "resolution": 64}), ("naswot", {"batch": 16, "resolution": 64}),
                         ("grad_norm", {"batch": 16, "resolution": 64})):
        for axis_name, axis in (("NAS-Bench-201 cells", P.NB201Axis()), ("IBN/fused-IBN networks", mobile)):
            acc = P.AccuracySource(source, **opts)
            rng = np.random.default_rng(1)
            gs = [random_genome(axis.choices, rng) for _ in range(args.proxy_nets)]
            nets = [axis.build(g) for g in gs]
            acc.scores(axis, gs[:1], nets[:1])
            acc.cache.clear()
            t0 = time.perf_counter()
            acc.scores(axis, gs, nets)
            rows.append((axis_name, f"proxy {source} ({opts['resolution']}px, batch {opts['batch']})", "per network",
                         len(gs) / (time.perf_counter() - t0)))

    print("| problem | scorer | measured | evaluations / s |")
    print("|---|---|---|---|")
    for name, scorer, what, rate in rows:
        print(f"| {name} | {scorer} | {what} | {rate:,.0f} |" if rate >= 10 else f"| {name} | {scorer} | {what} | {rate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
