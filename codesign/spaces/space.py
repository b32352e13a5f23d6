"""Search spaces: a network genome (stages of IBN / fused-IBN blocks) and a hardware genome.

Both are frozen dataclasses of plain values, so a genome hashes, compares and serialises to JSON.
``space.sample(rng)`` draws a genome with a ``numpy.random.Generator`` (the only source of
randomness); ``space.build(genome)`` turns it into an accelsim ``Network`` (built directly with
``NetworkBuilder``, no torch) or a ``Hardware`` (the space's base config with fields replaced).

Channel widths are either *curated* (multiples of ``channel_multiple``, e.g. the array width) or
*free* (any integer in the same range), so an experiment can show what curation buys.

A network ends in a classifier (global pooling + linear) or, when the genome carries a
:class:`HeadGene`, in a detection or segmentation head (:mod:`accelsim.workload.heads`: SSDLite,
LR-ASPP, DeepLabV3) on the backbone's feature maps; a space draws the head from ``heads`` (classifier
only by default). A genome without a head has the dict, key and network it had before heads existed.

Beyond MobileNetV2's layout, a genome can carry what other product models are made of (so that
:mod:`codesign.spaces.zoo_genomes` can write MobileNetV3, EfficientNet and MnasNet as genomes): a
squeeze-excite per stage (``StageGene.se``, :data:`SE_KINDS`), activations per network and per stage
(:data:`ACTIVATIONS`), expansion ratios that are not whole, a hidden classifier layer and no 1x1 head
conv. Each is left out of the dict at its default, so genomes that do not use them keep their keys.

Each space setting declares its unit, meaning and what it holds beside its field, from which
:data:`NETWORK_SPACE_SCHEMA` and :data:`HARDWARE_SPACE_SCHEMA` (JSON Schema, see :mod:`accelsim.schema`)
are built. Every way a space is made goes through its schema: ``NetworkSpace.from_dict`` (a run
config's ``space.network``) and the constructor alike; the rules between settings (one stride per
stage, ``width_range`` low <= high) are checked after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import operator
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from accelsim import precision as prec
from accelsim import schema
from accelsim.config import (ACTIVATION_POLICIES, DATAFLOWS, Hardware, PrecisionConfig, load_hardware, require_kind,
                             scalar_field_value)
from accelsim.errors import ConfigError, WorkloadError, quote
from accelsim.workload import heads as task_heads
from accelsim.workload.ir import MAX_DIM, MAX_ELEMENTS, Network, NetworkBuilder
from accelsim.workload.packed import PackedNetwork, RowBuilder
from accelsim.workload.rowfields import R_OC, R_OH
from accelsim.workload.mobilenet_arch import make_divisible

from ..errors import CodesignError

BLOCKS = ("ibn", "fused_ibn")
CHANNEL_MODES = ("curated", "free")
HEAD_KINDS = ("classifier",) + task_heads.HEADS   # what ends a network: pooling + linear, or a task head


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


def _ratio(v) -> "int | float":
    """An expansion ratio as a genome holds it: an int when whole (6, as genomes always held it), else
    the float (2.5)."""
    return int(v) if float(v).is_integer() else float(v)


# ------------------------------------------------------------------------------------ settings
# What a list-valued setting holds: "int" (positive whole numbers), "number" (positive numbers),
# "str" (names) or "strs" (non-empty lists of names).
_ELEMENT_WHAT = {"int": "positive whole numbers", "number": "positive numbers", "str": "names (strings)",
                 "strs": "lists of names (strings)"}


def _choices(unit: str, help: str, items: str, default: tuple, *, choices: "tuple | None" = None,
             words: "str | None" = None, expected: "str | None" = None, length: "int | None" = None):
    """Declare a list-valued space setting (what a search chooses from): unit, meaning, what each entry
    holds (``items``, see above), the names allowed (``choices``, ``words`` their error words) and, for
    a pair, its ``length``. The list must not be empty unless its default is."""
    return dataclasses.field(default=default, metadata={
        "unit": unit, "help": help, "items": items, "choices": choices, "words": words, "expected": expected,
        "length": length})


def _element(kind: str, choices, words) -> dict:
    what = _ELEMENT_WHAT[kind] + " in the list"
    if kind in ("int", "number"):
        node = {"type": "integer" if kind == "int" else "number", "exclusiveMinimum": 0, "x-finite": True,
                "x-expected": what, "x-in-list": True}
        if choices:
            node["allOf"] = [{"enum": list(choices), "x-in-list": True,
                              "x-expected": words or "one of " + ", ".join(map(str, choices))}]
        return node
    if kind == "strs":
        return {"type": "array", "minItems": 1, "x-expected": what, "x-in-list": True,
                "items": _element("str", choices, words)}
    node = {"type": "string", "minLength": 1, "x-expected": what, "x-in-list": True}
    if choices:
        node["allOf"] = [{"enum": list(choices), "x-in-list": True,
                          "x-expected": words or "one of " + ", ".join(choices)}]
    return node


def _setting_schema(f: dataclasses.Field) -> dict:
    """The schema of one space setting: a list declared with :func:`_choices`, else a scalar declared
    with ``schema.field``."""
    meta = f.metadata
    if "items" not in meta:
        return schema.field_schema(f)
    kind = meta["items"]
    node: dict = {"type": "array", "description": meta["help"], "x-unit": meta["unit"]}
    if meta["choices"]:
        node["x-range"] = ", ".join(map(str, meta["choices"]))
    elif kind in ("int", "number"):
        node["x-range"] = schema.range_text(integer=kind == "int", minimum=0)
    node["x-expected"] = meta["expected"] or f"a non-empty list of {_ELEMENT_WHAT[kind]}"
    if meta["length"]:
        node["minItems"] = node["maxItems"] = meta["length"]
    elif f.default:
        node["minItems"] = 1
    node["items"] = _element(kind, meta["choices"], meta["words"])
    return node


def _space_schema(cls) -> dict:
    """The settings of a space as a mapping: every field, each optional."""
    node = schema.obj({f.name: _setting_schema(f) for f in dataclasses.fields(cls)},
                      help=(cls.__doc__ or "").strip().split("\n")[0])
    node["x-expected"] = "a mapping of space settings"
    return node


def _settings(space) -> dict:
    return {f.name: getattr(space, f.name) for f in dataclasses.fields(space)}


def _from_dict(cls, node: dict, data: Mapping, source: str, at: str):
    """``cls`` from a mapping of its settings, checked against ``node`` and the rules between settings;
    lists become tuples, whole numbers ints."""
    data = schema.check(data, node, source, CodesignError, at)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        v, kind = data[f.name], f.metadata.get("items")
        if kind == "int":
            v = tuple(int(x) for x in v)
        elif kind:
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        elif f.type in ("int", int):
            v = int(v)
        kwargs[f.name] = v
    rule = cls._rule(kwargs)
    if rule is not None:
        key, text = rule
        path = ".".join(p for p in (at, key) if p)
        raise CodesignError(f"{source}: {path + ': ' if path else ''}{text}")
    return cls(**kwargs)


def _validate(space, node: dict, source: str) -> None:
    """A space made directly (not from a mapping) goes through its schema and rules too."""
    settings = _settings(space)
    schema.check(settings, node, source, CodesignError)
    rule = space._rule(settings)
    if rule is not None:
        key, text = rule
        raise CodesignError(f"{source}: {key + ': ' if key else ''}{text}")


# ------------------------------------------------------------------------------------ networks
# Activations a genome's convs may use, by the names the IR (and the torch importer) gives them.
ACTIVATIONS = ("relu", "relu6", "hardswish", "silu")
DEFAULT_ACTIVATION = "relu6"   # a genome's activation when it names none (MobileNetV2's)
# Squeeze-excite after the depthwise (ibn) or expansion (fused_ibn) conv, as the zoo's models have it:
# - mobilenet_v3 (Howard et al. 2019): squeeze to make_divisible(expanded / 4, 8) channels, ReLU,
#   hard-sigmoid gate;
# - efficientnet (MnasNet, Tan et al. 2019; EfficientNet, Tan & Le 2019): squeeze to a quarter of the
#   block's input channels (at least 1), the block's activation, sigmoid gate.
SE_KINDS = ("mobilenet_v3", "efficientnet")


def squeeze_excite(kind: str, in_channels: int, mid_channels: int, activation: str) -> tuple:
    """``(squeezed channels, activation, gate)`` of a block's squeeze-excite of ``kind`` (one of
    :data:`SE_KINDS`) for a block from ``in_channels`` expanded to ``mid_channels`` whose convs use
    ``activation``; ``(0, "", "")`` when ``kind`` is "" (no squeeze-excite)."""
    if not kind:
        return 0, "", ""
    if kind == "mobilenet_v3":
        return make_divisible(mid_channels // 4), "relu", "hardsigmoid"
    return max(1, int(in_channels * 0.25)), activation, "sigmoid"


def _bad_name(value, allowed: tuple) -> bool:
    return not isinstance(value, str) or (value != "" and value not in allowed)


@dataclass(frozen=True)
class StageGene:
    """One stage: ``depth`` blocks of one type; the first block has the stage's stride."""

    block: str        # "ibn" (1x1 expand, kxk depthwise, 1x1 project) or "fused_ibn" (kxk expand, 1x1 project)
    kernel: int       # 3, 5 or 7
    expansion: float  # expanded / input channels: an int when whole (6), else a float (2.5); expanded
                      # channels are round(input channels * expansion)
    depth: int        # blocks before the global depth multiplier
    channels: int     # output channels
    stride: int       # stride of the first block
    precision: str = ""   # weights and activations of this stage ("": the network's precision)
    se: str = ""          # squeeze-excite in every block: "" none, or one of SE_KINDS
    activation: str = ""  # activation of the stage's expand and depthwise convs ("": the network's)

    def __post_init__(self):
        where = "network genome: stage"
        e = self.expansion
        if isinstance(e, bool) or not isinstance(e, numbers.Real) or not 0 < e < float("inf"):
            raise CodesignError(f"{where}.expansion: expected a positive number, got {quote(e)}")
        if _bad_name(self.se, SE_KINDS):
            raise CodesignError(f"{where}.se: expected '' (none), {' or '.join(SE_KINDS)}, got {quote(self.se)}")
        if _bad_name(self.activation, ACTIVATIONS):
            raise CodesignError(f"{where}.activation: expected '' (the network's), {', '.join(ACTIVATIONS)}, "
                                f"got {quote(self.activation)}")


