"""What a system run produced: per-request times, layer logs, and the statistics drawn from them.

All statistics are over the simulated window [0, duration), and over every request that arrived in
it, so that an overloaded stream does not read better than it is:

- throughput: requests completed in the window / duration;
- backlog: requests neither completed nor dropped at the end (queued or running), and the age of
  the oldest of them (end of the window - its arrival);
- latency (p50/p95/p99/mean/max): completion - arrival over the requests not dropped; a request
  unfinished at the end counts at its age then, a lower bound of its latency. ``completed_latency_*``
  are the same over completed requests only;
- queueing delay: first layer start - arrival over the requests not dropped; one not started by the
  end counts at its age;
- dropped (``deadline_action: drop``): requests still waiting when their deadline passed, never run;
- deadline-miss rate: requests that completed late, were dropped, or were still unfinished when
  their deadline passed inside the window, over all requests whose outcome is known by the end of
  the window (requests in flight with their deadline beyond the window are not counted either way);
- utilisation: engine busy time / duration; host busy core time / (cores x duration); DRAM bytes
  moved (engine, host and background) / (bandwidth x duration).

A statistic with nothing to count (no request arrived, all were dropped, none started) is None, not
NaN, and the stream's ``note`` says why; the table prints it as '–'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..console import AREA_UNKNOWN
from .scenario import Scenario
from .units import format_duration


NONE = "–"   # printed for a statistic with nothing to count (the stream's note says why)


def fmt(value: "float | None", width: int, spec: str = ".3f") -> str:
    """Right-aligned number, or '–' when there is none (None, or NaN)."""
    return f"{NONE:>{width}}" if value is None or value != value else f"{value:>{width}{spec}}"


def _ms(x: np.ndarray, q: "float | str") -> "float | None":
    """Percentile ``q`` (or 'mean', 'max') of seconds ``x`` in milliseconds; None when ``x`` is empty."""
    if not x.size:
        return None
    value = x.mean() if q == "mean" else x.max() if q == "max" else np.percentile(x, q)
    return float(value) * 1e3


def _note(arrived: int, served: int, started: int, completed: int, window: str) -> str:
    """Why some of a stream's statistics are None ('' when all are numbers)."""
    if not arrived:
        return f"no request arrived in the {window} window"
    if not served:
        return f"all {arrived:,} requests were dropped (their deadline passed before they started)"
    if not started:
        return f"none of the {served:,} requests served started; latency is their age at the end"
    if not completed:
        return f"none of the {served:,} requests served completed; latency counts the unfinished at their age"
    return ""


