"""Task heads on the IR: a detector (SSDLite) and two segmenters (LR-ASPP, DeepLabV3) that read a
backbone's feature maps, so that networks other than classifiers can be built, costed and searched.

Each head is a function of a :class:`~accelsim.workload.ir.NetworkBuilder` that already holds the
backbone, the backbone tensors the head reads and the head's settings; it adds its layers (block ids
"<head>.<part>", e.g. "ssdlite.box0", so results group by head) and returns its output tensor(s).
Batch norms are folded into the conv before them (one bias per channel), as the torch.fx importer
folds them, so a head built here and the same head traced from PyTorch have the same layers, MACs
and parameters:

- :func:`ssdlite` (Sandler et al. 2018, section 6.2): box and class predictors on two backbone maps
  (stride 16 and 32) and on four extra layers below them;
- :func:`lraspp` (Howard et al. 2019, section 6.3): Lite R-ASPP on a stride-16 map and a stride-8 map;
- :func:`deeplabv3` (Chen et al. 2017, DeepLabV3; the Mobile DeepLabv3 of Sandler et al. 2018, section
  6.3): ASPP with dense, depthwise-separable ("lite") or no atrous branches, image pooling, projection.

A segmenter keeps its backbone's output stride at 8 or 16 by dilating, not striding, the late stages:
:func:`atrous_plan` gives each stage its stride and dilation for an output stride.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import WorkloadError, quote
from .ir import NetworkBuilder

HEADS = ("ssdlite", "lraspp", "deeplabv3")
SEGMENTERS = ("lraspp", "deeplabv3")
OUTPUT_STRIDES = (8, 16, 32)
ASPP_KINDS = ("separable", "dense", "none")
# Classes each head usually predicts: COCO's 80 and a background slot (SSDLite's 4.3 M parameters),
# PASCAL VOC's 20 and background (the segmenters' published figures).
DEFAULT_CLASSES = {"ssdlite": 81, "lraspp": 21, "deeplabv3": 21}
# SSDLite on MobileNetV2 (TF Object Detection API): depths of the four extra layers, and anchors per
# location on each of the six maps (3 on the stride-16 map, 6 on the others).
SSDLITE_EXTRA_DEPTHS = (512, 256, 256, 128)
SSDLITE_ANCHORS = (3, 6, 6, 6, 6, 6)
LRASPP_CHANNELS = 128     # Howard et al. 2019, Figure 10
ASPP_CHANNELS = 256       # Chen et al. 2017
ASPP_RATES_OS16 = (6, 12, 18)


def atrous_plan(strides: Sequence[int], output_stride: "int | None", stem_stride: int = 2,
                where: str = "backbone") -> tuple:
    """``(stride, dilation, output stride after it)`` per stage of a backbone whose stem has
    ``stem_stride`` and whose stages have ``strides``, run at ``output_stride`` (None: every stride
    kept, dilation 1).

    A stage whose stride would take the running output stride past ``output_stride`` runs at stride 1
    and multiplies the dilation by its stride; every later stage keeps that dilation (TF-slim's
    ``output_stride``; torchvision's dilated MobileNetV3 gives the whole replaced stage the new
    dilation, as here). Dilation changes neither MACs nor weights, only the maps' sizes."""
    if output_stride is not None:
        check_choice(where, "output_stride", output_stride, OUTPUT_STRIDES)
    out, current, dilation = [], int(stem_stride), 1
    for s in strides:
        if output_stride is not None and current * s > output_stride:
            dilation *= int(s)
            out.append((1, dilation, current))
        else:
            current *= int(s)
            out.append((int(s), dilation, current))
    return tuple(out)


