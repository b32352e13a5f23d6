"""Do zero-shot proxies rank detectors and segmenters as training does? Spearman and Kendall correlation of
synflow, NASWOT and grad-norm, with the #params and MACs baselines beside them, against the score each
design reaches after short training on synthetic shapes.

    python experiments/task_proxies.py [--designs 50] [--epochs 6] [--threads 2] [--quick]

Draws ``--designs`` random genomes with an SSDLite head (detection) and as many with an LR-ASPP or
DeepLabV3 head (segmentation) from a small MobileNet-like space (widths 0.25-1x of MobileNetV2's, 96 px
input), each genome's design ``i`` drawn from (seed, task, i) so that a larger ``--designs`` extends a
run. Each design is built with weights drawn from a seed of its genome, scored by every proxy on one
batch of synthetic shapes (grad-norm with the task's loss and targets; NASWOT on the backbone, and
``naswot_head`` with the head's units too), scored untrained, then trained with
``codesign.accuracy.tasks.train_task`` (mAP@0.5 for detection, mIoU for segmentation, in %).

Writes, atomically after every design, to ``--out`` (default experiments/results/task_proxies):
``designs.csv`` (one row per design: genome, proxies, untrained and trained score, seconds),
``correlations.csv`` and ``correlations.md`` (the tables). A killed run resumes where it stopped: designs
already in ``designs.csv`` are skipped. Every row carries a hash of the arguments that change results
(everything but ``--designs``, ``--out``); a run refuses to add to a file written with other ones.
``--quick`` is a smoke run (4 designs per task, 1 epoch of 64 images) into ``<out>/quick``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from accelsim.io import write_atomic
from codesign.accuracy import genome_module, genome_seed, score, seeded, torch_threads
from codesign.accuracy.proxies import naswot
from codesign.accuracy.tasks import TASK_METRICS, TASKS, proxy_batch, task_genome, train_task
from codesign.errors import CodesignError
from codesign.estimator.validate import finite_ranks, kendall_tau_b, spearman, spearman_interval
from codesign.spaces.space import NetworkGenome, NetworkSpace, build_network

RESULTS = Path(__file__).resolve().parent / "results" / "task_proxies"
PROXIES = ("synflow", "naswot", "naswot_head", "grad_norm", "params", "macs")
HEADS = {"detection": ("ssdlite",), "segmentation": ("lraspp", "deeplabv3")}
BOOTSTRAP = 1000
COLUMNS = ("args_hash", "task", "index", "key", "head", "genome", *PROXIES, "untrained", "score", "proxy_seconds",
           "train_seconds")


def space(task: str, resolution: int, num_classes: int) -> NetworkSpace:
    """The designs of a task: MobileNetV2's seven-stage skeleton at 0.25-1x its widths, at one resolution."""
    return NetworkSpace(width_range=(0.25, 1.0), kernels=(3, 5), expansions=(1, 3, 4, 6), depths=(1, 2, 3),
                        depth_multipliers=(0.5, 0.75, 1.0), resolutions=(resolution,), stem_channels=(8, 16, 24),
                        head_channels=(256, 512, 768), heads=HEADS[task], head_classes=num_classes + 1,
                        output_strides=(16,))


def draw(task: str, index: int, args) -> NetworkGenome:
    """Design ``index`` of ``task``: a genome drawn from (seed, task, index), redrawn if it cannot be built."""
    sp = space(task, args.resolution, args.num_classes)
    for attempt in range(100):
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, TASKS.index(task), index, attempt]))
        g = sp.sample(rng)
        try:
            build_network(g)
        except CodesignError:
            continue
        return task_genome(g, task, args.num_classes)
    raise CodesignError(f"{task} design {index}: no buildable genome in 100 draws")


