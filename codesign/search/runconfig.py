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
    baseline: mobilenet_v2         # the design relative bounds compare against (optional, see below)

Every key is checked against :data:`RUN_CONFIG_SCHEMA` (JSON Schema, see :mod:`accelsim.schema`; the
space settings are the spaces' own schemas): an unknown key, a wrong type or an impossible value is
one line naming the file, the key path, what was expected and the value as written. The shorthands
(``objectives: latency_ms``, ``accuracy: synflow``, ``algorithm: random``, ``runner: serial``, a
constraint given as a number or ``budget``) are forms the schema allows. What a schema cannot say
is checked after it: files exist, the reference names each objective, the algorithm's options, and
the problem builds (the network, the hardware config, an estimator checkpoint load).

A constraint bound may be relative to a baseline design: ``baseline`` or a factor of it written as a
string (``"0.5 baseline"``, ``"0.5*baseline"``, ``"0.5 x baseline"``). The baseline is ``baseline``
(a NAS-Bench-201 arch string on that network axis, else a network as ``network`` takes it), by
default the fixed network when the network is not searched; it is scored on the base hardware when
the problem is built and each relative bound becomes that factor times its metric. Its metrics are
part of the run's identity.

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

import numpy as np

from accelsim import precision as prec
from accelsim import schema
from accelsim.config import ConfigError, load_hardware
from accelsim.errors import AccelsimError
from accelsim.io import read_yaml

from . import problems as P
from ..accuracy.tables import DATASETS
from ..errors import CodesignError
from ..runners import RUNNERS
from .algorithms import ALGORITHMS, SearchError, check_options
from ..spaces.model_space import MODEL_SPACE_SCHEMA, genome_path, model_space_from_dict
from ..spaces.space import HARDWARE_SPACE_SCHEMA, NETWORK_SPACE_SCHEMA, HardwareSpace, NetworkSpace, stable_hash

MAX_THREADS = 1024
TRAIN_TASKS = ("classification", "detection", "segmentation")
# options of training on an .npz only, and of training on a task only
_NPZ_ONLY = ("patience", "val_fraction")
_TASK_ONLY = ("num_classes", "n_train", "n_val", "weight_decay")


def _one_of(names) -> str:
    return ", ".join(names)


def _positive_int(unit: str, help: str) -> dict:
    return schema.scalar("integer", unit, help, minimum=0, expected="a positive whole number")


def _whole(low: int, help: str) -> dict:
    return schema.scalar("integer", "-", help, minimum=low, strict=False, expected=f"a whole number >= {low}")


def _nb201_space_schema() -> dict:
    node = schema.obj({
        "type": {"const": "nb201", "description": "the NAS-Bench-201 cell space", "x-unit": "-"},
        "channels": _positive_int("channels", "channels of the first stage"),
        "cells": _positive_int("cells", "cells per stage"),
        "num_classes": _positive_int("classes", "classifier outputs"),
        "resolution": _positive_int("px", "input resolution (height = width)"),
        "precision": schema.scalar("string", "-", "format of weights and activations", choices=prec.NAMES)},
        help="the 15,625 NAS-Bench-201 cells")
    node["x-expected"] = "a mapping of space settings"
    return node


def _network_space_schema() -> dict:
    """space.network: ``type: nb201`` takes the NAS-Bench-201 settings, ``type: from_model`` a product
    model and its axes (:data:`~codesign.spaces.model_space.MODEL_SPACE_SCHEMA`), else (``type: mobile``,
    the default) the network space's own schema."""
    kind = {"type": "string", "enum": ["mobile", "nb201", "from_model"], "x-expected": "mobile, nb201 or from_model",
            "x-range": "mobile, nb201, from_model", "x-unit": "-",
            "description": "mobile (stages of IBN / fused-IBN blocks, default), nb201 or from_model"}
    mobile = {**NETWORK_SPACE_SCHEMA, "properties": {"type": kind, **NETWORK_SPACE_SCHEMA["properties"]}}
    model = {**MODEL_SPACE_SCHEMA, "properties": {**MODEL_SPACE_SCHEMA["properties"], "type": kind},
             "x-reference-skip": True}   # its own table: codesign schema model-space
    return {"type": "object", "description": "the network space: {type: mobile, ...NetworkSpace settings}, "
                                             "{type: nb201, ...} or {type: from_model, model: NAME, search: {...}}",
            "x-unit": "-", "x-expected": "a mapping of space settings",
            "if": {"not": {"properties": {"type": {"enum": ["nb201", "from_model"]}}, "required": ["type"]}},
            "then": mobile,
            "else": {"if": {"properties": {"type": {"const": "nb201"}}},
                     "then": {**_nb201_space_schema(), "x-reference-note": " (type nb201)"}, "else": model}}


_CONSTRAINT_WORDS = "{max: X}, {min: X}, a number (= max), 'F baseline' (= max) or 'budget'"
# a bound relative to the baseline design: 'baseline', '0.5 baseline', '0.5*baseline', '0.5 x baseline'
BASELINE_PATTERN = r"^\s*(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*(\*|x|\s)\s*)?baseline\s*$"
_BOUND_WORDS = "a number, 'baseline' or 'F baseline' (F times the baseline design's value)"


def baseline_factor(bound) -> "float | None":
    """The factor of a bound relative to the baseline (``'0.5 baseline'`` -> 0.5, ``'baseline'`` -> 1.0);
    None for a number."""
    if not isinstance(bound, str):
        return None
    text = bound.strip()[:-len("baseline")].strip()
    text = text[:-1].strip() if text.endswith(("*", "x")) else text
    return float(text) if text else 1.0


def _constraint_schema(metric: str) -> dict:
    """One constraint: ``{max: X}``, ``{min: X}`` (both allowed), a number (= max), or ``budget``
    (memory_mb only); a bound may be relative to the baseline design (``baseline``, ``0.5 baseline``,
    ``0.5*baseline``, ``0.5 x baseline``); a minimised metric's max must be positive."""
    direction, unit, help = P.METRICS[metric]
    relative = {"type": "string", "pattern": BASELINE_PATTERN, "x-expected": _BOUND_WORDS}
    number = {"type": "number", "x-expected": _BOUND_WORDS}
    bound = {"if": {"type": "string"}, "then": relative, "else": number}
    top = {"if": {"type": "string"}, "then": relative,
           "else": dict(number, allOf=[{"exclusiveMinimum": 0, "x-expected": "a positive number"}])} \
        if direction == "min" else bound
    mapping = {"type": "object", "x-expected": _CONSTRAINT_WORDS, "additionalProperties": False,
               "minProperties": 1, "properties": {"max": top, "min": bound}}
    shorthand = {"type": "string", "pattern": BASELINE_PATTERN, "x-expected": _CONSTRAINT_WORDS}
    if metric == "memory_mb":
        word = {"if": {"const": "budget"}, "then": {}, "else": shorthand}
    else:
        word = {"if": {"const": "budget"},
                "then": {"not": {}, "x-expected": "{max: X} or {min: X} ('budget' applies to memory_mb only)"},
                "else": shorthand}
    return {"description": f"bounds on {help}", "x-unit": unit,
            "if": {"type": "object"}, "then": mapping,
            "else": {"if": {"type": "number"}, "then": top, "else": word}}


def _network_schema(help: str) -> dict:
    """A network as the ``network`` key takes it: a zoo name, an .onnx path or {model: NAME, ...}."""
    return {"description": help, "x-unit": "-",
            "if": {"type": "string"}, "then": {"x-expected": "a zoo model name or an .onnx path"},
            "else": {"type": "object", "required": ["model"], "x-expected": "a zoo model name, an .onnx "
                                                                            "path or {model: NAME, ...options}",
                     "x-missing": {"model": "missing; expected a zoo model name or an .onnx path"},
                     "properties": {"model": {"type": "string",
                                              "x-expected": "a zoo model name or an .onnx path"}}}}


def _accuracy_schema() -> dict:
    sources = P.AccuracySource.SOURCES
    words = f"a mapping with source ({_one_of(sources)})"
    options = schema.obj({
        "source": schema.scalar("string", "-", "where accuracy comes from (accuracy: NAME alone is short for "
                                         "{source: NAME})", choices=sources),
        "dataset": schema.scalar("string", "-", "NAS-Bench-201 dataset (source nb201)", choices=DATASETS),
        "table": schema.scalar("string", "-", "NAS-Bench-201 table file (source nb201; default: the packaged one)"),
        "batch": _positive_int("samples", "batch of the zero-shot proxies' input"),
        "resolution": _positive_int("px", "input resolution of the zero-shot proxies, or of training on a detection "
                                          "or segmentation task (default: the design's)"),
        "task": schema.scalar("string", "-", "what train trains for: classification (on data, an .npz), detection "
                                             "(mAP@0.5) or segmentation (mIoU) on data: synthetic_shapes",
                              choices=TRAIN_TASKS),
        "num_classes": _positive_int("classes", "object classes of synthetic_shapes, background not counted (1-6; "
                                                "default 3): training on a task, or a proxy of a detector or "
                                                "segmenter"),
        "n_train": _positive_int("images", "synthetic_shapes training images per epoch (default 512)"),
        "n_val": _positive_int("images", "synthetic_shapes held-out images the score is measured on (default 128)"),
        "weight_decay": schema.scalar("number", "-", "AdamW weight decay of training on a task (default 1e-4)",
                                      minimum=0, strict=False),
        "seed": schema.scalar("integer", "-", "seed of the initial weights and the input batch",
                              expected="a whole number"),
        "data": schema.scalar("string", "-", ".npz with arrays x and y (source train), or synthetic_shapes (task "
                                             "detection or segmentation, the default there)"),
        "epochs": _positive_int("epochs", "training epochs at most (source train)"),
        "batch_size": _positive_int("samples", "training batch (source train)"),
        "lr": schema.scalar("number", "-", "learning rate (source train)", minimum=0),
        "patience": _positive_int("epochs", "epochs without a gain before training stops (source train)"),
        "val_fraction": {"type": "number", "description": "share held out for validation (source train)",
                         "x-unit": "-", "x-finite": True, "exclusiveMinimum": 0, "exclusiveMaximum": 1,
                         "x-range": "(0, 1)", "x-expected": "a number in (0, 1)"},
        "max_minutes": schema.scalar("number", "min", "training time limit per network (source train)",
                                     minimum=0)},
        required=("source",), sorted_keys=True, expected=words,
        missing_words={"source": f"missing; expected one of {_one_of(sources)}"})
    return _mapping_or_name(options, sources, "the accuracy signal: {source: ..., options} or a source alone",
                            words, f"one of {_one_of(sources)}")


def _mapping_or_name(mapping: dict, names, help: str, words: str, name_words: str) -> dict:
    """``mapping``, or one of ``names`` alone (the shorthand of ``{name: ...}``). The mapping form is
    ``then``, so the reference shows its keys; ``words``: what a value of neither form gets."""
    return {"description": help, "x-unit": "-", "x-range": _one_of(names), "if": {"type": "object"},
            "then": mapping, "else": {"type": "string", "x-expected": words,
                                      "allOf": [{"enum": list(names), "x-expected": name_words}]}}


def _name_or_mapping(names, words: str, help: str) -> dict:
    """One of ``names``, or ``{name: ..., options}`` (the options are checked by their owner)."""
    mapping = {"type": "object", "x-expected": words, "required": ["name"],
               "x-missing": {"name": f"missing; expected one of {_one_of(names)}"},
               "properties": {"name": {"enum": list(names), "x-expected": f"one of {_one_of(names)}"}}}
    return {"description": help, "x-unit": "-", "x-range": _one_of(names),
            "if": {"type": "string"}, "then": {"enum": list(names), "x-expected": words}, "else": mapping}


def _run_config_schema() -> dict:
    metrics = list(P.METRICS)
    objectives = {
        "description": "metrics to optimise: accuracy is maximised, the others minimised", "x-unit": "-",
        "x-range": _one_of(metrics),
        "if": {"type": "string"}, "then": {"enum": metrics, "x-expected": f"metrics from {_one_of(metrics)}"},
        "else": {"type": "array", "minItems": 1, "x-expected": f"a list of metrics from {_one_of(metrics)}",
                 "items": {"enum": metrics, "x-expected": f"metrics from {_one_of(metrics)}", "x-in-list": True},
                 "allOf": [{"uniqueItems": True, "x-expected": "distinct metrics"}]}}
    constraints = {"type": "object", "description": "hard constraints: metric -> {max: X} / {min: X} / a number "
                                                    "(= max) / budget (memory_mb: the config's memory budget); "
                                                    "a bound may be baseline or F baseline (F times the "
                                                    "baseline design's value)",
                   "x-unit": "-", "x-expected": "a mapping metric -> {max: X} / {min: X} / budget",
                   "propertyNames": {"enum": metrics, "x-unknown": "metric"},
                   "properties": {m: _constraint_schema(m) for m in metrics}}
    scorer_words = "engine or {estimator: PATH, fallback: engine, prefer: auto}"
    scorer = {"description": "engine (default) or {estimator: checkpoint.pt, fallback: engine, prefer: auto}",
              "x-unit": "-",
              "if": {"type": "string"}, "then": {"const": "engine", "x-expected": scorer_words},
              "else": schema.obj({"estimator": schema.scalar("string", "-", "estimator checkpoint",
                                                             expected="an estimator checkpoint path"),
                                  "fallback": schema.scalar("string", "-", "designs outside the estimator's "
                                                            "training ranges: engine (simulate them) or none "
                                                            "(keep the extrapolation; the default)",
                                                            choices=P.SCORER_FALLBACKS),
                                  "prefer": schema.scalar("string", "-", "auto (the default: the engine scores "
                                                          "instead of an estimator trained on it, exact and "
                                                          "faster; a measured-device estimator scores) or "
                                                          "estimator (the estimator always scores)",
                                                          choices=P.SCORER_PREFER)},
                                 required=("estimator",), expected=scorer_words)}
    algorithm = _name_or_mapping(ALGORITHMS, f"one of {_one_of(ALGORITHMS)} or {{name: ..., options}}",
                                 "search algorithm: a name or {name: ..., options}")
    runner_words = f"one of {_one_of(RUNNERS)} or {{name: ..., workers: N, address: ...}}"
    runner = _mapping_or_name(schema.obj({
        "name": schema.scalar("string", "-", "where evaluations run (runner: NAME alone is short for {name: NAME})",
                              choices=tuple(RUNNERS)),
        "workers": schema.scalar("integer", "processes", "worker processes (leave it out for all cores)",
                                 minimum=0, expected="an integer >= 1 (leave it out for all cores)"),
        "address": {"type": "string", "minLength": 1, "description": "Ray cluster address (auto, ray://host:port; "
                                                                     "none: a local cluster)", "x-unit": "-",
                    "x-expected": "a Ray address (auto, ray://host:port)"}},
        required=("name",), expected=runner_words, missing_words={"name": f"missing; expected one of "
                                                                          f"{_one_of(RUNNERS)}"}),
        RUNNERS, "where evaluations run: {name: ..., workers: N, address: ...} or a name alone", runner_words,
        runner_words)
    root = schema.obj({
        "name": {"type": "string", "minLength": 1, "pattern": "^[^/]*$", "x-unit": "-",
                 "description": "run name (default: the file's name)", "x-expected": "a non-empty string without '/'"},
        "space": schema.obj({"network": _network_space_schema(), "hardware": HARDWARE_SPACE_SCHEMA},
                            help="what is searched: space.network and/or space.hardware",
                            expected="a mapping with network and/or hardware"),
        "network": _network_schema("the fixed network when there is no network space: a zoo name, an .onnx path "
                                   "or {model: NAME, option: value}"),
        "hardware": schema.scalar("string", "-", "the fixed config, or the base of the hardware space (name or path)",
                                  expected="a hardware config name or path"),
        "objectives": objectives,
        "constraints": constraints,
        "accuracy": _accuracy_schema(),
        "scorer": scorer,
        "algorithm": algorithm,
        "budget": _whole(1, "evaluations"),
        "batch_size": _whole(1, "evaluations per batch (one engine call, one journal write)"),
        "seed": _whole(0, "seed of the search"),
        "runner": runner,
        "threads": schema.scalar("integer", "threads", "CPU threads of torch scoring (default 1) and, when given, "
                                 "of the engine in the searching process", low=1, high=MAX_THREADS,
                                 expected=f"an integer in [1, {MAX_THREADS}] (CPU threads of torch scoring; "
                                          f"leave it out for 1)"),
        "reference": {"type": "object", "description": "hypervolume reference point: objective -> value (default: "
                                                       "the worst feasible value + 10 % of the range)",
                      "x-unit": "-", "x-expected": "a mapping objective -> value",
                      "additionalProperties": {"type": "number", "x-expected": "a number"}},
        "baseline": _network_schema("the design relative constraint bounds compare against, evaluated on the base "
                                    "hardware: a NAS-Bench-201 arch string (space.network.type nb201), else a "
                                    "network as network takes it (default: the fixed network when the network "
                                    "is not searched)")},
        required=("space",), help="A search run: what to search, for what, and how.",
        missing_words={"space": "nothing to search; give space.network and/or space.hardware"})
    root["x-expected"] = "a mapping of run settings at the top level"
    return root


RUN_CONFIG_SCHEMA = _run_config_schema()
TOP_KEYS = tuple(RUN_CONFIG_SCHEMA["properties"])
# what each list-valued space setting holds (declared on the space dataclasses' fields)
LIST_ELEMENTS = {f.name: f.metadata["items"] for cls in (NetworkSpace, HardwareSpace)
                 for f in dataclasses.fields(cls) if "items" in f.metadata}


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
    estimator_fallback: str = "none"   # designs outside the estimator's training ranges: engine or none
    estimator_prefer: str = "auto"     # auto: the engine instead of an estimator trained on it; estimator
    algorithm: str = "nsga2"
    algorithm_options: dict = field(default_factory=dict)
    budget: int = 1000
    batch_size: int = 32
    seed: int = 0
    runner: str = "serial"
    runner_options: dict = field(default_factory=dict)
    threads: int | None = None     # as given (None: torch scoring on one thread, numba left alone)
    reference: dict | None = None
    baseline: object = None        # as given (None: the fixed network, if any, when a bound is relative)
    _problem: object = field(default=None, repr=False, compare=False)

    @property
    def torch_scored(self) -> bool:
        """Whether evaluations go through torch (a proxy or training accuracy source, or an estimator),
        whose results can depend on the thread count."""
        return bool(self.estimator) or self._torch_accuracy

    @property
    def _torch_accuracy(self) -> bool:
        return self.accuracy is not None and self.accuracy["source"] in P.AccuracySource.TORCH_SOURCES

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
            net_axis = _network_axis(self.network_space, where)
        else:
            net_axis = P.FixedNetwork(_fixed_network(self.network, f"{where}: network"))
        try:
            base = load_hardware(self.hardware)
        except ConfigError as exc:
            raise CodesignError(f"{where}: hardware: {exc}") from None
        if self.hardware_space is not None:
            hw_axis = P.HardwareAxis(HardwareSpace.from_dict({**self.hardware_space, "base": self.hardware}, where,
                                                             "space.hardware"), base)
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
        baseline = self._baseline_design(net_axis)
        try:
            return P.SearchProblem(net_axis, hw_axis, self.objectives, self.constraints, acc, est,
                                   threads=self.scoring_threads, baseline=baseline,
                                   estimator_fallback=self.estimator_fallback,
                                   estimator_prefer=self.estimator_prefer)
        except CodesignError as exc:
            raise CodesignError(f"{where}: {exc}") from None

    @property
    def has_baseline(self) -> bool:
        """Whether the run scores a baseline design: ``baseline`` is given, or a bound is relative."""
        return self.baseline is not None or any(c.relative for c in self.constraints)

    def _baseline_design(self, net_axis):
        """The baseline as the problem takes it: an arch string (NAS-Bench-201 axis), a Network, or
        None (no baseline: none given and no relative bound, or none given on a searched network)."""
        where = f"{self.source}: baseline"
        if isinstance(net_axis, P.ModelAxis):
            if self.baseline is not None:
                raise CodesignError(f"{where}: a from_model space's baseline is its model "
                                    f"({net_axis.space.model}); remove baseline or use a mobile space")
            return None   # the problem takes the model itself
        if self.baseline is None:
            if isinstance(net_axis, P.FixedNetwork) and self.has_baseline:
                return net_axis.network
            return None
        if isinstance(net_axis, P.NB201Axis):
            if not isinstance(self.baseline, str):
                raise CodesignError(f"{where}: expected a NAS-Bench-201 arch string (space.network.type nb201), "
                                    f"got {self.baseline!r}")
            return self.baseline
        if isinstance(net_axis, P.FixedNetwork) and self.baseline == self.network:
            return net_axis.network
        return _fixed_network(self.baseline, where)

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
        if isinstance(net_axis, P.ModelAxis):
            network = {"space": net_axis.space.identity()}
        elif isinstance(net_axis, P.MobileAxis):
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
                    "constraints": {c.metric: _constraint_identity(c) for c in problem.constraints},
                    "accuracy": None,
                    "scorer": ("engine" if not self.estimator or problem.estimator_replaced
                               else ("estimator" if self.estimator_fallback == "none"
                                     else f"estimator, fallback {self.estimator_fallback}")
                               + (f", prefer {self.estimator_prefer}" if self.estimator_prefer != "auto" else "")),
                    "algorithm": self.algorithm, "algorithm_options": dict(self.algorithm_options),
                    "seed": self.seed, "batch_size": self.batch_size}
        if self._torch_accuracy or (self.estimator and not problem.estimator_replaced):   # torch scores
            settings["threads"] = self.scoring_threads
        if self.estimator and not problem.estimator_replaced:
            files["estimator checkpoint"] = self.estimator
        if self.accuracy is not None:
            settings["accuracy"] = {k: v for k, v in self.accuracy.items() if k not in ("table", "data")}
            if self.accuracy["source"] == "nb201":
                from ..accuracy.tables import DEFAULT_TABLE
                files["accuracy table"] = self.accuracy.get("table") or DEFAULT_TABLE
            if self.accuracy.get("data") and self.accuracy.get("task", "classification") == "classification":
                files["accuracy training data"] = self.accuracy["data"]
        parts = {"kind": "search", "hardware": base, "network": network, "hardware_space": hw_space}
        if problem.baseline_metrics is not None:
            # the baseline's metrics decide the resolved bounds: another baseline is another run
            design = self.baseline
            if isinstance(design, (str, dict)) and not isinstance(net_axis, P.NB201Axis):
                spec = design if isinstance(design, dict) else {"model": design}
                if str(spec["model"]).endswith(".onnx"):
                    files["baseline model"] = spec["model"]
                    design = {**spec, "model": Path(spec["model"]).name}
            if design is None:
                design = "model" if isinstance(net_axis, P.ModelAxis) else "network"
            parts["baseline"] = {"design": design,
                                 "metrics": _plain_metrics(problem.baseline_metrics)}
        parts.update(settings=settings, files=files)   # after the baseline: a change names the baseline first
        try:
            return identity(parts)
        except CodesignError as exc:
            raise CodesignError(f"{self.source}: {exc}") from None


