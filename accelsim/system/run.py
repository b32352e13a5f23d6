"""Entry points: run a scenario on one hardware config, or sweep it over several."""

from __future__ import annotations

import contextlib
import math
from array import array
from dataclasses import dataclass

import numpy as np

from ..config import Hardware, load_hardware
from ..console import AREA_UNKNOWN, PROGRESS_DELAY_S, stderr_is_tty
from ..errors import AccelsimError, ConfigError
from .model import ENGINE_COLUMNS, HOST_COLUMNS, SystemModel
from .results import NONE, StreamRecord, SystemResult, fmt
from .scenario import Scenario, build_networks, check_layer_events, check_load, load_scenario
from .service import build_service, shared_weights_hardware
from .units import format_duration, parse_duration



@contextlib.contextmanager
def _progress_bar(progress: "bool | None", total: float, desc: str, *, models: bool = False):
    """A tqdm bar over the simulated seconds (``models``: over the streams' networks and service times
    being built), shown after PROGRESS_DELAY_S; None when not asked for or (``progress=None``) when
    stderr is not a terminal."""
    if progress is False or (progress is None and not stderr_is_tty()):
        yield None
        return
    from tqdm import tqdm
    what = "{n:.0f}/{total:.0f} models and service times built" if models else "{n:.4g}/{total:.4g} s simulated"
    with tqdm(total=total, desc=desc, unit="s", unit_scale=False, delay=PROGRESS_DELAY_S, leave=False,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| " + what + " [{elapsed}<{remaining}]") as bar:
        yield bar


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
                    record: bool = True, progress: "bool | None" = False) -> SystemResult:
    """Run ``scenario`` on ``hardware`` for ``duration`` (seconds or '60s'; default: the scenario's).

    ``networks`` ({stream name: Network}) skips building the models again (sweeps reuse them).
    ``progress``: True shows a bar on stderr (the streams' networks and service times being built,
    then simulated time reached against the duration) once a phase has taken PROGRESS_DELAY_S, None
    does so only when stderr is a terminal, False (the default) never; the results are the same
    either way. Ctrl-C (KeyboardInterrupt) stops the run within one event and is raised again with a
    message saying how far it got.
    """
    sc = load_scenario(scenario)
    hw = load_hardware(hardware)
    where = f"{sc.source}: duration" if duration is None else f"--duration {duration}"
    duration_s = _seconds(duration, "--duration") or sc.duration_s
    if duration is not None:   # the scenario's own duration was checked when it was read
        check_load(sc, duration_s, where)
    seed = sc.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"--seed: expected a non-negative integer, got {seed!r}")
    # building the networks and their service times can take seconds (zoo builders, the engine)
    steps = len(sc.streams) * (1 if networks is not None else 2)
    with _progress_bar(progress, steps, f"{sc.name} on {hw.name}", models=True) as bar:
        step = None if bar is None else bar.update
        nets = networks if networks is not None else build_networks(sc, step)
        hw_streams = shared_weights_hardware(hw, [nets[s.name] for s in sc.streams])
        services = {}
        for s in sc.streams:
            services[s.name] = build_service(s, nets[s.name], hw_streams, sc.source)
            if step is not None:
                step(1)
    check_layer_events(sc, duration_s, {s.name: len(services[s.name].steps(1, hw, sc.host)) for s in sc.streams},
                       where)
    model = SystemModel(sc, hw, services, duration_s, int(seed), record=record)
    try:
        with _progress_bar(progress, duration_s, f"{sc.name} on {hw.name}") as bar:
            dram_bytes, bg_bytes = model.run(
                None if bar is None else lambda cycles: bar.update(cycles / model.clock_hz - bar.n))
    except KeyboardInterrupt:
        reached = format_duration(model.reached / model.clock_hz)
        raise KeyboardInterrupt(f"{sc.name} on {hw.name} stopped after {reached} of {format_duration(duration_s)} "
                                "simulated") from None

    clock = model.clock_hz
    horizon = model.horizon
    el, hl = model.engine_log, model.host_log
    engine_busy = sum(e - a for a, e in zip(el[2::ENGINE_COLUMNS], el[3::ENGINE_COLUMNS]))
    if model.engine_busy_since is not None:
        engine_busy += horizon - model.engine_busy_since
    host_busy = sum(e - a for a, e in zip(hl[3::HOST_COLUMNS], hl[4::HOST_COLUMNS]))
    host_busy += sum(horizon - a for a in model.host_busy_since.values())

    records = []
    for st in model.streams:
        svc = st.service
        records.append(StreamRecord(
            name=st.spec.name, network=svc.network.name, arrival=st.arrivals / clock, start=st.start / clock,
            finish=st.finish / clock, batch=st.batch_of, deadline_s=st.spec.deadline_s,
            rate_hz=st.spec.arrival.rate_hz, priority=st.spec.priority,
            alone_latency_s=svc.engine_latency_cycles / clock,
            layer_names=tuple(layer.name for layer in svc.network.layers), dropped=st.dropped,
            deadline_action=st.spec.deadline_action))

    def log_array(flat, ncols, time_cols):
        a = np.frombuffer(flat, dtype=np.float64).reshape(-1, ncols).T   # a view: no copy of a long log
        a[list(time_cols)] /= clock
        return a

    rate_log = log_array(model.port.rate_log if model.port.rate_log is not None else array("d"), 2, ())
    rate_log = np.vstack([rate_log[0] / clock, rate_log[1] * clock / 1e9]) if rate_log.size else np.zeros((2, 0))
    return SystemResult(
        scenario=sc, hardware=hw, duration_s=duration_s, seed=int(seed), streams=tuple(records),
        engine_log=log_array(el, ENGINE_COLUMNS, (2, 3, 4)), host_log=log_array(hl, HOST_COLUMNS, (3, 4)),
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
    with _progress_bar(None if progress else False, len(sc.streams), sc.name, models=True) as bar:
        nets = build_networks(sc, None if bar is None else bar.update)
    rows = []
    items = list(hardware_list)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="hardware", unit="config", disable=None)
    for name in items:
        hw = load_hardware(name)
        try:
            r = simulate_system(sc, hw, duration=duration, seed=seed, networks=nets, record=False,
                                progress=None if progress else False)
            rows.append(SweepRow(hw.name, hw.area_mm2, r, None))
        except AccelsimError as exc:
            if isinstance(exc, ConfigError):
                raise
            rows.append(SweepRow(hw.name, hw.area_mm2, None, str(exc)))
    return rows


