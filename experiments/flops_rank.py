"""FLOPs do not rank latency: where, and by how much. Rank correlation of MACs (FLOPs = 2 MACs, the
same ranks) and of parameter counts with simulated latency, per shipped hardware config.

    python experiments/flops_rank.py [--quick] [--nb201 N] [--ibn N] [--seed 0] [--configs NAME ...]
        [--out experiments/results]

Three sets of networks, each simulated on every config in ``hw_configs/`` (systolic and roofline kinds;
``--configs``: only those named) with ``simulate_many``:

- **nb201**: the NAS-Bench-201 search space, every one of its 15,625 cells (``--nb201 N``: a seeded
  subsample of N), each built as the search space builds it (``codesign.spaces.nb201.network``: the
  graph as written, CIFAR 32x32). Its MACs take only 28 distinct values (they depend only on the
  counts of 3x3 and 1x1 conv edges), so many cells tie on MACs.
- **ibn_space**: ``--ibn`` random genomes of the shipped IBN / fused-IBN network space
  (``codesign.spaces.space.NetworkSpace()`` with its defaults: 7 stages, kernels 3/5/7, expansions
  1/3/4/6, widths 0.5-1.5x, 96-224 px), drawn with ``numpy.random.default_rng(seed)``.
- **zoo**: the zoo models (``accelsim.workload.zoo.MODELS``) at their default options, less the
  single-block models (``ibn_block``, ``fused_ibn_block``) and ``mobilenet_v2_torch`` (the same
  network as ``mobilenet_v2``); **zoo_readme** is the eight models of the README's zoo latency table.

Per (set, config) it reports Spearman's rho and Kendall's tau-b of MACs and of parameters against
latency (for the zoo with a 95 % bootstrap interval of rho), how often the network with fewer MACs of
a pair is the slower one (pairs with different MACs), and the worst such inversion (how many times
slower the cheaper network is). A pair that cannot run on a config is left out of that config and
counted. Writes ``<out>/flops_rank.md``, ``.json`` and ``.png`` atomically; the first line of the
Markdown is the command that made it. ``--quick`` (1,500 NB201 cells, 300 genomes; one to two minutes on
2 cores) writes into ``<out>/quick/`` unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from accelsim.config import load_hardware
from accelsim.engine.simulate import simulate_many
from accelsim.io import write_atomic
from accelsim.workload import zoo
from codesign.estimator.validate import kendall_tau_b, spearman, spearman_interval
from codesign.spaces import nb201 as nb201_space
from codesign.spaces.space import NetworkSpace, build_network

ROOT = Path(__file__).resolve().parents[1]
ZOO_LEFT_OUT = ("ibn_block", "fused_ibn_block", "mobilenet_v2_torch")
ZOO_README = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_edgetpu_s",
              "mnasnet_a1", "resnet18", "resnet50")   # the README's "MACs do not rank latency" table
SETS = ("nb201", "ibn_space", "zoo", "zoo_readme")
QUICK = {"nb201": 1500, "ibn": 300}
FULL = {"nb201": None, "ibn": 2000}
BOOTSTRAP = 1000


# ------------------------------------------------------------------------------------ statistics
def inversions(x, y) -> tuple[float, float]:
    """(share, worst) over the pairs with different ``x``: the share in which the pair's lower-``x``
    member has the strictly higher ``y``, and the largest ``y_low / y_high`` among them (1.0 if none).
    Exact, O(n log n): a Fenwick tree over the ranks of ``y``, filled in increasing ``x`` one group of
    equal ``x`` at a time, so equal-``x`` pairs are never compared."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    order = np.lexsort((y, x))
    ranks = np.searchsorted(np.unique(y), y) + 1          # 1-based dense ranks of y
    tree = np.zeros(len(np.unique(y)) + 1, dtype=np.int64)

    def add(i):
        while i < len(tree):
            tree[i] += 1
            i += i & -i

    def count_le(i):
        s = 0
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s

    slower = pairs = 0
    seen = 0
    worst = 1.0
    best_so_far = -np.inf       # largest y among members with a strictly lower x
    start = 0
    while start < n:
        stop = start
        while stop < n and x[order[stop]] == x[order[start]]:
            stop += 1
        group = order[start:stop]
        for j in group:
            slower += seen - count_le(int(ranks[j]))    # earlier (lower-x) members with a higher y
        pairs += seen * len(group)
        if seen:
            worst = max(worst, float(best_so_far / y[group].min()))
        for j in group:
            add(int(ranks[j]))
        seen += len(group)
        best_so_far = max(best_so_far, float(y[group].max()))
        start = stop
    return (slower / pairs if pairs else float("nan")), worst


