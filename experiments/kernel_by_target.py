"""Kernel size and width by target: what each shipped config charges for a 7x7 over a 3x3, and what a
ProxylessNAS-style search picks on two contrasting targets.

ProxylessNAS (Cai, Zhu and Han, ICLR 2019) searched one network per device and reported that the
GPU's network came out shallower and wider, with larger (7x7) kernels, and the phone CPU's deeper and
narrower, with smaller ones. Whether a search can see such a preference depends on what the latency
model charges, so this experiment measures that first and then searches:

1. **Grid.** One inverted-bottleneck block (1x1 expand, kxk depthwise, 1x1 project, + residual at
   stride 1) per input resolution x width (channels in = out) x expansion x kernel (3, 5, 7) x
   stride, int8, simulated alone on every config in hw_configs/ (systolic and roofline) in one
   ``accelsim.simulate_many`` batch. Reported per config: latency(k7) / latency(k3), the same per
   MAC (latency ratio / MAC ratio), the depthwise layer's share of the block, where one config's
   k7/k3 ratio crosses another's, and, at about equal MACs, two blocks at width C against one at
   width round(sqrt(2) C) (narrow and deep vs wide and shallow).
2. **Search.** codesign.supernet (the machinery and settings of experiments/proxyless_kernels.py:
   the 32x32 toy skeleton, IBN / fused IBN x kernel 3/5/7 x expansion 3/6 + skip) on two targets,
   gpu_like and mobile_cpu_like by default, one shared warm-up per seed; reported: the chosen kernel,
   expansion and block per position, blocks kept per stage, with the spread over seeds.

    python experiments/kernel_by_target.py --quick     # grid + seed 0: ~5 min on 2 busy CPU cores
    python experiments/kernel_by_target.py             # grid + seeds 0 1 2: ~20 min

Writes experiments/results/kernel_by_target.{md,json,png} (with --quick: kernel_by_target_quick.*,
unless --out is given), atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import accelsim
from accelsim.config import available_hardware
from accelsim.engine import tables as T
from accelsim.io import write_atomic
from accelsim.plots import pyplot, save_figure
from codesign.supernet import SKIP, positions

if __package__:                       # imported as experiments.kernel_by_target
    from . import proxyless_kernels as PK
else:                                 # run as a script: experiments/ is on sys.path
    import proxyless_kernels as PK

HERE = Path(__file__).resolve().parent

RESOLUTIONS = (2, 4, 7, 8, 14, 16, 28, 32, 56, 112)   # px, input height = width
WIDTHS = (16, 24, 32, 64, 96, 160, 320)               # channels in = channels out
EXPANSIONS = (3, 6)
KERNELS = (3, 5, 7)
STRIDES = (1, 2)
PRECISION = "int8"
# Config pairs whose k7/k3 ratios are compared cell by cell: the README's wide-vs-default claim,
# ProxylessNAS's GPU vs phone CPU, and the widest systolic array against the smallest.
PAIRS = (("datacenter_wide", "neural_engine"), ("gpu_like", "mobile_cpu_like"), ("scalesim_google", "eyeriss_like"))
DEEP_WIDTHS = (24, 64, 160)             # C of "two blocks at C vs one at round(sqrt(2) C)"
DEEP_RESOLUTIONS = (7, 14, 28, 56)
TABLE_RESOLUTIONS = (14, 56)            # resolutions of the by-width table
TICKS = (2, 4, 7, 14, 28, 56, 112)      # resolution axis labels of the figure


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one seed (0) instead of three; the grid is the same")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="search seeds (default: 0 with --quick, else 0 1 2)")
    p.add_argument("--hardware", nargs="+", default=None,
                   help="configs of the grid (default: every config in hw_configs/)")
    p.add_argument("--search-hardware", nargs=2, default=["gpu_like", "mobile_cpu_like"],
                   help="the two targets searched")
    p.add_argument("--no-search", action="store_true", help="the grid only")
    PK.add_search_arguments(p)
    p.add_argument("--out", type=Path, default=None,
                   help="the Markdown table; .json and .png go beside it "
                        "(default: experiments/results/kernel_by_target[_quick].md)")
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    args.seed = args.seeds[0]    # the skeleton and latency tables do not depend on it; each search sets its own
    if args.out is None:
        args.out = HERE / "results" / ("kernel_by_target_quick.md" if args.quick else "kernel_by_target.md")
    if args.out.is_dir():   # checked before minutes of work, not when writing
        p.error(f"--out: expected the Markdown file's path (.json and .png go beside it), got a folder: {args.out}")
    return args


# ------------------------------------------------------------------------------------ the grid
def ibn_block(resolution: int, width: int, expansion: int, kernel: int, stride: int = 1,
              residual: bool | None = None) -> accelsim.Network:
    """One IBN block alone: (resolution, resolution, width) in, width out (residual at stride 1)."""
    b = accelsim.NetworkBuilder(f"ibn_r{resolution}_c{width}_e{expansion}_k{kernel}_s{stride}",
                                (resolution, resolution, width), PRECISION)
    b.ibn(b.input, width, expansion=expansion, kernel=kernel, stride=stride, residual=residual, name="b")
    return b.build()


def stacked_blocks(resolution: int, width: int, count: int, expansion: int = 6, kernel: int = 3) -> accelsim.Network:
    """``count`` stride-1 IBN blocks of one width in a row."""
    b = accelsim.NetworkBuilder(f"ibn{count}_r{resolution}_c{width}", (resolution, resolution, width), PRECISION)
    x = b.input
    for i in range(count):
        x = b.ibn(x, width, expansion=expansion, kernel=kernel, name=f"b{i}")
    return b.build()


def grid_keys() -> list:
    return [(r, c, e, k, s) for s in STRIDES for r in RESOLUTIONS for c in WIDTHS for e in EXPANSIONS for k in KERNELS]


def measure_grid(hws: list) -> dict:
    """Every grid block on every config: latency, the depthwise layer's latency and unit, MACs."""
    keys = grid_keys()
    nets = [ibn_block(r, c, e, k, s) for r, c, e, k, s in keys]
    many = accelsim.simulate_many(nets, hws)
    lat_us = many.latency_ms * 1e3                                   # [net, config]
    clock = np.array([h.clock_mhz for h in hws])
    dw_us = np.empty_like(lat_us)
    dw_vector = np.zeros(lat_us.shape, dtype=bool)
    for i, net in enumerate(nets):
        j = [layer.name for layer in net.layers].index("b.dw")
        for h in range(len(hws)):
            row = many.row_start[i * len(hws) + h] + j
            dw_us[i, h] = many.per_layer[T.O_TOTAL, row] / clock[h]
            dw_vector[i, h] = many.per_layer[T.O_UNIT, row] == T.UNIT_VECTOR
    dw_macs = np.array([next(layer.macs for layer in n.layers if layer.name == "b.dw") for n in nets])
    return {"keys": keys, "index": {key: i for i, key in enumerate(keys)}, "macs": np.array([n.macs for n in nets]),
            "dw_macs": dw_macs, "latency_us": lat_us, "dw_us": dw_us, "dw_vector": dw_vector,
            "feasible": many.feasible, "networks": nets}


