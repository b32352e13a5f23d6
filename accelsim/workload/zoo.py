"""Model zoo built directly in the IR (no tracing), so networks are cheap to construct.

``load_model(name, **options)`` looks a model up in ``MODELS``. Each builder takes
``resolution`` and ``precision`` and its own options (e.g. ``width`` for MobileNetV2).
"""

from __future__ import annotations

from typing import Callable

from ..errors import WorkloadError
from .ir import Network, NetworkBuilder


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10 % (MobileNet rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# (expansion t, channels c, repeats n, stride s) from the MobileNetV2 paper, Table 2.
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                 precision: str = "int8", weight_precision: str | None = None) -> Network:
    """MobileNetV2 (Sandler et al. 2018): 300 M MACs, 3.4 M parameters at width 1.0, 224x224."""
    b = NetworkBuilder(f"mobilenet_v2_{width:g}_{resolution}", (resolution, resolution, 3), precision,
                       weight_precision)
    c = make_divisible(32 * width)
    x = b.conv(b.input, c, 3, 2, activation="relu6", bias=True, name="stem")
    for si, (t, ch, n, s) in enumerate(MOBILENET_V2_STAGES):
        out = make_divisible(ch * width)
        for i in range(n):
            x = b.ibn(x, out, expansion=t, kernel=3, stride=s if i == 0 else 1, name=f"s{si}.b{i}")
    last = make_divisible(1280 * max(1.0, width))
    x = b.conv(x, last, 1, activation="relu6", name="head")
    x = b.global_avg_pool(x, name="pool")
    b.linear(x, num_classes, name="classifier")
    return b.build()


def ibn_block(resolution: int = 56, channels: int = 24, out_channels: int | None = None, expansion: float = 6,
              kernel: int = 3, stride: int = 1, precision: str = "int8") -> Network:
    """A single inverted-bottleneck block, for block-level studies."""
    b = NetworkBuilder(f"ibn_{resolution}_{channels}", (resolution, resolution, channels), precision)
    b.ibn(b.input, out_channels or channels, expansion, kernel, stride, name="ibn")
    return b.build()


def fused_ibn_block(resolution: int = 56, channels: int = 24, out_channels: int | None = None,
                    expansion: float = 6, kernel: int = 3, stride: int = 1, precision: str = "int8") -> Network:
    """A single fused inverted-bottleneck block (kxk conv expand -> 1x1 project)."""
    b = NetworkBuilder(f"fused_ibn_{resolution}_{channels}", (resolution, resolution, channels), precision)
    b.fused_ibn(b.input, out_channels or channels, expansion, kernel, stride, name="fibn")
    return b.build()


MODELS: dict[str, Callable[..., Network]] = {
    "mobilenet_v2": mobilenet_v2,
    "ibn_block": ibn_block,
    "fused_ibn_block": fused_ibn_block,
}


def load_model(name: str, **options) -> Network:
    """Build a zoo model by name; options go to its builder (``width``, ``resolution``, ...)."""
    if isinstance(name, Network):
        return name
    if name not in MODELS:
        raise WorkloadError(f"--model {name}: unknown model; known models: {', '.join(MODELS)}")
    import inspect
    params = inspect.signature(MODELS[name]).parameters
    for key in options:
        if key not in params:
            raise WorkloadError(f"model {name}: unknown option {key!r}; expected one of {', '.join(params)}")
    return MODELS[name](**options)
