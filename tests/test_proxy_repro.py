"""Zero-shot proxy scores repeat exactly: a genome's score depends on the genome and the seed alone.

Before, the torch module a proxy scores was initialised from torch's unseeded global generator, so the
same genome scored differently on every run (and in every evaluation order), and so did the front.
"""

from __future__ import annotations

import csv
import random

import pytest
import yaml

torch = pytest.importorskip("torch")

from codesign.spaces import nb201  # noqa: E402
from codesign.search import problems as P  # noqa: E402
from codesign.accuracy import genome_seed, seeded  # noqa: E402
from codesign.cli import main  # noqa: E402

AXIS = P.NB201Axis(channels=4, cells=1, resolution=8)


def _genomes(n: int, seed: int = 3) -> list:
    rng = random.Random(seed)
    return [dict(zip(nb201.EDGE_KEYS, (rng.choice(nb201.OPS) for _ in nb201.EDGE_KEYS))) for _ in range(n)]


def _scores(source: str, genomes: list, **options) -> list:
    """Scores from a fresh AccuracySource (no cache shared between calls)."""
    src = P.AccuracySource(source, batch=4, resolution=8, **options)
    return src.scores(AXIS, genomes, [None] * len(genomes))


@pytest.mark.parametrize("source", ["synflow", "naswot", "grad_norm"])
def test_same_genomes_in_shuffled_order_score_bit_identically(source):
    genomes = _genomes(6)
    first = _scores(source, genomes)
    torch.randn(1000)                       # the global generator moves on, as other code would move it
    order = list(range(len(genomes)))
    random.Random(1).shuffle(order)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))  # scoring pins its own thread count
    try:
        again = _scores(source, [genomes[i] for i in order])
        assert torch.get_num_threads() == max(2, threads), "the caller's thread count is restored"
    finally:
        torch.set_num_threads(threads)
    assert [again[order.index(i)].hex() for i in range(len(genomes))] == [s.hex() for s in first]
    assert len(set(first)) > 1, "different genomes should score differently"


