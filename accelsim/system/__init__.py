"""System level: several models sharing one neural engine, a host CPU and one DRAM port (SimPy).

The engine's per-layer results become service times; SimPy models what one network on an idle
chip cannot show: arrivals and deadlines, scheduling (FIFO, priority, EDF, preemption at layer
boundaries), batching, host-CPU fallback and DRAM contention. Events are per layer, never per cycle.

>>> from accelsim.system import load_scenario, simulate_system
>>> result = simulate_system("smart_display", "neural_engine", duration="2s")   # doctest: +SKIP
>>> print(result.table())                                                       # doctest: +SKIP
"""

from .plots import plot_gantt
from .results import StreamRecord, SystemResult
from .run import SweepRow, simulate_system, smallest_meeting, sweep, sweep_table
from .scenario import (ArrivalSpec, BatchSpec, HostSpec, Scenario, SchedulerSpec, StreamSpec, available_scenarios,
                       build_networks, load_scenario, reference_markdown, scenario_from_dict)
from .service import StreamService, build_service
from .units import parse_duration, parse_rate

__all__ = ["simulate_system", "sweep", "sweep_table", "smallest_meeting", "SweepRow", "SystemResult", "StreamRecord",
           "plot_gantt", "Scenario", "StreamSpec", "ArrivalSpec", "BatchSpec", "HostSpec", "SchedulerSpec",
           "load_scenario", "scenario_from_dict", "available_scenarios", "build_networks", "reference_markdown",
           "StreamService", "build_service", "parse_duration", "parse_rate"]