def args_hash(args) -> str:
    """A hash of the arguments that change a design's numbers (not how many designs, nor where)."""
    keys = ("seed", "epochs", "n_train", "n_val", "batch_size", "lr", "resolution", "num_classes", "batch",
            "threads", "quick")
    text = json.dumps({k: getattr(args, k) for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def evaluate(task: str, index: int, args) -> dict:
    """One design: its proxies, its untrained and trained score."""
    g = draw(task, index, args)
    with seeded(genome_seed(g.key(), args.seed), threads=args.threads):
        model = genome_module(g)
    row = {"task": task, "index": index, "key": g.key(), "head": g.head.kind,
           "genome": json.dumps(g.to_dict(), sort_keys=True, separators=(",", ":"))}
    t0 = time.perf_counter()
    with torch_threads(args.threads):
        x, targets = proxy_batch(model, task, batch=args.batch, seed=args.seed)
        for name in ("synflow", "naswot", "grad_norm", "params"):
            row[name] = score(model, name, x, targets, seed=args.seed)
        with seeded(args.seed, threads=None):
            row["naswot_head"] = naswot(model, x, include_head=True)
    row["macs"] = float(build_network(g).macs)
    row["proxy_seconds"] = time.perf_counter() - t0
    options = dict(epochs=args.epochs, n_train=args.n_train, n_val=args.n_val, batch_size=args.batch_size,
                   lr=args.lr, seed=args.seed, threads=args.threads, device="cpu")
    row["untrained"] = train_task(model, task, **{**options, "epochs": 0})["score"]
    result = train_task(model, task, **options)
    row["score"], row["train_seconds"] = result["score"], result["train_seconds"]
    return row


def correlations(rows: list, seed: int) -> list:
    """One dict per (task, proxy): n, Spearman rho with its bootstrap interval, Kendall tau-b."""
    out = []
    for task in TASKS:
        sub = [r for r in rows if r["task"] == task]
        if len(sub) < 3:
            continue
        y = np.array([float(r["score"]) for r in sub])
        for name in PROXIES:
            x = finite_ranks([float(r[name]) for r in sub])
            lo, hi = spearman_interval(x, y, seed, resamples=BOOTSTRAP)
            out.append({"task": task, "proxy": name, "n": len(sub), "spearman": spearman(x, y), "ci_low": lo,
                        "ci_high": hi, "kendall": kendall_tau_b(x, y)})
    return out


def _csv(rows: list, columns) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items() if k in columns})
    return buf.getvalue()


def report(rows: list, stats: list, args) -> str:
    lines = [f"# Zero-shot proxies on detector and segmenter genomes (seed {args.seed})", "",
             f"Random MobileNet-like genomes (0.25-1x MobileNetV2's widths, {args.resolution} px) with an SSDLite "
             f"head (detection) or an LR-ASPP / DeepLabV3 head (segmentation, output stride 16), trained with "
             f"`train_task` on synthetic shapes ({args.num_classes} classes): {args.epochs} epoch(s) of "
             f"{args.n_train} new images at batch {args.batch_size}, lr {args.lr}, scored on {args.n_val} held-out "
             f"images (detection: mAP@0.5, segmentation: mIoU with background, in %). Proxies on one batch of "
             f"{args.batch} shapes at initialisation; grad_norm with the task's loss; naswot on the backbone's "
             f"ReLUs, naswot_head with the head's as well; params and MACs of the network. ρ: Spearman with a "
             f"95 % interval from {BOOTSTRAP} bootstrap resamples of the designs, τ: Kendall tau-b. Arguments "
             f"hash {args_hash(args)}.", ""]
    for task in TASKS:
        sub = [r for r in rows if r["task"] == task]
        if not sub:
            continue
        scores = np.array([float(r["score"]) for r in sub])
        untrained = np.array([float(r["untrained"]) for r in sub])
        seconds = np.array([float(r["train_seconds"]) + float(r["proxy_seconds"]) for r in sub])
        lines += [f"## {task} ({len(sub)} designs, {TASK_METRICS[task]})", "",
                  f"Trained {TASK_METRICS[task]}: median {np.median(scores):.2f} %, range {scores.min():.2f}-"
                  f"{scores.max():.2f} %; untrained median {np.median(untrained):.2f} %. Seconds per design "
                  f"(proxies + training, {args.threads} threads): median {np.median(seconds):.1f}, "
                  f"max {seconds.max():.1f}.", ""]
        task_stats = [s for s in stats if s["task"] == task]
        if task_stats:
            lines += ["| proxy | ρ [95 % CI] | τ |", "|---|---|---|"]
            for s in task_stats:
                lines.append(f"| {s['proxy']} | {s['spearman']:.3f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}] | "
                             f"{s['kendall']:.3f} |")
            lines.append("")
    infs = {(r["task"], n) for r in rows for n in PROXIES if not math.isfinite(float(r[n]))}
    if infs:
        lines += ["Designs scored -inf are ranked last: " + ", ".join(f"{n} on {t}" for t, n in sorted(infs)) + ".",
                  ""]
    return "\n".join(lines)


