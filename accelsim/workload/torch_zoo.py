"""Model zoo as plain PyTorch modules (no torchvision), for the torch.fx importer.

Each class follows the paper (and, where the paper leaves details open, the reference
implementation named in its docstring) closely enough that MACs and parameters match the
published figures within 2 %; ``accelsim.workload.zoo`` turns them into Networks with
:func:`accelsim.workload.torch_import.from_torch`. Convolutions followed by batch norm carry no
bias of their own (the importer folds the batch norm into one). Weights are left at their
default initialisation; only shapes matter to the simulator.
"""

from __future__ import annotations

import math

from ..extras import importing

with importing("torch", "torch", "accelsim.workload.torch_zoo (the zoo models traced from PyTorch)"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

from . import heads as H
from .mobilenet_arch import MOBILENET_V2_STAGES, make_divisible
from .nb201_arch import NB201_DEFAULT_ARCH, NB201_OP_TABLE, parse_nb201


# ---- building blocks -------------------------------------------------------------------------
def conv_bn(cin: int, cout: int, kernel=3, stride=1, groups: int = 1, act=nn.ReLU, dilation: int = 1,
            padding=None) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ activation); 'same' padding for odd kernels unless given."""
    k = kernel if isinstance(kernel, int) else kernel[0]
    pad = (k - 1) // 2 * dilation if padding is None else padding
    layers = [nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Global pool -> 1x1 reduce (bias) -> act -> 1x1 expand (bias) -> gate, times the input."""

    def __init__(self, channels: int, squeeze: int, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """IBN (1x1 expand -> kxk depthwise -> [SE] -> 1x1 project) or fused IBN (kxk expand -> [SE] -> 1x1).

    The expand conv is left out when an IBN's ``mid`` equals ``cin``; the residual is added when the
    stride is 1 and the channels agree (and ``skip`` is true). A ``dilation`` above 1 replaces the
    stride (as torchvision's dilated MobileNetV3): the kxk conv runs at stride 1 with its taps
    ``dilation`` apart, and a block whose stride was replaced keeps no residual.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, mid: int, act=nn.ReLU6, se: int = 0,
                 se_act=nn.ReLU, se_gate=nn.Sigmoid, fused: bool = False, dilation: int = 1, skip: bool = True):
        super().__init__()
        layers = []
        if fused:
            layers.append(conv_bn(cin, mid, kernel, 1 if dilation > 1 else stride, act=act, dilation=dilation))
        else:
            if mid != cin:
                layers.append(conv_bn(cin, mid, 1, act=act))
            layers.append(conv_bn(mid, mid, kernel, 1 if dilation > 1 else stride, groups=mid, act=act,
                                  dilation=dilation))
        if se:
            layers.append(SqueezeExcite(mid, se, se_act, se_gate))
        layers.append(conv_bn(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = skip and stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class _Classifier(nn.Module):
    """features -> global average pool -> flatten -> dropout -> head."""

    def forward(self, x):
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.classifier(x)


# ---- MobileNetV2 -------------------------------------------------------------------------------
class MobileNetV2(_Classifier):
    """MobileNetV2 (Sandler et al. 2018), the same network as the IR-direct ``zoo.mobilenet_v2``."""

    def __init__(self, width: float = 1.0, num_classes: int = 1000):
        super().__init__()
        c = make_divisible(32 * width)
        features = [conv_bn(3, c, 3, 2, act=nn.ReLU6)]
        for t, ch, n, s in MOBILENET_V2_STAGES:
            out = make_divisible(ch * width)
            for i in range(n):
                features.append(InvertedResidual(c, out, 3, s if i == 0 else 1, int(round(c * t)), act=nn.ReLU6))
                c = out
        self.last_channels = make_divisible(1280 * max(1.0, width))
        features.append(conv_bn(c, self.last_channels, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channels, num_classes))


# ---- MobileNetV3 -------------------------------------------------------------------------------
# (kernel, expanded channels, out channels, squeeze-excite, activation, stride): Howard et al. 2019,
# Tables 1 and 2.
MOBILENET_V3_LARGE = (
    (3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1), (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1),
)
MOBILENET_V3_SMALL = (
    (3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1),
)


def mobilenet_v3_features(variant: str = "large", width: float = 1.0, dilated: bool = False) -> nn.Sequential:
    """Stem, bottlenecks and the last 1x1 conv; ``dilated`` makes the last stage stride 1, dilation 2."""
    table = MOBILENET_V3_LARGE if variant == "large" else MOBILENET_V3_SMALL
    c = make_divisible(16 * width)
    layers = [conv_bn(3, c, 3, 2, act=nn.Hardswish)]
    last_stage = max(i for i, row in enumerate(table) if row[5] == 2)
    for i, (k, exp, out, se, act, s) in enumerate(table):
        exp, out = make_divisible(exp * width), make_divisible(out * width)
        dilation = 2 if dilated and i >= last_stage else 1
        layers.append(InvertedResidual(c, out, k, s, exp, act=nn.ReLU if act == "RE" else nn.Hardswish,
                                       se=make_divisible(exp // 4) if se else 0, se_act=nn.ReLU,
                                       se_gate=nn.Hardsigmoid, dilation=dilation))
        c = out
    layers.append(conv_bn(c, 6 * c, 1, act=nn.Hardswish))
    return nn.Sequential(*layers)


class MobileNetV3(_Classifier):
    """MobileNetV3-Large/Small (Howard et al. 2019); SE squeeze = expanded/4 rounded to 8 (as torchvision)."""

    def __init__(self, variant: str = "large", width: float = 1.0, num_classes: int = 1000):
        super().__init__()
        if variant not in ("large", "small"):
            raise ValueError(f"MobileNetV3 variant must be 'large' or 'small', got {variant!r}")
        self.features = mobilenet_v3_features(variant, width)
        last = self.features[-1][0].out_channels
        head = make_divisible((1280 if variant == "large" else 1024) * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last, head), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(head, num_classes))


# ---- EfficientNet-B0, EdgeTPU-S, MnasNet-A1 -----------------------------------------------------
class _BlockNet(_Classifier):
    """Stem conv, a list of (kind, repeats, kernel, stride, expansion, out, se_ratio) stages, 1x1 head."""

    def __init__(self, stages, act, stem: int = 32, head: int = 1280, num_classes: int = 1000, se_act=None,
                 dropout: float = 0.2):
        super().__init__()
        layers = [conv_bn(3, stem, 3, 2, act=act)]
        c = stem
        for kind, repeats, k, s, e, out, se_ratio, *extra in stages:
            for i in range(repeats):
                stride = s if i == 0 else 1
                mid = int((extra[0] if (extra and i == 0) else c) * e)
                se = max(1, int(c * se_ratio)) if se_ratio else 0
                skip = not (extra and len(extra) > 1 and extra[1] == "noskip")
                layers.append(InvertedResidual(c, out, k, stride, mid, act=act, se=se, se_act=se_act or act,
                                               se_gate=nn.Sigmoid, fused=kind == "er", skip=skip))
                c = out
        layers.append(conv_bn(c, head, 1, act=act))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))


# Tan & Le 2019, Table 1: (kind, repeats, kernel, stride, expansion, out, se ratio of the block input)
EFFICIENTNET_B0 = (("ir", 1, 3, 1, 1, 16, 0.25), ("ir", 2, 3, 2, 6, 24, 0.25), ("ir", 2, 5, 2, 6, 40, 0.25),
                   ("ir", 3, 3, 2, 6, 80, 0.25), ("ir", 3, 5, 1, 6, 112, 0.25), ("ir", 4, 5, 2, 6, 192, 0.25),
                   ("ir", 1, 3, 1, 6, 320, 0.25))
# EfficientNet-EdgeTPU-S (Gupta & Akin 2019; block list of the TF reference / timm efficientnet_es):
# fused IBN ("er") in the first three stages, no squeeze-excite, ReLU. The first block expands from
# 24 channels (not the 32 of the stem) and has no residual.
EFFICIENTNET_EDGETPU_S = (("er", 1, 3, 1, 4, 24, 0, 24, "noskip"), ("er", 2, 3, 2, 8, 32, 0),
                          ("er", 4, 3, 2, 8, 48, 0), ("ir", 5, 5, 2, 8, 96, 0), ("ir", 4, 5, 1, 8, 144, 0),
                          ("ir", 2, 5, 2, 8, 192, 0))
# MnasNet-A1 (Tan et al. 2019, Figure 7): SepConv, then MBConv stages, SE in stages 3, 5 and 6.
MNASNET_A1 = (("ir", 1, 3, 1, 1, 16, 0), ("ir", 2, 3, 2, 6, 24, 0), ("ir", 3, 5, 2, 3, 40, 0.25),
              ("ir", 4, 3, 2, 6, 80, 0), ("ir", 2, 3, 1, 6, 112, 0.25), ("ir", 3, 5, 2, 6, 160, 0.25),
              ("ir", 1, 3, 1, 6, 320, 0))


class EfficientNetB0(_BlockNet):
    """EfficientNet-B0 (Tan & Le 2019): SiLU, SE on every block (squeeze = block input / 4)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__(EFFICIENTNET_B0, nn.SiLU, num_classes=num_classes)


class EfficientNetEdgeTPUS(_BlockNet):
    """EfficientNet-EdgeTPU-S: fused IBN in the early stages, plain IBN later, ReLU, no SE."""

    def __init__(self, num_classes: int = 1000):
        super().__init__(EFFICIENTNET_EDGETPU_S, nn.ReLU, num_classes=num_classes)


class MnasNetA1(_BlockNet):
    """MnasNet-A1 (Tan et al. 2019): ReLU, SE (ReLU, sigmoid) in three stages."""

    def __init__(self, num_classes: int = 1000):
        super().__init__(MNASNET_A1, nn.ReLU, num_classes=num_classes)


# ---- ResNet ------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(cin, planes, 3, stride)
        self.conv2 = conv_bn(planes, planes, 3, act=None)
        self.downsample = conv_bn(cin, planes, 1, stride, act=None) if stride != 1 or cin != planes else None
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: the stride sits on the 3x3 conv (as torchvision)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        out = planes * 4
        self.conv1 = conv_bn(cin, planes, 1)
        self.conv2 = conv_bn(planes, planes, 3, stride)
        self.conv3 = conv_bn(planes, out, 1, act=None)
        self.downsample = conv_bn(cin, out, 1, stride, act=None) if stride != 1 or cin != out else None
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class ResNet(_Classifier):
    """ResNet-18/34 (basic blocks) and -50/101 (bottlenecks), He et al. 2016."""

    def __init__(self, block, layers, num_classes: int = 1000):
        super().__init__()
        stages = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        c = 64
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(c, planes, 2 if (j == 0 and i > 0) else 1))
                c = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)