def test_seed_changes_the_initialisation_and_the_global_rng_is_left_alone():
    g = _genomes(1)
    before = torch.random.get_rng_state()
    a, b = _scores("synflow", g, seed=0), _scores("synflow", g, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a != b
    assert genome_seed(("a", 1), 0) == genome_seed(("a", 1), 0) != genome_seed(("a", 1), 1)
    with seeded(5, threads=1):
        x = torch.rand(3)
    with seeded(5, threads=1):
        assert torch.equal(torch.rand(3), x)


RUN = {"name": "proxy", "space": {"network": {"type": "nb201", "channels": 4, "cells": 1, "resolution": 8}},
       "objectives": ["latency_ms", "accuracy"], "accuracy": {"source": "synflow", "batch": 1, "resolution": 8},
       "algorithm": {"name": "evolution", "population": 8}, "budget": 24, "batch_size": 8, "seed": 0}


def test_proxy_search_run_twice_gives_the_same_front(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(RUN))
    fronts = []
    for name in ("a", "b"):
        torch.randn(100)   # whatever ran before must not matter
        assert main(["search", "--config", str(cfg), "--out", str(tmp_path / name), "--quiet"]) == 0
        with open(tmp_path / name / "pareto.csv") as fh:
            fronts.append(list(csv.reader(fh)))
    assert len(fronts[0]) > 1 and fronts[0] == fronts[1]


# ------------------------------------------------------------------------------------ thread count
def _search(tmp_path, cfg: dict, out: str, *extra) -> int:
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return main(["search", "--config", str(path), "--out", str(tmp_path / out), "--quiet", *extra])


def _front(tmp_path, out: str) -> bytes:
    return (tmp_path / out / "pareto.csv").read_bytes()


@pytest.mark.parametrize("config_threads, cli, expected", [(None, (), 1), (3, (), 3), (3, ("--threads", "2"), 2)])
def test_proxy_scoring_runs_on_the_pinned_thread_count(tmp_path, monkeypatch, config_threads, cli, expected):
    """``threads`` in the config, or ``--threads`` over it, is the torch thread count every proxy score
    is computed on, whatever the process's own count; the caller's count comes back afterwards."""
    import codesign.accuracy as acc
    seen, score = [], acc.score

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return score(*args, **kwargs)

    monkeypatch.setattr(acc, "score", spy)
    cfg = {**RUN, "budget": 8}
    if config_threads is not None:
        cfg["threads"] = config_threads
    before = torch.get_num_threads()
    assert _search(tmp_path, cfg, "r", *cli) == 0
    assert len(seen) == 8 and set(seen) == {expected}
    assert torch.get_num_threads() == before
    ident = __import__("json").loads((tmp_path / "r" / "identity.json").read_text())
    assert ident["settings"]["threads"] == expected


def test_torch_scored_run_resumes_only_with_its_own_thread_count(tmp_path, capsys):
    """Torch may split a reduction differently on another thread count, so a proxy-scored run records
    its count and refuses to continue on another: one line naming the setting, nothing evaluated."""
    assert _search(tmp_path, {**RUN, "budget": 16}, "r", "--threads", "1") == 0
    journal = (tmp_path / "r" / "journal.jsonl").read_bytes()
    capsys.readouterr()
    assert _search(tmp_path, RUN, "r", "--threads", "2") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("codesign: error: ") and "settings.threads 1 → 2" in err and "--force-new" in err
    assert (tmp_path / "r" / "journal.jsonl").read_bytes() == journal
    # the same count (here the default, 1) resumes, and ends on the front of an uninterrupted run
    assert _search(tmp_path, RUN, "r") == 0
    assert _search(tmp_path, RUN, "whole", "--threads", "1") == 0
    assert _front(tmp_path, "r") == _front(tmp_path, "whole")


ENGINE_RUN = {"name": "hw", "space": {"hardware": {"rows": [8, 16, 32], "cols": [8, 16, 32],
                                                   "dataflows": ["os", "ws"]}},
              "network": {"model": "ibn_block"}, "hardware": "neural_engine",
              "objectives": ["latency_ms", "energy_mj"], "algorithm": "random", "budget": 12, "batch_size": 6,
              "seed": 4}


def test_engine_scored_run_gives_the_same_front_on_any_thread_count(tmp_path, monkeypatch):
    """The engine simulates each (network, hardware) pair on one numba thread, so its results do not
    depend on the thread count: ``--threads`` pins numba in this process while the run works (and
    restores it), is left out of the identity, and a run may resume on another count."""
    import numba

    import accelsim
    seen, simulate_many = [], accelsim.simulate_many

    def spy(*args, **kwargs):
        seen.append(numba.get_num_threads())
        return simulate_many(*args, **kwargs)

    monkeypatch.setattr(accelsim, "simulate_many", spy)
    before = numba.get_num_threads()
    most = numba.config.NUMBA_NUM_THREADS
    assert _search(tmp_path, ENGINE_RUN, "one", "--threads", "1") == 0
    assert seen and set(seen) == {1}
    seen.clear()
    assert _search(tmp_path, ENGINE_RUN, "two", "--threads", "2") == 0
    assert seen and set(seen) == {min(2, most)}
    assert numba.get_num_threads() == before
    assert _front(tmp_path, "one") == _front(tmp_path, "two")
    ident = __import__("json").loads((tmp_path / "one" / "identity.json").read_text())
    assert "threads" not in ident["settings"]
    # resuming on another count is allowed and extends the run
    assert _search(tmp_path, {**ENGINE_RUN, "budget": 18}, "one", "--threads", "2") == 0
    assert _search(tmp_path, {**ENGINE_RUN, "budget": 18}, "whole") == 0
    assert _front(tmp_path, "one") == _front(tmp_path, "whole")


def test_proxy_score_ignores_the_search_seed_and_follows_accuracy_seed():
    """The proxy's initialisation comes from the genome and ``accuracy.seed`` only: the accuracy axis is
    the same function of the genome in every search seed (so searches with different seeds optimise
    the same objective), and ``accuracy.seed`` changes it."""
    from codesign.search.runconfig import parse_run_config
    g = _genomes(3)
    scores = {}
    for seed, acc_seed in ((0, 0), (7, 0), (0, 5)):
        cfg = parse_run_config({**RUN, "seed": seed, "accuracy": {**RUN["accuracy"], "seed": acc_seed}})
        problem = cfg.build_problem()
        scores[seed, acc_seed] = [m["accuracy"] for m in problem.evaluate(g)]
    assert scores[0, 0] == scores[7, 0]
    assert scores[0, 0] != scores[0, 5]
