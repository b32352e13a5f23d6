"""Figures for a simulation report: per-layer latency breakdown and a roofline."""

from __future__ import annotations

import io

import numpy as np

from .engine import tables as T
from .io import write_atomic


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (imported on first use: plotting is optional)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi: int = 110, palette: bool = False, **savefig) -> None:
    """Write ``fig`` as a PNG atomically (a reader never sees half a file) and close it; ``savefig``:
    further options of ``Figure.savefig`` (e.g. ``bbox_inches="tight"``). ``palette``: store it with
    256 colours, no dithering (a third of the bytes for a figure of many small labels on flat colour
    cells, such as a heat map with its values written in; not for smooth gradients)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **savefig)
    pyplot().close(fig)
    if palette:
        from PIL import Image   # matplotlib's own dependency
        image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        buf = io.BytesIO()
        image.quantize(256, dither=0).save(buf, format="PNG", optimize=True)
    write_atomic(path, buf.getvalue())


def log_ticks(axis) -> None:
    """Plain-number labels (0.2, 1, 50) on a log ``axis`` (``ax.xaxis``/``ax.yaxis``) whose data are
    drawn: at 1, 2 and 5 of each decade up to three decades, at each decade beyond; none on the minor
    ticks. (matplotlib's own labels every minor tick of a short log axis as 2x10^-1, 3x10^-1, ... and
    they run into each other.)"""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    lo, hi = sorted(axis.get_view_interval())
    decades = np.log10(hi / lo) if lo > 0 else np.inf
    axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_report(report, path) -> None:
    """Two panels: per-layer compute vs stall cycles coloured by unit; roofline of every layer."""
    plt = pyplot()
    pl = report.per_layer
    hw = report.hardware
    n = pl.shape[1]
    x = np.arange(n)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5), gridspec_kw={"width_ratios": [2, 1]})
    on_vec = pl[T.O_UNIT] == T.UNIT_VECTOR
    us = 1e-3 / hw.clock_mhz * 1e3  # microseconds per cycle
    # a roofline device reports dense/depthwise layers as "array" and elementwise ones as "vector"; the
    # time above compute is waiting for DRAM plus any fixed per-layer time (a device's or a calibration's)
    roofline = hw.kind == "roofline"
    overhead = hw.layer_overhead_us > 0 or any(hw.overhead_us_of(c) > 0 for c in ("dense", "depthwise", "elementwise"))
    ax1.bar(x[~on_vec], pl[T.O_COMPUTE, ~on_vec] * us, color="#2b6cb0",
            label="compute (dense, depthwise)" if roofline else "compute (array)")
    ax1.bar(x[on_vec], pl[T.O_COMPUTE, on_vec] * us, color="#38a169",
            label="compute (elementwise)" if roofline else "compute (vector)")
    ax1.bar(x, pl[T.O_STALL] * us, bottom=pl[T.O_COMPUTE] * us, color="#e53e3e",
            label="DRAM wait + per-layer overhead" if overhead else ("DRAM wait" if roofline else "DMA stall"))
    ax1.set_xlabel("layer (in execution order)")
    ax1.set_ylabel("latency (us)")
    ax1.set_title(f"{report.network.name} on {hw.name}: {report.latency_ms:.3f} ms")
    # one row at the top, over headroom kept free of bars
    total = pl[T.O_TOTAL][np.isfinite(pl[T.O_TOTAL])]
    ax1.set_ylim(0, 1.15 * max(float(total.max(initial=0.0)) * us, 1e-9))
    ax1.legend(fontsize=8, ncol=3, loc="upper right")
    ax1.set_xlim(-1, n)

    # Roofline: one roof per unit (array / vector in the layer's formats, or a roofline device's op
    # class), each layer drawn against its own unit's roof; an op is what the engine counts for the
    # layer's unit (a MAC on the array, a MAC or element op on the vector unit).
    from .html_report import roofline_data
    d = roofline_data(report)
    bw = d["dram_bytes_per_cycle"]
    # x spans the layers and every roof's ridge point (peak / DRAM bytes per cycle), a factor 4 each side
    ridges = [peak / bw for peak in d["roofs"].values()]
    span = list(d["intensity"]) + ridges or [1.0]
    lo, hi = min(span) / 4, max(span) * 4
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    cmap = plt.get_cmap("tab10")
    names = list(d["roofs"])
    for k, name in enumerate(names):
        peak = d["roofs"][name]
        ax2.loglog(xs, np.minimum(peak, xs * bw), "-", color=cmap(k % 10), lw=1.5,
                   label=f"{name} roof: {peak:.4g} ops/cycle")
        mine = [i for i, r in enumerate(d["roof_name"]) if r == name]
        if mine:
            ax2.scatter(d["intensity"][mine], d["achieved"][mine], s=14, color=cmap(k % 10),
                        edgecolors="k", linewidths=0.3, label=f"{name} layers ({len(mine)})")
    # the DRAM roof alone: the slope up to twice the highest compute roof, without a flat top of its own
    top = 2 * max(d["roofs"].values(), default=1.0)
    slope = xs * bw <= top
    ax2.loglog(xs[slope], xs[slope] * bw, "k:", lw=1, label=f"DRAM roof: {bw:.3g} bytes/cycle")
    ax2.set_xlabel("ops per DRAM byte" + (f"\n({d['no_dram']} layers move no DRAM bytes: not drawn)"
                                           if d["no_dram"] else ""))
    ax2.set_ylabel("ops per cycle\n" + ("(dense, depthwise: MACs; elementwise: element ops)" if roofline
                                        else "(array: MACs; vector: MACs or element ops)"))
    ax2.set_title("roofline: each layer against its unit's roof", fontsize=10)
    # beside the axes: inside, any corner can hold layers (low-utilisation layers sit under the roofs)
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    save_figure(fig, path)
