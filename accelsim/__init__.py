"""accelsim: a cycle-approximate simulator of a parallel neural engine.

>>> import accelsim
>>> hw = accelsim.load_hardware("neural_engine")
>>> net = accelsim.load_model("mobilenet_v2")
>>> report = accelsim.simulate(net, hw)
>>> round(report.latency_ms, 3) > 0
True

The public names load on first use (:mod:`accelsim._lazy`): ``import accelsim`` imports neither numpy
nor numba, so ``accelsim --help``, ``accelsim list`` and a config error start in a fraction of a
second; the Numba kernels load when the engine is first called (``accelsim warmup`` compiles them
once after an install).
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "calibration": ("FitReport", "calibrate"),
    "config": ("Hardware", "load_hardware"),
    "engine": ("ManyResult", "Report", "simulate", "simulate_many"),
    "errors": ("AccelsimError", "ConfigError", "MappingError", "WorkloadError"),
    "workload": ("Layer", "Network", "NetworkBuilder", "load_model", "load_topology"),
}, submodules=True)
