"""The performance model: Numba kernels, their plain-Python reference, and the simulate API."""

from .simulate import ManyResult, MemoryFigures, Report, failing_share, memory_figures, simulate, simulate_many

__all__ = ["ManyResult", "MemoryFigures", "Report", "failing_share", "memory_figures", "simulate", "simulate_many"]
