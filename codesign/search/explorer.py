"""Run explorer: one search run (and, overlaid, the fronts of others) as a self-contained HTML page.

``codesign show RUN --html PAGE [--compare RUN2 ...]`` writes one file with Bokeh's JavaScript inline
(:func:`accelsim.html_report.page_html`), so it opens with nothing fetched. On it:

- every evaluation of the run as a point, on the first two objectives (evaluation number and the
  objective when there is one); an axis is logarithmic when its metric spans more than a decade.
  The feasible non-dominated designs (:meth:`SearchResult.front`, the front ``pareto.csv`` holds) are
  drawn large and joined by their attainment line; other feasible designs small; infeasible ones as
  grey crosses; a baseline design as a star. Colour is the hardware config: one colour each for up
  to ten configs, else the config's area;
- hovering shows the genome, the network and hardware descriptions and every metric;
- clicking a point shows its hardware config and its per-stage latency (compute and DMA stall) and
  energy, simulated by the engine when the page was written (for every evaluation while the page
  stays small, else for the fronts and the baseline: :data:`MAX_BREAKDOWN_ROWS`);
- the hypervolume after each evaluation, beside the points;
- with ``--compare``, each other run's front overlaid (and its hypervolume trace, all traces then
  measured from one reference point: the worst of the runs' own), e.g. a joint search against a
  search of the network alone on the fixed hardware. Runs compared must have the same objectives.

Every input is checked before any work (:func:`check_inputs`): bokeh installed, the page's folder
there, each run folder a run with evaluations and a readable journal, the objectives equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.html_report import (DIV_CSS, breakdown_groups, check_page_path, finite_or_nan, group_sums,
                                  needs_log_axis, page_html)

from . import problems as P
from ..errors import CodesignError
from .algorithms import SearchResult
from .journal import JournalError, read_journal
from .pareto import hypervolume_trace
from .runs import JOURNAL, _label, _load_config, baseline_row, reference_point

# Per-stage rows (designs x groups) a page holds for every evaluation; above it, only the fronts' and
# the baseline's breakdowns are computed. A row is at most ~23 bytes once encoded (four float32, two
# uint16, base64), so this keeps a page of every breakdown near 4.5 MB with Bokeh's 2 MB inline.
MAX_BREAKDOWN_ROWS = 90_000
BREAKDOWNS = ("auto", "all", "front")
_CATEGORY10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf")
# colour, marker and line dash of each compared run's front
_COMPARE_STYLE = (("#000000", "square", "dashed"), ("#d62728", "triangle", "dotdash"),
                  ("#dd6b20", "diamond", "dotted"), ("#6b46c1", "inverted_triangle", "dashdot"))
_WHAT = "codesign show --html"


@dataclass
class LoadedRun:
    """A run folder as :func:`check_inputs` read it (config, journal records); :func:`explorer_data`
    builds its problem, evaluations and front."""

    folder: Path
    cfg: object
    records: list
    problem: object = None
    result: SearchResult = None
    front: list = None


def check_inputs(folder, compare=(), page=None) -> list[LoadedRun]:
    """Everything the page needs, checked before any work; one :class:`CodesignError` line each:
    bokeh installed, ``page``'s folder there, each run folder a run (``run.yaml``) whose extras are
    installed, with a readable journal holding evaluations, and the compared runs' objectives equal
    to the first's. Returns the runs with their configs and journal records (not yet built)."""
    if page is not None:
        check_page_path("--html", page, _WHAT)
    runs = []
    for arg, f in [("run", folder)] + [("--compare", c) for c in compare]:
        f = Path(f)
        where = "" if arg == "run" else f"{arg} "
        if not f.is_dir():
            raise CodesignError(f"{where}{f}: no such run folder")
        cfg = _load_config(f)
        cfg.require_extras()
        if not (f / JOURNAL).exists():
            raise CodesignError(f"{where}{f}: no evaluations yet (no {JOURNAL}): nothing to show")
        try:
            _, records = read_journal(f / JOURNAL)
        except JournalError as exc:
            raise CodesignError(f"{where}{exc}") from None
        if not records:
            raise CodesignError(f"{where}{f}: no evaluations yet: nothing to show")
        runs.append(LoadedRun(f, cfg, records))
    first = runs[0]
    want = sorted(_label(first.cfg, m) for m in first.cfg.objectives)
    for r in runs[1:]:
        got = sorted(_label(r.cfg, m) for m in r.cfg.objectives)
        if got != want:
            raise CodesignError(f"--compare {r.folder}: its objectives ({', '.join(got)}) differ from those of "
                                f"{first.folder} ({', '.join(want)}); runs on one page need the same objectives")
    return runs


