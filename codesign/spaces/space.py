"""Search spaces: a network genome (stages of IBN / fused-IBN blocks) and a hardware genome.

Both are frozen dataclasses of plain values, so a genome hashes, compares and serialises to JSON.
``space.sample(rng)`` draws a genome with a ``numpy.random.Generator`` (the only source of
randomness); ``space.build(genome)`` turns it into an accelsim ``Network`` (built directly with
``NetworkBuilder``, no torch) or a ``Hardware`` (the space's base config with fields replaced).

Channel widths are either *curated* (multiples of ``channel_multiple``, e.g. the array width) or
*free* (any integer in the same range), so an experiment can show what curation buys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from accelsim import precision as prec
from accelsim.config import Hardware, PrecisionConfig, load_hardware
from accelsim.workload.ir import Network, NetworkBuilder

from ..errors import CodesignError

BLOCKS = ("ibn", "fused_ibn")


def stable_hash(obj) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (dicts sorted), as hex."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(o):
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"cannot hash {type(o).__name__}")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------------------------ networks
@dataclass(frozen=True)
class StageGene:
    """One stage: ``depth`` blocks of one type; the first block has the stage's stride."""

    block: str        # "ibn" (1x1 expand, kxk depthwise, 1x1 project) or "fused_ibn" (kxk expand, 1x1 project)
    kernel: int       # 3, 5 or 7
    expansion: int    # expanded channels / input channels
    depth: int        # blocks before the global depth multiplier
    channels: int     # output channels
    stride: int       # stride of the first block
    precision: str = ""   # weights and activations of this stage ("": the network's precision)


