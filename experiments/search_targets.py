"""How well do the searches do? Measured against exhaustive enumeration, on simulated hardware.

1. **Exact fronts.** Two spaces small enough to enumerate (<= 50k candidates) are scored in full,
   which gives the true Pareto front and its hypervolume:
   - ``nb201``: all 15,625 NAS-Bench-201 cells on the default neural_engine, latency (min) vs
     CIFAR-10 test accuracy (max, from the NAS-Bench-201 table);
   - ``hw``: 17,496 accelerator configs for MobileNetV2 (array rows x cols, dataflow, vector lanes,
     three buffer sizes, DRAM bandwidth), latency vs energy, area <= 8 mm^2.
   Random search, aging evolution and NSGA-II then run with 10 % of the exhaustive budget, 5 seeds
   each; we report the share of the true hypervolume reached (median, min, max) and the evaluations
   each needed to reach 95 %.
2. **Joint vs fixed hardware.** NAS-Bench-201 x hardware (area no larger than the neural_engine):
   the joint front's EDP at the accuracy of the best cells found on the fixed default hardware.
3. **Curated vs free channels.** The IBN / fused-IBN space with channel counts that are multiples
   of the 32-wide array vs any count in the same range; latency vs log10(params) (a capacity
   proxy); evaluations until 95 % of the best hypervolume seen in that space.

Run: ``python experiments/search_targets.py`` (about 5 minutes on 2 cores); writes
``experiments/results/search_targets.{md,json}`` and ``search_targets.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

import accelsim
from accelsim.config import load_hardware
from accelsim.io import write_atomic
from codesign.search import problems as P
from codesign.search.pareto import hypervolume, non_dominated
from codesign.search.algorithms import genome_key, run_search
from codesign.spaces.space import HardwareSpace, NetworkSpace

RESULTS = Path(__file__).resolve().parent / "results"
ALGOS = ("random", "evolution", "nsga2")
ALGO_OPTIONS = {"random": {}, "evolution": {"population": 64, "sample_size": 16}, "nsga2": {"population": 64}}


class TableProblem:
    """A problem whose every candidate was scored in advance (the exhaustive enumeration): the
    searches see exactly the values the engine gives, at lookup speed."""

    def __init__(self, problem, genomes: list, metrics: list):
        self.choices, self.objectives = problem.choices, problem.objectives
        self.table = {genome_key(g): m for g, m in zip(genomes, metrics)}

    def evaluate(self, genomes):
        return [self.table[genome_key(g)] for g in genomes]


def enumerate_problem(problem, batch: int = 2048, label: str = "") -> tuple[list, list]:
    keys = list(problem.choices)
    genomes = [dict(zip(keys, values)) for values in itertools.product(*problem.choices.values())]
    metrics = []
    t0 = time.perf_counter()
    for i in range(0, len(genomes), batch):
        metrics += problem.evaluate(genomes[i:i + batch])
    print(f"  {label}: {len(genomes):,} candidates scored in {time.perf_counter() - t0:.1f} s", flush=True)
    return genomes, metrics


def objective_matrix(metrics, objectives):
    objs = np.array([[m[o] for o in objectives] for m in metrics], dtype=float)
    ok = np.array([m["violation"] <= 0 for m in metrics]) & np.all(np.isfinite(objs), axis=1)
    return objs, ok


def true_front(metrics, objectives) -> np.ndarray:
    """Objective vectors of the feasible non-dominated candidates."""
    objs, ok = objective_matrix(metrics, objectives)
    pts = objs[ok]
    return pts[non_dominated(pts)]


def nadir_reference(front: np.ndarray, margin=0.1) -> np.ndarray:
    """A front's nadir pushed out by ``margin`` of its range: points far behind the front add
    nothing, so the hypervolume share measures how well the front itself was found."""
    lo, hi = front.min(axis=0), front.max(axis=0)
    return hi + margin * (hi - lo)


def evals_to(trace: np.ndarray, target: float) -> float:
    hit = np.nonzero(trace >= target)[0]
    return float(hit[0] + 1) if hit.size else float("nan")


def compare_algorithms(name, problem, genomes, metrics, seeds, fraction=0.10, batch=32):
    front = true_front(metrics, problem.objectives)
    ref = nadir_reference(front)
    hv_true = hypervolume(front, ref)
    table = TableProblem(problem, genomes, metrics)
    budget = int(round(fraction * len(genomes)))
    rows, traces = {}, {}
    for algo in ALGOS:
        shares, to95 = [], []
        traces[algo] = []
        for seed in seeds:
            r = run_search(table, algo, budget, seed, batch_size=batch, options=ALGO_OPTIONS[algo])
            tr = r.hypervolume_trace(ref) / hv_true
            traces[algo].append(tr)
            shares.append(tr[-1])
            to95.append(evals_to(tr, 0.95))
        rows[algo] = {"hv_share_median": float(np.median(shares)), "hv_share_min": float(np.min(shares)),
                      "hv_share_max": float(np.max(shares)), "evals_to_95_median": float(np.nanmedian(to95))
                      if not np.all(np.isnan(to95)) else None,
                      "runs_reaching_95": int(np.sum(np.array(shares) >= 0.95)), "seeds": len(seeds)}
        print(f"  {name} {algo:9s}: {100 * np.median(shares):.1f} % of true HV at {budget} evals "
              f"(min {100 * np.min(shares):.1f}, max {100 * np.max(shares):.1f}); 95 % reached by "
              f"{rows[algo]['runs_reaching_95']}/{len(seeds)} runs, median after {rows[algo]['evals_to_95_median']} evals",
              flush=True)
    return {"space_size": len(genomes), "budget": budget, "true_front_size": int(len(front)),
            "true_hypervolume": hv_true, "reference": [float(v) for v in ref], "algorithms": rows}, traces


# ------------------------------------------------------------------------------------------ parts
def part_nb201(seeds):
    hw = load_hardware("neural_engine")
    problem = P.SearchProblem(P.NB201Axis(), P.FixedHardware(hw), ("latency_ms", "accuracy"),
                              accuracy=P.AccuracySource("nb201", dataset="cifar10"))
    genomes, metrics = enumerate_problem(problem, label="nb201 x neural_engine")
    res, traces = compare_algorithms("nb201", problem, genomes, metrics, seeds)
    return res, traces, (problem, genomes, metrics)


def part_hw(seeds):
    space = HardwareSpace(rows=(8, 16, 32, 48, 64, 128), cols=(8, 16, 32, 48, 64, 128),
                          dataflows=("os", "ws", "is"), vector_lanes=(16, 32, 64), sram_kb=(64, 256, 1024),
                          unified_probability=0.0, dram_gb_per_s=(12.8, 51.2), precision_sets=(("int8",),))
    net = accelsim.load_model("mobilenet_v2")
    problem = P.SearchProblem(P.FixedNetwork(net), P.HardwareAxis(space), ("latency_ms", "energy_mj"),
                              constraints=(P.Constraint("area_mm2", max=8.0),))
    genomes, metrics = enumerate_problem(problem, label="hardware for mobilenet_v2")
    res, traces = compare_algorithms("hw", problem, genomes, metrics, seeds)
    return res, traces


def part_joint(nb201_data, seeds, budget):
    problem_fixed, genomes, metrics = nb201_data
    # the fixed-hardware front in (EDP, accuracy), from the exhaustive enumeration
    pts = np.array([[m["edp"], -m["accuracy"]] for m in metrics])
    fixed_front = pts[non_dominated(pts)]
    space = HardwareSpace(rows=(8, 16, 24, 32, 48, 64), cols=(8, 16, 24, 32, 48, 64), dataflows=("os", "ws", "is"),
                          vector_lanes=(16, 32, 64), sram_kb=(64, 128, 256, 512), unified_kb=(512, 1024, 1536),
                          dram_gb_per_s=(12.8, 25.6), precision_sets=(("int8",), ("int8", "int16")))
    base = load_hardware("neural_engine")
    joint = P.SearchProblem(P.NB201Axis(), P.HardwareAxis(space, base), ("edp", "accuracy"),
                            constraints=(P.Constraint("area_mm2", max=base.area_mm2), P.Constraint("memory_mb", budget=True)),
                            accuracy=P.AccuracySource("nb201", dataset="cifar10"))
    out = []
    t0 = time.perf_counter()
    fronts = []
    for seed in seeds:
        r = run_search(joint, "evolution", budget, seed, batch_size=64,
                       options={"population": 64, "sample_size": 16, "crossover": 0.25})
        idx = r.front()
        fronts.append([(r.metrics[i]["edp"], r.metrics[i]["accuracy"], r.genomes[i]) for i in idx])
    seconds = time.perf_counter() - t0
    levels = sorted(set([float(-fixed_front[:, 1].min())] + [a for a in (90.0, 92.0, 93.0) if a <= -fixed_front[:, 1].min()]))
    for acc in levels:
        fixed_edp = float(fixed_front[-fixed_front[:, 1] >= acc - 1e-9, 0].min())
        gains = []
        for fr in fronts:
            cand = [e for e, a, _ in fr if a >= acc - 1e-9]
            gains.append(fixed_edp / min(cand) if cand else float("nan"))
        out.append({"accuracy_at_least": acc, "fixed_hw_edp": fixed_edp, "edp_improvement_median": float(np.nanmedian(gains)),
                    "edp_improvement_min": float(np.nanmin(gains)), "edp_improvement_max": float(np.nanmax(gains))})
        print(f"  joint: accuracy >= {acc:.2f} %: EDP {np.nanmedian(gains):.2f}x better than the best cell on the "
              f"fixed neural_engine (min {np.nanmin(gains):.2f}x, max {np.nanmax(gains):.2f}x)", flush=True)
    best = max(fronts[0], key=lambda t: t[1])
    return {"budget": budget, "seeds": len(seeds), "seconds": round(seconds, 1), "levels": out,
            "example_top_design": {"edp": best[0], "accuracy": best[1], "network": joint.describe(best[2])[0],
                                   "hardware": joint.describe(best[2])[1]}}


def part_channels(seeds, budget):
    res, traces = {}, {}
    hw = load_hardware("neural_engine")
    runs = {}
    for mode in ("curated", "free"):
        space = NetworkSpace(channel_mode=mode, channel_multiple=32, resolutions=(160, 224), depths=(1, 2, 3),
                             expansions=(3, 6))
        problem = P.SearchProblem(P.MobileAxis(space), P.FixedHardware(hw), ("latency_ms", "accuracy"),
                                  constraints=(P.Constraint("memory_mb", budget=True),),
                                  accuracy=P.AccuracySource("params"))
        runs[mode] = [run_search(problem, "evolution", budget, s, batch_size=64,
                                 options={"population": 64, "sample_size": 16}) for s in seeds]
    allpts = np.vstack([r.objective_matrix()[r.feasible] for rs in runs.values() for r in rs])
    union = allpts[non_dominated(allpts)]
    ref = nadir_reference(union)
    hv_union = hypervolume(union, ref)
    for mode, rs in runs.items():
        tr = [r.hypervolume_trace(ref) for r in rs]
        best = max(t[-1] for t in tr)
        to95 = [evals_to(t, 0.95 * best) for t in tr]
        to95u = [evals_to(t, 0.95 * hv_union) for t in tr]
        res[mode] = {"evals_to_95_of_own_best_median": float(np.nanmedian(to95)),
                     "final_hv_share_of_union_median": float(np.median([t[-1] / hv_union for t in tr])),
                     "evals_to_95_of_union_median": float(np.nanmedian(to95u)) if not np.all(np.isnan(to95u)) else None,
                     "runs_reaching_95_of_union": int(np.sum(~np.isnan(to95u)))}
        traces[mode] = [t / hv_union for t in tr]
        print(f"  channels {mode:7s}: 95 % of its own best HV after {np.nanmedian(to95):.0f} evals (median); "
              f"final {100 * res[mode]['final_hv_share_of_union_median']:.1f} % of the union front's HV; "
              f"95 % of the union reached by {res[mode]['runs_reaching_95_of_union']}/{len(seeds)} runs", flush=True)
    return {"budget": budget, "seeds": len(seeds), "modes": res}, traces


def plot(traces_nb, traces_hw, traces_ch, path):
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, traces, title in ((axes[0], traces_nb, "NAS-Bench-201 on neural_engine"),
                              (axes[1], traces_hw, "hardware for MobileNetV2"),
                              (axes[2], traces_ch, "curated vs free channels")):
        for k, (name, trs) in enumerate(traces.items()):
            arr = np.array(trs)
            x = np.arange(1, arr.shape[1] + 1)
            ax.plot(x, np.median(arr, axis=0), color=f"C{k}", label=name)
            ax.fill_between(x, arr.min(axis=0), arr.max(axis=0), color=f"C{k}", alpha=0.2)
        ax.axhline(0.95, color="k", ls="--", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume / reference")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def markdown(res) -> str:
    lines = ["# Search targets (measured)", "",
             "Share of the true front's hypervolume (reference: the true front's nadir + 10 % of its range) "
             "reached with 10 % of the exhaustive budget "
             f"({len(res['seeds'])} seeds; median [min, max]); evaluations to 95 % (median over runs that reached it).", ""]
    for key, title in (("nb201", "NAS-Bench-201 on neural_engine: latency vs CIFAR-10 accuracy"),
                       ("hw", "Hardware for MobileNetV2: latency vs energy, area <= 8 mm^2")):
        r = res[key]
        lines += [f"## {title}", "", f"{r['space_size']:,} candidates, budget {r['budget']:,}, true front "
                  f"{r['true_front_size']} points.", "",
                  "| algorithm | HV share median | min | max | runs >= 95 % | evals to 95 % |", "|---|---|---|---|---|---|"]
        for algo, a in r["algorithms"].items():
            lines.append(f"| {algo} | {100 * a['hv_share_median']:.1f} % | {100 * a['hv_share_min']:.1f} % | "
                         f"{100 * a['hv_share_max']:.1f} % | {a['runs_reaching_95']}/{a['seeds']} | "
                         f"{a['evals_to_95_median'] if a['evals_to_95_median'] is not None else '-'} |")
        lines.append("")
    j = res["joint"]
    lines += ["## Joint NAS-Bench-201 x hardware vs the fixed neural_engine", "",
              f"Aging evolution, {j['budget']:,} evaluations x {j['seeds']} seeds, area <= the neural_engine's. "
              "EDP of the fixed-hardware front (exhaustive) divided by the joint front's EDP at the same accuracy:", "",
              "| accuracy >= | fixed-HW EDP (mJ*ms) | improvement median | min | max |", "|---|---|---|---|---|"]
    for lv in j["levels"]:
        lines.append(f"| {lv['accuracy_at_least']:.2f} % | {lv['fixed_hw_edp']:.4g} | {lv['edp_improvement_median']:.2f}x | "
                     f"{lv['edp_improvement_min']:.2f}x | {lv['edp_improvement_max']:.2f}x |")
    t = j["example_top_design"]
    lines += ["", f"Most accurate joint design (seed 0): {t['network']} on {t['hardware']}: "
              f"{t['accuracy']:.2f} %, EDP {t['edp']:.4g} mJ*ms.", ""]
    c = res["channels"]
    lines += ["## Curated vs free channels (IBN / fused-IBN space, neural_engine, latency vs log10 params)", "",
              f"Aging evolution, {c['budget']:,} evaluations x {c['seeds']} seeds.", "",
              "| channels | evals to 95 % of own best HV | final HV / union front HV | runs reaching 95 % of union | evals to 95 % of union |",
              "|---|---|---|---|---|"]
    for mode, m in c["modes"].items():
        lines.append(f"| {mode} | {m['evals_to_95_of_own_best_median']:.0f} | {100 * m['final_hv_share_of_union_median']:.1f} % | "
                     f"{m['runs_reaching_95_of_union']}/{c['seeds']} | {m['evals_to_95_of_union_median'] or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--joint-budget", type=int, default=3000)
    ap.add_argument("--channel-budget", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = {"seeds": seeds}
    partial = out / "search_targets.partial.json"

    def keep(key, value):   # each part's numbers reach disk as soon as they exist
        res[key] = value
        write_atomic(partial, json.dumps(res, indent=1))

    print("1. exact fronts", flush=True)
    nb, tr_nb, nb_data = part_nb201(seeds)
    keep("nb201", nb)
    hw, tr_hw = part_hw(seeds)
    keep("hw", hw)
    print("2. joint vs fixed hardware", flush=True)
    keep("joint", part_joint(nb_data, seeds, args.joint_budget))
    print("3. curated vs free channels", flush=True)
    ch, tr_ch = part_channels(seeds, args.channel_budget)
    keep("channels", ch)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    write_atomic(out / "search_targets.json", json.dumps(res, indent=1))
    partial.unlink()
    write_atomic(out / "search_targets.md", markdown(res))
    plot(tr_nb, tr_hw, tr_ch, out / "search_targets.png")
    print(markdown(res))
    print(f"{res['seconds']:.0f} s; wrote {out / 'search_targets.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
