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


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG atomically (a reader never sees half a file) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
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

    # Roofline in MAC/cycle vs MACs per DRAM byte, for the layers that ran on the array.
    macs = pl[T.O_OPS]
    dram = pl[T.O_DRAM_R] + pl[T.O_DRAM_W]
    ok = (pl[T.O_UNIT] != T.UNIT_NONE) & (dram > 0) & (pl[T.O_TOTAL] > 0)
    intensity = np.where(ok, macs / np.maximum(dram, 1), np.nan)
    perf = np.where(ok, macs / np.maximum(pl[T.O_TOTAL], 1), np.nan)
    peak = max(hw.peak_macs_per_cycle.values())
    bw = hw.dram_bytes_per_cycle
    xs = np.logspace(-2, 4, 200)
    ax2.loglog(xs, np.minimum(peak, xs * bw), "k-", lw=1.5, label=f"roofline ({peak:.0f} MAC/cyc, {bw:.1f} B/cyc)")
    ax2.scatter(intensity[ok & ~on_vec], perf[ok & ~on_vec], s=14, color="#2b6cb0", label="array layers")
    ax2.scatter(intensity[ok & on_vec], perf[ok & on_vec], s=14, color="#38a169", label="vector layers")
    ax2.set_xlabel("ops per DRAM byte")
    ax2.set_ylabel("ops per cycle")
    ax2.set_title("roofline")
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)
