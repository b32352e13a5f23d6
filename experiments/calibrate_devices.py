"""Calibrating to measured devices: every device column of a NAS-Bench-201 latency table, a base
config per device family, a few calibration architectures each, scored on all the others.

    python experiments/calibrate_devices.py TABLE.csv [--samples 20] [--curve 5 10 20 50 100]
        [--curve-test 2000] [--curve-devices a,b,...] [--seed 0] [--devices a,b,...] [--rows N]
        [--quick] [--results experiments/results]

``TABLE.csv``: one row per NAS-Bench-201 architecture (``arch_str``) and one latency column (ms) per
device, as HELP publishes it (Lee et al., NeurIPS 2021, ``HayeonLee/HELP``; batch size after the last
underscore for the GPUs). For each device, :func:`accelsim.calibration.held_out_fit` draws ``--samples``
architectures (seeded, the same rows for every device), calibrates the family's base config with the
default keys (:func:`accelsim.calibration.default_fit`) once per graph form of the cell (compiled,
pruned, eager: :func:`accelsim.calibration.table_graphs`), keeps the form whose fit is closest on the
calibration rows (``accelsim calibrate --graph auto``), and scores it on every other architecture
beside FLOPs and parameter counts (one scale fitted on the same rows) and the measured-mode estimator
trained on the same rows. ``--curve``: the same at other sample counts on the ``--curve-devices``
(default HELP's six meta-test devices), scored on ``--curve-test`` held-out architectures (a fixed
seeded draw), for the sample-efficiency plot. Killed, it resumes: ``<results>/calibrate_devices.partial.json``
holds every finished device, and is used only by a run with the same table and arguments.

Base configs (a stated rule, not a per-device choice): GPUs -> ``gpu_like`` (fp32), server and phone
CPUs and the Raspberry Pi -> ``mobile_cpu_like`` (fp32), Eyeriss -> ``eyeriss_like`` (int16), the FPGA
accelerator -> ``neural_engine`` (int8). Writes ``<results>/calibrate_devices.{md,json,png}``
atomically; the first line of the Markdown is the command that made it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from accelsim.calibration import GRAPHS, held_out_fit, table_graphs
from accelsim.config import load_hardware
from accelsim.io import write_atomic
from accelsim.workload.precision_policy import uniform
from codesign.estimator import measured as M

FAMILIES = (   # (device-name prefixes, base config, format the networks run in)
    (("1080ti", "2080ti", "titanx", "titan_rtx"), "gpu_like", "fp32"),
    (("silver", "gold", "pixel", "essential", "samsung", "raspi"), "mobile_cpu_like", "fp32"),
    (("eyeriss",), "eyeriss_like", "int16"),
    (("fpga",), "neural_engine", "int8"),
)
PREDICTORS = ("calibrated", "FLOPs", "learned estimator")
CURVE_DEVICES = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")   # HELP's meta-test split
QUICK_DEVICES = ("titan_rtx_256", "gold_6226", "pixel2")   # --quick: one of each kind among them


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
             "| device | base | graph | keys | fit s | calibrated Spearman | FLOPs | learned estimator "
             "| calibrated Kendall | MAPE | within ±10 % | best |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        h = r["held_out"]
        sp = {p: h[p]["spearman"] for p in PREDICTORS if p in h}
        best = max(sp, key=lambda p: sp[p])
        lines.append(f"| {r['device']} | {r['base']} ({r['format']}) | {r['graph']} | {len(r['fit']['keys'])} | "
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
        lines += ["", f"## Sample efficiency (median Spearman over {args.curve_devices.replace(',', ', ')}; "
                  f"{args.curve_test} held-out architectures each)",
                  "", "| samples | " + " | ".join(PREDICTORS) + " |", "|---:|" + "---:|" * len(PREDICTORS)]
        for n, per in sorted(curve.items()):
            lines.append(f"| {n} | " + " | ".join(f"{np.median(per[p]):.3f}" for p in PREDICTORS) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, curve: dict) -> None:
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
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
    save_figure(fig, path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--curve", type=int, nargs="*", default=[5, 10, 20, 50, 100])
    ap.add_argument("--curve-test", type=int, default=2000)
    ap.add_argument("--curve-devices", default=",".join(CURVE_DEVICES),
                    help="comma-separated device columns the sample-efficiency curve is measured on (default: "
                         "HELP's six meta-test devices, where HELP reports its 10-sample result)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--devices", help="comma-separated device columns (default: every one)")
    ap.add_argument("--rows", type=int, help="use a seeded draw of this many architectures of the table (default: all)")
    ap.add_argument("--results", help="output folder (default experiments/results; --quick: runs/quick)")
    ap.add_argument("--quick", action="store_true",
                    help="minutes, not an hour: 1,000 architectures, three of the curve devices (a GPU, a CPU, a "
                         "phone: QUICK_DEVICES), curve at 5 and 20 samples on 300 held-out architectures")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.devices = args.rows or 1000, args.devices or ",".join(QUICK_DEVICES)
        args.curve_devices = ",".join(d for d in args.curve_devices.split(",") if d in args.devices.split(","))
        args.curve, args.curve_test = [5, 20], 300
    out = Path(args.results or ("runs/quick" if args.quick else "experiments/results"))
    out.mkdir(parents=True, exist_ok=True)
    header, rows = M.read_csv(args.table)
    if args.rows and args.rows < len(rows):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(rows), size=args.rows, replace=False))
        rows = [rows[i] for i in keep]
    devices = args.devices.split(",") if args.devices else [h for h in header if h not in ("arch_index", "arch_str")]
    for d in devices:
        family(d)
    # one state file, rewritten after every device, lets a killed run resume; its fingerprint (the
    # table's rows and every argument that changes a number) keeps a resume from mixing inputs. A
    # device's results do not depend on which other devices run, so runs over parts of the devices
    # (the same fingerprint) can be joined by merging their state files' "devices" and "curve".
    state_path = out / "calibrate_devices.partial.json"
    fingerprint = hashlib.sha256(json.dumps(
        [header, rows, args.samples, args.curve, args.curve_test, args.curve_devices, args.seed]).encode()
    ).hexdigest()
    state = {"fingerprint": fingerprint, "devices": {}, "curve": {}}
    if state_path.is_file():
        old = json.loads(state_path.read_text())
        if old.get("fingerprint") == fingerprint:
            state = old
            print(f"resuming: {len(state['devices'])} of {len(devices)} devices already done", flush=True)
        else:
            print(f"{state_path.name}: made from other inputs; starting afresh", flush=True)
    cache, sums = {}, {}
    nets_by = {}
    t0 = time.perf_counter()
    for d in devices:
        if d in state["devices"]:
            continue
        base, fmt = family(d)
        table = M.read_network_table(args.table, d, header, rows, cache)
        key = table.lines.tobytes()
        if key in sums:                       # same rows as a device before: same networks, same layer sums
            table.sums = sums[key]
        else:
            sums[key] = table.sums
        hw0 = load_hardware(base)
        if (key, fmt) not in nets_by:
            nets_by[(key, fmt)] = {g: [uniform(n, fmt) for n in nets]
                                   for g, nets in table_graphs(table, rows, GRAPHS).items()}
        nets = nets_by[(key, fmt)]
        keys = None   # each graph's default keys
        res, *_ = held_out_fit(table, nets, hw0, keys, args.samples, None, seed=args.seed, measured=M)
        res.update({"device": d, "base": base, "format": fmt})
        h = res["held_out"]
        print(f"{d:<16} {base:<16} graph {res['graph']:<8} Spearman calibrated {h['calibrated']['spearman']:.3f}  FLOPs "
              f"{h['FLOPs']['spearman']:.3f}  learned {h['learned estimator']['spearman']:.3f}  "
              f"({res['fit']['seconds']:.1f} s fit, {time.perf_counter() - t0:.0f} s so far)", flush=True)
        per_n = {}
        for n in (args.curve if d in args.curve_devices.split(",") else ()):
            r, *_ = held_out_fit(table, nets, hw0, keys, n, None, seed=args.seed, measured=M,
                                 test_rows=args.curve_test)
            per_n[str(n)] = {p: r["held_out"][p]["spearman"] for p in PREDICTORS}
        state["devices"][d] = res
        state["curve"][d] = per_n
        write_atomic(state_path, json.dumps(state))
    results = [state["devices"][d] for d in devices]
    curve = {n: {p: [state["curve"][d][str(n)][p] for d in devices if str(n) in state["curve"][d]]
                 for p in PREDICTORS} for n in args.curve}
    curve = {n: per for n, per in curve.items() if per[PREDICTORS[0]]}   # counts no device here was curved at
    command = _cmd()
    write_atomic(out / "calibrate_devices.md", markdown(command, results, curve, args))
    write_atomic(out / "calibrate_devices.json", json.dumps(
        {"command": command, "devices": results, "curve": {str(n): v for n, v in curve.items()},
         "seconds": time.perf_counter() - t0}, indent=1))
    if curve:
        plot(out / "calibrate_devices.png", curve)
    state_path.unlink()
    print(markdown(command, results, curve, args))


if __name__ == "__main__":
    main()
