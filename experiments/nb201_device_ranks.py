"""Does the simulator rank real devices' NAS-Bench-201 latencies better than FLOPs, and does it once
the networks are pruned as a deployment compiler prunes them?

    python experiments/nb201_device_ranks.py --help-table PATH [--n 1000] [--seed 0] [--form traced]
        [--out experiments/results]

``--help-table`` is the NAS-Bench-201 latency table of HELP (Lee et al., NeurIPS 2021,
github.com/HayeonLee/HELP, ``data/nasbench201/latency/<device>.pt``) as one CSV: ``arch_str`` and one
column of milliseconds per device setting (27: five desktop GPUs at batch 1, 32 and 256, four Xeon
CPUs, four phones, and pixel3 / raspi4 / eyeriss / fpga from HW-NAS-Bench). ``--n`` architectures are
drawn without replacement with ``numpy.random.default_rng(seed)``; each is built as the zoo's NB201
network (``--form traced``, the torch graph; or ``compiled``, the graph the measured estimator fits)
twice, as written and after ``Network.prune_dead``, and simulated on every shipped hardware config
(``hw_configs/*.yaml``) with ``simulate_many``. Per device it reports Spearman's rho of the measured
latency with MACs (FLOPs = 2 MACs, the same ranks) and with the engine latency of each config, the
best config as written and pruned (with a 95 % bootstrap interval), and the median of the best over
devices: over all 27 columns and over the 18 columns HELP did not meta-train on (its meta-validation
and meta-test devices and the settings it leaves unused; the 9 meta-training columns are
1080ti_{1,32,256}, silver_4114, silver_4210r, samsung_a50, pixel3, essential_ph_1, samsung_s7).

Writes ``<out>/nb201_device_ranks_<form>.md`` and ``.csv`` (atomically) and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from accelsim.config import load_hardware
from accelsim.engine.simulate import simulate_many
from accelsim.errors import AccelsimError
from accelsim.io import write_atomic
from accelsim.workload.nb201 import FORMS, nb201_network
from codesign.estimator.validate import spearman, spearman_interval

ROOT = Path(__file__).resolve().parents[1]
HELP_META_TRAIN = ("1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50", "pixel3",
                   "essential_ph_1", "samsung_s7")
BOOTSTRAP = 1000
TFLITE_DEVICES = ("pixel3", "raspi4")   # HW-NAS-Bench measured these through TensorFlow Lite


def read_table(path: Path) -> tuple[list, list, np.ndarray]:
    """(arch strings, device names, latency ms array (rows, devices)) of the HELP table."""
    from codesign.estimator import measured as M
    if M.packaged_table(path) is not None:     # help-nb201: the table shipped with the package
        header, cells = M.packaged_rows(str(path))
        rows = [list(header), *cells]
    else:
        try:
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))
        except OSError as exc:
            raise AccelsimError(f"--help-table {path}: cannot read ({exc.strerror})") from None
    if not rows or "arch_str" not in rows[0]:
        raise AccelsimError(f"--help-table {path}: expected a CSV with an arch_str column and one latency "
                            "column per device")
    head = rows[0]
    a = head.index("arch_str")
    devices = [(i, d) for i, d in enumerate(head) if d not in ("arch_str", "arch_index")]
    try:
        lat = np.array([[float(r[i]) for i, _ in devices] for r in rows[1:]])
    except (ValueError, IndexError):
        raise AccelsimError(f"--help-table {path}: expected a number in every latency cell") from None
    if lat.size == 0 or not np.all(np.isfinite(lat)) or np.any(lat <= 0):
        raise AccelsimError(f"--help-table {path}: expected positive finite latencies in milliseconds")
    return [r[a] for r in rows[1:]], [d for _, d in devices], lat


def engine_latency(archs, form: str, prune: bool, hws) -> tuple[np.ndarray, np.ndarray]:
    """((archs, configs) engine latency in ms, MACs per arch): every network on every config."""
    nets = [nb201_network(a, form=form, prune=prune) for a in archs]
    return simulate_many(nets, hws).latency_ms.reshape(len(nets), len(hws)), np.array([n.macs for n in nets])


def best(measured: np.ndarray, lat: np.ndarray) -> tuple[int, float]:
    rhos = [spearman(lat[:, k], measured) for k in range(lat.shape[1])]
    k = int(np.nanargmax(rhos))
    return k, rhos[k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--help-table", required=True, type=Path, metavar="PATH",
                    help="HELP NAS-Bench-201 latency CSV (arch_str + one ms column per device)")
    ap.add_argument("--n", type=int, default=1000, help="architectures drawn (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--form", choices=FORMS, default="traced", help="NB201 graph form (default traced)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results")
    args = ap.parse_args(argv)
    try:
        archs, devices, lat = read_table(args.help_table)
        if not 2 < args.n <= len(archs):
            raise AccelsimError(f"--n {args.n}: expected 3..{len(archs)} (rows of the table)")
        rng = np.random.default_rng(args.seed)
        pick = np.sort(rng.choice(len(archs), size=args.n, replace=False))
        sample = [archs[i] for i in pick]
        paths = sorted((ROOT / "hw_configs").glob("*.yaml"))
        hws = [load_hardware(p) for p in paths]
        as_written, macs = engine_latency(sample, args.form, False, hws)
        pruned, pruned_macs = engine_latency(sample, args.form, True, hws)
    except AccelsimError as exc:
        print(f"nb201_device_ranks: error: {exc}", file=sys.stderr)
        return 2
    names = [p.stem for p in paths]
    rows = []
    for d, dev in enumerate(devices):
        y = lat[pick, d]
        k0, r0 = best(y, as_written)
        k1, r1 = best(y, pruned)
        rows.append({"device": dev, "help_meta_train": dev in HELP_META_TRAIN,
                     "macs": spearman(macs, y), "pruned_macs": spearman(pruned_macs, y),
                     "written_config": names[k0], "written": r0,
                     "written_ci": spearman_interval(as_written[:, k0], y, args.seed, BOOTSTRAP),
                     "pruned_config": names[k1], "pruned": r1,
                     "pruned_ci": spearman_interval(pruned[:, k1], y, args.seed, BOOTSTRAP)})
    text = report(rows, args, len(hws))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"nb201_device_ranks_{args.form}"
    write_atomic(args.out / f"{stem}.md", text)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["device", "help_meta_train", "spearman_macs", "spearman_pruned_macs", "best_config_as_written",
                "spearman_as_written", "best_config_pruned", "spearman_pruned"])
    for r in rows:
        w.writerow([r["device"], int(r["help_meta_train"]), f"{r['macs']:.4f}", f"{r['pruned_macs']:.4f}",
                    r["written_config"], f"{r['written']:.4f}", r["pruned_config"], f"{r['pruned']:.4f}"])
    write_atomic(args.out / f"{stem}.csv", buf.getvalue())
    print(text)
    return 0


def report(rows, args, n_configs: int) -> str:
    cmd = (f"python experiments/nb201_device_ranks.py --help-table nb201_help_latency_ms.csv --n {args.n} "
           f"--seed {args.seed} --form {args.form}")
    out = ["# NAS-Bench-201: engine latency vs measured device latency, as written and pruned", "",
           f"    {cmd}", "",
           f"{args.n} architectures (seed {args.seed}) of the HELP NB201 latency table (Lee et al., NeurIPS 2021), "
           f"built as the {args.form} NB201 network as written and after `Network.prune_dead`, simulated on "
           f"each of the {n_configs} shipped hardware configs. Spearman's rho per device: MACs (FLOPs ranks), "
           "and the engine latency of the config that ranks that device best (95 % bootstrap interval).", "",
           "| device | HELP meta-train | MACs | MACs pruned | best config as written | rho | best config pruned | rho |",
           "|---|---|---:|---:|---|---:|---|---:|"]
    for r in rows:
        out.append(f"| {r['device']} | {'yes' if r['help_meta_train'] else ''} | {r['macs']:.3f} | "
                   f"{r['pruned_macs']:.3f} | {r['written_config']} | {r['written']:.3f} "
                   f"[{r['written_ci'][0]:.2f}, {r['written_ci'][1]:.2f}] | {r['pruned_config']} | "
                   f"{r['pruned']:.3f} [{r['pruned_ci'][0]:.2f}, {r['pruned_ci'][1]:.2f}] |")
    out += ["", "Median over devices of each column:", "",
            "| devices | n | MACs | MACs pruned | best config as written | best config pruned |",
            "|---|---:|---:|---:|---:|---:|"]
    groups = (("all columns", rows), ("not HELP meta-train", [r for r in rows if not r["help_meta_train"]]))
    med = {}
    for label, sel in groups:
        m = [float(np.nanmedian([r[k] for r in sel])) for k in ("macs", "pruned_macs", "written", "pruned")]
        med[label] = m
        out.append(f"| {label} | {len(sel)} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} |")
    m = med["not HELP meta-train"]
    first = m[2] <= m[0] + 0.02      # the engine as written ranks no better than MACs
    second = m[3] >= m[2] + 0.10     # pruning lifts the engine's median by at least 0.1
    tflite = [r for r in rows if r["device"] in TFLITE_DEVICES]
    out += ["", "Claim (issue 14): the simulator ranks real devices no better than FLOPs until the networks are "
            "pruned (best-config median Spearman over 18 devices 0.71 -> 0.91).", "",
            f"- Over the {len(groups[1][1])} columns HELP did not meta-train on, the engine as written has median "
            f"{m[2]:.2f} against {m[0]:.2f} for MACs: {'reproduces' if first else 'does not reproduce'} "
            "(no better than FLOPs).",
            f"- Pruned, the median is {m[3]:.2f}: {'reproduces' if second else 'does not reproduce'} "
            f"(the claim needs about +0.2; here {m[3] - m[2]:+.2f}).",
            "- Devices measured through TensorFlow Lite, a runtime that prunes (HW-NAS-Bench), as written -> "
            "pruned: " + ", ".join(f"{r['device']} {r['written']:.3f} -> {r['pruned']:.3f}" for r in tflite)
            + ". HELP timed the desktop GPUs and CPUs on the PyTorch NB201 model, which computes every edge as "
            "written (zero nodes included), so there the graph as written is the one that runs.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
