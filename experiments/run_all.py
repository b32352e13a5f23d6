"""Every published-claim experiment in one command: quick mode to check that they all regenerate,
full mode to make the committed results.

    python experiments/run_all.py --quick [--out DIR]
    python experiments/run_all.py [--only NAME ...] [--help-table TABLE.csv] [--fbnet-table LUT.csv]

Each experiment runs as its own process (``sys.executable experiments/<script>``), one after the
other, with its output folder set to ``--out`` (default: ``runs/quick`` with ``--quick``, so a quick
check never overwrites the committed full-mode results; ``experiments/results`` otherwise). The
measured tables are inputs: ``--help-table`` is HELP's NAS-Bench-201 latency table (Lee et al.,
NeurIPS 2021, ``HayeonLee/HELP``; one ``arch_str`` row per architecture and one ms column per device)
and ``--fbnet-table`` the HW-NAS-Bench FBNet operator table (Li et al., ICLR 2021), each a path or the
name of a table shipped with the package; ``--help-table none`` skips the experiments that need it. Inputs and the output
folder are checked before the first experiment starts. Both tables ship with the package
(``help-nb201``, ``hwnasbench-fbnet``: ``codesign/data/README.md``) and are the defaults. ``<out>/run_all.md`` (written after each
experiment, atomically) lists each one's command, status, wall and CPU seconds; the exit status is
non-zero when one failed.
"""

from __future__ import annotations

import argparse
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from accelsim.io import write_atomic  # noqa: E402


def _quick(q: bool) -> list:
    return ["--quick"] if q else []


def _o(flag: str, out, name: str = "") -> list:
    """The output argument, or nothing when the results go to the script's own default folder (so the
    command a results file records is the plain one)."""
    return [] if out is None else [flag, str(out / name if name else out)]


def _fresh(options: dict) -> list:
    """--force-new for the experiments that keep search run folders, when run_all was given it."""
    return ["--force-new"] if options.get("force_new") else []


# name -> (script, table it needs or None, arguments(quick, out folder, options: the tables and
# force_new) -> list, the claim it checks)
EXPERIMENTS = {
    "detector_fusion": ("detector_fusion.py", None,
                        lambda q, out, t: _quick(q) + _o("--runs", out, "runs") + _o("--results", out) + _fresh(t),
                        "depth multiplier / fused-IBN / both cut a detector's latency at equal accuracy"),
    "camera_memory": ("camera_memory.py", None,
                      lambda q, out, t: _quick(q) + _o("--runs", out, "runs") + _o("--out", out, "camera_memory")
                      + _fresh(t),
                      "depthwise -> standard convs and aligned channels cut memory to fit a budget"),
    "segmentation_robot": ("segmentation_robot.py", None,
                           lambda q, out, t: _quick(q) + _o("--runs", out, "runs") + _o("--results", out) + _fresh(t),
                           "a segmentation search finds designs 27-51 % faster at five accuracy levels"),
    "kernel_by_target": ("kernel_by_target.py", None,
                         lambda q, out, t: _quick(q) + _o("--out", out, "kernel_by_target_quick.md" if q else
                                                          "kernel_by_target.md"),
                         "GPUs prefer wide/shallow and 7x7, phones narrow/deep and 3x3"),
    "monotonicity": ("monotonicity.py", None,
                     lambda q, out, t: _quick(q) + _o("--out", out)
                     + (["--measured", t["help"]] if t.get("help") else []),
                     "latency ranks correlate across devices; a proxy's front serves a target"),
    "flops_rank": ("flops_rank.py", None, lambda q, out, t: _quick(q) + _o("--out", out),
                   "FLOPs do not rank latency"),
    "measured_operator_split": ("measured_operator_split.py", "fbnet",
                                lambda q, out, t: [t["fbnet"]] + _quick(q) + _o("--out", out),
                                "an estimator from measured operators, on operators it never saw"),
    "calibrate_devices": ("calibrate_devices.py", "help",
                          lambda q, out, t: [t["help"]] + _quick(q) + _o("--results", out),
                          "a calibrated physical model ranks measured devices' latencies"),
}
TABLES = {"help": "--help-table", "fbnet": "--fbnet-table"}
PACKAGED = ("help-nb201", "hwnasbench-fbnet")   # codesign.estimator.measured.PACKAGED_TABLES, without importing torch