def _build(run: LoadedRun) -> LoadedRun:
    run.problem = run.cfg.build_problem()
    run.result = SearchResult([r["genome"] for r in run.records], [r["metrics"] for r in run.records],
                              run.problem.objectives)
    run.front = run.result.front()
    return run


# ------------------------------------------------------------------------------------- data
# What the page shows of a hardware config; the first five make the one-line summary a hover shows.
HW_FIELDS = ("array", "vector", "SRAM", "DRAM", "formats", "area", "peak TOPS", "memory budget", "activations")


def _hardware_fields(hw) -> list[str]:
    """A config as the page shows it, one text per :data:`HW_FIELDS` entry."""
    fmts = "+".join(p.name for p in hw.precisions)
    peak = ", ".join(f"{k} {v:.3g}" for k, v in hw.peak_tops.items())
    common = [f"{hw.dram.bandwidth_gb_per_s:g} GB/s", fmts, f"{hw.area_mm2:.3f} mm²", peak,
              f"{hw.memory_budget_mb:g} MiB", hw.activation_policy]
    if hw.kind == "roofline":
        return [f"roofline device @ {hw.clock_mhz:g} MHz", "-", f"cache {hw.roofline.cache_kb:g} KiB"] + common
    s = hw.sram
    sram = f"unified {s.unified_kb:g} KiB" if s.unified else f"{s.ifmap_kb:g}/{s.filter_kb:g}/{s.ofmap_kb:g} KiB"
    return [f"{hw.array.rows}x{hw.array.cols} {hw.array.dataflow} @ {hw.array.clock_mhz:g} MHz",
            f"{hw.vector.lanes} lanes", sram] + common


def _coded(values: list) -> tuple[np.ndarray, list]:
    """``values`` as indices into the list of their distinct values (first-seen order): a page holds
    numbers, which Bokeh compresses, instead of a repeated text per point."""
    levels: dict = {}
    codes = np.array([levels.setdefault(v, len(levels)) for v in values], dtype=np.int32)
    return codes, list(levels)


def _gene_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _genome_text(g: dict) -> str:
    return " ".join(f"{k}={_gene_text(v)}" for k, v in g.items())


def _metric_columns(metrics: list, names: list, exact=()) -> dict:
    """A float column per metric (NaN where missing or infinite): float64 for those in ``exact`` (the
    axes), float32 for the rest, which only hovers and tables show."""
    return {k: finite_or_nan([m.get(k, np.nan) for m in metrics]).astype(np.float64 if k in exact else np.float32)
            for k in names}


class _Breakdowns:
    """Per-group rows of the designs whose breakdown the page holds, simulated in batches."""

    FIELDS = ("compute_ms", "stall_ms", "energy_uj", "dram_kib")

    def __init__(self):
        self.names: list = []
        self.index: dict = {}
        self.rows = {k: [] for k in ("group", "layers") + self.FIELDS}
        self.n = 0
        self._groups: dict = {}

    def add(self, network_of, hardware_of, genomes: list, bar=None) -> list[tuple[int, int]]:
        """Simulate ``genomes`` (``network_of(g)``, ``hardware_of(g)``) and append their groups;
        returns (first row, row count) of each."""
        import accelsim
        spans = []
        for lo in range(0, len(genomes), 256):
            chunk = genomes[lo:lo + 256]
            nets = [network_of(g) for g in chunk]
            hws = [hardware_of(g) for g in chunk]
            r = accelsim.simulate_many(nets, hws, pairs=True)
            for p, (net, hw) in enumerate(zip(nets, hws)):
                groups = self._groups.get(id(net))
                if groups is None:
                    # the network is kept with its groups, so its id cannot be reused by another
                    groups = self._groups[id(net)] = (net, breakdown_groups(net))
                names, sums = group_sums(r.report(p).per_layer, groups[1], hw.clock_mhz)
                spans.append((self.n, len(names)))
                for k, name in enumerate(names):
                    self.rows["group"].append(self.index.setdefault(name, len(self.index)))
                    for f in ("layers",) + self.FIELDS:
                        self.rows[f].append(sums[f][k])
                self.n += len(names)
            if bar is not None:
                bar.update(len(chunk))
        self.names = list(self.index)
        return spans

    def columns(self) -> dict:
        return {"group": np.array(self.rows["group"], dtype=np.uint16),
                "layers": np.array(self.rows["layers"], dtype=np.uint16),
                **{f: np.array(self.rows[f], dtype=np.float32) for f in self.FIELDS}}


