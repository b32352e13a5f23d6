"""Scenario files (``experiments/scenarios/*.yaml``) -> validated, frozen dataclasses.

A scenario says which models share one neural engine, how their requests arrive, their deadlines
and priorities, how the engine is scheduled, what the host CPU can do for layers the engine lacks,
and how much DRAM bandwidth other SoC clients take. It does not name the hardware: the same
scenario runs on any config (``accelsim system --scenario F --hw NAME`` or ``--sweep``).

Every file is checked against :data:`SCENARIO_SCHEMA` (JSON Schema, see :mod:`accelsim.schema`), as
strictly as :mod:`accelsim.config`: unknown keys, wrong types, non-positive rates and durations
without a unit fail with one line naming the file and the key path, e.g.
``smart_display.yaml: streams.detector.deadline: expected a duration with a unit ..., got 66``.
Times are strings with units ('33ms', '10s'); rates too ('15fps', '50Hz'): the schema checks they
are short strings, the units are parsed after it. Numbers whose unit is in the key name (``gops``,
``dram_gb_per_s``) are plain numbers. The schema also gives the scenario reference table
(:func:`reference_markdown`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .. import precision as prec
from .. import schema
from ..errors import ConfigError, WorkloadError, quote
from ..io import read_yaml
from .units import parse_duration, parse_rate

POLICIES = ("fifo", "priority", "edf")
PROCESSES = ("periodic", "poisson")
DEADLINE_ACTIONS = ("finish", "drop")
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
    deadline_action: str = "finish"  # finish: a late request still runs; drop: one still waiting at its
    #                                  deadline is dropped there, never run (a started one always finishes)


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


# ---------------------------------------------------------------------------------------------
# The schema: every key's type, bounds, unit and meaning; drives validation and the README table
# ---------------------------------------------------------------------------------------------
_DURATION = "a duration with a unit, as a string like '33ms', '10s'"
_RATE = "a rate with a unit, as a string like '15fps', '50Hz'"
_REQUIRED = "missing required key"
_STREAM_NAME = "a stream name (a non-empty string)"


def _quantity(words: str, unit: str, help: str, range: str, default: Any = dataclasses.MISSING) -> dict:
    """A duration or rate: a short string with a unit, parsed after the check (parse_duration, parse_rate)."""
    node = schema.scalar("string", unit, help, expected=words, default=default)
    node["maxLength"] = 100
    node["x-range"] = range
    return node


def _count(unit: str, help: str, *, low: "int | None" = None, default: Any = dataclasses.MISSING) -> dict:
    """An integer; below ``low`` the error reads 'expected an integer >= LOW' (a type error: 'an integer')."""
    node = schema.scalar("integer", unit, help, default=default)
    if low is not None:
        node["x-range"] = f"[{low}, ∞)"
        node["allOf"] = [{"minimum": low, "x-expected": f"an integer >= {low}"}]
    return node


def _choice(choices: tuple, help: str, default: Any = dataclasses.MISSING) -> dict:
    return schema.scalar("string", "-", help, choices=choices, expected=f"one of {', '.join(choices)}",
                         default=default)


def _scenario_schema() -> dict:
    """The scenario YAML's schema; defaults come from the dataclasses above."""
    host, sched, batch, scn = HostSpec(), SchedulerSpec(), BatchSpec(), Scenario("", ())
    scheduler = schema.obj({
        "policy": _choice(POLICIES, "fifo (arrival order), priority (higher `priority` first) or edf (earliest "
                          f"absolute deadline first); default {sched.policy}", default=sched.policy),
        "preemption": schema.scalar("boolean", "-", "re-decide at every layer boundary; otherwise a started request "
                                    "keeps the engine until it finishes or falls back to the host (default false)",
                                    default=sched.preemption),
    }, help="how the engine picks the next layer")
    host_node = schema.obj({
        "gops": schema.scalar("number", "GOPS", "host CPU throughput of one core on fallback layers, 1 MAC = 2 ops "
                              f"(default {host.gops:g})", minimum=0.0, default=host.gops),
        "cores": _count("cores", "fallback layers of different requests run in parallel on this many cores "
                        f"(default {host.cores})", low=1, default=host.cores),
        "dram_gb_per_s": schema.scalar("number", "GB/s", "most DRAM bandwidth one core's fallback layer can draw "
                                       f"(default {host.dram_gb_per_s:g})", minimum=0.0, default=host.dram_gb_per_s),
        "handoff": _quantity(_DURATION, "time", "engine <-> CPU switch cost, once per run of consecutive fallback "
                             "layers (default 0us)", "[0, ∞)", default="0us"),
    }, help="the host CPU that runs the layers the engine cannot")
    arrival = schema.obj({
        "process": _choice(PROCESSES, "periodic: one request every period (plus jitter); poisson: exponential gaps"),
        "rate": _quantity(_RATE, "rate", "requests per second, e.g. '15fps', '50Hz' (or give period)", "(0, ∞)"),
        "period": _quantity(_DURATION, "time", "time between requests, e.g. '33ms' (or give rate)", "(0, ∞)"),
        "jitter": _quantity(_DURATION, "time", "periodic only: each arrival is delayed by U[0, jitter) after its "
                            "nominal time", "[0, period)", default="0s"),
        "offset": _quantity(_DURATION, "time", "time of the first nominal arrival (default 0s)", "[0, ∞)",
                            default="0s"),
    }, required=("process",), missing_words={"process": _REQUIRED}, help="when the stream's requests arrive")
    batch_map = schema.obj({
        "size": _count("requests", "most requests of this stream run together layer by layer (default "
                       f"{batch.size}; `batch: N` is short for `batch: {{size: N}}`)", low=1, default=batch.size),
        "wait": _quantity(_DURATION, "time", "how long the oldest request waits for a batch to fill (default 0s: "
                          "batch only what is already queued)", "[0, ∞)", default="0s"),
    }, required=("size",), missing_words={"size": _REQUIRED})
    batch_size = {"type": "integer", "x-expected": "an integer >= 1 or a mapping with size and wait",
                  "allOf": [{"minimum": 1, "x-expected": "an integer >= 1"}]}
    batch_node = {"description": "how many requests of the stream may run together: a size, or {size, wait}",
                  "x-unit": "requests", "x-range": "[1, ∞)", "if": {"type": "object"}, "then": batch_map, "else": batch_size}
    stream = schema.obj({
        "model": schema.scalar("string", "-", "zoo model name (`accelsim list`)"),
        "options": {"type": "object", "description": "model builder options, e.g. {width: 0.5, resolution: 160}",
                    "x-unit": "-", "x-expected": "a mapping of builder options"},
        "precision": _choice(prec.NAMES, "run every layer in this format (default: the model's own)"),
        "arrival": arrival,
        "deadline": _quantity(_DURATION, "time", "relative deadline of each request, e.g. '66ms' (required)",
                              "(0, ∞)"),
        "priority": _count("-", "integer; higher runs first under the priority policy (default 0)", default=0),
        "batch": batch_node,
        "host_ops": {"type": "array", "description": "op kinds (conv, pool, add, act, upsample, matmul) or layer-name "
                     "globs that run on the host CPU; layers the engine has no unit for go there anyway",
                     "x-unit": "-", "x-expected": "a list of op kinds or layer-name globs",
                     "items": {"type": "string", "minLength": 1,
                               "x-expected": "an op kind or layer-name glob (a non-empty string)"}},
        "deadline_action": _choice(DEADLINE_ACTIONS, "what happens to a request still waiting (not started) when its "
                                   "deadline passes: finish runs it anyway, drop removes it from the queue at that "
                                   "instant and counts it as dropped (a started request always finishes); default "
                                   "finish", default="finish"),
    }, required=("model", "arrival", "deadline"), help="one model serving one kind of request",
        missing_words={k: _REQUIRED for k in ("model", "arrival", "deadline")})
    streams = {"type": "object", "description": "the streams sharing the engine, by name",
               "x-expected": "a non-empty mapping of stream name -> stream", "x-key-name": "<name>",
               "minProperties": 1, "propertyNames": {"type": "string", "x-expected": _STREAM_NAME},
               "additionalProperties": stream}
    root = schema.obj({
        "name": schema.scalar("string", "-", "short identifier"),
        "description": schema.scalar("string", "-", "free text", default=""),
        "duration": _quantity(_DURATION, "time", f"simulated time, e.g. '10s' (default {scn.duration_s:g}s; "
                              "`--duration` overrides)", "(0, 1 day]", default=f"{scn.duration_s:g}s"),
        "seed": _count("-", f"seed of the numpy Generator for arrivals (default {scn.seed}; `--seed` overrides)",
                       low=0, default=scn.seed),
        "scheduler": scheduler,
        "host": host_node,
        "background_dram_gb_per_s": schema.scalar(
            "number", "GB/s", "DRAM demand of other SoC clients (display, ISP); takes its share of the port all the "
            f"time (default {scn.background_dram_gb_per_s:g})", minimum=0.0, strict=False,
            default=scn.background_dram_gb_per_s),
        "streams": streams,
    }, required=("name", "streams"), missing_words={"name": _REQUIRED, "streams": _REQUIRED},
        help="A scenario: models sharing one engine, their arrivals and deadlines, the scheduler and the host CPU.")
    root["x-expected"] = "a mapping at the top level"
    return root


