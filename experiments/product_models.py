"""The shipped product-model searches (``examples/search/``), run and summarised in one table.

For each of ``detector_fusion``, ``detector_depth``, ``detector_both``, ``segmentation`` and
``camera_memory`` the search runs (or resumes: a finished run folder is read, not re-run) in
``--runs DIR/<name>``; the table gives the baseline, the designs evaluated and the front's best design
on the first objective among those that score at least the baseline's accuracy proxy (each objective
as a ratio to the baseline's), with the run's wall time.

    python experiments/product_models.py [--runs runs] [--only detector_fusion ...]

About 15 minutes on 2 cores (segmentation is most of it). Writes experiments/results/product_models.md.

The helpers below are shared with the experiments that vary these examples (``detector_fusion.py``,
``segmentation_robot.py``): an example with some top-level keys replaced, a shipped hardware config with
another activation policy, one proxy score cache for many runs, a run's fastest design meeting its
constraints, the rank correlations ``task_proxies.py`` measured, and a median [min, max] text.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import yaml

from accelsim.config import hardware_to_dict, load_hardware
from accelsim.io import read_yaml, write_atomic
from codesign.search.runconfig import load_run_config, parse_run_config
from codesign.search.runs import execute

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("detector_fusion", "detector_depth", "detector_both", "segmentation", "camera_memory")
RESULTS = Path(__file__).resolve().parent / "results" / "product_models.md"
EXAMPLES_DIR = ROOT / "examples" / "search"


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


# ------------------------------------------------------------------------------------- shared helpers
def example_config(example: str, **replace):
    """``examples/search/<example>.yaml`` as a checked run config, with the top-level keys in ``replace``
    replaced (``hardware``, ``seed``, ``budget``, ``algorithm``, ``constraints``, ...; a value of None
    removes the key). The example's space and accuracy signal are kept as shipped."""
    data = copy.deepcopy(read_yaml(EXAMPLES_DIR / f"{example}.yaml"))
    for key, value in replace.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    where = f"{example}.yaml" + (f" on {Path(str(data['hardware'])).stem}" if "hardware" in replace else "")
    return parse_run_config(data, where)


def hardware_variant(name: str, policy: "str | None", folder: Path) -> str:
    """What a run config's ``hardware`` key takes for the shipped config ``name`` with its
    ``memory.activation_policy`` set to ``policy``: the name itself when ``policy`` is None or the config's
    own, else a copy written to ``folder/<name>_<policy>.yaml`` (named so) and its path."""
    hw = load_hardware(name)
    if policy is None or policy == hw.activation_policy:
        return name
    data = hardware_to_dict(hw.replace(activation_policy=policy))
    data["name"] = f"{name}_{policy}"
    data["description"] = f"{hw.description.rstrip('.')}; activation policy {policy} (shipped: {hw.activation_policy})."
    path = folder / f"{name}_{policy}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))
    return str(path.resolve())


def share_scores(cfg, store: dict) -> None:
    """Make ``cfg``'s accuracy source read and add to ``store``. A proxy's score depends on the genome and
    the accuracy settings only (the initial weights come from a seed of the genome and ``accuracy.seed``),
    not on the hardware or on which search asks, so runs with the same settings may share one cache
    (keyed by the settings and the scoring threads); each design is then scored once per process. Only
    for runs evaluated in this process (the serial runner)."""
    acc = cfg.build_problem().accuracy
    if acc is None:
        return
    key = json.dumps({"source": acc.source, "threads": acc.threads, **acc.options}, sort_keys=True, default=str)
    shared = store.setdefault(key, {})
    shared.update(acc.cache)
    acc.cache = shared


# An experiment's --force-new (add_force_new): each run folder that already holds evaluations is moved
# aside (to <folder>.old-<time>, not deleted) and run afresh; without it, a folder made from other
# inputs (an engine changed since, say) is refused with one line, as `codesign search` refuses it.
FORCE_NEW = {"on": False}