@dataclass(frozen=True)
class HeadGene:
    """A task head in place of the global pooling and classifier (:mod:`accelsim.workload.heads`).

    ``ssdlite`` reads the expansion conv of the last strided stage's first block (stride 16 on a
    MobileNetV2 layout; that stage's input when the block has no expansion conv) and the 1x1 head conv
    (stride 32). ``lraspp`` reads the output of the last undilated stage at stride 8 and the 1x1 head conv;
    ``deeplabv3`` (ASPP with the genome's ``aspp`` branches, depthwise-separable by default) reads the 1x1
    head conv. A genome without a head conv (``head_channels`` 0) gives the last stage's output instead.
    A segmenter's ``output_stride`` turns the strides of the stages past it into dilations."""

    kind: str                # "ssdlite" (detector), "lraspp" or "deeplabv3" (segmenters)
    num_classes: int         # scores per anchor (ssdlite, background included) or per pixel (segmenters)
    output_stride: int = 0   # segmenters: 8, 16 or 32; ssdlite: 0 (the backbone keeps its strides)

    def __post_init__(self):
        where = "network genome: head"
        if self.kind not in task_heads.HEADS:
            raise CodesignError(f"{where}.kind: expected ssdlite, lraspp or deeplabv3, got {quote(self.kind)}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes <= 0:
            raise CodesignError(f"{where}.num_classes: expected a positive whole number, got {quote(self.num_classes)}")
        if self.kind in task_heads.SEGMENTERS:
            if isinstance(self.output_stride, bool) or self.output_stride not in task_heads.OUTPUT_STRIDES:
                raise CodesignError(f"{where}.output_stride: expected 8, 16 or 32 for a {self.kind} head, "
                                    f"got {quote(self.output_stride)}")
        elif self.output_stride != 0:
            raise CodesignError(f"{where}.output_stride: expected 0 for an ssdlite head (its backbone keeps "
                                f"its strides), got {quote(self.output_stride)}")


@dataclass(frozen=True)
class NetworkGenome:
    resolution: int           # input is resolution x resolution x 3
    stem_channels: int        # 3x3 stride-2 stem conv
    stages: tuple             # StageGene per stage
    head_channels: int        # 1x1 conv before global pooling (or before the task head); 0: none
    depth_multiplier: float   # stage depth = max(1, round(depth * multiplier))
    num_classes: int = 1000   # classifier outputs (unused with a task head, which has its own)
    precision: str = "int8"
    head: "HeadGene | None" = None   # a task head instead of pooling + classifier
    activation: str = ""      # stem, stages, 1x1 head conv and hidden classifier layer ("": relu6)
    classifier_hidden: int = 0   # pooling -> linear(hidden, activation) -> linear(classes); 0: no hidden
                                 # layer (unused with a task head, as num_classes)
    aspp: str = "separable"   # a deeplabv3 head's atrous branches: separable, dense or none (unused with
                              # other heads)

    def __post_init__(self):
        where = "network genome"
        if _bad_name(self.activation, ACTIVATIONS):
            raise CodesignError(f"{where}: activation: expected '' (relu6), {', '.join(ACTIVATIONS)}, "
                                f"got {quote(self.activation)}")
        hidden = self.classifier_hidden
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise CodesignError(f"{where}: classifier_hidden: expected a whole number >= 0 (0: none), "
                                f"got {quote(hidden)}")
        if self.aspp != "separable" and (not isinstance(self.aspp, str) or self.aspp not in task_heads.ASPP_KINDS):
            raise CodesignError(f"{where}: aspp: expected {', '.join(task_heads.ASPP_KINDS)}, got {quote(self.aspp)}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for stage in d["stages"]:   # absent when unset, so genomes without them keep their hashes
            for key in ("precision", "se", "activation"):
                if not stage[key]:
                    del stage[key]
        if d["head"] is None:       # likewise: a classifier genome's dict, key and hash are unchanged
            del d["head"]
        for key, default in (("activation", ""), ("classifier_hidden", 0), ("aspp", "separable")):
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkGenome":
        try:
            stages = []
            for i, s in enumerate(d["stages"]):
                try:
                    stages.append(StageGene(**s))
                except CodesignError as exc:   # name the stage: "stages[3].se: ..."
                    raise CodesignError(str(exc).replace(": stage.", f": stages[{i}].", 1)) from None
            stages = tuple(stages)
            head = d.get("head")
            return cls(**{**d, "stages": stages, "head": None if head is None else HeadGene(**head)})
        except (KeyError, TypeError) as exc:
            raise CodesignError(f"network genome: malformed ({exc})") from None

    def key(self) -> str:
        return stable_hash(self.to_dict())[:16]

    def stage_depths(self) -> tuple:
        return tuple(max(1, int(s.depth * self.depth_multiplier + 0.5)) for s in self.stages)

    def stage_activation(self, stage: StageGene) -> str:
        """The activation of ``stage``'s convs: its own, else the network's, else relu6."""
        return stage.activation or self.activation or DEFAULT_ACTIVATION


_f = schema.field   # a scalar setting: unit, meaning, bounds


class _Space:
    """What the two spaces share: made directly or from a mapping of settings, a space goes through its
    schema (``_schema``, set below each class) and its rules between settings (``_rule``)."""

    _what = "space"
    _schema: dict = {}

    def __post_init__(self):
        _validate(self, self._schema, self._what)

    @classmethod
    def from_dict(cls, d: Mapping, source: "str | None" = None, at: str = ""):
        """The space a mapping of settings describes (a run config's ``space.network`` less ``type``, or
        ``space.hardware`` with ``base``), checked against the space's schema; errors read
        ``SOURCE: AT.KEY: ...``."""
        return _from_dict(cls, cls._schema, d, source or cls._what, at)

    @staticmethod
    def _rule(s: Mapping) -> "tuple | None":
        """``(key, error)`` when the settings ``s`` break a rule between settings (after the schema)."""
        return None


@dataclass(frozen=True)
class NetworkSpace(_Space):
    """MobileNet-like macro skeleton; each stage's block, kernel, expansion, depth and width vary."""

    strides: tuple = _choices("-", "stride of each stage's first block (one entry per stage)", "int",
                              (1, 2, 2, 2, 1, 2, 1))
    base_channels: tuple = _choices("channels", "output channels of each stage at width 1 (one entry per stage)",
                                    "int", (16, 24, 32, 64, 96, 160, 320))
    width_range: tuple = _choices("x", "[low, high]: a stage's channels lie in [low, high] x its base channels",
                                  "number", (0.5, 1.5), expected="[low, high] with low <= high", length=2)
    channel_mode: str = _f("-", "curated (multiples of channel_multiple) or free (steps of 1) channel widths",
                           minimum=None, choices=CHANNEL_MODES, expected="curated or free", default="curated")
    channel_multiple: int = _f("channels", "step of curated channel widths (e.g. the array width)",
                               expected="a positive whole number", default=8)
    blocks: tuple = _choices("-", "block types to choose from: ibn (1x1 expand, kxk depthwise, 1x1 project) "
                             "or fused_ibn (kxk expand, 1x1 project)", "str", BLOCKS, choices=BLOCKS,
                             words=" or ".join(BLOCKS))
    kernels: tuple = _choices("px", "depthwise (ibn) or expansion (fused_ibn) kernel sizes to choose from",
                              "int", (3, 5, 7))
    expansions: tuple = _choices("x", "expansion ratios (expanded / input channels) to choose from", "number",
                                 (1, 3, 4, 6))
    depths: tuple = _choices("blocks", "blocks per stage to choose from (before the depth multiplier)", "int",
                             (1, 2, 3, 4))
    depth_multipliers: tuple = _choices("x", "multipliers of every stage's depth to choose from", "number",
                                        (0.75, 1.0, 1.25))
    resolutions: tuple = _choices("px", "input resolutions (height = width) to choose from", "int",
                                  (96, 128, 160, 192, 224))
    stem_channels: tuple = _choices("channels", "output channels of the 3x3 stride-2 stem conv to choose from",
                                    "int", (16, 24, 32))
    head_channels: tuple = _choices("channels", "channels of the 1x1 conv before pooling to choose from", "int",
                                    (640, 960, 1280))
    num_classes: int = _f("classes", "classifier outputs", expected="a positive whole number", default=1000)
    precision: str = _f("-", "format of weights and activations", minimum=None, choices=prec.NAMES,
                        default="int8")
    stage_precisions: tuple = _choices("-", "per-stage formats to choose from (empty: every stage uses "
                                       "precision)", "str", (), choices=prec.NAMES)
    heads: tuple = _choices("-", "what ends a network, to choose from: classifier (pooling + linear), ssdlite "
                            "(detector), lraspp or deeplabv3 (segmenters)", "str", ("classifier",),
                            choices=HEAD_KINDS, words=", ".join(HEAD_KINDS[:-1]) + " or " + HEAD_KINDS[-1])
    head_classes: int = _f("classes", "scores per anchor (ssdlite, background included) or per pixel (lraspp, "
                           "deeplabv3) of a task head; 0: the head's usual (81 COCO, 21 VOC)", strict=False,
                           expected="a whole number >= 0", default=0)
    output_strides: tuple = _choices("px", "output strides of segmentation heads to choose from; later stages "
                                     "are dilated instead of strided", "int", (16,),
                                     choices=task_heads.OUTPUT_STRIDES, words="8, 16 or 32")

    _what = "network space"

    @staticmethod
    def _rule(s: Mapping) -> "tuple | None":
        default = NetworkSpace.__dataclass_fields__
        strides = s.get("strides", default["strides"].default)
        if len(strides) != len(s.get("base_channels", default["base_channels"].default)):
            return "", "strides and base_channels need one entry per stage"
        low, high = s.get("width_range", default["width_range"].default)
        if low > high:
            return "width_range", f"expected [low, high] with low <= high, got {quote(list(s['width_range']))}"
        return None

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
                                 expansion=_ratio(_pick(rng, self.expansions)), depth=int(_pick(rng, self.depths)),
                                 channels=int(_pick(rng, self.channel_choices(i))), stride=int(s),
                                 precision=str(_pick(rng, self.stage_precisions)) if self.stage_precisions else "")
                       for i, s in enumerate(self.strides))
        genome = NetworkGenome(resolution=int(_pick(rng, self.resolutions)),
                               stem_channels=int(_pick(rng, self.stem_channels)), stages=stages,
                               head_channels=int(_pick(rng, self.head_channels)),
                               depth_multiplier=float(_pick(rng, self.depth_multipliers)),
                               num_classes=self.num_classes, precision=self.precision)
        if tuple(self.heads) == ("classifier",):   # no draw: a classifier space samples what it always did
            return genome
        kind = str(_pick(rng, self.heads))   # drawn last, so the backbone is what a classifier space draws
        stride = 0
        if kind in task_heads.SEGMENTERS and len(self.output_strides) > 1:
            stride = int(_pick(rng, self.output_strides))
        return dataclasses.replace(genome, head=self.head_gene(kind, stride))

    def head_gene(self, kind: str, output_stride: int = 0) -> "HeadGene | None":
        """The head of ``kind`` (one of ``heads``) with this space's classes; a segmenter runs at
        ``output_stride``, or at the first of ``output_strides`` when 0 (a detector ignores it: its
        backbone keeps its strides). ``classifier``: None."""
        if kind == "classifier":
            return None
        output_stride = int(output_stride or self.output_strides[0]) if kind in task_heads.SEGMENTERS else 0
        return HeadGene(kind, self.head_classes or task_heads.DEFAULT_CLASSES[kind], output_stride)

    def build(self, genome: NetworkGenome) -> Network:
        return build_network(genome)


