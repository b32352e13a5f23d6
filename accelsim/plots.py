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


def save_figure(fig, path, dpi: int = 110, **savefig) -> None:
    """Write ``fig`` as a PNG atomically (a reader never sees half a file) and close it; ``savefig``:
    further options of ``Figure.savefig`` (e.g. ``bbox_inches="tight"``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **savefig)
    pyplot().close(fig)
    write_atomic(path, buf.getvalue())


def plot_report(report, path) -> None:
    """Two panels: per-layer compute vs stall cycles coloured by unit; roofline of every layer."""
    plt = pyplot()
    pl = report.per_layer
    hw = report.hardware
    n = pl.shape[1]
    x = np.arange(n)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    on_vec = pl[T.O_UNIT] == T.UNIT_VECTOR
    us = 1e-3 / hw.clock_mhz * 1e3  # microseconds per cycle
    ax1.bar(x[~on_vec], pl[T.O_COMPUTE, ~on_vec] * us, color="#2b6cb0", label="compute (array)")
    ax1.bar(x[on_vec], pl[T.O_COMPUTE, on_vec] * us, color="#38a169", label="compute (vector)")
    ax1.bar(x, pl[T.O_STALL] * us, bottom=pl[T.O_COMPUTE] * us, color="#e53e3e", label="DMA stall")
    ax1.set_xlabel("layer")
    ax1.set_ylabel("latency (us)")
    ax1.set_title(f"{report.network.name} on {hw.name}: {report.latency_ms:.3f} ms")
    ax1.legend(fontsize=8)
    ax1.set_xlim(-1, n)

    # Roofline: one roof per unit (array / vector in the layer's formats, or a roofline device's op
    # class), each layer drawn against its own unit's roof; an op is what the engine counts for the
    # layer's unit (a MAC on the array, a MAC or element op on the vector unit).
    from .html_report import roofline_data
    d = roofline_data(report)
    bw = d["dram_bytes_per_cycle"]
    lo = min([1e-2] + list(d["intensity"])) / 2
    hi = max([1e4] + list(d["intensity"])) * 2
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    cmap = plt.get_cmap("tab10")
    names = list(d["roofs"])
    for k, name in enumerate(names):
        peak = d["roofs"][name]
        ax2.loglog(xs, np.minimum(peak, xs * bw), "-", color=cmap(k % 10), lw=1.5,
                   label=f"{name} roof: {peak:.4g} per cycle")
        mine = [i for i, r in enumerate(d["roof_name"]) if r == name]
        if mine:
            ax2.scatter(d["intensity"][mine], d["achieved"][mine], s=14, color=cmap(k % 10),
                        edgecolors="k", linewidths=0.3, label=f"{name} layers ({len(mine)})")
    top = 2 * max(d["roofs"].values(), default=1.0)
    ax2.loglog(xs, np.minimum(xs * bw, top), "k:", lw=1, label=f"DRAM: {bw:.3g} bytes/cycle")
    ax2.set_xlabel("ops per DRAM byte")
    ax2.set_ylabel("ops per cycle\n(array: MACs; vector: MACs or element ops)")
    ax2.set_title("roofline: each layer against its unit's roof", fontsize=10)
    if d["no_dram"]:
        ax2.text(0.02, 0.97, f"{d['no_dram']} layers move no DRAM bytes (not drawn)", transform=ax2.transAxes,
                 fontsize=7, va="top")
    ax2.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)
