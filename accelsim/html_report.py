"""Self-contained HTML pages (Bokeh, resources inline): one simulation's per-layer breakdown and roofline,
and the helpers ``codesign``'s run explorer shares with it.

A page is one file: Bokeh's JavaScript and CSS are written into it (``bokeh.resources.INLINE``), so it
opens from disk or an attachment with nothing fetched. Bokeh comes with the ``codesign`` extra; a page
asked for without it stops with one line naming the extra (:func:`require_bokeh`).

The simulation page (``accelsim simulate --html PAGE``) holds the totals, per-layer latency bars
(compute on the array or the vector unit, DMA stall on top) and energy bars, the per-stage sums, and a
roofline in operations per cycle against operations per DRAM byte, where an operation is what the
engine counts for the layer's unit (a MAC on the array, a MAC or element op on the vector unit). Each
unit has its own roof (array, vector: its peak in the layer's formats; DRAM: bandwidth in bytes per
cycle times the intensity), and each layer is drawn against its own unit's roof.
"""

from __future__ import annotations

import math

import numpy as np

from .engine import tables as T
from .extras import require
from .io import check_out_file, write_atomic

EXTRA = "codesign"   # the optional extra that installs bokeh
UNIT_COLORS = {"array": "#2b6cb0", "vector": "#38a169", "stall": "#e53e3e", "dram": "#4a5568"}
# Bokeh draws a Div in its own shadow root: a Div that shows tables carries this style itself
DIV_CSS = ("<style>table.kv{border-collapse:collapse;font-size:12px}table.kv td,table.kv th{padding:1px 10px 1px 0;"
           "text-align:left;vertical-align:top}table.kv th{color:#4a5568;font-weight:600}</style>")


def require_bokeh(what: str):
    """Import bokeh, or stop with one line: ``WHAT needs bokeh: pip install "accelsim-codesign[codesign]"``."""
    require("bokeh.plotting", EXTRA, what)
    return require("bokeh", EXTRA, what)


def check_page_path(arg: str, path, what: str) -> None:
    """Before any work: bokeh is installed and ``path`` can be written (its folder exists)."""
    require_bokeh(what)
    check_out_file(arg, path)


def needs_log_axis(values) -> bool:
    """True when the finite values span more than a decade and are all positive (a log axis then shows
    the small ones apart; a linear one would crush them against zero)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.min() <= 0:
        return False
    return v.max() / v.min() > 10.0


def page_html(layout, title: str, ready=None, on_ready=()) -> str:
    """The standalone page of a Bokeh layout, its JavaScript and CSS inline (nothing fetched to view it).

    ``ready``: a ColumnDataSource whose row count the page writes on its ``<html>`` element
    (``data-rendered-rows``) once Bokeh has built the document, so a check in a headless browser can
    tell a drawn page from one whose script failed; ``on_ready``: more CustomJS callbacks to run then."""
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.models import CustomJS
    from bokeh.resources import INLINE
    doc = Document()
    doc.add_root(layout)
    for callback in on_ready:
        doc.js_on_event("document_ready", callback)
    if ready is not None:
        doc.js_on_event("document_ready", CustomJS(args={"src": ready}, code=(
            "document.documentElement.setAttribute('data-rendered-rows', String(src.get_length()))")))
    return file_html(doc, INLINE, title)


def finite_or_nan(values) -> np.ndarray:
    """Floats with infinities as NaN (Bokeh leaves NaN points out; JSON has no infinity)."""
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def kv_table(rows) -> str:
    """A small two-column HTML table of (name, value) pairs (for a Div: it brings its style)."""
    import html
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return DIV_CSS + "<table class='kv'>" + cells + "</table>"


# ------------------------------------------------------------------------------ per-stage sums
def breakdown_groups(network) -> list[str]:
    """The group of each layer in a page's breakdown: its stage (``s3``, ``stem``; see
    :mod:`accelsim.engine.grouping`), except that a stage holding more than half of the network's
    blocks (a NAS-Bench-201 network's ``cells``, a traced model's ``features``) is shown block by block,
    so the breakdown still tells its parts apart; so is a stage holding more than half of the layers in
    several blocks. Layers without a block id form ``(none)``."""
    stages = [layer.stage or "(none)" for layer in network.layers]
    blocks = {layer.block for layer in network.layers if layer.block}
    out = list(stages)
    for s in dict.fromkeys(stages):
        own = {b for b in blocks if b.split(".", 1)[0] == s}
        big = len(own) > len(blocks) / 2 or stages.count(s) > len(stages) / 2
        if s != "(none)" and len(own) > 1 and big:
            out = [layer.block if st == s else g for layer, st, g in zip(network.layers, stages, out)]
    return out


def group_sums(per_layer: np.ndarray, groups: list, clock_mhz: float) -> tuple[list, dict]:
    """Per group, in first-appearance order: (names, {layers, compute_ms, stall_ms, energy_uj,
    dram_kib}) summed from a report's ``per_layer`` array (non-finite values count 0)."""
    names = list(dict.fromkeys(groups))
    index = {g: k for k, g in enumerate(names)}
    gid = np.array([index[g] for g in groups], dtype=np.int64)
    ms_per_cycle = 1.0 / (clock_mhz * 1e3)

    def total(row: int) -> np.ndarray:
        v = per_layer[row]
        return np.bincount(gid, weights=np.where(np.isfinite(v), v, 0.0), minlength=len(names))

    sums = {"layers": np.bincount(gid, minlength=len(names)),
            "compute_ms": total(T.O_COMPUTE) * ms_per_cycle, "stall_ms": total(T.O_STALL) * ms_per_cycle,
            "energy_uj": total(T.O_ENERGY) * 1e-6, "dram_kib": (total(T.O_DRAM_R) + total(T.O_DRAM_W)) / 1024}
    return names, sums


