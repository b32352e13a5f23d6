"""Pareto masks, hypervolume and the incremental hypervolume trace against slow, obviously exact ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codesign.search.pareto import HypervolumeTracker, hypervolume, hypervolume_exact, hypervolume_trace, non_dominated
from codesign.search.algorithms import SearchResult

REL = 1e-12


def _pairwise_non_dominated(pts: np.ndarray) -> np.ndarray:
    """Every point against every other: kept unless some point is <= in all and < in one objective."""
    pts = np.asarray(pts, dtype=float)
    return np.array([not any(np.all(q <= p) and np.any(q < p) for q in pts) for p in pts], dtype=bool)


def _voxels(pts: np.ndarray, ref: np.ndarray) -> int:
    """Hypervolume of integer points by counting the unit cells some point dominates."""
    count = 0
    for cell in itertools.product(*[range(int(r)) for r in ref]):
        if any(np.all(p <= np.array(cell)) for p in pts):
            count += 1
    return count


def _old_trace(objs: np.ndarray, feasible: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The trace as it was computed before: the front rebuilt and its hypervolume recomputed, from
    scratch by the slicing algorithm, after every feasible evaluation inside the reference."""
    out = np.zeros(len(objs))
    current = np.empty((0, objs.shape[1]))
    hv = 0.0
    for i in range(len(objs)):
        if feasible[i] and np.all(np.isfinite(objs[i])) and np.all(objs[i] < ref):
            current = np.vstack([current, objs[i]])
            current = current[non_dominated(current)]       # checked against the pairwise definition below
            hv = hypervolume_exact(current, ref)
        out[i] = hv
    return out


def _random_set(rng: np.random.Generator, n: int, d: int, kind: str, levels: int = 6) -> np.ndarray:
    if kind == "grid":          # ties and duplicates
        return rng.integers(0, levels, size=(n, d)).astype(float)
    if kind == "uniform":
        return rng.random((n, d))
    x = rng.random((n, d)) + 1e-3  # near a curved front: most points non-dominated
    return 1.0 - x / np.linalg.norm(x, axis=1, keepdims=True) + 0.05 * rng.random((n, d))


def _assert_rel(a: float, b: float) -> None:
    assert b == pytest.approx(a, rel=REL, abs=0.0) if a != 0 else b == 0.0


# ------------------------------------------------------------------------------------ by hand
def test_hypervolume_by_hand_in_2_3_and_4_objectives():
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), [4, 4]) == 6.0
    # (1,2,3), (2,1,3) in a (4,4,4) box: 6 + 6 - 4 overlapping; the dominated (2,2,3) adds nothing
    assert hypervolume(np.array([[1, 2, 3], [2, 1, 3], [2, 2, 3]]), [4, 4, 4]) == 8.0
    assert hypervolume(np.array([[0, 0, 0, 0]]), [1, 2, 3, 4]) == 24.0
    assert hypervolume(np.array([[0, 1, 1, 1], [1, 0, 1, 1]]), [2, 2, 2, 2]) == 3.0
    # beyond (or on) the reference in any objective counts nothing
    assert hypervolume(np.array([[4, 0, 0], [0, 5, 0]]), [4, 4, 4]) == 0.0
    assert hypervolume(np.empty((0, 3)), [1, 1, 1]) == 0.0


@pytest.mark.parametrize("d", [2, 3, 4])
def test_hypervolume_of_integer_points_equals_the_cells_they_dominate(d):
    rng = np.random.default_rng(d)
    ref = np.full(d, 5.0)
    for _ in range(10):
        pts = rng.integers(0, 6, size=(int(rng.integers(1, 9)), d)).astype(float)
        expected = _voxels(pts[np.all(pts < ref, axis=1)], ref)
        assert hypervolume(pts, ref) == expected
        assert hypervolume_exact(pts, ref) == expected