NETWORK_SPACE_SCHEMA = NetworkSpace._schema = _space_schema(NetworkSpace)


def build_network(genome: NetworkGenome, name: str | None = None) -> Network:
    """The genome as an accelsim network: stem, stages of blocks, 1x1 head conv (unless
    ``head_channels`` is 0), then pooling and classifier ([hidden linear ->] linear), or the genome's
    task head (:class:`HeadGene`).

    Block ids: "stem.0", "s<stage>.b<block>" (stamped by ibn/fused_ibn from their names), "head.0",
    and a task head's own ("ssdlite.box0", "lraspp.0", "deeplabv3.aspp", ...)."""
    g = genome
    return _build(g, NetworkBuilder(name or f"net-{g.key()}", (g.resolution, g.resolution, 3), g.precision))


def packed_network(genome: NetworkGenome, name: str | None = None) -> PackedNetwork:
    """What :func:`build_network` builds, as rows (:class:`accelsim.workload.packed.PackedNetwork`):
    the same layer table, MACs, parameters and memory for a search to score, without ``Layer``
    objects; stages come from a cache of row runs, made without a builder on a miss."""
    g = genome
    return _build(g, RowBuilder(name or f"net-{g.key()}", (g.resolution, g.resolution, 3), g.precision))


def packed_networks(genomes: Sequence[NetworkGenome], names: "Sequence[str] | None" = None) -> list:
    """``[packed_network(g, name) for g, name in zip(genomes, names)]``, equal object for object, with
    every classifier genome (no task head) built and packed in one compiled call
    (:func:`accelsim.engine.rows.classifier_rows`) instead of a row builder each: a search's batch of
    never-seen networks. Genomes with a task head, and any the call flags (a layer above the size
    limits or with an empty output, which their own build then names), take :func:`packed_network`."""
    from accelsim.engine.rows import N_NET_FIELDS, N_STAGE_FIELDS, classifier_rows
    names = list(names) if names is not None else [f"net-{g.key()}" for g in genomes]
    out: list = [None] * len(genomes)
    fast, net_rows, stage_rows = [], [], []
    for i, g in enumerate(genomes):
        if g.head is not None:
            out[i] = packed_network(g, names[i])
            continue
        c, first = g.stem_channels, len(stage_rows)
        for stage, depth in zip(g.stages, g.stage_depths()):
            stage_rows.append((stage.block == "ibn", stage.kernel, stage.channels, stage.stride, depth,
                               *_stage_widths(stage, c, g.stage_activation(stage)),
                               prec.INDEX[stage.precision or g.precision]))
            c = stage.channels
        net_rows.append((g.resolution, g.stem_channels, prec.INDEX[g.precision], g.head_channels,
                         g.classifier_hidden, g.num_classes, first, len(g.stages)))
        fast.append(i)
    if not fast:
        return out
    nets = np.array(net_rows, dtype=np.int64).reshape(-1, N_NET_FIELDS)
    stages = np.array(stage_rows, dtype=np.int64).reshape(-1, N_STAGE_FIELDS)
    table, offsets, row_ptr, off_ptr, in_ptr, lay, macs, params, bad = classifier_rows(nets, stages, MAX_DIM,
                                                                                       MAX_ELEMENTS)
    for k, i in enumerate(fast):
        g = genomes[i]
        if bad[k] >= 0:
            out[i] = packed_network(g, names[i])   # raises, naming the layer
            continue
        a, b = row_ptr[k], row_ptr[k + 1]
        out[i] = PackedNetwork.from_parts(names[i], (g.resolution, g.resolution, 3), table[a:b],
                                          offsets[off_ptr[k]:off_ptr[k + 1]], in_ptr[a + k:b + k + 1],
                                          np.ascontiguousarray(lay[:, a:b]), macs[k], params[k], g.precision)
    return out


