"""Workloads: the network IR, its builders, the model zoo and importers."""

from .ir import INPUT, OPS, Layer, Network, NetworkBuilder
from .scalesim import load_topology
from .zoo import MODELS, load_model

__all__ = ["INPUT", "OPS", "Layer", "Network", "NetworkBuilder", "load_topology", "MODELS", "load_model"]
