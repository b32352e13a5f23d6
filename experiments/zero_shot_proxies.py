"""How well do zero-shot accuracy proxies rank NAS-Bench-201 cells? Spearman and Kendall correlation
of synflow, NASWOT and grad-norm, with the #params and FLOPs baselines beside them, against the
benchmark's 200-epoch test accuracy.

    python experiments/zero_shot_proxies.py [--n 300] [--seed 0] [--dataset cifar10] [--batch 64]

Samples ``--n`` cells without replacement, builds each as the NB201 macro network for the dataset
(10 / 100 / 120 classes; 32x32 input for CIFAR, 16x16 for ImageNet16-120), initialises it from a
seed derived from (seed, arch_index) and scores it. There is no image data here, so the
data-dependent proxies (NASWOT, grad-norm) see one fixed batch of standard-normal "images" of the
dataset's shape, and grad-norm uses uniformly random labels; synflow is data-free by design (an
all-ones input). Writes per-cell scores to ``<out>/zero_shot_proxies.csv`` and the tables to
``<out>/zero_shot_proxies.md`` (both atomically), and prints the tables.

Accuracies: NAS-Bench-201 (Dong & Yang, ICLR 2020), as packaged in codesign/data (see its README).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from accelsim.io import write_atomic
from accelsim.workload.torch_zoo import NB201Net
from codesign.accuracy import DATASETS, PROXIES, NB201Table, reset_parameters, score
from codesign.estimator.validate import finite_ranks, kendall_tau_b, spearman, spearman_interval

# (classes, input resolution) of the NB201 network for each dataset
SHAPES = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet16_120": (120, 16)}
# Spearman rho on NAS-Bench-201 CIFAR-10 over all 15,625 cells, Abdelfattah et al. (ICLR 2021);
# their closest relative of NASWOT is jacob_cov, and NASWOT variants span roughly this range.
PUBLISHED_CIFAR10 = {"synflow": "0.74", "naswot": "0.6-0.8", "grad_norm": "0.58", "params": "0.72", "flops": "0.73"}
BOOTSTRAP = 1000


def score_cells(table: NB201Table, cells: np.ndarray, dataset: str, batch: int, seed: int, names) -> tuple:
    """Scores (n, len(names)) and seconds spent per proxy (summed over cells)."""
    classes, res = SHAPES[dataset]
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, res, res, generator=gen)
    targets = torch.randint(classes, (batch,), generator=gen)
    scores = np.zeros((len(cells), len(names)))
    seconds = np.zeros(len(names))
    for r, i in enumerate(tqdm(cells, desc=f"{dataset}", unit="cell", file=sys.stderr)):
        init_seed = int(np.random.SeedSequence(seed, spawn_key=(int(i),)).generate_state(1)[0])
        model = reset_parameters(NB201Net(table.arch_str(table.ops[i]), num_classes=classes), init_seed)
        for k, name in enumerate(names):
            t0 = time.perf_counter()
            scores[r, k] = score(model, name, inputs, targets, seed=seed)
            seconds[k] += time.perf_counter() - t0
    return scores, seconds


def report(results: dict, table: NB201Table, args, names) -> str:
    """The Markdown tables: correlations per dataset scored so far, baselines over the whole table, timings."""
    datasets = tuple(results)
    lines = [f"# Zero-shot accuracy proxies on NAS-Bench-201 ({args.n} sampled cells, seed {args.seed})", "",
             f"Rank correlation of each proxy with the 200-epoch test accuracy of NAS-Bench-201 (Dong & Yang, "
             f"ICLR 2020). Each cell is built as the NB201 network of the dataset (10 / 100 / 120 classes; "
             f"32x32 / 32x32 / 16x16 input) with PyTorch's default initialisation drawn from a per-cell seed. "
             f"Inputs are one fixed batch of {args.batch} standard-normal images of the dataset's shape (no image "
             f"data is used; synflow uses an all-ones input by design); grad-norm uses random labels. #params "
             f"and FLOPs are the baselines. ρ: Spearman, τ: Kendall tau-b; 95 % intervals from {BOOTSTRAP} "
             f"bootstrap resamples of the cells.", ""]
    has_c10 = "cifar10" in datasets
    lines += ["| proxy | " + " | ".join(f"{d} ρ [95 % CI] | {d} τ" for d in datasets)
              + (" | published ρ, CIFAR-10 |" if has_c10 else " |"),
              "|---" * (1 + 2 * len(datasets) + has_c10) + "|"]
    for name in names:
        row = [f"{s['rho']:.3f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] | {s['tau']:.3f}"
               for s in (results[d][name] for d in datasets)]
        lines.append(f"| {name} | " + " | ".join(row) + (f" | {PUBLISHED_CIFAR10[name]} |" if has_c10 else " |"))
    lines += ["", "Published values: Abdelfattah et al., *Zero-Cost Proxies for Lightweight NAS*, ICLR 2021 "
              "(all 15,625 cells, CIFAR-10; NASWOT row: its jacob_cov relative and NASWOT variants).", ""]
    # the baselines need no network: over the whole table they show the sampling error of the rows above
    lines += ["Baselines over all 15,625 cells (table FLOPs/params of the CIFAR-10 net, Spearman ρ): " +
              "; ".join(f"{d}: params {spearman(table.params, table.accuracies[d]):.3f}, "
                        f"FLOPs {spearman(table.flops, table.accuracies[d]):.3f}" for d in datasets) + ".", ""]
    lines += [f"Seconds per cell per proxy (wall clock on the CPU, torch threads: {args.threads}, batch {args.batch}; "
              f"includes copying the model):", "",
              "| proxy | " + " | ".join(datasets) + " |", "|---" * (1 + len(datasets)) + "|"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{results[d][name]['sec']:.4f}" for d in datasets) + " |")
    infs = {(d, n): results[d][n]["ninf"] for d in datasets for n in names if results[d][n]["ninf"]}
    if infs:
        lines += ["", "Cells scored -inf (ranked last; cells whose output is cut off from the input by 'none' "
                  "edges): " + ", ".join(f"{n} on {d}: {c}" for (d, n), c in infs.items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="cells to sample (default 300)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sample, the inits, inputs and labels")
    ap.add_argument("--dataset", choices=(*DATASETS, "all"), default="all",
                    help="dataset whose network and accuracy to use (default all three)")
    ap.add_argument("--batch", type=int, default=64, help="minibatch size of the synthetic inputs (default 64)")
    ap.add_argument("--table", default=None, help="NB201 table (.npz or the original .csv); default: packaged")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                    help="output folder (default experiments/results)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args(argv)
    if not 3 <= args.n <= 15625 or args.batch < 2:
        ap.error("--n must be in 3..15625 and --batch at least 2")
    torch.set_num_threads(args.threads)
    table = NB201Table.load(args.table)
    cells = np.random.default_rng(args.seed).choice(len(table), size=args.n, replace=False)
    datasets = DATASETS if args.dataset == "all" else (args.dataset,)
    names = PROXIES
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rows = ["dataset,arch_index,arch_str,test_acc," + ",".join(names)]
    results = {}
    for d in datasets:
        scores, seconds = score_cells(table, cells, d, args.batch, args.seed, names)
        acc = table.accuracies[d][cells].astype(float)
        stats = {}
        for k, name in enumerate(names):
            x = finite_ranks(scores[:, k])
            stats[name] = dict(rho=spearman(x, acc), tau=kendall_tau_b(x, acc),
                               ci=spearman_interval(x, acc, args.seed, resamples=BOOTSTRAP),
                               sec=seconds[k] / len(cells), ninf=int((~np.isfinite(scores[:, k])).sum()))
        results[d] = stats
        for r, i in enumerate(cells):
            rows.append(f"{d},{int(i)},{table.arch_str(table.ops[i])},{acc[r]:.4f},"
                        + ",".join(f"{v:.10g}" for v in scores[r]))
        # written after every dataset, so a long run that is stopped keeps what it finished
        text = report(results, table, args, names)
        write_atomic(out / "zero_shot_proxies.csv", "\n".join(rows) + "\n")
        write_atomic(out / "zero_shot_proxies.md", text)
    print(text)
    print(f"wrote {out / 'zero_shot_proxies.csv'} and {out / 'zero_shot_proxies.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