# ---------------------------------------------------------------- property: as the slicing algorithm
@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("kind", ["grid", "uniform", "front"])
def test_hypervolume_equals_the_exact_slicing_algorithm_on_random_sets(d, kind):
    rng = np.random.default_rng(100 * d + len(kind))
    sizes = {2: 200, 3: 60, 4: 25}
    for _ in range(12):
        pts = _random_set(rng, int(rng.integers(1, sizes[d])), d, kind)
        ref = pts.max(axis=0) + rng.uniform(-0.2, 0.5, d)       # some points beyond it
        _assert_rel(hypervolume_exact(pts, ref), hypervolume(pts, ref))


def test_the_library_agrees_with_the_exact_algorithm_in_5_objectives():
    rng = np.random.default_rng(5)
    for kind in ("grid", "uniform", "front"):
        for _ in range(6):
            pts = _random_set(rng, int(rng.integers(2, 12)), 5, kind)
            ref = pts.max(axis=0) + 0.1
            assert hypervolume(pts, ref) > 0
            _assert_rel(hypervolume_exact(pts, ref), hypervolume(pts, ref))


def test_infinite_and_overflowing_volumes():
    pts = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]])
    assert hypervolume(pts, [np.inf, 4, 4]) == np.inf == hypervolume_exact(pts, [np.inf, 4, 4])
    assert hypervolume(np.vstack([pts, [[-np.inf, 3, 3]]]), [4, 4, 4]) == np.inf
    assert hypervolume(pts, [np.nan, 4, 4]) == 0.0 == hypervolume(pts, [-np.inf, 4, 4])
    big = np.full((2, 4), -1e300)
    big[1, 0] = -2e300
    assert hypervolume(big, [1.0] * 4) == np.inf


@pytest.mark.parametrize("d", [2, 3, 4])
def test_non_dominated_with_infinities_equals_the_pairwise_definition(d):
    # infinities compare as numbers (the library's three-objective algorithm alone would not)
    rng = np.random.default_rng(40 + d)
    for _ in range(150):
        pts = _random_set(rng, int(rng.integers(1, 40)), d, ["grid", "uniform"][_ % 2], levels=4)
        m = rng.random(pts.shape)
        pts[m < 0.06] = np.inf
        pts[m > 0.95] = -np.inf
        pts[(m > 0.5) & (m < 0.52)] = np.nan
        assert np.array_equal(non_dominated(pts), _pairwise_non_dominated(pts))


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_small_sets_and_the_library_give_the_same_mask(d, monkeypatch):
    """Sets of up to SMALL_SET points take the n x n comparison, larger ones the library: both agree
    (ties, infinities, NaN and duplicates included) on the same sets."""
    from codesign.search import pareto
    rng = np.random.default_rng(70 + d)
    sets = []
    for i in range(60):
        pts = _random_set(rng, int(rng.integers(1, pareto.SMALL_SET + 1)), d, ["grid", "uniform", "front"][i % 3],
                          levels=4)
        m = rng.random(pts.shape)
        pts[m < 0.05] = np.inf
        pts[m > 0.96] = -np.inf
        pts[(m > 0.5) & (m < 0.52)] = np.nan
        sets.append(np.vstack([pts, pts[:2]]) if i % 4 == 0 else pts)   # some duplicates
    small = [non_dominated(p) for p in sets]
    monkeypatch.setattr(pareto, "SMALL_SET", 0)
    assert all(np.array_equal(non_dominated(p), want) for p, want in zip(sets, small))


# ------------------------------------------------------------------------------------ non-dominated mask
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_non_dominated_equals_the_pairwise_definition(d):
    rng = np.random.default_rng(d)
    for kind in ("grid", "uniform", "front"):
        for _ in range(15):
            pts = _random_set(rng, int(rng.integers(1, 80)), d, kind)
            assert np.array_equal(non_dominated(pts), _pairwise_non_dominated(pts))
    # NaN neither dominates nor is dominated; inf compares as a number; duplicates are all kept
    pts = np.array([[1, 1], [np.nan, 0], [2, np.nan], [np.inf, 0], [np.inf, 1], [1, 1], [0, np.inf]] + [[3, 3]] * 2)
    assert non_dominated(pts).tolist() == _pairwise_non_dominated(pts).tolist() \
        == [True, True, True, True, False, True, True, False, False]
    assert non_dominated(np.empty((0, 2))).tolist() == []


