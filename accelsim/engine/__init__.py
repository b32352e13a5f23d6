"""The performance model: Numba kernels, their plain-Python reference, and the simulate API."""

from .simulate import ManyResult, Report, simulate, simulate_many

__all__ = ["ManyResult", "Report", "simulate", "simulate_many"]
