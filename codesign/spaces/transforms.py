"""The model transforms of :mod:`accelsim.workload.transforms` on a :class:`NetworkGenome`.

Each function returns a new genome whose built network (:func:`~codesign.spaces.space.build_network`)
has the same layers as the transform applied to the genome's built network: fusing or unfusing sets
the ``block`` of the chosen stages, ``scale_depth`` sets per-stage depths, ``scale_width`` and
``round_channels`` scale or round the stem, stage and head channels with the same rounding rules.
Stages are named as in the built network ("s0", "s1", ...) or given by index; ``keep`` also takes
"stem" and "head". The classifier's outputs (``num_classes``) never change.

One case differs: a stride-1 stage whose input and output widths become equal after rounding gains a
residual add in the rebuilt genome (``NetworkBuilder.ibn`` adds one whenever shapes allow), whereas
the network transform keeps the block without one. Depthwise-to-dense has no genome form.

A stage keeps its squeeze-excite (``se``) and activation through every transform. Fusing moves the
squeeze-excite behind the fused kxk conv, as the zoo's ``InvertedResidual`` places it in a fused
block; the network transforms do not recognise blocks with a squeeze-excite (their layers are not an
IBN's), so on such stages only the genome form fuses. The squeezed width is recomputed from the new
widths by the stage's squeeze-excite rule (as the zoo's width-scaled MobileNetV3s), where the network
transforms scale or round the old squeezed width. A hidden classifier layer scales and rounds as the
head conv does (``keep`` "head" keeps both); a genome without a head conv (``head_channels`` 0)
stays without one.
"""

from __future__ import annotations

import dataclasses

from accelsim.errors import WorkloadError, quote
from accelsim.workload import transforms as T
from accelsim.workload.mobilenet_arch import make_divisible

from .space import NetworkGenome

__all__ = ["fuse_ibn", "unfuse", "scale_depth", "scale_width", "round_channels"]


def _stage_indices(fn: str, genome: NetworkGenome, stages, arg: str = "stages", extra: tuple = ()) -> set:
    """Indices (and any of ``extra``'s names) that ``stages`` selects: names "s<i>", indices, or None (all)."""
    known = [f"s{i}" for i in range(len(genome.stages))]
    if stages is None:
        return set(range(len(genome.stages)))
    items = (stages,) if isinstance(stages, (str, int)) else stages
    try:
        items = tuple(items)
    except TypeError:
        raise WorkloadError(f"{fn}: {arg}: expected a list of stage names or indices, got {quote(stages)}") from None
    chosen: set = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(genome.stages):
            chosen.add(item)
        elif isinstance(item, str) and item in known:
            chosen.add(known.index(item))
        elif isinstance(item, str) and item in extra:
            chosen.add(item)
        else:
            raise WorkloadError(f"{fn}: {arg}: unknown stage {quote(item)}; expected some of "
                                f"{', '.join(list(extra) + known)} or indices 0-{len(genome.stages) - 1}")
    return chosen


def _with_blocks(genome: NetworkGenome, chosen: set, block: str) -> NetworkGenome:
    stages = tuple(dataclasses.replace(s, block=block) if i in chosen else s for i, s in enumerate(genome.stages))
    return dataclasses.replace(genome, stages=stages)


def fuse_ibn(genome: NetworkGenome, stages=None) -> NetworkGenome:
    """``genome`` with the chosen stages (None: all) made of fused IBN blocks (a squeeze-excite, if any,
    follows the fused conv)."""
    return _with_blocks(genome, _stage_indices("fuse_ibn", genome, stages), "fused_ibn")


def unfuse(genome: NetworkGenome, stages=None) -> NetworkGenome:
    """``genome`` with the chosen stages (None: all) made of IBN blocks."""
    return _with_blocks(genome, _stage_indices("unfuse", genome, stages), "ibn")


def scale_depth(genome: NetworkGenome, multiplier: float, stages=None) -> NetworkGenome:
    """``genome`` with the block count of the chosen stages (None: all) times ``multiplier``, rounded half
    up, at least 1. The genome's ``depth_multiplier`` is folded into the stage depths (and set to 1), so
    the result builds exactly what ``scale_depth`` makes of the built network."""
    multiplier = T.check_multiplier("scale_depth", multiplier)
    chosen = _stage_indices("scale_depth", genome, stages)
    depths = genome.stage_depths()
    new = tuple(dataclasses.replace(s, depth=T.scaled_depth(d, multiplier) if i in chosen else d)
                for i, (s, d) in enumerate(zip(genome.stages, depths)))
    return dataclasses.replace(genome, stages=new, depth_multiplier=1.0)


def _channels(genome: NetworkGenome, count, keep: set = frozenset()) -> NetworkGenome:
    stages = tuple(s if i in keep else dataclasses.replace(s, channels=count(s.channels))
                   for i, s in enumerate(genome.stages))

    def head(c: int) -> int:   # 0 (no head conv, no hidden layer) stays 0
        return c if "head" in keep or not c else count(c)

    return dataclasses.replace(
        genome, stages=stages,
        stem_channels=genome.stem_channels if "stem" in keep else count(genome.stem_channels),
        head_channels=head(genome.head_channels), classifier_hidden=head(genome.classifier_hidden))


def scale_width(genome: NetworkGenome, multiplier: float, multiple: int = 8, keep=()) -> NetworkGenome:
    """``genome`` with stem, stage and head channels times ``multiplier``, rounded as MobileNet's
    ``_make_divisible`` (what TF-slim calls the "depth multiplier"; the genome's ``depth_multiplier``
    is the block count). Stages in ``keep`` ("stem", "head", "s<i>" or indices) keep their channels."""
    fn = "scale_width"
    multiplier, multiple = T.check_multiplier(fn, multiplier), T.check_multiple(fn, multiple)
    keep = _stage_indices(fn, genome, () if keep is None else keep, "keep", extra=("stem", "head"))
    return _channels(genome, lambda c: make_divisible(c * multiplier, multiple), keep)


def round_channels(genome: NetworkGenome, multiple: int, mode: str = "nearest") -> NetworkGenome:
    """``genome`` with stem, stage and head channels rounded to a multiple of ``multiple`` (``mode``:
    nearest, up or down; never below ``multiple``)."""
    fn = "round_channels"
    multiple, mode = T.check_multiple(fn, multiple), T.check_mode(fn, mode)
    return _channels(genome, lambda c: T.round_to_multiple(c, multiple, mode))
