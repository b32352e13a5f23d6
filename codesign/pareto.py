"""Pareto fronts and hypervolume for minimisation problems.

All objectives are minimised; flip the sign of a maximised one before calling. Every hypervolume here
is exact:

- two objectives: a sort and one sweep over the front;
- three or more: the exact algorithms Optuna (already a dependency, for NSGA-II) ships since 4.0
  (WFG; recent releases an O(n^2) sweep for three objectives). Optuna exposes them only as a private
  function, so :func:`kept_hypervolume` is the one place that calls it; it checks it once against a
  known answer and otherwise (an older or changed Optuna) falls back to :func:`hypervolume_exact`;
- :func:`hypervolume_exact` slices along the first objective down to the 2-D sweep. It is the
  reference the others are tested against, and slow beyond a few dozen points in 3-D.

:func:`hypervolume_trace` gives the hypervolume after each evaluation of a search incrementally: it
changes only when a feasible point enters the front, and then costs one sweep over the front (two
objectives) or the volume the new point adds (its box less the part the front already covers).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates are all kept).

    In lexicographic order every point comes after the points that dominate it, so the first point
    left is never dominated: keep it, drop the points it dominates, repeat (one pass per point kept).
    A point with a NaN neither dominates nor is dominated, as with plain comparisons."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if pts.ndim == 1:
        pts = pts[:, None]
    keep = np.isnan(pts).any(axis=1)
    left = np.nonzero(~keep)[0]
    left = left[np.lexsort(pts[left].T[::-1])]
    while left.size:
        top = pts[left[0]]
        keep[left[0]] = True
        rest = pts[left[1:]]
        left = left[1:][~(np.all(rest >= top, axis=1) & np.any(rest > top, axis=1))]
    return keep


def _front2d(pts: np.ndarray) -> np.ndarray:
    """The distinct non-dominated points of a 2-D set, sorted by the first objective."""
    s = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    lowest = np.minimum.accumulate(s[:, 1])
    keep = np.ones(len(s), dtype=bool)
    keep[1:] = s[1:, 1] < lowest[:-1]
    return s[keep]


def _hv2d(front: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of a 2-D front sorted by the first objective (so the second decreases)."""
    if len(front) == 0:
        return 0.0
    y_above = np.concatenate([ref[1:2], front[:-1, 1]])
    return float(np.dot(ref[0] - front[:, 0], y_above - front[:, 1]))


def _inside(points, reference) -> "tuple[np.ndarray, np.ndarray]":
    """(the points strictly better than ``reference`` in every objective, the reference) as floats."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return pts.reshape(0, len(ref)), ref
    return pts[np.all(pts < ref, axis=1)], ref


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (points beyond it count nothing)."""
    pts, ref = _inside(points, reference)
    if len(pts) == 0:
        return 0.0
    d = pts.shape[1]
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        return _hv2d(_front2d(pts), ref)
    return kept_hypervolume(pts, ref)


# ----------------------------------------------------------------------- the library for >= 3 objectives
_LIBRARY: "list[Callable | None]" = []       # [the library's function or None], once looked up


def _library() -> "Callable | None":
    """Optuna's exact hypervolume, when it is importable and answers a known case; else None."""
    if not _LIBRARY:
        fn = None
        try:
            from optuna._hypervolume import compute_hypervolume
            # two boxes of 6 overlapping in 4, and a dominated point: 8
            probe = compute_hypervolume(np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [2.0, 2.0, 3.0]]),
                                        np.array([4.0, 4.0, 4.0]))
            if abs(float(probe) - 8.0) < 1e-12:
                fn = compute_hypervolume
        except Exception:            # moved, renamed or changed: use our own
            fn = None
        _LIBRARY.append(fn)
    return _LIBRARY[0]


def library_name() -> str:
    """Which implementation :func:`kept_hypervolume` uses."""
    if _library() is None:
        return "codesign.pareto.hypervolume_exact"
    import optuna
    return f"optuna {optuna.__version__}"


def kept_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of points all strictly better than ``reference`` (dominated points and duplicates
    allowed) by Optuna's exact algorithms, or :func:`hypervolume_exact` where those are unavailable."""
    fn = _library()
    ref = np.asarray(reference, dtype=float)
    if fn is None or not np.all(np.isfinite(ref)):
        return hypervolume_exact(points, ref)
    return float(fn(np.array(points, dtype=float), ref))


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
        self.front = np.empty((0, len(self.reference)))    # distinct, non-dominated; sorted when 2-D
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
        d = len(ref)
        if d == 1:
            self.front, self.value = p[None, :], float(ref[0] - p[0])
        elif d == 2:
            # sorted by x, y decreasing: p goes in at its x; the points it dominates follow it
            at = int(np.searchsorted(front[:, 0], p[0], side="left"))
            end = at + int(np.searchsorted(-front[at:, 1], -p[1], side="right"))
            self.front = np.concatenate([front[:at], p[None, :], front[end:]])
            self.value = _hv2d(self.front, ref)
        else:
            # p's box less the part of it the front already covers (boxes of max(f, p) over the front)
            covered = kept_hypervolume(np.maximum(front, p), ref) if len(front) else 0.0
            self.value += float(np.prod(ref - p)) - covered
            self.front = np.concatenate([front[~np.all(p <= front, axis=1)], p[None, :]])
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
