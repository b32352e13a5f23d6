"""Estimator vs engine speed on batches of networks, and dataset generation throughput.

    python benchmarks/estimator_speed.py [--model est.pt] [--networks 1000] [--configs 10] [--repeat 5]
                                         [--records 100000] [--dataset-repeats 3] [--threads 1]

Prints Markdown tables. Both sides evaluate the same pre-built networks (their layer tables are
packed once and cached on the objects, as in a search); first-call compilation and the first
packing are excluded by a warm-up call. Engine and estimator calls alternate, each timed in CPU
seconds of this process (``time.process_time``), on ``--threads`` threads each (torch and Numba
pinned; 1 by default); the table gives the min and median over --repeat rounds. Without --model, a
small estimator of the default size is trained first (1 epoch: its speed, not its accuracy, is
measured).

Dataset generation is timed in CPU seconds too: this process's, plus, for the process runner, its
worker processes' (``RUSAGE_CHILDREN`` after the pool is joined: their start-up and imports count),
min / median of ``--dataset-repeats`` runs, each into a fresh folder; wall seconds of the same runs
beside them, labelled.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import Times, header, interleaved, min_median, pin_threads, require_repeats  # noqa: E402


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="estimator checkpoint (default: train a small one first)")
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--configs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--records", type=int, default=100_000, help="dataset throughput: records to generate (0: skip)")
    p.add_argument("--dataset-repeats", type=int, default=3, help="dataset generation runs per runner, >= 3")
    p.add_argument("--threads", type=int, default=1, help="torch and Numba threads (CPU time counts all)")
    args = p.parse_args(argv)
    require_repeats(p, "--repeat", args.repeat)
    require_repeats(p, "--dataset-repeats", args.dataset_repeats)

    pin_threads(args.threads)
    import numpy as np
    from accelsim.engine.simulate import simulate_many
    from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
    from codesign.estimator.model import Estimator, TrainConfig, train_estimator
    from codesign.spaces.space import HardwareSpace, NetworkSpace, build_network, hardware_pool

    tmp = Path(tempfile.mkdtemp(prefix="codesign-bench-"))
    if args.model:
        est = Estimator.load(args.model)
    else:
        generate(DatasetRequest(operators=3000, blocks=1000, networks=50, hardware=8, format="npz"), tmp / "small",
                 progress=False)
        est = train_estimator(load_dataset(tmp / "small"), TrainConfig(epochs=1, threads=args.threads), progress=False)
    pin_threads(args.threads)   # torch and numba are loaded now

    rng = np.random.default_rng(0)
    space = NetworkSpace()
    nets = [build_network(space.sample(rng)) for _ in range(args.networks)]
    hws = hardware_pool(HardwareSpace(), 0, args.configs)
    layers = sum(len(n.layers) for n in nets)

    rows = []
    for n_hw in (1, args.configs):
        hw = hws[:n_hw]
        simulate_many(nets[:8], hw)  # compile, pack
        est.predict(nets[:8], hw, out_of_range="ignore")
        simulate_many(nets, hw)
        t = interleaved({"engine": lambda: simulate_many(nets, hw),
                         "estimator": lambda: est.predict(nets, hw, out_of_range="ignore")}, args.repeat)
        rows.append((f"{len(nets):,} networks x {n_hw} config{'s' if n_hw > 1 else ''}", len(nets) * n_hw,
                     t["engine"], t["estimator"]))

    print(header("CPU time of this process (process_time), engine and estimator calls alternating", args.repeat))
    print(f"networks: {len(nets):,} from the search space, {layers / len(nets):.0f} layers on average\n")
    print("| batch | engine (simulate_many) evals/CPU-s, best / median | estimator evals/CPU-s, best / median | "
          "estimator / engine (medians) |")
    print("|---|---:|---:|---:|")
    for name, evals, e, f in rows:
        (eb, em), (fb, fm) = e.rate(evals), f.rate(evals)
        print(f"| {name} | {eb:,.0f} / {em:,.0f} | {fb:,.0f} / {fm:,.0f} | {fm / em:.2f}x |")

    if not args.records:
        return 0
    print()
    print(header("CPU time (process_time of this process + its finished worker processes), each run into a "
                 "fresh folder", args.dataset_repeats))
    print("\n| dataset generation | records | layer rows | CPU s, min / median | records/CPU-s, best / median | "
          "layer rows/CPU-s, best / median | wall s, median |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    n_ops = int(args.records * 0.7)
    n_blocks = int(args.records * 0.25)
    n_nets = max(1, (args.records - n_ops - n_blocks) // 4)
    for runner, workers in (("serial", None), ("processes", 2)):
        req = DatasetRequest(operators=n_ops, blocks=n_blocks, networks=n_nets, hardware=64, format="parquet",
                             seed=7 if runner == "serial" else 8)
        t = Times()
        for k in range(args.dataset_repeats):
            c0, k0, w0 = time.process_time(), _children_cpu(), time.perf_counter()
            r = generate(req, tmp / f"ds-{runner}-{k}", runner=runner, workers=workers, progress=False)
            t.add(time.process_time() - c0 + _children_cpu() - k0, time.perf_counter() - w0)
        (pb, pm), (lb, lm) = t.rate(r.pairs), t.rate(r.layers)
        print(f"| {runner}{f' ({workers} processes)' if workers else ''} | {r.pairs:,} | {r.layers:,} | "
              f"{min_median(t.cpu, '.1f')} | {pb:,.0f} / {pm:,.0f} | {lb:,.0f} / {lm:,.0f} | {t.wall_median:.1f} |")
    cached = Times()
    for _ in range(args.dataset_repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        again = generate(req, tmp / f"ds-{runner}-0", progress=False)
        cached.add(time.process_time() - c0, time.perf_counter() - w0)
        assert again.cached
    print(f"| repeated request (cache hit) | {again.pairs:,} | | {min_median(cached.cpu, '.3f')} | | | "
          f"{cached.wall_median:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