def smallest_meeting(rows: list[SweepRow], max_miss: float = 0.0) -> SweepRow | None:
    """The smallest config that meets the deadlines, among those whose area is known (a roofline
    config may leave its area out: nan)."""
    ok = [r for r in rows if r.meets(max_miss) and not math.isnan(r.area_mm2)]
    return min(ok, key=lambda r: r.area_mm2) if ok else None


def _by_area(row: SweepRow) -> tuple:
    """Smallest area first; configs of unknown area (nan) last."""
    return (math.isnan(row.area_mm2), 0.0 if math.isnan(row.area_mm2) else row.area_mm2)


def sweep_table(rows: list[SweepRow], max_miss: float = 0.0) -> str:
    """One row per config, smallest area first (unknown areas last), and the smallest config that
    meets every deadline."""
    streams = []
    for r in rows:
        if r.result is not None:
            streams = [s.name for s in r.result.streams]
            break
    hw_w = max([len("hardware")] + [len(r.hardware) for r in rows]) + 2
    widths = [max(16, len(n) + 6) for n in streams]   # full stream names: "<name> p99"
    head = f"{'hardware':<{hw_w}}{'area mm2':>10}{'engine':>8}{'DRAM':>7}" + "".join(
        f"{(n + ' p99'):>{wd}}{'miss':>7}" for n, wd in zip(streams, widths)) + f"{'meets':>7}"
    lines = [head, "-" * len(head)]
    for r in sorted(rows, key=_by_area):
        if r.result is None:
            lines.append(f"{r.hardware:<{hw_w}}{fmt(r.area_mm2, 10, '.2f')}  cannot run: {r.error}")
            continue
        sysd = r.result.system_stats()
        cells = "".join(f"{fmt(s['latency_p99_ms'], wd - 3)} ms{s['miss_rate']:>7.1%}"
                        for s, wd in zip(r.result.stream_stats(), widths))
        lines.append(f"{r.hardware:<{hw_w}}{fmt(r.area_mm2, 10, '.2f')}{sysd['engine_utilization']:>8.1%}"
                     f"{sysd['dram_utilization']:>7.1%}{cells}{'yes' if r.meets(max_miss) else 'no':>7}")
    best = smallest_meeting(rows, max_miss)
    crit = "no deadline miss" if max_miss == 0 else f"miss rate <= {max_miss:.2%}"
    lines.append("-" * len(head))
    unknown_area = [r.hardware for r in rows if r.meets(max_miss) and math.isnan(r.area_mm2)]
    lines.append(f"smallest config with {crit} on every stream: "
                 + (f"{best.hardware} ({best.area_mm2:.2f} mm2)" if best else
                    f"none of known area (met by {', '.join(unknown_area)}, area unknown)" if unknown_area else "none"))
    if any(r.area_mm2 is None or r.area_mm2 != r.area_mm2 for r in rows):
        lines.append(f"{NONE}: {AREA_UNKNOWN}")
    return "\n".join(lines)