# ------------------------------------------------------------------------------------ trace
@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("kind", ["grid", "uniform", "front"])
def test_trace_equals_recomputing_from_scratch_after_each_evaluation(d, kind):
    rng = np.random.default_rng(10 * d + len(kind))
    n = {2: 400, 3: 120, 4: 50}[d]
    objs = _random_set(rng, n, d, kind, levels=50)
    objs[rng.random(n) < 0.05] = np.inf                  # failed evaluations
    feasible = rng.random(n) < 0.8
    ref = np.quantile(objs[np.isfinite(objs).all(axis=1)], 0.9, axis=0)   # some feasible points beyond it
    old = _old_trace(objs, feasible, ref)
    done = []
    new = hypervolume_trace(objs, feasible, ref, progress=done.append)
    assert sum(done) == n and old[-1] > 0
    assert np.all(np.diff(new) >= 0)
    changed = np.nonzero(np.diff(old))[0] + 1
    assert len(changed) >= 5                              # the front moved several times
    for a, b in zip(old, new):
        _assert_rel(a, b)
    # the trace only moves where the old one moved
    assert np.array_equal(np.nonzero(np.diff(new) > 0)[0] + 1, changed)


def test_the_tracker_keeps_the_front_and_ignores_what_it_cannot_improve():
    t = HypervolumeTracker([4.0, 4.0])
    assert t.add([2, 2]) and t.value == 4.0
    assert not t.add([2, 2])                   # a duplicate
    assert not t.add([3, 3])                   # dominated
    assert not t.add([1, 4])                   # on the reference
    assert not t.add([np.nan, 0])
    assert t.add([3, 1]) and t.value == 5.0
    assert t.add([1, 1]) and t.value == 9.0 and t.front.tolist() == [[1, 1]]
    t3 = HypervolumeTracker([4.0, 4.0, 4.0])
    for p, v in (([1, 2, 3], 6.0), ([2, 1, 3], 8.0), ([2, 2, 3], 8.0), ([0, 0, 3], 16.0)):
        t3.add(p)
        assert t3.value == pytest.approx(v, rel=REL)
    assert t3.front.tolist() == [[0, 0, 3]]


def test_search_result_trace_counts_feasible_finite_evaluations_only():
    metrics = [{"a": 1.0, "b": 3.0}, {"a": 0.5, "b": 0.5, "violation": 0.2}, {"a": float("inf"), "b": 0.0},
               {"a": 3.0, "b": 1.0}, {"a": 2.0, "b": 2.0}]
    r = SearchResult([{}] * 5, metrics, ("a", "b"))
    assert r.hypervolume_trace([4, 4]).tolist() == [3.0, 3.0, 3.0, 5.0, 6.0]
    assert SearchResult([], [], ("a", "b")).hypervolume_trace([1, 1]).tolist() == []


def test_tournament_ranks_from_one_dominance_matrix_equal_the_layer_by_layer_ranks(monkeypatch):
    """Aging evolution ranks each tournament sample (feasible points by non-domination layer, then the
    infeasible by violation): small samples from one dominance matrix, larger ones layer by layer."""
    from codesign.search import algorithms
    rng = np.random.default_rng(9)
    cases = []
    for i in range(80):
        pts = _random_set(rng, int(rng.integers(1, 20)), int(rng.integers(1, 4)), ["grid", "uniform"][i % 2], levels=3)
        pts[rng.random(pts.shape) < 0.04] = np.inf
        pts[rng.random(pts.shape) < 0.03] = np.nan
        violation = np.where(rng.random(len(pts)) < 0.3, rng.random(len(pts)), 0.0)
        cases.append((pts, violation))
    fast = [algorithms._rank_key(p, v) for p, v in cases]
    monkeypatch.setattr(algorithms, "SMALL_SET", 0)
    assert all(np.array_equal(algorithms._rank_key(p, v), want) for (p, v), want in zip(cases, fast))
    assert algorithms._rank_key(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [0.0, 0.0]]),
                                np.array([0.0, 0.0, 0.0, 1.0])).tolist() == [0.0, 0.0, 1.0, 2.5]


