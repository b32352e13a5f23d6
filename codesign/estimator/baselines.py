"""Baselines the estimator must beat: MACs at peak rate, a classical roofline, and the analytic base.

Each is a per-layer quantity summed per network and scaled by one constant fitted on the training
data (the median ratio of simulated to baseline cycles), so MAPE is fair; rank correlation does not
depend on the constant.

- ``macs``: MACs / (rows x cols x MACs per PE) — FLOPs normalised by the config's peak rate;
- ``roofline``: per layer max(operations at the unit's peak rate, compulsory DRAM bytes / bandwidth);
- ``analytic``: per layer max(SCALE-Sim compute cycles, bytes of the engine's tiling / bandwidth) +
  two DRAM latencies — the base the estimator's MLPs correct, so the gap to it is what learning adds.
"""

from __future__ import annotations

import numpy as np

from . import features as F

BASELINES = ("macs", "roofline", "analytic")
_SOURCE = {"macs": "macs_at_peak", "roofline": "peak_cycles", "analytic": "base_cycles"}


def layer_baselines(lay: np.ndarray, hw_rows: dict) -> dict:
    eng = F.engineered(lay, hw_rows)
    return {name: eng[src] for name, src in _SOURCE.items()}


def pair_baselines(lay: np.ndarray, hw_rows: dict, layer_start: np.ndarray) -> dict:
    """Uncalibrated baseline cycles per pair (layers of pair p start at ``layer_start[p]``)."""
    per = layer_baselines(lay, hw_rows)
    return {k: np.add.reduceat(v, layer_start) if len(layer_start) else np.zeros(0) for k, v in per.items()}


def fit_constants(raw: dict, true_cycles: np.ndarray) -> dict:
    """One scale per baseline: exp(median(log(true / raw))) over pairs where both are positive."""
    out = {}
    for k, v in raw.items():
        ok = (v > 0) & (true_cycles > 0) & np.isfinite(true_cycles)
        out[k] = float(np.exp(np.median(np.log(true_cycles[ok] / v[ok])))) if ok.any() else 1.0
    return out
