"""Pareto fronts and hypervolume for minimisation problems.

All objectives are minimised; flip the sign of a maximised one before calling. The non-dominated
mask and the (exact) hypervolume come from moocore's public API (``moocore.is_nondominated``,
``moocore.hypervolume``; imported on first use, as it adds a fifth of a second to start-up). The
wrappers here only fix the cases the library does not define the way this package does: a point with
a NaN neither dominates nor is dominated, duplicates are all kept, infinities compare as numbers
(moocore 0.3.2's three-objective algorithm misorders +inf and can crash on -inf, so a set holding one
is passed as per-objective ranks, which keep every dominance relation), and an infinite box is an
infinite volume.

:func:`hypervolume_exact` slices along the first objective down to a 2-D sweep: simple, exact and
slow beyond a few dozen points in 3-D, it is the reference the tests check the library against.

:func:`hypervolume_trace` gives the hypervolume after each evaluation of a search incrementally: it
changes only when a feasible point enters the front, and then costs one hypervolume of the front.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from accelsim.extras import require


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates are all kept).

    A point with a NaN neither dominates nor is dominated, as with plain comparisons."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if pts.ndim == 1:
        pts = pts[:, None]
    if n <= SMALL_SET:
        return _non_dominated_small(pts)
    keep = np.isnan(pts).any(axis=1)
    rest = pts[~keep]
    if len(rest):
        if np.isinf(rest).any():
            # dominance only compares values within an objective: ranks keep it and are finite
            rest = np.stack([np.unique(col, return_inverse=True)[1].reshape(-1) for col in rest.T],
                            axis=1).astype(float)
        moocore = require("moocore", "codesign", "codesign's Pareto fronts")
        keep[~keep] = moocore.is_nondominated(rest, keep_weakly=True)
    return keep


# Below this many points the mask comes from one n x n comparison (an evolution tournament ranks 8
# points at a time, thousands of times a search), which costs less than calling the library.
SMALL_SET = 64


def dominance(pts: np.ndarray) -> np.ndarray:
    """``[i, j]``: point ``i`` dominates point ``j`` -- no worse in every objective and better in one.
    Comparisons with NaN are false, so a point with a NaN neither dominates nor is dominated;
    infinities compare as numbers; duplicates dominate nothing. ``n x n``: for small sets."""
    pts = np.asarray(pts, dtype=float)
    return (pts[:, None, :] <= pts[None, :, :]).all(axis=2) & (pts[:, None, :] < pts[None, :, :]).any(axis=2)


def _non_dominated_small(pts: np.ndarray) -> np.ndarray:
    """:func:`non_dominated` by the definition (:func:`dominance`)."""
    return ~dominance(pts).any(axis=0)


def _inside(points, reference) -> "tuple[np.ndarray, np.ndarray]":
    """(the points strictly better than ``reference`` in every objective, the reference) as floats."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return pts.reshape(0, len(ref)), ref
    return pts[np.all(pts < ref, axis=1)], ref


def _volume(pts: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of a non-empty set of points all strictly better than ``ref`` (dominated points and
    duplicates allowed): infinite when a point or the reference is, else the library's exact one (NaN
    from finite input is a volume beyond the largest float: infinite too)."""
    if np.isinf(ref).any() or np.isinf(pts).any():
        return float("inf")
    moocore = require("moocore", "codesign", "codesign's hypervolume")
    volume = float(moocore.hypervolume(pts, ref=ref))
    return float("inf") if np.isnan(volume) else volume


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (points beyond it count nothing)."""
    pts, ref = _inside(points, reference)
    if len(pts) == 0:
        return 0.0
    return _volume(pts, ref)


# ----------------------------------------------------------------------- the reference implementation
def hypervolume_exact(points: np.ndarray, reference: np.ndarray) -> float:
    """The same volume as :func:`hypervolume`, by slicing along the first objective (recursively down to
    a 2-D sweep): simple, exact, and O(n^(d-1)) with Python loops — the reference in the tests."""
    pts, ref = _inside(points, reference)
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts)]
    return _hv_slices(pts, ref)


def _hv_slices(pts: np.ndarray, ref: np.ndarray) -> float:
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
            vol += width * _hv_slices(sub[non_dominated(sub)], ref[1:])
    return float(vol)


# ----------------------------------------------------------------------- trace
class HypervolumeTracker:
    """The front of the points added so far and its hypervolume, updated one point at a time."""

    def __init__(self, reference: np.ndarray):
        self.reference = np.asarray(reference, dtype=float)
        self.front = np.empty((0, len(self.reference)))    # distinct and non-dominated
        self.value = 0.0

    def add(self, point: np.ndarray) -> bool:
        """Add one point; True when it entered the front (so the hypervolume may have grown). Points
        not strictly better than the reference in every objective, or not finite, count nothing."""
        p = np.asarray(point, dtype=float)
        ref = self.reference
        if not (np.all(np.isfinite(p)) and np.all(p < ref)):
            return False
        front = self.front
        if len(front) and np.any(np.all(front <= p, axis=1)):     # weakly dominated, or a duplicate
            return False
        self.front = np.concatenate([front[~np.all(p <= front, axis=1)], p[None, :]])
        self.value = _volume(self.front, ref)
        return True


def hypervolume_trace(points: np.ndarray, counts: np.ndarray, reference: np.ndarray,
                      progress: "Callable[[int], None] | None" = None) -> np.ndarray:
    """Hypervolume of the front of the counted points among the first i + 1, for each i.

    ``counts[i]`` says whether point i may enter the front (feasible); ``progress(k)`` is called
    with the number of points done since its last call, every few hundred points."""
    pts = np.asarray(points, dtype=float)
    counts = np.asarray(counts, dtype=bool)
    out = np.zeros(len(pts))
    if len(pts) == 0:
        return out
    tracker = HypervolumeTracker(reference)
    ok = counts & np.all(np.isfinite(pts), axis=1) & np.all(pts < tracker.reference, axis=1)
    step, last = 256, 0
    for i in range(len(pts)):
        if ok[i]:
            tracker.add(pts[i])
        out[i] = tracker.value
        if progress is not None and i + 1 - last >= step:
            progress(i + 1 - last)
            last = i + 1
    if progress is not None and len(pts) > last:
        progress(len(pts) - last)
    return out
