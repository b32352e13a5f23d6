"""The MobileNet channel rule and the MobileNetV2 stage table, without torch.

Shared by the IR builder (:func:`accelsim.workload.zoo.mobilenet_v2`) and the PyTorch modules of
:mod:`accelsim.workload.torch_zoo`, which must build the same layers.
"""

from __future__ import annotations


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
