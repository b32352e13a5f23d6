"""The supernet's settings: :class:`SupernetConfig` (skeleton, candidate set, latency objective,
training), its schema :data:`SUPERNET_SCHEMA`, and the constants naming the candidate kinds, loss
forms and latency sources.

A config is frozen and checked on construction against :data:`SUPERNET_SCHEMA` (JSON Schema, see
:mod:`accelsim.schema`, built from the field declarations: unit, meaning, bounds): a bad value raises
:class:`CodesignError` with one line naming the field, ``supernet config: kernels[1]: expected an odd
positive integer, got 4``. :meth:`SupernetConfig.to_dict` / :meth:`SupernetConfig.from_dict` give the
JSON form a checkpoint stores (and ``codesign supernet --config FILE.yaml`` reads); ``key: null`` there
means the key is absent. :func:`reference_markdown` gives the README's key table. No torch here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim import precision as prec
from accelsim import schema

from ..errors import CodesignError
from ..spaces.space import BLOCKS, NetworkSpace

SKIP = "skip"
LOSS_FORMS = ("add", "mul")
LATENCY_SOURCES = ("engine", "estimator")
# Config fields that do not change what a run computes, so a checkpoint may be resumed with others.
_RESUME_NEUTRAL = ("device", "checkpoint_every", "hardware")

_f = schema.field   # unit, meaning, bounds of a field: SUPERNET_SCHEMA is built from them
_POSITIVE = "a positive integer"
_AT_LEAST_0 = dict(minimum=0, strict=False)


# ------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class SupernetConfig:
    """Everything that defines a supernet search run (skeleton, candidates, objective, training)."""

    # skeleton: 3x3 stride-2 stem, stages of searchable positions, 1x1 head, global pool, classifier
    resolution: int = _f("px", "input height = width", expected=_POSITIVE, default=32)
    in_channels: int = _f("channels", "input channels (a NetworkGenome exists only for 3)", expected=_POSITIVE,
                          default=3)
    stem_channels: int = _f("channels", "output channels of the stem conv", expected=_POSITIVE, default=16)
    stage_channels: tuple = _f("channels", "output channels of each stage", expected=_POSITIVE,
                               default=(16, 24, 32, 64))
    stage_strides: tuple = _f("-", "stride of each stage's first block", expected=_POSITIVE, default=(1, 2, 2, 2))
    stage_depths: tuple = _f("blocks", "searchable block positions per stage", expected=_POSITIVE,
                             default=(1, 2, 2, 2))
    head_channels: int = _f("channels", "output channels of the 1x1 conv before pooling", expected=_POSITIVE,
                            default=256)
    num_classes: int = _f("-", "classifier outputs", expected=_POSITIVE, default=10)
    precision: str = _f("-", "format of every layer in the simulated network", choices=prec.NAMES,
                        expected=f"one of {', '.join(prec.NAMES)}", default="int8")
    # candidate blocks at every position
    blocks: tuple = _f("-", "candidate block kinds", choices=BLOCKS, expected=f"one of {', '.join(BLOCKS)}",
                       default=BLOCKS)
    kernels: tuple = _f("px", "candidate kernel sizes (odd)", expected="an odd positive integer", default=(3, 5, 7))
    expansions: tuple = _f("-", "candidate expansions: expanded channels / input channels", expected=_POSITIVE,
                           default=(3, 6))
    allow_skip: bool = _f("-", "non-first blocks of a stage may be removed", default=True)
    # latency objective
    hardware: str = _f("-", "target config (name or path) when train_supernet gets none", default="neural_engine")
    latency_source: str = _f("-", "engine (accelsim) or estimator (a trained Estimator)", choices=LATENCY_SOURCES,
                             expected=" or ".join(LATENCY_SOURCES), default="engine")
    latency_weight: float = _f("-", "w: lambda of the add loss, exponent of the mul loss", **_AT_LEAST_0, default=0.5)
    target_ms: float | None = _f("ms", "reference latency T; absent: E[lat] at uniform alphas",
                                 expected="a positive number or None", default=None)
    loss_form: str = _f("-", "add: CE + w (E[lat] - T) / T; mul: CE (E[lat] / T)^w", choices=LOSS_FORMS,
                        expected=" or ".join(LOSS_FORMS), default="add")
    # training
    steps: int = _f("steps", "weight steps (an epoch is len(train) // batch_size steps)", expected=_POSITIVE,
                    default=300)
    warmup_steps: int = _f("steps", "weight steps before the first architecture step", **_AT_LEAST_0,
                           expected="an integer >= 0", default=100)
    arch_every: int = _f("steps", "weight steps per architecture step after warm-up", expected=_POSITIVE, default=1)
    batch_size: int = _f("samples", "samples per weight or architecture step", expected=_POSITIVE, default=64)
    weight_lr: float = _f("-", "SGD (Nesterov momentum 0.9) learning rate, cosine-annealed to 0", default=0.1)
    weight_decay: float = _f("-", "SGD weight decay", **_AT_LEAST_0, default=4e-5)
    arch_lr: float = _f("-", "Adam learning rate of the alphas, betas (0, 0.999)", default=0.02)
    val_fraction: float = _f("-", "share of the data held out for architecture steps and accuracy",
                             expected="a number in (0, 1)", default=0.2)
    seed: int = _f("-", "seed of weights, data split, batches and path samples", **_AT_LEAST_0,
                   expected="an integer >= 0", default=0)
    device: str = _f("-", "auto (CUDA when available), cpu, cuda, cuda:1, ...", expected="auto, cpu or cuda[:N]",
                     default="auto")
    checkpoint_every: int = _f("steps", "weight steps between checkpoint writes (and one at the end)",
                               expected=_POSITIVE, default=50)

    def __post_init__(self):
        for name in _LISTS:
            v = getattr(self, name)
            if isinstance(v, (list, range, np.ndarray)):
                object.__setattr__(self, name, tuple(v))
        if isinstance(self.hardware, os.PathLike):
            object.__setattr__(self, "hardware", os.fspath(self.hardware))
        data = self.to_dict()
        missing = [k for k, v in data.items() if v is None and k != "target_ms"]
        if missing:   # None is an error here (in a file or from_dict, a null key is absent)
            raise CodesignError(f"supernet config: {missing[0]}: expected {_words(missing[0])}, got None")
        data = schema.check(data, SUPERNET_SCHEMA, "supernet config", CodesignError)
        for name, cast in _CASTS.items():   # integers as int, numbers as float (numpy ones included)
            v = getattr(self, name)
            if isinstance(v, tuple):
                if any(type(x) is not cast for x in v):
                    object.__setattr__(self, name, tuple(map(cast, data[name])))
            elif v is not None and type(v) is not cast:
                object.__setattr__(self, name, cast(data[name]))
        n = len(self.stage_channels)
        if len(self.stage_strides) != n or len(self.stage_depths) != n:
            raise CodesignError("supernet config: stage_channels, stage_strides and stage_depths need one "
                                f"entry per stage (got {len(self.stage_channels)}, {len(self.stage_strides)}, "
                                f"{len(self.stage_depths)})")

    @classmethod
    def from_space(cls, space: NetworkSpace, **fields) -> "SupernetConfig":
        """A config whose candidate set (blocks, kernels, expansions, precision) is the space's."""
        base = dict(blocks=tuple(space.blocks), kernels=tuple(space.kernels),
                    expansions=tuple(space.expansions), precision=space.precision)
        return cls(**{**base, **fields})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(self, k)) for k in _FIELDS)}

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "supernet config") -> "SupernetConfig":
        """A config from its JSON/YAML form (a checkpoint's, a ``--config`` file's), checked against
        :data:`SUPERNET_SCHEMA`; errors name ``source``; absent or null keys take their defaults."""
        return cls(**schema.check(d, SUPERNET_SCHEMA, source, CodesignError))

    def replace(self, **changes) -> "SupernetConfig":
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------ schema
_FIELDS = {f.name: f for f in dataclasses.fields(SupernetConfig)}
_LISTS = tuple(name for name, f in _FIELDS.items() if f.type == "tuple")
# what a list holds, in words; the others hold positive integers
_LIST_WORDS = {"blocks": ", ".join(BLOCKS), "kernels": "odd positive integers"}
# integers stored as int, numbers as float (numpy ones included), as a file or a checkpoint gives them
_CASTS = {**{name: int for name, f in _FIELDS.items() if f.type == "int" or (name in _LISTS and name != "blocks")},
          **{name: float for name, f in _FIELDS.items() if f.type in ("float", "float | None")}}


