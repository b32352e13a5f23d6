"""The shipped product-model searches (``examples/search/``), run and summarised in one table.

For each of ``detector_fusion``, ``detector_depth``, ``detector_both``, ``segmentation`` and
``camera_memory`` the search runs (or resumes: a finished run folder is read, not re-run) in
``--runs DIR/<name>``; the table gives the baseline, the designs evaluated and the front's best design
on the first objective among those that score at least the baseline's accuracy proxy (each objective
as a ratio to the baseline's), with the run's wall time.

    python experiments/product_models.py [--runs runs] [--only detector_fusion ...]

About 15 minutes on 2 cores (segmentation is most of it). Writes experiments/results/product_models.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from accelsim.io import write_atomic
from codesign.search.runconfig import load_run_config
from codesign.search.runs import execute

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("detector_fusion", "detector_depth", "detector_both", "segmentation", "camera_memory")
RESULTS = Path(__file__).resolve().parent / "results" / "product_models.md"


def best_row(out: Path, objectives: list) -> "dict | None":
    """The front's design lowest on the first objective among those whose accuracy (when the run scores
    one) is at least the baseline's, with each objective and the accuracy as ratios to the baseline's."""
    front = json.loads((out / "pareto.json").read_text())
    base = json.loads((out / "summary.json").read_text())["baseline"]
    if "accuracy" in base:
        front = [r for r in front if r["accuracy"] >= base["accuracy"]]
    if not front:
        return None
    best = min(front, key=lambda r: r[objectives[0]])
    return {"evaluation": best["evaluation"], "network": best["network"],
            **{m: best[m] / base[m] for m in set(objectives) | ({"accuracy"} & set(base))}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs", help="folder of the run folders (default: runs)")
    ap.add_argument("--only", nargs="+", choices=EXAMPLES, help="run only these examples")
    args = ap.parse_args(argv)
    lines = ["# Product-model searches (examples/search/)", "",
             "`python experiments/product_models.py`: each example on the default neural_engine; best = the front's "
             "design lowest on the first objective among those scoring at least the baseline's accuracy proxy; "
             "ratios to the baseline.", "",
             "| example | designs evaluated | best design (evaluation) | first objective / baseline | "
             "proxy / baseline | seconds |", "|---|---|---|---|---|---|"]
    for name in args.only or EXAMPLES:
        cfg = load_run_config(ROOT / "examples" / "search" / f"{name}.yaml")
        out = Path(args.runs) / name
        start = time.perf_counter()
        execute(cfg, out, progress=False, log=None)
        seconds = json.loads((out / "summary.json").read_text()).get("seconds", time.perf_counter() - start)
        summary = json.loads((out / "summary.json").read_text())
        best = best_row(out, list(cfg.objectives))
        if best is None:
            lines.append(f"| {name} | {summary['evaluations']} | none at the baseline's proxy | | | {seconds:.0f} |")
            continue
        first = cfg.objectives[0]
        proxy = next((v for k, v in best.items() if k == "accuracy"), None)
        lines.append(f"| {name} | {summary['evaluations']} | `{best['network']}` ({best['evaluation']}) | "
                     f"{best[first]:.3f} | {'' if proxy is None else f'{proxy:.3f}'} | {seconds:.0f} |")
        print(lines[-1], flush=True)
    write_atomic(RESULTS, "\n".join(lines) + "\n")
    print(f"-> {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
