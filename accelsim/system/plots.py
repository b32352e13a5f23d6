"""Gantt chart of a system run: requests per stream, engine and host occupancy, DRAM bandwidth."""

from __future__ import annotations

import numpy as np

from ..plots import pyplot, save_figure
from .results import SystemResult


def _merge(starts, ends, keys):
    """Join back-to-back intervals with the same key (consecutive layers of one job) into one bar."""
    out = []
    for a, b, k in zip(starts, ends, keys):
        if out and out[-1][2] == k and a - out[-1][1] <= 1e-12:
            out[-1][1] = b
        else:
            out.append([a, b, k])
    return out


def plot_gantt(result: SystemResult, path, window_s: float | None = None) -> None:
    """Write a PNG: one row per stream (requests, red when late), engine, host cores; DRAM GB/s below.

    ``window_s`` limits the chart to [0, window_s) (default: the first 0.5 s or the whole run).
    """
    plt = pyplot()
    w = min(result.duration_s, window_s if window_s else 0.5)
    ms = 1e3
    streams = result.streams
    colors = plt.get_cmap("tab10")
    host_cores = sorted({int(c) for c in result.host_log[0]}) if result.host_log.size else []
    rows = [s.name for s in streams] + ["engine"] + [f"host cpu {c}" for c in host_cores]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(14, 1.0 + 0.55 * len(rows) + 2.0), sharex=True,
                                  gridspec_kw={"height_ratios": [max(2.0, 0.55 * len(rows)), 1.6]})
    y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}
    for i, s in enumerate(streams):
        sel = s.arrival < w
        a = s.arrival[sel]
        f = np.where(np.isnan(s.finish[sel]), result.duration_s, s.finish[sel])
        late = (f - a) > s.deadline_s
        for ok, color in ((~late, colors(i % 10)), (late, "#e53e3e")):
            if ok.any():
                ax.broken_barh(list(zip(a[ok] * ms, (f[ok] - a[ok]) * ms)), (y[s.name] - 0.35, 0.7),
                               facecolors=color, alpha=0.6, edgecolor=color, linewidth=0.5)
        ax.plot(a * ms, np.full(a.size, y[s.name] + 0.38), "v", color="k", markersize=3)
    el = result.engine_log
    sel = el[2] < w if el.size else np.zeros(0, dtype=bool)
    for a, b, k in _merge(el[2, sel], el[3, sel], list(zip(el[0, sel].astype(int), el[6, sel].astype(int)))):
        ax.broken_barh([(a * ms, (b - a) * ms)], (y["engine"] - 0.35, 0.7), facecolors=colors(k[0] % 10),
                       edgecolor=colors(k[0] % 10), linewidth=0.5)
    hl = result.host_log
    for c in host_cores:
        selc = (hl[0] == c) & (hl[3] < w)
        for a, b, k in _merge(hl[3, selc], hl[4, selc], list(zip(hl[1, selc].astype(int), hl[6, selc].astype(int)))):
            ax.broken_barh([(a * ms, (b - a) * ms)], (y[f"host cpu {c}"] - 0.35, 0.7),
                           facecolors=colors(k[0] % 10), edgecolor=colors(k[0] % 10), linewidth=0.5)
    ax.set_yticks([y[r] for r in rows])
    ax.set_yticklabels(rows)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    st = result.system_stats()
    ax.set_title(f"{result.scenario.name} on {result.hardware.name}: engine {st['engine_utilization']:.1%} busy, "
                 f"DRAM {st['dram_utilization']:.1%} (requests: bar from arrival to completion, red = late)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors(i % 10)) for i in range(len(streams))]
    ax.legend(handles, [s.name for s in streams], loc="upper right", fontsize=8, ncol=len(streams))

    rl = result.dram_rate_log
    if rl.size:
        sel = rl[0] < w
        t = np.concatenate([rl[0, sel], [w]]) * ms
        v = np.concatenate([rl[1, sel], rl[1, sel][-1:] if sel.any() else [0.0]])
        ax2.step(t, v, where="post", color="#2b6cb0", linewidth=0.8)
    ax2.axhline(result.hardware.dram.bandwidth_gb_per_s, color="k", linestyle=":", linewidth=0.8,
                label="port bandwidth")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("DRAM GB/s")
    ax2.set_xlabel("time (ms)")
    ax2.set_xlim(0, w * ms)
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)
