"""Search run configs: one YAML file says what to search, for what, and how.

::

    name: nn_on_neural_engine
    space:
      network: {type: mobile, channel_mode: curated, channel_multiple: 32}   # or type: nb201
      hardware: {base: neural_engine, rows: [16, 32, 64]}                      # omit: fixed hardware
    network: mobilenet_v2          # the fixed network when space.network is absent
    hardware: neural_engine        # the fixed config, or the base when space.hardware is given
    objectives: [latency_ms, accuracy]
    constraints: {memory_mb: budget, latency_ms: {max: 2.0}, area_mm2: {max: 6}}
    accuracy: {source: synflow, batch: 16, resolution: 64}
    scorer: engine                 # or {estimator: path/to/estimator.pt}
    algorithm: {name: nsga2, population: 32}
    budget: 2000
    batch_size: 64
    seed: 0
    runner: serial                 # or {name: processes, workers: 4} / {name: ray, address: auto}
    threads: 1                     # CPU threads of torch scoring (and of the engine in this process)
    reference: {latency_ms: 5.0, accuracy: 0}   # hypervolume reference point (optional)

Every key is checked; an unknown key, a wrong type or an impossible value is one line naming the
file, the key path and what was expected.

``threads`` (``codesign search --threads N`` overrides it) pins torch's intra-op thread count while
the run scores with torch (zero-shot proxies, short training, estimator predictions; default 1) and,
when given, numba's thread count for the engine in the searching process. Torch on the CPU splits
reductions among its threads, so the count can change a score's last bits and with them the front:
for a torch-scored run it is part of the run's identity, and a resume with another count is
refused. The engine's results do not depend on numba's thread count (each pair is simulated by one
thread), so for a run scored by the engine alone it is not recorded and may change between resumes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from accelsim.config import ConfigError, load_hardware
from accelsim.errors import AccelsimError
from accelsim.io import read_yaml

from . import problems as P
from ..errors import CodesignError
from ..runners import RUNNERS
from .algorithms import ALGORITHMS, SearchError, check_options
from ..spaces.space import HardwareSpace, NetworkSpace, stable_hash

TOP_KEYS = ("name", "space", "network", "hardware", "objectives", "constraints", "accuracy", "scorer",
            "algorithm", "budget", "batch_size", "seed", "runner", "threads", "reference")
MAX_THREADS = 1024


@dataclass
class RunConfig:
    name: str
    source: str
    raw: dict
    network_space: dict | None = None
    hardware_space: dict | None = None
    network: object = "mobilenet_v2"
    hardware: str = "neural_engine"
    objectives: tuple = ("latency_ms", "accuracy")
    constraints: tuple = ()
    accuracy: dict | None = None
    estimator: str | None = None
    algorithm: str = "nsga2"
    algorithm_options: dict = field(default_factory=dict)
    budget: int = 1000
    batch_size: int = 32
    seed: int = 0
    runner: str = "serial"
    runner_options: dict = field(default_factory=dict)
    threads: int | None = None     # as given (None: torch scoring on one thread, numba left alone)
    reference: dict | None = None
    _problem: object = field(default=None, repr=False, compare=False)

    @property
    def torch_scored(self) -> bool:
        """Whether evaluations go through torch (a proxy or training accuracy source, or an estimator),
        whose results can depend on the thread count."""
        return bool(self.estimator) or (self.accuracy is not None
                                        and self.accuracy["source"] in P.AccuracySource.TORCH_SOURCES)

    @property
    def scoring_threads(self) -> int:
        """Torch threads of the run's scoring: ``threads``, or 1."""
        return self.threads or 1

    def require_extras(self) -> None:
        """Raise :class:`~accelsim.extras.MissingExtraError`, one line naming the extra to install, when
        the run needs a package that is not installed: optuna (nsga2), torch (an estimator, a torch or
        NAS-Bench-201 accuracy source), ray (the ray runner). A run checks this before it touches its folder."""
        from accelsim.extras import require
        if self.algorithm == "nsga2":
            require("optuna", "codesign", f"{self.source}: algorithm nsga2")
        if self.estimator:
            require("torch", "codesign", f"{self.source}: scorer estimator")
        if self.accuracy is not None and self.accuracy["source"] in P.AccuracySource.TORCH_SOURCES + ("nb201",):
            require("torch", "codesign", f"{self.source}: accuracy.source {self.accuracy['source']}")
        if self.runner == "ray":
            require("ray", "ray", f"{self.source}: runner ray", hint="or use runner: serial / processes")

    def problem_id(self) -> str:
        """Hash of everything that decides what an evaluation returns (not budget, runner or name, nor
        threads unless the run scores with torch)."""
        drop = ("name", "budget", "runner", "reference") + (() if self.torch_scored else ("threads",))
        keep = {k: v for k, v in self.raw.items() if k not in drop}
        return stable_hash(keep)[:16]

    def build_problem(self) -> P.SearchProblem:
        """The search problem this config describes (built once: loading a network, the hardware or an
        estimator checkpoint is not repeated when a run starts after the config was checked)."""
        if self._problem is None:
            self._problem = self._make_problem()
        return self._problem

    def _make_problem(self) -> P.SearchProblem:
        where = self.source
        if self.network_space is not None:
            net_axis = _network_axis(self.network_space, f"{where}: space.network")
        else:
            net_axis = P.FixedNetwork(_fixed_network(self.network, f"{where}: network"))
        try:
            base = load_hardware(self.hardware)
        except ConfigError as exc:
            raise CodesignError(f"{where}: hardware: {exc}") from None
        if self.hardware_space is not None:
            hw_axis = P.HardwareAxis(_dataclass_from(HardwareSpace, {**self.hardware_space, "base": self.hardware},
                                                     f"{where}: space.hardware"), base)
        else:
            hw_axis = P.FixedHardware(base)
        acc = None
        if self.accuracy is not None:
            opts = dict(self.accuracy)
            acc = P.AccuracySource(opts.pop("source"), threads=self.scoring_threads, **opts)
        est = None
        if self.estimator:
            from ..estimator.model import Estimator
            est = Estimator.load(self.estimator)
        try:
            return P.SearchProblem(net_axis, hw_axis, self.objectives, self.constraints, acc, est,
                                   threads=self.scoring_threads)
        except CodesignError as exc:
            raise CodesignError(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        return dict(self.raw)

    def identity(self) -> dict:
        """What an evaluation of this run is made from (:mod:`codesign.identity`): the base hardware
        in full, the network (or its space, defaults filled in) and the hardware space, the settings
        that decide what an evaluation returns or which genomes are asked for, a checksum of every
        file the run reads, and the engine model version. Not the name, budget, runner or reference
        (a run may be extended, renamed, moved to another runner or re-plotted), nor paths. The thread
        count is in it only for a torch-scored run (see the module docstring)."""
        from ..identity import identity
        problem = self.build_problem()
        net_axis, hw_axis = problem.net_axis, problem.hw_axis
        if isinstance(net_axis, P.MobileAxis):
            network = {"space": {"type": "mobile", **dataclasses.asdict(net_axis.space)}}
        elif isinstance(net_axis, P.NB201Axis):
            network = {"space": {"type": "nb201", **net_axis.options}}
        else:
            spec = self.network if isinstance(self.network, dict) else {"model": self.network}
            network = {"fixed": {**spec, "model": Path(spec["model"]).name}
                       if str(spec["model"]).endswith(".onnx") else spec}
        files = {}
        if isinstance(self.network, (str, dict)) and self.network_space is None:
            model = self.network if isinstance(self.network, str) else self.network.get("model", "")
            if str(model).endswith(".onnx"):
                files["network model"] = model
        hw_space = None
        if isinstance(hw_axis, P.HardwareAxis):
            hw_space = {k: v for k, v in dataclasses.asdict(hw_axis.space).items() if k != "base"}
        base = hw_axis.base if isinstance(hw_axis, P.HardwareAxis) else hw_axis.hardware
        settings = {"objectives": list(self.objectives),
                    "constraints": {c.metric: {"max": None if c.max is None else float(c.max),
                                               "min": None if c.min is None else float(c.min), "budget": c.budget}
                                    for c in self.constraints},
                    "accuracy": None, "scorer": "estimator" if self.estimator else "engine",
                    "algorithm": self.algorithm, "algorithm_options": dict(self.algorithm_options),
                    "seed": self.seed, "batch_size": self.batch_size}
        if self.torch_scored:
            settings["threads"] = self.scoring_threads
        if self.estimator:
            files["estimator checkpoint"] = self.estimator
        if self.accuracy is not None:
            settings["accuracy"] = {k: v for k, v in self.accuracy.items() if k not in ("table", "data")}
            if self.accuracy["source"] == "nb201":
                from ..accuracy.tables import DEFAULT_TABLE
                files["accuracy table"] = self.accuracy.get("table") or DEFAULT_TABLE
            if self.accuracy.get("data"):
                files["accuracy training data"] = self.accuracy["data"]
        try:
            return identity({"kind": "search", "hardware": base, "network": network, "hardware_space": hw_space,
                             "settings": settings, "files": files})
        except CodesignError as exc:
            raise CodesignError(f"{self.source}: {exc}") from None


def load_run_config(path: "str | Path", overrides: dict | None = None, runner: dict | None = None) -> RunConfig:
    """Read and check a run config; ``overrides`` replace top-level keys, ``runner`` entries are merged
    into the config's runner (so ``--workers`` keeps the runner the file names)."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CodesignError(f"{path}: expected a mapping of run settings at the top level")
    data = {**data, **(overrides or {})}
    if runner:
        current = data.get("runner", "serial")
        current = dict(current) if isinstance(current, dict) else {"name": current}
        data["runner"] = {**current, **runner}
    return parse_run_config(data, str(path))


def parse_run_config(data: dict, source: str = "<run config>") -> RunConfig:
    def bad(key, what, got):
        return CodesignError(f"{source}: {key}: expected {what}, got {got!r}")

    for key in data:
        if key not in TOP_KEYS:
            raise CodesignError(f"{source}: {key}: unknown key; expected one of {', '.join(TOP_KEYS)}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise bad("name", "a non-empty string without '/'", name)
    cfg = RunConfig(name=name, source=source, raw=json.loads(json.dumps(data, default=str)))

    space = data.get("space", {}) or {}
    if not isinstance(space, dict):
        raise bad("space", "a mapping with network and/or hardware", space)
    for key in space:
        if key not in ("network", "hardware"):
            raise CodesignError(f"{source}: space.{key}: unknown key; expected network or hardware")
    for key in ("network", "hardware"):
        if key in space and not isinstance(space[key], dict):
            raise bad(f"space.{key}", "a mapping of space settings", space[key])
    cfg.network_space = space.get("network")
    cfg.hardware_space = space.get("hardware")
    if cfg.network_space is None and cfg.hardware_space is None:
        raise CodesignError(f"{source}: space: nothing to search; give space.network and/or space.hardware")
    cfg.network = data.get("network", "mobilenet_v2")
    cfg.hardware = data.get("hardware", "neural_engine")
    if not isinstance(cfg.hardware, str):
        raise bad("hardware", "a hardware config name or path", cfg.hardware)
    rel = Path(source).parent / cfg.hardware
    if cfg.hardware.endswith((".yaml", ".yml", ".cfg")) and not Path(cfg.hardware).exists() and rel.exists():
        cfg.hardware = cfg.raw["hardware"] = str(rel.resolve())   # paths resolve against the config file

    objectives = data.get("objectives", ["latency_ms", "accuracy"])
    if isinstance(objectives, str):
        objectives = [objectives]
    if not isinstance(objectives, list) or not objectives:
        raise bad("objectives", f"a list of metrics from {', '.join(P.METRICS)}", objectives)
    for o in objectives:
        if o not in P.METRICS:
            raise bad("objectives", f"metrics from {', '.join(P.METRICS)}", o)
    if len(set(objectives)) != len(objectives):
        raise bad("objectives", "distinct metrics", objectives)
    cfg.objectives = tuple(objectives)

    cons = data.get("constraints", {}) or {}
    if not isinstance(cons, dict):
        raise bad("constraints", "a mapping metric -> {max: X} / {min: X} / budget", cons)
    out = []
    for metric, spec in cons.items():
        key = f"constraints.{metric}"
        if metric not in P.METRICS:
            raise CodesignError(f"{source}: {key}: unknown metric; expected one of {', '.join(P.METRICS)}")
        if spec == "budget":
            if metric != "memory_mb":
                raise bad(key, "{max: X} or {min: X} ('budget' applies to memory_mb only)", spec)
            out.append(P.Constraint(metric, budget=True))
            continue
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"max": spec}
        if not isinstance(spec, dict) or not spec or set(spec) - {"max", "min"}:
            raise bad(key, "{max: X}, {min: X}, a number (= max) or 'budget'", spec)
        for bound, v in spec.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(f"{key}.{bound}", "a number", v)
            if P.METRICS[metric][0] == "min" and bound == "max" and v <= 0:
                raise bad(f"{key}.{bound}", "a positive number", v)
        out.append(P.Constraint(metric, max=spec.get("max"), min=spec.get("min")))
    cfg.constraints = tuple(out)

    acc = data.get("accuracy")
    if acc is not None:
        if isinstance(acc, str):
            acc = {"source": acc}
        if not isinstance(acc, dict) or "source" not in acc:
            raise bad("accuracy", f"a mapping with source ({', '.join(P.AccuracySource.SOURCES)})", acc)
        if acc["source"] not in P.AccuracySource.SOURCES:
            raise bad("accuracy.source", f"one of {', '.join(P.AccuracySource.SOURCES)}", acc["source"])
        allowed = {"source", "dataset", "table", "batch", "resolution", "seed", "data", "epochs", "batch_size",
                   "lr", "patience", "val_fraction", "max_minutes"}
        for k in acc:
            if k not in allowed:
                raise CodesignError(f"{source}: accuracy.{k}: unknown key; expected one of {', '.join(sorted(allowed))}")
        if acc.get("data") and not Path(acc["data"]).exists():
            rel = Path(source).parent / acc["data"]
            if not rel.exists():
                raise bad("accuracy.data", "an existing .npz file", acc["data"])
            acc = {**acc, "data": str(rel.resolve())}
            cfg.raw["accuracy"] = dict(acc)
        cfg.accuracy = dict(acc)

    scorer = data.get("scorer", "engine")
    if scorer == "engine":
        cfg.estimator = None
    elif isinstance(scorer, dict) and set(scorer) == {"estimator"} and isinstance(scorer["estimator"], str):
        p = Path(scorer["estimator"])
        if not p.exists() and (Path(source).parent / p).exists():
            p = Path(source).parent / p
        if not p.exists():
            raise bad("scorer.estimator", "an existing estimator checkpoint", scorer["estimator"])
        cfg.estimator = str(p.resolve())
        cfg.raw["scorer"] = {"estimator": cfg.estimator}
    else:
        raise bad("scorer", "engine or {estimator: PATH}", scorer)

    algo = data.get("algorithm", "nsga2")
    if isinstance(algo, str):
        algo = {"name": algo}
    if not isinstance(algo, dict) or algo.get("name") not in ALGORITHMS:
        raise bad("algorithm", f"one of {', '.join(ALGORITHMS)} or {{name: ..., options}}", algo)
    cfg.algorithm = algo["name"]
    cfg.algorithm_options = {k: v for k, v in algo.items() if k != "name"}
    try:
        check_options(cfg.algorithm, cfg.algorithm_options)
    except SearchError as exc:
        raise CodesignError(f"{source}: algorithm.{exc}") from None

    for key, default, low in (("budget", 1000, 1), ("batch_size", 32, 1), ("seed", 0, 0)):
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise bad(key, f"a whole number >= {low}", v)
        setattr(cfg, key, v)

    runner = data.get("runner", "serial")
    if isinstance(runner, str):
        runner = {"name": runner}
    if not isinstance(runner, dict) or runner.get("name") not in RUNNERS:
        raise bad("runner", f"one of {', '.join(RUNNERS)} or {{name: ..., workers: N, address: ...}}", runner)
    for k in runner:
        if k not in ("name", "workers", "address"):
            raise CodesignError(f"{source}: runner.{k}: unknown key; expected name, workers or address")
    # workers: 0 used to mean "all cores" silently; leave the key out for that
    workers = runner.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise CodesignError(f"{source}: runner.workers: expected an integer >= 1 (leave it out for all cores), "
                            f"got {_short(workers)}")
    address = runner.get("address")
    if address is not None and (not isinstance(address, str) or not address):
        raise bad("runner.address", "a Ray address (auto, ray://host:port)", address)
    cfg.runner = runner["name"]
    cfg.runner_options = {k: v for k, v in runner.items() if k != "name"}

    threads = data.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= MAX_THREADS):
        raise CodesignError(f"{source}: threads: expected an integer in [1, {MAX_THREADS}] (CPU threads of torch "
                            f"scoring; leave it out for 1), got {_short(threads)}")
    cfg.threads = threads

    ref = data.get("reference")
    if ref is not None:
        if not isinstance(ref, dict) or set(ref) != set(cfg.objectives):
            raise bad("reference", f"a value for each objective ({', '.join(cfg.objectives)})", ref)
        for k, v in ref.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(f"reference.{k}", "a number", v)
        cfg.reference = dict(ref)

    # build once so a bad space, network or hardware fails now, with the file named
    try:
        cfg.build_problem()
    except (CodesignError, ConfigError) as exc:
        msg = str(exc)
        raise CodesignError(msg if msg.startswith(source) else f"{source}: {msg}") from None
    except AccelsimError as exc:
        raise CodesignError(f"{source}: {exc}") from None
    return cfg


def _network_axis(spec: dict, where: str):
    spec = dict(spec)
    kind = spec.pop("type", "mobile")
    if kind == "nb201":
        allowed = ("channels", "cells", "num_classes", "resolution", "precision")
        for k, v in spec.items():
            if k not in allowed:
                raise CodesignError(f"{where}.{k}: unknown key for type nb201; expected one of {', '.join(allowed)}")
            if k != "precision" and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise CodesignError(f"{where}.{k}: expected a positive whole number, got {v!r}")
        return P.NB201Axis(**spec)
    if kind != "mobile":
        raise CodesignError(f"{where}.type: expected mobile or nb201, got {kind!r}")
    return P.MobileAxis(_dataclass_from(NetworkSpace, spec, where))


# What each list-valued space setting holds: "int" (positive whole numbers), "number" (positive numbers),
# "str" (names) or "strs" (lists of names); a list setting not named here holds positive numbers.
LIST_ELEMENTS = {
    "strides": "int", "base_channels": "int", "width_range": "number", "blocks": "str", "kernels": "int",
    "expansions": "number", "depths": "int", "depth_multipliers": "number", "resolutions": "int",
    "stem_channels": "int", "head_channels": "int", "stage_precisions": "str",
    "rows": "int", "cols": "int", "dataflows": "str", "vector_lanes": "int", "sram_kb": "number",
    "unified_kb": "number", "dram_gb_per_s": "number", "precision_sets": "strs", "clocks_mhz": "number",
}
_ELEMENT_WHAT = {"int": "positive whole numbers", "number": "positive numbers", "str": "names (strings)",
                 "strs": "lists of names (strings)"}


def _short(v) -> str:
    """A value as written, capped at 60 characters, for one-line errors."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _element_ok(kind: str, x) -> bool:
    if kind == "str":
        return isinstance(x, str) and bool(x)
    if kind == "strs":
        return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(y, str) and y for y in x)
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0 or x == float("inf"):
        return False
    return kind == "number" or isinstance(x, int)