def _build(g: NetworkGenome, b):
    """The network of ``g`` on builder ``b`` (a NetworkBuilder, or a RowBuilder for rows): the same
    calls either way, stages from the cache that suits the builder."""
    taps = head_taps(g) if g.head is not None else {}
    act = g.activation or DEFAULT_ACTIVATION
    rows = isinstance(b, RowBuilder)
    stem = (g.stem_channels, act)
    x = b.append_rows(b.input, *_run_rows(_stem, b.input_shape, g.precision, stem)) if rows else \
        _stem(b, b.input, *stem)
    outputs, ssd_map = [], None
    for si, (stage, depth) in enumerate(zip(g.stages, g.stage_depths())):
        dilation = taps["plan"][si][1] if taps else 1
        if si == taps.get("ssd_stage"):   # the expansion conv, or the stage's input if the block has none
            c = b.shape(x)[2]             # (NetworkBuilder.ibn's rule: no expand conv when mid == c)
            if stage.block == "ibn" and int(round(c * stage.expansion)) != c:
                ssd_map = b.count if rows else f"s{si}.b0.expand"   # a row handle is its index
            else:
                ssd_map = x
        args = (si, stage, depth, b.shape(x), stage.precision or g.precision, dilation, g.stage_activation(stage))
        x = b.append_rows(x, *_stage_rows(*args)) if rows else b.splice(_stage_layers(*args), x)
        outputs.append(x)
    h = g.head
    if h is None:
        end = (g.head_channels, g.classifier_hidden, g.num_classes, act)
        if rows:
            b.append_rows(x, *_run_rows(_classifier, b.shape(x), g.precision, end))
        else:
            _classifier(b, x, *end)
        return b.build()
    if g.head_channels:
        with b.block("head.0"):
            x = b.conv(x, g.head_channels, 1, activation=act, name="head")
    if h.kind == "ssdlite":
        task_heads.ssdlite(b, ssd_map, x, h.num_classes)
    elif h.kind == "lraspp":
        task_heads.lraspp(b, outputs[taps["low_stage"]], x, h.num_classes)
    else:
        task_heads.deeplabv3(b, x, h.num_classes, output_stride=h.output_stride, aspp=g.aspp)
    return b.build()


def _stem(b, x, channels: int, activation: str):
    with b.block("stem.0"):
        return b.conv(x, channels, 3, 2, activation=activation, name="stem")


def _classifier(b, x, head_channels: int, hidden: int, classes: int, activation: str):
    """1x1 head conv (unless ``head_channels`` is 0), global pooling, [hidden linear ->] linear."""
    with b.block("head.0"):
        if head_channels:
            x = b.conv(x, head_channels, 1, activation=activation, name="head")
        x = b.global_avg_pool(x, name="pool")
        if hidden:
            x = b.linear(x, hidden, activation=activation, name="classifier_hidden")
        return b.linear(x, classes, name="classifier")


