"""Calibrating to measured devices: every device column of a NAS-Bench-201 latency table, a base
config per device family, a few calibration architectures each, scored on all the others.

    python experiments/calibrate_devices.py TABLE.csv [--samples 20] [--curve 5 10 20 50 100]
        [--curve-test 2000] [--seed 0] [--devices a,b,...] [--results experiments/results]

``TABLE.csv``: one row per NAS-Bench-201 architecture (``arch_str``) and one latency column (ms) per
device, as HELP publishes it (Lee et al., NeurIPS 2021, ``HayeonLee/HELP``; batch size after the last
underscore for the GPUs). For each device, :func:`accelsim.calibration.held_out_fit` draws ``--samples``
architectures (seeded, the same rows for every device), calibrates the family's base config with the
default keys (:func:`accelsim.calibration.default_fit`), and scores it on every other architecture
beside FLOPs and parameter counts (one scale fitted on the same rows) and the measured-mode estimator
trained on the same rows. ``--curve``: the same at other sample counts, scored on ``--curve-test``
held-out architectures (a fixed seeded draw), for the sample-efficiency plot.

Base configs (a stated rule, not a per-device choice): GPUs -> ``gpu_like`` (fp32), server and phone
CPUs and the Raspberry Pi -> ``mobile_cpu_like`` (fp32), Eyeriss -> ``eyeriss_like`` (int16), the FPGA
accelerator -> ``neural_engine`` (int8). Writes ``<results>/calibrate_devices.{md,json,png}``
atomically; the first line of the Markdown is the command that made it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from accelsim.calibration import default_fit, held_out_fit
from accelsim.config import load_hardware
from accelsim.io import atomic_open, write_atomic
from accelsim.workload.precision_policy import uniform
from codesign.estimator import measured as M

FAMILIES = (   # (device-name prefixes, base config, format the networks run in)
    (("1080ti", "2080ti", "titanx", "titan_rtx"), "gpu_like", "fp32"),
    (("silver", "gold", "pixel", "essential", "samsung", "raspi"), "mobile_cpu_like", "fp32"),
    (("eyeriss",), "eyeriss_like", "int16"),
    (("fpga",), "neural_engine", "int8"),
)
PREDICTORS = ("calibrated", "FLOPs", "learned estimator")


def family(device: str) -> tuple:
    for prefixes, hw, fmt in FAMILIES:
        if device.startswith(prefixes):
            return hw, fmt
    raise SystemExit(f"calibrate_devices: no base config for device {device!r}; add its family to FAMILIES")


def _cmd() -> str:
    args = [Path(a).name if Path(a).is_file() or "/" in a else a for a in sys.argv[1:]]
    return "python experiments/calibrate_devices.py " + " ".join(shlex.quote(a) for a in args)


def markdown(command: str, rows: list, curve: dict, args) -> str:
    lines = [f"`{command}`", "",
             "(`TABLE.csv`: HELP's NAS-Bench-201 latency table, one `arch_str` row per architecture and one latency "
             "column per device; Lee et al., NeurIPS 2021, `HayeonLee/HELP`.)", "",
             f"# Calibrating to measured devices: {args.samples} calibration architectures per device", "",
             f"Calibration rows: {args.samples} drawn with seed {args.seed} (the same rows for every device); scored on "
             "every other architecture of the column. Spearman's rho and Kendall's tau-b of predicted against measured "
             "latency; MAPE and the share within ±10 % of the calibrated config (FLOPs: one scale fitted on the same "
             "rows; learned estimator: the measured-mode estimator trained on the same rows).", "",
             "| device | base | keys | fit s | calibrated Spearman | FLOPs | learned estimator | calibrated Kendall "
             "| MAPE | within ±10 % | best |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        h = r["held_out"]
        sp = {p: h[p]["spearman"] for p in PREDICTORS if p in h}
        best = max(sp, key=lambda p: sp[p])
        lines.append(f"| {r['device']} | {r['base']} ({r['format']}) | {len(r['fit']['keys'])} | "
                     f"{r['fit']['seconds']:.1f} | {sp['calibrated']:.3f} | {sp['FLOPs']:.3f} | "
                     f"{sp.get('learned estimator', float('nan')):.3f} | {h['calibrated']['kendall']:.3f} | "
                     f"{h['calibrated']['mape_pct']:.1f} % | {h['calibrated']['within_10_pct']:.1f} % | {best} |")
    med = {p: float(np.median([r["held_out"][p]["spearman"] for r in rows])) for p in PREDICTORS}
    beats_flops = sum(r["held_out"]["calibrated"]["spearman"] > r["held_out"]["FLOPs"]["spearman"] for r in rows)
    beats_learned = sum(r["held_out"]["calibrated"]["spearman"] > r["held_out"]["learned estimator"]["spearman"]
                        for r in rows)
    lines += ["", f"Median Spearman over {len(rows)} devices: calibrated {med['calibrated']:.3f}, FLOPs "
              f"{med['FLOPs']:.3f}, learned estimator {med['learned estimator']:.3f}. The calibrated config ranks "
              f"better than FLOPs on {beats_flops} of {len(rows)} devices and better than the learned estimator on "
              f"{beats_learned}."]
    if curve:
        lines += ["", f"## Sample efficiency (median Spearman over devices, {args.curve_test} held-out architectures)",
                  "", "| samples | " + " | ".join(PREDICTORS) + " |", "|---:|" + "---:|" * len(PREDICTORS)]
        for n, per in sorted(curve.items()):
            lines.append(f"| {n} | " + " | ".join(f"{np.median(per[p]):.3f}" for p in PREDICTORS) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, curve: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ns = sorted(curve)
    for p in PREDICTORS:
        med = [np.median(curve[n][p]) for n in ns]
        lo = [np.percentile(curve[n][p], 25) for n in ns]
        hi = [np.percentile(curve[n][p], 75) for n in ns]
        ax.plot(ns, med, "o-", label=p)
        ax.fill_between(ns, lo, hi, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("calibration architectures")
    ax.set_ylabel("Spearman on held-out architectures\n(median and quartiles over devices)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--curve", type=int, nargs="*", default=[5, 10, 20, 50, 100])
    ap.add_argument("--curve-test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--devices", help="comma-separated device columns (default: every one)")
    ap.add_argument("--results", default="experiments/results")
    args = ap.parse_args()
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    header, rows = M.read_csv(args.table)
    devices = args.devices.split(",") if args.devices else [h for h in header if h not in ("arch_index", "arch_str")]
    for d in devices:
        family(d)
    cache, sums, results = {}, {}, []
    curve = {n: {p: [] for p in PREDICTORS} for n in args.curve}
    nets_by = {}
    t0 = time.perf_counter()
    for d in devices:
        base, fmt = family(d)
        table = M.read_network_table(args.table, d, header, rows, cache)
        key = table.lines.tobytes()
        if key in sums:                       # same rows as a device before: same networks, same layer sums
            table.sums = sums[key]
        else:
            sums[key] = table.sums
        hw0 = load_hardware(base)
        if (key, fmt) not in nets_by:
            nets_by[(key, fmt)] = [uniform(n, fmt) for n in table.networks["as_written"]]
        nets = nets_by[(key, fmt)]
        keys = default_fit(hw0, nets)
        res, *_ = held_out_fit(table, nets, hw0, keys, args.samples, None, seed=args.seed, measured=M)
        res.update({"device": d, "base": base, "format": fmt})
        results.append(res)
        h = res["held_out"]
        print(f"{d:<16} {base:<16} Spearman calibrated {h['calibrated']['spearman']:.3f}  FLOPs "
              f"{h['FLOPs']['spearman']:.3f}  learned {h['learned estimator']['spearman']:.3f}  "
              f"({res['fit']['seconds']:.1f} s fit, {time.perf_counter() - t0:.0f} s so far)", flush=True)
        for n in args.curve:
            r, *_ = held_out_fit(table, nets, hw0, keys, n, None, seed=args.seed, measured=M,
                                 test_rows=args.curve_test)
            for p in PREDICTORS:
                curve[n][p].append(r["held_out"][p]["spearman"])
    command = _cmd()
    write_atomic(out / "calibrate_devices.md", markdown(command, results, curve, args))
    write_atomic(out / "calibrate_devices.json", json.dumps(
        {"command": command, "devices": results, "curve": {str(n): v for n, v in curve.items()},
         "seconds": time.perf_counter() - t0}, indent=1))
    if curve:
        plot(out / "calibrate_devices.png", curve)
    print(markdown(command, results, curve, args))


if __name__ == "__main__":
    main()