# ----------------------------------------------------------------------------------- roofline
def _format_rate(hw, name: str, field: str) -> float:
    for p in hw.precisions:
        if p.name == name:
            return float(getattr(p, field))
    return 0.0


def layer_roofs(report) -> tuple[np.ndarray, list]:
    """Per layer, the peak operations per cycle of the unit that ran it, in the layer's formats, and the
    roof's name (``array int8``, ``vector int8``; on a roofline device the op class: ``dense int8``).

    The peaks are the engine's: an array layer runs at rows x cols x the MACs per PE per cycle of the
    slower of its weight and activation formats; a vector layer at lanes x the ops per lane per cycle
    (both formats for a conv, the activations' otherwise); a roofline device at its op class's rate,
    halved for MAC layers (1 MAC = 2 of its ops, 1 of the engine's). NaN for layers that did not run."""
    hw = report.hardware
    pl = report.per_layer
    peaks = np.full(pl.shape[1], np.nan)
    names = [""] * pl.shape[1]
    for i, layer in enumerate(report.network.layers):
        unit = T.UNIT_NAMES[int(pl[T.O_UNIT, i])]
        if unit == "none":
            continue
        wp, ap = layer.weight_precision, layer.act_precision
        has_weights = layer.op in ("conv", "conv_transpose", "matmul")
        fmt = ap if not has_weights or wp == ap else f"{wp}/{ap}"
        if hw.kind == "roofline":
            cls = "dense" if layer.op == "matmul" or (has_weights and layer.groups == 1) else \
                ("depthwise" if has_weights else "elementwise")
            rate = _format_rate(hw, ap, f"{cls}_gops")
            if has_weights:
                rate = min(rate, _format_rate(hw, wp, f"{cls}_gops"))
            per_op = 2.0 if has_weights else 1.0
            peaks[i] = rate * 1e3 / hw.clock_mhz / per_op
            names[i] = f"{cls} {fmt}"
        elif unit == "array":
            k_pe = min(_format_rate(hw, wp, "macs_per_pe_per_cycle"), _format_rate(hw, ap, "macs_per_pe_per_cycle"))
            peaks[i] = hw.array.rows * hw.array.cols * k_pe
            names[i] = f"array {fmt}"
        else:
            vops = dict(hw.vector.ops_per_lane_per_cycle)
            rate = min(vops.get(wp, 0.0), vops.get(ap, 0.0)) if layer.op == "conv" else vops.get(ap, 0.0)
            peaks[i] = hw.vector.lanes * rate
            names[i] = f"vector {fmt if layer.op == 'conv' else ap}"
    return peaks, names


