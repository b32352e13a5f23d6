"""Candidate evaluations per CPU second in codesign searches, by problem and scorer.

    python benchmarks/search_speed.py [--batch 256] [--batches 4] [--loops 3] [--budget 2048]
                                      [--model est.pt] [--proxy-nets 6] [--proxy-repeats 3] [--threads 1]

Prints a Markdown table of evaluations per CPU second of this process (``time.process_time``: every
thread's time, so other jobs on the machine do not count), best and median over the repeats, with
the median wall-clock rate of the same runs beside it, labelled. Numba, torch and BLAS run on
``--threads`` threads (1 by default: CPU time then counts no thread waiting for another).

"cold" batches hold networks and configs never built before (every genome is fresh: network
construction + simulation), one repeat per batch; "search loop" is a whole aging-evolution run (ask,
build, score, tell, journal), where mutation re-uses many built stages, one repeat per seed. Each
repeat starts with the stage cache empty, as the first one in a process does. Zero-shot proxy
scoring runs a torch model per network and is reported on its own rows (one repeat per pass over
``--proxy-nets`` networks). The target is >= 1,000 evaluations per CPU second (median) with the
engine or the estimator as scorer; on one thread that is >= 1,000 per second of one core.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import Times, header, once, pin_threads, require_repeats  # noqa: E402

TARGET = 1000.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256, help="genomes per cold batch")
    p.add_argument("--batches", type=int, default=4, help="cold batches per problem, >= 3 (the repeats)")
    p.add_argument("--loops", type=int, default=3, help="search loops per problem, >= 3 (seeds 0, 1, ...)")
    p.add_argument("--budget", type=int, default=2048, help="evaluations per search loop")
    p.add_argument("--model", help="estimator checkpoint (default: train a small one first)")
    p.add_argument("--proxy-nets", type=int, default=6, help="networks scored by each zero-shot proxy")
    p.add_argument("--proxy-repeats", type=int, default=3, help="passes over those networks, >= 3")
    p.add_argument("--threads", type=int, default=1, help="Numba, torch and BLAS threads (1)")
    args = p.parse_args(argv)
    for option in ("batches", "loops", "proxy_repeats"):
        require_repeats(p, "--" + option.replace("_", "-"), getattr(args, option))
    pin_threads(args.threads)

    import numpy as np
    from accelsim.config import load_hardware
    from accelsim.workload import load_model
    from codesign.search import problems as P
    from codesign.search.algorithms import random_genome, run_search
    from codesign.spaces import space as S
    from codesign.spaces.space import HardwareSpace, NetworkSpace

    ne = load_hardware("neural_engine")
    hw_axis = P.HardwareAxis(HardwareSpace(), ne)
    metrics = ("latency_ms", "energy_mj")
    makers = {
        "network search (IBN/fused-IBN) on neural_engine":
            lambda **kw: P.SearchProblem(P.MobileAxis(NetworkSpace()), P.FixedHardware(ne), metrics, **kw),
        "hardware search for MobileNetV2":
            lambda **kw: P.SearchProblem(P.FixedNetwork(load_model("mobilenet_v2")), hw_axis, metrics, **kw),
        "joint network x hardware":
            lambda **kw: P.SearchProblem(P.MobileAxis(NetworkSpace()), hw_axis, metrics, **kw),
        "NAS-Bench-201 cells on neural_engine":
            lambda **kw: P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), metrics, **kw),
    }

    def cold(prob) -> Times:
        """CPU and wall seconds of each batch of fresh random genomes (after a warm-up batch)."""
        warm = np.random.default_rng(99)
        prob.evaluate([random_genome(prob.choices, warm) for _ in range(8)])   # compile + warm caches
        rng = np.random.default_rng(0)
        t = Times()
        for _ in range(args.batches):
            gs = [random_genome(prob.choices, rng) for _ in range(args.batch)]
            S._STAGES.clear()   # every batch starts as cold as the first
            cpu, wall, _ = once(lambda: prob.evaluate(gs))
            t.add(cpu, wall)
        return t

    def loop(make) -> Times:
        """CPU and wall seconds of whole journaled evolution runs, one per seed, each on a fresh problem."""
        t = Times()
        for seed in range(args.loops):
            prob = make()
            S._STAGES.clear()
            with tempfile.TemporaryDirectory() as tmp:
                cpu, wall, _ = once(lambda: run_search(prob, "evolution", args.budget, seed,
                                                       journal_path=Path(tmp) / "j.jsonl", batch_size=64))
            t.add(cpu, wall)
        return t

    rows = []   # (problem, scorer, what, items per repeat, Times, has a target)
    for name, make in makers.items():
        rows.append((name, "engine", f"cold batches of {args.batch}", args.batch, cold(make()), True))
    for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
        rows.append((name, "engine", f"search loop (evolution, journaled, {args.budget:,})", args.budget,
                     loop(makers[name]), True))

    # estimator scorer
    import warnings
    from codesign.estimator.model import Estimator, EstimatorRangeWarning
    warnings.simplefilter("ignore", EstimatorRangeWarning)   # speed is measured here, not accuracy
    if args.model:
        est = Estimator.load(args.model)
    else:
        from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
        from codesign.estimator.model import TrainConfig, train_estimator
        tmp = Path(tempfile.mkdtemp(prefix="codesign-bench-"))
        generate(DatasetRequest(operators=3000, blocks=1000, networks=50, hardware=8, format="npz"), tmp / "small",
                 progress=False)   # as estimator_speed.py
        est = train_estimator(load_dataset(tmp / "small"), TrainConfig(epochs=1, threads=args.threads), progress=False)
    pin_threads(args.threads)   # torch is loaded now
    for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
        prob = makers[name](estimator=est, estimator_prefer="estimator", threads=args.threads)   # the estimator itself
        rows.append((name, "estimator", f"cold batches of {args.batch}", args.batch, cold(prob), True))

    # zero-shot proxies: a torch forward/backward per network
    for source, opts in (("synflow", {"batch": 2, "resolution": 64}), ("naswot", {"batch": 16, "resolution": 64}),
                         ("grad_norm", {"batch": 16, "resolution": 64})):
        for axis_name, axis in (("NAS-Bench-201 cells", P.NB201Axis()), ("IBN/fused-IBN networks",
                                                                         P.MobileAxis(NetworkSpace()))):
            acc = P.AccuracySource(source, threads=args.threads, **opts)
            rng = np.random.default_rng(1)
            gs = [random_genome(axis.choices, rng) for _ in range(args.proxy_nets)]
            nets = [axis.build(g) for g in gs]
            acc.scores(axis, gs[:1], nets[:1])
            t = Times()
            for _ in range(args.proxy_repeats):
                acc.cache.clear()
                cpu, wall, _ = once(lambda: acc.scores(axis, gs, nets))
                t.add(cpu, wall)
            rows.append((axis_name, f"proxy {source} ({opts['resolution']}px, batch {opts['batch']})", "per network",
                         len(gs), t, False))

    def num(x: float) -> str:
        return f"{x:,.0f}" if x >= 10 else f"{x:.2f}"

    print(header("CPU time of this process (process_time), evaluations per CPU second", args.batches,
                 f"Numba {args.threads}, torch {args.threads} (pinned)")
          + f"; search loops: {args.loops} seeds; proxies: {args.proxy_repeats} passes\n")
    print(f"| problem | scorer | measured | evaluations / CPU-s, best / median | wall evaluations / s, median "
          f"| target ≥ {TARGET:,.0f} / CPU-s (median) |")
    print("|---|---|---|---:|---:|---|")
    for name, scorer, what, items, t, targeted in rows:
        best, med = t.rate(items)
        verdict = "" if not targeted else ("target met" if med >= TARGET else f"gap {TARGET - med:,.0f}/s "
                                                                          f"({TARGET / med:.2f}x short)")
        print(f"| {name} | {scorer} | {what} | {num(best)} / {num(med)} | {num(t.wall_rate(items)[1])} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