@dataclass(frozen=True, eq=False)
class StreamRecord:
    """Per-request times of one stream, in seconds (NaN: not started / not finished in the window)."""

    name: str
    network: str
    arrival: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    batch: np.ndarray
    deadline_s: float
    rate_hz: float
    priority: int
    alone_latency_s: float      # the engine's latency for one request (host fallback excluded)
    layer_names: tuple
    dropped: "np.ndarray | None" = None   # True: dropped at its deadline, never run (None: none dropped)
    deadline_action: str = "finish"

    @property
    def dropped_mask(self) -> np.ndarray:
        return np.zeros(self.arrival.size, dtype=bool) if self.dropped is None else self.dropped

    def in_system(self, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
        """When each request leaves the system (completion, drop at its deadline, else ``horizon_s``),
        and which ones ran past their deadline while in it (completed late or still unfinished)."""
        dropped = self.dropped_mask
        done = ~np.isnan(self.finish)
        leave = np.where(done, self.finish, np.where(dropped, self.arrival + self.deadline_s, horizon_s))
        return leave, ~dropped & (leave - self.arrival > self.deadline_s)


@dataclass(frozen=True, eq=False)
class SystemResult:
    scenario: Scenario
    hardware: object
    duration_s: float
    seed: int
    streams: tuple                  # of StreamRecord
    engine_log: np.ndarray          # rows: stream, layer, start_s, end_s, dma_end_s, batch, job
    host_log: np.ndarray            # rows: core, stream, layer, start_s, end_s, batch, job
    dram_rate_log: np.ndarray       # rows: time_s, GB/s in use (engine + host + background)
    engine_busy_s: float
    host_busy_s: float
    dram_bytes: float               # engine + host transfers in the window
    background_bytes: float

    # ---- statistics ----
    def stream_stats(self) -> list[dict]:
        """Per stream: counts, throughput, latency and queueing percentiles over every request (see the
        module docstring), backlog, drops, misses; None (never NaN) where there is nothing to count."""
        out = []
        H = self.duration_s
        for s in self.streams:
            dropped = s.dropped_mask
            done = ~np.isnan(s.finish)
            started = ~np.isnan(s.start)
            served = ~dropped
            backlog = served & ~done
            age = H - s.arrival
            latency = np.where(done, s.finish - s.arrival, age)
            lat, lat_done = latency[served], latency[done]
            queue = np.where(started, s.start - s.arrival, age)[served]
            late_done = done & (latency > s.deadline_s)
            overdue = backlog & (s.arrival + s.deadline_s < H)
            decided = int(done.sum() + overdue.sum() + dropped.sum())
            missed = int(late_done.sum() + overdue.sum() + dropped.sum())
            out.append({
                "stream": s.name, "network": s.network, "rate_hz": s.rate_hz, "deadline_ms": s.deadline_s * 1e3,
                "deadline_action": s.deadline_action,
                "priority": s.priority, "alone_latency_ms": s.alone_latency_s * 1e3,
                "arrived": int(s.arrival.size), "completed": int(done.sum()), "dropped": int(dropped.sum()),
                "backlog": int(backlog.sum()), "backlog_oldest_age_ms": _ms(age[backlog], "max"),
                "throughput_per_s": float(done.sum() / H),
                "latency_p50_ms": _ms(lat, 50), "latency_p95_ms": _ms(lat, 95), "latency_p99_ms": _ms(lat, 99),
                "latency_mean_ms": _ms(lat, "mean"), "latency_max_ms": _ms(lat, "max"),
                "completed_latency_p50_ms": _ms(lat_done, 50), "completed_latency_p99_ms": _ms(lat_done, 99),
                "queue_mean_ms": _ms(queue, "mean"), "queue_p95_ms": _ms(queue, 95),
                "missed": missed, "decided": decided, "miss_rate": missed / decided if decided else 0.0,
                "mean_batch": float(s.batch[started].mean()) if started.any() else None,
                "note": _note(int(s.arrival.size), int(served.sum()), int(started.sum()), int(done.sum()),
                              format_duration(H)),
            })
        return out

    def system_stats(self) -> dict:
        H = self.duration_s
        hw = self.hardware
        cap = hw.dram.bandwidth_gb_per_s * 1e9 * H
        return {
            "scenario": self.scenario.name, "hardware": hw.name, "area_mm2": hw.area_mm2,
            "duration_s": H, "seed": self.seed, "policy": self.scenario.scheduler.policy,
            "preemption": self.scenario.scheduler.preemption,
            "engine_utilization": self.engine_busy_s / H,
            "host_utilization": self.host_busy_s / (self.scenario.host.cores * H),
            "dram_utilization": (self.dram_bytes + self.background_bytes) / cap,
            "dram_gb_per_s": (self.dram_bytes + self.background_bytes) / H / 1e9,
            "engine_layers": int(self.engine_log.shape[1]), "host_layers": int(self.host_log.shape[1]),
        }

    def worst_miss_rate(self) -> float:
        return max(s["miss_rate"] for s in self.stream_stats())

    def meets_deadlines(self, max_miss: float = 0.0) -> bool:
        return all(s["miss_rate"] <= max_miss for s in self.stream_stats())

    # ---- outputs ----
    def to_dict(self) -> dict:
        return {"system": self.system_stats(), "streams": self.stream_stats()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def table(self) -> str:
        """Per-stream rows (full stream and network names), then the system line; a 'dropped' column when
        a stream drops late requests, and a line per stream whose statistics are '–' saying why."""
        stats = self.stream_stats()
        name_w = max([len("stream")] + [len(r["stream"]) for r in stats]) + 2
        net_w = max([len("network")] + [len(r["network"]) for r in stats]) + 2
        drops = any(r["deadline_action"] == "drop" or r["dropped"] for r in stats)
        head = (f"{'stream':<{name_w}}{'network':<{net_w}}{'rate/s':>8}{'deadline':>10}{'done':>7}{'fps':>8}"
                f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'queue ms':>10}{'backlog':>9}{'oldest ms':>11}"
                + (f"{'dropped':>9}" if drops else "") + f"{'miss':>8}{'batch':>7}")
        lines = [head, "-" * len(head)]
        for r in stats:
            lines.append(f"{r['stream']:<{name_w}}{r['network']:<{net_w}}{r['rate_hz']:>8.4g}"
                         f"{format_duration(r['deadline_ms'] / 1e3):>10}{r['completed']:>7,}"
                         f"{r['throughput_per_s']:>8.2f}{fmt(r['latency_p50_ms'], 9)}{fmt(r['latency_p95_ms'], 9)}"
                         f"{fmt(r['latency_p99_ms'], 9)}{fmt(r['queue_mean_ms'], 10)}{r['backlog']:>9,}"
                         f"{fmt(r['backlog_oldest_age_ms'], 11)}" + (f"{r['dropped']:>9,}" if drops else "")
                         + f"{r['miss_rate']:>8.1%}{fmt(r['mean_batch'], 7, '.2f')}")
        s = self.system_stats()
        lines += ["-" * len(head),
                  f"{s['scenario']} on {s['hardware']} ({fmt(s['area_mm2'], 0, '.2f')} mm2), "
                  f"{format_duration(s['duration_s'])} "
                  f"simulated, {s['policy']}{' preemptive' if s['preemption'] else ''}, seed {s['seed']}: "
                  f"engine {s['engine_utilization']:.1%} busy, DRAM {s['dram_utilization']:.1%} "
                  f"({s['dram_gb_per_s']:.2f} GB/s), host CPU {s['host_utilization']:.1%}"]
        overdue = [r["stream"] for r in stats if r["backlog_oldest_age_ms"] is not None
                   and r["backlog_oldest_age_ms"] > r["deadline_ms"]]
        if overdue:
            lines.append(f"backlog past its deadline at the end ({', '.join(overdue)}): latency and queue columns "
                         "count unfinished requests at their age then (a lower bound)")
        lines += [f"{r['stream']}: {NONE} {r['note']}" for r in stats if r["note"]]
        if any(r["backlog_oldest_age_ms"] is None and not r["note"] for r in stats):
            lines.append(f"{NONE}: oldest ms: no request was left waiting at the end")
        if s["area_mm2"] is None or s["area_mm2"] != s["area_mm2"]:
            lines.append(f"{NONE}: {AREA_UNKNOWN}")
        return "\n".join(lines)

    def chrome_trace(self) -> dict:
        """Trace Event Format (chrome://tracing, ui.perfetto.dev): 'X' complete events in microseconds.

        Tracks: the engine (one event per layer), the DRAM port (each engine layer's transfer, and
        a counter of the bandwidth in use), one per host core, and one per stream (one event per
        request from arrival to completion; overlapping requests go to extra lanes of the stream).
        """
        us = 1e6
        pid = 1
        events = [{"ph": "M", "pid": pid, "name": "process_name",
                   "args": {"name": f"{self.scenario.name} on {self.hardware.name}"}}]
        tids = {}

        def track(name: str) -> int:
            if name not in tids:
                tids[name] = len(tids) + 1
                events.append({"ph": "M", "pid": pid, "tid": tids[name], "name": "thread_name",
                               "args": {"name": name}})
                events.append({"ph": "M", "pid": pid, "tid": tids[name], "name": "thread_sort_index",
                               "args": {"sort_index": tids[name]}})
            return tids[name]

        names = [s.name for s in self.streams]
        t_engine, t_dram = track("engine"), track("dram")
        for s, layer, a, b, d, n, job in zip(*self.engine_log.tolist()):
            s, layer = int(s), int(layer)
            name = f"{names[s]}:{self.streams[s].layer_names[layer]}"
            events.append({"ph": "X", "pid": pid, "tid": t_engine, "name": name, "cat": names[s],
                           "ts": a * us, "dur": (b - a) * us, "args": {"batch": int(n), "job": int(job)}})
            if d > a:
                events.append({"ph": "X", "pid": pid, "tid": t_dram, "name": name, "cat": "dma",
                               "ts": a * us, "dur": (d - a) * us})
        for t, gbs in zip(*self.dram_rate_log.tolist()):
            events.append({"ph": "C", "pid": pid, "name": "dram GB/s", "ts": t * us, "args": {"GB/s": gbs}})
        for core, s, layer, a, b, n, job in zip(*self.host_log.tolist()):
            s = int(s)
            events.append({"ph": "X", "pid": pid, "tid": track(f"host cpu {int(core)}"), "cat": names[s],
                           "name": f"{names[s]}:{self.streams[s].layer_names[int(layer)]}", "ts": a * us,
                           "dur": (b - a) * us, "args": {"batch": int(n), "job": int(job)}})
        for s in self.streams:
            lanes: list[float] = []   # end time of the last request on each lane
            leave, _ = s.in_system(self.duration_s)
            dropped = s.dropped_mask
            for k in range(s.arrival.size):
                a, f = s.arrival[k], s.finish[k]
                end = float(leave[k])
                lane = next((i for i, e in enumerate(lanes) if e <= a), None)
                if lane is None:
                    lanes.append(end)
                    lane = len(lanes) - 1
                else:
                    lanes[lane] = end
                tid = track(s.name if lane == 0 else f"{s.name} ({lane + 1})")
                late = (end - a) > s.deadline_s or bool(dropped[k])
                args = {"request": k, "deadline_ms": s.deadline_s * 1e3, "missed": bool(late),
                        "finished": bool(not np.isnan(f))}
                if dropped[k]:
                    args["dropped"] = True
                if not np.isnan(s.start[k]):
                    args["queue_ms"] = (s.start[k] - a) * 1e3
                    args["batch"] = int(s.batch[k])
                events.append({"ph": "X", "pid": pid, "tid": tid, "name": f"{s.name} #{k}", "cat": s.name,
                               "ts": a * us, "dur": (end - a) * us, "args": args})
                if late and a + s.deadline_s < self.duration_s:
                    events.append({"ph": "i", "pid": pid, "tid": tid,
                                   "name": "dropped" if dropped[k] else "deadline miss", "s": "t",
                                   "ts": (a + s.deadline_s) * us})
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"scenario": self.scenario.name, "hardware": self.hardware.name,
                              "seed": self.seed, "duration_s": self.duration_s}}

    def chrome_trace_json(self) -> str:
        return json.dumps(self.chrome_trace(), separators=(",", ":"))