def explorer_data(runs: list, breakdowns: str = "auto", progress: bool = False) -> dict:
    """The page's data from runs checked by :func:`check_inputs` (built here): plain columns, the axes
    and their scales, the front flags, hardware configs, per-stage breakdowns and hypervolume traces."""
    if breakdowns not in BREAKDOWNS:
        raise CodesignError(f"breakdowns: expected one of {', '.join(BREAKDOWNS)}, got {breakdowns!r}")
    runs = [_build(r) for r in runs]
    main = runs[0]
    cfg, problem, result = main.cfg, main.problem, main.result
    objectives = list(cfg.objectives)
    metric_names = [k for k in P.METRICS if any(k in m for m in result.metrics)]
    n = len(result.metrics)
    x_m, y_m = (objectives[0], objectives[1]) if len(objectives) >= 2 else ("evaluation", objectives[0])
    if breakdowns == "auto":   # groups per design estimated from up to 16 designs spread over the run
        sample = sorted({int(k) for k in np.linspace(0, n - 1, min(n, 16))})
        per = max(len(set(breakdown_groups(problem.network(result.genomes[k])))) for k in sample)
        breakdowns = "all" if n * per <= MAX_BREAKDOWN_ROWS else "front"

    # the run's hardware configs, once each (by the axis's key), in order of first evaluation
    hw_keys, configs, hw_of = {}, [], np.empty(n, dtype=np.int32)
    for i, g in enumerate(result.genomes):
        k = hw_keys.setdefault(problem.hw_axis.key(g), len(configs))
        if k == len(configs):
            configs.append(problem.hardware(g))
        hw_of[i] = k
    fields = [_hardware_fields(h) for h in configs]
    hw_codes, hw_levels = {}, []
    for j in range(len(HW_FIELDS)):
        codes, levels = _coded([f[j] for f in fields])
        hw_codes[f"h{j}"] = codes
        hw_levels.append(levels)
    area = np.array([h.area_mm2 for h in configs], dtype=float)
    colour_mode = "config" if len(configs) <= len(_CATEGORY10) else "area"

    front = set(main.front)
    feasible = result.feasible
    bd = _Breakdowns()
    todo = list(range(n)) if breakdowns == "all" else sorted(front)
    base = baseline_row(problem)
    bar = None
    if progress:
        from tqdm import tqdm
        total = len(todo) + sum(len(r.front) for r in runs[1:]) + (base is not None)
        bar = tqdm(total=total, desc=f"{cfg.name}: breakdowns", unit="design", delay=1.0)
    try:
        spans = dict(zip(todo, bd.add(problem.network, problem.hardware, [result.genomes[i] for i in todo], bar)))
        genes = list(problem.choices)
        points = {"evaluation": np.arange(n, dtype=np.int32),
                  **_metric_columns(result.metrics, metric_names, exact=(x_m, y_m)),
                  "violation": finite_or_nan([m.get("violation", 0.0) for m in result.metrics]).astype(np.float32),
                  "feasible": feasible.astype(np.int8),
                  "front": np.array([i in front for i in range(n)], dtype=np.int8), "hw": hw_of,
                  "bd_start": np.array([spans.get(i, (-1, 0))[0] for i in range(n)], dtype=np.int32),
                  "bd_count": np.array([spans.get(i, (-1, 0))[1] for i in range(n)], dtype=np.int32)}
        points["net"], networks = _coded([problem.net_axis.describe(g) for g in result.genomes])
        gene_levels = []
        for j, k in enumerate(genes):
            points[f"g{j}"], levels = _coded([_gene_text(g.get(k, "")) for g in result.genomes])
            gene_levels.append(levels)

        others = []
        for k, r in enumerate(runs[1:]):
            idx = sorted(r.front, key=lambda i: (r.result.metrics[i].get(x_m, i) if x_m != "evaluation" else i))
            spans_k = bd.add(r.problem.network, r.problem.hardware, [r.result.genomes[i] for i in idx], bar)
            others.append({"name": r.cfg.name, "folder": str(r.folder), "evaluations": len(r.result.metrics),
                           "style": _COMPARE_STYLE[k % len(_COMPARE_STYLE)],
                           "columns": _plain_columns(r.problem, [r.result.genomes[i] for i in idx],
                                                     [r.result.metrics[i] for i in idx], idx, metric_names, spans_k)})
        baseline = None
        if base is not None:
            net, hw = problem.baseline_network(), problem.base_hardware()
            span = bd.add(lambda g: net, lambda g: hw, [{}], bar)
            baseline = _plain_columns(None, [base["genome"] or {}], [base], [-1], metric_names, span,
                                      texts=[(base["network"], hw)])
    finally:
        if bar is not None:
            bar.close()

    # hypervolume traces; with other runs, all from one reference point (the worst of the runs' own)
    keys = list(problem.objectives)
    refs = [reference_point(r.cfg, r.result)[[list(r.problem.objectives).index(o) for o in keys]] for r in runs]
    ref = np.max(refs, axis=0)
    traces = []
    for r in runs:
        objs = r.result.objective_matrix()[:, [list(r.problem.objectives).index(o) for o in keys]]
        traces.append({"name": r.cfg.name, "hypervolume": hypervolume_trace(objs, r.result.feasible, ref)})

    xs = [] if x_m == "evaluation" else [points[x_m]] + [o["columns"][x_m] for o in others]
    ys = [points[y_m]] + [o["columns"][y_m] for o in others]
    if baseline is not None:
        ys.append(baseline[y_m])
        if xs:
            xs.append(baseline[x_m])
    return {"name": cfg.name, "folder": str(main.folder), "algorithm": cfg.algorithm, "seed": cfg.seed,
            "budget": cfg.budget, "objectives": objectives, "labels": {m: _label(cfg, m) for m in metric_names},
            "metric_names": metric_names, "x": x_m, "y": y_m,
            "x_log": bool(xs) and needs_log_axis(np.concatenate(xs)), "y_log": needs_log_axis(np.concatenate(ys)),
            "points": points, "networks": networks, "genes": genes, "gene_levels": gene_levels,
            "front": sorted(front), "feasible": int(feasible.sum()),
            "hardware": {"codes": hw_codes, "levels": hw_levels, "area_mm2": area,
                         "summary": [", ".join(f[:5]) for f in fields]},
            "colour_mode": colour_mode, "others": others, "baseline": baseline,
            "breakdowns": breakdowns, "groups": bd.names, "stage_rows": bd.columns(),
            "traces": traces, "reference": [float(v) for v in ref]}


