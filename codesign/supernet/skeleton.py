"""The accelsim-IR side of the supernet: the searchable positions of the skeleton and the networks
built from them.

The fixed macro skeleton is a 3x3 stride-2 stem, stages of searchable blocks, a 1x1 head, pooling
and a classifier: the shape :func:`codesign.spaces.space.build_network` gives a genome. Each block
position (:class:`Position`) may take every candidate block (:class:`Candidate`: IBN or fused IBN x
kernel x expansion, plus "skip" for the non-first blocks of a stage). :func:`candidate_network`,
:func:`stem_network` and :func:`head_network` build the pieces the latency table measures;
:func:`derived_network` and :func:`derived_genome` turn one choice per position into the whole
network (and, when each stage is uniform, its genome). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from accelsim.workload.ir import Network, NetworkBuilder

from ..errors import CodesignError
from ..spaces.space import NetworkGenome, StageGene
from .config import SKIP, SupernetConfig


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
