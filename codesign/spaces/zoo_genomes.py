"""Product models of the zoo written as network genomes, so a search can start from a model's own
architecture: ``zoo_genome("mobilenet_v3_large")`` is MobileNetV3-Large's stage list as a
:class:`~codesign.spaces.space.NetworkGenome`.

Each genome builds (:func:`~codesign.spaces.space.build_network`) the same layers as the zoo's own
network (``accelsim.workload.load_model(name)``: the IR-built MobileNetV2 and DeepLabV3, or the
models traced from :mod:`accelsim.workload.torch_zoo`), with the same MACs and parameters. A genome
stage is a run of identical blocks, so where a model's "stage" mixes blocks (MobileNetV3-Large's
24-channel blocks expand 4x then 3x; its 80-channel ones 6x, 2.5x, 2.3x, 2.3x) it is split into
consecutive stages, each named by its index (``s0``, ``s1``, ...) as in the built network.

One difference does not show in MACs or parameters: LR-ASPP on MobileNetV3-Large reads its low-level
map after the first 40-channel block (torchvision's rule: the output of the first block at output
stride 8), whereas a genome's LR-ASPP reads the output of the whole stage at output stride 8 (two
blocks later, same shape), so that map lives two blocks longer.
"""

from __future__ import annotations

import inspect

from accelsim.errors import WorkloadError, quote
from accelsim.workload import heads as task_heads
from accelsim.workload import zoo
from accelsim.workload.mobilenet_arch import MOBILENET_V2_STAGES

from ..errors import CodesignError
from .space import HeadGene, NetworkGenome, StageGene

__all__ = ["ZOO_GENOMES", "zoo_genome"]

_V3 = "mobilenet_v3"   # squeeze-excite kinds (space.SE_KINDS)
_EFF = "efficientnet"


def _stages(rows) -> tuple:
    """Stage genes from rows of (block, kernel, expansion, depth, channels, stride[, se[, activation]])."""
    return tuple(StageGene(block, k, e, n, c, s, se=se, activation=act)
                 for block, k, e, n, c, s, *rest in rows
                 for se, act in [(rest + ["", ""])[:2]])


def _mobilenet_v2_stages() -> tuple:
    return tuple(StageGene("ibn", 3, t, n, c, s) for t, c, n, s in MOBILENET_V2_STAGES)


# MobileNetV3 (torch_zoo.MOBILENET_V3_LARGE / _SMALL, Howard et al. 2019, Tables 1 and 2), one stage
# per run of identical blocks; expansion = expanded / input channels.
_V3_LARGE = _stages((
    ("ibn", 3, 1, 1, 16, 1, "", "relu"),        # 16 -> 16
    ("ibn", 3, 4, 1, 24, 2, "", "relu"),        # 16 -> 64 -> 24
    ("ibn", 3, 3, 1, 24, 1, "", "relu"),        # 24 -> 72 -> 24
    ("ibn", 5, 3, 3, 40, 2, _V3, "relu"),       # 24 -> 72, then 40 -> 120
    ("ibn", 3, 6, 1, 80, 2),                    # 40 -> 240
    ("ibn", 3, 2.5, 1, 80, 1),                  # 80 -> 200
    ("ibn", 3, 2.3, 2, 80, 1),                  # 80 -> 184
    ("ibn", 3, 6, 2, 112, 1, _V3),              # 80 -> 480, 112 -> 672
    ("ibn", 5, 6, 3, 160, 2, _V3),              # 112 -> 672, 160 -> 960
))
_V3_SMALL = _stages((
    ("ibn", 3, 1, 1, 16, 2, _V3, "relu"),       # 16 -> 16
    ("ibn", 3, 4.5, 1, 24, 2, "", "relu"),      # 16 -> 72
    ("ibn", 3, 88 / 24, 1, 24, 1, "", "relu"),  # 24 -> 88
    ("ibn", 5, 4, 1, 40, 2, _V3),               # 24 -> 96
    ("ibn", 5, 6, 2, 40, 1, _V3),               # 40 -> 240
    ("ibn", 5, 3, 2, 48, 1, _V3),               # 40 -> 120, 48 -> 144
    ("ibn", 5, 6, 3, 96, 2, _V3),               # 48 -> 288, 96 -> 576
))
# torch_zoo.EFFICIENTNET_B0 / EFFICIENTNET_EDGETPU_S / MNASNET_A1 (the first EdgeTPU-S block is a fused
# conv from the 32-channel stem to 96 channels: expansion 3 of its actual input)
_EFFICIENTNET_B0 = _stages((
    ("ibn", 3, 1, 1, 16, 1, _EFF), ("ibn", 3, 6, 2, 24, 2, _EFF), ("ibn", 5, 6, 2, 40, 2, _EFF),
    ("ibn", 3, 6, 3, 80, 2, _EFF), ("ibn", 5, 6, 3, 112, 1, _EFF), ("ibn", 5, 6, 4, 192, 2, _EFF),
    ("ibn", 3, 6, 1, 320, 1, _EFF)))
_EFFICIENTNET_EDGETPU_S = _stages((
    ("fused_ibn", 3, 3, 1, 24, 1), ("fused_ibn", 3, 8, 2, 32, 2), ("fused_ibn", 3, 8, 4, 48, 2),
    ("ibn", 5, 8, 5, 96, 2), ("ibn", 5, 8, 4, 144, 1), ("ibn", 5, 8, 2, 192, 2)))