def roofline_data(report) -> dict:
    """Per layer (those that ran and moved DRAM bytes): operational intensity (ops per DRAM byte),
    achieved ops per cycle, its unit's roof and the attainable min(roof, intensity x DRAM bytes per
    cycle); plus the roofs and the count of layers left out (no DRAM traffic: every operand on chip)."""
    pl = report.per_layer
    peaks, roof_names = layer_roofs(report)
    ops = pl[T.O_OPS]
    dram = pl[T.O_DRAM_R] + pl[T.O_DRAM_W]
    total = pl[T.O_TOTAL]
    ran = (pl[T.O_UNIT] != T.UNIT_NONE) & np.isfinite(total) & (total > 0) & (ops > 0) & np.isfinite(peaks)
    shown = ran & (dram > 0)
    bw = report.hardware.dram_bytes_per_cycle
    idx = np.nonzero(shown)[0]
    intensity = ops[idx] / dram[idx]
    achieved = ops[idx] / total[idx]
    attainable = np.minimum(peaks[idx], intensity * bw)
    roofs = {}
    for i in np.nonzero(ran)[0]:
        roofs.setdefault(roof_names[i], float(peaks[i]))
    return {"index": idx, "intensity": intensity, "achieved": achieved, "roof": peaks[idx],
            "roof_name": [roof_names[i] for i in idx], "attainable": attainable, "dram_bytes_per_cycle": bw,
            "roofs": roofs, "no_dram": int((ran & (dram <= 0)).sum())}


