"""Shared fixtures: small hand-made hardware configs whose numbers make cycle counts easy to check."""

from __future__ import annotations

import contextlib
import copy
import signal

import pytest

import accelsim
from accelsim.config import hardware_from_dict

BASE = {
    "name": "tiny",
    "array": {"rows": 8, "cols": 8, "dataflow": "os", "clock_mhz": 1000},
    "precisions": {"int8": {"macs_per_pe_per_cycle": 1, "energy_per_mac_pj": 1.0},
                   "int16": {"macs_per_pe_per_cycle": 1, "energy_per_mac_pj": 2.0}},
    "vector": {"lanes": 4, "ops_per_lane_per_cycle": {"int8": 1, "int16": 1}, "energy_per_op_pj": 0.5},
    "memory": {"sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64, "energy_per_byte_pj": 1.0},
               "memory_budget_mb": 1},
    "dram": {"bandwidth_gb_per_s": 1.0, "latency_ns": 0, "energy_per_byte_pj": 10.0},
    "energy": {"static_power_mw": 0},
    "area": {"pe_mm2": 0.001, "sram_mm2_per_kb": 0.002, "vector_lane_mm2": 0.01, "fixed_mm2": 0.1},
}


def hardware_with(base: dict, **changes):
    """The config of YAML mapping ``base`` with nested changes given as 'array.rows'=16 style keys
    (dots become nesting, a missing section is added; None removes a key)."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return hardware_from_dict(data, source="<test>")


def make_hw(**changes):
    """BASE with nested changes given as 'array.rows'=16 style keys (dots become nesting)."""
    return hardware_with(BASE, **changes)


@pytest.fixture
def tiny_hw():
    return make_hw()


@pytest.fixture(scope="session")
def neural_engine():
    return accelsim.load_hardware("neural_engine")


# Property tests draw the same examples on every run, so CI cannot fail by chance; run
# `pytest --hypothesis-profile=explore` to search new examples (and pin any failure with @example).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the block after ``seconds`` (SIGALRM; where there is none, no limit)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
