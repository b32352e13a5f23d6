"""Search time against post-processing time (hypervolume trace, front, plot), and ``codesign show``.

    python benchmarks/postprocess_speed.py [--repeats 3] [--budget2 2000] [--budget3 400]

Runs the shipped ``examples/search/hw_search.yaml`` (2 objectives, 2,000 evaluations) and the same
search with ``area_mm2`` as a third objective (400 evaluations), each ``--repeats`` times in a fresh
folder, and prints a Markdown table of min / median seconds:

- search: the evaluations (``summary.json``'s ``seconds``);
- post-processing: the rest of ``runs.execute`` (trace, front, ``pareto.*``, ``hypervolume.csv``,
  ``pareto.png``, ``summary.json``); of it, the hypervolume trace alone;
- ``show``: ``runs.show`` in this process, and ``codesign show`` as a new process (interpreter start
  and imports included), on the finished folder and on one whose stored outputs were deleted.

The targets: post-processing never takes longer than the search; ``show`` under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cli_show(folder: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codesign.cli", "show", str(folder)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget2", type=int, default=2000, help="evaluations of the 2-objective run")
    p.add_argument("--budget3", type=int, default=400, help="evaluations of the 3-objective run")
    args = p.parse_args(argv)

    from accelsim.io import read_yaml
    from codesign.search import runs
    from codesign.search.journal import read_journal
    from codesign.search.runconfig import parse_run_config
    from codesign.search.algorithms import SearchResult

    example = ROOT / "examples" / "search" / "hw_search.yaml"
    base = read_yaml(example)
    cases = {
        f"hw_search.yaml, 2 objectives, {args.budget2:,} evaluations": {**base, "budget": args.budget2},
        f"hw_search.yaml + area_mm2, 3 objectives, {args.budget3:,} evaluations":
            {**base, "budget": args.budget3, "objectives": ["latency_ms", "energy_mj", "area_mm2"]},
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="codesign-postprocess-") as tmp:
        for label, data in cases.items():
            times: dict[str, list] = {k: [] for k in ("search", "post", "trace", "show", "cli", "show_nocache",
                                                      "cli_nocache")}
            front = None
            for r in range(args.repeats):
                out = Path(tmp) / f"{len(rows)}-{r}"
                cfg = parse_run_config(json.loads(json.dumps(data)), str(example))
                t0 = time.perf_counter()
                run = runs.execute(cfg, out, progress=False, log=None)
                total = time.perf_counter() - t0
                search = json.loads((out / "summary.json").read_text())["seconds"]
                times["search"].append(search)
                times["post"].append(total - search)
                front = len(run.rows)
                # the trace alone, on the same evaluations and reference
                _, records = read_journal(out / runs.JOURNAL)
                result = SearchResult([x["genome"] for x in records], [x["metrics"] for x in records],
                                      run.problem.objectives)
                ref = runs.reference_point(cfg, result)
                times["trace"].append(_seconds(lambda: result.hypervolume_trace(ref)))
                times["show"].append(_seconds(lambda: runs.show(out)))
                times["cli"].append(_cli_show(out))
                bare = Path(tmp) / f"{len(rows)}-{r}-bare"
                bare.mkdir()
                for name in (runs.RUN_FILE, runs.JOURNAL, runs.IDENTITY):
                    (bare / name).write_bytes((out / name).read_bytes())
                times["show_nocache"].append(_seconds(lambda: runs.show(bare)))
                times["cli_nocache"].append(_cli_show(bare))
            rows.append((label, front, times))

    def mm(v: list) -> str:
        return f"{min(v):.2f} / {statistics.median(v):.2f}"

    print(f"min / median seconds of {args.repeats} repeats")
    print()
    print("| run | front | search | post-processing | of it: hypervolume trace | show (in process) "
          "| codesign show (new process) | show, no stored outputs | codesign show, no stored outputs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, front, t in rows:
        print(f"| {label} | {front} | {mm(t['search'])} | {mm(t['post'])} | {mm(t['trace'])} | {mm(t['show'])} "
              f"| {mm(t['cli'])} | {mm(t['show_nocache'])} | {mm(t['cli_nocache'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
