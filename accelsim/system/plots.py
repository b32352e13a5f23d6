"""Gantt chart of a system run: requests per stream, engine and host occupancy, DRAM bandwidth.

A stream whose requests never overlap by more than :data:`BARS_UP_TO` at a time in the window gets
one bar per request (arrival to completion); an overloaded stream, whose bars would pile into a
solid block, gets its queue depth over time instead (requests waiting or running, the part past
their deadline in red). The DRAM panel shows the bandwidth in use as a step line while it changes
rarely enough to read, else its mean per bin with the min-max range within each bin shaded. The
legends sit outside the lanes, so they hide nothing.
"""

from __future__ import annotations

import numpy as np

from ..plots import pyplot, save_figure
from .results import SystemResult

BARS_UP_TO = 2       # most requests of a stream in the system at once for which bars stay readable
DRAM_BINS = 600      # bins of the DRAM panel once the bandwidth changes more often than this in the window
LATE = "#e53e3e"
DROPPED = "#4a5568"


def _merge(starts, ends, keys):
    """Join back-to-back intervals with the same key (consecutive layers of one job) into one bar."""
    out = []
    for a, b, k in zip(starts, ends, keys):
        if out and out[-1][2] == k and a - out[-1][1] <= 1e-12:
            out[-1][1] = b
        else:
            out.append([a, b, k])
    return out


