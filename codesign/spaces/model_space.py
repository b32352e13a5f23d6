"""A search space that starts from a product model: the model's own genome and the axes named to vary.

``space.network: {type: from_model, model: NAME or GENOME FILE, search: {AXIS: CHOICES, ...}}`` takes
the stage list of a zoo model (:func:`codesign.spaces.zoo_genomes.zoo_genome`) or a genome file (JSON
or YAML, a :meth:`NetworkGenome.to_dict`) as the *baseline*, and searches only the named axes. Every
design is the baseline with its genes applied, so a search whose choice lists hold the baseline's
values contains the baseline itself (:meth:`ModelSpace.baseline_genes`).

An axis is global or per stage, chosen by how its choices are written::

    block: [ibn, fused_ibn]                      # one gene: every stage takes the drawn block
    block: {s1: [ibn, fused_ibn], s3: [ibn]}     # one gene per named stage; lists may differ
    block: {each: [ibn, fused_ibn]}              # one gene per stage (stages named beside it keep theirs)
    width_multiplier: {all: [0.75, 1.0], s6: [1.0, 1.5]}   # a global gene and per-stage genes, multiplied

Stages are named ``s0``, ``s1``, ... as in the built network's block ids (``s<stage>.b<block>``).

The axes (:data:`AXES`):

- ``block``: ibn (1x1 expand, kxk depthwise, 1x1 project) or fused_ibn (kxk full conv, 1x1 project):
  fusing a stage replaces its depthwise conv with a standard one;
- ``kernel``, ``expansion``: the stage's kernel size and expanded / input channels;
- ``depth``: blocks per stage (a count);
- ``depth_multiplier``: multiplies block counts (global: the genome's ``depth_multiplier``, every stage's
  count times it, rounded half up, at least 1; per stage: that stage's count);
- ``width_multiplier``: multiplies channels (global: the stem, every stage and the 1x1 head conv and
  hidden classifier layer, which never drop below their baseline width, as MobileNetV2 keeps its
  1280-channel conv below width 1.0; a stage's squeeze-excite width follows its own rule;
  per stage: that stage's output channels), rounded to ``channel_multiple`` by ``rounding`` (nearest
  is MobileNet's ``make_divisible``: never more than 10 % below). TF-slim's and the MobileNet papers'
  "depth multiplier" is this *width* multiplier (it scales every layer's channels, called "depth" in
  TF); here ``depth_multiplier`` always means blocks;
- ``channel_multiple``: rounds every channel count to a multiple of the drawn value (the
  ``round_channels`` transform, e.g. to the MAC array's width; 1 leaves them);
- ``resolution`` (global): the input size; ``output_stride`` (global, segmenters only): 8, 16 or 32;
- ``precision``: the format of weights and activations (global: the network's; per stage: the stage's).

A channel count changes only where a width gene differs from 1 or a ``channel_multiple`` gene is set,
so every axis at its baseline value builds the baseline exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from accelsim import precision as prec
from accelsim import schema
from accelsim.workload import heads as task_heads
from accelsim.workload import transforms as T
from accelsim.workload.mobilenet_arch import make_divisible

from ..errors import CodesignError
from .space import BLOCKS, NetworkGenome, _element, stable_hash

ROUNDING = ("nearest", "up", "down")

# axis -> (where it may vary: "global" or "both", element kind, allowed values or None, unit, meaning)
AXES = {
    "block": ("both", "str", BLOCKS, "-", "block type: ibn or fused_ibn"),
    "kernel": ("both", "int", None, "px", "kernel size of the depthwise (ibn) or expansion (fused_ibn) conv"),
    "expansion": ("both", "number", None, "x", "expansion ratio (expanded / input channels)"),
    "depth": ("both", "int", None, "blocks", "blocks in the stage (a count)"),
    "depth_multiplier": ("both", "number", None, "x", "multiplier of block counts (not channels)"),
    "width_multiplier": ("both", "number", None, "x", "multiplier of channels (TF-slim's 'depth multiplier')"),
    "channel_multiple": ("global", "int", None, "channels", "round every channel count to a multiple of this"),
    "resolution": ("global", "int", None, "px", "input resolution (height = width)"),
    "output_stride": ("global", "int", task_heads.OUTPUT_STRIDES, "-", "a segmenter's output stride"),
    "precision": ("both", "str", prec.NAMES, "-", "format of weights and activations"),
}
# the gene a global axis takes, and the value that leaves the baseline as it is
_NEUTRAL = {"depth_multiplier": 1.0, "width_multiplier": 1.0, "channel_multiple": 1}
_STAGE_KEY = r"^s[0-9]+$"


def _axis_schema(name: str) -> dict:
    where, kind, allowed, unit, meaning = AXES[name]
    choices = {"type": "array", "minItems": 1, "items": _element(kind, allowed, None),
               "x-expected": "a non-empty list of choices"}
    if where == "global":
        return {**choices, "description": f"{meaning} (global)", "x-unit": unit,
                "x-range": ", ".join(map(str, allowed)) if allowed else "-"}
    per_stage = {"type": "object", "minProperties": 1, "x-key-name": "s<i>",
                 "properties": {"each": choices, "all": choices},
                 "patternProperties": {_STAGE_KEY: choices}, "additionalProperties": False,
                 "x-pattern-words": "a stage name (s0, s1, ...)",
                 "x-expected": "a list of choices (global) or a mapping of stage names (s0, s1, ...), each or "
                               "all to lists of choices (per stage)"}
    return {"description": f"{meaning}: a list (global) or {{s<i>: list, each: list, all: list}} (per stage)",
            "x-unit": unit, "x-range": ", ".join(map(str, allowed)) if allowed else "-",
            "x-expected": "a list of choices (global) or a mapping of stage names to lists (per stage)",
            "if": {"type": "array"}, "then": choices, "else": per_stage}


SEARCH_SCHEMA = schema.obj({name: _axis_schema(name) for name in AXES},
                           help="the axes to search and their choices", expected="a mapping of axes to choices")
SEARCH_SCHEMA["minProperties"] = 1

MODEL_SPACE_SCHEMA = schema.obj({
    "type": {"const": "from_model", "description": "start from a product model's own genome", "x-unit": "-"},
    "model": {"type": "string", "minLength": 1, "x-unit": "-", "x-range": "-",
              "description": "the baseline: a zoo model name or a genome file (.json, .yaml)",
              "x-expected": "a zoo model name or a genome file path"},
    "resolution": schema.scalar("integer", "px", "the baseline's input resolution (default: the model's)",
                                minimum=0, expected="a positive whole number"),
    "num_classes": schema.scalar("integer", "classes", "the baseline's classes (default: the model's)",
                                 minimum=0, expected="a positive whole number"),
    "output_stride": schema.scalar("integer", "-", "a segmenter baseline's output stride (default: the model's)",
                                   minimum=None, choices=task_heads.OUTPUT_STRIDES),
    "precision": schema.scalar("string", "-", "the baseline's format of weights and activations",
                               minimum=None, choices=prec.NAMES),
    "channel_multiple": schema.scalar("integer", "channels", "step that scaled channel counts are rounded to",
                                      minimum=0, expected="a positive whole number"),
    "rounding": schema.scalar("string", "-", "how scaled channels round: nearest (MobileNet's rule), up or down",
                              minimum=None, choices=ROUNDING),
    "search": SEARCH_SCHEMA}, required=("type", "model", "search"),
    help="search the named axes of a product model", expected="a mapping of space settings")


def genome_path(model: str, source: str) -> "Path | None":
    """The genome file ``model`` names (a .json / .yaml name or a path), a relative one found beside the
    config file ``source`` when it is not found as given; None for a zoo model's name."""
    if not (model.endswith((".json", ".yaml", ".yml")) or "/" in model):
        return None
    path = Path(model)
    beside = Path(source).parent / path
    if not path.exists() and not path.is_absolute() and beside.exists():
        return beside.resolve()
    return path


