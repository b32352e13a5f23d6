"""accelsim: a cycle-approximate simulator of a parallel neural engine.

>>> import accelsim
>>> hw = accelsim.load_hardware("neural_engine")
>>> net = accelsim.load_model("mobilenet_v2")
>>> report = accelsim.simulate(net, hw)
>>> round(report.latency_ms, 3) > 0
True
"""

from .calibration import FitReport, calibrate
from .config import Hardware, load_hardware
from .engine import ManyResult, Report, simulate, simulate_many
from .errors import AccelsimError, ConfigError, MappingError, WorkloadError
from .workload import Layer, Network, NetworkBuilder, load_model, load_topology

__version__ = "0.1.0"
__all__ = ["Hardware", "load_hardware", "Report", "ManyResult", "simulate", "simulate_many", "Network",
           "NetworkBuilder", "Layer", "load_model", "load_topology", "AccelsimError", "ConfigError",
           "MappingError", "WorkloadError", "calibrate", "FitReport"]