def _plain_columns(problem, genomes: list, metrics: list, evaluations: list, metric_names: list, spans: list,
                   texts=None) -> dict:
    """Columns of a few designs (another run's front, the baseline) with their texts written out:
    ``texts``, when given, is (network description, Hardware) per design, else the problem's."""
    cols = {"evaluation": np.array(evaluations, dtype=np.int32), "network": [], "hardware": [], "genome": [],
            "hw_text": [], **_metric_columns(metrics, metric_names),
            "bd_start": np.array([s[0] for s in spans], dtype=np.int32),
            "bd_count": np.array([s[1] for s in spans], dtype=np.int32)}
    for k, g in enumerate(genomes):
        net, hw = texts[k] if texts else (problem.net_axis.describe(g), problem.hardware(g))
        f = _hardware_fields(hw)
        cols["network"].append(str(net))
        cols["hardware"].append(", ".join(f[:5]))
        cols["genome"].append(_genome_text(g))
        cols["hw_text"].append(json.dumps(f))
    return cols


# ------------------------------------------------------------------------------------- page
# Decoding a design's texts in the page: the run's own points hold codes (network, hardware config,
# genes), another run's front and the baseline hold the texts.
_DECODE_JS = r"""
const isMain = ('net' in d);
const network = isMain ? nets.data.text[d.net[i]] : d.network[i];
const hwf = isMain ? hwfields.map((f, j) => hwlv[j][hwsrc.data['h' + j][d.hw[i]]]) : JSON.parse(d.hw_text[i]);
const genome = isMain ? genes.map((k, j) => k + '=' + genelv[j][d['g' + j][i]]) : d.genome[i].split(' ');
"""

