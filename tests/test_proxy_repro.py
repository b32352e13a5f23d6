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

from codesign import nb201  # noqa: E402
from codesign import problems as P  # noqa: E402
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
