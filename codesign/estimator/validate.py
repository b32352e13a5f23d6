"""Validation of an estimator on held-out data, with baselines, as a Markdown report with plots.

Held-out means never used for training or model selection: networks whose key is not among the
checkpoint's training networks, split by whether their hardware config was among the training
configs (``seen``) or not (``held-out hardware``). Metrics follow nn-Meter: MAPE, RMSE, the share of
predictions within ±5 % and ±10 %, plus Spearman and Kendall rank correlation (pooled over pairs,
and the mean over hardware configs of the per-config correlation across networks: the one that
matters when a search ranks networks on one chip). Rank statistics are scipy's (``spearmanr`` with
average ranks for ties; ``kendalltau``'s tau-b).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from accelsim.extras import importing
from accelsim.io import write_atomic

with importing("scipy", "codesign", "codesign.estimator.validate"):
    from scipy.stats import kendalltau, rankdata, spearmanr  # noqa: F401 (rankdata: re-exported)

from .baselines import BASELINES, pair_baselines
from ..errors import CodesignError


# ------------------------------------------------------------------------------------ statistics
def _undefined(x: np.ndarray, y: np.ndarray) -> bool:
    """Fewer than two points, or a constant input: the rank correlation is undefined (NaN), without
    the warning scipy would give."""
    return len(x) < 2 or bool(np.all(x == x[0])) or bool(np.all(y == y[0]))


def finite_ranks(v) -> np.ndarray:
    """``v`` with each -inf or NaN (a singular NASWOT kernel, an empty synflow) just below the smallest
    finite value: it ranks below everything else and the ranks of the rest are kept."""
    v = np.asarray(v, dtype=float).copy()
    bad = ~np.isfinite(v)
    if bad.any():
        v[bad] = (v[~bad].min() if (~bad).any() else 0.0) - 1.0
    return v


def spearman_interval(x, y, seed: int, resamples: int = 1000) -> tuple:
    """95 % interval of Spearman's rho from ``resamples`` bootstrap resamples of the pairs (NaN, NaN when
    every resample's rho is undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    vals = [spearman(x[i], y[i]) for i in (rng.integers(len(x), size=len(x)) for _ in range(resamples))]
    if np.all(np.isnan(vals)):
        return float("nan"), float("nan")
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (scipy.stats.spearmanr: Pearson's r of the average ranks)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if _undefined(x, y):
        return float("nan")
    return float(spearmanr(x, y)[0])


def kendall_tau_b(x: np.ndarray, y: np.ndarray, chunk: int | None = None) -> float:
    """Kendall's tau-b (scipy.stats.kendalltau, O(n log n)). ``chunk`` is accepted for older callers
    and has no effect."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if _undefined(x, y):
        return float("nan")
    return float(kendalltau(x, y, variant="b")[0])


def metrics(pred: np.ndarray, true: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """MAPE, RMSE, within ±5/±10 %, pooled Spearman/Kendall and their mean over ``groups``."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(true) & (true > 0)
    pred, true = pred[ok], true[ok]
    if len(true) == 0:
        return {"n": 0}
    rel = pred / true - 1.0
    out = {"n": int(len(true)), "mape_pct": float(100 * np.abs(rel).mean()),
           "rmse": float(np.sqrt(((pred - true) ** 2).mean())), "bias_pct": float(100 * rel.mean()),
           "within_5_pct": float(100 * (np.abs(rel) <= 0.05).mean()),
           "within_10_pct": float(100 * (np.abs(rel) <= 0.10).mean()),
           "max_abs_error_pct": float(100 * np.abs(rel).max()),
           "spearman": spearman(pred, true), "kendall": kendall_tau_b(pred, true) if len(true) <= 20000 else
           kendall_tau_b(pred[:20000], true[:20000])}
    if groups is not None:
        g = np.asarray(groups)[ok]
        sp, kd = [], []
        for key in np.unique(g):
            m = g == key
            if m.sum() >= 5:
                sp.append(spearman(pred[m], true[m]))
                kd.append(kendall_tau_b(pred[m], true[m]))
        out["per_hw_configs"] = len(sp)
        # a config whose latencies are all equal has no rank correlation (nan); the mean is over the others
        out["spearman_per_hw"] = float(np.nanmean(sp)) if np.isfinite(sp).any() else float("nan")
        out["kendall_per_hw"] = float(np.nanmean(kd)) if np.isfinite(kd).any() else float("nan")
    return out


# ------------------------------------------------------------------------------------ validation
def _splits(ds, meta: dict) -> dict:
    """Masks over the dataset's pairs for the held-out splits."""
    P = ds.pairs
    seen_hw = np.isin(P["hw"], np.asarray(meta.get("seen_hardware", []), dtype=str))
    seen_net = np.isin(P["workload"], np.asarray(meta.get("seen_networks", []) + meta.get("selection_networks", []),
                                                 dtype=str))
    ok = P["feasible"] & np.isfinite(P["total_cycles"])
    nets = (P["kind"] == "network") & ~seen_net & ok
    zoo = (P["kind"] == "zoo") & ~seen_net & ok
    splits = {"held-out networks, seen hardware": nets & seen_hw,
              "held-out networks, held-out hardware": nets & ~seen_hw,
              "held-out networks, base config (neural_engine)": nets & (P["hw_pool_index"] == 0),
              "zoo models, seen hardware": zoo & seen_hw,
              "zoo models, held-out hardware": zoo & ~seen_hw}
    return {k: v for k, v in splits.items() if v.any()}


def validate(estimator, ds) -> dict:
    """All metrics for every split, for the estimator and the baselines (latency), plus energy/DRAM."""
    if estimator.mode != "simulator":
        raise CodesignError("validate-estimator: needs a simulator-mode estimator (trained on `codesign dataset` "
                            "records); measured-mode models are checked by `codesign train-estimator --measured`")
    pred = estimator.predict_dataset(ds)
    P = ds.pairs
    true_lat = P["latency_ms"]
    lay, hw_rows = ds.layer_inputs()
    raw = pair_baselines(lay, hw_rows, P["layer_start"])
    consts = estimator.metadata.get("baselines", {})
    clock = ds.hardware["clock_mhz"][P["hw_row"]]
    base_lat = {k: raw[k] * consts.get(k, 1.0) / (clock * 1e3) for k in BASELINES}
    results = {}
    for name, m in _splits(ds, estimator.metadata).items():
        groups = P["hw"][m]
        r = {"pairs": int(m.sum()), "networks": int(len(np.unique(P["workload"][m]))),
             "hardware_configs": int(len(np.unique(groups))),
             "latency": metrics(pred["latency_ms"][m], true_lat[m], groups),
             "energy": metrics(pred["energy_mj"][m], P["energy_pj"][m] * 1e-9, groups),
             "dram": metrics(pred["dram_bytes"][m], P["dram_bytes"][m], groups),
             "baselines": {k: metrics(base_lat[k][m], true_lat[m], groups) for k in BASELINES}}
        rel = pred["latency_ms"][m] / true_lat[m] - 1
        worst = np.argsort(-np.abs(rel))[:8]
        idx = np.nonzero(m)[0][worst]
        r["worst"] = [{"network": str(P["name"][i]), "hardware": str(ds.hardware["name"][P["hw_row"][i]]),
                       "simulated_ms": float(true_lat[i]), "predicted_ms": float(pred["latency_ms"][i]),
                       "error_pct": float(100 * (pred["latency_ms"][i] / true_lat[i] - 1))} for i in idx]
        results[name] = r
    if not results:
        raise CodesignError(f"validate-estimator: {', '.join(ds.sources)} holds no held-out network pairs (every "
                            "network was seen in training); make a dataset with another --seed")
    return {"splits": results, "predictions": pred, "masks": _splits(ds, estimator.metadata)}


def _fmt_pct(v):
    return "–" if v is None or not np.isfinite(v) else f"{v:.2f} %"


def _fmt(v, digits=4):
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def markdown(summary: dict, model_path: str, data: tuple, meta: dict) -> str:
    lines = ["# Estimator validation", "",
             f"Model `{model_path}` (trained {meta.get('trained_at', '?')} on {meta.get('layer_rows', 0):,} layer rows "
             f"from {', '.join(meta.get('data', []))}); held-out data {', '.join(data)}. Held-out networks were "
             "never used for training or model selection; *seen* hardware configs appear in the training data, "
             "*held-out* ones do not.", "",
             "## Latency", "",
             "| split | pairs | networks | configs | MAPE | RMSE ms | within ±5 % | within ±10 % | Spearman | "
             "Kendall | Spearman per config | Kendall per config |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in summary.items():
        m = r["latency"]
        lines.append(f"| {name} | {r['pairs']:,} | {r['networks']:,} | {r['hardware_configs']} | {_fmt_pct(m['mape_pct'])} | "
                     f"{_fmt(m['rmse'])} | {m['within_5_pct']:.1f} % | {m['within_10_pct']:.1f} % | "
                     f"{_fmt(m['spearman'])} | {_fmt(m['kendall'])} | {_fmt(m.get('spearman_per_hw'))} | "
                     f"{_fmt(m.get('kendall_per_hw'))} |")
    lines += ["", "## Baselines (latency)", "",
              "`macs`: MACs at the config's peak rate; `roofline`: per layer max(ops at peak, compulsory bytes / "
              "bandwidth); `analytic`: per layer max(SCALE-Sim compute cycles, compulsory bytes / bandwidth) + DRAM "
              "latency (the base the estimator corrects). Each is scaled by one constant fitted on the training data.",
              "", "| split | model | MAPE | within ±10 % | Spearman | Kendall | Spearman per config | Kendall per config |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in summary.items():
        rows = [("estimator", r["latency"])] + [(k, v) for k, v in r["baselines"].items()]
        for model, m in rows:
            lines.append(f"| {name} | {model} | {_fmt_pct(m['mape_pct'])} | {m['within_10_pct']:.1f} % | "
                         f"{_fmt(m['spearman'])} | {_fmt(m['kendall'])} | {_fmt(m.get('spearman_per_hw'))} | "
                         f"{_fmt(m.get('kendall_per_hw'))} |")
    lines += ["", "## Energy and DRAM traffic", "", "| split | energy MAPE | energy within ±10 % | DRAM MAPE | "
              "DRAM within ±10 % |", "|---|---:|---:|---:|---:|"]
    for name, r in summary.items():
        e, d = r["energy"], r["dram"]
        lines.append(f"| {name} | {_fmt_pct(e['mape_pct'])} | {e['within_10_pct']:.1f} % | {_fmt_pct(d['mape_pct'])} | "
                     f"{d['within_10_pct']:.1f} % |")
    lines += ["", "## Worst cases (latency)", "", "| split | network | hardware | simulated ms | predicted ms | error |",
              "|---|---|---|---:|---:|---:|"]
    for name, r in summary.items():
        for w in r["worst"][:5]:
            lines.append(f"| {name} | {w['network']} | {w['hardware']} | {w['simulated_ms']:.4f} | "
                         f"{w['predicted_ms']:.4f} | {w['error_pct']:+.2f} % |")
    lines += ["", "![predicted vs simulated](scatter.png)", "", "![error histogram](errors.png)", ""]
    return "\n".join(lines)


def plots(result: dict, ds, out: Path) -> None:
    from accelsim.plots import log_ticks, pyplot, save_figure
    plt = pyplot()
    P = ds.pairs
    pred = result["predictions"]["latency_ms"]
    fig, ax = plt.subplots(figsize=(6, 6))
    lo, hi = np.inf, 0.0
    for name, m in result["masks"].items():
        if "base config" in name:
            continue
        ax.scatter(P["latency_ms"][m], pred[m], s=4, alpha=0.5, label=name)
        lo, hi = min(lo, P["latency_ms"][m].min()), max(hi, P["latency_ms"][m].max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="predicted = simulated")
    ax.set_xscale("log")
    ax.set_yscale("log")
    both = (min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1]))
    ax.set_xlim(both)   # the same range on both axes: the diagonal at 45 degrees, errors read alike
    ax.set_ylim(both)
    log_ticks(ax.xaxis)
    log_ticks(ax.yaxis)
    ax.set_xlabel("simulated latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title("estimator vs simulator, held-out networks")
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    save_figure(fig, out / "scatter.png", dpi=120)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, m in result["masks"].items():
        if "base config" in name:
            continue
        err = 100 * (pred[m] / P["latency_ms"][m] - 1)
        if not err.size:
            continue
        # each split sums to 100 %: splits of different sizes on one scale, in a unit that reads directly
        ax.hist(np.clip(err, -15, 15), bins=60, range=(-15, 15), histtype="step", label=name,
                weights=np.full(err.size, 100.0 / err.size))
    for v in (-10, -5, 5, 10):
        ax.axvline(v, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("latency error (%), clipped to ±15 %")
    ax.set_ylabel("% of the split's pairs\n(0.5 %-wide bins)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, out / "errors.png", dpi=120)


def write_report(estimator, model_path, ds, report_dir) -> dict:
    """Validate and write ``report.md``, ``metrics.json``, ``predictions.csv``, ``scatter.png``, ``errors.png``."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = validate(estimator, ds)
    summary = result["splits"]
    write_atomic(out / "metrics.json", json.dumps(summary, indent=1))
    write_atomic(out / "report.md", markdown(summary, str(model_path), ds.sources, estimator.metadata))
    P = ds.pairs
    pred = result["predictions"]
    any_split = np.zeros(ds.n_pairs, dtype=bool)
    for name, m in result["masks"].items():
        any_split |= m
    rows = ["network,hardware,kind,simulated_ms,predicted_ms,simulated_mj,predicted_mj"]
    for i in np.nonzero(any_split)[0]:
        rows.append(f"{P['name'][i]},{ds.hardware['name'][P['hw_row'][i]]},{P['kind'][i]},{P['latency_ms'][i]:.6g},"
                    f"{pred['latency_ms'][i]:.6g},{P['energy_pj'][i] * 1e-9:.6g},{pred['energy_mj'][i]:.6g}")
    write_atomic(out / "predictions.csv", "\n".join(rows) + "\n")
    plots(result, ds, out)
    return summary