# ------------------------------------------------------------------------------ simulate page
def report_page(report) -> str:
    """The HTML page of one simulation (see the module docs)."""
    require_bokeh("accelsim simulate --html")
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, DataTable, Div, HoverTool, NumberFormatter, TableColumn
    from bokeh.plotting import figure

    from .engine.simulate import placement_code
    net, hw = report.network, report.hardware
    pl = report.per_layer
    recs = report.layers()
    n = len(recs)
    us_per_cycle = 1.0 / hw.clock_mhz
    unit = [r["unit"] for r in recs]
    compute_us = finite_or_nan(pl[T.O_COMPUTE]) * us_per_cycle
    stall_us = finite_or_nan(pl[T.O_STALL]) * us_per_cycle
    layers = ColumnDataSource(name="layers", data={
        "x": np.arange(n), "name": [r["name"] for r in recs], "op": [r["op"] for r in recs], "unit": unit,
        "shape": ["x".join(map(str, r["out_shape"])) for r in recs], "macs": np.array([r["macs"] for r in recs], float),
        "placement": [placement_code(r) for r in recs],
        "formats": [f"{r['weight_precision']}/{r['act_precision']}" for r in recs],
        "compute_us": np.nan_to_num(compute_us), "stall_us": np.nan_to_num(stall_us),
        "total_us": np.nan_to_num(compute_us + stall_us),
        "array_us": np.where(np.array(unit) == "array", np.nan_to_num(compute_us), 0.0),
        "vector_us": np.where(np.array(unit) == "vector", np.nan_to_num(compute_us), 0.0),
        "util": finite_or_nan(pl[T.O_UTIL]) * 100, "dram_kib": (pl[T.O_DRAM_R] + pl[T.O_DRAM_W]) / 1024,
        "energy_uj": finite_or_nan(pl[T.O_ENERGY]) * 1e-6})
    tips = [("layer", "@name (@op on @unit, @formats)"), ("output", "@shape"), ("in>out", "@placement"),
            ("MACs", "@macs{0,0}"), ("compute", "@compute_us{0,0.00} us"), ("stall", "@stall_us{0,0.00} us"),
            ("utilisation", "@util{0.0} %"), ("DRAM", "@dram_kib{0,0.0} KiB"), ("energy", "@energy_uj{0,0.00} uJ")]
    width = 820
    lat = figure(width=width, height=280, title=f"latency per layer: {report.latency_ms:.4f} ms",
                 x_axis_label="layer (in execution order)", y_axis_label="latency (us)",
                 tools="xpan,xwheel_zoom,reset,save")
    lat.vbar_stack(["array_us", "vector_us", "stall_us"], x="x", width=0.85, source=layers,
                   color=[UNIT_COLORS["array"], UNIT_COLORS["vector"], UNIT_COLORS["stall"]],
                   legend_label=["compute (array)", "compute (vector)", "DMA stall"])
    lat.add_tools(HoverTool(tooltips=tips))
    lat.legend.orientation = "horizontal"
    lat.legend.label_text_font_size = "9pt"
    lat.add_layout(lat.legend[0], "above")   # beside the title, clear of the bars
    lat.xgrid.visible = False
    en = figure(width=width, height=200, title=f"energy per layer: {report.energy_mj:.4f} mJ", x_range=lat.x_range,
                x_axis_label="layer (in execution order)", y_axis_label="energy (uJ)",
                tools="xpan,xwheel_zoom,reset,save")
    en.vbar(x="x", top="energy_uj", width=0.85, source=layers, color="#805ad5")
    en.add_tools(HoverTool(tooltips=tips))
    en.xgrid.visible = False

    roof, no_dram = roofline_figure(report, recs)
    roof_note = Div(text=f"{len(recs) - no_dram} layers shown; {no_dram} move no DRAM bytes (every operand on "
                         "chip), so have no intensity and are left out" if no_dram else "", width=480)
    groups = breakdown_groups(net)
    names, sums = group_sums(pl, groups, hw.clock_mhz)
    total_ms = float(sums["compute_ms"].sum() + sums["stall_ms"].sum())
    stage_src = ColumnDataSource({"group": names, **sums, "total_ms": sums["compute_ms"] + sums["stall_ms"],
                                  "share": (sums["compute_ms"] + sums["stall_ms"]) / total_ms * 100 if total_ms else
                                  np.zeros(len(names))})
    fmt = {"compute_ms": "0.0000", "stall_ms": "0.0000", "total_ms": "0.0000", "share": "0.0", "energy_uj": "0,0.00",
           "dram_kib": "0,0.0"}
    titles = {"group": "stage", "layers": "layers", "compute_ms": "compute ms", "stall_ms": "stall ms",
              "total_ms": "latency ms", "share": "share %", "energy_uj": "energy uJ", "dram_kib": "DRAM KiB"}
    table = DataTable(source=stage_src, width=620, reorderable=False, height=min(30 + 26 * len(names), 420),
                      index_position=None,
                      columns=[TableColumn(field=f, title=t, formatter=NumberFormatter(format=fmt[f])) if f in fmt
                               else TableColumn(field=f, title=t) for f, t in titles.items()])
    t = report.totals()
    mib = 1024 * 1024
    head = Div(text=f"<h2 style='margin:0'>{net.name} on {hw.name}</h2>" + kv_table([
        ("latency", f"{t['latency_ms']:.4f} ms ({t['total_cycles']:,.0f} cycles = {t['compute_cycles']:,.0f} compute "
                    f"+ {t['stall_cycles']:,.0f} stall at {hw.clock_mhz:g} MHz)"),
        ("energy", f"{t['energy_mj']:.4f} mJ"), ("utilisation", f"{t['utilization']:.1%}"),
        ("DRAM traffic", f"{t['dram_bytes'] / mib:.2f} MiB"),
        ("MACs / params", f"{t['macs']:,} / {t['params']:,}"),
        ("memory", f"{t['param_bytes'] / mib:.2f} MiB params + {t['peak_activation_bytes'] / mib:.2f} MiB activation "
                   f"arena of a {hw.memory_budget_mb:g} MiB budget: {'OK' if t['budget_ok'] else 'OVER BUDGET'}"),
        ("hardware", hardware_summary(hw))]), width=1300)
    return page_html(column(head, row(column(lat, en), column(roof, roof_note)), Div(text="<b>per stage</b>"), table),
                     f"{net.name} on {hw.name}", ready=layers)