def count_over_time(enter: np.ndarray, leave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many intervals [enter, leave) are open over time: (times, count from each time on), a step
    function that starts at zero; at equal times a leave counts before an enter."""
    t = np.concatenate([enter, leave])
    step = np.concatenate([np.ones(enter.size, dtype=np.int64), -np.ones(leave.size, dtype=np.int64)])
    order = np.lexsort((step, t))
    return t[order], np.cumsum(step[order])


def _value_at(t: np.ndarray, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A step function (value v[i] from t[i] on, zero before t[0]) at the points x."""
    i = np.searchsorted(t, x, side="right") - 1
    return np.where(i >= 0, v[np.maximum(i, 0)], 0)


def binned_steps(t: np.ndarray, v: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (time-weighted), min and max of the step function (v[i] from t[i] on) within each bin."""
    # integral from t[0] to each breakpoint, then to each edge
    cum = np.concatenate([[0.0], np.cumsum(v[:-1] * np.diff(t))])
    i = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, None)
    area = cum[i] + v[i] * (edges - t[i])
    mean = np.diff(area) / np.diff(edges)
    lo, hi = np.empty(mean.size), np.empty(mean.size)
    last = np.searchsorted(t, edges[1:], side="left") - 1   # the last step that starts inside each bin
    for j in range(mean.size):
        seg = v[i[j]:max(last[j], i[j]) + 1]
        lo[j], hi[j] = seg.min(), seg.max()
    return mean, lo, hi


def plot_gantt(result: SystemResult, path, window_s: float | None = None) -> None:
    """Write a PNG: one lane per stream (request bars, or queue depth when overloaded), the engine,
    the host cores; DRAM GB/s below. ``window_s`` limits the chart to [0, window_s) (default: the
    first 0.5 s or the whole run)."""
    plt = pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    H = result.duration_s
    w = min(H, window_s if window_s else 0.5)
    ms = 1e3
    streams = result.streams
    colors = plt.get_cmap("tab10")
    host_cores = sorted({int(c) for c in result.host_log[0]}) if result.host_log.size else []
    rows = [s.name for s in streams] + ["engine"] + [f"host cpu {c}" for c in host_cores]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(15, 1.6 + 0.6 * len(rows) + 2.0), sharex=True, layout="constrained",
                                  gridspec_kw={"height_ratios": [max(2.0, 0.6 * len(rows)), 1.6]})
    y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}
    labels = dict(zip(rows, rows))
    any_bars = any_depth = any_dropped = any_late = False
    for i, s in enumerate(streams):
        color, lane = colors(i % 10), y[s.name]
        sel = s.arrival < w
        a = s.arrival[sel]
        leave, past = s.in_system(H)
        leave, past = leave[sel], past[sel]
        dropped = s.dropped_mask[sel]
        t, depth = count_over_time(a, leave)
        inside = t < w
        peak = int(depth[inside].max()) if inside.any() else 0
        if peak <= BARS_UP_TO:
            any_bars = True
            ran = ~dropped
            any_late |= bool((ran & past).any())
            for ok, c in ((ran & ~past, color), (ran & past, LATE)):
                if ok.any():
                    ax.broken_barh(list(zip(a[ok] * ms, (leave[ok] - a[ok]) * ms)), (lane - 0.35, 0.7),
                                   facecolors=c, alpha=0.6, edgecolor=c, linewidth=0.5)
            if dropped.any():   # a thin bar for the wait, a cross where it ended: nothing of it ran
                any_dropped = True
                ax.broken_barh(list(zip(a[dropped] * ms, (leave[dropped] - a[dropped]) * ms)), (lane - 0.05, 0.1),
                               facecolors=DROPPED, alpha=0.5, linewidth=0)
                ax.plot(leave[dropped] * ms, np.full(int(dropped.sum()), lane), "x", color=DROPPED, markersize=5)
            ax.plot(a * ms, np.full(a.size, lane + 0.38), "v", color="k", markersize=3)
            continue
        # overloaded: the number of requests in the system, and how many of them are past their deadline
        any_depth = True
        scale = 0.8 / peak
        tt, d = np.concatenate([[0.0], t[inside], [w]]), np.concatenate([[0], depth[inside], depth[inside][-1:]])
        overdue_from = a[past] + s.deadline_s
        to, late = count_over_time(overdue_from, leave[past])
        late_at = _value_at(to, late, tt) if to.size else np.zeros(tt.size)
        any_late |= bool(late_at.any())
        # stacked, not overlaid: the late part in red at the bottom, the rest in the stream's colour above
        # it, each at the alpha of the request bars, so red reads the same in every lane and the legend
        ax.fill_between(tt * ms, lane - 0.4, lane - 0.4 + late_at * scale, step="post", color=LATE, alpha=0.6,
                        linewidth=0)
        ax.fill_between(tt * ms, lane - 0.4 + late_at * scale, lane - 0.4 + d * scale, step="post", color=color,
                        alpha=0.6, linewidth=0)
        extra = f", {int(dropped.sum()):,} dropped" if dropped.any() else ""
        labels[s.name] = f"{s.name}\nqueue depth 0–{peak}{extra}"
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
    ax.set_yticklabels([labels[r] for r in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    st = result.system_stats()
    ax.set_title(f"{result.scenario.name} on {result.hardware.name}: engine {st['engine_utilization']:.1%} busy, "
                 f"DRAM {st['dram_utilization']:.1%}")
    handles = [Patch(color=colors(i % 10), label=s.name) for i, s in enumerate(streams)]
    if any_bars:
        handles += [Patch(facecolor="white", edgecolor="k", linewidth=0.6,
                          label="request: arrival to completion\n(in its stream's colour)"),
                    Line2D([], [], marker="v", color="k", linestyle="", markersize=4, label="arrival")]
    if any_depth:
        handles.append(Patch(facecolor="white", edgecolor="k", linewidth=0.6,
                             label="queue depth: requests waiting\nor running (overloaded stream)"))
    if any_late:
        handles.append(Patch(color=LATE, alpha=0.6, label="past its deadline"))
    if any_dropped:
        handles.append(Line2D([], [], marker="x", color=DROPPED, linestyle="-", linewidth=3, alpha=0.7,
                              markersize=5, label="dropped at its deadline\n(waited, never ran)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)

    rl = result.dram_rate_log
    background = min(result.scenario.background_dram_gb_per_s, result.hardware.dram.bandwidth_gb_per_s)
    t, v = rl[0], rl[1]
    if not t.size or t[0] > 0.0:   # before the first transfer only the background flows
        t, v = np.concatenate([[0.0], t]), np.concatenate([[background], v])
    inside = t < w
    if int(inside.sum()) <= DRAM_BINS:
        tt = np.concatenate([t[inside], [w]]) * ms
        ax2.step(tt, np.concatenate([v[inside], v[inside][-1:]]), where="post", color="#2b6cb0", linewidth=0.8,
                 label="in use")
    else:
        edges = np.linspace(0.0, w, DRAM_BINS + 1)
        mean, lo, hi = binned_steps(t, v, edges)
        width = w / DRAM_BINS * ms
        x = edges * ms
        ax2.fill_between(x, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", color="#90cdf4", alpha=0.6,
                         linewidth=0, label=f"min–max in each {width:.3g} ms")
        ax2.step(x, np.append(mean, mean[-1]), where="post", color="#2b6cb0", linewidth=0.9,
                 label=f"mean over {width:.3g} ms")
    ax2.axhline(result.hardware.dram.bandwidth_gb_per_s, color="k", linestyle=":", linewidth=0.8,
                label="port bandwidth")
    ax2.set_ylim(0, result.hardware.dram.bandwidth_gb_per_s * 1.08)
    ax2.set_ylabel("DRAM GB/s")
    ax2.set_xlabel("time (ms)")
    ax2.set_xlim(0, w * ms)
    ax2.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    save_figure(fig, path)