_CLICK_JS = r"""
const i = src.selected.indices.length ? src.selected.indices[0] : -1;
if (i < 0) { return; }
for (const other of others) { if (other !== src && other.selected.indices.length) { other.selected.indices = []; } }
const d = src.data;
""" + _DECODE_JS + r"""
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v === null || v === undefined || Number.isNaN(v)) ? '-' :
    (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? Number(v).toExponential(4) : Number(v).toPrecision(5));
const row = (k, v) => '<tr><th>' + esc(k) + '</th><td>' + v + '</td></tr>';
const evaluation = d.evaluation[i];
let head = (evaluation < 0 ? 'baseline design' : 'evaluation ' + evaluation) + ' of ' + esc(runname);
if ('front' in d) {
  head += d.front[i] ? ' (on the front)' : (d.feasible[i] ? ' (feasible, dominated)' : ' (infeasible)');
}
let h = css + '<h3 style="margin:4px 0">' + head + '</h3><table class="kv">' + row('network', esc(network));
for (const m of metrics) { if (m in d) { h += row(labels[m] || m, fmt(d[m][i])); } }
if ('violation' in d) { h += row('constraint violation', fmt(d.violation[i])); }
h += row('genome', '<span style="font-family:monospace;font-size:11px">' + genome.map(esc).join(' ') + '</span>');
h += '</table><h4 style="margin:6px 0 2px">hardware config</h4><table class="kv">';
hwfields.forEach((f, j) => { h += row(f, esc(hwf[j])); });
details.text = h + '</table>';
const start = d.bd_start[i], count = d.bd_count[i], sd = stages.data;
const out = {group: [], compute_us: [], stall_us: [], total_us: [], energy_uj: [], dram_kib: [], layers: [], share: []};
let total = 0;
for (let r = start; r >= 0 && r < start + count; r++) { total += sd.compute_ms[r] + sd.stall_ms[r]; }
for (let r = start; r >= 0 && r < start + count; r++) {
  const t = sd.compute_ms[r] + sd.stall_ms[r];
  out.group.push(groups[sd.group[r]]);
  out.compute_us.push(1e3 * sd.compute_ms[r]); out.stall_us.push(1e3 * sd.stall_ms[r]); out.total_us.push(1e3 * t);
  out.energy_uj.push(sd.energy_uj[r]); out.dram_kib.push(sd.dram_kib[r]);
  out.layers.push(sd.layers[r]); out.share.push(total > 0 ? 100 * t / total : 0);
}
lat.y_range.factors = out.group.slice().reverse();
en.y_range.factors = out.group.slice().reverse();
sel.data = out;
bdnote.text = start < 0
  ? '<i>No per-stage breakdown for this design: for a run this large the page holds those of the fronts '
    + 'and the baseline.</i>'
  : '<b>Per-stage breakdown</b> of '
    + (evaluation < 0 ? 'the baseline' : 'evaluation ' + evaluation + ' of ' + esc(runname))
    + ', simulated by the engine: ' + fmt(total) + ' ms.';
"""

# hover texts of the run's own points, decoded from their codes
_HOVER_NETWORK_JS = "return nets.data.text[value];"
_HOVER_HARDWARE_JS = "return hwlv.slice(0, 5).map((lv, j) => lv[hwsrc.data['h' + j][value]]).join(', ');"
_HOVER_GENOME_JS = ("const i = special_vars.index;\n"
                    "return genes.map((k, j) => k + '=' + genelv[j][src.data['g' + j][i]]).join(' ');")


