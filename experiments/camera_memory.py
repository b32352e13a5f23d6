"""Memory budget on a camera: model transforms and a search under the budget, on ``camera_like``.

Published accelerator-aware NAS work on a consumer neural engine reported that replacing depthwise
convolutions with standard ones and making channel counts multiples of the engine's parallelism
factor cut both model size and peak intermediate memory by 47 % and made a model fit its memory
budget. This script runs the same kind of experiment on the simulated engine and reports what the
model gives; nothing here is tuned toward the published figure.

1. **Transforms**, one by one and together, on a stock classifier (MobileNetV3-Small, 224 px, int8;
   and MobileNetV2, the model of ``examples/search/camera_memory.yaml``), with the library's own
   transforms:

   - depthwise -> standard conv: every depthwise conv becomes a dense conv of the same shape
     (``accelsim.workload.transforms.replace_depthwise_with_dense``);
   - fused IBN: each block's 1x1 expand and kxk depthwise become one kxk standard conv
     (``codesign.spaces.transforms.fuse_ibn``, which also fuses blocks with a squeeze-excite);
   - channels aligned: every conv and linear output channel count rounded to a multiple of the
     array's parallelism factor, ``array.cols`` (``round_channels``, nearest; and down);

   reporting MACs, parameters, stored parameter bytes, the activation arena peak, the largest set of
   tensors live after the first layer, memory (parameters + arena) against the budget, latency and
   energy, each with its change from the stock model.
2. **The whole space** of ``examples/search/camera_memory.yaml``'s axes (IBN or fused IBN per stage,
   channel multiple 1 or the factor, width 0.5 / 0.75 / 1.0) on MobileNetV3-Small, simulated
   exhaustively (engine only); the designs that fit the budget are also scored with the run's
   accuracy proxy (synflow), so the exact front of the fitting designs is known.
3. **Searches** under the budget with the search machinery (NSGA-II, the example's accuracy proxy;
   objectives memory, latency and proxy; constraint ``memory_mb: budget``), one run per seed, each
   compared with the exact front of step 2.

    python experiments/camera_memory.py --quick     # 3 seeds x 48 evaluations, ~1-2 min on 2 cores
    python experiments/camera_memory.py             # 5 seeds x 256 evaluations, ~6 min on 2 cores

The search runs live in ``--runs``/camera_memory/<mode>/s<seed> (resumed when present). The full mode
writes experiments/results/camera_memory.{md,json,png}; ``--quick`` writes into its runs folder unless
``--out`` names a path stem.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

import accelsim
from accelsim.io import read_yaml
from accelsim.workload import transforms as T
from accelsim.workload.arena import plan_arena

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the shared ending in experiments/_results.py
import product_models as PM  # noqa: E402
from _results import finish  # noqa: E402
from codesign.search import non_dominated
from codesign.search.runconfig import parse_run_config
from codesign.spaces import transforms as GT
from codesign.spaces.space import build_network
from codesign.spaces.zoo_genomes import zoo_genome

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLE = ROOT / "examples" / "search" / "camera_memory.yaml"
HARDWARE = "camera_like"
MODEL = "mobilenet_v3_small"            # the stock classifier; the search starts from it
CONTRAST = "mobilenet_v2"               # examples/search/camera_memory.yaml's model, transforms only
HEAD_LAYERS = ("head", "classifier_hidden", "classifier")   # never scaled by the width axis
MIB = 2.0 ** 20
PUBLISHED_CUT = 0.47                    # model size and peak intermediate memory, published

MODES = {   # seeds, evaluations per seed, NSGA-II population (= batch size)
    "quick": {"seeds": (0, 1, 2), "budget": 48, "population": 16},
    "full": {"seeds": (0, 1, 2, 3, 4), "budget": 256, "population": 32},
}


# ---------------------------------------------------------------------------------------------- memory
def live_bytes(plan, steps: int) -> list:
    """Bytes of the arena's buffers live at each step 0..``steps`` (layer i runs at step i; a buffer
    shared by views or in-place tensors counts once, at its largest tensor). The maximum is the plan's
    ``lower_bound_bytes``."""
    buffers: dict = {}
    for name, (first, last) in plan.lifetimes.items():
        root = name
        while root in plan.shares:
            root = plan.shares[root]
        lo, hi, size = buffers.get(root, (first, last, 0))
        buffers[root] = (min(lo, first), max(hi, last), max(size, plan.sizes[name]))
    return [sum(size for lo, hi, size in buffers.values() if lo <= s <= hi) for s in range(steps + 1)]


def measure(net, hw) -> dict:
    """What ``net`` needs of ``hw``: MACs, parameters, stored bytes, arena and where it peaks, memory
    against the budget, latency and energy."""
    r = accelsim.simulate(net, hw)
    plan = plan_arena(net, {p.name: p.bytes_per_element for p in hw.precisions}, hw.channel_alignment)
    if plan.peak_bytes != r.peak_activation_bytes:   # the engine plans the same arena
        raise AssertionError(f"{net.name}: arena {plan.peak_bytes} != report {r.peak_activation_bytes}")
    n = len(net.layers)
    live = live_bytes(plan, n)
    peak_step = int(np.argmax(live))
    after = int(max(live[1:]))
    head = sum(l.param_count for l in net.layers if l.name in HEAD_LAYERS)
    return {"macs": int(net.macs), "params": int(net.params), "head_params": int(head),
            "param_bytes": float(r.param_bytes), "arena_bytes": float(r.peak_activation_bytes),
            "liveness_bound_bytes": float(r.activation_lower_bound_bytes),
            "arena_peak_at": net.layers[peak_step].name if peak_step < n else "(outputs)",
            "arena_peak_input_shape": list(net.layers[peak_step].in_shape) if peak_step < n else [],
            "after_first_layer_bytes": float(after),
            "after_first_layer_at": net.layers[live.index(after, 1)].name if live.index(after, 1) < n else "(outputs)",
            "memory_bytes": float(r.memory_bytes), "budget_bytes": float(hw.memory_budget_mb * MIB),
            "budget_ok": bool(r.budget_ok), "latency_ms": float(r.latency_ms), "energy_mj": float(r.energy_mj)}


# ---------------------------------------------------------------------------------------------- transforms
def variants(model: str, factor: int) -> list:
    """(key, label, network) of the stock model and its transforms, one by one and together."""
    genome = zoo_genome(model)
    base = build_network(genome)
    dense = T.replace_depthwise_with_dense(base)
    fused = build_network(GT.fuse_ibn(genome))
    return [
        ("stock", "stock model", base),
        ("dense", "depthwise -> standard conv", dense),
        ("fused", "fused IBN", fused),
        ("aligned", f"channels -> multiple of {factor} (nearest)", T.round_channels(base, factor)),
        ("aligned_down", f"channels -> multiple of {factor} (down)", T.round_channels(base, factor, "down")),
        ("dense_aligned", f"depthwise -> standard + multiple of {factor}", T.round_channels(dense, factor)),
        ("fused_aligned", f"fused IBN + multiple of {factor}", T.round_channels(fused, factor)),
    ]


def unaligned_channels(net, factor: int) -> list:
    """Names of conv layers (linear layers are 1x1 convs) whose output channels are not a multiple of
    ``factor``, the network's outputs (a classifier's logits) excepted: ``round_channels`` keeps them."""
    read = {src for l in net.layers for src in l.inputs}
    return [l.name for l in net.layers if l.op in ("conv", "conv_transpose") and l.name in read
            and l.out_channels % factor]


def transform_table(model: str, hw) -> dict:
    factor = int(hw.array.cols)
    rows = []
    for key, label, net in variants(model, factor):
        m = measure(net, hw)
        rows.append({"key": key, "label": label, "unaligned_layers": len(unaligned_channels(net, factor)), **m})
    start = rows[0]
    for row in rows:
        row["change"] = {k: row[k] / start[k] - 1 for k in
                         ("macs", "params", "param_bytes", "arena_bytes", "after_first_layer_bytes", "memory_bytes",
                          "latency_ms", "energy_mj")}
    return {"model": model, "factor": factor, "rows": rows}


# ---------------------------------------------------------------------------------------------- search
def run_config(factor: int, *, seed: int = 0, budget: int = 48, population: int = 16, accuracy: bool = True,
               name: str = "camera_memory"):
    """examples/search/camera_memory.yaml moved to the camera: MobileNetV3-Small on ``camera_like``, the
    channel-multiple axis at the array's factor, memory within the config's budget as the constraint,
    and memory, latency and the proxy as objectives (without ``accuracy``: memory and latency only)."""
    data = copy.deepcopy(read_yaml(EXAMPLE))
    data["space"]["network"]["model"] = MODEL
    data["space"]["network"]["search"]["channel_multiple"] = [1, factor]
    data.update(name=name, hardware=HARDWARE, seed=seed, budget=budget, batch_size=population, threads=1,
                algorithm={"name": "nsga2", "population": population},
                objectives=["memory_mb", "latency_ms"] + (["accuracy"] if accuracy else []),
                constraints={"memory_mb": "budget"})
    if not accuracy:
        data.pop("accuracy")
    return parse_run_config(data, f"{EXAMPLE.name} on {HARDWARE} ({MODEL})")


def _design(problem, genes: dict, m: dict, base: dict) -> dict:
    row = {"network": problem.describe(genes)[0], "genes": genes,
           **{k: float(m[k]) for k in ("memory_mb", "latency_ms", "energy_mj", "macs_m", "params_m") if k in m}}
    if "accuracy" in m:
        row["accuracy"] = float(m["accuracy"])
    row["ratio"] = {k: row[k] / base[k] for k in ("memory_mb", "latency_ms", "energy_mj", "accuracy")
                    if k in row and k in base}
    return row


def picks(designs: list, base_accuracy: float) -> dict:
    """The best fitting designs: lowest memory, fastest, highest proxy, and the fastest at the
    stock model's proxy or above (None when no design reaches it)."""
    at_base = [d for d in designs if d["accuracy"] >= base_accuracy]
    return {"lowest_memory": min(designs, key=lambda d: (d["memory_mb"], d["latency_ms"])),
            "fastest": min(designs, key=lambda d: (d["latency_ms"], d["memory_mb"])),
            "best_proxy": max(designs, key=lambda d: (d["accuracy"], -d["latency_ms"])),
            "fastest_at_stock_proxy": min(at_base, key=lambda d: d["latency_ms"]) if at_base else None}