def rank_stats(count, latency, seed: int, interval: bool) -> dict:
    out = {"spearman": spearman(count, latency), "kendall": kendall_tau_b(count, latency)}
    share, worst = inversions(count, latency)
    out.update({"inverted_pairs_pct": 100 * share, "worst_inversion": worst})
    if interval:
        out["spearman_ci"] = list(spearman_interval(count, latency, seed, BOOTSTRAP))
    return out


# ------------------------------------------------------------------------------------ networks
def nb201_networks(n: "int | None", seed: int) -> tuple[list, list]:
    archs = nb201_space.all_archs()
    if n is not None and n < len(archs):
        pick = np.sort(np.random.default_rng(seed).choice(len(archs), size=n, replace=False))
        archs = [archs[i] for i in pick]
    return archs, [nb201_space.network(a) for a in archs]


def ibn_networks(n: int, seed: int) -> tuple[list, list]:
    space = NetworkSpace()
    rng = np.random.default_rng(seed)
    genomes = [space.sample(rng) for _ in range(n)]
    return [g.key() for g in genomes], [build_network(g) for g in genomes]


def zoo_networks() -> tuple[list, list]:
    names = [m for m in zoo.MODELS if m not in ZOO_LEFT_OUT]
    return names, [zoo.load_model(m) for m in names]


# ------------------------------------------------------------------------------------ run
def config_paths(names=None) -> list:
    """The shipped configs (``hw_configs/*.yaml``), or those of ``names``; an unknown name is one line."""
    shipped = {p.stem: p for p in sorted((ROOT / "hw_configs").glob("*.yaml"))}
    if not names:
        return list(shipped.values())
    unknown = [n for n in names if n not in shipped]
    if unknown:
        raise SystemExit(f"flops_rank: error: --configs {unknown[0]}: expected one of {', '.join(shipped)}")
    return [shipped[n] for n in names]