_MNASNET_A1 = _stages((
    ("ibn", 3, 1, 1, 16, 1), ("ibn", 3, 6, 2, 24, 2), ("ibn", 5, 3, 3, 40, 2, _EFF), ("ibn", 3, 6, 4, 80, 2),
    ("ibn", 3, 6, 2, 112, 1, _EFF), ("ibn", 5, 6, 3, 160, 2, _EFF), ("ibn", 3, 6, 1, 320, 1)))


def _classifier(stages, stem: int, head: int, activation: str = "", hidden: int = 0):
    def build(resolution: int, num_classes: int, output_stride: int) -> NetworkGenome:
        return NetworkGenome(resolution, stem, stages, head, 1.0, num_classes, activation=activation,
                             classifier_hidden=hidden)
    return build


def _ssdlite_mobilenet_v2(resolution: int, num_classes: int, output_stride: int) -> NetworkGenome:
    return NetworkGenome(resolution, 32, _mobilenet_v2_stages(), 1280, 1.0, head=HeadGene("ssdlite", num_classes))


def _deeplabv3_mobilenet_v2(resolution: int, num_classes: int, output_stride: int) -> NetworkGenome:
    # TF DeepLab's released MobileNetV2 models: no 1x1 head conv, ASPP without atrous branches
    return NetworkGenome(resolution, 32, _mobilenet_v2_stages(), 0, 1.0,
                         head=HeadGene("deeplabv3", num_classes, output_stride), aspp="none")


def _lraspp_mobilenet_v3(resolution: int, num_classes: int, output_stride: int) -> NetworkGenome:
    return NetworkGenome(resolution, 16, _V3_LARGE, 960, 1.0, head=HeadGene("lraspp", num_classes, output_stride),
                         activation="hardswish")


# name -> builder(resolution, num_classes, output_stride) -> NetworkGenome, at width 1.0
ZOO_GENOMES = {
    "mobilenet_v2": _classifier(_mobilenet_v2_stages(), 32, 1280),
    "mobilenet_v3_large": _classifier(_V3_LARGE, 16, 960, "hardswish", 1280),
    "mobilenet_v3_small": _classifier(_V3_SMALL, 16, 576, "hardswish", 1024),
    "efficientnet_b0": _classifier(_EFFICIENTNET_B0, 32, 1280, "silu"),
    "efficientnet_edgetpu_s": _classifier(_EFFICIENTNET_EDGETPU_S, 32, 1280, "relu"),
    "mnasnet_a1": _classifier(_MNASNET_A1, 32, 1280, "relu"),
    "ssdlite_mobilenet_v2": _ssdlite_mobilenet_v2,
    "deeplabv3_mobilenet_v2": _deeplabv3_mobilenet_v2,
    "lraspp_mobilenet_v3": _lraspp_mobilenet_v3,
}
_HEADS = {"ssdlite_mobilenet_v2": "ssdlite", "deeplabv3_mobilenet_v2": "deeplabv3",
          "lraspp_mobilenet_v3": "lraspp"}
_OUTPUT_STRIDE = 16   # LR-ASPP's (torchvision's dilated MobileNetV3); DeepLabV3 takes the zoo builder's default


def _default(name: str, option: str):
    """The zoo builder's default of ``option`` (None when it has no such option)."""
    p = inspect.signature(zoo.MODELS[name]).parameters.get(option)
    return None if p is None else p.default


def zoo_genome(name: str, *, resolution: "int | None" = None, num_classes: "int | None" = None,
               output_stride: "int | None" = None) -> NetworkGenome:
    """Zoo model ``name`` (one of :data:`ZOO_GENOMES`) as a genome: its stem, stages, 1x1 head conv and
    classifier or task head. ``resolution``, ``num_classes`` (a task head's classes for a detector or
    segmenter) and a segmenter's ``output_stride`` default to the zoo model's."""
    if name not in ZOO_GENOMES:
        raise CodesignError(f"zoo genome {quote(name)}: unknown model; expected one of {', '.join(ZOO_GENOMES)}")
    where = f"zoo genome {name}"
    head = _HEADS.get(name)
    if output_stride is not None and head not in task_heads.SEGMENTERS:
        what = "a classifier" if head is None else f"a {head} detector"
        raise CodesignError(f"{where}: output_stride: {name} is {what}; only a segmenter (lraspp, deeplabv3) has "
                            "an output stride")
    options = {}
    for key, value in (("resolution", resolution), ("num_classes", num_classes)):
        if value is None:
            options[key] = _default(name, key)
            continue
        try:
            options[key] = zoo.check_option(name, key, value, f"{where}: {key}")
        except WorkloadError as exc:
            raise CodesignError(str(exc)) from None
    if head in task_heads.SEGMENTERS:
        stride = output_stride if output_stride is not None else (_default(name, "output_stride") or _OUTPUT_STRIDE)
        try:
            task_heads.check_choice(where, "output_stride", stride, task_heads.OUTPUT_STRIDES)
        except WorkloadError as exc:
            raise CodesignError(str(exc)) from None
    else:
        stride = 0
    return ZOO_GENOMES[name](options["resolution"], options["num_classes"], stride)