def exhaustive(factor: int) -> dict:
    """Every design of the space on the engine; the fitting ones also with the proxy; their exact front."""
    engine = run_config(factor, accuracy=False).build_problem()
    keys = list(engine.choices)
    genes = [dict(zip(keys, v)) for v in itertools.product(*engine.choices.values())]
    metrics = engine.evaluate(genes)
    fit = [g for g, m in zip(genes, metrics) if m["violation"] <= 0]
    scored = run_config(factor).build_problem()
    base = scored.baseline_metrics
    fit_metrics = scored.evaluate(fit)
    designs = [_design(scored, g, m, base) for g, m in zip(fit, fit_metrics)]
    objs = np.array([[d["memory_mb"], d["latency_ms"], -d["accuracy"]] for d in designs])
    front = sorted((designs[i] for i in np.flatnonzero(non_dominated(objs))),
                   key=lambda d: (d["memory_mb"], d["latency_ms"]))
    mem = np.array([m["memory_mb"] for m in metrics])
    lat = np.array([m["latency_ms"] for m in metrics])
    return {"designs": len(genes), "fit": len(fit), "baseline": {k: float(v) for k, v in base.items()},
            "memory_mb": np.round(mem, 5).tolist(), "latency_ms": np.round(lat, 5).tolist(),
            "fit_by_width": {str(w): sum(1 for g in fit if g["width_multiplier"] == w)
                             for w in engine.choices["width_multiplier"]},
            "at_stock_proxy": sum(1 for d in designs if d["accuracy"] >= base["accuracy"]),
            "front": front, "picks": picks(designs, base["accuracy"])}


