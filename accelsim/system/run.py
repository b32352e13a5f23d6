"""Entry points: run a scenario on one hardware config, or sweep it over several."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Hardware, load_hardware
from ..errors import AccelsimError, ConfigError
from .model import SystemModel
from .results import StreamRecord, SystemResult, fmt
from .scenario import Scenario, build_networks, load_scenario
from .service import build_service, shared_weights_hardware
from .units import parse_duration


def _seconds(duration, where: str) -> float:
    if duration is None:
        return None
    if isinstance(duration, str):
        return parse_duration(duration, where)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        raise ConfigError(f"{where}: expected a positive duration in seconds or a string like '10s', got {duration!r}")
    return float(duration)


def simulate_system(scenario: "Scenario | str", hardware: "Hardware | str" = "neural_engine", *,
                    duration=None, seed: int | None = None, networks: dict | None = None,
                    record: bool = True) -> SystemResult:
    """Run ``scenario`` on ``hardware`` for ``duration`` (seconds or '60s'; default: the scenario's).

    ``networks`` ({stream name: Network}) skips building the models again (sweeps reuse them).
    """
    sc = load_scenario(scenario)
    hw = load_hardware(hardware)
    duration_s = _seconds(duration, "--duration") or sc.duration_s
    seed = sc.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"--seed: expected a non-negative integer, got {seed!r}")
    nets = networks if networks is not None else build_networks(sc)
    hw_streams = shared_weights_hardware(hw, [nets[s.name] for s in sc.streams])
    services = {s.name: build_service(s, nets[s.name], hw_streams, sc.source) for s in sc.streams}
    model = SystemModel(sc, hw, services, duration_s, int(seed), record=record)
    dram_bytes, bg_bytes = model.run()

    clock = model.clock_hz
    horizon = model.horizon
    engine_busy = sum(e - a for _, _, a, e, *_ in model.engine_log)
    if model.engine_busy_since is not None:
        engine_busy += horizon - model.engine_busy_since
    host_busy = sum(e - a for _, _, _, a, e, *_ in model.host_log)
    host_busy += sum(horizon - a for a in model.host_busy_since.values())

    records = []
    for st in model.streams:
        svc = st.service
        records.append(StreamRecord(
            name=st.spec.name, network=svc.network.name, arrival=st.arrivals / clock, start=st.start / clock,
            finish=st.finish / clock, batch=st.batch_of, deadline_s=st.spec.deadline_s,
            rate_hz=st.spec.arrival.rate_hz, priority=st.spec.priority,
            alone_latency_s=svc.engine_latency_cycles / clock,
            layer_names=tuple(layer.name for layer in svc.network.layers)))

    def log_array(rows, ncols, time_cols):
        a = np.array(rows, dtype=np.float64).T if rows else np.zeros((ncols, 0))
        a[list(time_cols)] /= clock
        return a

    rate_log = np.array(model.port.rate_log or [], dtype=np.float64).reshape(-1, 2).T
    rate_log = np.vstack([rate_log[0] / clock, rate_log[1] * clock / 1e9]) if rate_log.size else np.zeros((2, 0))
    return SystemResult(
        scenario=sc, hardware=hw, duration_s=duration_s, seed=int(seed), streams=tuple(records),
        engine_log=log_array(model.engine_log, 7, (2, 3, 4)), host_log=log_array(model.host_log, 7, (3, 4)),
        dram_rate_log=rate_log, engine_busy_s=engine_busy / clock, host_busy_s=host_busy / clock,
        dram_bytes=dram_bytes, background_bytes=bg_bytes)


@dataclass(frozen=True)
class SweepRow:
    hardware: str
    area_mm2: float
    result: SystemResult | None
    error: str | None

    def meets(self, max_miss: float) -> bool:
        return self.result is not None and self.result.meets_deadlines(max_miss)


def sweep(scenario: "Scenario | str", hardware_list, *, duration=None, seed: int | None = None,
          progress: bool = False) -> list[SweepRow]:
    """Run the scenario on every config; a config that cannot run a model gives a row with ``error``."""
    sc = load_scenario(scenario)
    nets = build_networks(sc)
    rows = []
    items = list(hardware_list)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="hardware", unit="config", disable=None)
    for name in items:
        hw = load_hardware(name)
        try:
            r = simulate_system(sc, hw, duration=duration, seed=seed, networks=nets, record=False)
            rows.append(SweepRow(hw.name, hw.area_mm2, r, None))
        except AccelsimError as exc:
            if isinstance(exc, ConfigError):
                raise
            rows.append(SweepRow(hw.name, hw.area_mm2, None, str(exc)))
    return rows


def smallest_meeting(rows: list[SweepRow], max_miss: float = 0.0) -> SweepRow | None:
    ok = [r for r in rows if r.meets(max_miss)]
    return min(ok, key=lambda r: r.area_mm2) if ok else None


def sweep_table(rows: list[SweepRow], max_miss: float = 0.0) -> str:
    """One row per config, smallest area first, and the smallest config that meets every deadline."""
    streams = []
    for r in rows:
        if r.result is not None:
            streams = [s.name for s in r.result.streams]
            break
    head = f"{'hardware':<20}{'area mm2':>10}{'engine':>8}{'DRAM':>7}" + "".join(
        f"{(n[:10] + ' p99'):>16}{'miss':>7}" for n in streams) + f"{'meets':>7}"
    lines = [head, "-" * len(head)]
    for r in sorted(rows, key=lambda r: r.area_mm2):
        if r.result is None:
            lines.append(f"{r.hardware[:19]:<20}{r.area_mm2:>10.2f}  cannot run: {r.error}")
            continue
        sysd = r.result.system_stats()
        cells = "".join(f"{fmt(s['latency_p99_ms'], 13)} ms{s['miss_rate']:>7.1%}" for s in r.result.stream_stats())
        lines.append(f"{r.hardware[:19]:<20}{r.area_mm2:>10.2f}{sysd['engine_utilization']:>8.1%}"
                     f"{sysd['dram_utilization']:>7.1%}{cells}{'yes' if r.meets(max_miss) else 'no':>7}")
    best = smallest_meeting(rows, max_miss)
    crit = "no deadline miss" if max_miss == 0 else f"miss rate <= {max_miss:.2%}"
    lines.append("-" * len(head))
    lines.append(f"smallest config with {crit} on every stream: "
                 + (f"{best.hardware} ({best.area_mm2:.2f} mm2)" if best else "none"))
    return "\n".join(lines)