def _dataclass_from(cls, spec: dict, where: str):
    """``cls(**spec)`` with lists turned into tuples and every key and value checked."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in spec.items():
        if k not in fields:
            raise CodesignError(f"{where}.{k}: unknown key; expected one of {', '.join(fields)}")
        default = fields[k].default
        if isinstance(default, tuple):
            kind = LIST_ELEMENTS.get(k, "number")
            if not isinstance(v, (list, tuple)) or not v:
                raise CodesignError(f"{where}.{k}: expected a non-empty list of {_ELEMENT_WHAT[kind]}, "
                                    f"got {_short(v)}")
            for x in v:
                if not _element_ok(kind, x):
                    raise CodesignError(f"{where}.{k}: expected {_ELEMENT_WHAT[kind]} in the list, "
                                        f"got {_short(x)}")
            if k == "width_range" and (len(v) != 2 or v[0] > v[1]):
                raise CodesignError(f"{where}.{k}: expected [low, high] with low <= high, got {_short(v)}")
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise CodesignError(f"{where}.{k}: expected a positive whole number, got {_short(v)}")
        elif isinstance(default, float):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise CodesignError(f"{where}.{k}: expected a number in [0, 1], got {_short(v)}")
        elif isinstance(default, str) and not isinstance(v, str):
            raise CodesignError(f"{where}.{k}: expected a string, got {_short(v)}")
        kwargs[k] = v
    try:
        return cls(**kwargs)
    except CodesignError as exc:
        raise CodesignError(f"{where}: {exc}") from None


def _fixed_network(spec, where: str):
    from accelsim.workload import load_model
    if isinstance(spec, str):
        spec = {"model": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
        raise CodesignError(f"{where}: expected a zoo model name, an .onnx path or {{model: NAME, ...options}}, "
                            f"got {spec!r}")
    opts = {k: v for k, v in spec.items() if k != "model"}
    model = spec["model"]
    try:
        if model.endswith(".onnx"):
            from accelsim.workload import from_onnx
            return from_onnx(model)
        return load_model(model, **opts)
    except AccelsimError as exc:
        raise CodesignError(f"{where}: {exc}") from None
