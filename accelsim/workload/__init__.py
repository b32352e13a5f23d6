"""Workloads: the network IR, its builders, the model zoo and importers.

``from_torch`` and ``from_onnx`` are loaded on first use, so importing this package does not import
torch or onnx.
"""

from .ir import INPUT, OPS, Layer, Network, NetworkBuilder
from .packed import PackedNetwork, RowBuilder
from .scalesim import load_topology
from .zoo import MODELS, load_model

__all__ = ["INPUT", "OPS", "Layer", "Network", "NetworkBuilder", "PackedNetwork", "RowBuilder", "load_topology", "MODELS",
           "load_model"]


def __getattr__(name):
    if name == "from_torch":
        from .torch_import import from_torch
        return from_torch
    if name == "from_onnx":
        from .onnx_import import from_onnx
        return from_onnx
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
