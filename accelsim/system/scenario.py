"""Scenario files (``experiments/scenarios/*.yaml``) -> validated, frozen dataclasses.

A scenario says which models share one neural engine, how their requests arrive, their deadlines
and priorities, how the engine is scheduled, what the host CPU can do for layers the engine lacks,
and how much DRAM bandwidth other SoC clients take. It does not name the hardware: the same
scenario runs on any config (``accelsim system --scenario F --hw NAME`` or ``--sweep``).

Validation is as strict as :mod:`accelsim.config`: unknown keys, wrong types, non-positive rates
and durations without a unit fail with one line naming the file and the key path, e.g.
``smart_display.yaml: streams.detector.deadline: expected a duration with a unit ... got 66``.
Times are strings with units ('33ms', '10s'); rates too ('15fps', '50Hz'). Numbers whose unit is
in the key name (``gops``, ``dram_gb_per_s``) are plain numbers.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .. import precision as prec
from ..errors import ConfigError, WorkloadError, one_line, quote
from ..io import read_yaml
from .units import parse_duration, parse_rate

POLICIES = ("fifo", "priority", "edf")
PROCESSES = ("periodic", "poisson")
# A run simulates every request one by one, layer by layer, and logs every layer: beyond these a
# scenario (or --duration) is a unit mistake, and would run out of memory or run for hours. The model
# handles roughly 50,000-100,000 layer events per second on one core and keeps about 100 bytes per
# layer event, so the event bound is about ten minutes and a few GB.
MAX_DURATION_S = 86400.0      # one day of simulated time
MAX_REQUESTS = 1_000_000      # requests of all streams in one run
MAX_LAYER_EVENTS = 50_000_000   # engine and host layers of all requests in one run (checked once the
#                                 networks are built: requests x layers per request)


@dataclass(frozen=True)
class ArrivalSpec:
    """When a stream's requests arrive."""

    process: str            # periodic: one request every period (plus jitter); poisson: exponential gaps
    rate_hz: float          # mean requests per second
    jitter_s: float = 0.0   # periodic only: each arrival is delayed by U[0, jitter) after its nominal time
    offset_s: float = 0.0   # time of the first nominal arrival

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz


@dataclass(frozen=True)
class BatchSpec:
    """How many requests of one stream may run together, layer by layer."""

    size: int = 1           # most requests in one batch (1 = no batching)
    wait_s: float = 0.0     # how long the oldest request waits for the batch to fill (0 = batch what is queued)


@dataclass(frozen=True)
class StreamSpec:
    """One model serving one kind of request (camera frames, audio windows, ...)."""

    name: str
    model: str                      # accelsim.workload.zoo model name
    options: tuple = ()             # (key, value) pairs for the model builder
    precision: str | None = None    # run every layer in this format (None: the model's own)
    arrival: ArrivalSpec = None
    deadline_s: float = 0.0         # relative to arrival
    priority: int = 0               # higher runs first under the 'priority' policy
    batch: BatchSpec = BatchSpec()
    host_ops: tuple = ()            # op kinds or layer-name globs forced onto the host CPU


@dataclass(frozen=True)
class SchedulerSpec:
    """How the engine picks the next layer to run."""

    policy: str = "fifo"            # fifo (arrival order) | priority (stream priority) | edf (earliest deadline)
    preemption: bool = False        # re-decide at every layer boundary (else a started request keeps the engine)


@dataclass(frozen=True)
class HostSpec:
    """The host CPU that runs the layers the engine cannot (or is told not to)."""

    gops: float = 20.0              # GOPS (10^9 ops/s, 1 MAC = 2 ops) of one core on fallback layers
    cores: int = 1                  # fallback layers of different requests run in parallel on this many cores
    dram_gb_per_s: float = 12.8     # most DRAM bandwidth one core's loads and stores can draw
    handoff_s: float = 0.0          # engine <-> CPU switch cost (sync, cache maintenance), once per fallback run


@dataclass(frozen=True)
class Scenario:
    """A complete scenario; frozen, so results can quote it."""

    name: str
    streams: tuple                  # of StreamSpec, in file order
    description: str = ""
    duration_s: float = 10.0        # simulated time
    seed: int = 0                   # numpy SeedSequence entropy; each stream gets its own child stream
    scheduler: SchedulerSpec = SchedulerSpec()
    host: HostSpec = HostSpec()
    background_dram_gb_per_s: float = 0.0   # DRAM demand of other SoC clients (display, ISP, GPU)
    source: str = "<dict>"

    def stream(self, name: str) -> StreamSpec:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(name)

    def replace(self, **changes) -> "Scenario":
        return dataclasses.replace(self, **changes)