def explorer_page(data: dict) -> str:
    """The HTML page of :func:`explorer_data`."""
    from html import escape

    from bokeh.layouts import column, row
    from bokeh.models import (CDSView, ColorBar, ColumnDataSource, CustomJS, CustomJSHover, DataTable, Div,
                              FactorRange, HoverTool, IndexFilter, LinearColorMapper, NumberFormatter, Span,
                              TableColumn, TapTool)
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    labels = data["labels"]
    x_m, y_m = data["x"], data["y"]
    pts = data["points"]
    n = len(pts["evaluation"])
    src = ColumnDataSource(pts, name="evaluations")
    hwsrc = ColumnDataSource(data["hardware"]["codes"], name="hardware_configs")
    nets = ColumnDataSource({"text": data["networks"]}, name="networks")
    stages = ColumnDataSource(data["stage_rows"], name="stage_rows")
    hwlv, genes, genelv = data["hardware"]["levels"], data["genes"], data["gene_levels"]

    def axis_label(m: str) -> str:
        if m == "evaluation":
            return "evaluation"
        name = labels.get(m, m)
        if name != m:
            return f"{name}, higher is better"
        better = "higher" if P.METRICS[m][0] == "max" else "lower"
        return f"{m} ({P.METRICS[m][1]}), {better} is better"

    x_field = "evaluation" if x_m == "evaluation" else x_m
    fig = figure(width=780, height=480, x_axis_type="log" if data["x_log"] else "linear",
                 y_axis_type="log" if data["y_log"] else "linear", x_axis_label=axis_label(x_m),
                 y_axis_label=axis_label(y_m), tools="pan,wheel_zoom,box_zoom,reset,save",
                 title=f"{data['name']}: {n} evaluations, {data['feasible']} feasible, {len(data['front'])} on the "
                       f"front (click a point for its breakdown)")
    configs = len(data["hardware"]["area_mm2"])
    if data["colour_mode"] == "config":
        mapper = LinearColorMapper(palette=list(_CATEGORY10[:configs]) or ["#1f77b4"], low=-0.5, high=configs - 0.5)
        colour = {"field": "hw", "transform": mapper}
    else:
        area = data["hardware"]["area_mm2"]
        mapper = LinearColorMapper(palette=Viridis256, low=float(np.nanmin(area)), high=float(np.nanmax(area)),
                                   nan_color="#999999")
        colour = {"field": "area_mm2", "transform": mapper}
        fig.add_layout(ColorBar(color_mapper=mapper, title="hardware area (mm²)", width=10), "right")
    infeasible = [i for i in range(n) if not pts["feasible"][i]]
    dominated = [i for i in range(n) if pts["feasible"][i] and not pts["front"][i]]
    front = data["front"]
    two_d = x_m != "evaluation" and len(data["objectives"]) == 2
    # Every legend entry is drawn by a stand-in (one NaN point or line in a fixed colour): a glyph coloured
    # per point has no one colour to show there, and the icons of renderers whose sources select (a
    # click) can vanish from the legend once a design is selected.
    def stand_in(label: str, line: "dict | None" = None, **marker) -> None:
        if line is not None:
            fig.line([np.nan, np.nan], [np.nan, np.nan], legend_label=label, **line)
        fig.scatter([np.nan], [np.nan], legend_label=label, **marker)

    view = lambda idx: CDSView(filter=IndexFilter(idx))  # noqa: E731
    r_inf = fig.scatter(x_field, y_m, source=src, view=view(infeasible), marker="x", size=5, color="#a0aec0", alpha=0.5)
    r_dom = fig.scatter(x_field, y_m, source=src, view=view(dominated), size=5, fill_color=colour, line_color=None,
                        fill_alpha=0.45)
    if two_d and front:
        order = sorted(front, key=lambda i: pts[x_m][i])
        fig.step([float(pts[x_m][i]) for i in order], [float(pts[y_m][i]) for i in order], mode="after",
                 color="#2d3748", line_width=1.5)
    r_front = fig.scatter(x_field, y_m, source=src, view=view(front), size=11, fill_color=colour, line_color="#1a202c",
                          line_width=1.2)
    sample = "#3b528b" if data["colour_mode"] == "area" else _CATEGORY10[0]
    if infeasible:
        stand_in(f"infeasible ({len(infeasible)})", marker="x", size=5, color="#a0aec0")
    if dominated:
        stand_in(f"feasible, dominated ({len(dominated)})", size=5, fill_color=sample, line_color=None, fill_alpha=0.6)
    if front:
        stand_in(f"{data['name']} front ({len(front)})", {"color": "#2d3748", "line_width": 1.5} if two_d else None,
                 size=11, fill_color=sample, line_color="#1a202c", line_width=1.2)
    clickable, sources = [r_inf, r_dom, r_front], [(src, data["name"])]

    fmt = {f"@{{{m}}}": "printf" for m in data["metric_names"]}
    metric_rows = "".join(f"<tr><th>{labels.get(m, m)}</th><td>@{{{m}}}{{%.5g}}</td></tr>"
                          for m in data["metric_names"])

    def tooltip(network: str, hardware: str, genome: str, head: str) -> str:
        return ("<div style='max-width:480px;font-size:11px'><b>" + head + "</b><table>"
                f"<tr><th>network</th><td>{network}</td></tr><tr><th>hardware</th><td>{hardware}</td></tr>"
                + metric_rows + f"</table><div style='font-family:monospace;font-size:10px'>{genome}</div></div>")

    main_fmt = {**fmt, "@violation": "printf",
                "@net": CustomJSHover(args={"nets": nets}, code=_HOVER_NETWORK_JS),
                "@hw": CustomJSHover(args={"hwsrc": hwsrc, "hwlv": hwlv}, code=_HOVER_HARDWARE_JS),
                "@g0": CustomJSHover(args={"src": src, "genes": genes, "genelv": genelv}, code=_HOVER_GENOME_JS)}
    fig.add_tools(HoverTool(renderers=list(clickable), formatters=main_fmt, tooltips=tooltip(
        "@net{custom}", "@hw{custom}", "@g0{custom}", "evaluation @evaluation (violation @violation{%.3g})")))
    for o in data["others"]:
        color, marker, dash = o["style"]
        cols = o["columns"]
        osrc = ColumnDataSource(cols, name=f"front:{o['name']}")
        if two_d and len(cols[y_m]):
            fig.step(x_m, y_m, source=osrc, mode="after", color=color, line_dash=dash, line_width=1.5)
        style = dict(marker=marker, size=10, fill_color=color, fill_alpha=0.35, line_color=color, line_width=1.5)
        r = fig.scatter(x_field, y_m, source=osrc, **style)
        stand_in(f"{o['name']} front ({len(cols[y_m])}; {o['evaluations']} evaluations)",
                 {"color": color, "line_dash": dash, "line_width": 1.5} if two_d else None, **style)
        fig.add_tools(HoverTool(renderers=[r], formatters=fmt, tooltips=tooltip(
            "@network", "@hardware", "@genome", f"{o['name']}: evaluation @evaluation")))
        clickable.append(r)
        sources.append((osrc, o["name"]))
    if data["baseline"] is not None and x_m == "evaluation":   # one objective: the baseline's value, across
        fig.add_layout(Span(location=float(data["baseline"][y_m][0]), dimension="width", line_color="black",
                            line_dash="dashed", line_width=1.5))
    if data["baseline"] is not None and x_m != "evaluation":
        bsrc = ColumnDataSource(data["baseline"], name="baseline")
        style = dict(marker="star", size=20, fill_color="gold", line_color="black")
        r = fig.scatter(x_m, y_m, source=bsrc, **style)
        stand_in("baseline", **style)
        fig.add_tools(HoverTool(renderers=[r], formatters=fmt,
                                tooltips=tooltip("@network", "@hardware", "@genome", "baseline design")))
        clickable.append(r)
        sources.append((bsrc, data["name"]))
    fig.add_tools(TapTool(renderers=clickable))
    for r in clickable:   # a click rings the design in red and leaves the rest as they were
        r.selection_glyph = r.glyph.clone(line_color="#e53e3e", line_width=3, size=16, fill_alpha=1.0)
        r.nonselection_glyph = r.glyph.clone()
    fig.legend.location = "bottom_right" if P.METRICS.get(y_m, ("min",))[0] == "max" else "top_right"
    fig.legend.label_text_font_size = "8pt"
    if data["colour_mode"] == "config":
        colour_note = "Colour: hardware config<br>" + "<br>".join(
            f"<span style='color:{c}'>&#9679;</span> {escape(s)}"
            for c, s in zip(_CATEGORY10, data["hardware"]["summary"]))
    else:
        colour_note = f"Colour: the hardware config's area ({configs} configs); a click shows the config."

    hv = figure(width=520, height=240, x_axis_label="evaluation", y_axis_label="hypervolume",
                title="hypervolume after each evaluation" + (" (one reference point for all runs)"
                                                             if data["others"] else ""),
                tools="pan,wheel_zoom,reset,save")
    for k, t in enumerate(data["traces"]):
        color, _, dash = ("#2b6cb0", None, "solid") if k == 0 else data["others"][k - 1]["style"]
        hv.line(np.arange(1, len(t["hypervolume"]) + 1), t["hypervolume"], color=color, line_dash=dash, line_width=2,
                legend_label=t["name"])
    hv.legend.location = "bottom_right"
    hv.legend.label_text_font_size = "8pt"

    sel = ColumnDataSource({k: [] for k in ("group", "compute_us", "stall_us", "total_us", "energy_uj", "dram_kib",
                                            "layers", "share")})
    lat = figure(width=440, height=280, y_range=FactorRange(), x_axis_label="us",
                 title="latency per stage (us): compute in blue, DMA stall in red",
                 tools="xpan,xwheel_zoom,reset,save")
    lat.hbar_stack(["compute_us", "stall_us"], y="group", height=0.8, source=sel, color=["#2b6cb0", "#e53e3e"])
    en = figure(width=340, height=280, y_range=FactorRange(), title="energy per stage (uJ)", x_axis_label="uJ",
                tools="xpan,reset,save")
    en.hbar(y="group", right="energy_uj", height=0.8, source=sel, color="#805ad5")
    for f in (lat, en):   # a NAS-Bench-201 design has 21 groups
        f.yaxis.major_label_text_font_size = "8pt"
    tips = [("stage", "@group"), ("layers", "@layers"), ("compute", "@compute_us{0,0.000} us"),
            ("stall", "@stall_us{0,0.000} us"), ("share", "@share{0.0} %"), ("energy", "@energy_uj{0,0.00} uJ"),
            ("DRAM", "@dram_kib{0,0.0} KiB")]
    lat.add_tools(HoverTool(tooltips=tips))
    en.add_tools(HoverTool(tooltips=tips))
    cols = [("group", "stage", None), ("layers", "layers", None), ("compute_us", "compute us", "0,0.000"),
            ("stall_us", "stall us", "0,0.000"), ("total_us", "latency us", "0,0.000"), ("share", "share %", "0.0"),
            ("energy_uj", "energy uJ", "0,0.00"), ("dram_kib", "DRAM KiB", "0,0.0")]
    table = DataTable(source=sel, width=520, height=280, index_position=None, reorderable=False,
                      columns=[TableColumn(field=f, title=t, formatter=NumberFormatter(format=nf)) if nf
                               else TableColumn(field=f, title=t) for f, t, nf in cols])
    details = Div(text="<i>Click a point for its design, hardware config and per-stage breakdown.</i>", width=520)
    bdnote = Div(text="", width=780)
    all_sources = [s for s, _ in sources]
    for s, runname in sources:
        s.selected.js_on_change("indices", CustomJS(args=dict(
            src=s, others=all_sources, hwsrc=hwsrc, hwfields=list(HW_FIELDS), hwlv=hwlv, nets=nets, genes=genes,
            genelv=genelv, stages=stages, groups=data["groups"], sel=sel, lat=lat, en=en, details=details,
            bdnote=bdnote, metrics=data["metric_names"], labels=labels, runname=runname, css=DIV_CSS),
            code=_CLICK_JS))

    compare = "".join(f"; compared with <b>{escape(o['name'])}</b> ({escape(o['folder'])})" for o in data["others"])
    scope = "every evaluation" if data["breakdowns"] == "all" else "the fronts and the baseline"
    head = Div(text=(f"<h2 style='margin:0'>{escape(data['name'])}</h2><div style='font-size:13px'>"
                     f"{escape(data['folder'])}: "
                     f"{data['algorithm']}, seed {data['seed']}, {n} of {data['budget']} evaluations; objectives: "
                     f"{', '.join(axis_label(m) for m in data['objectives'])}{compare}. Per-stage breakdowns of "
                     f"{scope}.</div>"), width=1240)
    note = Div(text=f"<div style='font-size:11px'>{colour_note}</div>", width=780)
    layout = column(head, row(column(fig, note, bdnote, row(lat, en)), column(hv, details, table)))
    # PAGE.html#evaluation=N opens with evaluation N selected (a link to one design)
    select = CustomJS(args={"src": src}, code=(
        "const m = /evaluation=(\\d+)/.exec(window.location.hash);\n"
        "if (m && Number(m[1]) < src.get_length()) { src.selected.indices = [Number(m[1])]; }"))
    return page_html(layout, f"{data['name']}: run explorer", ready=src, on_ready=[select])


def write_runs_page(runs: list, page, breakdowns: str = "auto", progress: bool = False) -> dict:
    """Build the page of runs checked by :func:`check_inputs` and write it atomically; returns what it
    holds: ``points``, ``front``, ``breakdowns`` (all or front) and ``bytes``."""
    from accelsim.io import write_atomic
    data = explorer_data(runs, breakdowns=breakdowns, progress=progress)
    html = explorer_page(data).encode("utf-8")
    write_atomic(page, html)
    return {"points": len(data["points"]["evaluation"]), "front": len(data["front"]), "breakdowns": data["breakdowns"],
            "bytes": len(html)}


def write_explorer(folder, page, compare=(), breakdowns: str = "auto", progress: bool = False) -> dict:
    """The explorer page of run ``folder`` (and the fronts of the ``compare`` runs) written to ``page``:
    every input checked first (:func:`check_inputs`), then :func:`write_runs_page`."""
    return write_runs_page(check_inputs(folder, compare, page), page, breakdowns=breakdowns, progress=progress)