def _run_rows(part, in_shape: tuple, precision: str, args: tuple) -> tuple:
    """``(table, offsets, out shape)`` of ``part(builder, input, *args)`` on an input of ``in_shape``, as a
    run of rows for :meth:`RowBuilder.append_rows`; cached (a search draws few stems and classifiers)."""
    def make():
        rb = RowBuilder("part", in_shape, precision)
        part(rb, rb.input, *args)
        net = rb.build()
        return net.table, net.offsets, rb.shape(rb.count - 1)
    return _lru(_STAGE_ROWS, (part.__name__, in_shape, precision, args), make)


def head_taps(genome: NetworkGenome) -> dict:
    """Where the genome's task head reads and how its backbone runs: ``plan`` ((stride, dilation, output
    stride) per stage, :func:`accelsim.workload.heads.atrous_plan`) and, by head, ``ssd_stage`` (the last
    strided stage, whose first block's expansion conv, or input, is SSDLite's first map) and
    ``low_stage`` (the last undilated stage at output stride 8, whose output is LR-ASPP's low-level map).
    The torch twin reads the same."""
    g, h = genome, genome.head
    where = f"network genome: head {h.kind}"
    try:
        plan = task_heads.atrous_plan([s.stride for s in g.stages], h.output_stride or None, where=where)
    except WorkloadError as exc:
        raise CodesignError(str(exc)) from None
    taps: dict = {"plan": plan}
    if h.kind == "ssdlite":
        strided = [i for i, s in enumerate(g.stages) if s.stride > 1]
        if not strided:
            raise CodesignError(f"{where}: needs a stage with stride > 1 (its first map is the input side of the "
                                "last strided stage); every stage has stride 1")
        taps["ssd_stage"] = strided[-1]
    elif h.kind == "lraspp":
        at8 = [i for i, (_, dilation, out) in enumerate(plan) if out == 8 and dilation == 1]
        if not at8:
            raise CodesignError(f"{where}: needs a stage at output stride 8 for its low-level branch; the stages "
                                f"reach {', '.join(str(out) for *_, out in plan)}")
        taps["low_stage"] = at8[-1]
    return taps


# A search mutates one gene at a time, so most stages of a new genome were built before: the layers
# of a stage are cached by everything they depend on and spliced in.
_STAGES: OrderedDict = OrderedDict()
_STAGE_CACHE_SIZE = 4096    # ~10 layers each; a few tens of MB at most


def _stage_layers(si: int, stage: StageGene, depth: int, in_shape: tuple, precision: str,
                  dilation: int = 1, activation: str = DEFAULT_ACTIVATION) -> tuple:
    """The stage's layers on an input of ``in_shape``, its convs using ``activation`` (the stage's, as
    resolved by :meth:`NetworkGenome.stage_activation`). With ``dilation`` > 1 (a segmenter's backbone
    past its output stride) the stage runs at stride 1 with its taps ``dilation`` apart, and a first
    block whose stride was replaced keeps no residual (torchvision's dilated MobileNetV3)."""
    return _lru(_STAGES, _stage_key(si, stage, depth, in_shape, precision, dilation, activation),
                lambda: _build_stage(si, stage, depth, in_shape, precision, dilation, activation))


def _stage_key(si, stage, depth, in_shape, precision, dilation, activation) -> tuple:
    return (si, stage.block, stage.kernel, stage.expansion, stage.channels, stage.stride, depth, in_shape, precision,
            dilation, stage.se, activation)


def _lru(cache: OrderedDict, key, make):
    """``cache[key]``, made by ``make()`` on a miss; the least recently used entries beyond
    ``_STAGE_CACHE_SIZE`` are dropped."""
    hit = cache.get(key)
    if hit is not None:
        cache.move_to_end(key)
        return hit
    hit = cache[key] = make()
    if len(cache) > _STAGE_CACHE_SIZE:
        cache.popitem(last=False)
    return hit


def _build_stage(si, stage, depth, in_shape, precision, dilation, activation) -> tuple:
    b = NetworkBuilder("stage", in_shape, precision)
    block = b.ibn if stage.block == "ibn" else b.fused_ibn
    x = b.input
    for i in range(depth):
        c = b.shape(x)[2]
        squeeze, se_act, gate = squeeze_excite(stage.se, c, int(round(c * stage.expansion)), activation)
        se = dict(se=squeeze, se_activation=se_act, se_gate=gate) if squeeze else {}
        if dilation == 1:
            x = block(x, stage.channels, expansion=stage.expansion, kernel=stage.kernel,
                      stride=stage.stride if i == 0 else 1, name=f"s{si}.b{i}", activation=activation, **se)
        else:
            x = block(x, stage.channels, expansion=stage.expansion, kernel=stage.kernel, stride=1,
                      residual=False if (i == 0 and stage.stride > 1) else None, name=f"s{si}.b{i}",
                      dilation=dilation, activation=activation, **se)
    return tuple(b.layers)


# The same stages as rows (accelsim.workload.packed), for searches that score networks without building
# them: made directly from the genes (NetworkBuilder.ibn / fused_ibn / squeeze_excite's layers, in their
# order), checked equal to the Layer path by tests/test_packed_rows.py.
_STAGE_ROWS: OrderedDict = OrderedDict()


def _stage_rows(si: int, stage: StageGene, depth: int, in_shape: tuple, precision: str, dilation: int = 1,
                activation: str = DEFAULT_ACTIVATION) -> tuple:
    """``(table, offsets, out shape)`` of :func:`_stage_layers`' layers, for :meth:`RowBuilder.append_rows`."""
    return _lru(_STAGE_ROWS, _stage_key(si, stage, depth, in_shape, precision, dilation, activation),
                lambda: _make_stage_rows(stage, depth, in_shape, precision, dilation, activation))


def _stage_widths(stage: StageGene, c: int, activation: str) -> tuple:
    """``(mid0, mid1, squeeze0, squeeze1)`` of a stage on ``c`` input channels: the expanded channels
    of its first block and of the others (NetworkBuilder's round(channels * expansion)) and their
    squeeze-excite widths (0: none), as :func:`accelsim.engine.rows.stage_rows` takes them."""
    mid0, mid1 = int(round(c * stage.expansion)), int(round(stage.channels * stage.expansion))
    return (mid0, mid1, squeeze_excite(stage.se, c, mid0, activation)[0],
            squeeze_excite(stage.se, stage.channels, mid1, activation)[0])


def _make_stage_rows(stage, depth, in_shape, precision, dilation, activation) -> tuple:
    from accelsim.engine.rows import stage_rows
    h, w, c = in_shape
    table, offsets = stage_rows(stage.block == "ibn", stage.kernel, stage.channels, stage.stride, depth, dilation, h,
                                w, c, *_stage_widths(stage, c, activation), prec.INDEX[precision])
    return table, offsets, tuple(int(v) for v in table[-1, R_OH:R_OC + 1])