SCENARIO_SCHEMA = _scenario_schema()


def reference_markdown() -> str:
    """The scenario reference table for the README, generated from :data:`SCENARIO_SCHEMA`."""
    return schema.reference_markdown(SCENARIO_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Building: the schema has checked types and bounds; units, and rules across keys, are checked here
# ---------------------------------------------------------------------------------------------
def _duration(d: Mapping, key: str, where: str, default: float, *, positive: bool = True) -> float:
    return parse_duration(d[key], f"{where}{key}", positive=positive) if key in d else default


def _arrival(d: Mapping, where: str) -> ArrivalSpec:
    process = d["process"]
    if ("rate" in d) == ("period" in d):
        raise ConfigError(f"{where}: give exactly one of rate (e.g. '15fps') and period (e.g. '66ms')")
    if "rate" in d:
        rate = parse_rate(d["rate"], f"{where}.rate")
    else:
        rate = 1.0 / parse_duration(d["period"], f"{where}.period")
    jitter = _duration(d, "jitter", f"{where}.", 0.0, positive=False)
    if jitter and process != "periodic":
        raise ConfigError(f"{where}.jitter: only periodic arrivals have jitter (poisson gaps are random already)")
    if jitter >= 1.0 / rate:
        raise ConfigError(f"{where}.jitter: expected less than the period ({1e3 / rate:g}ms), got {quote(d['jitter'])}")
    return ArrivalSpec(process, rate, jitter, _duration(d, "offset", f"{where}.", 0.0, positive=False))


def _batch(data, where: str) -> BatchSpec:
    if not isinstance(data, Mapping):
        return BatchSpec(int(data))
    return BatchSpec(int(data["size"]), _duration(data, "wait", f"{where}.", 0.0, positive=False))


def _stream(name: str, d: Mapping, where: str) -> StreamSpec:
    from ..workload.zoo import MODELS, check_options
    model = d["model"]
    if model not in MODELS:
        raise ConfigError(f"{where}.model: unknown model {quote(model)}; known models: {', '.join(MODELS)}")
    try:   # types and ranges now, so that a typo fails before any network is built
        options = check_options(model, d.get("options", {}), f"{where}.options")
    except WorkloadError as exc:
        raise ConfigError(str(exc)) from None
    return StreamSpec(
        name=name, model=model, options=tuple(sorted(options.items())), precision=d.get("precision"),
        arrival=_arrival(d["arrival"], f"{where}.arrival"),
        deadline_s=parse_duration(d["deadline"], f"{where}.deadline"),
        priority=int(d.get("priority", 0)),
        batch=_batch(d["batch"], f"{where}.batch") if "batch" in d else BatchSpec(),
        host_ops=tuple(d.get("host_ops", ())), deadline_action=d.get("deadline_action", "finish"))


def scenario_from_dict(data: Any, source: str = "<dict>") -> Scenario:
    """Check a parsed YAML mapping against :data:`SCENARIO_SCHEMA` and build a :class:`Scenario`."""
    d = schema.check(data, SCENARIO_SCHEMA, source)
    where = f"{source}: "
    if "" in d["streams"]:
        raise ConfigError(f"{where}streams: expected {_STREAM_NAME}, got ''")
    duration = _duration(d, "duration", where, 10.0)
    sd, hd, default = d.get("scheduler", {}), d.get("host", {}), HostSpec()
    host = HostSpec(gops=float(hd.get("gops", default.gops)), cores=int(hd.get("cores", default.cores)),
                    dram_gb_per_s=float(hd.get("dram_gb_per_s", default.dram_gb_per_s)),
                    handoff_s=_duration(hd, "handoff", f"{where}host.", 0.0, positive=False))
    streams = tuple(_stream(name, s, f"{where}streams.{schema.key_text(name)}") for name, s in d["streams"].items())
    scenario = Scenario(name=d["name"], streams=streams, description=d.get("description", ""), duration_s=duration,
                        seed=int(d.get("seed", 0)),
                        scheduler=SchedulerSpec(sd.get("policy", "fifo"), sd.get("preemption", False)), host=host,
                        background_dram_gb_per_s=float(d.get("background_dram_gb_per_s", 0.0)), source=source)
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


def build_networks(scenario: Scenario, step=None) -> dict:
    """Build each stream's network once (zoo builders can take a second); errors name file and key.
    ``step`` (a callable, e.g. a progress bar's update) is called with 1 after each network."""
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
        if step is not None:
            step(1)
    return nets