def _constraint_identity(c: P.Constraint) -> dict:
    """A resolved constraint as the identity holds it (a relative bound adds its factor)."""
    out = {"max": None if c.max is None else float(c.max), "min": None if c.min is None else float(c.min),
           "budget": c.budget}
    for side in c.relative_sides():
        out[f"{side}_baseline"] = float(getattr(c, f"{side}_baseline"))
    return out


def _plain_metrics(m: dict) -> dict:
    """The baseline's metrics (those of :data:`~codesign.search.problems.METRICS`, in that order) as
    JSON numbers (an infinite one as the string 'inf')."""
    return {k: float(m[k]) if np.isfinite(m[k]) else "inf" for k in P.METRICS if k in m}


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
    """Check a run config (a mapping, as read from YAML) against :data:`RUN_CONFIG_SCHEMA`, then what
    the schema cannot say, and build its problem once."""
    checked = schema.check(data, RUN_CONFIG_SCHEMA, source, CodesignError)

    def bad(key, what, got):
        return CodesignError(f"{source}: {key}: expected {what}, got {got!r}")

    name = checked.get("name", Path(source).stem)
    if not name:
        raise bad("name", "a non-empty string without '/'", name)
    cfg = RunConfig(name=name, source=source, raw=json.loads(json.dumps(data, default=str)))

    space = checked["space"]
    cfg.network_space = space.get("network")
    cfg.hardware_space = space.get("hardware")
    if cfg.network_space is None and cfg.hardware_space is None:
        raise CodesignError(f"{source}: space: nothing to search; give space.network and/or space.hardware")
    net_space = cfg.network_space or {}
    if net_space.get("type") == "from_model" and isinstance(net_space.get("model"), str):
        path = genome_path(net_space["model"], source)
        if path is not None and str(path) != net_space["model"]:
            model = str(path)   # a genome file found beside the config file: run.yaml keeps where it is
            cfg.network_space = {**net_space, "model": model}
            cfg.raw["space"]["network"]["model"] = model
    cfg.network = data["network"] if data.get("network") is not None else "mobilenet_v2"
    cfg.hardware = checked.get("hardware", "neural_engine")
    rel = Path(source).parent / cfg.hardware
    if cfg.hardware.endswith((".yaml", ".yml", ".cfg")) and not Path(cfg.hardware).exists() and rel.exists():
        cfg.hardware = cfg.raw["hardware"] = str(rel.resolve())   # paths resolve against the config file

    objectives = checked.get("objectives", ["latency_ms", "accuracy"])
    cfg.objectives = tuple([objectives] if isinstance(objectives, str) else objectives)

    out = []
    for metric, spec in checked.get("constraints", {}).items():
        if spec == "budget":
            out.append(P.Constraint(metric, budget=True))
            continue
        spec = spec if isinstance(spec, dict) else {"max": spec}
        bounds = {}
        for side in ("max", "min"):
            factor = baseline_factor(spec.get(side))
            if factor is None:
                bounds[side] = spec.get(side)
            elif not (factor > 0 and np.isfinite(factor)):
                raise bad(f"constraints.{metric}.{side}", "a positive factor of baseline ('0.5 baseline')",
                          spec[side])
            else:
                bounds[f"{side}_baseline"] = factor
        out.append(P.Constraint(metric, **bounds))
    cfg.constraints = tuple(out)
    if data.get("baseline") is not None:
        cfg.baseline = data["baseline"]

    if "accuracy" in checked:
        acc = data["accuracy"]   # as given: the identity holds its options as written
        acc = {"source": acc} if isinstance(acc, str) else dict(acc)
        task = acc.get("task", "classification")
        if "task" in acc and acc["source"] != "train":
            raise bad("accuracy.task", "no task unless source is train", acc["task"])
        on_task = acc["source"] == "train" and task != "classification"
        proxy = acc["source"] in P.AccuracySource.TORCH_SOURCES and acc["source"] != "train"
        wrong = [k for k in _NPZ_ONLY if k in acc and on_task] + \
            [k for k in _TASK_ONLY if k in acc and not on_task and not (proxy and k == "num_classes")]
        if wrong:
            raise bad(f"accuracy.{wrong[0]}", "an option of training on an .npz (task classification)"
                      if on_task else "an option of training on a task (task detection or segmentation)"
                      + (" or, num_classes, of a proxy" if wrong[0] == "num_classes" else ""), acc[wrong[0]])
        if acc.get("num_classes", 1) > 6:
            raise bad("accuracy.num_classes", "a whole number in 1..6 (synthetic_shapes' shapes)", acc["num_classes"])
        if task != "classification":
            if acc.get("data", "synthetic_shapes") != "synthetic_shapes":
                raise bad("accuracy.data", f"synthetic_shapes (the data of task {task})", acc["data"])
        elif acc.get("data") and not Path(acc["data"]).exists():
            rel = Path(source).parent / acc["data"]
            if not rel.exists():
                raise bad("accuracy.data", "an existing .npz file", acc["data"])
            acc = {**acc, "data": str(rel.resolve())}
            cfg.raw["accuracy"] = dict(acc)
        cfg.accuracy = acc

    scorer = checked.get("scorer", "engine")
    if isinstance(scorer, dict):
        p = Path(scorer["estimator"])
        if not p.exists() and (Path(source).parent / p).exists():
            p = Path(source).parent / p
        if not p.exists():
            raise bad("scorer.estimator", "an existing estimator checkpoint", scorer["estimator"])
        cfg.estimator = str(p.resolve())
        cfg.estimator_fallback = scorer.get("fallback", "none")
        cfg.estimator_prefer = scorer.get("prefer", "auto")
        cfg.raw["scorer"] = {"estimator": cfg.estimator,
                             **({"fallback": cfg.estimator_fallback} if "fallback" in scorer else {}),
                             **({"prefer": cfg.estimator_prefer} if "prefer" in scorer else {})}

    algo = checked.get("algorithm", "nsga2")
    algo = {"name": algo} if isinstance(algo, str) else algo
    cfg.algorithm = algo["name"]
    cfg.algorithm_options = {k: v for k, v in algo.items() if k != "name"}
    try:
        check_options(cfg.algorithm, cfg.algorithm_options)
    except SearchError as exc:
        raise CodesignError(f"{source}: algorithm.{exc}") from None

    cfg.budget = int(checked.get("budget", 1000))
    cfg.batch_size = int(checked.get("batch_size", 32))
    cfg.seed = int(checked.get("seed", 0))
    runner = checked.get("runner", "serial")
    runner = {"name": runner} if isinstance(runner, str) else runner
    cfg.runner = runner["name"]
    cfg.runner_options = {k: int(v) if k == "workers" else v for k, v in runner.items() if k != "name"}
    cfg.threads = int(checked["threads"]) if "threads" in checked else None

    ref = checked.get("reference")
    if ref is not None:
        if set(ref) != set(cfg.objectives):
            raise bad("reference", f"a value for each objective ({', '.join(cfg.objectives)})", data["reference"])
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


def _network_axis(spec: dict, source: str):
    spec = dict(spec)
    if spec.get("type") == "from_model":
        return P.ModelAxis(model_space_from_dict(spec, source, "space.network"))
    if spec.pop("type", "mobile") == "nb201":
        return P.NB201Axis(**{k: v if k == "precision" else int(v) for k, v in spec.items()})
    return P.MobileAxis(NetworkSpace.from_dict(spec, source, "space.network"))


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


def reference_markdown() -> str:
    """The run config's reference table (key, unit, range, meaning), generated from
    :data:`RUN_CONFIG_SCHEMA`: the network space's settings as ``space.network.KEY`` (the
    NAS-Bench-201 ones marked), the hardware space's as ``space.hardware.KEY``."""
    return schema.reference_markdown(RUN_CONFIG_SCHEMA)
