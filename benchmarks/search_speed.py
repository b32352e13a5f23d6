"""Candidate evaluations per CPU second in codesign searches, by problem and scorer.

    python benchmarks/search_speed.py [--batch 256] [--batches 4] [--loops 3] [--budget 2048]
                                      [--model est.pt] [--proxy-nets 6] [--proxy-repeats 3] [--threads 1]
                                      [--cores 2] [--only-cores]

Prints a Markdown table of evaluations per CPU second of this process (``time.process_time``: every
thread's time, so other jobs on the machine do not count), best and median over the repeats, with
the median wall-clock rate of the same runs beside it, labelled. Numba, torch and BLAS run on
``--threads`` threads (1 by default: CPU time then counts no thread waiting for another).

"cold" batches hold networks and configs never built before (every genome is fresh: network
construction + simulation), one repeat per batch; "search loop" is a whole aging-evolution run (ask,
build, score, tell, journal), where mutation re-uses many built stages, one repeat per seed. Each
repeat starts with the caches of built stages and validated hardware empty, as the first one in a
process does. Zero-shot proxy scoring runs a torch model per network and is reported on its own rows
(one repeat per pass over ``--proxy-nets`` networks). Targets (medians): cold batches of never-seen
designs >= 5,000 evaluations per CPU second, whatever scores them; a whole journaled evolution loop
>= 3,000 evaluations per second on 2 cores, which the second table measures in wall time: each
problem's cold batches and loops on 1 core, on ``--cores`` Numba threads (the parallel kernel) and
on ``--cores`` worker processes (``codesign.runners.ProcessRunner``), the modes taking turns.

The machine's speed drifts between runs (on the shared 2-core development machine by up to half,
hour to hour): to compare with an earlier version of the code, time both in one run with
``search_vs_baseline.py``, whose processes take turns.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import Times, header, interleaved, once, pin_threads, require_repeats  # noqa: E402

COLD_TARGET = 5000.0    # never-seen designs per CPU second
LOOP_TARGET = 3000.0    # evaluations per second of a journaled evolution loop on 2 cores (wall)


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
    p.add_argument("--cores", type=int, default=2,
                   help="the 'N cores over 1' table: wall time of cold batches and search loops on 1 core, on N Numba "
                        "threads and on N worker processes (0 or 1: skip it)")
    p.add_argument("--only-cores", action="store_true", help="print only the 'N cores over 1' table")
    args = p.parse_args(argv)
    for option in ("batches", "loops", "proxy_repeats"):
        require_repeats(p, "--" + option.replace("_", "-"), getattr(args, option))
    pin_threads(args.threads)
    if args.cores > 1:
        # the cores table's thread mode needs a pool of --cores threads (numba sizes it at import, from
        # NUMBA_NUM_THREADS); every other measurement runs on --threads of them
        os.environ["NUMBA_NUM_THREADS"] = str(max(args.threads, args.cores))
        import numba
        numba.set_num_threads(args.threads)

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
        # compile + warm caches: a batch of 8 (the serial kernel) and one as large as a cold batch (the
        # parallel one, which batches of PARALLEL_MIN_PAIRS or more use), so no repeat loads a kernel
        for n in (8, args.batch):
            prob.evaluate([random_genome(prob.choices, warm) for _ in range(n)])
        rng = np.random.default_rng(0)
        t = Times()
        for _ in range(args.batches):
            gs = [random_genome(prob.choices, rng) for _ in range(args.batch)]
            S.clear_caches()   # every batch starts as cold as the first
            cpu, wall, _ = once(lambda: prob.evaluate(gs))
            t.add(cpu, wall)
        return t

    def loop(make) -> Times:
        """CPU and wall seconds of whole journaled evolution runs, one per seed, each on a fresh problem."""
        t = Times()
        for seed in range(args.loops):
            prob = make()
            S.clear_caches()
            with tempfile.TemporaryDirectory() as tmp:
                cpu, wall, _ = once(lambda: run_search(prob, "evolution", args.budget, seed,
                                                       journal_path=Path(tmp) / "j.jsonl", batch_size=64))
            t.add(cpu, wall)
        return t

    if args.only_cores:
        return cores_table(args, makers)
    rows = []   # (problem, scorer, what, items per repeat, Times, has a target)
    for name, make in makers.items():
        rows.append((name, "engine", f"cold batches of {args.batch}", args.batch, cold(make()), COLD_TARGET))
    for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
        rows.append((name, "engine", f"search loop (evolution, journaled, {args.budget:,})", args.budget,
                     loop(makers[name]), None))

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
        rows.append((name, "estimator", f"cold batches of {args.batch}", args.batch, cold(prob), COLD_TARGET))

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
                         len(gs), t, None))

    def num(x: float) -> str:
        return f"{x:,.0f}" if x >= 10 else f"{x:.2f}"

    print(header("CPU time of this process (process_time), evaluations per CPU second", args.batches,
                 f"Numba {args.threads}, torch {args.threads} (pinned)")
          + f"; search loops: {args.loops} seeds; proxies: {args.proxy_repeats} passes\n")
    print("| problem | scorer | measured | evaluations / CPU-s, best / median | wall evaluations / s, median "
          "| target (median) |")
    print("|---|---|---|---:|---:|---|")
    for name, scorer, what, items, t, target in rows:
        best, med = t.rate(items)
        print(f"| {name} | {scorer} | {what} | {num(best)} / {num(med)} | {num(t.wall_rate(items)[1])} | "
              f"{verdict(med, target, '/CPU-s')} |")
    if args.cores > 1:
        print()
        cores_table(args, makers)
    return 0


def cores_table(args, makers: dict) -> int:
    """Wall time, interleaved: what ``args.cores`` cores give over one, on cold batches and on whole
    journaled evolution loops of the network and the joint problem, scored by the engine."""
    import numba
    import numpy as np
    from codesign.runners import ProcessRunner
    from codesign.search.algorithms import random_genome, run_search
    from codesign.spaces import space as S

    n = args.cores
    runner = ProcessRunner(n)
    rows = []
    try:
        for name in ("network search (IBN/fused-IBN) on neural_engine", "joint network x hardware"):
            prob = makers[name]()
            rng = np.random.default_rng(7)
            warm = [random_genome(prob.choices, rng) for _ in range(args.batch)]
            prob.evaluate(warm[:8])   # the serial kernel, then the parallel one (batches of PARALLEL_MIN_PAIRS+)
            prob.evaluate(warm)
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            prob.evaluate(warm)       # the thread pool started
            numba.set_num_threads(1)
            runner.evaluate(prob, warm)   # ships the problem, loads the kernels in the workers

            # never seen by anyone; drawn before the timing, as the main table's cold batches are
            fresh = [[random_genome(prob.choices, rng) for _ in range(args.batch)] for _ in range(3 * args.batches)]

            def batch(how):
                gs = fresh.pop()
                S.clear_caches()
                if how == "threads":
                    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
                    try:
                        return prob.evaluate(gs)
                    finally:
                        numba.set_num_threads(1)
                return runner.evaluate(prob, gs) if how == "processes" else prob.evaluate(gs)

            modes = {"1 core": lambda: batch("serial"), f"{n} Numba threads": lambda: batch("threads"),
                     f"{n} worker processes": lambda: batch("processes")}
            for mode, t in interleaved(modes, args.batches).items():
                rows.append((name, f"cold batches of {args.batch}", mode, t.wall_rate(args.batch)))

            seeds = itertools.count(1)   # every loop its own seed, whichever mode runs it

            def loop(use_runner):
                S.clear_caches()
                with tempfile.TemporaryDirectory() as tmp:
                    return run_search(makers[name](), "evolution", args.budget, next(seeds), batch_size=64,
                                      journal_path=Path(tmp) / "j.jsonl", runner=runner if use_runner else None)

            for mode, t in interleaved({"1 core": lambda: loop(False), f"{n} worker processes": lambda: loop(True)},
                                       args.loops).items():
                rows.append((name, f"evolution loop, journaled, {args.budget:,}", mode, t.wall_rate(args.budget)))
    finally:
        runner.close()
    print(f"timed: wall time (the measure of using more cores), the modes taking turns; min / median of "
          f"{args.batches} batches, {args.loops} loops; cores: {os.cpu_count()}; load average at the end: "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| problem | measured | run on | evaluations / s (wall), best / median | over 1 core (median) | target |")
    print("|---|---|---|---:|---:|---|")
    base = {}
    for name, what, mode, (best, med) in rows:
        base.setdefault((name, what), med)
        target = LOOP_TARGET if "loop" in what and mode != "1 core" else None
        print(f"| {name} | {what} | {mode} | {best:,.0f} / {med:,.0f} | {med / base[(name, what)]:.2f}x | "
              f"{verdict(med, target, '/s')} |")
    return 0


def verdict(median: float, target: "float | None", unit: str) -> str:
    if target is None:
        return ""
    if median >= target:
        return f"≥ {target:,.0f}{unit}: met"
    return f"≥ {target:,.0f}{unit}: missed, {target / median:.2f}x short"


if __name__ == "__main__":
    sys.exit(main())