def _check_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".run_all_write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SystemExit(f"run_all: --out {out}: cannot write there ({exc.strerror})") from None


def _summary(rows: list, quick: bool) -> str:
    lines = [f"`python experiments/run_all.py{' --quick' if quick else ''}`", "",
             f"# Experiments ({'quick' if quick else 'full'} mode)", "",
             "| experiment | claim | status | wall s | CPU s | command |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['claim']} | {r['status']} | {r['wall']:.0f} | {r['cpu']:.0f} | "
                     f"`{r['command']}` |")
    total_wall = sum(r["wall"] for r in rows)
    total_cpu = sum(r["cpu"] for r in rows)
    lines += ["", f"Total: {total_wall / 60:.1f} min wall, {total_cpu / 60:.1f} min CPU."]
    return "\n".join(lines) + "\n"


def _display(arg: str) -> str:
    """An argument as the summary shows it: a file given by path as its name only."""
    return Path(arg).name if "/" in arg and Path(arg).is_file() else arg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="each experiment's quick mode (minutes)")
    ap.add_argument("--help-table", metavar="TABLE.csv", default="help-nb201",
                    help="HELP's NAS-Bench-201 latency table: a path or a packaged name (default help-nb201; "
                         "none: skip what needs it)")
    ap.add_argument("--fbnet-table", metavar="LUT.csv", default="hwnasbench-fbnet",
                    help="HW-NAS-Bench's FBNet operator table (default hwnasbench-fbnet; none: skip)")
    ap.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), metavar="NAME",
                    help=f"run only these ({', '.join(EXPERIMENTS)})")
    ap.add_argument("--out", type=Path, help="output folder (default runs/quick with --quick, else "
                                             "experiments/results); search run folders go in OUT/runs")
    ap.add_argument("--force-new", action="store_true",
                    help="passed on to the experiments with search run folders: existing ones are moved aside "
                         "and run afresh (needed after the engine changed; without it they are refused)")
    args = ap.parse_args(argv)
    # relative to the repository root, where every experiment runs; None: each script's own folder
    out = args.out.resolve() if args.out else (Path("runs") / "quick" if args.quick else None)
    tables = {}
    for key, flag in TABLES.items():
        path = getattr(args, flag[2:].replace("-", "_"))
        if path and path != "none":
            if Path(path).is_file():
                tables[key] = str(Path(path).resolve())
            elif path in PACKAGED:
                tables[key] = path
            else:
                raise SystemExit(f"run_all: {flag} {path}: no such file, nor a packaged table "
                                 f"({', '.join(PACKAGED)})")
    summary_dir = ROOT / (out if out is not None else Path("experiments") / "results")
    _check_out(summary_dir)
    names = args.only or list(EXPERIMENTS)
    missing = [n for n in names if not (HERE / EXPERIMENTS[n][0]).is_file()]
    if missing:
        raise SystemExit(f"run_all: no script for {', '.join(missing)} in experiments/")
    rows, failed = [], 0
    for name in names:
        script, needs, make_args, claim = EXPERIMENTS[name]
        row = {"name": name, "claim": claim, "wall": 0.0, "cpu": 0.0}
        if needs and needs not in tables:
            row.update(status=f"skipped: needs {TABLES[needs]}", command="-")
            rows.append(row)
            print(f"[run_all] {name}: skipped (needs {TABLES[needs]})", flush=True)
            write_atomic(summary_dir / "run_all.md", _summary(rows, args.quick))
            continue
        argv_ = make_args(args.quick, out, {**tables, "force_new": args.force_new})
        row["command"] = " ".join(["python", f"experiments/{script}"] + [shlex.quote(_display(a)) for a in argv_])
        print(f"[run_all] {name}: {row['command']}", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / script)] + argv_, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        row["wall"] = time.perf_counter() - t0
        row["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        row["status"] = "ok" if rc == 0 else f"failed (exit {rc})"
        failed += rc != 0
        rows.append(row)
        write_atomic(summary_dir / "run_all.md", _summary(rows, args.quick))
        print(f"[run_all] {name}: {row['status']} in {row['wall']:.0f} s wall, {row['cpu']:.0f} s CPU", flush=True)
    print(_summary(rows, args.quick))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