def clear_caches() -> None:
    """Empty the caches of built stages (Layer objects and rows) and of validated hardware groups, as
    a new process starts (benchmarks time cold builds with it)."""
    _STAGES.clear()
    _STAGE_ROWS.clear()
    _HW_VALID.clear()
    _HW_SECTIONS.clear()


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
    # Drawn only by a DatasetHardwareSpace (training data that covers the hardware space); each at its
    # default keeps the base config's value (or FORMAT_DEFAULTS for a format the base lacks).
    dram_latency_ns: float = -1.0   # < 0: the base config's
    macs_per_pe: tuple = ()         # MACs/PE/cycle per format, in `precisions` order; (): base / defaults
    vector_ops: tuple = ()          # vector ops/lane/cycle per format, in `precisions` order; (): likewise
    activation_policy: str = ""     # "": the base config's
    weights_resident: int = -1      # 0 / 1; -1: the base config's
    channel_alignment: int = 0      # 0: the base config's

    _UNSET = {"clock_mhz": 0.0, "dram_latency_ns": -1.0, "macs_per_pe": (), "vector_ops": (), "activation_policy": "",
              "weights_resident": -1, "channel_alignment": 0}

    def __post_init__(self):
        # per-format genes as tuples, so a genome written with lists hashes and keys as a drawn one does
        for key in ("precisions", "macs_per_pe", "vector_ops"):
            if type(getattr(self, key)) is not tuple:
                object.__setattr__(self, key, tuple(getattr(self, key)))

    def to_dict(self) -> dict:
        # every field is a number, a string or a tuple of them: a plain copy (asdict's deep one costs more
        # than building the config, whose name hashes this)
        d = {f: getattr(self, f) for f in _HW_GENOME_FIELDS}
        for key, unset in self._UNSET.items():   # absent when unset, so genomes without them keep their hashes
            if d[key] == unset or (isinstance(unset, tuple) and not d[key]):
                del d[key]
        return d

    def key(self) -> str:
        return stable_hash(self.to_dict())[:16]


_HW_GENOME_FIELDS = tuple(f.name for f in dataclasses.fields(HardwareGenome))


@dataclass(frozen=True)
class HardwareSpace(_Space):
    """Hardware parameters varied around a base config (everything else stays as in the base)."""

    base: str = _f("-", "base hardware config (name or path); in a run config, its hardware", minimum=None,
                   default="neural_engine")
    rows: tuple = _choices("PEs", "MAC-array PE rows to choose from", "int", (8, 12, 16, 24, 32, 48, 64, 96, 128))
    cols: tuple = _choices("PEs", "MAC-array PE columns to choose from", "int", (8, 12, 16, 24, 32, 48, 64, 96, 128))
    dataflows: tuple = _choices("-", "array dataflows to choose from", "str", DATAFLOWS, choices=DATAFLOWS)
    vector_lanes: tuple = _choices("lanes", "vector-unit lanes to choose from", "int", (16, 32, 64, 128))
    sram_kb: tuple = _choices("KiB", "size of each separate ifmap / filter / ofmap buffer to choose from",
                              "number", (32, 64, 128, 256, 512, 1024, 2048))
    unified_kb: tuple = _choices("KiB", "unified buffer sizes to choose from", "number",
                                 (256, 512, 1024, 2048, 4096, 8192))
    unified_probability: float = _f("-", "chance that a drawn design has one unified buffer instead of three",
                                    minimum=None, low=0, high=1, default=0.25)
    dram_gb_per_s: tuple = _choices("GB/s", "DRAM bandwidths to choose from", "number",
                                    (6.4, 12.8, 25.6, 51.2, 102.4))
    precision_sets: tuple = _choices("-", "sets of formats the MAC array (and vector unit) support, to choose from",
                                     "strs", (("int8",), ("int8", "int16"), ("int8", "int16", "fp16"),
                                              ("int8", "fp16", "bf16"), ("int4", "int8", "int16")),
                                     choices=prec.NAMES)
    clocks_mhz: tuple = _choices("MHz", "array clocks to choose from (empty: the base config's clock)", "number",
                                 ())

    _what = "hardware space"

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


HARDWARE_SPACE_SCHEMA = HardwareSpace._schema = _space_schema(HardwareSpace)


def build_hardware(base: Hardware, g: HardwareGenome) -> Hardware:
    """``base`` with the genome's array, vector, SRAM, DRAM, formats and, where the genome sets them, DRAM
    latency, MACs/PE and vector ops per format, placement and alignment: ``base.replace(name=...,
    **hardware_changes(base, g))``, validated as that validates, but each group of fields a rule spans
    (:data:`_HW_GROUPS`) validated once per distinct value (a search builds thousands of configs from a
    few hundred such values), and the sections a group's genes make kept by those genes, so a config
    whose every group was seen before is assembled from kept sections without re-deriving them."""
    bid = id(base)
    fields = {}
    for changes, genes in _HW_SECTION_CHANGES:
        k = (bid, changes, genes(g))
        hit = _HW_SECTIONS.get(k)
        if hit is None:
            require_kind(base, "systolic", "hardware space")
            kw = changes(base, g)
            # the base is kept in the entry so that its id stays its own
            hit = _lru(_HW_SECTIONS, k, lambda: (base, _validated_fields(base, kw)))
        else:
            _HW_SECTIONS.move_to_end(k)
        fields.update(hit[1])
    return dataclasses.replace(base, name=hardware_name(base, g), **fields)


def _validated_fields(base: Hardware, changes: dict) -> dict:
    """The Hardware fields ``base.replace(**changes)`` sets, each group of ``changes`` validated on the
    base once per distinct value (kept in ``_HW_VALID``)."""
    by_group: dict = {}
    for k, v in changes.items():
        first = k.split("__", 1)[0]
        by_group.setdefault(k if first in _HW_KEYS_ALONE else _HW_GROUP_OF[first], {})[k] = v
    fields, parts = {}, {}
    for group, kw in by_group.items():
        if group == ("sram",) and _check_separate_buffers(base, kw):
            parts["sram"] = {k.split("__", 1)[1]: v for k, v in kw.items()}
            continue
        if isinstance(group, str):   # one key of a section whose keys no rule spans: that field alone
            section, attr = group.split("__", 1)
            value = scalar_field_value(group, kw[group])   # its schema entry's plain accept test
            if value is None:   # rejected, or a value that test cannot read: what replace says
                value = getattr(getattr(_lru(_HW_VALID, (id(base), tuple(kw.items())),
                                             lambda: (base, base.replace(**kw)))[1], section), attr)
            parts.setdefault(section, {})[attr] = value
            continue
        # the base is kept in the entry so that its id stays its own
        hit = _lru(_HW_VALID, (id(base), tuple(kw.items())), lambda: (base, base.replace(**kw)))
        fields.update((a, getattr(hit[1], a)) for a in group)
    for section, values in parts.items():
        fields[section] = dataclasses.replace(getattr(base, section), **values)
    return fields


_SEPARATE = ("sram__ifmap_kb", "sram__filter_kb", "sram__ofmap_kb")


def _check_separate_buffers(base: Hardware, kw: dict) -> bool:
    """For separate buffers (``unified_kb`` None, the three sizes given), validate each size on its own
    and return True; False for any other SRAM change (the caller validates it whole).

    The SRAM's only cross-field rule is about which fields are given (unified, or all three
    separate); each size is checked against its own schema entry. So three sizes are valid together
    exactly when each is valid beside sizes known to be valid (the first separate triple validated on
    this base): 3 x 7 checks for the default space's sizes, not 7^3. An invalid size raises what
    the whole replace raises."""
    if set(kw) != {"sram__unified_kb", *_SEPARATE} or kw["sram__unified_kb"] is not None \
            or any(kw[k] is None for k in _SEPARATE):
        return False
    ref = _HW_VALID.get((id(base), "separate sram"))
    if ref is None:
        _lru(_HW_VALID, (id(base), tuple(kw.items())), lambda: (base, base.replace(**kw)))
        _lru(_HW_VALID, (id(base), "separate sram"), lambda: (base, dict(kw)))
        return True
    for k in _SEPARATE:
        if scalar_field_value(k, kw[k]) is not None:   # its schema entry accepts it
            continue
        one = {**ref[1], k: kw[k]}
        try:
            _lru(_HW_VALID, (id(base), tuple(one.items())), lambda: (base, base.replace(**one)))
        except ConfigError:
            base.replace(**kw)   # the error as the whole change words it
            raise
    return True