def load_genome_file(path: "str | Path", where: str) -> NetworkGenome:
    """A genome written to a JSON or YAML file (a ``NetworkGenome.to_dict``)."""
    from accelsim.io import read_yaml
    p = Path(path)
    if not p.is_file():
        raise CodesignError(f"{where}: expected a zoo model name or an existing genome file, got {str(path)!r}")
    try:
        data = json.loads(p.read_text()) if p.suffix == ".json" else read_yaml(p)
    except (ValueError, OSError) as exc:
        raise CodesignError(f"{where}: {p}: not a genome file ({str(exc).splitlines()[0]})") from None
    except Exception as exc:   # accelsim's YAML errors
        raise CodesignError(f"{where}: {exc}") from None
    if not isinstance(data, dict):
        raise CodesignError(f"{where}: {p}: expected a mapping (a network genome), got {type(data).__name__}")
    try:
        return NetworkGenome.from_dict(data)
    except CodesignError as exc:
        raise CodesignError(f"{where}: {p}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Gene:
    """One searched gene: ``axis`` at ``stage`` (None: global) with its choices."""

    key: str
    axis: str
    stage: "int | None"
    choices: tuple


class ModelSpace:
    """The axes of a baseline genome (see the module docs). ``genes`` is the tuple of :class:`Gene` in
    :data:`AXES` order; :meth:`genome` applies a dict of gene values to the baseline (a gene left out keeps
    the baseline's value)."""

    kind = "from_model"

    def __init__(self, baseline: NetworkGenome, search: dict, *, channel_multiple: int = 8,
                 rounding: str = "nearest", model: str = "", source: str = "space.network", at: str = ""):
        self.baseline, self.model = baseline, model
        self.channel_multiple, self.rounding = int(channel_multiple), rounding
        where = ".".join(p for p in (at, "search") if p)
        names = [f"s{i}" for i in range(len(baseline.stages))]
        genes: list = []
        for axis, spec in search.items():
            if axis == "output_stride" and (baseline.head is None or baseline.head.kind not in task_heads.SEGMENTERS):
                what = "a classifier" if baseline.head is None else f"a {baseline.head.kind} detector"
                raise CodesignError(f"{source}: {where}.output_stride: {model or 'the baseline'} is {what}; only a "
                                    f"segmenter (lraspp, deeplabv3) has an output stride")
            if isinstance(spec, (list, tuple)):
                genes.append(Gene(axis, axis, None, tuple(spec)))
                continue
            for name, choices in spec.items():
                if name == "all":
                    genes.append(Gene(axis, axis, None, tuple(choices)))
                elif name == "each":
                    named = set(spec) - {"each", "all"}
                    genes += [Gene(f"{s}.{axis}", axis, i, tuple(choices)) for i, s in enumerate(names) if s not in named]
                elif name in names:
                    genes.append(Gene(f"{name}.{axis}", axis, names.index(name), tuple(choices)))
                else:
                    raise CodesignError(f"{source}: {where}.{axis}.{name}: unknown stage; {model or 'the baseline'} "
                                        f"has stages s0-s{len(names) - 1}")
        # axis order, each axis's global gene before its stage genes: the order of a design's description
        self.genes = tuple(sorted(genes, key=lambda g: (list(AXES).index(g.axis), -1 if g.stage is None else g.stage)))
        self.choices = {g.key: g.choices for g in self.genes}
        # every design must build: try the extremes now, so a bad choice fails before the search starts
        for g in self.genes:
            for v in g.choices:
                try:
                    self.genome({g.key: v})
                except CodesignError as exc:
                    raise CodesignError(f"{source}: {where}.{g.axis}{'' if g.stage is None else '.s%d' % g.stage}: "
                                        f"{v!r} cannot be built ({exc})") from None

    # ------------------------------------------------------------------ genes
    def baseline_genes(self) -> dict:
        """The gene values that build the baseline (a multiplier at 1, the baseline's own block, kernel,
        ...); a ``channel_multiple`` gene's baseline value is 1."""
        out = {}
        b = self.baseline
        for g in self.genes:
            if g.axis in _NEUTRAL:
                v = b.depth_multiplier if g.axis == "depth_multiplier" and g.stage is None else _NEUTRAL[g.axis]
            elif g.axis == "resolution":
                v = b.resolution
            elif g.axis == "output_stride":
                v = b.head.output_stride
            elif g.axis == "precision" and g.stage is None:
                v = b.precision
            else:
                stage = b.stages[g.stage] if g.stage is not None else b.stages[0]
                v = getattr(stage, g.axis) or (b.precision if g.axis == "precision" else "")
                if g.stage is None and len({getattr(s, g.axis) for s in b.stages}) > 1:
                    v = None   # a global gene cannot reproduce stages that differ
            out[g.key] = v
        return out

    def baseline_reachable(self) -> "str | None":
        """None when the baseline is a design of this space, else the first gene that excludes it."""
        for key, v in self.baseline_genes().items():
            if v not in self.choices[key]:
                return key
        return None

    def genome(self, values: dict) -> NetworkGenome:
        """The baseline with ``values`` (gene key -> value) applied; missing genes keep the baseline."""
        b = self.baseline
        stage_set: list = [dict() for _ in b.stages]
        glob: dict = {}
        for g in self.genes:
            if g.key not in values:
                continue
            v = values[g.key]
            if g.stage is None:
                glob[g.axis] = v
            else:
                stage_set[g.stage][g.axis] = v
        w_all = float(glob.get("width_multiplier", 1.0))
        multiple = int(glob.get("channel_multiple", 0) or 0)
        stages = []
        for s, own in zip(b.stages, stage_set):
            change = {}
            for axis in ("block", "kernel", "expansion", "depth", "precision"):
                v = own.get(axis, glob.get(axis))
                if v is not None:
                    change[axis] = v
            m = own.get("depth_multiplier")
            if m is not None:
                change["depth"] = T.scaled_depth(change.get("depth", s.depth), float(m))
            w = w_all * float(own.get("width_multiplier", 1.0))
            if w != 1.0:
                change["channels"] = self._scaled(s.channels, w)
            if multiple:
                change["channels"] = T.round_to_multiple(change.get("channels", s.channels), multiple, self.rounding)
            if "expansion" in change:
                e = float(change["expansion"])
                change["expansion"] = int(e) if e.is_integer() else e
            stages.append(dataclasses.replace(s, **change) if change else s)
        stem, head_ch, hidden = b.stem_channels, b.head_channels, b.classifier_hidden
        if w_all != 1.0:
            stem = self._scaled(stem, w_all)
            head_ch = self._scaled(head_ch, max(1.0, w_all))
            hidden = self._scaled(hidden, max(1.0, w_all))
        if multiple:
            stem = T.round_to_multiple(stem, multiple, self.rounding)
            head_ch = T.round_to_multiple(head_ch, multiple, self.rounding) if head_ch else 0
        head = b.head
        if "output_stride" in glob:
            head = dataclasses.replace(head, output_stride=int(glob["output_stride"]))
        return dataclasses.replace(
            b, stages=tuple(stages), stem_channels=stem, head_channels=head_ch, classifier_hidden=hidden, head=head,
            resolution=int(glob.get("resolution", b.resolution)),
            depth_multiplier=float(glob.get("depth_multiplier", b.depth_multiplier)),
            precision=str(glob.get("precision", b.precision)))

    def _scaled(self, channels: int, w: float) -> int:
        if w == 1.0 or channels == 0:   # 0: a genome without a 1x1 head conv keeps none
            return channels
        if self.rounding == "nearest":
            return make_divisible(channels * w, self.channel_multiple)
        return T.round_to_multiple(channels * w, self.channel_multiple, self.rounding)

    def identity(self) -> dict:
        """What decides every design: the baseline genome, the genes and the rounding."""
        return {"type": "from_model", "model": self.model if genome_path(self.model, "") is None
                else Path(self.model).name, "baseline": self.baseline.to_dict(), "baseline_key": stable_hash(self.baseline.to_dict()),
                "genes": {g.key: list(g.choices) for g in self.genes}, "channel_multiple": self.channel_multiple,
                "rounding": self.rounding}


def model_space_from_dict(spec: dict, source: str = "space.network", at: str = "space.network") -> ModelSpace:
    """The :class:`ModelSpace` a run config's ``space.network`` (``type: from_model``) describes, checked
    against :data:`MODEL_SPACE_SCHEMA`; errors name ``SOURCE: AT.KEY``."""
    spec = schema.check(spec, MODEL_SPACE_SCHEMA, source, CodesignError, at)
    model = spec["model"]
    where = f"{source}: {at}.model" if at else f"{source}: model"
    options = {k: spec[k] for k in ("resolution", "num_classes", "output_stride") if k in spec}
    path = genome_path(model, source)
    if path is not None:
        genome = load_genome_file(path, where)
        if options:
            genome = _with_options(genome, options, where)
    else:
        from .zoo_genomes import ZOO_GENOMES, zoo_genome
        if model not in ZOO_GENOMES:
            raise CodesignError(f"{where}: unknown model {model!r}; expected a genome file or one of "
                                f"{', '.join(sorted(ZOO_GENOMES))}")
        try:
            genome = zoo_genome(model, **options)
        except CodesignError as exc:
            raise CodesignError(f"{where}: {exc}") from None
    if "precision" in spec:
        genome = dataclasses.replace(genome, precision=spec["precision"])
    return ModelSpace(genome, spec["search"], channel_multiple=spec.get("channel_multiple", 8),
                      rounding=spec.get("rounding", "nearest"), model=model, source=source, at=at)


def _with_options(genome: NetworkGenome, options: dict, where: str) -> NetworkGenome:
    """A genome file's baseline with resolution, classes or output stride replaced."""
    change = {}
    if "resolution" in options:
        change["resolution"] = int(options["resolution"])
    head = genome.head
    if "num_classes" in options:
        if head is None:
            change["num_classes"] = int(options["num_classes"])
        else:
            head = dataclasses.replace(head, num_classes=int(options["num_classes"]))
    if "output_stride" in options:
        if head is None or head.kind not in task_heads.SEGMENTERS:
            raise CodesignError(f"{where}: output_stride: the genome is not a segmenter")
        head = dataclasses.replace(head, output_stride=int(options["output_stride"]))
    return dataclasses.replace(genome, head=head, **change)