def aspp_rates(output_stride: int) -> tuple:
    """ASPP dilation rates for an output stride: 6/12/18 at 16 (Chen et al. 2017), doubled at 8
    (12/24/36), halved at 32 (3/6/9): the same field of view on the input."""
    check_choice("aspp_rates", "output_stride", output_stride, OUTPUT_STRIDES)
    return tuple(r * 16 // output_stride for r in ASPP_RATES_OS16)


# ------------------------------------------------------------------------------------ checks
def check_choice(where: str, key: str, value, choices: tuple):
    if isinstance(value, bool) or value not in choices:
        words = ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
        raise WorkloadError(f"{where}: {key}: expected {words}, got {quote(value)}")
    return value


def _check_count(where: str, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WorkloadError(f"{where}: {key}: expected a positive whole number, got {quote(value)}")
    return value


def _where(b: NetworkBuilder, head: str) -> str:
    return f"network {b.name}: head {head}"


# ------------------------------------------------------------------------------------ SSDLite
def ssdlite(b: NetworkBuilder, stride16: str, stride32: str, num_classes: int = DEFAULT_CLASSES["ssdlite"], *,
            extra_depths: Sequence[int] = SSDLITE_EXTRA_DEPTHS, anchors: Sequence[int] = SSDLITE_ANCHORS) -> tuple:
    """SSDLite (Sandler et al. 2018, section 6.2): "the first layer of SSDLite is attached to the
    expansion of layer 15 (output stride 16), the second to the last layer (output stride 32)".

    ``stride16`` and ``stride32`` are those two backbone maps (on MobileNetV2: the 576-channel expansion
    of the first 160-channel block, and the 1280-channel last conv). Each extra layer halves the map:
    1x1 conv to half its depth, 3x3 depthwise stride 2, 1x1 conv to its depth (ReLU6 after each). On
    every map a box and a class predictor, each a 3x3 depthwise conv (ReLU6) and a 1x1 conv to anchors
    x 4 box offsets or anchors x ``num_classes`` scores (background included). Returns ``(boxes,
    scores)``: the predictions of every map flattened and concatenated, (1, 1, boxes x 4) and
    (1, 1, boxes x classes)."""
    where = _where(b, "ssdlite")
    _check_count(where, "num_classes", num_classes)
    depths = tuple(extra_depths)
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 2:
            raise WorkloadError(f"{where}: extra_depths: expected whole numbers >= 2, got {quote(list(depths))}")
    anchors = tuple(anchors)
    if len(anchors) != 2 + len(depths):
        raise WorkloadError(f"{where}: anchors: expected one entry per map ({2 + len(depths)}: two backbone maps "
                            f"and {len(depths)} extra layers), got {len(anchors)}")
    for a in anchors:
        _check_count(where, "anchors", a)
    maps = [stride16, stride32]
    for i, depth in enumerate(depths):
        with b.block(f"ssdlite.extra{i}"):
            y = b.conv(maps[-1], depth // 2, 1, activation="relu6", name=f"ssdlite.extra{i}.reduce")
            y = b.depthwise(y, 3, 2, activation="relu6", name=f"ssdlite.extra{i}.dw")
            maps.append(b.conv(y, depth, 1, activation="relu6", name=f"ssdlite.extra{i}.expand"))
    predictions = {"box": [], "cls": []}
    for i, (f, a) in enumerate(zip(maps, anchors)):
        for kind, per_anchor in (("box", 4), ("cls", num_classes)):
            with b.block(f"ssdlite.{kind}{i}"):
                y = b.depthwise(f, 3, 1, activation="relu6", name=f"ssdlite.{kind}{i}.dw")
                predictions[kind].append(b.conv(y, a * per_anchor, 1, name=f"ssdlite.{kind}{i}"))
    out = []
    with b.block("ssdlite.out"):
        for kind, name in (("box", "boxes"), ("cls", "scores")):
            flat = []
            for t in predictions[kind]:   # a 1x1 map is already flat (and the importer adds no reshape)
                h, w, c = b.shape(t)
                flat.append(t if (h, w) == (1, 1) else b.reshape(t, (1, 1, h * w * c), name=f"{t}.flat"))
            out.append(b.concat(*flat, name=f"ssdlite.{name}"))
    return tuple(out)


# ------------------------------------------------------------------------------------ LR-ASPP
def lraspp(b: NetworkBuilder, low: str, high: str, num_classes: int = DEFAULT_CLASSES["lraspp"], *,
           channels: int = LRASPP_CHANNELS) -> str:
    """Lite R-ASPP (Howard et al. 2019, section 6.3): on the high-level map ``high`` (stride 16) a 1x1
    conv + BN + ReLU to ``channels``, times a gate (global average pool, 1x1 conv without bias,
    sigmoid); bilinear upsampling to the low-level map ``low`` (stride 8); a 1x1 classifier on each
    (with bias), summed, and bilinear upsampling to the input size. Returns the (H, W, classes) map."""
    where = _where(b, "lraspp")
    _check_count(where, "num_classes", num_classes)
    _check_count(where, "channels", channels)
    with b.block("lraspp.0"):
        y = b.conv(high, channels, 1, activation="relu", name="lraspp.cbr")
        gate = b.global_avg_pool(high, name="lraspp.pool")
        gate = b.conv(gate, channels, 1, activation="sigmoid", bias=False, name="lraspp.scale")
        y = b.mul(y, gate, name="lraspp.gate")
        y = b.upsample(y, mode="bilinear", size=b.shape(low)[:2], name="lraspp.up")
        y = b.add(b.conv(low, num_classes, 1, name="lraspp.low_classifier"),
                  b.conv(y, num_classes, 1, name="lraspp.high_classifier"), name="lraspp.sum")
        return b.upsample(y, mode="bilinear", size=b.input_shape[:2], name="lraspp.out")


# ------------------------------------------------------------------------------------ DeepLabV3
def deeplabv3(b: NetworkBuilder, features: str, num_classes: int = DEFAULT_CLASSES["deeplabv3"], *,
              output_stride: int = 16, channels: int = ASPP_CHANNELS, aspp: str = "separable",
              rates: "Sequence[int] | None" = None, refine: bool = False) -> str:
    """DeepLabV3 (Chen et al. 2017) on ``features`` (the backbone's last map, at ``output_stride``).

    ASPP: a 1x1 conv, three atrous branches at ``rates`` (default :func:`aspp_rates`: 6/12/18 at output
    stride 16, 12/24/36 at 8) and image pooling (global average pool, 1x1 conv, bilinear upsampling
    back), each to ``channels`` with BN + ReLU; concatenated, projected by a 1x1 conv (BN + ReLU), a
    1x1 classifier (with bias), bilinear upsampling to the input size. ``aspp`` picks the atrous
    branches: ``separable`` (the lite head: each a 3x3 depthwise conv at the rate, BN + ReLU, then a
    1x1 conv, as TF DeepLab's ``aspp_with_separable_conv``), ``dense`` (3x3 convs, the paper's) or
    ``none`` (only the 1x1 and pooling branches: TF DeepLab's released MobileNetV2 models).
    ``refine`` adds torchvision's 3x3 conv (BN + ReLU) between projection and classifier. Returns the
    (H, W, classes) map."""
    where = _where(b, "deeplabv3")
    _check_count(where, "num_classes", num_classes)
    _check_count(where, "channels", channels)
    check_choice(where, "aspp", aspp, ASPP_KINDS)
    check_choice(where, "output_stride", output_stride, OUTPUT_STRIDES)
    rates = aspp_rates(output_stride) if rates is None else tuple(rates)
    for r in rates:
        _check_count(where, "rates", r)
    h, w, _ = b.shape(features)
    with b.block("deeplabv3.aspp"):
        branches = [b.conv(features, channels, 1, activation="relu", name="deeplabv3.aspp0")]
        for i, r in enumerate(rates if aspp != "none" else (), start=1):
            if aspp == "dense":
                branches.append(b.conv(features, channels, 3, dilation=r, activation="relu",
                                       name=f"deeplabv3.aspp{i}"))
            else:
                y = b.depthwise(features, 3, dilation=r, activation="relu", name=f"deeplabv3.aspp{i}.dw")
                branches.append(b.conv(y, channels, 1, activation="relu", name=f"deeplabv3.aspp{i}"))
        y = b.global_avg_pool(features, name="deeplabv3.pool")
        y = b.conv(y, channels, 1, activation="relu", name="deeplabv3.pool_conv")
        branches.append(b.upsample(y, mode="bilinear", size=(h, w), name="deeplabv3.pool_up"))
        y = b.concat(*branches, name="deeplabv3.concat")
        y = b.conv(y, channels, 1, activation="relu", name="deeplabv3.project")
    with b.block("deeplabv3.classifier"):
        if refine:
            y = b.conv(y, channels, 3, activation="relu", name="deeplabv3.refine")
        y = b.conv(y, num_classes, 1, name="deeplabv3.classifier")
        return b.upsample(y, mode="bilinear", size=b.input_shape[:2], name="deeplabv3.out")
