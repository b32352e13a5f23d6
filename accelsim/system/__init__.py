"""System level: several models sharing one neural engine, a host CPU and one DRAM port (SimPy).

The engine's per-layer results become service times; SimPy models what one network on an idle
chip cannot show: arrivals and deadlines, scheduling (FIFO, priority, EDF, preemption at layer
boundaries), batching, host-CPU fallback and DRAM contention. Events are per layer, never per cycle.

>>> from accelsim.system import load_scenario, simulate_system
>>> result = simulate_system("smart_display", "neural_engine", duration="2s")   # doctest: +SKIP
>>> print(result.table())                                                       # doctest: +SKIP

Its names load on first use (:mod:`accelsim._lazy`): reading a scenario, and its errors, import neither
the engine nor SimPy.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "plots": ("plot_gantt",),
    "results": ("StreamRecord", "SystemResult"),
    "run": ("SweepRow", "simulate_system", "smallest_meeting", "sweep", "sweep_table"),
    "scenario": ("ArrivalSpec", "BatchSpec", "HostSpec", "Scenario", "SchedulerSpec", "StreamSpec",
                 "available_scenarios", "build_networks", "load_scenario", "reference_markdown",
                 "scenario_from_dict"),
    "service": ("StreamService", "build_service"),
    "units": ("parse_duration", "parse_rate"),
}, submodules=True)