@dataclass(frozen=True)
class NetworkGenome:
    resolution: int           # input is resolution x resolution x 3
    stem_channels: int        # 3x3 stride-2 stem conv
    stages: tuple             # StageGene per stage
    head_channels: int        # 1x1 conv before global pooling
    depth_multiplier: float   # stage depth = max(1, round(depth * multiplier))
    num_classes: int = 1000
    precision: str = "int8"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for stage in d["stages"]:   # absent when unset, so genomes without it keep their hashes
            if not stage["precision"]:
                del stage["precision"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkGenome":
        try:
            stages = tuple(StageGene(**s) for s in d["stages"])
            return cls(**{**d, "stages": stages})
        except (KeyError, TypeError) as exc:
            raise CodesignError(f"network genome: malformed ({exc})") from None

    def key(self) -> str:
        return stable_hash(self.to_dict())[:16]

    def stage_depths(self) -> tuple:
        return tuple(max(1, int(s.depth * self.depth_multiplier + 0.5)) for s in self.stages)


@dataclass(frozen=True)
class NetworkSpace:
    """MobileNet-like macro skeleton; each stage's block, kernel, expansion, depth and width vary."""

    strides: tuple = (1, 2, 2, 2, 1, 2, 1)
    base_channels: tuple = (16, 24, 32, 64, 96, 160, 320)
    width_range: tuple = (0.5, 1.5)       # stage channels lie in [lo, hi] x base channels
    channel_mode: str = "curated"         # "curated" (multiples of channel_multiple) or "free" (steps of 1)
    channel_multiple: int = 8
    blocks: tuple = BLOCKS
    kernels: tuple = (3, 5, 7)
    expansions: tuple = (1, 3, 4, 6)
    depths: tuple = (1, 2, 3, 4)
    depth_multipliers: tuple = (0.75, 1.0, 1.25)
    resolutions: tuple = (96, 128, 160, 192, 224)
    stem_channels: tuple = (16, 24, 32)
    head_channels: tuple = (640, 960, 1280)
    num_classes: int = 1000
    precision: str = "int8"
    stage_precisions: tuple = ()          # per-stage formats to choose from (empty: all stages use precision)

    def __post_init__(self):
        if len(self.strides) != len(self.base_channels):
            raise CodesignError("network space: strides and base_channels need one entry per stage")
        if self.channel_mode not in ("curated", "free"):
            raise CodesignError(f"network space: channel_mode: expected curated or free, got {self.channel_mode!r}")
        if self.channel_multiple <= 0:
            raise CodesignError(f"network space: channel_multiple: expected a positive integer, got {self.channel_multiple}")
        for b in self.blocks:
            if b not in BLOCKS:
                raise CodesignError(f"network space: blocks: expected {' or '.join(BLOCKS)}, got {b!r}")
        for p in (self.precision,) + tuple(self.stage_precisions):
            if p not in prec.INDEX:
                raise CodesignError(f"network space: precision: expected one of {', '.join(prec.NAMES)}, got {p!r}")

    def channel_choices(self, stage: int) -> tuple:
        """Allowed output channels of a stage: curated multiples, or every integer in the range."""
        lo = max(1, int(np.ceil(self.base_channels[stage] * self.width_range[0])))
        hi = max(lo, int(self.base_channels[stage] * self.width_range[1]))
        if self.channel_mode == "free":
            return tuple(range(lo, hi + 1))
        m = self.channel_multiple
        first = max(m, -(-lo // m) * m)
        return tuple(range(first, max(first, hi) + 1, m))

    def sample(self, rng: np.random.Generator) -> NetworkGenome:
        stages = tuple(StageGene(block=str(_pick(rng, self.blocks)), kernel=int(_pick(rng, self.kernels)),
                                 expansion=int(_pick(rng, self.expansions)), depth=int(_pick(rng, self.depths)),
                                 channels=int(_pick(rng, self.channel_choices(i))), stride=int(s),
                                 precision=str(_pick(rng, self.stage_precisions)) if self.stage_precisions else "")
                       for i, s in enumerate(self.strides))
        return NetworkGenome(resolution=int(_pick(rng, self.resolutions)),
                             stem_channels=int(_pick(rng, self.stem_channels)), stages=stages,
                             head_channels=int(_pick(rng, self.head_channels)),
                             depth_multiplier=float(_pick(rng, self.depth_multipliers)),
                             num_classes=self.num_classes, precision=self.precision)

    def build(self, genome: NetworkGenome) -> Network:
        return build_network(genome)


def build_network(genome: NetworkGenome, name: str | None = None) -> Network:
    """The genome as an accelsim network: stem, stages of blocks, 1x1 head, pooling, classifier.

    Block ids: "stem.0", "s<stage>.b<block>" (stamped by ibn/fused_ibn from their names), "head.0"."""
    g = genome
    b = NetworkBuilder(name or f"net-{g.key()}", (g.resolution, g.resolution, 3), g.precision)
    with b.block("stem.0"):
        x = b.conv(b.input, g.stem_channels, 3, 2, activation="relu6", name="stem")
    for si, (stage, depth) in enumerate(zip(g.stages, g.stage_depths())):
        x = b.splice(_stage_layers(si, stage, depth, b.shape(x), stage.precision or g.precision), x)
    with b.block("head.0"):
        x = b.conv(x, g.head_channels, 1, activation="relu6", name="head")
        x = b.global_avg_pool(x, name="pool")
        b.linear(x, g.num_classes, name="classifier")
    return b.build()


# A search mutates one gene at a time, so most stages of a new genome were built before: the layers
# of a stage are cached by everything they depend on and spliced in.
_STAGES: OrderedDict = OrderedDict()
_STAGE_CACHE_SIZE = 4096    # ~10 layers each; a few tens of MB at most


def _stage_layers(si: int, stage: StageGene, depth: int, in_shape: tuple, precision: str) -> tuple:
    key = (si, stage.block, stage.kernel, stage.expansion, stage.channels, stage.stride, depth, in_shape, precision)
    hit = _STAGES.get(key)
    if hit is not None:
        _STAGES.move_to_end(key)
        return hit
    b = NetworkBuilder("stage", in_shape, precision)
    block = b.ibn if stage.block == "ibn" else b.fused_ibn
    x = b.input
    for i in range(depth):
        x = block(x, stage.channels, expansion=stage.expansion, kernel=stage.kernel,
                  stride=stage.stride if i == 0 else 1, name=f"s{si}.b{i}")
    layers = tuple(b.layers)
    _STAGES[key] = layers
    if len(_STAGES) > _STAGE_CACHE_SIZE:
        _STAGES.popitem(last=False)
    return layers


# ------------------------------------------------------------------------------------ hardware
# Per-format numbers for formats the base config lacks: (MACs/PE/cycle, pJ/MAC, vector ops/lane/cycle).
# Same assumptions as hw_configs/neural_engine.yaml (Horowitz ISSCC 2014, scaled to ~7 nm).
FORMAT_DEFAULTS = {
    "int4": (4, 0.05, 4.0),
    "int8": (2, 0.12, 2.0),
    "int16": (1, 0.45, 1.0),
    "fp16": (1, 0.75, 1.0),
    "bf16": (1, 0.70, 1.0),
    "fp32": (1, 2.0, 1.0),
}


@dataclass(frozen=True)
class HardwareGenome:
    rows: int
    cols: int
    dataflow: str
    vector_lanes: int
    unified_kb: float          # 0: separate ifmap/filter/ofmap buffers
    ifmap_kb: float
    filter_kb: float
    ofmap_kb: float
    dram_gb_per_s: float
    precisions: tuple          # formats the MAC array (and vector unit) support
    clock_mhz: float = 0.0     # 0: the base config's clock

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not d["clock_mhz"]:   # absent when unset, so genomes without it keep their hashes
            del d["clock_mhz"]
        return d

    def key(self) -> str:
        return stable_hash(self.to_dict())[:16]


@dataclass(frozen=True)
class HardwareSpace:
    """Hardware parameters varied around a base config (everything else stays as in the base)."""

    base: str = "neural_engine"
    rows: tuple = (8, 12, 16, 24, 32, 48, 64, 96, 128)
    cols: tuple = (8, 12, 16, 24, 32, 48, 64, 96, 128)
    dataflows: tuple = ("os", "ws", "is")
    vector_lanes: tuple = (16, 32, 64, 128)
    sram_kb: tuple = (32, 64, 128, 256, 512, 1024, 2048)             # each separate buffer
    unified_kb: tuple = (256, 512, 1024, 2048, 4096, 8192)
    unified_probability: float = 0.25
    dram_gb_per_s: tuple = (6.4, 12.8, 25.6, 51.2, 102.4)
    precision_sets: tuple = (("int8",), ("int8", "int16"), ("int8", "int16", "fp16"),
                             ("int8", "fp16", "bf16"), ("int4", "int8", "int16"))
    clocks_mhz: tuple = ()                                           # empty: the base clock

    def __post_init__(self):
        for s in self.precision_sets:
            for p in s:
                if p not in prec.INDEX:
                    raise CodesignError(f"hardware space: precision_sets: unknown format {p!r}")

    def base_hardware(self) -> Hardware:
        return load_hardware(self.base)

    def sample(self, rng: np.random.Generator) -> HardwareGenome:
        unified = rng.random() < self.unified_probability
        return HardwareGenome(
            rows=int(_pick(rng, self.rows)), cols=int(_pick(rng, self.cols)),
            dataflow=str(_pick(rng, self.dataflows)), vector_lanes=int(_pick(rng, self.vector_lanes)),
            unified_kb=float(_pick(rng, self.unified_kb)) if unified else 0.0,
            ifmap_kb=0.0 if unified else float(_pick(rng, self.sram_kb)),
            filter_kb=0.0 if unified else float(_pick(rng, self.sram_kb)),
            ofmap_kb=0.0 if unified else float(_pick(rng, self.sram_kb)),
            dram_gb_per_s=float(_pick(rng, self.dram_gb_per_s)),
            precisions=tuple(str(p) for p in _pick(rng, self.precision_sets)),
            clock_mhz=float(_pick(rng, self.clocks_mhz)) if self.clocks_mhz else 0.0)

    def build(self, genome: HardwareGenome, base: Hardware | None = None) -> Hardware:
        base = base or self.base_hardware()
        return build_hardware(base, genome)


def build_hardware(base: Hardware, g: HardwareGenome) -> Hardware:
    """``base`` with the genome's array, vector, SRAM, DRAM and formats (validated by Hardware.replace)."""
    have = {p.name: p for p in base.precisions}
    base_vops = dict(base.vector.ops_per_lane_per_cycle)
    precisions, vops = [], []
    for name in g.precisions:
        macs, e_mac, v = FORMAT_DEFAULTS[name]
        if name in have:
            precisions.append(have[name])
        else:
            precisions.append(PrecisionConfig(name=name, macs_per_pe_per_cycle=macs, energy_per_mac_pj=e_mac))
        vops.append((name, float(base_vops.get(name, v))))
    if g.unified_kb:
        sram = dict(unified_kb=float(g.unified_kb), ifmap_kb=None, filter_kb=None, ofmap_kb=None)
    else:
        sram = dict(unified_kb=None, ifmap_kb=float(g.ifmap_kb), filter_kb=float(g.filter_kb),
                    ofmap_kb=float(g.ofmap_kb))
    clock = {"array__clock_mhz": float(g.clock_mhz)} if g.clock_mhz else {}
    return base.replace(name=f"{base.name}-{g.key()[:8]}", array__rows=g.rows, array__cols=g.cols, **clock,
                        array__dataflow=g.dataflow, vector__lanes=g.vector_lanes,
                        vector__ops_per_lane_per_cycle=tuple(vops), precisions=tuple(precisions),
                        dram__bandwidth_gb_per_s=float(g.dram_gb_per_s),
                        **{f"sram__{k}": v for k, v in sram.items()})


def hardware_key(hw: Hardware) -> str:
    """Content hash of everything that affects cost (the name and description do not)."""
    d = dataclasses.asdict(hw)
    d.pop("name", None)
    d.pop("description", None)
    return stable_hash(d)[:16]


def hardware_pool(space: HardwareSpace, seed: int, count: int) -> list[Hardware]:
    """Config 0 is the base itself; config i >= 1 depends only on (seed, i), so a longer pool
    starts with the shorter one (the basis of 'seen' and 'held-out' hardware)."""
    base = space.base_hardware()
    pool = [base]
    for i in range(1, count):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))
        pool.append(build_hardware(base, space.sample(rng)))
    return pool[:count]
