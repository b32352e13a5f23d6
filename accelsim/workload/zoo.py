"""Model zoo: ``load_model(name, **options)`` looks a model up in ``MODELS``.

``mobilenet_v2``, ``deeplabv3_mobilenet_v2``, ``ibn_block`` and ``fused_ibn_block`` are built directly
in the IR (no tracing), so they are cheap to construct (the fast path for search). The other models
are PyTorch modules (:mod:`accelsim.workload.torch_zoo`) imported with the torch.fx importer; torch
is imported only when one of them is built. Each builder takes ``precision`` and, where it makes sense,
``resolution`` and its own options (e.g. ``width`` for MobileNets, ``arch`` for NAS-Bench-201).
``model_info()`` lists every model's default input shape, MACs and parameters.

Every layer carries a block id for grouped results: the hand-built models use "stem.0",
"s<stage>.b<block>" and "head.0"; the traced ones use their module paths (e.g. "features.3").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

from .. import precision as prec
from ..errors import WorkloadError, quote
from . import heads
from .ir import Network, NetworkBuilder
from .mobilenet_arch import MOBILENET_V2_STAGES, make_divisible


def mobilenet_v2(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                 precision: str = "int8", weight_precision: str | None = None) -> Network:
    """MobileNetV2 (Sandler et al. 2018): 300 M MACs, 3.4 M parameters at width 1.0, 224x224."""
    b = NetworkBuilder(f"mobilenet_v2_{width:g}_{resolution}", (resolution, resolution, 3), precision,
                       weight_precision)
    x = _mobilenet_v2_stages(b, width)
    last = make_divisible(1280 * max(1.0, width))
    with b.block("head.0"):
        x = b.conv(x, last, 1, activation="relu6", name="head")
        x = b.global_avg_pool(x, name="pool")
        b.linear(x, num_classes, name="classifier")
    return b.build()


def _mobilenet_v2_stages(b: NetworkBuilder, width: float, output_stride: int | None = None) -> str:
    """MobileNetV2's stem and seven stages (up to the 320-channel block) on ``b``; returns the last
    tensor. With ``output_stride`` the stages past it are dilated instead of strided
    (:func:`~accelsim.workload.heads.atrous_plan`)."""
    c = make_divisible(32 * width)
    with b.block("stem.0"):
        x = b.conv(b.input, c, 3, 2, activation="relu6", bias=True, name="stem")
    plan = heads.atrous_plan([s for *_, s in MOBILENET_V2_STAGES], output_stride, where=f"network {b.name}")
    for si, ((t, ch, n, s), (stride, dilation, _)) in enumerate(zip(MOBILENET_V2_STAGES, plan)):
        out = make_divisible(ch * width)
        for i in range(n):   # each IBN's layers carry its name, "s<si>.b<i>", as their block id
            # a block whose stride became a dilation keeps no residual (torchvision's rule)
            residual = False if (i == 0 and s > 1 and stride == 1) else None
            x = b.ibn(x, out, expansion=t, kernel=3, stride=stride if i == 0 else 1, name=f"s{si}.b{i}",
                      residual=residual, dilation=dilation)
    return x


def deeplabv3_mobilenet_v2(resolution: int = 513, num_classes: int = 21, output_stride: int = 16,
                           width: float = 1.0, aspp: str = "none", precision: str = "int8") -> Network:
    """DeepLabV3 on MobileNetV2 (Sandler et al. 2018, section 6.3; TF DeepLab's released
    ``mobilenetv2_coco_voc_trainaug``): the backbone up to its 320-channel stage, dilated past
    ``output_stride``, then the DeepLabV3 head of :func:`~accelsim.workload.heads.deeplabv3` with
    ``aspp`` atrous branches (``none``: the released models' 1x1 + image pooling branches; ``separable``:
    the lite ASPP; ``dense``: the paper's 3x3 convs). At 513x513, output stride 16: 2.74 G MACs, 2.10 M
    params (TF DeepLab model zoo: 2.75 B multiply-adds)."""
    b = NetworkBuilder(f"deeplabv3_mobilenet_v2_{width:g}_{resolution}_os{output_stride}",
                       (resolution, resolution, 3), precision)
    x = _mobilenet_v2_stages(b, width, output_stride)
    heads.deeplabv3(b, x, num_classes, output_stride=output_stride, aspp=aspp)
    return b.build()


def ibn_block(resolution: int = 56, channels: int = 24, out_channels: int | None = None, expansion: float = 6,
              kernel: int = 3, stride: int = 1, precision: str = "int8") -> Network:
    """A single inverted-bottleneck block, for block-level studies."""
    b = NetworkBuilder(f"ibn_{resolution}_{channels}", (resolution, resolution, channels), precision)
    with b.block("s0.b0"):
        b.ibn(b.input, out_channels or channels, expansion, kernel, stride, name="ibn")
    return b.build()


def fused_ibn_block(resolution: int = 56, channels: int = 24, out_channels: int | None = None,
                    expansion: float = 6, kernel: int = 3, stride: int = 1, precision: str = "int8") -> Network:
    """A single fused inverted-bottleneck block (kxk conv expand -> 1x1 project)."""
    b = NetworkBuilder(f"fused_ibn_{resolution}_{channels}", (resolution, resolution, channels), precision)
    with b.block("s0.b0"):
        b.fused_ibn(b.input, out_channels or channels, expansion, kernel, stride, name="fibn")
    return b.build()


# ---- PyTorch zoo, imported with torch.fx ----------------------------------------------------------
def _torch_zoo(name: str):
    """:mod:`accelsim.workload.torch_zoo`; without torch, one line naming the extra that model ``name`` needs."""
    from ..extras import require
    require("torch", "torch", f"model {name}")
    from . import torch_zoo
    return torch_zoo


def _traced(make_module, input_shape, name: str, precision: str) -> Network:
    from .torch_import import from_torch
    try:
        module = make_module()
    except ValueError as exc:  # a bad builder option (unknown variant, malformed arch string)
        raise WorkloadError(f"model {name}: {exc}") from None
    return from_torch(module, input_shape, name=name, precision=precision)


def mobilenet_v2_torch(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                       precision: str = "int8") -> Network:
    """MobileNetV2 as a PyTorch module via torch.fx (same layers as mobilenet_v2): 300 M MACs, 3.5 M params."""
    tz = _torch_zoo("mobilenet_v2_torch")
    return _traced(lambda: tz.MobileNetV2(width, num_classes), (3, resolution, resolution),
                   f"mobilenet_v2_torch_{width:g}_{resolution}", precision)


def mobilenet_v3_large(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                       precision: str = "int8") -> Network:
    """MobileNetV3-Large (Howard et al. 2019): 217 M MACs, 5.47 M params at 224 (paper: 219 M, 5.4 M)."""
    tz = _torch_zoo("mobilenet_v3_large")
    return _traced(lambda: tz.MobileNetV3("large", width, num_classes), (3, resolution, resolution),
                   f"mobilenet_v3_large_{width:g}_{resolution}", precision)


def mobilenet_v3_small(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                       precision: str = "int8") -> Network:
    """MobileNetV3-Small (Howard et al. 2019): 56.5 M MACs, 2.54 M params at 224 (paper: 56 M, 2.5 M)."""
    tz = _torch_zoo("mobilenet_v3_small")
    return _traced(lambda: tz.MobileNetV3("small", width, num_classes), (3, resolution, resolution),
                   f"mobilenet_v3_small_{width:g}_{resolution}", precision)


def efficientnet_b0(resolution: int = 224, num_classes: int = 1000, precision: str = "int8") -> Network:
    """EfficientNet-B0 (Tan & Le 2019): 386 M MACs, 5.27 M params at 224 (paper: 0.39 B, 5.3 M)."""
    tz = _torch_zoo("efficientnet_b0")
    return _traced(lambda: tz.EfficientNetB0(num_classes), (3, resolution, resolution),
                   f"efficientnet_b0_{resolution}", precision)


def efficientnet_edgetpu_s(resolution: int = 224, num_classes: int = 1000, precision: str = "int8") -> Network:
    """EfficientNet-EdgeTPU-S (fused IBN early stages): 1.79 G MACs, 5.41 M params at 224."""
    tz = _torch_zoo("efficientnet_edgetpu_s")
    return _traced(lambda: tz.EfficientNetEdgeTPUS(num_classes), (3, resolution, resolution),
                   f"efficientnet_edgetpu_s_{resolution}", precision)


def mnasnet_a1(resolution: int = 224, num_classes: int = 1000, precision: str = "int8") -> Network:
    """MnasNet-A1 (Tan et al. 2019): 312 M MACs, 3.87 M params at 224 (paper: 312 M, 3.9 M)."""
    tz = _torch_zoo("mnasnet_a1")
    return _traced(lambda: tz.MnasNetA1(num_classes), (3, resolution, resolution),
                   f"mnasnet_a1_{resolution}", precision)


def resnet18(resolution: int = 224, num_classes: int = 1000, precision: str = "int8") -> Network:
    """ResNet-18 (He et al. 2016): 1.81 G MACs, 11.7 M params at 224."""
    tz = _torch_zoo("resnet18")
    return _traced(lambda: tz.ResNet(tz.BasicBlock, (2, 2, 2, 2), num_classes), (3, resolution, resolution),
                   f"resnet18_{resolution}", precision)


def resnet50(resolution: int = 224, num_classes: int = 1000, precision: str = "int8") -> Network:
    """ResNet-50 v1.5 (stride on the 3x3 conv): 4.09 G MACs, 25.5 M params at 224."""
    tz = _torch_zoo("resnet50")
    return _traced(lambda: tz.ResNet(tz.Bottleneck, (3, 4, 6, 3), num_classes), (3, resolution, resolution),
                   f"resnet50_{resolution}", precision)


def ds_cnn(size: str = "s", frames: int = 49, coefficients: int = 10, num_classes: int = 12,
           precision: str = "int8") -> Network:
    """DS-CNN keyword spotter (Zhang et al. 2017, size s/m/l) on 49x10 MFCCs: S 2.7 M MACs, 22.6 K params."""
    tz = _torch_zoo("ds_cnn")
    return _traced(lambda: tz.DSCNN(size, num_classes, frames, coefficients), (1, frames, coefficients),
                   f"ds_cnn_{size}", precision)


def ssdlite_mobilenet_v2(resolution: int = 320, num_classes: int = 81, width: float = 1.0,
                         precision: str = "int8") -> Network:
    """SSDLite detector on MobileNetV2 (Sandler et al. 2018) at 320x320: 0.79 G MACs, 4.31 M params."""
    tz = _torch_zoo("ssdlite_mobilenet_v2")
    return _traced(lambda: tz.SSDLiteMobileNetV2(num_classes, width), (3, resolution, resolution),
                   f"ssdlite_mobilenet_v2_{resolution}", precision)


def lraspp_mobilenet_v3(resolution: int = 520, num_classes: int = 21, precision: str = "int8") -> Network:
    """LR-ASPP segmentation on dilated MobileNetV3-Large at 520x520: 2.09 G MACs, 3.21 M params."""
    tz = _torch_zoo("lraspp_mobilenet_v3")
    return _traced(lambda: tz.LRASPPMobileNetV3(num_classes), (3, resolution, resolution),
                   f"lraspp_mobilenet_v3_{resolution}", precision)


def vit_tiny(resolution: int = 224, depth: int = 12, num_classes: int = 1000, precision: str = "int8") -> Network:
    """ViT-Ti/16 (DeiT-Ti sizes; attention as matmul layers): 1.25 G MACs, 5.67 M params at 224, depth 12."""
    tz = _torch_zoo("vit_tiny")
    return _traced(lambda: tz.ViT(resolution, depth=depth, num_classes=num_classes), (3, resolution, resolution),
                   f"vit_tiny_{resolution}_d{depth}", precision)


def nb201(arch: str | None = None, resolution: int = 32, num_classes: int = 10, precision: str = "int8",
          prune: bool = True) -> Network:
    """NAS-Bench-201 cell network from an arch string ('|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'), CIFAR 32x32.

    The layers torch.fx traces from ``torch_zoo.NB201Net``, built without torch; by default pruned as a
    deployment compiler runs it (zero nodes, dead edges and constant cells removed: ``Network.prune_dead``),
    ``prune=False`` keeps the graph as written."""
    from .nb201 import nb201_network
    from .nb201_arch import NB201_DEFAULT_ARCH
    try:
        net = nb201_network(arch or NB201_DEFAULT_ARCH, num_classes=num_classes, resolution=resolution,
                            precision=precision, prune=prune)
    except WorkloadError as exc:
        raise WorkloadError(f"model nb201: {exc}") from None
    return dataclasses.replace(net, name="nb201")


MODELS: dict[str, Callable[..., Network]] = {
    "mobilenet_v2": mobilenet_v2,
    "deeplabv3_mobilenet_v2": deeplabv3_mobilenet_v2,
    "ibn_block": ibn_block,
    "fused_ibn_block": fused_ibn_block,
    "mobilenet_v2_torch": mobilenet_v2_torch,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_edgetpu_s": efficientnet_edgetpu_s,
    "mnasnet_a1": mnasnet_a1,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "ds_cnn": ds_cnn,
    "ssdlite_mobilenet_v2": ssdlite_mobilenet_v2,
    "lraspp_mobilenet_v3": lraspp_mobilenet_v3,
    "vit_tiny": vit_tiny,
    "nb201": nb201,
}

# Every builder option: (kind, range or choices, meaning). A value outside is refused with one line before
# anything is built: resolution 10**6 would make a traced model run a forward pass on 10**12 pixels.
OPTIONS = {
    "width": ("number", (0.05, 8.0), "channel width multiplier"),
    "resolution": ("integer", (1, 2048), "input height and width in pixels"),
    "num_classes": ("integer", (1, 100_000), "classifier outputs"),
    "channels": ("integer", (1, 16384), "input channels"),
    "out_channels": ("integer", (1, 16384), "output channels"),
    "expansion": ("number", (0.1, 64.0), "expansion ratio"),
    "kernel": ("integer", (1, 31), "kernel size"),
    "stride": ("integer", (1, 8), "stride"),
    "depth": ("integer", (1, 96), "transformer blocks"),
    "output_stride": ("integer", (8, 32), "segmentation output stride: 8, 16 or 32"),   # heads.OUTPUT_STRIDES
    "aspp": ("choice", heads.ASPP_KINDS, "DeepLabV3 atrous branches"),
    "frames": ("integer", (1, 4096), "MFCC frames"),
    "coefficients": ("integer", (1, 4096), "MFCC coefficients per frame"),
    "size": ("choice", ("s", "m", "l"), "DS-CNN size"),          # torch_zoo.DS_CNN_SIZES
    "arch": ("string", None, "NAS-Bench-201 arch string"),       # checked by its parser
    "precision": ("choice", prec.NAMES, "number format"),
    "weight_precision": ("choice", prec.NAMES, "weight number format"),
    "prune": ("boolean", None, "remove dead and constant layers as a deployment compiler does"),
}
_OPTION_WORDS = {"integer": "an integer", "number": "a number"}
_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def option_names(name: str) -> tuple:
    """The options model ``name`` takes; an unknown model is a WorkloadError naming the known ones."""
    if name not in MODELS:
        raise WorkloadError(f"--model {name}: unknown model; known models: {', '.join(MODELS)}")
    import inspect
    return tuple(inspect.signature(MODELS[name]).parameters)


def _expected(key: str) -> str:
    kind, spec, meaning = OPTIONS[key]
    if kind == "choice":
        return f"one of {', '.join(spec)} ({meaning})"
    if kind == "string":
        return f"a string ({meaning})"
    if kind == "boolean":
        return f"true or false ({meaning})"
    return f"{_OPTION_WORDS[kind]} in [{spec[0]:g}, {spec[1]:g}] ({meaning})"


def check_option(name: str, key: str, value, where: str, *, got: bool = True):
    """``value`` of option ``key`` of model ``name``, checked against ``OPTIONS`` (an integer option
    gives an int); anything else is one WorkloadError line starting with ``where``."""
    kind, spec, _ = OPTIONS[key]
    if value is None:
        import inspect
        if inspect.signature(MODELS[name]).parameters[key].default is None:
            return None   # "the builder's default" (out_channels, arch, weight_precision)
    if kind in ("integer", "number"):
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
            and (kind == "number" or float(value).is_integer()) and spec[0] <= value <= spec[1]
        if ok:
            value = int(value) if kind == "integer" else float(value)
    elif kind == "choice":
        ok = isinstance(value, str) and value in spec
    elif kind == "boolean":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str) and 0 < len(value) <= 1000
    if not ok:
        raise WorkloadError(f"{where}: expected {_expected(key)}" + (f", got {quote(value)}" if got else ""))
    return value


def check_options(name: str, options, where: str = "") -> dict:
    """All ``options`` of model ``name`` checked (see :func:`check_option`). Errors start with
    ``where`` (``file: streams.cam.options``; default ``model NAME: option KEY``)."""
    names = option_names(name)
    out = {}
    for key, value in options.items():
        if key not in names:
            raise WorkloadError(f"{where or f'model {name}'}: unknown option {quote(key)} for model {name}; "
                                f"expected one of {', '.join(names)}")
        out[key] = check_option(name, key, value, f"{where}.{key}" if where else f"model {name}: option {key}")
    return out


def parse_option(name: str, item: str) -> tuple:
    """``--option KEY=VALUE`` text -> (key, value) of the option's type, checked; errors quote the item:
    ``--option width=abc: expected a number in [0.05, 8]``."""
    where = f"--option {item if len(item) <= 60 else item[:57] + '...'}"
    if "=" not in item:
        raise WorkloadError(f"{where}: expected KEY=VALUE")
    key, text = (part.strip() for part in item.split("=", 1))
    names = option_names(name)
    if key not in names:
        raise WorkloadError(f"{where}: unknown option {quote(key)} for model {name}; expected one of "
                            f"{', '.join(names)}")
    kind = OPTIONS[key][0]
    try:
        value = int(text) if kind == "integer" else float(text) if kind == "number" else text
    except ValueError:
        raise WorkloadError(f"{where}: expected {_expected(key)}") from None
    if kind == "boolean":
        value = _BOOLEAN_WORDS.get(text.lower(), text)
    return key, check_option(name, key, value, where, got=False)   # ``where`` quotes the value as written


_INFO_CACHE: dict = {}


def model_info(names=None) -> dict:
    """``{name: {"input_shape": (H, W, C), "macs": int, "params": int, "layers": int}}`` at default options.

    Builds each model once per process (the traced ones take ~0.1-0.5 s each) and caches the result.
    """
    out = {}
    for name in (MODELS if names is None else names):
        if name not in MODELS:
            raise WorkloadError(f"model {name}: unknown model; known models: {', '.join(MODELS)}")
        if name not in _INFO_CACHE:
            net = MODELS[name]()
            _INFO_CACHE[name] = {"input_shape": tuple(net.input_shape), "macs": int(net.macs),
                                 "params": int(net.params), "layers": len(net.layers)}
        out[name] = dict(_INFO_CACHE[name])
    return out


def load_model(name: str, **options) -> Network:
    """Build a zoo model by name; options go to its builder (``width``, ``resolution``, ...)."""
    if isinstance(name, Network):
        return name
    options = check_options(name, options)   # first: it names an unknown model
    return MODELS[name](**options)