def hardware_name(base: Hardware, g: HardwareGenome) -> str:
    return f"{base.name}-{g.key()[:8]}"


def hardware_changes(base: Hardware, g: HardwareGenome) -> dict:
    """The ``Hardware.replace`` keys and values that turn ``base`` into the genome's config."""
    require_kind(base, "systolic", "hardware space")
    changes = {}
    for section, _ in _HW_SECTION_CHANGES:
        changes.update(section(base, g))
    return changes


def _array_changes(base: Hardware, g: HardwareGenome) -> dict:
    changes = {"array__rows": g.rows, "array__cols": g.cols, "array__dataflow": g.dataflow}
    if g.clock_mhz:
        changes["array__clock_mhz"] = float(g.clock_mhz)
    return changes


def _vector_changes(base: Hardware, g: HardwareGenome) -> dict:
    for key in ("macs_per_pe", "vector_ops"):
        if getattr(g, key) and len(getattr(g, key)) != len(g.precisions):
            raise CodesignError(f"hardware genome: {key}: expected one number per format of precisions "
                                f"({len(g.precisions)}), got {len(getattr(g, key))}")
    have = {p.name: p for p in base.precisions}
    base_vops = dict(base.vector.ops_per_lane_per_cycle)
    precisions, vops = [], []
    for i, name in enumerate(g.precisions):
        macs, e_mac, v = FORMAT_DEFAULTS[name]
        if name in have:
            p = have[name]
        else:
            p = PrecisionConfig(name=name, macs_per_pe_per_cycle=macs, energy_per_mac_pj=e_mac)
        if g.macs_per_pe:
            p = dataclasses.replace(p, macs_per_pe_per_cycle=int(g.macs_per_pe[i]))
        precisions.append(p)
        vops.append((name, float(g.vector_ops[i]) if g.vector_ops else float(base_vops.get(name, v))))
    return {"vector__lanes": g.vector_lanes, "vector__ops_per_lane_per_cycle": tuple(vops),
            "precisions": tuple(precisions)}


def _dram_changes(base: Hardware, g: HardwareGenome) -> dict:
    changes = {"dram__bandwidth_gb_per_s": float(g.dram_gb_per_s)}
    if g.dram_latency_ns >= 0:
        changes["dram__latency_ns"] = float(g.dram_latency_ns)
    return changes


def _sram_changes(base: Hardware, g: HardwareGenome) -> dict:
    if g.unified_kb:
        return {"sram__unified_kb": float(g.unified_kb), "sram__ifmap_kb": None, "sram__filter_kb": None,
                "sram__ofmap_kb": None}
    return {"sram__unified_kb": None, "sram__ifmap_kb": float(g.ifmap_kb), "sram__filter_kb": float(g.filter_kb),
            "sram__ofmap_kb": float(g.ofmap_kb)}


def _placement_changes(base: Hardware, g: HardwareGenome) -> dict:
    changes = {}
    if g.activation_policy:
        changes["activation_policy"] = g.activation_policy
    if g.weights_resident >= 0:
        changes["weights_resident"] = bool(g.weights_resident)
    if g.channel_alignment:
        changes["channel_alignment"] = int(g.channel_alignment)
    return changes


# build_hardware's sections: the changes each makes and the genes they read (its key), in the order
# hardware_changes lists them (so a genome with several bad values fails on the same one as before).
_HW_SECTION_CHANGES = (
    (_array_changes, operator.attrgetter("rows", "cols", "dataflow", "clock_mhz")),
    (_vector_changes, operator.attrgetter("vector_lanes", "precisions", "macs_per_pe", "vector_ops")),
    (_dram_changes, operator.attrgetter("dram_gb_per_s", "dram_latency_ns")),
    (_sram_changes, operator.attrgetter("unified_kb", "ifmap_kb", "filter_kb", "ofmap_kb")),
    (_placement_changes, operator.attrgetter("activation_policy", "weights_resident", "channel_alignment")))


# The fields build_hardware changes, in groups that no validation rule crosses (accelsim.config.validate:
# the SRAM's unified-or-separate rule, the vector unit's formats against the array's): a config is valid
# when each group's values are valid on the base, so each is checked once (by Hardware.replace) and kept.
_HW_GROUPS = (("array",), ("vector", "precisions"), ("sram",), ("dram",), ("activation_policy",),
              ("weights_resident",), ("channel_alignment",))
_HW_GROUP_OF = {field: group for group in _HW_GROUPS for field in group}   # a replace key's first part -> group
# Sections none of whose fields any rule relates to another (each is checked against its own schema
# entry alone): each of their keys is its own group, so 9 rows x 9 columns x 3 dataflows cost 21
# checks, not 243.
_HW_KEYS_ALONE = ("array",)
_HW_VALID: OrderedDict = OrderedDict()
_HW_SECTIONS: OrderedDict = OrderedDict()   # build_hardware's sections by the genes that make them


# Precision sets of estimator training data: every set a shipped config has (as a set) and the search
# space's, so each format appears alone and beside the others.
_DATASET_PRECISION_SETS = (("int8",), ("int8", "int16"), ("int8", "int16", "fp16"), ("int8", "fp16", "bf16"),
                          ("int4", "int8", "int16"), ("int8", "bf16"), ("int16", "fp16"), ("int8", "fp32"))