def search(factor: int, seed: int, budget: int, population: int, folder: Path) -> dict:
    cfg = run_config(factor, seed=seed, budget=budget, population=population, name=f"camera_memory_s{seed}")
    t0 = time.perf_counter()
    run = PM.execute_run(cfg, folder)
    seconds = json.loads((folder / "summary.json").read_text()).get("seconds", time.perf_counter() - t0)
    problem, result = run.problem, run.result
    base = problem.baseline_metrics
    fitting = [_design(problem, g, m, base) for g, m in zip(result.genomes, result.metrics) if m["violation"] <= 0]
    return {"seed": seed, "evaluations": len(result.metrics), "fit": len(fitting), "seconds": float(seconds),
            "front": [r["network"] for r in run.rows],
            "evaluated": {k: [round(float(m[k]), 5) for m in result.metrics] for k in ("memory_mb", "latency_ms")},
            "picks": picks(fitting, base["accuracy"]) if fitting else None}


def front_found(run: dict, exact: list) -> int:
    """How many designs of the exact front this run's front holds (same network)."""
    found = set(run["front"])
    return sum(1 for d in exact if d["network"] in found)


# ---------------------------------------------------------------------------------------------- output
def _mib(b: float) -> str:
    return f"{b / MIB:.3f}"


def transform_markdown(table: dict, budget_mb: float) -> list:
    lines = ["| transform | MACs M | params M | param MiB | arena peak MiB (at) | after layer 1 MiB | "
             f"memory MiB (budget {budget_mb:g}) | latency ms | energy mJ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table["rows"]:
        change = r["change"]

        def cell(text: str, key: str) -> str:
            return text if r["key"] == "stock" else f"{text} ({PM.pct(change[key])})"
        over = (r["memory_bytes"] - r["budget_bytes"]) / MIB
        fits = "fits" if r["budget_ok"] else f"over by {over:.2f}"
        cells = [r["label"], cell(f"{r['macs'] / 1e6:.1f}", "macs"), cell(f"{r['params'] / 1e6:.3f}", "params"),
                 cell(_mib(r["param_bytes"]), "param_bytes"),
                 cell(_mib(r["arena_bytes"]), "arena_bytes") + f" ({r['arena_peak_at']})",
                 cell(_mib(r["after_first_layer_bytes"]), "after_first_layer_bytes"),
                 cell(_mib(r["memory_bytes"]), "memory_bytes") + f": {fits}",
                 cell(f"{r['latency_ms']:.3f}", "latency_ms"), cell(f"{r['energy_mj']:.4f}", "energy_mj")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _design_cell(d) -> str:
    if d is None:
        return "none"
    r = d["ratio"]
    return (f"`{d['network']}`: {d['memory_mb']:.3f} MiB ({PM.pct(r['memory_mb'] - 1)}), {d['latency_ms']:.3f} ms "
            f"({PM.pct(r['latency_ms'] - 1)}), proxy {r['accuracy']:.3f}×")


def _spread(values: list, fmt: str = "{:.3f}") -> str:
    v = np.array(values, dtype=float)
    return f"{fmt.format(np.median(v))} [{fmt.format(v.min())}, {fmt.format(v.max())}]"


def _changes(rows: list, key: str) -> str:
    """``key``'s change under every transform: one figure when they agree, else their range."""
    values = [r["change"][key] for r in rows[1:]]
    if max(values) - min(values) < 0.0005:
        return f"{PM.pct(values[0])} under every transform"
    return f"{PM.pct(min(values))} to {PM.pct(max(values))}"


def markdown(res: dict) -> str:
    hw, mode, ex = res["hardware"], res["mode"], res["exhaustive"]
    budget = hw["memory_budget_mb"]
    seeds = [r["seed"] for r in res["runs"]]
    main, contrast = res["transforms"][MODEL], res["transforms"][CONTRAST]
    factor = main["factor"]
    st = main["rows"][0]
    rows = {r["key"]: r for r in main["rows"]}
    dense, fused, aligned, down = rows["dense"], rows["fused"], rows["aligned"], rows["aligned_down"]
    cst, cfused = contrast["rows"][0], {r["key"]: r for r in contrast["rows"]}["fused"]
    cst_peak_shape = cst["arena_peak_input_shape"]
    base, pk = ex["baseline"], ex["picks"]
    settings = res["mode_settings"]
    peak_fixed = all(abs(r["change"]["arena_bytes"]) < 0.0005 for r in main["rows"])
    fit_any = [r for r in main["rows"][1:] if r["budget_ok"]]
    lines = [f"`{res['command']}`", "",
             f"# Memory budget on a camera: transforms and a search on `{HARDWARE}`", "",
             f"Mode `{mode}`: seeds {', '.join(map(str, seeds))}, {settings['budget']} evaluations per seed "
             f"(NSGA-II, population {settings['population']}); spread = median [min, max] over seeds. Measured in "
             f"{res['seconds']:.0f} s on 2 shared CPU cores. Hardware `{HARDWARE}` ({hw['description'].rstrip('.')}): "
             f"parallelism factor (array columns = channel alignment) {factor}, memory budget {budget:g} MiB (an "
             "assumption of the config); int8, batch 1, 224×224 input. Memory = stored parameter bytes (channels "
             "padded to the alignment) + the activation arena (greedy-by-size plan over all tensors, the network "
             "input included); *after layer 1* = the largest set of tensors live at any later step (what the "
             "blocks themselves need). Changes in parentheses are against the stock model.", "",
             f"## 1. Transforms on MobileNetV3-Small (`{MODEL}`)", ""]
    lines += transform_markdown(main, budget)
    lines += ["", f"The same transforms on MobileNetV2 (`{CONTRAST}`, the model of "
              "`examples/search/camera_memory.yaml`), same hardware:", ""]
    lines += transform_markdown(contrast, budget)
    lines += ["", "What the model says:", "",
              f"- **Depthwise -> standard conv multiplies the parameters**: a kxk depthwise conv stores k·k·C "
              f"weights, a standard one k·k·C·C, so the parameters go from {st['params'] / 1e6:.2f} M to "
              f"{dense['params'] / 1e6:.2f} M ({PM.pct(dense['change']['params'])}) and the MACs change by "
              f"{PM.pct(dense['change']['macs'])}; every tensor keeps its shape, so the arena changes by "
              f"{PM.pct(dense['change']['arena_bytes'])}. Fusing each block's expand and depthwise into one kxk conv "
              f"adds fewer weights ({PM.pct(fused['change']['params'])} parameters) and removes the expanded tensor "
              f"the depthwise conv read: the blocks' working set changes by "
              f"{PM.pct(fused['change']['after_first_layer_bytes'])} (after layer 1), the arena peak by "
              f"{PM.pct(fused['change']['arena_bytes'])}.",
              f"- **The arena peaks at `{st['arena_peak_at']}`**: the 224×224 input, stored with its 3 channels "
              f"padded to {factor}, is live together with the stem's output ({_mib(st['arena_bytes'])} MiB); the "
              f"largest set live after that is {_mib(st['after_first_layer_bytes'])} MiB (at "
              f"`{st['after_first_layer_at']}`). The arena changes by {_changes(main['rows'], 'arena_bytes')}"
              + (": none of them touches the stem." if peak_fixed else "."),
              f"- **Aligning channels changes little where storage is already padded**: tensors and weights are "
              f"stored with channels padded to {factor}, so rounding the counts to the nearest multiple changes the "
              f"stored parameters by {PM.pct(aligned['change']['param_bytes'])} (rounding down: "
              f"{PM.pct(down['change']['param_bytes'])}, with counts below {factor} still raised to {factor}) and the "
              f"MACs by {PM.pct(aligned['change']['macs'])} ({PM.pct(down['change']['macs'])} down); the array's "
              "fold count already paid for partial columns.",
              f"- **The classifier is a floor**: {st['head_params'] / 1e6:.2f} M of the {st['params'] / 1e6:.2f} M "
              "parameters are in the 1x1 head conv and the two classifier layers (1000 classes); no transform "
              "here shrinks them, and a width multiplier below 1 keeps their output channels.",
              f"- **Budget**: the stock model needs {_mib(st['memory_bytes'])} MiB of {budget:g}; "
              + (f"{len(fit_any)} transform(s) fit: {', '.join(r['label'] for r in fit_any)}." if fit_any
                 else "no transform or combination fits."),
              f"- **Where the peak lies in a block, fusing cuts it** (MobileNetV2): its arena peaks at "
              f"`{cst['arena_peak_at']}`, where the expanded {'x'.join(map(str, cst_peak_shape))} tensor and the "
              f"depthwise output are live together; fused IBN blocks never hold both, so the arena changes by "
              f"{PM.pct(cfused['change']['arena_bytes'])} (it then peaks at `{cfused['arena_peak_at']}`) and the "
              f"largest set live after layer 1 by {PM.pct(cfused['change']['after_first_layer_bytes'])}, while the "
              f"stored parameters change by {PM.pct(cfused['change']['param_bytes'])}: memory "
              f"{PM.pct(cfused['change']['memory_bytes'])} in all.", ""]
    lines += ["## 2. The whole space on MobileNetV3-Small (engine, exhaustive)", "",
              f"`examples/search/camera_memory.yaml`'s axes on `{MODEL}` at `{HARDWARE}`: IBN or fused IBN per stage "
              f"(7 stages), channel multiple 1 or {factor}, width 0.5 / 0.75 / 1.0: {ex['designs']} designs. The stock "
              f"model needs {base['memory_mb']:.3f} MiB; **{ex['fit']} designs fit {budget:g} MiB** (by width: "
              + ", ".join(f"{w}: {n}" for w, n in ex["fit_by_width"].items())
              + f"); the lowest memory in the space is {min(ex['memory_mb']):.3f} MiB "
              f"({PM.pct(min(ex['memory_mb']) / base['memory_mb'] - 1)}). The fitting designs scored with the "
              f"example's proxy (synflow at 128 px; stock model {base['accuracy']:.2f}) have an exact front of "
              f"memory, latency and proxy of {len(ex['front'])} designs; {ex['at_stock_proxy']} of the fitting designs "
              f"{'scores' if ex['at_stock_proxy'] == 1 else 'score'} at least the stock model's proxy. The best "
              "fitting designs:", "",
              "| best fitting | design: memory, latency, proxy (vs stock) |", "|---|---|",
              f"| lowest memory | {_design_cell(pk['lowest_memory'])} |",
              f"| fastest | {_design_cell(pk['fastest'])} |",
              f"| highest proxy | {_design_cell(pk['best_proxy'])} |",
              f"| fastest at ≥ the stock proxy | {_design_cell(pk['fastest_at_stock_proxy'])} |", "",
              f"## 3. Searches under the budget ({len(seeds)} seeds)", "",
              f"NSGA-II over the same space (objectives memory, latency, proxy; constraint memory ≤ {budget:g} MiB; "
              "the stock model is evaluated first):", "",
              "| seed | evaluations | fitting | exact-front designs found | lowest memory MiB | fastest fitting ms | "
              "best proxy | fastest at ≥ stock proxy | seconds |",
              "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in res["runs"]:
        p = r["picks"]
        if p is None:
            lines.append(f"| {r['seed']} | {r['evaluations']} | 0 | 0 of {len(ex['front'])} | | | | none | "
                         f"{r['seconds']:.0f} |")
            continue
        at = p["fastest_at_stock_proxy"]
        at_text = "none" if at is None else f"{at['latency_ms']:.3f} ms"
        lines.append(f"| {r['seed']} | {r['evaluations']} | {r['fit']} | {front_found(r, ex['front'])} of "
                     f"{len(ex['front'])} | {p['lowest_memory']['memory_mb']:.3f} | {p['fastest']['latency_ms']:.3f} | "
                     f"{p['best_proxy']['accuracy']:.2f} | {at_text} | {r['seconds']:.0f} |")
    ok = [r for r in res["runs"] if r["picks"]]
    if ok:
        lines += ["", "Spread over seeds, median [min, max]: lowest fitting memory "
                  f"{_spread([r['picks']['lowest_memory']['memory_mb'] for r in ok])} MiB (exact "
                  f"{pk['lowest_memory']['memory_mb']:.3f}); fastest fitting "
                  f"{_spread([r['picks']['fastest']['latency_ms'] for r in ok])} ms (exact "
                  f"{pk['fastest']['latency_ms']:.3f}); exact-front designs found "
                  f"{_spread([front_found(r, ex['front']) for r in ok], '{:.0f}')} of {len(ex['front'])}; seeds that "
                  "found a fitting design at or above the stock proxy: "
                  f"{sum(1 for r in ok if r['picks']['fastest_at_stock_proxy'] is not None)} of {len(res['runs'])}."]
    best = pk["lowest_memory"]
    widths = [w for w, n in ex["fit_by_width"].items() if n]
    lines += ["", "## Published vs ours", "",
              f"| | published (consumer neural engine) | ours (`{HARDWARE}`, MobileNetV3-Small, this model) |",
              "|---|---|---|",
              f"| model size | −{100 * PUBLISHED_CUT:.0f} % | stored parameters: depthwise -> standard "
              f"{PM.pct(dense['change']['param_bytes'])}, fused IBN {PM.pct(fused['change']['param_bytes'])}, channels "
              f"aligned {PM.pct(aligned['change']['param_bytes'])} "
              f"({PM.pct(down['change']['param_bytes'])} rounding down) |",
              f"| peak intermediate memory | −{100 * PUBLISHED_CUT:.0f} % | arena peak "
              f"{_changes(main['rows'], 'arena_bytes')}; after layer 1, fused IBN "
              f"{PM.pct(fused['change']['after_first_layer_bytes'])}; MobileNetV2 (peak inside a block), fused IBN: "
              f"arena {PM.pct(cfused['change']['arena_bytes'])}, after layer 1 "
              f"{PM.pct(cfused['change']['after_first_layer_bytes'])} |",
              "| fits the budget | yes, after the transforms | "
              + ("no transform or combination fits; " if not fit_any else f"{len(fit_any)} transform(s) fit; ")
              + f"the search space does at width {' / '.join(widths)} ({ex['fit']} of {ex['designs']} designs): lowest "
              f"{best['memory_mb']:.3f} MiB ({PM.pct(best['ratio']['memory_mb'] - 1)}) |", "",
              "Why they differ, from the model: (1) the engine stores a depthwise conv's weights as k·k·C (one "
              "filter per channel) and runs it on the vector unit, so a standard conv can only add weights; an "
              "engine that ran depthwise convs on its array as block-diagonal dense convs, storing or moving the "
              "padded weights, could gain from the swap, and this engine does not model that. (2) The arena "
              "counts the network input, and MobileNetV3-Small's stride-2 stem makes input + stem output the "
              "largest live set, which no block transform touches; if the published figure counts intermediate "
              "tensors only, the comparable figure here is *after layer 1*, which fusing does cut. (3) Storage "
              "already pads channels to the parallelism factor, so aligning the counts saves memory only where "
              "they round down. (4) Here what makes a design fit is a smaller width (every fitting design has "
              f"width {' / '.join(widths)}), and the 1000-class classifier sets a floor that no transform moves; "
              "whether the published models also changed widths is not part of the published figure."]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
    budget = res["hardware"]["memory_budget_mb"]
    rows = res["transforms"][MODEL]["rows"]
    ex = res["exhaustive"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    y = np.arange(len(rows))[::-1]
    params = np.array([r["param_bytes"] for r in rows]) / MIB
    arena = np.array([r["arena_bytes"] for r in rows]) / MIB
    ax1.hlines(y, 0.1, params + arena, color="0.85", lw=6)
    ax1.scatter(params + arena, y, marker="|", s=120, c="k", label="memory (params + arena)", zorder=3)
    ax1.scatter(params, y, s=22, c="#4c72b0", label="parameters", zorder=3)
    ax1.scatter(arena, y, s=22, c="#dd8452", label="activation arena", zorder=3)
    ax1.axvline(budget, color="k", ls="--", lw=1, label=f"budget {budget:g} MiB")
    ax1.set_yticks(y, [r["label"] for r in rows], fontsize=7)
    ax1.set_xscale("log")
    ticks = [0.5, 1, 2, 5, 10, 20, 50]
    ax1.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax1.minorticks_off()
    ax1.set_xlim(0.4, 1.6 * max(params + arena))
    ax1.set_xlabel("MiB (log)")
    ax1.set_title("MobileNetV3-Small: transforms", fontsize=9)
    ax1.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.45, -0.2), ncol=2, frameon=False)
    ax1.grid(alpha=0.3, axis="x")
    mem, lat = np.array(ex["memory_mb"]), np.array(ex["latency_ms"])
    fits = mem <= budget
    ax2.scatter(mem[~fits], lat[~fits], s=6, c="0.75", label="space, over budget")
    for r in res["runs"]:
        ax2.scatter(r["evaluated"]["memory_mb"], r["evaluated"]["latency_ms"], s=10, facecolors="none", edgecolors="#4c72b0", lw=0.5,
                    label="searched" if r is res["runs"][0] else None)
    ax2.scatter(mem[fits], lat[fits], s=8, c="#55a868", label="space, fits", zorder=2)
    b = ex["baseline"]
    ax2.scatter([b["memory_mb"]], [b["latency_ms"]], marker="*", s=120, c="#c44e52", label="stock model", zorder=3)
    ax2.axvline(budget, color="k", ls="--", lw=1)
    ax2.set_xlabel("memory MiB")
    ax2.set_ylabel("latency ms")
    ax2.set_title(f"search space ({ex['designs']} designs) on {HARDWARE}", fontsize=9)
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=90, bbox_inches="tight")


# ---------------------------------------------------------------------------------------------- main
def run(mode: str, runs: Path, log=print) -> dict:
    settings = MODES[mode]
    hw = accelsim.load_hardware(HARDWARE)
    factor = int(hw.array.cols)
    t0 = time.perf_counter()
    res = {"mode": mode, "mode_settings": {**settings, "seeds": list(settings["seeds"])},
           "hardware": {"name": hw.name, "description": hw.description, "memory_budget_mb": float(hw.memory_budget_mb),
                        "parallelism_factor": factor, "channel_alignment": int(hw.channel_alignment)},
           "transforms": {m: transform_table(m, hw) for m in (MODEL, CONTRAST)}}
    log(f"transforms: {time.perf_counter() - t0:.1f} s")
    res["exhaustive"] = exhaustive(factor)
    log(f"exhaustive: {res['exhaustive']['designs']} designs, {res['exhaustive']['fit']} fit "
        f"({time.perf_counter() - t0:.1f} s)")
    res["runs"] = []
    for seed in settings["seeds"]:
        r = search(factor, seed, settings["budget"], settings["population"], runs / "camera_memory" / mode / f"s{seed}")
        res["runs"].append(r)
        log(f"seed {seed}: {r['fit']} of {r['evaluations']} fit, {front_found(r, res['exhaustive']['front'])} of "
            f"{len(res['exhaustive']['front'])} exact-front designs ({time.perf_counter() - t0:.1f} s)")
    res["seconds"] = time.perf_counter() - t0
    return res


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds x 48 evaluations instead of 5 x 256")
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the search runs (default: runs)")
    ap.add_argument("--out", type=Path, help="path stem of the .md/.json/.png outputs (default: "
                    "experiments/results/camera_memory; with --quick, RUNS/camera_memory/quick/camera_memory)")
    PM.add_force_new(ap)
    args = ap.parse_args(argv)
    PM.FORCE_NEW["on"] = args.force_new
    mode = "quick" if args.quick else "full"
    out = args.out or (args.runs / "camera_memory" / "quick" / "camera_memory" if args.quick
                       else RESULTS / "camera_memory")
    return finish("camera_memory.py", argv, out, lambda: run(mode, args.runs), markdown, plot)


if __name__ == "__main__":
    sys.exit(main())
