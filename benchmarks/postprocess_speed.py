"""Search time against post-processing time (hypervolume trace, front, plot), and ``codesign show``.

    python benchmarks/postprocess_speed.py [--repeats 3] [--budget2 2000] [--budget3 400] [--threads 1]

Runs the shipped ``examples/search/hw_search.yaml`` (2 objectives, 2,000 evaluations) and the same
search with ``area_mm2`` as a third objective (400 evaluations), each ``--repeats`` times in a fresh
folder, and prints a Markdown table of min / median CPU seconds (``time.process_time`` of this
process; for ``codesign show`` as a new process, the child's user + system time from
``RUSAGE_CHILDREN``), Numba and torch pinned to ``--threads`` threads:

- search: the evaluations (``run_search`` inside ``runs.execute``);
- post-processing: the rest of ``runs.execute`` (trace, front, ``pareto.*``, ``hypervolume.csv``,
  ``pareto.png``, ``summary.json``); of it, the hypervolume trace alone;
- ``show``: ``runs.show`` in this process, and ``codesign show`` as a new process (interpreter start
  and imports included), on the finished folder and on one whose stored outputs were deleted.

The median wall seconds of the search and the post-processing, from the same runs, are printed in
the last column, labelled. The targets: post-processing never takes longer than the search; ``show``
under a second (CPU medians).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import Times, child_run, header, min_median, once, pin_threads, require_repeats  # noqa: E402

SHOW_TARGET_S = 1.0


def _cli_show(folder: Path) -> tuple:
    """CPU and wall seconds of ``codesign show FOLDER`` as a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cpu, wall, _ = child_run([sys.executable, "-m", "codesign.cli", "show", str(folder)], cwd=ROOT, env=env,
                             check=True, stdout=subprocess.DEVNULL)
    return cpu, wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per search, >= 3")
    p.add_argument("--budget2", type=int, default=2000, help="evaluations of the 2-objective run")
    p.add_argument("--budget3", type=int, default=400, help="evaluations of the 3-objective run")
    p.add_argument("--threads", type=int, default=1, help="Numba and torch threads (1)")
    args = p.parse_args(argv)
    require_repeats(p, "--repeats", args.repeats)
    pin_threads(args.threads)

    from accelsim.io import read_yaml
    from codesign.search import runs
    from codesign.search.journal import read_journal
    from codesign.search.runconfig import parse_run_config
    from codesign.search.algorithms import SearchResult

    # the search's own CPU time: run_search, as runs.execute calls it
    search_times = Times()
    plain_run_search = runs.run_search

    def timed_run_search(*a, **kw):
        cpu, wall, result = once(lambda: plain_run_search(*a, **kw))
        search_times.add(cpu, wall)
        return result

    example = ROOT / "examples" / "search" / "hw_search.yaml"
    base = read_yaml(example)
    cases = {
        f"hw_search.yaml, 2 objectives, {args.budget2:,} evaluations": {**base, "budget": args.budget2},
        f"hw_search.yaml + area_mm2, 3 objectives, {args.budget3:,} evaluations":
            {**base, "budget": args.budget3, "objectives": ["latency_ms", "energy_mj", "area_mm2"]},
    }
    rows = []
    runs.run_search = timed_run_search
    try:
        with tempfile.TemporaryDirectory(prefix="codesign-postprocess-") as tmp:
            for label, data in cases.items():
                times: dict[str, list] = {k: [] for k in ("search", "post", "trace", "show", "cli", "show_nocache",
                                                          "cli_nocache", "search_wall", "post_wall")}
                front = None
                for r in range(args.repeats):
                    out = Path(tmp) / f"{len(rows)}-{r}"
                    cfg = parse_run_config(json.loads(json.dumps(data)), str(example))
                    cpu, wall, run = once(lambda: runs.execute(cfg, out, progress=False, log=None))
                    times["search"].append(search_times.cpu[-1])
                    times["post"].append(cpu - search_times.cpu[-1])
                    times["search_wall"].append(search_times.wall[-1])
                    times["post_wall"].append(wall - search_times.wall[-1])
                    front = len(run.rows)
                    # the trace alone, on the same evaluations and reference
                    _, records = read_journal(out / runs.JOURNAL)
                    result = SearchResult([x["genome"] for x in records], [x["metrics"] for x in records],
                                          run.problem.objectives)
                    ref = runs.reference_point(cfg, result)
                    times["trace"].append(once(lambda: result.hypervolume_trace(ref))[0])
                    times["show"].append(once(lambda: runs.show(out))[0])
                    times["cli"].append(_cli_show(out)[0])
                    bare = Path(tmp) / f"{len(rows)}-{r}-bare"
                    bare.mkdir()
                    for name in (runs.RUN_FILE, runs.JOURNAL, runs.IDENTITY):
                        (bare / name).write_bytes((out / name).read_bytes())
                    times["show_nocache"].append(once(lambda: runs.show(bare))[0])
                    times["cli_nocache"].append(_cli_show(bare)[0])
                rows.append((label, front, times))
    finally:
        runs.run_search = plain_run_search

    def mm(v: list) -> str:
        return min_median(v, ".2f")

    print(header("CPU seconds (process_time of this process; codesign show as a new process: the child's user + "
                 "system time)", args.repeats))
    print()
    print("| run | front | search | post-processing | of it: hypervolume trace | show (in process) "
          "| codesign show (new process) | show, no stored outputs | codesign show, no stored outputs "
          "| wall s, median: search / post-processing |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, front, t in rows:
        print(f"| {label} | {front} | {mm(t['search'])} | {mm(t['post'])} | {mm(t['trace'])} | {mm(t['show'])} "
              f"| {mm(t['cli'])} | {mm(t['show_nocache'])} | {mm(t['cli_nocache'])} "
              f"| {statistics.median(t['search_wall']):.2f} / {statistics.median(t['post_wall']):.2f} |")
    print()
    for label, _, t in rows:
        search, post = statistics.median(t["search"]), statistics.median(t["post"])
        show = max(statistics.median(t[k]) for k in ("show", "cli", "show_nocache", "cli_nocache"))
        print(f"{label}: post-processing <= search: "
              + ("target met" if post <= search else f"gap {post - search:.2f} s")
              + f" ({post:.2f} s against {search:.2f} s); slowest show < {SHOW_TARGET_S:g} s: "
              + ("target met" if show < SHOW_TARGET_S else f"gap {show - SHOW_TARGET_S:.2f} s") + f" ({show:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