# Scenario reference: key path -> (unit, meaning); drives validation messages and the README table.
REFERENCE = (
    ("name", "-", "short identifier"),
    ("description", "-", "free text"),
    ("duration", "time", "simulated time, e.g. '10s' (default 10s; `--duration` overrides)"),
    ("seed", "-", "seed of the numpy Generator for arrivals (default 0; `--seed` overrides)"),
    ("scheduler.policy", "-", "fifo (arrival order), priority (higher `priority` first) or edf (earliest absolute "
                              "deadline first); default fifo"),
    ("scheduler.preemption", "bool", "re-decide at every layer boundary; otherwise a started request keeps the "
                                     "engine until it finishes or falls back to the host (default false)"),
    ("host.gops", "GOPS", "host CPU throughput of one core on fallback layers, 1 MAC = 2 ops (default 20)"),
    ("host.cores", "cores", "fallback layers of different requests run in parallel on this many cores (default 1)"),
    ("host.dram_gb_per_s", "GB/s", "most DRAM bandwidth one core's fallback layer can draw (default 12.8)"),
    ("host.handoff", "time", "engine <-> CPU switch cost, once per run of consecutive fallback layers (default 0us)"),
    ("background_dram_gb_per_s", "GB/s", "DRAM demand of other SoC clients (display, ISP); takes its share "
                                         "of the port all the time (default 0)"),
    ("streams.<name>.model", "-", "zoo model name (`accelsim list`)"),
    ("streams.<name>.options", "-", "model builder options, e.g. {width: 0.5, resolution: 160}"),
    ("streams.<name>.precision", "-", "run every layer in this format (default: the model's own)"),
    ("streams.<name>.arrival.process", "-", "periodic or poisson"),
    ("streams.<name>.arrival.rate", "rate", "requests per second, e.g. '15fps', '50Hz' (or give period)"),
    ("streams.<name>.arrival.period", "time", "time between requests, e.g. '33ms' (or give rate)"),
    ("streams.<name>.arrival.jitter", "time", "periodic only: each arrival is delayed by U[0, jitter) (< period)"),
    ("streams.<name>.arrival.offset", "time", "time of the first nominal arrival (default 0s)"),
    ("streams.<name>.deadline", "time", "relative deadline of each request, e.g. '66ms' (required)"),
    ("streams.<name>.priority", "-", "integer; higher runs first under the priority policy (default 0)"),
    ("streams.<name>.batch.size", "requests", "most requests of this stream run together layer by layer (default 1)"),
    ("streams.<name>.batch.wait", "time", "how long the oldest request waits for a batch to fill (default 0s: "
                                          "batch only what is already queued)"),
    ("streams.<name>.host_ops", "-", "op kinds (conv, pool, add, act, upsample, matmul) or layer-name globs "
                                     "that run on the host CPU; layers the engine has no unit for go there anyway"),
)


def reference_markdown() -> str:
    lines = ["| key | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {u} | {h} |" for k, u, h in REFERENCE]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Validation helpers: each names 'file: key.path' and quotes the value as written
# ---------------------------------------------------------------------------------------------
def _mapping(data, where: str, allowed: tuple, required: tuple = ()) -> Mapping:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys, got {quote(data)}")
    sep = "" if where.endswith(": ") else "."
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}{sep}{_key(key)}: unknown key; expected one of {', '.join(allowed)}")
    for key in required:
        if key not in data or data[key] is None:
            raise ConfigError(f"{where}{sep}{key}: missing required key")
    return data


def _key(key) -> str:
    """A key or stream name as an error message names it, cut short."""
    return one_line(key, 60) if isinstance(key, str) else quote(key)


def _duration(value, where: str, *, positive: bool = True) -> float:
    """parse_duration, quoting a value that is not a short string capped (a YAML list can be huge)."""
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError(f"{where}: expected a duration with a unit, as a string like '33ms', '10s'; "
                          f"got {quote(value)}")
    return parse_duration(value, where, positive=positive)


def _rate(value, where: str) -> float:
    """parse_rate, quoting a value that is not a short string capped."""
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError(f"{where}: expected a rate with a unit, as a string like '15fps', '50Hz'; "
                          f"got {quote(value)}")
    return parse_rate(value, where)


