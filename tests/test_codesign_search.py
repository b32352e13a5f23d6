"""Search core: Pareto/hypervolume by hand, determinism, resume after a kill, constraints, journal safety."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from codesign.search.journal import Journal, JournalError, read_journal
from codesign.search.pareto import hypervolume, non_dominated
from codesign.search.algorithms import REPEAT_LIMIT, SearchError, genome_key, run_search


def test_hypervolume_by_hand():
    # 2-D: points (1,3), (2,2), (3,1) with reference (4,4): 3 + 2 + 1 = 6 unit squares... staircase area
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), [4, 4]) == pytest.approx(6.0)
    # a dominated point and one beyond the reference add nothing
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]]), [4, 4]) == pytest.approx(6.0)
    # 3-D: one point (1,1,1) in a (2,2,2) box = 1; two points (0,1,1),(1,0,1) box (2,2,2): 2*1*1 + ... = 3
    assert hypervolume(np.array([[1, 1, 1]]), [2, 2, 2]) == pytest.approx(1.0)
    assert hypervolume(np.array([[0, 1, 1], [1, 0, 1]]), [2, 2, 2]) == pytest.approx(3.0)


def test_non_dominated():
    pts = np.array([[1, 2], [2, 1], [2, 2], [1, 2]])
    assert list(non_dominated(pts)) == [True, True, False, True]


class Toy:
    """4 parameters x 8 values: minimise sum(x) and sum((7 - x)^2); a constraint forbids x0 == 0."""

    choices = {f"x{i}": list(range(8)) for i in range(4)}
    objectives = ("f1", "f2")

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def evaluate(self, genomes):
        out = []
        for g in genomes:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            x = np.array([g[f"x{i}"] for i in range(4)])
            out.append({"f1": float(x.sum()), "f2": float(((7 - x) ** 2).sum()), "violation": float(g["x0"] == 0)})
        return out


def true_front_hv(ref):
    pts = []
    for x in itertools.product(range(8), repeat=4):
        if x[0] == 0:
            continue
        x = np.array(x)
        pts.append((x.sum(), ((7 - x) ** 2).sum()))
    return hypervolume(np.array(pts, dtype=float), ref)


@pytest.mark.parametrize("algorithm", ["random", "evolution", "nsga2"])
def test_same_seed_same_front(algorithm):
    a = run_search(Toy(), algorithm, 96, seed=3)
    b = run_search(Toy(), algorithm, 96, seed=3)
    assert a.genomes == b.genomes and a.front() == b.front()
    c = run_search(Toy(), algorithm, 96, seed=4)
    assert c.genomes != a.genomes


@pytest.mark.parametrize("algorithm", ["random", "evolution", "nsga2"])
def test_resume_after_kill_loses_and_repeats_nothing(tmp_path, algorithm):
    path = tmp_path / "journal.jsonl"
    full = run_search(Toy(), algorithm, 80, seed=1, batch_size=16)
    with pytest.raises(KeyboardInterrupt):
        run_search(Toy(fail_after=37), algorithm, 80, seed=1, batch_size=16, journal_path=path)
    # The kill came mid-way through the third batch of 16: the two finished batches are in the journal,
    # the in-flight one is not, and the resumed run evaluates exactly the rest.
    problem = Toy()
    resumed = run_search(problem, algorithm, 80, seed=1, batch_size=16, journal_path=path)
    assert (resumed.replayed, resumed.evaluated, problem.calls) == (32, 48, 48)
    assert resumed.genomes == full.genomes and resumed.metrics == full.metrics
    again = run_search(Toy(), algorithm, 80, seed=1, batch_size=16, journal_path=path)
    assert again.evaluated == 0 and again.genomes == full.genomes


def test_constraint_never_violated_in_front():
    res = run_search(Toy(), "evolution", 200, seed=0)
    assert any(m["violation"] > 0 for m in res.metrics)  # the search did meet infeasible points
    assert res.front() and all(res.genomes[i]["x0"] != 0 for i in res.front())


def test_evolution_and_nsga2_reach_95_percent_of_true_hypervolume():
    # 400 evaluations = 11 % of the 3,584 feasible candidates. (This toy is easy: random search gets
    # there too; the comparison against random belongs on the accelerator space.)
    ref = [29.0, 197.0]
    best = true_front_hv(ref)
    scores = {}
    for algo in ("evolution", "nsga2"):
        scores[algo] = np.median([run_search(Toy(), algo, 400, seed=s).hypervolume_trace(ref)[-1] / best
                                  for s in range(3)])
    assert scores["evolution"] >= 0.95 and scores["nsga2"] >= 0.95


def test_torn_last_line_is_dropped_and_other_corruption_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, "abc")
    j.append({"i": 0, "genome": {"x": 1}, "metrics": {"f": 1.0}})
    with open(path, "a") as fh:
        fh.write('{"i": 1, "genome": {"x"')  # killed mid-write
    again = Journal(path, "abc")
    assert len(again) == 1 and path.read_text().endswith("}\n")
    again.append({"i": 1, "genome": {"x": 2}, "metrics": {"f": 2.0}})
    assert len(Journal(path, "abc")) == 2
    with pytest.raises(JournalError, match="another run configuration"):
        Journal(path, "other")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(JournalError, match="line 2 is not valid JSON"):
        Journal(path, "abc")


def test_journal_fsyncs_at_most_once_per_interval_and_when_the_run_ends(tmp_path, monkeypatch):
    """Appends reach the file at once (a kill of the process keeps them); fsync, for a crash of the
    machine, is paid at most once per sync_seconds and by sync(), which run_search calls at its end."""
    from codesign.search import journal as J
    synced = []
    monkeypatch.setattr(J.os, "fsync", lambda fd: synced.append(fd))
    path = tmp_path / "j.jsonl"
    j = Journal(path, "abc", sync_seconds=3600)
    assert len(synced) == 1                     # the header: the first write syncs
    for i in range(5):
        j.append({"i": i, "genome": {"x": i}, "metrics": {"f": 1.0}})
    assert len(synced) == 1 and len(read_journal(path)[1]) == 5   # written, not yet synced
    j.sync()
    j.sync()                                    # nothing new: no second fsync
    assert len(synced) == 2
    every = Journal(tmp_path / "k.jsonl", "abc", sync_seconds=0)
    for i in range(3):
        every.append({"i": i, "genome": {"x": i}, "metrics": {"f": 1.0}})
    assert len(synced) == 2 + 4
    synced.clear()
    result = run_search(Toy(), "evolution", 40, seed=0, journal_path=tmp_path / "run.jsonl", batch_size=4)
    assert result.evaluated == 40 and 2 <= len(synced) <= 3   # the header, maybe one on the way, the end
    assert len(read_journal(tmp_path / "run.jsonl")[1]) == 40


class Small:
    """3 x 3 x 3 x 2 = 54 genomes where repeats are frequent; x3 matters only when x2 > 0 (as a
    separate buffer's size does not under a unified buffer), so they are 3 * 3 * (1 + 2 * 2) = 45
    designs. A spy counts the scorer's calls per design; ``fail_after`` kills it mid-run."""

    choices = {"x0": [0, 1, 2], "x1": [0, 1, 2], "x2": [0, 1, 2], "x3": [0, 1]}
    objectives = ("f1", "f2")

    def __init__(self, fail_after: int | None = None):
        self.calls: dict = {}
        self.fail_after = fail_after

    def design_key(self, g):
        return g["x0"], g["x1"], g["x2"], g["x3"] if g["x2"] else 0

    def evaluate(self, genomes):
        out = []
        for g in genomes:
            if self.fail_after is not None and sum(self.calls.values()) >= self.fail_after:
                raise KeyboardInterrupt("killed")
            k = self.design_key(g)
            self.calls[k] = self.calls.get(k, 0) + 1
            x = np.array(k)
            out.append({"f1": float(x.sum()), "f2": float(((2 - x) ** 2).sum())})
        return out


SMALL_OPTIONS = {"random": {}, "evolution": {"population": 6}, "nsga2": {"population": 6}}


@pytest.mark.parametrize("algorithm, proposals", [("random", 48), ("evolution", 90), ("nsga2", 105)])
def test_a_design_is_evaluated_once_and_the_budget_counts_distinct_designs(tmp_path, algorithm, proposals):
    options = SMALL_OPTIONS[algorithm]
    whole, spy = tmp_path / "whole.jsonl", Small()
    r = run_search(spy, algorithm, 30, seed=2, batch_size=4, options=options, journal_path=whole)
    # 30 of the 45 designs; the algorithm proposed known ones again and again, and was asked anew each time
    assert (len(r.genomes), r.proposals, r.repeats, r.stop_reason) == (30, proposals, proposals - 30, "budget spent")
    assert r.evaluated == 30 and len(spy.calls) == 30 and set(spy.calls.values()) == {1}   # one call per design
    records = [json.loads(line) for line in whole.read_text().splitlines()[1:]]
    assert [rec["i"] for rec in records] == list(range(30))
    assert len({Small().design_key(rec["genome"]) for rec in records}) == 30            # all distinct
    # killed in the fourth batch: the resumed run replays 12, evaluates 18, and writes the same journal
    part = tmp_path / "part.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_search(Small(fail_after=14), algorithm, 30, seed=2, batch_size=4, options=options, journal_path=part)
    spy = Small()
    resumed = run_search(spy, algorithm, 30, seed=2, batch_size=4, options=options, journal_path=part)
    assert (resumed.replayed, resumed.evaluated, sum(spy.calls.values())) == (12, 18, 18)
    assert (resumed.proposals, resumed.repeats) == (r.proposals, r.repeats)
    assert part.read_bytes() == whole.read_bytes()
    again = run_search(spy, algorithm, 30, seed=2, batch_size=4, options=options, journal_path=part)
    assert again.evaluated == 0 and sum(spy.calls.values()) == 18 and part.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("algorithm, designs", [("random", 45), ("evolution", 43), ("nsga2", 45)])
def test_an_algorithm_proposing_only_known_designs_stops_with_the_reason(algorithm, designs):
    # a budget beyond the 45 designs: once no new one comes for REPEAT_LIMIT proposals the run ends
    # (evolution's one-gene mutations do not reach the last two from where its population ends up)
    spy = Small()
    r = run_search(spy, algorithm, 100, seed=2, batch_size=4, options=SMALL_OPTIONS[algorithm])
    assert len(r.genomes) == designs and sum(spy.calls.values()) == designs
    assert r.stop_reason == (f"stopped early: the last {REPEAT_LIMIT} proposals were all designs already "
                             "evaluated (the space may be exhausted)")
    assert r.proposals - r.repeats == designs and r.repeats >= REPEAT_LIMIT
    again = run_search(Small(), algorithm, 100, seed=2, batch_size=4, options=SMALL_OPTIONS[algorithm])
    assert again.genomes == r.genomes and again.proposals == r.proposals


def test_seeds_come_first_and_only_those_within_the_choices_are_bred_from():
    inside = {"x0": 2, "x1": 2, "x2": 2, "x3": 1}
    outside = {"x0": 7, "x1": 2, "x2": 2, "x3": 1}           # x0 = 7 is not among the choices
    for algorithm in ("random", "evolution", "nsga2"):
        r = run_search(Small(), algorithm, 30, seed=2, batch_size=4, options=SMALL_OPTIONS[algorithm],
                       seeds=[inside, outside])
        assert r.genomes[:2] == [outside, inside], algorithm
        assert all(g["x0"] != 7 for g in r.genomes[2:]), algorithm


def test_bad_arguments():
    with pytest.raises(SearchError, match="algorithm 'sa': expected one of random, evolution, nsga2"):
        run_search(Toy(), "sa", 10, seed=0)
    with pytest.raises(SearchError, match="budget and batch_size must be positive"):
        run_search(Toy(), "random", 0, seed=0)


class Picklable(Toy):
    pass


@pytest.mark.parametrize("runner_name", ["processes", "ray"])
def test_runners_give_the_same_search(runner_name):
    from codesign.runners import make_runner
    if runner_name == "ray":
        pytest.importorskip("ray")
    runner = make_runner(runner_name, workers=2)
    try:
        a = run_search(Picklable(), "evolution", 64, seed=5, batch_size=16, runner=runner)
    finally:
        runner.close()
        if runner_name == "ray":
            import ray
            ray.shutdown()
    b = run_search(Picklable(), "evolution", 64, seed=5, batch_size=16)
    assert a.genomes == b.genomes and a.metrics == b.metrics


class WorkerProbe(Toy):
    """Reports, per genome, how many genomes this problem instance had evaluated before and how many
    Numba threads its process runs."""

    def evaluate(self, genomes):
        import numba
        out = []
        for g in genomes:
            out.append({"seen": float(self.calls), "threads": float(numba.get_num_threads())})
            self.calls += 1
        return out


def test_process_workers_keep_the_problem_and_run_one_numba_thread():
    """A worker receives the problem once and keeps it (its caches survive between batches, as they
    did not when every chunk shipped a fresh copy); each worker runs one Numba thread."""
    from codesign.runners import make_runner
    runner = make_runner("processes", workers=1)
    problem = WorkerProbe()
    try:
        batches = [runner.evaluate(problem, [{"x0": 1, "x1": 0, "x2": 0, "x3": 0}] * 4) for _ in range(3)]
    finally:
        runner.close()
    assert [m["seen"] for b in batches for m in b] == list(range(12))
    assert {m["threads"] for b in batches for m in b} == {1.0}
    assert problem.calls == 0          # the work happened in the worker, not here


def test_one_runner_serves_datasets_and_searches():
    """The dataset's shards and a search's batches go through the same runner classes."""
    import inspect
    from codesign.estimator import dataset
    from codesign.runners import RUNNERS
    src = inspect.getsource(dataset)
    assert "make_runner" in src and "mp.get_context" not in src and "ray.remote" not in src
    assert all(hasattr(cls, "imap_unordered") and hasattr(cls, "evaluate") for cls in RUNNERS.values())


def test_unknown_runner():
    from codesign.runners import RunnerError, make_runner
    with pytest.raises(RunnerError, match="runner 'spark': expected one of serial, processes, ray"):
        make_runner("spark")
