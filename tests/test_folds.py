"""The compute model written once (accelsim.engine.folds): compiled by numba for the engine and called
on numpy arrays by the estimator's features, the two give the same bits and the same decisions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import accelsim
from accelsim.engine import folds
from accelsim.engine import kernels as K
from accelsim.engine import tables as T
from codesign.estimator import features as F

from conftest import make_hw

OPS = (T.OP_CONV, T.OP_POOL, T.OP_ADD, T.OP_ACT, T.OP_UPSAMPLE, T.OP_MATMUL)


def test_array_folds_compiled_and_on_arrays_agree_bit_for_bit():
    grid = list(itertools.product((T.DF_OS, T.DF_WS, T.DF_IS), (1, 3, 8, 12, 32, 128), (1, 5, 16, 128),
                                  (1.0, 9.0, 27.0, 144.0, 1152.0, 4608.0), (1.0, 49.0, 100.0, 3136.0),
                                  (1.0, 8.0, 40.0, 96.0), (1.0, 4.0, 32.0), (1.0, 2.0, 4.0, 8.0)))
    rng = np.random.default_rng(0)
    grid = [grid[i] for i in rng.choice(len(grid), size=4000, replace=False)]
    cols = [np.array(c, dtype=float) for c in zip(*grid)]
    on_arrays = folds.array_folds_rows(*cols)
    for i, args in enumerate(grid):
        compiled = K._array_folds(int(args[0]), *(float(a) for a in args[1:]))
        assert compiled == tuple(float(v[i]) for v in on_arrays), args
        cycles, n_folds, eff = K.array_cycles(int(args[0]), *(float(a) for a in args[1:]))
        assert (cycles, n_folds, eff) == compiled[:3]
    # a code other than OS and IS is WS, as in the kernel
    other = folds.array_folds_rows(np.array([7.0]), 8.0, 8.0, 27.0, 100.0, 40.0, 1.0, 1.0)
    assert [float(v[0]) for v in other] == list(K._array_folds(T.DF_WS, 8.0, 8.0, 27.0, 100.0, 40.0, 1.0, 1.0))


def test_sram_traffic_compiled_and_on_arrays_agree_bit_for_bit():
    grid = list(itertools.product((T.DF_OS, T.DF_WS, T.DF_IS), (1, 7, 32, 128), (1, 5, 16, 128),
                                  (1.0, 9.0, 27.0, 1152.0, 4608.0), (1.0, 49.0, 3136.0), (1.0, 8.0, 40.0, 96.0),
                                  (1.0, 4.0, 32.0), (1.0, 2.0, 8.0), (0.5, 1.0, 2.0), (0.5, 1.0, 2.0)))
    rng = np.random.default_rng(1)
    grid = [grid[i] for i in rng.choice(len(grid), size=4000, replace=False)]
    cols = [np.array(c, dtype=float) for c in zip(*grid)]
    reads, writes = folds.sram_traffic_rows(*cols)
    for i, args in enumerate(grid):
        compiled = K.sram_traffic(int(args[0]), *(float(a) for a in args[1:]))
        assert compiled == (float(reads[i]), float(writes[i])), args
        assert compiled == folds.sram_traffic(int(args[0]), *(float(a) for a in args[1:]))
    # a code other than OS and IS is WS, as in the kernel
    other = folds.sram_traffic_rows(np.array([7.0]), 8.0, 8.0, 27.0, 100.0, 40.0, 1.0, 1.0, 1.0, 1.0)
    ws = K.sram_traffic(T.DF_WS, 8.0, 8.0, 27.0, 100.0, 40.0, 1.0, 1.0, 1.0, 1.0)
    assert [float(v[0]) for v in other] == list(ws)


def test_sram_traffic_by_hand():
    # 1x1 conv on 4x4x8 -> 8 channels, 8x8 array, 1-byte operands: P=16, K=8, M=8, one pass over K
    assert folds.sram_traffic(T.DF_OS, 8.0, 8.0, 8.0, 16.0, 8.0, 1.0, 1.0, 1.0, 1.0) == (16 * 8 + 8 * 8 * 2, 16 * 8)
    assert folds.sram_traffic(T.DF_WS, 8.0, 8.0, 8.0, 16.0, 8.0, 1.0, 1.0, 1.0, 1.0) == (8 * 8 + 16 * 8, 16 * 8)
    assert folds.sram_traffic(T.DF_IS, 8.0, 8.0, 8.0, 16.0, 8.0, 1.0, 1.0, 1.0, 1.0) == (8 * 16 + 8 * 8 * 2, 16 * 8)
    # K=16 on 8 rows: two passes, the second re-reading the 16x8 partial sums; two groups double it all
    assert folds.sram_traffic(T.DF_WS, 8.0, 8.0, 16.0, 16.0, 8.0, 2.0, 1.0, 1.0, 1.0) == (
        2 * (16 * 8 + 16 * 16 + 16 * 8), 2 * (16 * 8 * 2))


def test_array_folds_by_hand():
    # 1x1 conv on 4x4x8 -> 8 channels, 8x8 array: P=16, K=8, M=8 (as in test_engine)
    for df, cycles, row_folds, col_folds, per_fold in ((T.DF_OS, 2 * (8 + 8 + 8 - 2) - 1, 2, 1, 22),
                                                       (T.DF_WS, 1 * (2 * 8 + 8 + 16 - 2) - 1, 1, 1, 38),
                                                       (T.DF_IS, 2 * (2 * 8 + 8 + 8 - 2) - 1, 1, 2, 30)):
        c, n, eff, fr, fc, pf = folds.array_folds(df, 8.0, 8.0, 8.0, 16.0, 8.0, 1.0, 1.0)
        assert (c, n, fr, fc, pf) == (cycles, row_folds * col_folds, row_folds, col_folds, per_fold)
        assert eff == 1.0                       # every fold full
    assert folds.array_folds(T.DF_WS, 8.0, 8.0, 0.0, 16.0, 8.0, 1.0, 1.0)[1:3] == (0.0, 0.0)   # no folds: efficiency 0


def test_vector_cycles_compiled_and_on_arrays_agree():
    grid = np.array(list(itertools.product((1, 16, 64), (1, 2, 4), (1, 3, 64, 960), (1, 49, 12544), (1, 2, 9, 49))),
                    dtype=float)
    on_arrays = folds.vector_cycles(*grid.T)
    for row, v in zip(grid, on_arrays):
        assert K.vector_cycles(*row) == v


def test_runnable_units_is_one_rule_with_the_decisions_it_had():
    """Every combination of operator, depthwise or not, formats present or not and vector lanes:
    compiled, on arrays, and as the engine wrote the rule before it moved to accelsim.engine.folds."""
    cases = list(itertools.product(OPS, ((1.0, 8.0), (8.0, 8.0), (4.0, 8.0)), (0.0, 2.0), (0.0, 1.0),
                                   (0.0, 4.0), (0.0, 1.0), (0.0, 16.0)))
    arrays = [np.array(c, dtype=float) for c in zip(*[(op, g, c, mw, ma, vw, va, lanes)
                                                       for op, (g, c), mw, ma, vw, va, lanes in cases])]
    array_ok, vector_ok = folds.runnable_units(*arrays)
    for i, (op, (groups, in_c), mw, ma, vw, va, lanes) in enumerate(cases):
        is_mm = op in (T.OP_CONV, T.OP_MATMUL)
        depthwise = op == T.OP_CONV and groups > 1 and groups == in_c
        v_ops = min(vw, va) if op == T.OP_CONV else va
        before = (is_mm and min(mw, ma) > 0, (depthwise or not is_mm) and lanes > 0 and v_ops > 0)
        assert K.runnable_units(op, groups, in_c, mw, ma, vw, va, lanes) == before
        assert (bool(array_ok[i]), bool(vector_ok[i])) == before


@pytest.fixture(scope="module")
def engine_and_features():
    nets = [accelsim.load_model("mobilenet_v2", resolution=96), accelsim.load_model("vit_tiny"),
            accelsim.load_model("mobilenet_v2", resolution=64).with_precision("int16")]
    hws = [make_hw(**{"array.dataflow": df, "array.rows": r, "array.cols": c})
           for df, r, c in (("os", 8, 8), ("ws", 16, 32), ("is", 12, 8))]
    hws += [make_hw(**{"vector.lanes": 0, "vector.ops_per_lane_per_cycle": None}),
            make_hw(**{"precisions.int16": None, "vector.ops_per_lane_per_cycle": {"int8": 1}})]
    many = accelsim.simulate_many(nets, hws)
    lay, start, sizes = F.network_layer_table(nets)
    table = F.hardware_table(hws)
    li = np.concatenate([np.arange(start[n], start[n] + sizes[n]) for n in many.pair_net])
    hi = np.concatenate([np.full(sizes[n], h) for n, h in zip(many.pair_net, many.pair_hw)])
    eng = F.engineered(lay[:, li], F.take_rows(table, hi))
    return many.per_layer, lay[T.L_OP, li], eng


def test_features_fold_columns_are_the_engines(engine_and_features):
    out, op, eng = engine_and_features
    X = {name: eng["X"][:, j] for j, name in enumerate(F.FEATURE_NAMES)}
    real = op != T.OP_CONCAT
    arr, vec = out[T.O_ARRAY_CYCLES], out[T.O_VECTOR_CYCLES]
    # the same unit decision (status NO_UNIT exactly where neither unit can run the layer)
    assert np.array_equal(X["has_array"][real] == 1, np.isfinite(arr[real]))
    assert np.array_equal(X["has_vector"][real] == 1, np.isfinite(vec[real]))
    no_unit = out[T.O_STATUS] == T.STATUS_NO_UNIT
    assert no_unit.any() and np.array_equal(no_unit[real], ((X["has_array"] == 0) & (X["has_vector"] == 0))[real])
    # the same cycles, folds and mapping efficiency
    on_arr = out[T.O_UNIT] == T.UNIT_ARRAY
    assert on_arr.sum() > 100 and (out[T.O_UNIT] == T.UNIT_VECTOR).sum() > 100
    for name, cycles in (("log_array_cycles", arr), ("log_vector_cycles", vec)):
        sel = real & np.isfinite(cycles)
        assert np.array_equal(X[name][sel], F._log(cycles[sel]).astype(np.float32)), name
    assert np.array_equal(X["log_folds"][on_arr], F._log(np.maximum(out[T.O_FOLDS][on_arr], 1)).astype(np.float32))
    assert np.array_equal(X["mapping_eff"][on_arr], out[T.O_MAP_EFF][on_arr].astype(np.float32))
    ok = out[T.O_STATUS] == 0
    assert np.array_equal(eng["compute"][ok], out[T.O_COMPUTE][ok])