def _number(value, where: str, *, minimum: float = 0.0, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {quote(value)}")
    if strict and not value > minimum:
        raise ConfigError(f"{where}: expected a positive number, got {quote(value)}")
    if not strict and not value >= minimum:
        raise ConfigError(f"{where}: expected a number >= {minimum:g}, got {quote(value)}")
    return float(value)


def _integer(value, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {quote(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {quote(value)}")
    return value


def _string(value, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {quote(value)}")
    return value


def _choice(value, where: str, choices: tuple) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {quote(value)}")
    return value


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
def _arrival(data, where: str) -> ArrivalSpec:
    d = _mapping(data, where, ("process", "rate", "period", "jitter", "offset"), ("process",))
    process = _choice(d["process"], f"{where}.process", PROCESSES)
    if ("rate" in d) == ("period" in d):
        raise ConfigError(f"{where}: give exactly one of rate (e.g. '15fps') and period (e.g. '66ms')")
    if "rate" in d:
        rate = _rate(d["rate"], f"{where}.rate")
    else:
        rate = 1.0 / _duration(d["period"], f"{where}.period")
    jitter = _duration(d["jitter"], f"{where}.jitter", positive=False) if "jitter" in d else 0.0
    if jitter and process != "periodic":
        raise ConfigError(f"{where}.jitter: only periodic arrivals have jitter (poisson gaps are random already)")
    if jitter >= 1.0 / rate:
        raise ConfigError(f"{where}.jitter: expected less than the period ({1e3 / rate:g}ms), got {quote(d['jitter'])}")
    offset = _duration(d["offset"], f"{where}.offset", positive=False) if "offset" in d else 0.0
    return ArrivalSpec(process, rate, jitter, offset)


def _batch(data, where: str) -> BatchSpec:
    if isinstance(data, int) and not isinstance(data, bool):
        return BatchSpec(_integer(data, where, minimum=1))
    d = _mapping(data, where, ("size", "wait"), ("size",))
    size = _integer(d["size"], f"{where}.size", minimum=1)
    wait = _duration(d["wait"], f"{where}.wait", positive=False) if "wait" in d else 0.0
    return BatchSpec(size, wait)


def _stream(name, data, where: str) -> StreamSpec:
    from ..workload.zoo import MODELS, check_options
    d = _mapping(data, where, ("model", "options", "precision", "arrival", "deadline", "priority", "batch",
                               "host_ops"), ("model", "arrival", "deadline"))
    model = _string(d["model"], f"{where}.model")
    if model not in MODELS:
        raise ConfigError(f"{where}.model: unknown model {quote(model)}; known models: {', '.join(MODELS)}")
    options = d.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}.options: expected a mapping of builder options, got {quote(options)}")
    try:   # types and ranges now, so that a typo fails before any network is built
        options = check_options(model, options, f"{where}.options")
    except WorkloadError as exc:
        raise ConfigError(str(exc)) from None
    precision = d.get("precision")
    if precision is not None:
        _choice(precision, f"{where}.precision", prec.NAMES)
    host_ops = d.get("host_ops") or []
    if not isinstance(host_ops, list) or not all(isinstance(h, str) and h for h in host_ops):
        raise ConfigError(f"{where}.host_ops: expected a list of op kinds or layer-name globs, got {quote(host_ops)}")
    return StreamSpec(
        name=name, model=model, options=tuple(sorted(options.items())), precision=precision,
        arrival=_arrival(d["arrival"], f"{where}.arrival"),
        deadline_s=_duration(d["deadline"], f"{where}.deadline"),
        priority=_integer(d.get("priority", 0), f"{where}.priority"),
        batch=_batch(d["batch"], f"{where}.batch") if d.get("batch") is not None else BatchSpec(),
        host_ops=tuple(host_ops))


def scenario_from_dict(data: Any, source: str = "<dict>") -> Scenario:
    """Validate a parsed YAML mapping and build a :class:`Scenario`."""
    where = f"{source}: "
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    d = _mapping(data, where, ("name", "description", "duration", "seed", "scheduler", "host",
                               "background_dram_gb_per_s", "streams"), ("name", "streams"))
    name = _string(d["name"], f"{where}name")
    description = _string(d.get("description") or "", f"{where}description")
    duration = _duration(d["duration"], f"{where}duration") if "duration" in d else 10.0
    seed = _integer(d.get("seed", 0), f"{where}seed", minimum=0)

    sd = _mapping(d.get("scheduler") or {}, f"{where}scheduler", ("policy", "preemption"))
    preemption = sd.get("preemption", False)
    if not isinstance(preemption, bool):
        raise ConfigError(f"{where}scheduler.preemption: expected true or false, got {quote(preemption)}")
    scheduler = SchedulerSpec(_choice(sd.get("policy", "fifo"), f"{where}scheduler.policy", POLICIES), preemption)

    hd = _mapping(d.get("host") or {}, f"{where}host", ("gops", "cores", "dram_gb_per_s", "handoff"))
    default = HostSpec()
    host = HostSpec(
        gops=_number(hd["gops"], f"{where}host.gops") if "gops" in hd else default.gops,
        cores=_integer(hd["cores"], f"{where}host.cores", minimum=1) if "cores" in hd else default.cores,
        dram_gb_per_s=(_number(hd["dram_gb_per_s"], f"{where}host.dram_gb_per_s") if "dram_gb_per_s" in hd
                       else default.dram_gb_per_s),
        handoff_s=_duration(hd["handoff"], f"{where}host.handoff", positive=False) if "handoff" in hd else 0.0)
    background = _number(d.get("background_dram_gb_per_s", 0.0), f"{where}background_dram_gb_per_s", strict=False)

    streams_data = d["streams"]
    if not isinstance(streams_data, Mapping) or not streams_data:
        raise ConfigError(f"{where}streams: expected a non-empty mapping of stream name -> stream")
    streams = []
    for sname, sdata in streams_data.items():
        if not isinstance(sname, str) or not sname:
            raise ConfigError(f"{where}streams: stream names must be strings, got {quote(sname)}")
        streams.append(_stream(sname, sdata, f"{where}streams.{_key(sname)}"))
    scenario = Scenario(name=name, streams=tuple(streams), description=description, duration_s=duration, seed=seed,
                        scheduler=scheduler, host=host, background_dram_gb_per_s=background, source=source)
    check_load(scenario, duration, f"{where}duration")
    return scenario


def check_load(scenario: Scenario, duration_s: float, where: str) -> None:
    """Refuse a run longer than MAX_DURATION_S or with more than MAX_REQUESTS requests (rate x time,
    summed over streams); ``where`` names the file key or the argument that set the duration."""
    from .units import format_duration
    if duration_s > MAX_DURATION_S:
        raise ConfigError(f"{where}: expected at most {MAX_DURATION_S:g}s (one day) of simulated time, "
                          f"got {format_duration(duration_s)}")
    requests = sum(expected_requests(scenario, duration_s).values())
    if requests > MAX_REQUESTS:
        raise ConfigError(f"{where}: {format_duration(duration_s)} at the streams' rates is {requests:.3g} requests; "
                          f"expected at most {MAX_REQUESTS:,} (shorten the duration or lower the rates)")


def expected_requests(scenario: Scenario, duration_s: float) -> dict:
    """{stream name: requests expected in [0, duration_s)} at each stream's mean rate."""
    return {s.name: s.arrival.rate_hz * max(duration_s - s.arrival.offset_s, 0.0) for s in scenario.streams}


def check_layer_events(scenario: Scenario, duration_s: float, layers_per_request: dict, where: str) -> None:
    """Refuse a run whose requests x their layers (engine and host steps of one request, batching
    aside) exceed MAX_LAYER_EVENTS; ``where`` names the file key or the argument that set the duration."""
    from .units import format_duration
    requests = expected_requests(scenario, duration_s)
    events = sum(n * layers_per_request[name] for name, n in requests.items())
    if events > MAX_LAYER_EVENTS:
        raise ConfigError(f"{where}: {format_duration(duration_s)} at the streams' rates is about {events:.3g} layer "
                          f"events ({sum(requests.values()):.3g} requests x their layers); expected at most "
                          f"{MAX_LAYER_EVENTS:,} (shorten the duration or lower the rates)")


def scenarios_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "experiments" / "scenarios"


def available_scenarios() -> dict[str, Path]:
    d = scenarios_dir()
    return {p.stem: p for p in sorted(d.glob("*.yaml"))} if d.is_dir() else {}


def load_scenario(name_or_path: "str | os.PathLike | Scenario") -> Scenario:
    """Load a scenario by path, or by name from ``experiments/scenarios/``."""
    if isinstance(name_or_path, Scenario):
        return name_or_path
    path = Path(name_or_path)
    if not path.exists():
        known = available_scenarios()
        if str(name_or_path) in known:
            path = known[str(name_or_path)]
        else:
            raise ConfigError(f"--scenario {name_or_path}: no such file or scenario name; known names: "
                              f"{', '.join(known) or '(none)'}")
    data = read_yaml(path)
    return scenario_from_dict(data, source=str(path))


def build_networks(scenario: Scenario) -> dict:
    """Build each stream's network once (zoo builders can take a second); errors name file and key."""
    from ..workload.zoo import load_model
    nets = {}
    for s in scenario.streams:
        where = f"{scenario.source}: streams.{s.name}"
        try:
            net = load_model(s.model, **dict(s.options))
            if s.precision:
                net = net.with_precision(s.precision)
        except (WorkloadError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.options: {exc}") from None
        nets[s.name] = net
    return nets