def measure_deep_vs_wide(hws: list) -> list:
    """Two blocks at width C against one at round(sqrt(2) C), k3 e6 stride 1: about equal MACs."""
    cases, nets = [], []
    for r in DEEP_RESOLUTIONS:
        for c in DEEP_WIDTHS:
            w = int(round(c * math.sqrt(2)))
            cases.append((r, c, w))
            nets += [stacked_blocks(r, c, 2), stacked_blocks(r, w, 1)]
    lat = accelsim.simulate_many(nets, hws).latency_ms * 1e3
    out = []
    for i, (r, c, w) in enumerate(cases):
        deep, wide = nets[2 * i], nets[2 * i + 1]
        for h, hw in enumerate(hws):
            out.append({"config": hw.name, "resolution": r, "narrow_width": c, "wide_width": w,
                        "deep_macs": deep.macs, "wide_macs": wide.macs, "deep_us": float(lat[2 * i, h]),
                        "wide_us": float(lat[2 * i + 1, h])})
    return out


def ratio(grid: dict, num_k: int, den_k: int = 3, per_mac: bool = False) -> dict:
    """{(r, c, e, s): latency(k=num_k) / latency(k=den_k)} per config column (array over configs)."""
    idx, lat, macs = grid["index"], grid["latency_us"], grid["macs"]
    out = {}
    for s in STRIDES:
        for r in RESOLUTIONS:
            for c in WIDTHS:
                for e in EXPANSIONS:
                    a, b = idx[(r, c, e, num_k, s)], idx[(r, c, e, den_k, s)]
                    v = lat[a] / lat[b]
                    out[(r, c, e, s)] = v / (macs[a] / macs[b]) if per_mac else v
    return out


def mac_ratio(grid: dict, r: int, c: int, e: int, s: int = 1, num_k: int = 7) -> float:
    idx, macs = grid["index"], grid["macs"]
    return float(macs[idx[(r, c, e, num_k, s)]] / macs[idx[(r, c, e, 3, s)]])


def med_range(values) -> str:
    v = np.asarray(list(values), dtype=float)
    return f"{np.median(v):.2f} ({v.min():.2f}–{v.max():.2f})"


def runs_text(resolutions, signs: list) -> str:
    """Sign runs over the resolution axis, e.g. '< at 2–16, > at 28–112' (= within 0.5 %)."""
    parts, start = [], 0
    for i in range(1, len(signs) + 1):
        if i == len(signs) or signs[i] != signs[start]:
            lo, hi = resolutions[start], resolutions[i - 1]
            parts.append(f"{signs[start]} at {lo}" + (f"–{hi}" if hi != lo else ""))
            start = i
    return ", ".join(parts)


def sign_of(a: float, b: float, tol: float = 0.005) -> str:
    return "=" if abs(a / b - 1) <= tol else ("<" if a < b else ">")


def first_flip(resolutions, signs: list):
    """The first resolution where the sign (ignoring '=') differs from the first non-'=' sign, or None."""
    strict = [(r, s) for r, s in zip(resolutions, signs) if s != "="]
    for r, s in strict[1:]:   # (nothing to compare when every point is '=')
        if s != strict[0][1]:
            return r
    return None


# ------------------------------------------------------------------------------------ search
def run_search(args, hws: list) -> list:
    """One search per target per seed (PK.run_searches): a list of per-(seed, target) summaries."""
    rows = []
    for seed in args.seeds:
        sargs = argparse.Namespace(**{**vars(args), "seed": seed})
        results, warm_s = PK.run_searches(sargs, hws)
        cross = PK.cross_latency(results, hws)
        for hw in hws:
            r = results[hw.name]
            pos = positions(r.config)
            choices = r.derived.choices
            kernel_mass = {}
            for k in r.config.kernels:
                kernel_mass[k] = float(np.mean([sum(pr for cand, pr in zip(p.candidates, r.probs[p.index])
                                                    if cand.block != SKIP and cand.kernel == k) for p in pos]))
            kept = [(p, c) for p, c in zip(pos, choices) if c.block != SKIP]
            rows.append({
                "seed": seed, "target": hw.name, "choices": list(r.derived.names),
                "probs": [float(r.probs[p.index][j]) for p, j in zip(pos, r.derived.path)],
                "kernels": [c.kernel if c.block != SKIP else None for c in choices],
                "expansions": [c.expansion if c.block != SKIP else None for c in choices],
                "expanded_widths": [p.in_shape[2] * c.expansion if c.block != SKIP else None
                                    for p, c in zip(pos, choices)],
                "blocks": [c.block for c in choices],
                "kept_per_stage": [sum(1 for p, _ in kept if p.stage == s) for s in range(len(r.config.stage_depths))],
                "mean_kernel": float(np.mean([c.kernel for _, c in kept])),
                "mean_expansion": float(np.mean([c.expansion for _, c in kept])),
                "fused_share": float(np.mean([c.block == "fused_ibn" for _, c in kept])),
                "kernel_mass": kernel_mass, "macs": int(r.derived.network.macs),
                "simulated_latency_ms": r.simulated_latency_ms, "expected_latency_ms": r.expected_latency_ms,
                "target_ms": r.target_ms, "val_accuracy": r.val_accuracy, "cross_ms": cross[hw.name],
                "search_seconds": r.seconds, "warmup_seconds": warm_s, "device": r.device})
    return rows