@dataclass(frozen=True)
class DatasetHardwareSpace:
    """Hardware configs for estimator training data: every field that decides latency and DRAM traffic
    varies around a base config, over ranges that hold every shipped config (``hw_configs/``).

    Continuous quantities (clock, DRAM bandwidth and latency, SRAM sizes, array rows and columns, vector
    lanes) are drawn log-uniformly between ``(low, high)``, so the estimator sees the whole dependence
    rather than a few points; a DRAM latency is 0 (a cycle-count model such as SCALE-Sim's) with
    ``zero_latency_probability``. MACs/PE and vector ops/lane are drawn per format. Energy and area
    numbers stay the base config's: energy is composed from predicted cycles and bytes analytically.
    Unlike :class:`HardwareSpace` (a search's choices), this is not a run-config setting."""

    base: str = "neural_engine"
    clock_mhz: tuple = (100.0, 2000.0)
    dram_gb_per_s: tuple = (1.0, 800.0)
    dram_latency_ns: tuple = (10.0, 1000.0)
    zero_latency_probability: float = 0.1
    sram_kb: tuple = (16.0, 16384.0)          # each separate ifmap / filter / ofmap buffer
    unified_kb: tuple = (64.0, 32768.0)
    unified_probability: float = 0.4
    rows: tuple = (8, 256)
    cols: tuple = (8, 256)
    dataflows: tuple = DATAFLOWS
    vector_lanes: tuple = (4, 256)
    vector_ops_per_lane: tuple = (1.0, 2.0, 4.0)   # per format, to choose from
    macs_per_pe: tuple = (1, 2, 4)                  # per format, to choose from
    precision_sets: tuple = _DATASET_PRECISION_SETS
    activation_policies: tuple = ("dram", "resident")
    weights_resident_probability: float = 0.3
    channel_alignments: tuple = (1, 2, 4, 8, 14, 16, 32, 64, 128)

    _RANGES = ("clock_mhz", "dram_gb_per_s", "dram_latency_ns", "sram_kb", "unified_kb", "rows", "cols",
               "vector_lanes")
    _CHOICES = ("vector_ops_per_lane", "macs_per_pe", "channel_alignments")
    _SHARES = ("zero_latency_probability", "unified_probability", "weights_resident_probability")

    def __post_init__(self):
        where = "dataset hardware space"
        if not isinstance(self.base, str) or not self.base:
            raise CodesignError(f"{where}: base: expected a hardware config name or path, got {quote(self.base)}")
        for key in self._RANGES:
            v = getattr(self, key)
            if not (isinstance(v, tuple) and len(v) == 2 and all(_positive(x) for x in v) and v[0] <= v[1]):
                raise CodesignError(f"{where}: {key}: expected (low, high) with 0 < low <= high, got {quote(v)}")
        for key in self._CHOICES:
            v = getattr(self, key)
            if not (isinstance(v, tuple) and v and all(_positive(x) for x in v)):
                raise CodesignError(f"{where}: {key}: expected a non-empty tuple of positive numbers, got {quote(v)}")
        for key in self._SHARES:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v <= 1:
                raise CodesignError(f"{where}: {key}: expected a probability in [0, 1], got {quote(v)}")
        for key, allowed in (("dataflows", DATAFLOWS), ("activation_policies", ACTIVATION_POLICIES)):
            v = getattr(self, key)
            if not (isinstance(v, tuple) and v and all(x in allowed for x in v)):
                raise CodesignError(f"{where}: {key}: expected a non-empty tuple of {', '.join(allowed)}, "
                                    f"got {quote(v)}")
        v = self.precision_sets
        if not (isinstance(v, tuple) and v and all(isinstance(t, tuple) and t and set(t) <= set(prec.NAMES)
                                                   and len(set(t)) == len(t) for t in v)):
            raise CodesignError(f"{where}: precision_sets: expected a non-empty tuple of format tuples from "
                                f"{', '.join(prec.NAMES)}, got {quote(v)}")

    def base_hardware(self) -> Hardware:
        return load_hardware(self.base)

    def sample(self, rng: np.random.Generator) -> HardwareGenome:
        def log_uniform(key):
            lo, hi = getattr(self, key)
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

        def log_int(key):   # every whole number in [low, high], log-uniformly
            lo, hi = getattr(self, key)
            return int(np.clip(np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi + 1)))), lo, hi))

        unified = rng.random() < self.unified_probability
        sram = [0.0] * 3 if unified else [round(log_uniform("sram_kb"), 1) for _ in range(3)]
        precisions = tuple(str(p) for p in _pick(rng, self.precision_sets))
        latency = 0.0 if rng.random() < self.zero_latency_probability else round(log_uniform("dram_latency_ns"), 1)
        return HardwareGenome(
            rows=log_int("rows"), cols=log_int("cols"), dataflow=str(_pick(rng, self.dataflows)),
            vector_lanes=log_int("vector_lanes"),
            unified_kb=round(log_uniform("unified_kb"), 1) if unified else 0.0,
            ifmap_kb=sram[0], filter_kb=sram[1], ofmap_kb=sram[2],
            dram_gb_per_s=round(log_uniform("dram_gb_per_s"), 3), precisions=precisions,
            clock_mhz=round(log_uniform("clock_mhz"), 1), dram_latency_ns=latency,
            macs_per_pe=tuple(int(_pick(rng, self.macs_per_pe)) for _ in precisions),
            vector_ops=tuple(float(_pick(rng, self.vector_ops_per_lane)) for _ in precisions),
            activation_policy=str(_pick(rng, self.activation_policies)),
            weights_resident=int(rng.random() < self.weights_resident_probability),
            channel_alignment=int(_pick(rng, self.channel_alignments)))

    def build(self, genome: HardwareGenome, base: Hardware | None = None) -> Hardware:
        return build_hardware(base or self.base_hardware(), genome)

    def outside(self, hw: Hardware) -> list:
        """What of config ``hw`` lies outside these ranges, one ``"key: value (expected ...)"`` per
        field; empty when the training data covers it."""
        if hw.kind != "systolic":
            return [f"kind: {hw.kind} (expected systolic)"]
        out = []

        def check_range(key, value, text=None):
            lo, hi = getattr(self, key)
            if not lo <= value <= hi:
                out.append(f"{text or key}: {value:g} (expected {lo:g}..{hi:g})")

        def check_in(key, value, allowed, text=None):
            if value not in allowed:
                out.append(f"{text or key}: {value} (expected one of {', '.join(map(str, allowed))})")

        check_range("clock_mhz", hw.array.clock_mhz)
        check_range("dram_gb_per_s", hw.dram.bandwidth_gb_per_s)
        if hw.dram.latency_ns != 0 or self.zero_latency_probability == 0:
            check_range("dram_latency_ns", hw.dram.latency_ns)
        s = hw.sram
        if s.unified_kb:
            if self.unified_probability == 0:
                out.append("sram.unified_kb: a unified buffer (expected separate buffers)")
            check_range("unified_kb", s.unified_kb, "sram.unified_kb")
        else:
            if self.unified_probability == 1:
                out.append("sram: separate buffers (expected one unified buffer)")
            for name in ("ifmap_kb", "filter_kb", "ofmap_kb"):
                check_range("sram_kb", getattr(s, name), f"sram.{name}")
        check_range("rows", hw.array.rows, "array.rows")
        check_range("cols", hw.array.cols, "array.cols")
        check_in("dataflows", hw.array.dataflow, self.dataflows, "array.dataflow")
        check_range("vector_lanes", hw.vector.lanes, "vector.lanes")
        for name, v in hw.vector.ops_per_lane_per_cycle:
            check_in("vector_ops_per_lane", float(v), tuple(float(x) for x in self.vector_ops_per_lane),
                     f"vector.ops_per_lane_per_cycle.{name}")
        for p in hw.precisions:
            check_in("macs_per_pe", p.macs_per_pe_per_cycle, self.macs_per_pe,
                     f"precisions.{p.name}.macs_per_pe_per_cycle")
        check_in("precision_sets", "+".join(sorted(hw.precision_names)),
                 tuple("+".join(sorted(t)) for t in self.precision_sets), "precisions")
        check_in("activation_policies", hw.activation_policy, self.activation_policies, "memory.activation_policy")
        want = self.weights_resident_probability
        if (want == 0 and hw.weights_resident) or (want == 1 and not hw.weights_resident):
            out.append(f"memory.weights_resident: {str(hw.weights_resident).lower()} "
                       f"(expected {str(want == 1).lower()})")
        check_in("channel_alignments", hw.channel_alignment, self.channel_alignments, "memory.channel_alignment")
        return out


def _positive(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Real) and 0 < x < float("inf")


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