def add_force_new(ap) -> None:
    ap.add_argument("--force-new", action="store_true",
                    help="move every existing run folder aside (<folder>.old-<time>) and run afresh, e.g. after "
                         "the engine changed; without it such a folder is refused, and a matching one resumed")


def execute_run(cfg, out: Path):
    """:func:`codesign.search.runs.execute`, quietly, honouring --force-new (:data:`FORCE_NEW`)."""
    return execute(cfg, out, progress=False, log=None, force_new=FORCE_NEW["on"])


def run_search(cfg, out: Path, scores: "dict | None" = None):
    """Run (or resume) ``cfg`` in ``out`` quietly, sharing proxy scores through ``scores`` when given;
    returns the :class:`~codesign.search.runs.Run` and the run's wall seconds (as its summary holds
    them when the run was already complete)."""
    if scores is not None:
        share_scores(cfg, scores)
    start = time.perf_counter()
    run = execute_run(cfg, out)
    seconds = json.loads((out / "summary.json").read_text()).get("seconds", time.perf_counter() - start)
    return run, float(seconds)


def pct(x: float) -> str:
    """A ratio change for tables: 0.14 -> '+14.0 %', and '0 %' for less than 0.05 %."""
    return f"{100 * x:+.1f} %" if abs(x) >= 0.0005 else "0 %"


def design_row(problem, genes: dict, m: dict) -> dict:
    """One evaluated design: its description, genes, metrics and ratios to the problem's baseline."""
    base = problem.baseline_metrics
    row = {"network": problem.describe(genes)[0], "genes": dict(genes),
           **{k: float(m[k]) for k in ("latency_ms", "accuracy", "macs_m", "params_m", "memory_mb") if k in m}}
    row["ratio"] = {k: row[k] / base[k] for k in ("latency_ms", "accuracy", "macs_m", "params_m", "memory_mb")
                    if k in row and k in base}
    return row


def fastest_feasible(problem, genomes: list, metrics: list) -> "dict | None":
    """The fastest design meeting every constraint (of equal latencies, the higher proxy), as
    :func:`design_row`; None when none does."""
    ok = [i for i, m in enumerate(metrics) if m["violation"] <= 0 and math.isfinite(m["latency_ms"])]
    if not ok:
        return None
    i = min(ok, key=lambda i: (metrics[i]["latency_ms"], -metrics[i].get("accuracy", 0.0)))
    return design_row(problem, genomes[i], metrics[i])


def proxy_correlations(task: str) -> dict:
    """What ``experiments/task_proxies.py`` measured for ``task`` (detection or segmentation), read from its
    committed results: per proxy, Spearman rho with its bootstrap 95 % interval and Kendall tau against
    the score each design reached after short training, with the number of designs and the range of
    the trained scores."""
    if __package__:
        from .task_proxies import RESULTS as TASK_PROXY_RESULTS
    else:
        from task_proxies import RESULTS as TASK_PROXY_RESULTS
    folder = TASK_PROXY_RESULTS / task
    with open(folder / "correlations.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["task"] == task]
    with open(folder / "designs.csv", newline="") as fh:
        scores = [float(r["score"]) for r in csv.DictReader(fh) if r["task"] == task]
    return {"task": task, "source": f"experiments/results/task_proxies/{task}/correlations.csv",
            "designs": len(scores), "score_median": float(np.median(scores)), "score_min": min(scores),
            "score_max": max(scores),
            "proxies": {r["proxy"]: {k: float(r[k]) for k in ("spearman", "ci_low", "ci_high", "kendall")}
                        for r in rows}}


def spread(values, fmt: str = "{:.1f}") -> str:
    """``median [min, max]`` of ``values``; just the value when there is one."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return "-"
    if v.size == 1:
        return fmt.format(v[0])
    return f"{fmt.format(np.median(v))} [{fmt.format(v.min())}, {fmt.format(v.max())}]"


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
        cfg = load_run_config(EXAMPLES_DIR / f"{name}.yaml")
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
