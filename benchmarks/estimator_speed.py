"""Estimator vs engine speed on batches of networks, and dataset generation throughput.

    python benchmarks/estimator_speed.py [--model est.pt] [--networks 1000] [--configs 10]

Prints a Markdown table. Both sides evaluate the same pre-built networks (their layer tables are
packed once and cached on the objects, as in a search); first-call compilation and the first
packing are excluded by a warm-up call. Engine and estimator calls alternate, each timed in CPU
seconds of this process, on one thread each (torch and Numba pinned); the table gives the min and
median over --repeat rounds. Without --model, a small estimator of the default size is trained
first (1 epoch: its speed, not its accuracy, is measured).
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


def _interleaved_cpu(fns, repeat: int) -> list:
    """CPU seconds of each of ``fns`` per round, the calls alternating: [[t_fn0, t_fn1, ...], ...]."""
    rounds = []
    for _ in range(repeat):
        times = []
        for fn in fns:
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        rounds.append(times)
    return rounds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="estimator checkpoint (default: train a small one first)")
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--configs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--records", type=int, default=100_000, help="dataset throughput: records to generate (0: skip)")
    p.add_argument("--threads", type=int, default=1, help="torch and Numba threads (CPU time counts all)")
    args = p.parse_args(argv)

    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import numba
    import torch
    from accelsim.engine.simulate import simulate_many
    from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
    from codesign.estimator.model import Estimator, TrainConfig, train_estimator
    from codesign.spaces.space import HardwareSpace, NetworkSpace, build_network, hardware_pool

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
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
        est.predict(nets[:8], hw, out_of_range="ignore")
        simulate_many(nets, hw)
        rounds = _interleaved_cpu([lambda: simulate_many(nets, hw),
                                   lambda: est.predict(nets, hw, out_of_range="ignore")], args.repeat)
        evals = len(nets) * n_hw
        eng = sorted(evals / r[0] for r in rounds)
        fast = sorted(evals / r[1] for r in rounds)
        rows.append((f"{len(nets):,} networks x {n_hw} config{'s' if n_hw > 1 else ''}", eng, fast))

    print(f"networks: {len(nets):,} from the search space, {layers / len(nets):.0f} layers on average; "
          f"torch threads {args.threads}, cores {os.cpu_count()}\n")
    print("| batch | engine (simulate_many) evals/CPU-s, best / median | estimator evals/CPU-s, best / median | "
          "estimator / engine (medians) |")
    print("|---|---:|---:|---:|")
    for name, e, s in rows:
        print(f"| {name} | {e[-1]:,.0f} / {statistics.median(e):,.0f} | {s[-1]:,.0f} / {statistics.median(s):,.0f} "
              f"| {statistics.median(s) / statistics.median(e):.2f}x |")

    if not args.records:
        return 0
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
