"""Pareto fronts and hypervolume for minimisation problems.

All objectives are minimised; flip the sign of a maximised one before calling. Hypervolume is exact
(2-D sweep; higher dimensions by slicing along the first objective), which is fast enough for the
fronts a search produces (hundreds of points).
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates are all kept)."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        le = np.all(pts <= pts[i], axis=1)
        lt = np.any(pts < pts[i], axis=1)
        if np.any(le & lt):
            keep[i] = False
    return keep


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (points beyond it count nothing)."""
    pts = np.asarray(points, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if pts.size == 0:
        return 0.0
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts)]
    return _hv(pts, ref)


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    d = pts.shape[1]
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        order = np.argsort(pts[:, 0])
        vol, best_y = 0.0, ref[1]
        for x, y in pts[order]:
            if y < best_y:
                vol += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(vol)
    # slice along objective 0: between consecutive x values, the (d-1)-volume of points with x <= slice
    order = np.argsort(pts[:, 0])
    pts = pts[order]
    xs = np.append(pts[:, 0], ref[0])
    vol = 0.0
    for i in range(len(pts)):
        width = xs[i + 1] - xs[i]
        if width > 0:
            sub = pts[: i + 1, 1:]
            vol += width * _hv(sub[non_dominated(sub)], ref[1:])
    return float(vol)