def write(out: Path, rows: list, args) -> str:
    """Write the per-design rows and the tables (each file atomically); returns the Markdown."""
    stats = correlations(rows, args.seed)
    text = report(rows, stats, args)
    write_atomic(out / "designs.csv", _csv(rows, COLUMNS))
    write_atomic(out / "correlations.csv", _csv(stats, ("task", "proxy", "n", "spearman", "ci_low", "ci_high",
                                                        "kendall")))
    write_atomic(out / "correlations.md", text)
    return text


def load(path: Path, current: str) -> list:
    """Rows of an earlier run with the same arguments; refuses a file written with other arguments."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    other = {r["args_hash"] for r in rows} - {current}
    if other:
        raise SystemExit(f"{path}: written with other arguments (hash {', '.join(sorted(other))}, this run "
                         f"{current}); pass --out to another folder or remove the file")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", type=int, default=50, help="designs per task (default 50)")
    ap.add_argument("--epochs", type=int, default=6, help="training epochs per design (default 6)")
    ap.add_argument("--n-train", type=int, default=512, help="training images per epoch (default 512)")
    ap.add_argument("--n-val", type=int, default=128, help="held-out images (default 128)")
    ap.add_argument("--batch-size", type=int, default=16, help="training batch (default 16)")
    ap.add_argument("--lr", type=float, default=4e-3, help="peak learning rate (default 4e-3)")
    ap.add_argument("--resolution", type=int, default=96, help="input side in pixels (default 96)")
    ap.add_argument("--num-classes", type=int, default=3, help="shape classes (default 3)")
    ap.add_argument("--batch", type=int, default=16, help="images the proxies see (default 16)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the designs, weights, images and batches")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to run (default both)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 designs per task, 1 epoch of 64 images")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default experiments/results/task_proxies; with --quick, its quick/ folder)")
    args = ap.parse_args(argv)
    if args.quick:
        args.designs, args.epochs, args.n_train, args.n_val = min(args.designs, 4), 1, 64, 32
    if args.designs < 1 or args.epochs < 1 or args.batch < 2 or args.threads < 1:
        ap.error("--designs and --epochs must be >= 1, --batch >= 2, --threads >= 1")
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    current = args_hash(args)
    rows = load(out / "designs.csv", current)
    done = {(r["task"], int(r["index"])) for r in rows}
    todo = [(t, i) for t in args.tasks for i in range(args.designs) if (t, i) not in done]
    print(f"{len(done)} designs already in {out / 'designs.csv'}, {len(todo)} to go", file=sys.stderr)
    torch.set_num_threads(args.threads)
    text = write(out, rows, args)
    for task, index in tqdm(todo, unit="design", file=sys.stderr):
        row = evaluate(task, index, args)
        rows.append({"args_hash": current, **row})
        rows.sort(key=lambda r: (TASKS.index(r["task"]), int(r["index"])))
        # everything is rewritten after each design, so a killed run loses at most the design in progress
        text = write(out, rows, args)
    print(text)
    print(f"wrote {out / 'designs.csv'}, {out / 'correlations.csv'} and {out / 'correlations.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
