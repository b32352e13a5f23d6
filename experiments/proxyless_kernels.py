"""Does a ProxylessNAS search pick different blocks for different accelerators?

ProxylessNAS (Cai et al., ICLR 2019) searched on each target with its latency model and found wide
7x7-kernel blocks best for a GPU and 3x3 for a phone. This experiment runs the same kind of search
(codesign.supernet: path binarisation, two-path BinaryConnect gradient, expected-latency loss)
against simulated accelerators instead, on a synthetic 32x32 task, with one seed and one latency
weight for every target. It first reports how the candidates' simulated latencies differ between
the configs (what the latency loss can see), then each search's chosen block per position and
every derived network's latency on every config.

    .venv/bin/python experiments/proxyless_kernels.py                      # ~3 min on 2 CPU cores
    .venv/bin/python experiments/proxyless_kernels.py --hardware neural_engine datacenter_wide edge_tpu_like

Writes experiments/results/proxyless_kernels.md (or --out), atomically.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import accelsim
from accelsim.io import write_atomic
from codesign.supernet import SKIP, SupernetConfig, latency_table, positions, synthetic_dataset, train_supernet

HERE = Path(__file__).resolve().parent


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """The options of one supernet search (all but the targets and the output), shared with the
    experiments that run this search (experiments/kernel_by_target.py)."""
    p.add_argument("--steps", type=int, default=400, help="weight steps per search (warm-up included)")
    p.add_argument("--warmup", type=int, default=None,
                   help="weight-only steps before alpha updates, shared by all targets (None: half of --steps)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=3200, help="synthetic images (a fifth held out)")
    p.add_argument("--noise", type=float, default=1.0, help="noise standard deviation of the synthetic images")
    p.add_argument("--latency-weight", type=float, default=2.0,
                   help="lambda of CE + lambda (E[lat] - T) / T (2: latency and CE alpha gradients of similar size here)")
    p.add_argument("--loss-form", choices=("add", "mul"), default="add")
    p.add_argument("--arch-lr", type=float, default=0.05)
    p.add_argument("--weight-lr", type=float, default=0.1)
    p.add_argument("--width", type=float, default=1.0, help="multiply the skeleton's channel counts")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    # One intra-op thread by default: these convolutions are small, and on a shared machine a second
    # thread's barrier waits made every step several times slower (measured: 40 steps took 32 s with
    # one thread and 91 s with two while other jobs ran).
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoint writes")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="keep checkpoints here, so a killed run resumes (default: a temporary folder)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--hardware", nargs="+", default=["neural_engine", "datacenter_wide"],
                   help="target configs (names in hw_configs/ or YAML paths); each gets its own search")
    add_search_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results" / "proxyless_kernels.md")
    return p.parse_args(argv)


def make_config(args, hw_name: str) -> SupernetConfig:
    base = SupernetConfig()

    def w(c):
        return max(8, int(round(c * args.width / 8)) * 8)

    return base.replace(stem_channels=w(base.stem_channels), stage_channels=tuple(w(c) for c in base.stage_channels),
                        head_channels=w(base.head_channels), hardware=hw_name, steps=args.steps,
                        warmup_steps=args.warmup if args.warmup is not None else args.steps // 2,
                        batch_size=args.batch_size, latency_weight=args.latency_weight, loss_form=args.loss_form,
                        arch_lr=args.arch_lr, weight_lr=args.weight_lr, seed=args.seed, device=args.device,
                        checkpoint_every=args.checkpoint_every)


# ------------------------------------------------------------------------------------ latency landscape
def landscape(cfg: SupernetConfig, hws: list) -> tuple[list, dict]:
    """Markdown lines on how candidate latencies differ per config, and the tables themselves."""
    tables = {h.name: latency_table(cfg, h) for h in hws}
    hw_names = list(tables)
    pos = positions(cfg)
    lines = ["| position | input (HxWxC) | " + " | ".join(f"{h}: cheapest block / dearest / ratio" for h in hw_names)
             + " |", "|---|---|" + "---|" * len(hw_names)]
    for p in pos:
        cells = []
        for h in hw_names:
            lat = tables[h].block_ms[p.index]
            real = [j for j, c in enumerate(p.candidates) if c.block != SKIP]
            lo = min(real, key=lambda j: lat[j])
            hi = max(real, key=lambda j: lat[j])
            cells.append(f"{p.candidates[lo].name} {lat[lo] * 1e3:.2f} us / {p.candidates[hi].name} "
                         f"{lat[hi] * 1e3:.2f} us / {lat[hi] / lat[lo]:.1f}x")
        lines.append(f"| {p.name} | {'x'.join(map(str, p.in_shape))} | " + " | ".join(cells) + " |")
    # average cost ratios of one design choice, the others held equal
    lines += ["", "Mean latency ratio of one choice against another, the other choices held equal "
              "(over all positions):", "",
              "| ratio | " + " | ".join(hw_names) + " |", "|---|" + "---|" * len(hw_names)]
    for label, by_hw in choice_ratios(cfg, tables).items():
        lines.append(f"| {label} | " + " | ".join(f"{by_hw[h]:.2f}x" for h in hw_names) + " |")
    fixed = ["", "Fixed stem + head: " + ", ".join(f"{h} {tables[h].fixed_ms * 1e3:.2f} us" for h in hw_names) + "."]
    return lines + fixed, tables


def choice_ratios(cfg: SupernetConfig, tables: dict) -> dict:
    """{"kernel 7 / kernel 3": {config: ratio}, "expansion 6 / expansion 3": ..., "fused IBN / IBN": ...}:
    the geometric mean over all positions of the latency ratio of one choice against another, the
    other choices held equal (``tables``: {config name: LatencyTable})."""
    ks, es = sorted(cfg.kernels), sorted(cfg.expansions)
    pairs = []
    if len(ks) > 1:
        pairs.append((f"kernel {ks[-1]} / kernel {ks[0]}", lambda c: c.kernel == ks[-1], lambda c: c.kernel == ks[0],
                      lambda c: (c.block, c.expansion)))
    if len(es) > 1:
        pairs.append((f"expansion {es[-1]} / expansion {es[0]}", lambda c: c.expansion == es[-1],
                      lambda c: c.expansion == es[0], lambda c: (c.block, c.kernel)))
    if set(cfg.blocks) == {"ibn", "fused_ibn"}:
        pairs.append(("fused IBN / IBN", lambda c: c.block == "fused_ibn", lambda c: c.block == "ibn",
                      lambda c: (c.kernel, c.expansion)))
    out = {}
    for label, num, den, key in pairs:
        for h, table in tables.items():
            ratios = []
            for p in positions(cfg):
                lat = dict(zip(p.candidates, table.block_ms[p.index]))
                a = {key(c): v for c, v in lat.items() if c.block != SKIP and num(c)}
                b = {key(c): v for c, v in lat.items() if c.block != SKIP and den(c)}
                ratios += [a[k] / b[k] for k in a if k in b]
            out.setdefault(label, {})[h] = float(np.exp(np.mean(np.log(ratios))))
    return out


# ------------------------------------------------------------------------------------ report
def report(args, cfg_text: str, land: list, results: dict, cross: dict, warm_seconds: float, seconds: float) -> str:
    hw_names = list(results)
    first = results[hw_names[0]]
    pos = positions(first.config)
    out = ["# ProxylessNAS search against simulated accelerators: chosen blocks per target", "",
           f"Command: `{' '.join(['python', 'experiments/proxyless_kernels.py'] + sys.argv[1:])}`  ",
           f"Device: {first.device}, torch {torch.__version__}, {args.threads} CPU threads; total "
           f"{seconds:.0f} s (shared warm-up {warm_seconds:.0f} s).", "",
           "Setup: " + cfg_text, "",
           "## What the simulator says about the candidates", "",
           "Each candidate block simulated alone at its position's input shape (the latency table the "
           "search differentiates through):", ""] + land + [""]
    out += ["## Chosen block per position", "",
            "Argmax of softmax(alpha) after the search, with its probability; `skip` removes the block.", "",
            "| position | input | " + " | ".join(hw_names) + " |", "|---|---|" + "---|" * len(hw_names)]
    for p in pos:
        cells = []
        for h in hw_names:
            r = results[h]
            j = r.derived.path[p.index]
            cells.append(f"{r.derived.choices[p.index].name} ({r.probs[p.index][j]:.2f})")
        out.append(f"| {p.name} | {'x'.join(map(str, p.in_shape))} | " + " | ".join(cells) + " |")
    out += ["", "| summary of the kept blocks | " + " | ".join(hw_names) + " |", "|---|" + "---|" * len(hw_names)]
    kept = {h: [c for c in results[h].derived.choices if c.block != SKIP] for h in hw_names}
    rows = [("blocks kept / positions", lambda ks: f"{len(ks)} / {len(pos)}"),
            ("mean kernel", lambda ks: f"{np.mean([c.kernel for c in ks]):.2f}"),
            ("fused IBN share", lambda ks: f"{np.mean([c.block == 'fused_ibn' for c in ks]):.2f}"),
            ("mean expansion", lambda ks: f"{np.mean([c.expansion for c in ks]):.2f}")]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(kept[h]) for h in hw_names) + " |")
    differ = [p.name for p in pos if len({results[h].derived.path[p.index] for h in hw_names}) > 1]
    out += ["", f"Positions where the targets chose differently: {', '.join(differ) if differ else 'none'}."]
    out += ["", "## Latency of each derived network on each config (simulated, us)", "",
            "Rows: the network searched for that target; columns: where it runs. The smallest entry "
            "of each column is in bold.", "",
            "| searched for \\ runs on | " + " | ".join(hw_names) + " |", "|---|" + "---|" * len(hw_names)]
    best = {run: min(cross[s][run] for s in hw_names) for run in hw_names}
    for s in hw_names:
        cells = []
        for run in hw_names:
            v = cross[s][run] * 1e3
            cells.append(f"**{v:.2f}**" if cross[s][run] == best[run] else f"{v:.2f}")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    own = [s for s in hw_names if cross[s][s] == best[s]]
    out += ["", "Fastest on its own target: " + (", ".join(own) if own else "none") + "; "
            + ("; ".join(f"on {s} the network searched for {min(hw_names, key=lambda o: cross[o][s])} is "
                         f"{(1 - best[s] / cross[s][s]) * 100:.1f} % faster than its own"
                         for s in hw_names if s not in own) or "every search found the fastest of these networks for "
               "its own target") + "."]
    out += ["", "## Search summary", "",
            "| target | T (ms) | E[lat] at end (ms) | derived: table sum (ms) | derived: simulated (ms) | "
            "gap sim - E (ms) | val acc (derived path) | MACs | alpha grad rms: latency / CE | search time (s) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for h in hw_names:
        r = results[h]
        arch = [rec for rec in r.history if "latency_grad_rms" in rec]
        lat_rms = np.mean([rec["latency_grad_rms"] for rec in arch]) if arch else float("nan")
        ce_rms = np.mean([rec["ce_grad_rms"] for rec in arch]) if arch else float("nan")
        out.append(f"| {h} | {r.target_ms:.4f} | {r.expected_latency_ms:.4f} | {r.path_latency_ms:.4f} | "
                   f"{r.simulated_latency_ms:.4f} | {r.latency_gap_ms:+.4f} | {r.val_accuracy:.3f} | "
                   f"{r.derived.network.macs:,} | {lat_rms:.2e} / {ce_rms:.2e} | {r.seconds:.0f} |")
    differ = [h for h in hw_names if abs(results[h].path_latency_ms - results[h].simulated_latency_ms) > 1e-9]
    sums = ("The table prices each candidate block simulated alone; where a config keeps tensors on chip "
            "from one block to the next (activation policy resident or fused), the derived network simulated "
            f"whole differs from that sum ({', '.join(differ)})." if differ else
            "The table sum along the derived path equals the derived network's simulated latency (every "
            "block's tensors pass through DRAM, so blocks cost the same alone and together).")
    out += ["", sums + " The gap to E[lat] is how far softmax(alpha) still is from one-hot when the search "
            "stops. The alpha-gradient columns (mean over architecture steps of the root-mean-square gradient "
            "from each loss term) say whether latency or accuracy was steering the search.", ""]
    return "\n".join(out)


def run_searches(args, hws: list, log=print) -> tuple[dict, float]:
    """One search per config in ``hws`` with ``args.seed``, all from one shared warm-up (weights only,
    alphas uniform: it does not depend on the target); returns ({config name: SupernetResult}, seconds
    of the warm-up). Checkpoints go to ``args.checkpoint_dir`` (a killed run resumes) or a temporary
    folder."""
    cfg0 = make_config(args, hws[0].name)
    x, y = synthetic_dataset(args.samples, resolution=cfg0.resolution, num_classes=cfg0.num_classes,
                             seed=args.seed, noise=args.noise)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckdir = args.checkpoint_dir or Path(tmp)
        ckdir.mkdir(parents=True, exist_ok=True)
        warm = ckdir / f"warmup-seed{args.seed}.pt"
        t_warm = time.perf_counter()
        train_supernet(cfg0, (x, y), hws[0], checkpoint=warm, progress=True, log=log,
                       stop_after=cfg0.warmup_steps)
        t_warm = time.perf_counter() - t_warm
        for hw in hws:
            cfg = make_config(args, hw.name)
            ck = ckdir / f"search-{hw.name}-seed{args.seed}.pt"
            if not ck.exists():
                shutil.copyfile(warm, ck)
            r = train_supernet(cfg, (x, y), hw, checkpoint=ck, progress=True, log=log)
            results[hw.name] = r
            log(f"{hw.name}: {' '.join(r.derived.names)}; simulated {r.simulated_latency_ms:.4f} ms, "
                f"E[lat] {r.expected_latency_ms:.4f} ms, val acc {r.val_accuracy:.3f}, {r.seconds:.0f} s")
    return results, t_warm


def cross_latency(results: dict, hws: list) -> dict:
    """{searched for: {runs on: simulated ms}}: every derived network on every config."""
    names = [h.name for h in hws]
    many = accelsim.simulate_many([results[n].derived.network for n in names], hws)
    return {s: {run: float(many.latency_ms[i, k]) for k, run in enumerate(names)} for i, s in enumerate(names)}


def setup_text(args, cfg0: SupernetConfig) -> str:
    """The search setup in one paragraph (skeleton, candidates, data, schedule, loss)."""
    return (f"skeleton {cfg0.resolution}x{cfg0.resolution} input, stem {cfg0.stem_channels}, stages "
            f"{list(cfg0.stage_channels)} x depths {list(cfg0.stage_depths)} (strides {list(cfg0.stage_strides)}), "
            f"head {cfg0.head_channels}; candidates {'/'.join(cfg0.blocks)} x kernels {list(cfg0.kernels)} x "
            f"expansions {list(cfg0.expansions)} (+ skip for non-first blocks); {cfg0.precision}. "
            f"{args.samples} synthetic grating images (noise {args.noise}), {cfg0.num_classes} classes; "
            f"{cfg0.steps} weight steps (batch {cfg0.batch_size}, lr {cfg0.weight_lr}), alpha steps after "
            f"{cfg0.warmup_steps} (Adam lr {cfg0.arch_lr}); loss {cfg0.loss_form} with latency weight "
            f"{cfg0.latency_weight}, T = expected latency at uniform alphas on each target; seed {cfg0.seed}.")


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    hws = [accelsim.load_hardware(h) for h in args.hardware]
    cfg0 = make_config(args, hws[0].name)
    land, _ = landscape(cfg0, hws)
    print("\n".join(land))
    results, t_warm = run_searches(args, hws)
    cross = cross_latency(results, hws)
    text = report(args, setup_text(args, cfg0), land, results, cross, t_warm, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