# ------------------------------------------------------------------------------------ report
def grid_tables(grid: dict, hws: list, deep: list) -> tuple[list, dict]:
    """Markdown lines of part 1 and the summary numbers the JSON keeps."""
    names = [h.name for h in hws]
    r73, r53 = ratio(grid, 7), ratio(grid, 5)
    pm73 = ratio(grid, 7, per_mac=True)
    s1 = [(r, c, e, 1) for r in RESOLUTIONS for c in WIDTHS for e in EXPANSIONS]
    idx = grid["index"]
    lines = ["## 1. What each config charges for a larger kernel", "",
             f"Measured: one IBN block (1x1 expand, kxk depthwise, 1x1 project, residual add at stride 1; "
             f"{PRECISION}; channels in = out = width) alone per input resolution {list(RESOLUTIONS)} px x "
             f"width {list(WIDTHS)} x expansion {list(EXPANSIONS)} x kernel {list(KERNELS)} x stride "
             f"{list(STRIDES)}, on each of {len(names)} configs: {', '.join(names)} "
             f"({len(grid['keys'])} blocks x {len(names)} configs, one `accelsim.simulate_many` batch). "
             "Ratios below are stride 1 unless said; every cell is in the JSON.", ""]
    # ---- summary per config
    lines += ["| config | kind | k7/k3 latency: median (min–max) | k5/k3 latency | k7/k3 per MAC | "
              "cells where k7 costs less per MAC | depthwise share of a k7 block at 8 px / 56 px | "
              "depthwise runs on |",
              "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for h, hw in enumerate(hws):
        v73 = [r73[k][h] for k in s1]
        v53 = [r53[k][h] for k in s1]
        vpm = [pm73[k][h] for k in s1]
        share = {}
        for r in (8, 56):
            cells = [idx[(r, c, e, 7, 1)] for c in WIDTHS for e in EXPANSIONS]
            share[r] = float(np.median(grid["dw_us"][cells, h] / grid["latency_us"][cells, h]))
        vec = float(np.mean(grid["dw_vector"][[idx[(r, c, e, k, 1)] for (r, c, e, _) in s1 for k in KERNELS], h]))
        unit = ("vector unit" if vec == 1 else "array" if vec == 0 else f"vector unit in {vec:.0%} of cells") \
            if hw.kind == "systolic" else "depthwise rate"
        below = float(np.mean(np.array(vpm) < 1))
        lines.append(f"| {hw.name} | {hw.kind} | {med_range(v73)} | {med_range(v53)} | {med_range(vpm)} | "
                     f"{below:.0%} | {share[8]:.2f} / {share[56]:.2f} | {unit} |")
        summary[hw.name] = {"kind": hw.kind, "k7_k3_median": float(np.median(v73)), "k7_k3_min": float(min(v73)),
                            "k7_k3_max": float(max(v73)), "k5_k3_median": float(np.median(v53)),
                            "k7_k3_per_mac_median": float(np.median(vpm)), "per_mac_below_1_share": below,
                            "dw_share_k7_8px": share[8], "dw_share_k7_56px": share[56], "dw_vector_share": vec}
    # A larger kernel should change only the depthwise layer; under the `resident` placement it can
    # also change where the expanded tensor lives (a bigger depthwise tiles differently), and with it
    # the cost of the layers around it.
    other = grid["latency_us"] - grid["dw_us"]
    moved = {}
    for (r, c, e, s) in [(r, c, e, s) for s in STRIDES for r in RESOLUTIONS for c in WIDTHS for e in EXPANSIONS]:
        a, b = idx[(r, c, e, 3, s)], idx[(r, c, e, 7, s)]
        for h, hw in enumerate(hws):
            if not np.isclose(other[a, h], other[b, h], rtol=1e-9, atol=0):
                moved.setdefault(hw.name, []).append((float(other[b, h] / other[a, h]), (r, c, e, s)))
    macs_all = [mac_ratio(grid, r, c, e) for (r, c, e, _) in s1]
    lines += ["", f"MACs of a k7 block / a k3 block (the same on every config): (2C + 49) / (2C + 9) at stride 1, "
              f"C the width: {min(macs_all):.2f} (C = {max(WIDTHS)}) to {max(macs_all):.2f} (C = {min(WIDTHS)}). "
              "Per MAC = latency ratio / MAC ratio: below 1, the k7 block gets more MACs per unit of time than "
              "the k3 one.", ""]
    n_cells = len(RESOLUTIONS) * len(WIDTHS) * len(EXPANSIONS) * len(STRIDES)
    if moved:
        worst = {n: max(v, key=lambda t: abs(math.log(t[0]))) for n, v in moved.items()}
        lines += ["The kernel changed the cost of layers other than the depthwise one (where the `resident` "
                  "placement keeps the expanded tensor: a larger depthwise tiles differently) in "
                  + ", ".join(f"{n} {len(v)}" for n, v in sorted(moved.items())) + f" of {n_cells} cells per config; "
                  "largest effect per config (rest of the block, k7 / k3): "
                  + "; ".join(f"{n} {w[0]:.2f} at {w[1][0]} px, C {w[1][1]}, e{w[1][2]}, stride {w[1][3]}"
                              for n, w in sorted(worst.items())) + ". Elsewhere only the depthwise layer changes.",
                  ""]
    else:
        lines += ["In every cell the kernel changed only the depthwise layer's cost.", ""]
    # ---- k7/k3 by resolution
    lines += ["### k7/k3 latency by input resolution", "",
              "Median over widths and both expansions (min–max), stride 1:", "",
              "| config | " + " | ".join(f"{r} px" for r in RESOLUTIONS) + " |",
              "|---|" + "---|" * len(RESOLUTIONS)]
    by_res = {}
    for h, hw in enumerate(hws):
        cells = []
        for r in RESOLUTIONS:
            v = [r73[(r, c, e, 1)][h] for c in WIDTHS for e in EXPANSIONS]
            cells.append(med_range(v))
            by_res.setdefault(hw.name, {})[r] = float(np.median(v))
        lines.append(f"| {hw.name} | " + " | ".join(cells) + " |")
    systolic = [h for h in hws if h.kind == "systolic"]
    lines.append("| lowest (systolic) | " + " | ".join(min(systolic, key=lambda h: by_res[h.name][r]).name
                                                     for r in RESOLUTIONS) + " |")
    lines.append("| lowest (all) | " + " | ".join(min(hws, key=lambda h: by_res[h.name][r]).name
                                                for r in RESOLUTIONS) + " |")
    def stride2(h, r):
        return np.median([r73[(r, c, e, 2)][h] for c in WIDTHS for e in EXPANSIONS])

    lines += ["", "Stride 2 (the first block of a stage), median over widths and expansions: "
              + "; ".join(f"{hw.name} " + "/".join(f"{stride2(h, r):.2f}" for r in (8, 28, 112))
                          for h, hw in enumerate(hws)) + " (at 8 / 28 / 112 px).", ""]
    # ---- k7/k3 by width
    for res in TABLE_RESOLUTIONS:
        lines += [f"### k7/k3 latency by width at {res} px, expansion 6", "",
                  "| config | " + " | ".join(f"C {c}" for c in WIDTHS) + " |", "|---|" + "---|" * len(WIDTHS)]
        for h, hw in enumerate(hws):
            lines.append(f"| {hw.name} | " + " | ".join(f"{r73[(res, c, 6, 1)][h]:.2f}" for c in WIDTHS) + " |")
        lines.append("| MACs k7/k3 | " + " | ".join(f"{mac_ratio(grid, res, c, 6):.2f}" for c in WIDTHS) + " |")
        lines.append("")
    # ---- per MAC by resolution
    lines += ["### k7/k3 latency per MAC by input resolution", "",
              "Median over widths and both expansions (min–max), stride 1; below 1: a k7 block uses the "
              "device better than a k3 one:", "",
              "| config | " + " | ".join(f"{r} px" for r in RESOLUTIONS) + " |",
              "|---|" + "---|" * len(RESOLUTIONS)]
    for h, hw in enumerate(hws):
        lines.append(f"| {hw.name} | " + " | ".join(
            med_range([pm73[(r, c, e, 1)][h] for c in WIDTHS for e in EXPANSIONS]) for r in RESOLUTIONS) + " |")
    # ---- flips between configs
    lines += ["", "### Where the preference flips", "",
              "For each pair, per width (expansion 6, stride 1): how config A's k7/k3 latency ratio compares "
              "with config B's along the resolution axis (`<`: A charges relatively less for the 7x7, i.e. "
              "prices it cheaper; `=` within 0.5 %), and the first resolution where the order reverses.", "",
              "| A vs B | width | A's k7/k3 against B's, by resolution (px) | flips at |", "|---|---|---|---|"]
    flips = []
    for a, b in PAIRS:
        if a not in names or b not in names:
            continue
        ha, hb = names.index(a), names.index(b)
        for c in WIDTHS:
            signs = [sign_of(r73[(r, c, 6, 1)][ha], r73[(r, c, 6, 1)][hb]) for r in RESOLUTIONS]
            flip = first_flip(RESOLUTIONS, signs)
            lines.append(f"| {a} vs {b} | {c} | {runs_text(RESOLUTIONS, signs)} | "
                         f"{f'{flip} px' if flip else 'no flip'} |")
            flips.append({"a": a, "b": b, "width": c, "expansion": 6, "signs": signs, "flip_px": flip,
                          "a_ratio": [float(r73[(r, c, 6, 1)][ha]) for r in RESOLUTIONS],
                          "b_ratio": [float(r73[(r, c, 6, 1)][hb]) for r in RESOLUTIONS]})
    lines += ["", "Per config, where k7 turns from cheaper to dearer per MAC than k3 (expansion 6, stride 1; "
              "`<`: per-MAC ratio below 1):", "",
              "| config | " + " | ".join(f"C {c}" for c in WIDTHS) + " |", "|---|" + "---|" * len(WIDTHS)]
    per_mac_above = {}
    for h, hw in enumerate(hws):
        cells = []
        for c in WIDTHS:
            signs = [sign_of(pm73[(r, c, 6, 1)][h], 1.0) for r in RESOLUTIONS]
            cells.append(runs_text(RESOLUTIONS, signs))
            # from which resolution on k7 stays dearer per MAC (None: not by 112 px)
            above = [r for i, r in enumerate(RESOLUTIONS) if all(x == ">" for x in signs[i:])]
            per_mac_above.setdefault(hw.name, {})[c] = above[0] if above else None
        lines.append(f"| {hw.name} | " + " | ".join(cells) + " |")
    # ---- deep vs wide
    lines += ["", "### Narrow and deep vs wide and shallow", "",
              f"Two k3 e6 blocks at width C against one at width round(sqrt(2) C), C in {list(DEEP_WIDTHS)} "
              "(about equal MACs); latency(deep) / latency(wide), median over the widths (min–max); above 1, "
              "the config prefers the wide, shallow network at equal MACs. Per MAC in brackets (median).", "",
              "| config | " + " | ".join(f"{r} px" for r in DEEP_RESOLUTIONS) + " |",
              "|---|" + "---|" * len(DEEP_RESOLUTIONS)]
    deep_summary = {}
    for hw in hws:
        cells = []
        for r in DEEP_RESOLUTIONS:
            rows = [d for d in deep if d["config"] == hw.name and d["resolution"] == r]
            v = [d["deep_us"] / d["wide_us"] for d in rows]
            pm = [d["deep_us"] / d["wide_us"] / (d["deep_macs"] / d["wide_macs"]) for d in rows]
            cells.append(f"{med_range(v)} [{np.median(pm):.2f}]")
            deep_summary.setdefault(hw.name, {})[r] = float(np.median(v))
        lines.append(f"| {hw.name} | " + " | ".join(cells) + " |")
    macs_q = sorted({d["deep_macs"] / d["wide_macs"] for d in deep})
    lines += ["", f"MACs deep / wide: {macs_q[0]:.3f} to {macs_q[-1]:.3f}.", ""]
    numbers = {"summary": summary, "other_layers_changed": {n: len(v) for n, v in moved.items()},
               "per_mac_dearer_from_px": per_mac_above, "k7_k3_median_by_resolution": by_res, "flips": flips,
               "deep_over_wide_median": deep_summary}
    return lines, numbers


def roofline_lines(hws: list) -> list:
    """The roofline configs' depthwise ridge points, against a kxk int8 depthwise layer's intensity."""
    lines = ["| roofline config | per-layer overhead (us) | depthwise int8 peak (Gop/s) | DRAM (GB/s) | "
             "ridge (ops/byte) | k3 / k7 depthwise intensity (ops/byte) | a large depthwise layer is |",
             "|---|---|---|---|---|---|---|"]
    for hw in hws:
        if hw.kind != "roofline":
            continue
        rate = next(f for f in hw.precisions if f.name == PRECISION).depthwise_gops
        ridge = rate / hw.dram.bandwidth_gb_per_s
        bound = ("memory-bound at k3 and k7" if ridge > 49 else "compute-bound at k3 and k7" if ridge < 9
                 else "memory-bound at k3, compute-bound at k7")
        lines.append(f"| {hw.name} | {hw.roofline.layer_overhead_us:g} | {rate:g} | {hw.dram.bandwidth_gb_per_s:g} | "
                     f"{ridge:.1f} | 9 / 49 | {bound} |")
    return lines


def systolic_lines(hws: list, numbers: dict) -> list:
    """The systolic configs' array against vector unit, placement and bandwidth, beside their k7/k3."""
    by_res = numbers["k7_k3_median_by_resolution"]
    lines = ["| systolic config | array (dataflow) | int8 MACs per cycle: array / vector unit (ratio) | placement | "
             "DRAM (GB/s) | k7/k3 median at 2 / 14 / 112 px |", "|---|---|---|---|---|---|"]
    for hw in hws:
        if hw.kind != "systolic":
            continue
        array = hw.array.rows * hw.array.cols * next(f.macs_per_pe_per_cycle for f in hw.precisions
                                                     if f.name == PRECISION)
        vector = hw.vector.lanes * hw.vector.ops(PRECISION)
        lines.append(f"| {hw.name} | {hw.array.rows}x{hw.array.cols} ({hw.array.dataflow}) | {array:,} / {vector:g} "
                     f"({array / vector:.0f}:1) | {hw.activation_policy} | {hw.dram.bandwidth_gb_per_s:g} | "
                     + " / ".join(f"{by_res[hw.name][r]:.2f}" for r in (2, 14, 112)) + " |")
    return lines


def why_lines(numbers: dict, search_summary: dict, targets: list, seeds: list, n_positions: int = 0,
              toy_ratios: dict | None = None) -> list:
    """What the model says about why each target prices a 7x7 as it does, and where that departs from
    ProxylessNAS; every number comes from this run."""
    sm, by_res, deep = numbers["summary"], numbers["k7_k3_median_by_resolution"], numbers["deep_over_wide_median"]
    above = numbers["per_mac_dearer_from_px"]

    def rng(name):
        return f"{sm[name]['k7_k3_min']:.2f}–{sm[name]['k7_k3_max']:.2f}"

    def deep_rng(name):
        v = list(deep.get(name, {}).values())
        return f"{min(v):.2f}–{max(v):.2f}" if v else "n/a"

    def per_mac_from(name):
        firsts = {c: r for c, r in above[name].items()}
        always = [c for c, r in firsts.items() if r == RESOLUTIONS[0]]
        later = [r for r in firsts.values() if r not in (None, RESOLUTIONS[0])]
        text = f"from {min(later)}–{max(later)} px on, depending on the width" if later else ""
        if always:
            text += (", and " if text else "") + f"at every resolution for C >= {min(always)}"
        return text or "nowhere in the grid"

    lines = ["## Why, from the model", ""]
    if "gpu_like" in sm:
        lines += [f"- **gpu_like** (batch-1 roofline: 5 us launch per layer, depthwise on the CUDA-core rate, "
                  f"1,008 GB/s): k7/k3 {rng('gpu_like')} over the whole grid. A small block is three or four "
                  "launches, so its compute hardly shows; a large block's depthwise layer is memory-bound at "
                  "both kernels (about 9 and 49 ops per byte, below the ridge of 81.9), so the 7x7 adds only "
                  "its 40 x C_expanded extra weight bytes. Per MAC the 7x7 is always the better use of the "
                  f"device (median {sm['gpu_like']['k7_k3_per_mac_median']:.2f}). At about equal MACs, one wide "
                  f"block is {deep_rng('gpu_like')}x faster than two narrow ones: every layer saved is a "
                  "launch saved."]
    if "dsp_like" in sm:
        lines += [f"- **dsp_like** behaves alike for the same reason (10 us per layer): k7/k3 {rng('dsp_like')}, "
                  f"one wide block {deep_rng('dsp_like')}x faster than two narrow ones."]
    if "mobile_cpu_like" in sm:
        lines += [f"- **mobile_cpu_like** (one big core: 2 us dispatch, ridge 2.7 ops/byte, int8 depthwise at "
                  "half the dense rate): every large depthwise layer is compute-bound, so the 7x7 pays 49/9 of "
                  "the depthwise time, and per MAC it is dearer than a 3x3 (expansion 6) "
                  f"{per_mac_from('mobile_cpu_like')}; k7/k3 {rng('mobile_cpu_like')}, highest for narrow blocks "
                  "at high resolution, where the depthwise layer is the largest share. Width and depth cost about "
                  f"their MACs: one wide block beats two narrow ones by only {deep_rng('mobile_cpu_like')}x at "
                  "equal MACs (the dispatch and the efficiency curve of small layers)."]
    systolic = [n for n, v in sm.items() if v["kind"] == "systolic"]
    bounded = [n for n in systolic if n != "scalesim_google"]
    if bounded:
        lo = [by_res[n][RESOLUTIONS[0]] for n in bounded]
        hi = [by_res[n][RESOLUTIONS[-1]] for n in bounded]
        text = ("- **systolic configs**: the 1x1 layers run on the array and the depthwise layer on the vector "
                "unit, which does 1/12 to 1/256 of the array's int8 MACs per cycle (table above; eyeriss_like, "
                "with 4 lanes, runs most depthwise layers on the array at low utilisation instead). So the "
                "depthwise layer, whose work grows with k^2, becomes the block's bottleneck as the feature map "
                "grows, while on a few pixels each layer's fixed costs (fill and drain of the array, DMA "
                "latency, per-tile set-up) dilute it: median k7/k3 "
                f"{min(lo):.2f}–{max(lo):.2f} at {RESOLUTIONS[0]} px and {min(hi):.2f}–{max(hi):.2f} at "
                f"{RESOLUTIONS[-1]} px over {', '.join(bounded)}.")
        if "datacenter_wide" in by_res and "neural_engine" in by_res:
            text += (" The more lopsided the array/vector ratio, the lower the ratio on tiny maps (a big array's "
                     "long fill and drain) and the higher it climbs (the vector unit is the whole cost): "
                     f"datacenter_wide (64:1) goes from {by_res['datacenter_wide'][RESOLUTIONS[0]]:.2f} to "
                     f"{by_res['datacenter_wide'][RESOLUTIONS[-1]]:.2f}, neural_engine (16:1) from "
                     f"{by_res['neural_engine'][RESOLUTIONS[0]]:.2f} to {by_res['neural_engine'][RESOLUTIONS[-1]]:.2f}"
                     "; where they cross is in the flip table.")
        if "scalesim_google" in by_res:
            v = by_res["scalesim_google"].values()
            text += (" scalesim_google (256x256, every tensor through a 10 GB/s DRAM) is bound by DRAM traffic "
                     f"more than by the kernel: median k7/k3 {min(v):.2f}–{max(v):.2f}.")
        lines.append(text)
    if search_summary:
        a, b = targets
        sa, sb = search_summary[a], search_summary[b]

        def m(sx, key):
            v = sx[key]
            return f"{v['mean']:.2f}" + (f" ({v['min']:.2f}–{v['max']:.2f})" if len(v["values"]) > 1 else "")

        lines += ["", f"**The searches** ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}; 32x32 toy skeleton, "
                  "so every searched position sees 16 px or less): mean kernel of the kept blocks "
                  f"{a} {m(sa, 'mean kernel')} vs {b} {m(sb, 'mean kernel')}; share of kept blocks with a 7x7 "
                  f"{m(sa, 'share of kept blocks with k7')} vs {m(sb, 'share of kept blocks with k7')}; softmax "
                  f"mass on 7x7 {m(sa, 'softmax mass on k7, mean over positions')} vs "
                  f"{m(sb, 'softmax mass on k7, mean over positions')}; mean expansion "
                  f"{m(sa, 'mean expansion')} vs {m(sb, 'mean expansion')}; blocks kept "
                  f"{m(sa, 'blocks kept')} vs {m(sb, 'blocks kept')} of {n_positions}; fused-IBN share "
                  f"{m(sa, 'fused IBN share')} vs {m(sb, 'fused IBN share')}. Where the latency term is flat "
                  "in a choice, the accuracy gradient of this short, synthetic training decides it, and that "
                  "signal is noisy: read the spread over seeds, not one seed."]
        if toy_ratios:
            lines += ["", "What the latency term charged at the toy skeleton's positions (geometric mean of one "
                      "choice against another, the others held equal): "
                      + "; ".join(f"{label} {toy_ratios[label][a]:.2f}x on {a}, {toy_ratios[label][b]:.2f}x on {b}"
                                  for label in toy_ratios) + "."]
    flip = [f for f in numbers["flips"] if (f["a"], f["b"]) == ("datacenter_wide", "neural_engine")]
    wide_text = ""
    if flip and all(f["flip_px"] for f in flip):
        last_below = min(max(r for r, sg in zip(RESOLUTIONS, f["signs"]) if sg == "<") for f in flip)
        at = sorted({f["flip_px"] for f in flip})
        wide_text = (" The wide datacenter_wide prices a 7x7 relatively cheaper than neural_engine only on "
                     f"small feature maps ({last_below} px and below at every width measured), the regime of the "
                     f"32x32 toy network; from {at[0]}–{at[-1]} px on (depending on the width) it prices it dearer.")
    lines += ["", "## Where this differs from ProxylessNAS", "",
              "- ProxylessNAS measured real devices at 224 px on ImageNet; here the latencies are the simulator's "
              "(batch 1) and the search is a 32x32 toy on synthetic data. The grid is the part that speaks to "
              "the devices; the searches only show what the latency term pushes towards.",
              "- **GPU**: same direction. gpu_like charges almost nothing for a 7x7 and strongly prefers fewer, "
              "wider layers; but in this model the reason is the per-layer launch and, for large layers, DRAM "
              "bandwidth (depthwise is memory-bound), not spare parallelism.",
              "- **Phone CPU**: same direction for kernels (a 7x7 costs about its MACs or more); for depth, the "
              "model makes deep networks only slightly dearer than wide ones at equal MACs, so a preference for "
              "narrow and deep would have to come from accuracy, not latency.",
              "- **Systolic accelerators** (not in ProxylessNAS): a wide array does not make big kernels cheap, "
              "because the depthwise layer runs on the vector unit." + wide_text]
    if search_summary:
        a, b = targets
        sa, sb = search_summary[a], search_summary[b]
        k7a, k7b = sa["share of kept blocks with k7"]["mean"], sb["share of kept blocks with k7"]["mean"]
        ea, eb = sa["mean expansion"]["mean"], sb["mean expansion"]["mean"]
        da, db = sa["blocks kept"]["mean"], sb["blocks kept"]["mean"]
        parts = [(f"{a}'s networks were wider (mean expansion {ea:.2f} vs {eb:.2f})" if ea > eb else
                  f"{a}'s networks were not wider (mean expansion {ea:.2f} vs {eb:.2f})"),
                 (f"{a} took the 7x7 in {k7a:.0%} of its kept blocks ({b}: {k7b:.0%})" +
                  (": the 7x7 preference reproduces" if k7a > 0.5 and k7a > k7b else
                   ": a latency term that stops penalising the 7x7 does not make the search take it; nothing "
                   "in this short synthetic training rewarded it")),
                 (f"depth did not separate them (both kept {da:.1f} of {n_positions} blocks: at this latency "
                  "weight both dropped every optional block)" if da == db else
                  f"{a} kept {da:.1f} and {b} {db:.1f} of {n_positions} blocks")]
        lines.append(f"- **The toy searches** ({a} vs {b}, seeds {', '.join(map(str, seeds))}): " + "; ".join(parts)
                     + ".")
    return lines + [""]


def search_tables(rows: list, targets: list, args, land: list, cfg_text: str) -> tuple[list, dict]:
    seeds = sorted({r["seed"] for r in rows})
    pos = positions(PK.make_config(args, targets[0]))
    by = {(r["target"], r["seed"]): r for r in rows}
    lines = ["## 2. What the search picks on two targets", "",
             "Setup (experiments/proxyless_kernels.py's functions and defaults): " + cfg_text.replace(
                 f"seed {args.seed}.", f"seeds {', '.join(map(str, seeds))}."), "",
             "What the latency term sees (each candidate alone at its position; seed-independent):", ""] + land
    lines += ["", "### Chosen block per position", "",
              "Argmax of softmax(alpha) per seed: `I`/`F` = IBN / fused IBN, then kernel and expansion "
              "(`I7e6`: IBN, 7x7, expansion 6); `-` = skipped.", "",
              "| position | input | " + " | ".join(f"{t} s{s}" for t in targets for s in seeds) + " |",
              "|---|---|" + "---|" * (len(targets) * len(seeds))]

    def short(name: str) -> str:
        if name == SKIP:
            return "-"
        block, k, e = name.rsplit("_", 2)
        return f"{'F' if block == 'fused_ibn' else 'I'}{k[1:]}e{e[1:]}"

    for p in pos:
        lines.append(f"| {p.name} | {'x'.join(map(str, p.in_shape))} | "
                     + " | ".join(short(by[(t, s)]["choices"][p.index]) for t in targets for s in seeds) + " |")
    lines += ["", "### Summary over seeds", "",
              "mean ± sd over seeds (min–max); kernels, expansions and block kinds over the kept blocks.", "",
              "| | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]

    def spread(t, fn, fmt="{:.2f}"):
        v = np.array([fn(by[(t, s)]) for s in seeds], dtype=float)
        sd = v.std(ddof=1) if len(v) > 1 else 0.0
        return (fmt.format(v.mean()) + f" ± {fmt.format(sd)} ({fmt.format(v.min())}–{fmt.format(v.max())})"
                if len(v) > 1 else fmt.format(v[0]))

    stats = [("mean kernel", lambda r: r["mean_kernel"], "{:.2f}"),
             ("share of kept blocks with k7", lambda r: np.mean([k == 7 for k in r["kernels"] if k]), "{:.2f}"),
             ("share of kept blocks with k3", lambda r: np.mean([k == 3 for k in r["kernels"] if k]), "{:.2f}"),
             ("softmax mass on k7, mean over positions", lambda r: r["kernel_mass"][7], "{:.2f}"),
             ("softmax mass on k3, mean over positions", lambda r: r["kernel_mass"][3], "{:.2f}"),
             ("mean expansion", lambda r: r["mean_expansion"], "{:.2f}"),
             ("mean expanded width (channels)", lambda r: np.mean([w for w in r["expanded_widths"] if w]), "{:.1f}"),
             ("fused IBN share", lambda r: r["fused_share"], "{:.2f}"),
             ("blocks kept", lambda r: sum(r["kept_per_stage"]), "{:.2f}"),
             ("MACs (M)", lambda r: r["macs"] / 1e6, "{:.2f}"),
             ("val accuracy", lambda r: r["val_accuracy"], "{:.3f}")]
    summary = {}
    for label, fn, fmt in stats:
        lines.append(f"| {label} | " + " | ".join(spread(t, fn, fmt) for t in targets) + " |")
        for t in targets:
            v = [float(fn(by[(t, s)])) for s in seeds]
            summary.setdefault(t, {})[label] = {"mean": float(np.mean(v)), "min": min(v), "max": max(v), "values": v}
    lines.append("| blocks kept per stage, per seed | " + " | ".join(
        "; ".join(str(by[(t, s)]["kept_per_stage"]) for s in seeds) for t in targets) + " |")
    lines += ["", "### Each derived network on both targets (simulated, us; mean over seeds)", "",
              "| searched for \\ runs on | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for t in targets:
        lines.append(f"| {t} | " + " | ".join(
            f"{np.mean([by[(t, s)]['cross_ms'][u] for s in seeds]) * 1e3:.2f}" for u in targets) + " |")
    lines += ["", "Search time per target and seed (s): " + "; ".join(
        f"{t} " + "/".join(f"{by[(t, s)]['search_seconds']:.0f}" for s in seeds) for t in targets) + ".", ""]
    return lines, summary


def plot(grid: dict, hws: list, rows: list, targets: list, args, path: Path) -> None:
    plt = pyplot()
    r73, pm73 = ratio(grid, 7), ratio(grid, 7, per_mac=True)
    panels = 4 if rows else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.8 * panels, 5.0))
    cmap = plt.get_cmap("tab20")
    for ax, c in zip(axes[:2], (32, 160)):
        for h, hw in enumerate(hws):
            ax.plot(RESOLUTIONS, [r73[(r, c, 6, 1)][h] for r in RESOLUTIONS], marker="o", ms=3,
                    ls="--" if hw.kind == "roofline" else "-", color=cmap(h), label=hw.name)
        ax.plot(RESOLUTIONS, [mac_ratio(grid, r, c, 6) for r in RESOLUTIONS], color="k", ls=":", lw=2,
                label="MAC ratio")
        ax.set_xscale("log")
        ax.set_xticks(TICKS, [str(r) for r in TICKS])
        ax.minorticks_off()
        ax.set_xlabel("input resolution (px)")
        ax.set_ylabel("latency(k7) / latency(k3)")
        ax.set_title(f"IBN block, width {c}, expansion 6, stride 1")
        ax.grid(alpha=0.3)
    ax = axes[2]
    for h, hw in enumerate(hws):
        ax.plot(RESOLUTIONS, [np.median([pm73[(r, c, e, 1)][h] for c in WIDTHS for e in EXPANSIONS])
                              for r in RESOLUTIONS], marker="o", ms=3, ls="--" if hw.kind == "roofline" else "-",
                color=cmap(h))
    ax.axhline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    ax.set_xticks(TICKS, [str(r) for r in TICKS])
    ax.minorticks_off()
    ax.set_xlabel("input resolution (px)")
    ax.set_ylabel("k7/k3 latency per MAC (median over widths, expansions)")
    ax.set_title("below 1: the 7x7 uses the device better")
    ax.grid(alpha=0.3)
    if rows:
        ax = axes[3]
        pos = positions(PK.make_config(args, targets[0]))
        seeds = sorted({r["seed"] for r in rows})
        for ti, t in enumerate(targets):
            for si, s in enumerate(seeds):
                r = next(x for x in rows if x["target"] == t and x["seed"] == s)
                xs = [p.index + (ti - 0.5) * 0.3 + (si - (len(seeds) - 1) / 2) * 0.06 for p in pos]
                ks = [k if k else 0 for k in r["kernels"]]
                ax.scatter(xs, ks, color=("C0", "C3")[ti % 2], s=25, alpha=0.8,
                           label=t if si == 0 else None)
        ax.set_xticks([p.index for p in pos], [p.name for p in pos])
        ax.set_yticks([0, 3, 5, 7], ["skip", "3", "5", "7"])
        ax.set_ylabel("chosen kernel")
        ax.set_title(f"supernet search, 32 px toy skeleton, seeds {','.join(map(str, seeds))}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    save_figure(fig, path, dpi=80)


def command_line(argv) -> str:
    return " ".join(["python", "experiments/kernel_by_target.py"] + list(argv))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    t0 = time.perf_counter()
    names = args.hardware or sorted(available_hardware())
    hws = [accelsim.load_hardware(n) for n in names]
    grid = measure_grid(hws)
    skipped = []           # a config on which some grid block cannot run: one line, then left out
    for h, hw in enumerate(hws):
        if not grid["feasible"][:, h].all():
            net = grid["networks"][int(np.argmin(grid["feasible"][:, h]))]
            try:
                accelsim.simulate(net, hw)
                why = "infeasible"
            except accelsim.AccelsimError as exc:
                why = str(exc)
            skipped.append(f"{hw.name} skipped: {why}")
    if skipped:
        hws = [hw for h, hw in enumerate(hws) if grid["feasible"][:, h].all()]
        names = [hw.name for hw in hws]
        grid = measure_grid(hws)
    deep = measure_deep_vs_wide(hws)
    lines1, numbers = grid_tables(grid, hws, deep)
    t_grid = time.perf_counter() - t0
    print("\n".join(lines1))
    rows, search_summary, lines2, toy_ratios = [], {}, [], {}
    targets = list(args.search_hardware)
    if not args.no_search:
        import torch
        torch.set_num_threads(args.threads)
        shws = [accelsim.load_hardware(n) for n in targets]
        cfg0 = PK.make_config(args, targets[0])
        land, tables = PK.landscape(cfg0, shws)
        toy_ratios = PK.choice_ratios(cfg0, tables)
        rows = run_search(args, shws)
        cfg_text = PK.setup_text(args, cfg0)
        lines2, search_summary = search_tables(rows, targets, args, land, cfg_text)
    seconds = time.perf_counter() - t0
    seeds_text = ", ".join(map(str, args.seeds)) if not args.no_search else "none (no search)"
    head = [f"Command: `{command_line(argv)}`; seeds: {seeds_text}", "",
            "# Kernel size and width by target", "",
            f"Total {seconds:.0f} s (grid {t_grid:.0f} s); simulated latencies are deterministic, the search "
            "depends on the seed. Figure: `kernel_by_target.png` (k7/k3 latency vs resolution at widths 32 "
            "and 160, per-MAC ratio, chosen kernels).", "",
            "Scope: every number below is for the blocks, resolutions, widths and configs named beside it; "
            "none says what happens outside them.", ""] + [f"- {line}" for line in skipped] + ([""] if skipped else [])
    roof = ["### Roofline configs: what bounds a depthwise layer", "",
            "A kxk int8 depthwise layer does 2 k^2 ops per output and moves about 2 bytes per output (input "
            "and output once), so its intensity is about k^2 ops per byte; above the device's ridge point "
            "(depthwise peak / DRAM bandwidth) it is compute-bound and its time grows with k^2, below it "
            "the time is its bytes and hardly depends on k. The per-layer overhead is added to every layer "
            "whatever its size.", ""] + roofline_lines(hws) + [""]
    syst = ["### Systolic configs: array against vector unit", ""] + systolic_lines(hws, numbers) + [""]
    why = why_lines(numbers, search_summary, targets, args.seeds, len(rows[0]["choices"]) if rows else 0,
                    toy_ratios)
    text = "\n".join(head + lines1 + roof + syst + lines2 + why)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, text + "\n")
    js = {"command": command_line(argv), "seeds": args.seeds if not args.no_search else [], "skipped": skipped,
          "grid": {"resolutions": list(RESOLUTIONS), "widths": list(WIDTHS), "expansions": list(EXPANSIONS),
                   "kernels": list(KERNELS), "strides": list(STRIDES), "precision": PRECISION,
                   "block": "IBN: 1x1 expand, kxk depthwise, 1x1 project, residual add at stride 1; "
                            "channels in = out = width",
                   "configs": names,
                   "cells": ["resolution", "width", "expansion", "kernel", "stride"],
                   "keys": [list(k) for k in grid["keys"]], "macs": grid["macs"].tolist(),
                   "dw_macs": grid["dw_macs"].tolist(),
                   "latency_us": np.round(grid["latency_us"], 3).tolist(),
                   "dw_latency_us": np.round(grid["dw_us"], 3).tolist(),
                   "dw_on_vector_unit": grid["dw_vector"].astype(int).tolist(),
                   "feasible": grid["feasible"].astype(int).tolist()},
          "grid_summary": numbers, "deep_vs_wide": deep,
          "search": {"targets": targets, "runs": rows, "summary": search_summary}}
    # compact: the grid arrays are ~10k numbers each
    write_atomic(out.with_suffix(".json"), json.dumps(js, separators=(",", ":")))
    plot(grid, hws, rows, targets, args, out.with_suffix(".png"))
    print("\n".join(roof + syst + lines2 + why))
    print(f"wrote {out} (+ .json, .png) in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
