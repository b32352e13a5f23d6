"""ProxylessNAS-style single-shot supernet, searched against a simulated accelerator's latency.

A fixed macro skeleton (3x3 stride-2 stem, stages of searchable blocks, 1x1 head, pooling,
classifier: the shape :func:`codesign.space.build_network` gives a genome) has at each block
position a *mixed op*: every candidate block (IBN or fused IBN x kernel x expansion, plus "skip" for
the non-first blocks of a stage) with its own weights, and one architecture parameter per candidate
(alpha). Training follows ProxylessNAS (Cai, Zhu and Han, ICLR 2019):

- **Path binarisation.** A weight step samples one candidate per position from softmax(alpha)
  and runs only that path (the others take no memory and get no gradient); its loss is the
  cross-entropy on a training batch.
- **Architecture step** ("two-path" BinaryConnect gradient). On a held-out batch, each position
  samples two distinct candidates by softmax(alpha) and makes one of them active (binary gates
  g = (1, 0)); the forward pass is ``g_a * o_a + g_b * o_b`` with the inactive output computed
  without a graph, so dL/dg_j = <dL/dy, o_j>. The alpha gradient over the two sampled candidates
  is dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), p the softmax over the *two* alphas.
  After the optimizer step the two alphas are shifted by a common offset so that their total
  softmax mass is unchanged, i.e. the candidates that were not sampled keep their probability
  as far as the cross-entropy is concerned. The alpha optimizer is Adam with beta1 = 0 (as
  ProxylessNAS), so a zero gradient moves nothing.
- **Differentiable latency.** ``latency_table`` measures each candidate block *alone* at its
  position's input shape on the target config (accelsim, or a trained :class:`Estimator`), plus
  the fixed stem and head. The expected latency
  ``E[lat] = fixed + sum_pos sum_j softmax(alpha_pos)_j lat[pos][j]`` is differentiable in alpha
  and its gradient reaches every alpha (not just the sampled ones). The architecture loss is
  ``CE + w * (E[lat] - T) / T`` ("add", the default) or ``CE * (E[lat] / T) ** w`` ("mul"), with
  ``w`` = ``latency_weight`` and ``T`` = ``target_ms`` (by default the expected latency at uniform
  alphas, so one weight means the same relative pressure on every hardware config).

Two departures from the reference code: when the sampled active candidate is "skip", ProxylessNAS
leaves that position's alphas alone for the step, while here the update runs as usual (the skip
gate's gradient is zero, so only the other candidate's gate and the latency term move it); and the
final accuracy of the derived path is measured after re-estimating BatchNorm statistics for that
path, since the supernet's running averages mix every sampled path.

Under the ``dram`` activation policy the engine costs each layer on its own, so with engine
latencies the table sum along a path equals the simulated latency of the derived network. Under
``resident`` or ``fused`` placement a block simulated alone reads its input from and writes its
output to DRAM, while inside the network those tensors may stay on chip, so the table is an
additive approximation (as in ProxylessNAS); the result reports both, and the gap between the
expected latency under the final softmax and the derived network's simulated latency.

Randomness: weight initialisation from a ``torch.Generator`` seeded by ``seed``; batch order and
path samples from ``numpy`` generators keyed by (seed, stream, epoch or step), so a run resumed from
a checkpoint draws exactly what an uninterrupted run draws. No global RNG is touched.

Resuming: a checkpoint stores the identity of its inputs (:func:`run_identity`: the config, the
hardware config in full, the training data's checksum, the estimator's when it gives the latencies,
and the engine model version; see :mod:`codesign.identity`). A checkpoint made from other inputs,
or one without a stored identity, is refused with one line naming what changed; the hardware alone
may differ while the run is still in its warm-up. :func:`train_in_folder` (``codesign supernet``)
also locks its folder and, with ``force_new``, moves an earlier run aside to ``DIR.old-<time>``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.supernet"):
    import torch
    import torch.nn.functional as TF
    from torch import nn

from accelsim import precision as prec
from accelsim.config import Hardware, load_hardware
from accelsim.engine import simulate, simulate_many
from accelsim.errors import AccelsimError
from accelsim.io import atomic_open, load_checkpoint, write_atomic
from accelsim.io import save_checkpoint as write_checkpoint
from accelsim.workload.ir import Network, NetworkBuilder

from . import __version__
from .errors import CodesignError
from .identity import check_same, claim_folder, describe_change, fingerprint, identity
from .space import BLOCKS, NetworkGenome, NetworkSpace, StageGene, hardware_key

SKIP = "skip"
LOSS_FORMS = ("add", "mul")
LATENCY_SOURCES = ("engine", "estimator")
CHECKPOINT_FORMAT = "codesign-supernet"
CHECKPOINT_VERSION = 1
# Config fields that do not change what a run computes, so a checkpoint may be resumed with others.
_RESUME_NEUTRAL = ("device", "checkpoint_every", "hardware")
# Random streams (the first spawn-key entry), kept apart so adding draws to one never shifts another.
_STREAM_SPLIT, _STREAM_TRAIN, _STREAM_VAL, _STREAM_PATH, _STREAM_ARCH = range(5)


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


# ------------------------------------------------------------------------------------ positions
@dataclass(frozen=True)
class Candidate:
    """One op a position may take: a block (``ibn``/``fused_ibn``) with kernel and expansion, or skip."""

    block: str
    kernel: int = 0
    expansion: int = 0

    @property
    def name(self) -> str:
        return SKIP if self.block == SKIP else f"{self.block}_k{self.kernel}_e{self.expansion}"


@dataclass(frozen=True)
class Position:
    """A searchable block slot of the skeleton, with the shape it sees and the ops it may take."""

    index: int
    stage: int
    block: int            # index within the stage
    in_shape: tuple       # (H, W, C) of its input
    out_channels: int
    stride: int
    residual: bool        # output = input + branch (stride 1 and equal channels)
    candidates: tuple     # Candidate per alpha entry

    @property
    def name(self) -> str:
        return f"s{self.stage}.b{self.block}"

    @property
    def out_shape(self) -> tuple:
        h, w, _ = self.in_shape
        return ((h - 1) // self.stride + 1, (w - 1) // self.stride + 1, self.out_channels)


def _same_out(size: int, stride: int) -> int:
    """Output size of an odd-kernel 'same'-padded conv: (size + 2 (k // 2) - k) // s + 1."""
    return (size - 1) // stride + 1


def positions(cfg: SupernetConfig) -> tuple:
    """The searchable positions of the skeleton, in network order."""
    blocks = tuple(Candidate(b, k, e) for b in cfg.blocks for k in cfg.kernels for e in cfg.expansions)
    h = _same_out(cfg.resolution, 2)
    c = cfg.stem_channels
    out = []
    for si, (ch, stride, depth) in enumerate(zip(cfg.stage_channels, cfg.stage_strides, cfg.stage_depths)):
        for bi in range(depth):
            s = stride if bi == 0 else 1
            residual = s == 1 and c == ch
            # A non-first block always has stride 1 and equal channels, so removing it leaves the
            # residual shortcut: the identity ProxylessNAS's "zero" op gives.
            cands = blocks + ((Candidate(SKIP),) if cfg.allow_skip and bi > 0 else ())
            out.append(Position(len(out), si, bi, (h, h, c), ch, s, residual, cands))
            h, c = _same_out(h, s), ch
    return tuple(out)


def head_input_shape(cfg: SupernetConfig) -> tuple:
    last = positions(cfg)[-1]
    return last.out_shape


# ------------------------------------------------------------------------------------ IR networks
def _add_block(b: NetworkBuilder, x: str, cand: Candidate, out_channels: int, stride: int, name: str) -> str:
    fn = b.ibn if cand.block == "ibn" else b.fused_ibn
    return fn(x, out_channels, expansion=cand.expansion, kernel=cand.kernel, stride=stride, name=name)


def candidate_network(cfg: SupernetConfig, position: Position, cand: Candidate) -> Network:
    """The candidate block alone at the position's input shape (skip has no network)."""
    if cand.block == SKIP:
        raise CodesignError(f"supernet: {position.name}: skip has no network (its latency is 0)")
    b = NetworkBuilder(f"{position.name}:{cand.name}", position.in_shape, cfg.precision)
    _add_block(b, b.input, cand, position.out_channels, position.stride, position.name)
    return b.build()


def stem_network(cfg: SupernetConfig) -> Network:
    b = NetworkBuilder("stem", (cfg.resolution, cfg.resolution, cfg.in_channels), cfg.precision)
    b.conv(b.input, cfg.stem_channels, 3, 2, activation="relu6", name="stem")
    return b.build()


def head_network(cfg: SupernetConfig) -> Network:
    """Head conv, global pooling and classifier, at the last stage's output shape."""
    b = NetworkBuilder("head", head_input_shape(cfg), cfg.precision)
    x = b.conv(b.input, cfg.head_channels, 1, activation="relu6", name="head")
    x = b.global_avg_pool(x, name="pool")
    b.linear(x, cfg.num_classes, name="classifier")
    return b.build()


def derived_network(cfg: SupernetConfig, choices: Sequence[Candidate], name: str = "supernet-derived") -> Network:
    """The whole network for one choice per position; skipped blocks disappear.

    Blocks are named ``s{stage}.b{i}`` with ``i`` counting kept blocks, as ``build_network`` names a
    genome's blocks, so a uniform choice builds the same network as its genome.
    """
    pos = positions(cfg)
    if len(choices) != len(pos):
        raise CodesignError(f"supernet: {len(choices)} choices for {len(pos)} positions")
    b = NetworkBuilder(name, (cfg.resolution, cfg.resolution, cfg.in_channels), cfg.precision)
    x = b.conv(b.input, cfg.stem_channels, 3, 2, activation="relu6", name="stem")
    kept = {}
    for p, cand in zip(pos, choices):
        if cand not in p.candidates:
            raise CodesignError(f"supernet: {p.name}: {cand.name} is not one of its candidates")
        if cand.block == SKIP:
            continue
        i = kept.get(p.stage, 0)
        kept[p.stage] = i + 1
        x = _add_block(b, x, cand, p.out_channels, p.stride, f"s{p.stage}.b{i}")
    x = b.conv(x, cfg.head_channels, 1, activation="relu6", name="head")
    x = b.global_avg_pool(x, name="pool")
    b.linear(x, cfg.num_classes, name="classifier")
    return b.build()


def derived_genome(cfg: SupernetConfig, choices: Sequence[Candidate]) -> NetworkGenome | None:
    """The choices as a NetworkGenome when each stage's kept blocks share one config (else None)."""
    if cfg.in_channels != 3:
        return None
    pos = positions(cfg)
    stages = []
    for si, (ch, stride) in enumerate(zip(cfg.stage_channels, cfg.stage_strides)):
        kept = [c for p, c in zip(pos, choices) if p.stage == si and c.block != SKIP]
        if len(set(kept)) != 1:
            return None
        c = kept[0]
        stages.append(StageGene(block=c.block, kernel=c.kernel, expansion=c.expansion, depth=len(kept),
                                channels=ch, stride=stride))
    return NetworkGenome(resolution=cfg.resolution, stem_channels=cfg.stem_channels, stages=tuple(stages),
                         head_channels=cfg.head_channels, depth_multiplier=1.0, num_classes=cfg.num_classes,
                         precision=cfg.precision)


# ------------------------------------------------------------------------------------ latency table
@dataclass(frozen=True)
class LatencyTable:
    """Latency of every candidate at every position on one hardware config, and of the fixed parts."""

    hardware: str
    source: str                 # "engine" or "estimator"
    block_ms: tuple             # per position: float64 array, one entry per candidate (skip: 0)
    stem_ms: float
    head_ms: float              # head conv + pooling + classifier

    @property
    def fixed_ms(self) -> float:
        return self.stem_ms + self.head_ms

    def path_ms(self, path: Sequence[int]) -> float:
        """Fixed parts plus the table entry of each chosen candidate."""
        return self.fixed_ms + float(sum(self.block_ms[i][j] for i, j in enumerate(path)))

    def uniform_ms(self) -> float:
        """Expected latency when every candidate is equally likely (alphas all equal)."""
        return self.fixed_ms + float(sum(v.mean() for v in self.block_ms))


def latency_table(cfg: SupernetConfig, hardware: "Hardware | str | None" = None, estimator=None) -> LatencyTable:
    """Each candidate block simulated alone at its position's input shape (or predicted by ``estimator``
    when ``cfg.latency_source`` is "estimator"), plus the stem and head, in ms."""
    hw = _load_hw(hardware if hardware is not None else cfg.hardware)
    pos = positions(cfg)
    nets, where = [stem_network(cfg), head_network(cfg)], []
    for p in pos:
        for j, cand in enumerate(p.candidates):
            if cand.block != SKIP:
                nets.append(candidate_network(cfg, p, cand))
                where.append((p.index, j))
    if cfg.latency_source == "engine":
        lat = simulate_many(nets, [hw]).latency_ms[:, 0]
        for i in np.nonzero(~np.isfinite(lat))[0]:
            try:
                simulate(nets[i], hw)
            except AccelsimError as exc:
                raise CodesignError(f"supernet: block {nets[i].name} cannot run on {hw.name}: {exc}") from None
    else:
        if estimator is None:
            raise CodesignError("supernet: latency_source is 'estimator' but no estimator was given")
        pred = estimator.predict(nets, [hw])
        key = "latency_ms" if "latency_ms" in pred else "latency"
        lat = np.asarray(pred[key], dtype=np.float64)[:, 0]
        if not np.all(np.isfinite(lat)) or np.any(lat < 0):
            raise CodesignError(f"supernet: the estimator predicted a negative or non-finite latency on {hw.name}")
    block = [np.zeros(len(p.candidates)) for p in pos]
    for (i, j), v in zip(where, lat[2:]):
        block[i][j] = v
    return LatencyTable(hw.name, cfg.latency_source, tuple(block), float(lat[0]), float(lat[1]))


def _load_hw(h) -> Hardware:
    try:
        return load_hardware(h)
    except AccelsimError as exc:
        raise CodesignError(str(exc)) from None


# ------------------------------------------------------------------------------------ torch modules
def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class BlockBranch(nn.Module):
    """A candidate's residual branch: layer for layer what ``NetworkBuilder.ibn``/``fused_ibn`` emit."""

    def __init__(self, cand: Candidate, cin: int, cout: int, stride: int):
        super().__init__()
        mid = int(round(cin * cand.expansion))
        if cand.block == "ibn":
            layers = [_conv_bn(cin, mid, 1)] if mid != cin else []
            layers.append(_conv_bn(mid, mid, cand.kernel, stride, groups=mid))
        else:
            layers = [_conv_bn(cin, mid, cand.kernel, stride)]
        layers.append(_conv_bn(mid, cout, 1, act=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Zero(nn.Module):
    """The skip candidate's branch (only at residual positions, so the block becomes the identity)."""

    def forward(self, x):
        return torch.zeros_like(x)


class MixedOp(nn.Module):
    """All candidates of one position and their architecture parameters ``alpha``."""

    def __init__(self, position: Position):
        super().__init__()
        self.position = position
        cin = position.in_shape[2]
        self.candidates = nn.ModuleList(Zero() if c.block == SKIP else
                                        BlockBranch(c, cin, position.out_channels, position.stride)
                                        for c in position.candidates)
        self.alpha = nn.Parameter(torch.zeros(len(position.candidates)))

    def forward(self, x, active: int, inactive: int | None = None, gates: torch.Tensor | None = None):
        """Run candidate ``active``; with ``gates`` (binary, requires grad) also ``inactive``, graph-free,
        so that backward yields dL/dgate for both."""
        y = self.candidates[active](x)
        if gates is not None:
            with torch.no_grad():
                other = self.candidates[inactive](x)
            y = gates[0] * y + gates[1] * other
        return x + y if self.position.residual else y


class Supernet(nn.Module):
    """The over-parameterised network: fixed stem and head around one MixedOp per position."""

    def __init__(self, cfg: SupernetConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.positions = positions(cfg)
        self.stem = _conv_bn(cfg.in_channels, cfg.stem_channels, 3, 2)
        self.mixed = nn.ModuleList(MixedOp(p) for p in self.positions)
        self.head = _conv_bn(self.positions[-1].out_channels, cfg.head_channels, 1)
        self.classifier = nn.Linear(cfg.head_channels, cfg.num_classes)
        self.reset_parameters(generator or torch.Generator().manual_seed(cfg.seed))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """ProxylessNAS's initialisation (He normal, fan-out), drawn from ``generator`` only."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                    m.bias.zero_()
            for mo in self.mixed:
                mo.alpha.zero_()

    def arch_parameters(self) -> list:
        return [m.alpha for m in self.mixed]

    def weight_parameters(self) -> list:
        arch = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x, path: Sequence[int], others: Sequence | None = None, gates: Sequence | None = None):
        """Logits along ``path`` (one candidate index per position); ``others``/``gates`` give the
        inactive candidate and binary gates of an architecture step (None entries: single path)."""
        x = self.stem(x)
        for i, m in enumerate(self.mixed):
            g = None if gates is None else gates[i]
            x = m(x, path[i], None if g is None else others[i], g)
        x = self.head(x).mean(dim=(2, 3))
        return self.classifier(x)

    def probs(self) -> list:
        """softmax(alpha) per position (tensors, differentiable)."""
        return [torch.softmax(m.alpha, dim=0) for m in self.mixed]

    def expected_latency_ms(self, table: LatencyTable) -> torch.Tensor:
        """fixed + sum_pos softmax(alpha_pos) . lat[pos], differentiable in alpha."""
        total = torch.zeros((), dtype=torch.float64, device=self.mixed[0].alpha.device)
        for p, lat in zip(self.probs(), table.block_ms):
            total = total + (p.double() * torch.as_tensor(lat, device=p.device)).sum()
        return total + table.fixed_ms

    def argmax_path(self) -> list:
        return [int(torch.argmax(m.alpha.detach()).item()) for m in self.mixed]

    def derive(self) -> "DerivedArch":
        return derive(self)


# ------------------------------------------------------------------------------------ derivation
@dataclass(frozen=True)
class DerivedArch:
    """The most probable candidate per position, as choices, an IR network and (if uniform) a genome."""

    choices: tuple                 # Candidate per position
    path: tuple                    # candidate index per position
    network: Network
    genome: NetworkGenome | None   # None when a stage's kept blocks differ

    @property
    def names(self) -> tuple:
        return tuple(c.name for c in self.choices)


def derive(supernet: Supernet, name: str = "supernet-derived") -> DerivedArch:
    """The argmax-alpha architecture of a supernet."""
    path = supernet.argmax_path()
    choices = tuple(p.candidates[j] for p, j in zip(supernet.positions, path))
    cfg = supernet.cfg
    return DerivedArch(choices, tuple(path), derived_network(cfg, choices, name), derived_genome(cfg, choices))


# ------------------------------------------------------------------------------------ gradient pieces
def binary_gate_alpha_grad(alpha_pair: torch.Tensor, gate_grad: torch.Tensor) -> torch.Tensor:
    """ProxylessNAS's BinaryConnect gradient over the sampled candidates:
    dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - sum_j p_j dL/dg_j),
    with p the softmax over ``alpha_pair``."""
    p = torch.softmax(alpha_pair, dim=0)
    return p * (gate_grad - (p * gate_grad).sum())


def combine_loss(ce: torch.Tensor, expected_ms: torch.Tensor, cfg: SupernetConfig, target_ms: float) -> torch.Tensor:
    """The architecture loss: "add" CE + w (E - T)/T, or "mul" CE (E/T)^w."""
    ratio = expected_ms.to(ce.dtype) / target_ms
    if cfg.loss_form == "mul":
        return ce * ratio ** cfg.latency_weight
    return ce + cfg.latency_weight * (ratio - 1.0)


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def _np_probs(alpha: torch.Tensor) -> np.ndarray:
    p = torch.softmax(alpha.detach().double(), dim=0).cpu().numpy()
    return p / p.sum()


def sample_path(supernet: Supernet, rng: np.random.Generator) -> list:
    """One candidate per position, drawn from softmax(alpha) (the binarised path of a weight step)."""
    return [int(rng.choice(len(p), p=p)) for p in (_np_probs(m.alpha) for m in supernet.mixed)]


def sample_pairs(supernet: Supernet, rng: np.random.Generator) -> tuple:
    """Per position (active, inactive): two distinct candidates drawn by softmax(alpha), then the
    active one drawn from the softmax over the two. Single-candidate positions get (0, None)."""
    active, inactive = [], []
    for m in supernet.mixed:
        n = len(m.alpha)
        if n == 1:
            active.append(0)
            inactive.append(None)
            continue
        pair = rng.choice(n, size=2, replace=False, p=_np_probs(m.alpha))
        c = int(rng.choice(2, p=_np_probs(m.alpha[torch.as_tensor(pair, device=m.alpha.device)])))
        active.append(int(pair[c]))
        inactive.append(int(pair[1 - c]))
    return active, inactive


def arch_step(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, table: LatencyTable, target_ms: float,
              optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> dict:
    """One architecture update (two-path binary gates + expected-latency gradient, then rescaling)."""
    cfg = supernet.cfg
    active, inactive = sample_pairs(supernet, rng)
    dev = x.device
    gates = [None if b is None else torch.tensor([1.0, 0.0], device=dev, requires_grad=True) for b in inactive]
    weights = supernet.weight_parameters()
    # Weight gradients are not needed here; turning them off saves most of the backward pass.
    flags = [p.requires_grad for p in weights]
    for p in weights:
        p.requires_grad_(False)
    try:
        logits = supernet(x, active, inactive, gates)
        ce = TF.cross_entropy(logits, y)
        expected = supernet.expected_latency_ms(table)
        loss = combine_loss(ce, expected, cfg, target_ms)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
    finally:
        for p, f in zip(weights, flags):
            p.requires_grad_(f)
    before, lat_parts, ce_parts = [], [], []
    with torch.no_grad():
        for m, a, b, g in zip(supernet.mixed, active, inactive, gates):
            if m.alpha.grad is None:
                m.alpha.grad = torch.zeros_like(m.alpha)
            lat_parts.append(m.alpha.grad.clone())
            ce_parts.append(torch.zeros_like(m.alpha))
            if g is None:
                before.append(None)
                continue
            idx = torch.tensor([a, b], device=m.alpha.device)
            old = m.alpha[idx].clone()
            ce_parts[-1][idx] = binary_gate_alpha_grad(old, g.grad.to(old.dtype))
            m.alpha.grad += ce_parts[-1]
            before.append((idx, old))
    optimizer.step()
    with torch.no_grad():
        for m, saved in zip(supernet.mixed, before):
            if saved is None:
                continue
            idx, old = saved
            new = m.alpha[idx]
            # Keep the two sampled candidates' total softmax mass: the others' odds stay put.
            m.alpha[idx] = new - (torch.logsumexp(new, 0) - torch.logsumexp(old, 0))
    # Root-mean-square alpha gradient of each loss term over all alphas: which one steers the search.
    rms = [float(torch.cat(parts).pow(2).mean().sqrt()) for parts in (lat_parts, ce_parts)]
    return {"arch_ce": float(ce.detach()), "arch_loss": float(loss.detach()),
            "expected_latency_ms": float(expected.detach()), "latency_grad_rms": rms[0], "ce_grad_rms": rms[1]}


def weight_step(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                rng: np.random.Generator) -> dict:
    """One weight update along a single path sampled from softmax(alpha)."""
    path = sample_path(supernet, rng)
    logits = supernet(x, path)
    ce = TF.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)   # unsampled candidates keep grad None: SGD leaves them alone
    ce.backward()
    optimizer.step()
    acc = float((logits.detach().argmax(1) == y).float().mean())
    return {"train_ce": float(ce.detach()), "train_acc": acc}


@torch.no_grad()
def evaluate(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, path: Sequence[int],
             calibration: torch.Tensor | None = None, batch_size: int = 256) -> float:
    """Accuracy of one path. With ``calibration`` images, BatchNorm statistics are first re-estimated
    for that path on a copy (running averages in the supernet mix every sampled path)."""
    net = supernet
    if calibration is not None:
        net = copy.deepcopy(supernet)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None   # cumulative average over the calibration batches
        net.train()
        for i in range(0, len(calibration), batch_size):
            net(calibration[i:i + batch_size], path)
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(x[i:i + batch_size], path).argmax(1) == y[i:i + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, len(x))


# ------------------------------------------------------------------------------------ data
def synthetic_dataset(n: int, resolution: int = 32, num_classes: int = 10, channels: int = 3, seed: int = 0,
                      noise: float = 0.6) -> tuple:
    """Oriented sine gratings, class = (orientation, spatial frequency), with jittered angle and
    frequency, random phase and per-channel gain, and Gaussian noise: images ``x`` (n, C, H, W)
    float32 and labels ``y`` (n,) int64. Learnable by a small CNN, not trivially."""
    if n <= 0 or resolution <= 0 or num_classes <= 0 or channels <= 0:
        raise CodesignError("synthetic_dataset: n, resolution, num_classes and channels must be positive")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(99,)))
    n_orient = max(1, math.ceil(num_classes / 2))
    y = rng.integers(num_classes, size=n)
    theta = np.pi * (y % n_orient) / n_orient + rng.normal(0.0, 0.06, n)
    cycles = np.where(y // n_orient == 0, 2.5, 5.0) * (1.0 + rng.normal(0.0, 0.05, n))
    phase = rng.uniform(0.0, 2 * np.pi, n)
    coords = (np.arange(resolution) - resolution / 2) / resolution
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    arg = 2 * np.pi * cycles[:, None, None] * (xx[None] * np.cos(theta)[:, None, None] +
                                                yy[None] * np.sin(theta)[:, None, None]) + phase[:, None, None]
    gain = rng.uniform(0.5, 1.5, (n, channels))
    x = gain[:, :, None, None] * np.sin(arg)[:, None] + rng.normal(0.0, noise, (n, channels, resolution, resolution))
    return x.astype(np.float32), y.astype(np.int64)


def save_npz(path: "str | os.PathLike", x: np.ndarray, y: np.ndarray) -> None:
    """Write ``x`` and ``y`` to an .npz (temporary file, then renamed into place)."""
    with atomic_open(path, binary=True) as fh:
        np.savez(fh, x=x, y=y)


def load_npz(path: "str | os.PathLike") -> tuple:
    """``x`` (N, C, H, W) and ``y`` (N,) integer class labels from an .npz, checked."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile, pickle and value errors all mean "not a readable npz"
        raise CodesignError(f"{path}: not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise CodesignError(f"{path}: missing key {key!r} (has {', '.join(sorted(arrays)) or 'no arrays'})")
    return _check_arrays(arrays["x"], arrays["y"], str(path))


def _check_arrays(x, y, where: str) -> tuple:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number):
        raise CodesignError(f"{where}: key 'x': expected a numeric array (N, C, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise CodesignError(f"{where}: key 'y': expected integer labels (N,), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise CodesignError(f"{where}: key 'y': {len(y)} labels for {len(x)} images")
    if len(y) and y.min() < 0:
        raise CodesignError(f"{where}: key 'y': labels must be >= 0, got {int(y.min())}")
    if not np.all(np.isfinite(x)):
        raise CodesignError(f"{where}: key 'x': has NaN or infinite values")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def as_arrays(data) -> tuple:
    """Images and labels from an .npz path, an (x, y) pair, a dict with x and y, or a torch Dataset
    of (image, label) items."""
    if isinstance(data, (str, os.PathLike)):
        return load_npz(data)
    if isinstance(data, dict):
        missing = [k for k in ("x", "y") if k not in data]
        if missing:
            raise CodesignError(f"data: missing key {missing[0]!r}")
        return _check_arrays(_np(data["x"]), _np(data["y"]), "data")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _check_arrays(_np(data[0]), _np(data[1]), "data")
    if isinstance(data, torch.utils.data.Dataset):
        items = [data[i] for i in range(len(data))]
        if not items:
            raise CodesignError("data: the dataset is empty")
        x = np.stack([_np(a) for a, _ in items])
        y = np.array([int(b) for _, b in items], dtype=np.int64)
        return _check_arrays(x, y, "data")
    raise CodesignError(f"data: expected an .npz path, an (x, y) pair, a dict or a torch Dataset, "
                        f"got {type(data).__name__}")


def _np(v) -> np.ndarray:
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


# ------------------------------------------------------------------------------------ checkpoints
def run_identity(cfg: SupernetConfig, hardware: Hardware, x: np.ndarray, y: np.ndarray, data=None, estimator=None,
                 estimator_path: "str | os.PathLike | None" = None) -> dict:
    """The identity (:mod:`codesign.identity`) of a supernet run's inputs: the config (less the
    fields that do not change what is computed), ``hardware`` in full, the training data (the
    file's checksum when ``data`` is a path, else the arrays'), the estimator when it gives the
    latencies (its checkpoint's checksum, or its weights'), and the engine model version."""
    parts = {"kind": "supernet",
             "config": {k: v for k, v in cfg.to_dict().items() if k not in _RESUME_NEUTRAL},
             "hardware": hardware}
    files = {}
    if isinstance(data, (str, os.PathLike)):
        files["training data"] = data
    else:
        h = hashlib.sha256()
        for a in (x, y):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        parts["data"] = {"shape": list(x.shape), "sha256": h.hexdigest()}
    if cfg.latency_source == "estimator":
        if estimator_path is not None:
            files["estimator checkpoint"] = estimator_path
        else:
            parts["estimator"] = _estimator_digest(estimator)
    parts["files"] = files
    return identity(parts)


def _estimator_digest(estimator) -> str:
    """sha256 over an in-memory Estimator's mode, scale and weights (its type name for anything else)."""
    h = hashlib.sha256(type(estimator).__qualname__.encode())
    families = getattr(estimator, "families", None)
    if isinstance(families, dict):
        h.update(f"{getattr(estimator, 'mode', '')}/{getattr(estimator, 'output_scale', '')}".encode())
        for name in sorted(families):
            fm = families[name]
            h.update(name.encode())
            for k, v in fm.mlp.state_dict().items():
                h.update(k.encode())
                h.update(np.ascontiguousarray(v.detach().cpu().numpy()).tobytes())
            for a in (fm.x_mean, fm.x_std):
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_checkpoint(path: "str | os.PathLike", supernet: Supernet, weight_opt, arch_opt, step: int,
                    history: list, target_ms: float, hw_key: str, inputs: dict | None = None) -> None:
    """Weights, alphas, both optimizers' state, the step and ``inputs`` (the run's identity, see
    :func:`run_identity`), written atomically with :func:`accelsim.io.save_checkpoint`."""
    blob = {"codesign_version": __version__,
            "config": supernet.cfg.to_dict(), "hardware_key": hw_key, "step": int(step),
            "identity": json.dumps(inputs) if inputs is not None else None,
            "target_ms": float(target_ms),
            "model": {k: v.detach().cpu() for k, v in supernet.state_dict().items()},
            "weight_opt": _cpu(weight_opt.state_dict()), "arch_opt": _cpu(arch_opt.state_dict()),
            "history": history}
    write_checkpoint(path, blob, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def _cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def read_checkpoint(path: "str | os.PathLike") -> dict:
    """The checkpoint's contents, checked for format and version; a damaged file raises CodesignError."""
    path = Path(path)
    blob = load_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, what="supernet", error=CodesignError)
    if not isinstance(blob, dict):
        raise CodesignError(f"{path}: malformed supernet checkpoint (expected a mapping)")
    for key in ("config", "step", "model", "weight_opt", "arch_opt", "history", "target_ms", "hardware_key"):
        if key not in blob:
            raise CodesignError(f"{path}: malformed supernet checkpoint (no {key!r})")
    return blob


def _stored_identity(path: Path, blob: dict) -> "dict | None":
    text = blob.get("identity")
    if text is None:
        return None
    try:
        ident = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise CodesignError(f"{path}: malformed supernet checkpoint (unreadable identity)") from None
    return ident if isinstance(ident, dict) else None


def _resume(path: Path, blob: dict, cfg: SupernetConfig, ident: dict, table: LatencyTable, supernet: Supernet,
            weight_opt, arch_opt):
    stored = _stored_identity(path, blob)
    # everything but the hardware must match; the hardware may change while the warm-up lasts
    check_same(None if stored is None else {k: v for k, v in stored.items() if k != "hardware"},
               {k: v for k, v in ident.items() if k != "hardware"}, str(path), "this checkpoint")
    step, history, target_ms = int(blob["step"]), list(blob["history"]), float(blob["target_ms"])
    other_hw = fingerprint({"h": stored.get("hardware")}) != fingerprint({"h": ident["hardware"]})
    if other_hw and step > cfg.warmup_steps:
        change = describe_change({"hardware": stored.get("hardware")}, {"hardware": ident["hardware"]})
        raise CodesignError(f"{path}: checkpoint was written for another hardware config "
                            f"({change}) after architecture steps began; "
                            "rerun with --force-new to start afresh (the old folder is moved aside, not deleted) "
                            "or use another output folder")
    try:
        supernet.load_state_dict(blob["model"])
        weight_opt.load_state_dict(blob["weight_opt"])
        arch_opt.load_state_dict(blob["arch_opt"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CodesignError(f"{path}: malformed supernet checkpoint ({str(exc).splitlines()[0]})") from None
    if other_hw:
        # Before the first architecture step nothing depends on the hardware (alphas are still
        # uniform), so a warm-up can be shared between targets; only the latency bookkeeping changes.
        if cfg.target_ms is None:
            target_ms = table.uniform_ms()
        with torch.no_grad():
            e = float(supernet.expected_latency_ms(table))
        history = [{**r, "expected_latency_ms": e} for r in history]
    return step, history, target_ms


# ------------------------------------------------------------------------------------ training
@dataclass
class SupernetResult:
    """A finished search: the derived architecture, final probabilities, latencies and history."""

    config: SupernetConfig
    hardware: str
    derived: DerivedArch
    probs: tuple                    # per position: softmax(alpha) as a tuple of floats
    candidate_names: tuple          # per position: the candidates' names, in alpha order
    table: LatencyTable
    target_ms: float                # T of the latency loss
    expected_latency_ms: float      # E[lat] under the final softmax
    path_latency_ms: float          # table sum along the derived path (fixed parts included)
    simulated_latency_ms: float     # accelsim on the whole derived network
    val_accuracy: float             # derived path on the held-out split (BatchNorm re-estimated)
    history: list = field(default_factory=list)
    resumed_from: int = 0           # step the run started at (0 unless resumed)
    seconds: float = 0.0
    device: str = "cpu"
    moved_aside: "Path | None" = None   # train_in_folder with force_new: where the earlier run went

    @property
    def latency_gap_ms(self) -> float:
        """Simulated latency of the derived network minus the expected latency under the softmax."""
        return self.simulated_latency_ms - self.expected_latency_ms

    def choices(self) -> list:
        """Per position: name, chosen candidate and its probability."""
        return [{"position": p.name, "choice": c.name, "prob": float(self.probs[p.index][j]),
                 "latency_ms": float(self.table.block_ms[p.index][j])}
                for p, c, j in zip(positions(self.config), self.derived.choices, self.derived.path)]

    def summary(self) -> dict:
        return {"hardware": self.hardware, "choices": list(self.derived.names),
                "expected_latency_ms": self.expected_latency_ms, "path_latency_ms": self.path_latency_ms,
                "simulated_latency_ms": self.simulated_latency_ms, "latency_gap_ms": self.latency_gap_ms,
                "target_ms": self.target_ms, "val_accuracy": self.val_accuracy, "seconds": self.seconds,
                "device": self.device, "genome": self.derived.genome.to_dict() if self.derived.genome else None}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CodesignError(f"device {name!r}: CUDA is not available here")
    return torch.device(name)


def _batch(n: int, batch_size: int, seed: int, stream: int, step: int) -> np.ndarray:
    """Indices of batch ``step`` of a shuffled pass (reshuffled each epoch, last partial batch dropped)."""
    per_epoch = max(1, n // batch_size)
    epoch, b = divmod(step, per_epoch)
    perm = _rng(seed, stream, epoch).permutation(n)
    return perm[b * batch_size:(b + 1) * batch_size]


def train_supernet(cfg: SupernetConfig, data, hardware: "Hardware | str | None" = None, estimator=None,
                   checkpoint: "str | os.PathLike | None" = None, progress: bool = True,
                   log: Callable[[str], None] | None = None, stop_after: int | None = None,
                   estimator_path: "str | os.PathLike | None" = None) -> SupernetResult:
    """Search with ProxylessNAS's alternating weight / architecture steps; return the derived network.

    ``data``: an .npz path (keys ``x`` (N, C, H, W) and ``y`` (N,)), an (x, y) pair, a dict or a
    torch Dataset. A ``val_fraction`` share is held out for architecture steps and the final
    accuracy. ``hardware`` (a config or name) overrides ``cfg.hardware``. With ``checkpoint``, state
    is saved there every ``checkpoint_every`` steps and at the end, and an existing file is resumed
    (it must come from the same config and hardware); a resumed run ends exactly as an
    uninterrupted one. A checkpoint taken before the first architecture step (``stop_after=
    cfg.warmup_steps``) may be resumed on another hardware config: the warm-up is shared.
    ``stop_after`` ends the run once that many steps are done (checkpoint written) and reports the
    state then. ``log`` receives a line every tenth of the run. ``estimator_path``: the checkpoint
    ``estimator`` was loaded from (its checksum then names it in the run's identity).
    """
    t0 = time.perf_counter()
    hw = _load_hw(hardware if hardware is not None else cfg.hardware)
    hw_key = hardware_key(hw)
    device = resolve_device(cfg.device)
    x_all, y_all = as_arrays(data)
    where = str(data) if isinstance(data, (str, os.PathLike)) else "data"
    want = (cfg.in_channels, cfg.resolution, cfg.resolution)
    if tuple(x_all.shape[1:]) != want:
        raise CodesignError(f"{where}: images are {tuple(x_all.shape[1:])} (C, H, W), the supernet config "
                            f"expects {want}")
    if len(y_all) and y_all.max() >= cfg.num_classes:
        raise CodesignError(f"{where}: label {int(y_all.max())} is out of range for num_classes={cfg.num_classes}")
    perm = _rng(cfg.seed, _STREAM_SPLIT, 0).permutation(len(y_all))
    n_val = int(round(len(y_all) * cfg.val_fraction))
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if len(train_idx) < cfg.batch_size or len(val_idx) < cfg.batch_size:
        raise CodesignError(f"{where}: {len(train_idx)} training and {len(val_idx)} held-out samples; each split "
                            f"needs at least batch_size={cfg.batch_size}")
    x_tr = torch.from_numpy(x_all[train_idx]).to(device)
    y_tr = torch.from_numpy(y_all[train_idx]).to(device)
    x_va = torch.from_numpy(x_all[val_idx]).to(device)
    y_va = torch.from_numpy(y_all[val_idx]).to(device)

    table = latency_table(cfg, hw, estimator)
    ident = run_identity(cfg, hw, x_all, y_all, data, estimator, estimator_path) if checkpoint is not None else None
    net = Supernet(cfg, torch.Generator().manual_seed(cfg.seed)).to(device)
    weight_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.weight_lr, momentum=0.9, nesterov=True,
                                 weight_decay=cfg.weight_decay)
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.0, 0.999), eps=1e-8)
    target_ms = cfg.target_ms if cfg.target_ms is not None else table.uniform_ms()
    start, history = 0, []
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        start, history, target_ms = _resume(ckpt, read_checkpoint(ckpt), cfg, ident, table, net, weight_opt,
                                            arch_opt)
        if log:
            log(f"resumed {ckpt} at step {start}")

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=min(start, cfg.steps), unit="step", desc=f"supernet {hw.name}",
               disable=not progress)
    every = max(1, cfg.steps // 10)
    end = cfg.steps if stop_after is None else max(start, min(cfg.steps, int(stop_after)))
    net.train()
    for step in range(start, end):
        for g in weight_opt.param_groups:
            g["lr"] = 0.5 * cfg.weight_lr * (1.0 + math.cos(math.pi * step / cfg.steps))
        b = torch.from_numpy(_batch(len(y_tr), cfg.batch_size, cfg.seed, _STREAM_TRAIN, step)).to(device)
        rec = {"step": step, **weight_step(net, x_tr[b], y_tr[b], weight_opt, _rng(cfg.seed, _STREAM_PATH, step))}
        after = step - cfg.warmup_steps
        if after >= 0 and after % cfg.arch_every == 0:
            k = after // cfg.arch_every
            vb = torch.from_numpy(_batch(len(y_va), cfg.batch_size, cfg.seed, _STREAM_VAL, k)).to(device)
            rec.update(arch_step(net, x_va[vb], y_va[vb], table, target_ms, arch_opt,
                                 _rng(cfg.seed, _STREAM_ARCH, step)))
        else:
            with torch.no_grad():
                rec["expected_latency_ms"] = float(net.expected_latency_ms(table))
        history.append(rec)
        done = step + 1
        if ckpt is not None and (done % cfg.checkpoint_every == 0 or done == end):
            save_checkpoint(ckpt, net, weight_opt, arch_opt, done, history, target_ms, hw_key, ident)
        bar.update(1)
        bar.set_postfix(ce=f"{rec['train_ce']:.3f}", lat=f"{rec['expected_latency_ms']:.4f}ms")
        if log and (done % every == 0 or done == cfg.steps):
            log(f"step {done}/{cfg.steps}: train CE {rec['train_ce']:.3f}, expected latency "
                f"{rec['expected_latency_ms']:.4f} ms (target {target_ms:.4f})")
    bar.close()
    if log and end < cfg.steps:
        log(f"stopped at step {end}/{cfg.steps}")

    derived = derive(net)
    with torch.no_grad():
        probs = tuple(tuple(float(v) for v in p.cpu()) for p in net.probs())
        expected = float(net.expected_latency_ms(table))
    calib = x_tr[torch.from_numpy(_batch(len(y_tr), min(len(y_tr), 512), cfg.seed, _STREAM_TRAIN, 0)).to(device)]
    acc = evaluate(net, x_va, y_va, list(derived.path), calibration=calib)
    simulated = simulate(derived.network, hw).latency_ms
    return SupernetResult(config=cfg, hardware=hw.name, derived=derived, probs=probs,
                          candidate_names=tuple(tuple(c.name for c in p.candidates) for p in net.positions),
                          table=table, target_ms=float(target_ms), expected_latency_ms=expected,
                          path_latency_ms=table.path_ms(derived.path), simulated_latency_ms=float(simulated),
                          val_accuracy=acc, history=history, resumed_from=start,
                          seconds=time.perf_counter() - t0, device=str(device))


RESULT_FILE, CHECKPOINT_FILE = "result.json", "checkpoint.pt"


def train_in_folder(cfg: SupernetConfig, data, out: "str | os.PathLike", hardware: "Hardware | str | None" = None,
                    estimator=None, estimator_path: "str | os.PathLike | None" = None, force_new: bool = False,
                    progress: bool = True, log: Callable[[str], None] | None = None) -> SupernetResult:
    """:func:`train_supernet` with ``out/checkpoint.pt`` (resumed when there), then ``out/result.json``.
    The folder is locked for the call; ``force_new`` first moves a non-empty folder aside to
    ``out.old-<time>`` (``SupernetResult.moved_aside``)."""
    out = Path(out)
    with claim_folder(out, force_new=force_new) as moved:
        r = train_supernet(cfg, data, hardware, estimator, checkpoint=out / CHECKPOINT_FILE, progress=progress,
                           log=log, estimator_path=estimator_path)
        write_atomic(out / RESULT_FILE, json.dumps({**r.summary(), "positions": r.choices()}, indent=1,
                                                   default=float))
    r.moved_aside = moved
    return r


__all__ = ["SupernetConfig", "Candidate", "Position", "positions", "Supernet", "MixedOp", "LatencyTable",
           "latency_table", "candidate_network", "stem_network", "head_network", "derived_network",
           "derived_genome", "DerivedArch", "derive", "binary_gate_alpha_grad", "combine_loss", "arch_step",
           "weight_step", "sample_path", "sample_pairs", "evaluate", "synthetic_dataset", "load_npz", "save_npz",
           "as_arrays", "save_checkpoint", "read_checkpoint", "SupernetResult", "train_supernet", "resolve_device",
           "run_identity", "train_in_folder"]