def hardware_summary(hw) -> str:
    """One line describing a config: array, clock, vector unit, SRAM, DRAM, formats, area."""
    fmts = "+".join(p.name for p in hw.precisions)
    if hw.kind == "roofline":
        return (f"roofline device @ {hw.clock_mhz:g} MHz, DRAM {hw.dram.bandwidth_gb_per_s:g} GB/s, "
                f"cache {hw.roofline.cache_kb:g} KiB, {fmts}")
    s = hw.sram
    sram = f"unified {s.unified_kb:g} KiB" if s.unified else f"{s.ifmap_kb:g}/{s.filter_kb:g}/{s.ofmap_kb:g} KiB"
    return (f"{hw.array.rows}x{hw.array.cols} {hw.array.dataflow} @ {hw.array.clock_mhz:g} MHz, vector "
            f"{hw.vector.lanes} lanes, SRAM {sram}, DRAM {hw.dram.bandwidth_gb_per_s:g} GB/s, {fmts}, "
            f"{hw.area_mm2:.2f} mm²")


def roofline_figure(report, recs):
    """The per-unit roofline of a report (see :func:`roofline_data`)."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure
    d = roofline_data(report)
    idx = d["index"]
    bw = d["dram_bytes_per_cycle"]
    units = [recs[i]["unit"] for i in idx]
    src = ColumnDataSource({"intensity": d["intensity"], "achieved": d["achieved"], "roof": d["roof"],
                            "attainable": d["attainable"], "roof_name": d["roof_name"],
                            "of_roof": d["achieved"] / d["attainable"] * 100 if len(idx) else np.zeros(0),
                            "name": [recs[i]["name"] for i in idx], "op": [recs[i]["op"] for i in idx],
                            "unit": units, "color": [UNIT_COLORS.get(u, "#718096") for u in units]})
    fig = figure(width=480, height=440, x_axis_type="log", y_axis_type="log",
                 title="roofline: each layer against its own unit's roof",
                 x_axis_label="operational intensity (ops per DRAM byte)",
                 y_axis_label="ops per cycle (1 MAC = 1 op)", tools="pan,wheel_zoom,box_zoom,reset,save")
    lo = float(min(d["intensity"].min(), 0.1)) / 2 if len(idx) else 0.05
    hi = float(max(d["intensity"].max(), 10.0)) * 2 if len(idx) else 1e3
    xs = np.logspace(math.log10(lo), math.log10(hi), 64)
    top = max(d["roofs"].values()) if d["roofs"] else 1.0
    slope = xs[xs * bw <= top * 2]   # the DRAM roof, up to just past the highest compute roof
    fig.line(slope, slope * bw, color=UNIT_COLORS["dram"], line_width=2, line_dash="dashed",
             legend_label=f"DRAM: {bw:.3g} B/cycle")
    for k, (name, peak) in enumerate(sorted(d["roofs"].items(), key=lambda kv: -kv[1])):
        unit = name.split()[0]
        color = UNIT_COLORS.get(unit, ["#d69e2e", "#805ad5", "#dd6b20"][k % 3])
        ridge = peak / bw
        seg = xs[xs >= ridge]
        fig.line(np.concatenate([[ridge], seg]), np.full(len(seg) + 1, peak), color=color, line_width=2,
                 legend_label=f"{name}: {peak:.4g} ops/cycle")
    r = fig.scatter("intensity", "achieved", source=src, size=7, color="color", alpha=0.8, line_color="black",
                    line_width=0.3)
    fig.add_tools(HoverTool(renderers=[r], tooltips=[
        ("layer", "@name (@op on @unit)"), ("intensity", "@intensity{0.00} ops/B"),
        ("achieved", "@achieved{0,0.0} ops/cycle"), ("roof", "@roof_name: @roof{0,0.0} ops/cycle"),
        ("attainable", "@attainable{0,0.0} ops/cycle"), ("of attainable", "@of_roof{0.0} %")]))
    fig.legend.location = "bottom_right"
    fig.legend.label_text_font_size = "8pt"
    return fig, d["no_dram"]


def write_report_page(report, path) -> int:
    """Write :func:`report_page` to ``path`` atomically; returns its size in bytes."""
    html = report_page(report)
    data = html.encode("utf-8")
    write_atomic(path, data)
    return len(data)