def _tournament_samples(seed: int, n: int):
    """``n`` random tournament samples ``(points, violation)``: 1-11 points of 1-3 objectives, with
    ties, infinities, NaN objectives, infeasible points, and now and then a NaN or infinite violation."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        pts = _random_set(rng, int(rng.integers(1, 12)), int(rng.integers(1, 4)), ["grid", "uniform"][i % 2], levels=3)
        pts[rng.random(pts.shape) < 0.04] = np.inf
        pts[rng.random(pts.shape) < 0.03] = np.nan
        violation = np.where(rng.random(len(pts)) < 0.3, rng.random(len(pts)) * 3, 0.0)
        if i % 50 == 7:
            violation[0] = [np.nan, np.inf][i % 2]
        yield pts, violation


def test_plain_python_tournament_ranks_equal_the_array_ranks():
    """A tournament ranks its sample in plain Python (_rank_small): equal to _rank_key value for value
    (ties, infinities, NaN objectives, infeasible points), or None where only the array form ranks
    (a NaN or infinite violation); the order a stable sort gives is then the same."""
    from codesign.search import algorithms
    checked = 0
    for pts, violation in _tournament_samples(19, 300):
        want = algorithms._rank_key(pts, violation)
        got = algorithms._rank_small([tuple(p) for p in pts.tolist()], violation.tolist())
        if got is None:
            assert np.isnan(want).any() or np.isnan(violation).any()
            continue
        checked += 1
        assert got == want.tolist()
        assert sorted(range(len(got)), key=got.__getitem__) == np.argsort(want, kind="stable").tolist()
    assert checked > 250


def test_tournament_winners_found_without_ranking_equal_the_stable_order():
    """A tournament takes its winner (and, for crossover, the runner-up) as the first members of the
    first layer in sample order (_tournament_top), without ranking the rest: the same members as the
    first places of the stable order by _rank_key, whenever it answers; it answers whenever the
    sample has that many first-layer members."""
    from codesign.search import algorithms
    answered = 0
    for pts, violation in _tournament_samples(23, 400):
        rank = algorithms._rank_key(pts, violation)
        order = np.argsort(rank, kind="stable").tolist()
        first_layer = int(np.sum(rank == 0) if (violation <= 0).any() else 0)
        for count in (1, 2):
            got = algorithms._tournament_top([tuple(p) for p in pts.tolist()], violation.tolist(), count)
            if first_layer >= count:
                assert got == order[:count]
                answered += 1
            else:
                assert got is None
    assert answered > 500


def test_mutation_draws_what_it_drew_when_it_chose_among_the_names():
    """mutate picks genes by index; the draws, and so every search's genomes for a seed, are those of
    rng.choice over the gene names (the form before), which journals written earlier replay."""
    from codesign.search.algorithms import _py, mutate, random_genome
    choices = {"a": (1, 2, 3), "b": ("x",), "c": (0.5, 1.0), "d": ("ibn", "fused_ibn", "none"), "e": (7, 8)}

    def before(genome, rng, n):
        child = dict(genome)
        mutable = [k for k, v in choices.items() if len(v) > 1]
        for k in rng.choice(mutable, size=min(n, len(mutable)), replace=False):
            options = [v for v in choices[k] if _py(v) != child[k]]
            child[str(k)] = _py(options[int(rng.integers(len(options)))])
        return child

    for seed in range(40):
        g = random_genome(choices, np.random.default_rng(seed))
        for n in (1, 2, 4, 9):
            assert mutate(g, choices, np.random.default_rng(seed), n) == before(g, np.random.default_rng(seed), n)
