"""The supernet's settings: :class:`SupernetConfig` (skeleton, candidate set, latency objective,
training) with its validation, and the constants naming the candidate kinds, loss forms and latency
sources.

A config is frozen and checked on construction: a bad value raises :class:`CodesignError` with one
line naming the field. :meth:`SupernetConfig.to_dict` / :meth:`SupernetConfig.from_dict` give the
JSON form a checkpoint stores. No torch here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from accelsim import precision as prec

from ..errors import CodesignError
from ..spaces.space import BLOCKS, NetworkSpace

SKIP = "skip"
LOSS_FORMS = ("add", "mul")
LATENCY_SOURCES = ("engine", "estimator")
# Config fields that do not change what a run computes, so a checkpoint may be resumed with others.
_RESUME_NEUTRAL = ("device", "checkpoint_every", "hardware")


# ------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class SupernetConfig:
    """Everything that defines a supernet search run (skeleton, candidates, objective, training)."""

    # skeleton: 3x3 stride-2 stem, stages of searchable positions, 1x1 head, global pool, classifier
    resolution: int = 32                  # input height = width, pixels
    in_channels: int = 3                  # input channels (a NetworkGenome exists only for 3)
    stem_channels: int = 16               # output channels of the stem conv
    stage_channels: tuple = (16, 24, 32, 64)   # output channels of each stage
    stage_strides: tuple = (1, 2, 2, 2)   # stride of each stage's first block
    stage_depths: tuple = (1, 2, 2, 2)    # searchable block positions per stage
    head_channels: int = 256              # 1x1 conv before pooling
    num_classes: int = 10
    precision: str = "int8"               # format of every layer in the simulated network
    # candidate blocks at every position
    blocks: tuple = BLOCKS                # "ibn" and/or "fused_ibn"
    kernels: tuple = (3, 5, 7)            # odd kernel sizes
    expansions: tuple = (3, 6)            # expanded channels / input channels
    allow_skip: bool = True               # non-first blocks of a stage may be removed
    # latency objective
    hardware: str = "neural_engine"       # target config (name or path) when train_supernet gets none
    latency_source: str = "engine"        # "engine" (accelsim) or "estimator" (a trained Estimator)
    latency_weight: float = 0.5           # lambda of the "add" loss, exponent of the "mul" loss
    target_ms: float | None = None        # reference latency T, ms; None: E[lat] at uniform alphas
    loss_form: str = "add"                # "add": CE + w (E-T)/T; "mul": CE (E/T)^w
    # training
    steps: int = 300                      # weight steps (an epoch is len(train) // batch_size steps)
    warmup_steps: int = 100               # weight steps before the first architecture step
    arch_every: int = 1                   # weight steps per architecture step after warm-up
    batch_size: int = 64                  # samples per weight or architecture step
    weight_lr: float = 0.1                # SGD (Nesterov momentum 0.9), cosine-annealed to 0
    weight_decay: float = 4e-5
    arch_lr: float = 0.02                 # Adam, betas (0, 0.999)
    val_fraction: float = 0.2             # share of the data held out for architecture steps and accuracy
    seed: int = 0
    device: str = "auto"                  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    checkpoint_every: int = 50            # weight steps between checkpoint writes (and one at the end)

    def __post_init__(self):
        for name in ("stage_channels", "stage_strides", "stage_depths", "blocks", "kernels", "expansions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.stage_channels)
        if n == 0 or len(self.stage_strides) != n or len(self.stage_depths) != n:
            raise CodesignError("supernet config: stage_channels, stage_strides and stage_depths need one "
                                f"entry per stage (got {len(self.stage_channels)}, {len(self.stage_strides)}, "
                                f"{len(self.stage_depths)})")
        for name in ("resolution", "in_channels", "stem_channels", "head_channels", "num_classes", "steps",
                     "batch_size", "arch_every", "checkpoint_every"):
            _positive_int(name, getattr(self, name))
        for name in ("stage_channels", "stage_strides", "stage_depths", "expansions"):
            for v in getattr(self, name):
                _positive_int(name, v)
        if not self.blocks or any(b not in BLOCKS for b in self.blocks):
            raise CodesignError(f"supernet config: blocks: expected a non-empty subset of {BLOCKS}, got {self.blocks}")
        if not self.kernels or any(not isinstance(k, int) or k <= 0 or k % 2 == 0 for k in self.kernels):
            raise CodesignError(f"supernet config: kernels: expected odd positive integers, got {self.kernels}")
        if not self.expansions:
            raise CodesignError("supernet config: expansions: expected at least one")
        if self.precision not in prec.INDEX:
            raise CodesignError(f"supernet config: precision: expected one of {', '.join(prec.NAMES)}, "
                                f"got {self.precision!r}")
        if self.latency_source not in LATENCY_SOURCES:
            raise CodesignError(f"supernet config: latency_source: expected {' or '.join(LATENCY_SOURCES)}, "
                                f"got {self.latency_source!r}")
        if self.loss_form not in LOSS_FORMS:
            raise CodesignError(f"supernet config: loss_form: expected {' or '.join(LOSS_FORMS)}, "
                                f"got {self.loss_form!r}")
        if not self.latency_weight >= 0:
            raise CodesignError(f"supernet config: latency_weight: expected >= 0, got {self.latency_weight}")
        if self.target_ms is not None and not self.target_ms > 0:
            raise CodesignError(f"supernet config: target_ms: expected a positive number or None, got {self.target_ms}")
        if self.warmup_steps < 0:
            raise CodesignError(f"supernet config: warmup_steps: expected >= 0, got {self.warmup_steps}")
        for name in ("weight_lr", "arch_lr"):
            if not getattr(self, name) > 0:
                raise CodesignError(f"supernet config: {name}: expected a positive number, got {getattr(self, name)}")
        if not self.weight_decay >= 0:
            raise CodesignError(f"supernet config: weight_decay: expected >= 0, got {self.weight_decay}")
        if not 0 < self.val_fraction < 1:
            raise CodesignError(f"supernet config: val_fraction: expected a number in (0, 1), got {self.val_fraction}")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise CodesignError(f"supernet config: device: expected auto, cpu or cuda[:N], got {self.device!r}")

    @classmethod
    def from_space(cls, space: NetworkSpace, **fields) -> "SupernetConfig":
        """A config whose candidate set (blocks, kernels, expansions, precision) is the space's."""
        base = dict(blocks=tuple(space.blocks), kernels=tuple(space.kernels),
                    expansions=tuple(space.expansions), precision=space.precision)
        return cls(**{**base, **fields})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SupernetConfig":
        try:
            return cls(**d)
        except TypeError as exc:
            raise CodesignError(f"supernet config: malformed ({exc})") from None

    def replace(self, **changes) -> "SupernetConfig":
        return dataclasses.replace(self, **changes)


def _positive_int(name: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise CodesignError(f"supernet config: {name}: expected a positive integer, got {v!r}")
