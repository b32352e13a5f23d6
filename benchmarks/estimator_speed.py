"""Estimator vs engine speed on batches of networks, and dataset generation throughput.

    python benchmarks/estimator_speed.py [--model est.pt] [--networks 1000] [--configs 10]

Prints a Markdown table. Both sides evaluate the same pre-built networks (their layer tables are
packed once and cached on the objects, as in a search); first-call compilation and the first
packing are excluded by a warm-up call. Without --model, a small estimator of the default size
is trained first (1 epoch: its speed, not its accuracy, is measured).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="estimator checkpoint (default: train a small one first)")
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--configs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--records", type=int, default=100_000, help="dataset throughput: records to generate")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch
    from accelsim.engine.simulate import simulate_many
    from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
    from codesign.estimator.model import Estimator, TrainConfig, train_estimator
    from codesign.spaces.space import HardwareSpace, NetworkSpace, build_network, hardware_pool

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="codesign-bench-"))
    if args.model:
        est = Estimator.load(args.model)
    else:
        generate(DatasetRequest(operators=3000, blocks=1000, networks=50, hardware=8, format="npz"), tmp / "small",
                 progress=False)
        est = train_estimator(load_dataset(tmp / "small"), TrainConfig(epochs=1, threads=args.threads), progress=False)

    rng = np.random.default_rng(0)
    space = NetworkSpace()
    nets = [build_network(space.sample(rng)) for _ in range(args.networks)]
    hws = hardware_pool(HardwareSpace(), 0, args.configs)
    layers = sum(len(n.layers) for n in nets)

    rows = []
    for n_hw in (1, args.configs):
        hw = hws[:n_hw]
        simulate_many(nets[:8], hw)  # compile, pack
        est.predict(nets[:8], hw)
        simulate_many(nets, hw)
        t_eng = _median_time(lambda: simulate_many(nets, hw), args.repeat)
        t_est = _median_time(lambda: est.predict(nets, hw), args.repeat)
        evals = len(nets) * n_hw
        rows.append((f"{len(nets):,} networks x {n_hw} config{'s' if n_hw > 1 else ''}", evals / t_eng, evals / t_est))

    print(f"networks: {len(nets):,} from the search space, {layers / len(nets):.0f} layers on average; "
          f"torch threads {args.threads}, cores {os.cpu_count()}\n")
    print("| batch | engine (simulate_many) evals/s | estimator evals/s | estimator / engine |")
    print("|---|---:|---:|---:|")
    for name, e, s in rows:
        print(f"| {name} | {e:,.0f} | {s:,.0f} | {s / e:.2f}x |")

    print("\n| dataset generation | records | layer rows | seconds | records/s | layer rows/s |")
    print("|---|---:|---:|---:|---:|---:|")
    n_ops = int(args.records * 0.7)
    n_blocks = int(args.records * 0.25)
    n_nets = max(1, (args.records - n_ops - n_blocks) // 4)
    for runner, workers in (("serial", None), ("processes", 2)):
        req = DatasetRequest(operators=n_ops, blocks=n_blocks, networks=n_nets, hardware=64, format="parquet",
                             seed=7 if runner == "serial" else 8)
        r = generate(req, tmp / f"ds-{runner}", runner=runner, workers=workers, progress=False)
        print(f"| {runner}{f' ({workers} processes)' if workers else ''} | {r.pairs:,} | {r.layers:,} | "
              f"{r.seconds:.1f} | {r.pairs / r.seconds:,.0f} | {r.layers / r.seconds:,.0f} |")
        t0 = time.perf_counter()
        again = generate(req, tmp / f"ds-{runner}", progress=False)
        assert again.cached
    print(f"| repeated request (cache hit) | {again.pairs:,} | | {time.perf_counter() - t0:.3f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
