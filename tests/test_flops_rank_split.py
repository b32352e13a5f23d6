"""The two honesty checks of issue 18: FLOPs against latency (``experiments/flops_rank.py``) and the
estimator from a measured operator table on operators never in training
(``experiments/measured_operator_split.py``, ``evaluate_fbnet(heldout_keys=...)``).

Hand-made inputs whose answers are worked out in the comments; one small fit on the shipped FBNet
LUT excerpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codesign.errors import CodesignError
from experiments.flops_rank import inversions
from experiments.measured_operator_split import (Lut, allowed_blocks, draw_archs, evaluate, held_sets,
                                                 operator_disjoint_split, read_lut)

LUT = Path(__file__).parent / "data" / "measured" / "hwnasbench_fbnet_op_lut_cifar100.csv"


# ------------------------------------------------------------------------------------ inversions
def test_inversions_on_hand_made_pairs():
    assert inversions([1, 2, 3], [1, 2, 3]) == (0.0, 1.0)          # MACs rank latency exactly
    assert inversions([1, 2, 3], [3, 2, 1]) == (1.0, 3.0)          # every pair inverted; 3 ms vs 1 ms
    # equal x are never compared: of the pairs (0, 2) and (1, 2), only (0, 2) is inverted, by 2 / 1.5
    share, worst = inversions([1, 1, 2], [2, 1, 1.5])
    assert share == 0.5 and worst == pytest.approx(4 / 3)
    assert np.isnan(inversions([5, 5], [1, 2])[0])                  # no pair with different x


def test_inversions_equal_a_brute_force_count():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, y = rng.integers(0, 5, 25).astype(float), rng.integers(1, 6, 25).astype(float)
        lower = x[:, None] < x[None, :]
        slower = lower & (y[:, None] > y[None, :])
        ratio = np.where(slower, y[:, None] / y[None, :], 1.0)
        share, worst = inversions(x, y)
        assert share == pytest.approx(slower.sum() / lower.sum())
        assert worst == pytest.approx(ratio.max())


# ------------------------------------------------------------------------------------ operator split
def test_operator_disjoint_split_shares_no_operator():
    keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] * 3 + ["stem"] * 4
    train, test, held = operator_disjoint_split(keys, 0.3, seed=1, keep=("stem",))
    keys = np.array(keys)
    assert not set(keys[train]) & set(keys[test])
    assert (train ^ test).all()                                     # every row on exactly one side
    assert len(held) == 3 and set(keys[test]) == set(held)          # round(0.3 * 10 candidates)
    assert "stem" not in held and test.sum() == 9                   # each held operator has 3 rows
    again = operator_disjoint_split(list(keys), 0.3, seed=1, keep=("stem",))
    assert again[2] == held                                         # the seed decides the split


def test_operator_disjoint_split_covers_every_group():
    # 4 layers of 5 blocks; operators shared across layers 1-2 as same-shape layers share LUT keys
    layers = {0: ["a0", "b0", "c0", "d0", "e0"], 1: ["a1", "b1", "c1", "d1", "e1"],
              2: ["a1", "b1", "c1", "d1", "e1"], 3: ["a3", "b3", "c3", "d3", "e3"]}
    keys = [k for row in layers.values() for k in row]
    groups = [g for g, row in layers.items() for _ in row]
    for seed in range(20):
        _, test, held = operator_disjoint_split(keys, 0.1, seed, groups=groups)
        assert all(set(row) & set(held) for row in layers.values())   # a held-out block in every layer
        assert len(held) == 3                                        # 3 distinct layers' worth, > round(0.1 * 15)


def test_operator_disjoint_split_refuses_what_cannot_be_split():
    with pytest.raises(CodesignError, match="held-out share"):
        operator_disjoint_split(["a", "b"], 1.0)
    with pytest.raises(CodesignError, match="needs >= 2"):
        operator_disjoint_split(["a", "a", "s"], 0.5, keep=("s",))


def test_fbnet_held_sets_and_architectures_stay_disjoint():
    lut = read_lut(LUT, "cifar100", "pixel3_latency_ms")
    sets = held_sets(lut, 0.3, seed=0)
    held_types = set(sets["types"][1])
    assert len(held_types) == 2 and "skip" not in held_types        # round(0.3 * 8 conv block types)
    assert {lut.block[lut.keys.index(k)] for k in sets["types"][0]} == held_types
    rng = np.random.default_rng(0)
    for split in ("shapes", "types"):
        held = sets[split][0]
        train_ok, test_ok = allowed_blocks(lut, split, held)
        rows = np.arange(lut.grid.shape[0])[None, :]
        train_keys = {lut.keys[k] for k in lut.grid[rows, draw_archs(train_ok, 200, rng)].ravel()}
        test_keys = {lut.keys[k] for k in lut.grid[rows, draw_archs(test_ok, 200, rng)].ravel()}
        assert test_keys <= held and not train_keys & held            # no operator on both sides


# ------------------------------------------------------------------------------------ metrics
def _hand_made_lut() -> Lut:
    """2 layers x 2 blocks plus one fixed part: 2, 4, 8 and 9 ms. Seen operators cost 2 ns per MAC, the
    held-out one (key 'h') 3 ns per MAC, so MACs x (the seen median, 2 ns) is 1/3 low on it."""
    keys = ["fixed", "a", "b", "h"]
    macs = np.array([1e6, 2e6, 4e6, 3e6])
    per_mac = np.array([2e-9, 2e-9, 2e-9, 3e-9]) * 1e3           # ms per MAC
    return Lut(keys=keys, block=np.array(["", "k3_e1", "k3_e3", "k5_e6"]), networks=[object()] * 4,
               latency=macs * per_mac, macs=macs, fixed=np.array([0]), grid=np.array([[1, 3], [2, 3]]))


def test_evaluate_scores_a_hand_made_table():
    lut = _hand_made_lut()
    pred = lut.latency * 1.05                                       # every operator 5 % high
    ev = evaluate(lut, {"h"}, pred, np.ones(4, bool), n_archs=64, seed=0)
    assert ev["macs_constant_ms_per_mac"] == pytest.approx(2e-6)
    ops = ev["heldout_ops"]
    assert ops["estimator"]["n"] == 1 and ops["estimator"]["mape_pct"] == pytest.approx(5.0)
    assert ops["macs"]["mape_pct"] == pytest.approx(100 / 3)       # 2 ns against 3 ns per MAC
    # the only held-out-only architecture is (h, h): 2 + 9 + 9 = 20 ms, its blocks alone 18 ms
    whole, blocks = ev["heldout_archs"], ev["heldout_archs_blocks"]
    assert whole["estimator"]["within_10_pct"] == 100.0 and blocks["estimator"]["mape_pct"] == pytest.approx(5.0)
    assert blocks["macs"]["mape_pct"] == pytest.approx(100 / 3)
    assert whole["macs"]["mape_pct"] == pytest.approx(100 * (20 - (2 + 12)) / 20)   # c * 7 M MACs = 14 ms
    assert whole["fixed_share_pct"] == pytest.approx(10.0)
    assert ev["random_archs"]["estimator"]["mape_pct"] == pytest.approx(5.0)


def test_evaluate_says_which_layers_have_no_held_out_block():
    lut = _hand_made_lut()
    lut.grid = np.array([[1, 3], [2, 1]])                           # layer 1 holds no 'h'
    ev = evaluate(lut, {"h"}, lut.latency, np.ones(4, bool), n_archs=8, seed=0)
    assert ev["heldout_archs"] == {"missing_layers": [1]}


# ------------------------------------------------------------------------------------ library
def test_evaluate_fbnet_trains_on_none_of_the_given_keys(monkeypatch):
    """What ``heldout_keys`` reaches the fit with: the training and selection masks over the distinct
    LUT keys (in ``read_lut``'s order) leave out exactly those keys. The fit itself is stopped there."""
    from codesign.estimator import measured as M

    class Stop(Exception):
        pass

    seen = {}

    def fit(networks, targets, train, val, cfg=None, metadata=None, **kw):
        seen.update(train=np.asarray(train), val=np.asarray(val), metadata=metadata, n=len(networks))
        raise Stop

    lut = read_lut(LUT, "cifar100", "pixel3_latency_ms")
    held = sorted(held_sets(lut, 0.3, seed=0)["types"][0])
    monkeypatch.setattr(M, "fit_measured", fit)
    with pytest.raises(Stop):
        M.evaluate_fbnet(LUT, "pixel3_latency_ms", "cifar100", n_archs=10, heldout_keys=held)
    assert seen["n"] == len(lut.keys) and seen["metadata"]["heldout_ops"] == held
    used = seen["train"] | seen["val"]
    is_held = np.isin(lut.keys, held)
    assert not used[is_held].any() and not (seen["train"] & seen["val"]).any()
    assert used[~is_held & (lut.latency > 0) & np.array([n is not None for n in lut.networks])].all()


def test_evaluate_fbnet_refuses_keys_it_cannot_hold_out():
    from codesign.estimator.measured import evaluate_fbnet
    lut = read_lut(LUT, "cifar100", "pixel3_latency_ms")
    with pytest.raises(CodesignError, match="is a fixed part"):
        evaluate_fbnet(LUT, "pixel3_latency_ms", "cifar100", heldout_keys=[lut.keys[lut.fixed[0]]])
    with pytest.raises(CodesignError, match="not a searchable block"):
        evaluate_fbnet(LUT, "pixel3_latency_ms", "cifar100", heldout_keys=["no_such_key"])