# ---- keyword spotting: DS-CNN ------------------------------------------------------------------
# Zhang et al. 2017 "Hello Edge" (ARM ML-KWS-for-MCU model_size_info): filters, DS layers, first stride.
DS_CNN_SIZES = {"s": (64, 4, (2, 2)), "m": (172, 4, (2, 1)), "l": (276, 5, (2, 1))}


class DSCNN(nn.Module):
    """DS-CNN for keyword spotting on 49x10 MFCC frames: conv 10x4 (TF 'SAME' padding), DS blocks, pool, FC."""

    def __init__(self, size: str = "s", num_classes: int = 12, frames: int = 49, coefficients: int = 10):
        super().__init__()
        if size not in DS_CNN_SIZES:
            raise ValueError(f"DS-CNN size must be one of {', '.join(DS_CNN_SIZES)}, got {size!r}")
        filters, blocks, (st, sf) = DS_CNN_SIZES[size]
        # TensorFlow 'SAME': output ceil(n / stride); the odd pad pixel goes at the end
        pads = []
        for n, k, s in ((frames, 10, st), (coefficients, 4, sf)):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        self.pad = nn.ZeroPad2d((left, right, top, bottom))
        self.conv1 = conv_bn(1, filters, (10, 4), (st, sf), padding=0)
        layers = []
        for i in range(blocks):
            stride = 2 if (i == 0 and size != "s") else 1
            layers += [conv_bn(filters, filters, 3, stride, groups=filters), conv_bn(filters, filters, 1)]
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x):
        x = self.blocks(self.conv1(self.pad(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---- task heads (the torch form of accelsim.workload.heads; also codesign's genome twins) ----------
class SSDLiteHead(nn.Module):
    """SSDLite (:func:`accelsim.workload.heads.ssdlite`): four extra layers (1x1 conv to half depth,
    3x3 depthwise stride 2, 1x1 conv; ReLU6) and on all six maps a box and a class predictor (3x3
    depthwise + ReLU6, 1x1 conv with bias). Returns (boxes (N, B, 4), scores (N, B, classes))."""

    def __init__(self, c16: int, c32: int, num_classes: int, extra_depths=H.SSDLITE_EXTRA_DEPTHS,
                 anchors=H.SSDLITE_ANCHORS):
        super().__init__()
        channels = [c16, c32]
        extras = []
        for depth in extra_depths:
            half = depth // 2
            extras.append(nn.Sequential(conv_bn(channels[-1], half, 1, act=nn.ReLU6),
                                        conv_bn(half, half, 3, 2, groups=half, act=nn.ReLU6),
                                        conv_bn(half, depth, 1, act=nn.ReLU6)))
            channels.append(depth)
        self.extras = nn.ModuleList(extras)
        self.num_classes = num_classes
        self.box = nn.ModuleList(self._predictor(c, a * 4) for c, a in zip(channels, anchors))
        self.cls = nn.ModuleList(self._predictor(c, a * num_classes) for c, a in zip(channels, anchors))

    @staticmethod
    def _predictor(c: int, out: int) -> nn.Sequential:
        return nn.Sequential(conv_bn(c, c, 3, groups=c, act=nn.ReLU6), nn.Conv2d(c, out, 1))

    def forward(self, f16, f32):
        maps = [f16, f32]
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        boxes, scores = [], []
        for f, box, cls in zip(maps, self.box, self.cls):
            boxes.append(box(f).permute(0, 2, 3, 1).reshape(f.shape[0], -1, 4))
            scores.append(cls(f).permute(0, 2, 3, 1).reshape(f.shape[0], -1, self.num_classes))
        return torch.cat(boxes, 1), torch.cat(scores, 1)


class LRASPPHead(nn.Module):
    """Lite R-ASPP (:func:`accelsim.workload.heads.lraspp`), as torchvision's ``LRASPPHead``."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, channels: int = H.LRASPP_CHANNELS):
        super().__init__()
        self.cbr = conv_bn(high_channels, channels, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, low, high, size):
        y = self.cbr(high) * self.scale(high)
        y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.low_classifier(low) + self.high_classifier(y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class DeepLabV3Head(nn.Module):
    """DeepLabV3 (:func:`accelsim.workload.heads.deeplabv3`): ASPP with ``aspp`` atrous branches
    (separable, dense or none), image pooling, 1x1 projection, [3x3 refine,] 1x1 classifier, resize."""

    def __init__(self, in_channels: int, num_classes: int, output_stride: int = 16, channels: int = H.ASPP_CHANNELS,
                 aspp: str = "separable", rates=None, refine: bool = False):
        super().__init__()
        rates = H.aspp_rates(output_stride) if rates is None else tuple(rates)
        branches = [conv_bn(in_channels, channels, 1)]
        for r in rates if aspp != "none" else ():
            if aspp == "dense":
                branches.append(conv_bn(in_channels, channels, 3, dilation=r))
            else:
                branches.append(nn.Sequential(conv_bn(in_channels, in_channels, 3, groups=in_channels, dilation=r),
                                              conv_bn(in_channels, channels, 1)))
        self.branches = nn.ModuleList(branches)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool_conv = conv_bn(in_channels, channels, 1)
        self.project = conv_bn(channels * (len(branches) + 1), channels, 1)
        self.refine = conv_bn(channels, channels, 3) if refine else None
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x, size):
        ys = [branch(x) for branch in self.branches]
        ys.append(F.interpolate(self.pool_conv(self.pool(x)), size=x.shape[-2:], mode="bilinear",
                                align_corners=False))
        y = self.project(torch.cat(ys, 1))
        if self.refine is not None:
            y = self.refine(y)
        return F.interpolate(self.classifier(y), size=size, mode="bilinear", align_corners=False)


# ---- SSDLite on MobileNetV2 -----------------------------------------------------------------------
class SSDLiteMobileNetV2(SSDLiteHead):
    """SSDLite with a MobileNetV2 backbone (Sandler et al. 2018, section 6.2; TF Object Detection API).

    Feature maps: the expansion output of the first 160-channel block (stride 16, 576 channels), the
    final 1x1 conv (stride 32, 1280 channels) and four extra layers (1x1 conv to half depth, 3x3
    depthwise stride 2, 1x1 conv) of depth 512, 256, 256 and 128. Every box/class predictor is a
    3x3 depthwise conv + 1x1 conv; 3 anchors on the first map and 6 on the others. The default 81
    class slots (80 COCO classes + background) give the paper's 4.3 M parameters; the TF Object
    Detection API label map's 91 slots give 4.48 M.
    """

    def __init__(self, num_classes: int = 81, width: float = 1.0):
        backbone = MobileNetV2(width).features
        expand = backbone[14].block[0]           # the expansion conv of the first 160-channel block
        super().__init__(expand[0].out_channels, backbone[-1][0].out_channels, num_classes)
        self.stem = backbone[:14]                # up to the last 96-channel block (stride 16)
        self.expand = expand                     # first feature map
        self.rest = nn.Sequential(*backbone[14].block[1:])
        self.tail = backbone[15:]                # remaining blocks and the 1x1 head conv (stride 32)

    def forward(self, x):
        e = self.expand(self.stem(x))
        return super().forward(e, self.tail(self.rest(e)))


# ---- LR-ASPP segmentation on MobileNetV3-Large ---------------------------------------------------
class LRASPPMobileNetV3(LRASPPHead):
    """Lite R-ASPP (Howard et al. 2019, section 6.3) on a dilated MobileNetV3-Large, as torchvision's
    ``lraspp_mobilenet_v3_large``: low-level features at stride 8 (40 ch), high-level at stride 16 (960 ch)."""

    def __init__(self, num_classes: int = 21, inter_channels: int = 128):
        features = mobilenet_v3_features("large", dilated=True)
        super().__init__(features[4].block[-1][0].out_channels, features[-1][0].out_channels, num_classes,
                         inter_channels)
        self.low = features[:5]
        self.high = features[5:]

    def forward(self, x):
        low = self.low(x)
        return super().forward(low, self.high(low), x.shape[-2:])


# ---- tiny ViT -------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention with the two attention products written as matmuls."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, t):  # (B, T, C) -> (B, heads, T, head_dim)
        return t.reshape(t.shape[0], -1, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        attn = self.softmax((q @ k.transpose(-2, -1)) * self.scale)
        y = (attn @ v).transpose(1, 2).reshape(x.shape[0], -1, self.heads * self.head_dim)
        return self.proj(y)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Vision transformer (Dosovitskiy et al. 2021) with ViT-Ti/DeiT-Ti sizes by default.

    Patch embedding (conv k=s=patch), learned position embedding, ``depth`` pre-norm blocks, final
    norm, mean over tokens (instead of a class token), linear head.
    """

    def __init__(self, resolution: int = 224, patch: int = 16, dim: int = 192, depth: int = 12, heads: int = 3,
                 num_classes: int = 1000):
        super().__init__()
        tokens = (resolution // patch) ** 2
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.Sequential(*(TransformerBlock(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))


# ---- NAS-Bench-201 ---------------------------------------------------------------------------------
# (the arch-string format lives in the torch-free nb201_arch module; re-exported here)

class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, bias=False),
                         nn.BatchNorm2d(cout))


class NB201Cell(nn.Module):
    """Four nodes; node j sums op(node i) over i < j; 'none' edges are left out."""

    def __init__(self, nodes, channels: int):
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict()
        for j, node in enumerate(nodes, start=1):
            for op, i in node:
                key = f"{j}_{i}"
                kind, k = NB201_OP_TABLE[op]
                if kind == "identity":
                    self.edges[key] = nn.Identity()
                elif kind == "relu_conv_bn":
                    self.edges[key] = ReLUConvBN(channels, channels, k)
                elif kind == "avg_pool":
                    self.edges[key] = nn.AvgPool2d(k, 1, (k - 1) // 2, count_include_pad=False)

    def forward(self, x):
        states = [x]
        for j, node in enumerate(self.nodes, start=1):
            terms = [self.edges[f"{j}_{i}"](states[i]) for op, i in node if op != "none"]
            if not terms:  # every input edge is 'none': the node is zero (NB201's Zero op is x * 0)
                terms = [states[0] * 0.0]
            s = terms[0]
            for t in terms[1:]:
                s = s + t
            states.append(s)
        return states[-1]


class NB201ResBlock(nn.Module):
    """NB201 reduction block: ReLU-conv3x3(s2)-BN, ReLU-conv3x3-BN, shortcut avgpool(2) + 1x1 conv."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.a = ReLUConvBN(cin, cout, 3, 2)
        self.b = ReLUConvBN(cout, cout, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


class NB201Net(nn.Module):
    """NAS-Bench-201 macro skeleton (Dong & Yang 2020): stem 3x3 conv 16 + BN, three stages of
    ``cells`` cells at C = 16, 32, 64 with residual reduction blocks between them, BN + ReLU,
    global pool, linear classifier; CIFAR input 32x32."""

    def __init__(self, arch: str = NB201_DEFAULT_ARCH, channels: int = 16, cells: int = 5, num_classes: int = 10):
        super().__init__()
        nodes = parse_nb201(arch)
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))
        layers = []
        c = channels
        for stage in range(3):
            if stage:
                layers.append(NB201ResBlock(c, c * 2))
                c *= 2
            layers += [NB201Cell(nodes, c) for _ in range(cells)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))