def run(n_nb201: "int | None", n_ibn: int, seed: int, config_names=None) -> dict:
    paths = config_paths(config_names)
    hws = [load_hardware(p) for p in paths]
    configs = [{"name": p.stem, "kind": h.kind} for p, h in zip(paths, hws)]
    t0 = time.perf_counter()
    built = {"nb201": nb201_networks(n_nb201, seed), "ibn_space": ibn_networks(n_ibn, seed), "zoo": zoo_networks()}
    print(f"built {sum(len(v[1]) for v in built.values()):,} networks in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    res = {"seed": seed, "configs": configs, "sets": {}}
    latency = {}
    for name, (ids, nets) in built.items():
        t1 = time.perf_counter()
        latency[name] = simulate_many(nets, hws).latency_ms
        print(f"{name}: {len(nets):,} networks x {len(hws)} configs simulated in {time.perf_counter() - t1:.0f} s",
              file=sys.stderr)
    zoo_ids = built["zoo"][0]
    readme_rows = [zoo_ids.index(m) for m in ZOO_README]
    views = {"nb201": ("nb201", slice(None)), "ibn_space": ("ibn_space", slice(None)), "zoo": ("zoo", slice(None)),
             "zoo_readme": ("zoo", readme_rows)}
    for set_name in SETS:
        source, rows = views[set_name]
        ids, nets = built[source]
        keep = range(len(nets)) if isinstance(rows, slice) else rows
        ids, nets = [ids[i] for i in keep], [nets[i] for i in keep]
        lat = latency[source][rows]
        macs = np.array([n.macs for n in nets], dtype=float)
        params = np.array([n.params for n in nets], dtype=float)
        entry = {"networks": len(nets), "distinct_macs": int(len(np.unique(macs))),
                 "macs_range": [float(macs.min()), float(macs.max())],
                 "params_range": [float(params.min()), float(params.max())], "per_config": {}}
        if set_name.startswith("zoo"):
            entry["models"] = ids
            entry["macs"] = macs.tolist()
            entry["params"] = params.tolist()
        for k, c in enumerate(configs):
            ok = np.isfinite(lat[:, k])
            small = set_name.startswith("zoo")
            row = {"infeasible": int((~ok).sum()),
                   "macs": rank_stats(macs[ok], lat[ok, k], seed, small),
                   "params": rank_stats(params[ok], lat[ok, k], seed, small),
                   "latency_range_ms": [float(lat[ok, k].min()), float(lat[ok, k].max())]}
            if small:
                row["latency_ms"] = [float(v) if np.isfinite(v) else None for v in lat[:, k]]
            entry["per_config"][c["name"]] = row
        res["sets"][set_name] = entry
    res["seconds"] = time.perf_counter() - t0
    return res


# ------------------------------------------------------------------------------------ report
SET_TITLES = {"nb201": "NAS-Bench-201 cells", "ibn_space": "IBN / fused-IBN space genomes",
              "zoo": "zoo models", "zoo_readme": "the README table's 8 zoo models"}


def _median(res, set_name, what, stat):
    return float(np.nanmedian([v[what][stat] for v in res["sets"][set_name]["per_config"].values()]))


def markdown(res: dict, command: str) -> str:
    configs = res["configs"]
    lines = [f"`{command}`", "",
             f"# FLOPs vs simulated latency: rank correlation per hardware config (seed {res['seed']})", "",
             "MACs (FLOPs = 2 MACs: the same ranks) and parameter counts against the engine's latency on each "
             "shipped config (`hw_configs/`). ρ: Spearman; τ: Kendall tau-b; inverted: of the pairs with "
             "different MACs, the share in which the network with fewer MACs is the slower one; worst: the "
             "largest latency ratio of such a pair (the cheaper network is that many times slower).", ""]
    for set_name in SETS:
        s = res["sets"][set_name]
        lo, hi = s["macs_range"]
        lines += [f"## {SET_TITLES[set_name]}: {s['networks']:,} networks", "",
                  f"MACs {lo / 1e6:,.1f}–{hi / 1e6:,.1f} M ({s['distinct_macs']:,} distinct values); params "
                  f"{s['params_range'][0] / 1e6:,.3f}–{s['params_range'][1] / 1e6:,.3f} M.", ""]
        if "models" in s:
            lines += [f"Models: {', '.join(s['models'])}.", ""]
        ci = set_name.startswith("zoo")
        lines += ["| config | kind | MACs ρ" + (" [95 % CI]" if ci else "") + " | MACs τ | inverted | worst | "
                  "params ρ | params τ | latency ms | infeasible |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for c in configs:
            v = s["per_config"][c["name"]]
            m, p = v["macs"], v["params"]
            rho = f"{m['spearman']:.3f}"
            if ci:
                rho += f" [{m['spearman_ci'][0]:.2f}, {m['spearman_ci'][1]:.2f}]"
            lo_ms, hi_ms = v["latency_range_ms"]
            lines.append(f"| {c['name']} | {c['kind']} | {rho} | {m['kendall']:.3f} | "
                         f"{m['inverted_pairs_pct']:.1f} % | {m['worst_inversion']:.2f}× | {p['spearman']:.3f} | "
                         f"{p['kendall']:.3f} | {lo_ms:.3g}–{hi_ms:.3g} | {v['infeasible']} |")
        lines += ["", f"Median over the {len(configs)} configs: MACs ρ "
                  f"{_median(res, set_name, 'macs', 'spearman'):.3f}, "
                  f"params ρ {_median(res, set_name, 'params', 'spearman'):.3f}, inverted pairs "
                  f"{_median(res, set_name, 'macs', 'inverted_pairs_pct'):.1f} %.", ""]
    z = res["sets"]["zoo"]
    names = [c["name"] for c in configs]
    lines += ["## Zoo models: latency per config (ms)", "",
              "| model | MACs M | params M | " + " | ".join(f"`{n}`" for n in names) + " |",
              "|---|---:|---:|" + "---:|" * len(names)]
    for i, m in enumerate(z["models"]):
        lat = [z["per_config"][n]["latency_ms"][i] for n in names]
        lines.append(f"| {m} | {z['macs'][i] / 1e6:,.1f} | {z['params'][i] / 1e6:.3f} | "
                     + " | ".join("–" if v is None else f"{v:.3g}" for v in lat) + " |")
    lines += ["", "## Reading it", "",
              "- NAS-Bench-201: MACs and parameters are both fixed by the counts of 3x3 and 1x1 conv edges and "
              "order the cells the same way (identical ρ); pooling, skip and zero edges cost time but no MACs."]
    for set_name in SETS:
        s = res["sets"][set_name]
        rhos = {c["name"]: s["per_config"][c["name"]]["macs"]["spearman"] for c in configs}
        lo_c, hi_c = min(rhos, key=rhos.get), max(rhos, key=rhos.get)
        lines.append(f"- {SET_TITLES[set_name]}: MACs ρ {rhos[lo_c]:.3f} (`{lo_c}`) to {rhos[hi_c]:.3f} (`{hi_c}`); "
                     f"params ρ median {_median(res, set_name, 'params', 'spearman'):.3f}.")
    lines += ["", f"Wall time {res['seconds']:.0f} s (building and simulating every network on every config).", ""]
    return "\n".join(lines)


def plot(path: Path, res: dict) -> None:
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
    names = [c["name"] for c in res["configs"]]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(names))
    markers = {"nb201": "o", "ibn_space": "s", "zoo": "^", "zoo_readme": "v"}
    for i, set_name in enumerate(SETS):
        s = res["sets"][set_name]
        off = (i - 1.5) * 0.15
        for what, fill in (("macs", True), ("params", False)):
            v = [s["per_config"][n][what]["spearman"] for n in names]
            ax.scatter(x + off, v, marker=markers[set_name], s=28, color=f"C{i}",
                       facecolors=f"C{i}" if fill else "none",
                       label=f"{SET_TITLES[set_name]}, {'MACs' if what == 'macs' else 'params'}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{n}\n({c['kind'][:4]})" for n, c in zip(names, res["configs"])], rotation=45, ha="right",
                       fontsize=7)
    ax.set_ylabel("Spearman ρ with simulated latency")
    ax.set_ylim(-1.05, 1.05)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK['nb201']:,} NB201 cells and {QUICK['ibn']} genomes (default: all 15,625 and "
                         f"{FULL['ibn']:,}); into <out>/quick/")
    ap.add_argument("--nb201", type=int, help="NB201 cells, a seeded subsample (default: all, --quick 1500)")
    ap.add_argument("--ibn", type=int, help="random IBN-space genomes (default 2000, --quick 300)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the NB201 subsample, genomes and bootstrap")
    ap.add_argument("--configs", nargs="+", metavar="NAME", help="hardware configs (default: every hw_configs/*.yaml)")
    ap.add_argument("--out", type=Path, help="folder for flops_rank.{md,json,png} (default experiments/results)")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    n_nb201 = args.nb201 if args.nb201 is not None else sizes["nb201"]
    n_ibn = args.ibn if args.ibn is not None else sizes["ibn"]
    for flag, v in (("--nb201", n_nb201), ("--ibn", n_ibn)):
        if v is not None and v < 3:
            ap.error(f"{flag} {v}: expected at least 3 networks")
    out = args.out or (ROOT / "runs" / "quick" if args.quick else ROOT / "experiments" / "results")
    out.mkdir(parents=True, exist_ok=True)
    res = run(n_nb201, n_ibn, args.seed, args.configs)
    shown = ["python", "experiments/flops_rank.py"] + list(sys.argv[1:] if argv is None else argv)
    command = " ".join(shlex.quote(a) for a in shown)
    res["command"] = command
    text = markdown(res, command)
    write_atomic(out / "flops_rank.json", json.dumps(res, indent=1))
    write_atomic(out / "flops_rank.md", text)
    plot(out / "flops_rank.png", res)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