def _list_schema(f: dataclasses.Field) -> dict:
    """A non-empty list of the field's scalars: the item node carries the bounds and the error words."""
    item = schema.field_schema(f, kind="string" if f.name == "blocks" else "integer")
    if f.name == "kernels":
        item["not"] = {"multipleOf": 2}
        item["x-range"] += ", odd"
    return {"type": "array", "description": f.metadata["help"], "x-unit": f.metadata["unit"],
            "x-range": f"list of {item['x-range']}", "minItems": 1, "items": item,
            "x-expected": f"a non-empty list of {_LIST_WORDS.get(f.name, 'positive integers')}"}


def _supernet_schema() -> dict:
    """The supernet config's schema, built from the field declarations above."""
    target = schema.field_schema(_FIELDS["target_ms"], kind="number")
    val = schema.field_schema(_FIELDS["val_fraction"])
    val.update({"exclusiveMaximum": 1, "x-range": "(0, 1)"})
    device = schema.field_schema(_FIELDS["device"])
    device.update({"pattern": r"^(auto|cpu|cuda(:[0-9]+)?)$", "x-range": "auto, cpu, cuda, cuda:N"})
    root = schema.dataclass_schema(SupernetConfig, nested={
        **{name: _list_schema(_FIELDS[name]) for name in _LISTS},
        "target_ms": target, "val_fraction": val, "device": device})
    root["x-expected"] = "a mapping of supernet config keys"
    return root


SUPERNET_SCHEMA = _supernet_schema()


def _words(name: str) -> str:
    """What the schema expects of key ``name``, in words."""
    node = SUPERNET_SCHEMA["properties"][name]
    return node.get("x-expected") or schema.expected_words(next(iter(schema.validator(node).iter_errors(None))))


def reference_markdown() -> str:
    """The supernet config's key table for the README, generated from :data:`SUPERNET_SCHEMA`."""
    return schema.reference_markdown(SUPERNET_SCHEMA)
