"""The engine's kernels against their state before the tiling search and the DMA walk were made
faster (``_kernels_before``, frozen): every output of every layer equal bit for bit.

What changed, each claimed exact: the largest fitting extent is solved for and then checked by the
same fits() test the binary search used; the output-channel sweep stops once no tiling left can
beat the best (a lower bound on their bytes, and on their tiles for the tie rule); the walk runs as
nested loops with per-tile values worked out once, and steps across steady states by adding shifts
that are whole even numbers of ulps inside one binade; layers equal to one shortly before them take
its results; the simulate() wrapper words a format error only when the kernel reports a failure.

The corpus: every zoo model on every shipped config (and the systolic ones under every placement
policy), random layers and small networks on random small configs (column tiles, split reductions,
every policy, weights on chip), networks from the search space on configs from the dataset and the
search hardware spaces, and tilings and walks drawn at random, long walks and partial on-chip shares
included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import _kernels_before as before
import accelsim
from accelsim.engine import kernels as after
from accelsim.engine import tables as T
from accelsim.errors import MappingError
from accelsim.workload import NetworkBuilder
from accelsim.workload.zoo import MODELS
from codesign.spaces.space import DatasetHardwareSpace, HardwareSpace, NetworkSpace
from test_engine import COMPOSITE_BLOCKS, SIMPLE_BLOCKS, build_hw, build_layer, random_config, random_spec

from conftest import make_hw

simulate_module = sys.modules["accelsim.engine.simulate"]
JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
SCALE = 1 if JIT else 0.05   # the plain-Python kernels (NUMBA_DISABLE_JIT=1) check a sample
HW_DIR = Path(__file__).resolve().parent.parent / "hw_configs"


def count(n: int) -> int:
    return max(2, int(n * SCALE))


def same_bits(a, b) -> bool:
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def outputs(kernels, networks, hardware) -> np.ndarray:
    """Every layer's outputs (``[field, row]``) of every network on every config, through ``kernels``'
    serial driver."""
    nets, hws, lay, start, end, tables, pair_net, _, pair_col, row_start, n_rows, _ = \
        simulate_module._pairs_layout(networks, hardware, False, "test")
    out = np.full((T.N_OUT_FIELDS, n_rows), np.nan)
    kernels.run_pairs_serial(lay, start, end, *tables, pair_net, pair_col, row_start, out)
    return out


def assert_same_outputs(networks, hardware):
    old, new = outputs(before, networks, hardware), outputs(after, networks, hardware)
    if same_bits(old, new):
        return
    nets = list(networks)
    rows = [(n, h) for n in nets for h in hardware for _ in n.layers]
    layers = [layer for n in nets for h in hardware for layer in n.layers]
    bad = np.nonzero((old.view(np.int64) != new.view(np.int64)).any(axis=0))[0]
    r = int(bad[0])
    fields = [T.OUT_NAMES[f] for f in range(T.N_OUT_FIELDS) if old[f, r].view(np.int64) != new[f, r].view(np.int64)]
    net, hw = rows[r]
    pytest.fail(f"{len(bad)} layers differ; first: {layers[r].name} of {net.name} on {hw.name}: {fields}: "
                f"{[old[T.OUT_NAMES.index(f), r] for f in fields]} before, "
                f"{[new[T.OUT_NAMES.index(f), r] for f in fields]} now")


# ---------------------------------------------------------------- whole networks
@pytest.fixture(scope="module")
def zoo():
    names = list(MODELS) if JIT else ["mobilenet_v2", "ibn_block", "fused_ibn_block", "ds_cnn"]
    return [accelsim.load_model(name) for name in names]


def shipped_configs():
    return [accelsim.load_hardware(str(p)) for p in sorted(HW_DIR.glob("*.yaml"))]


def test_every_zoo_model_on_every_shipped_config(zoo):
    configs = shipped_configs()
    assert {h.kind for h in configs} == {"systolic", "roofline"}
    assert_same_outputs(zoo, configs)


@pytest.mark.parametrize("policy", ["dram", "resident", "fused"])
@pytest.mark.parametrize("weights_resident", [False, True])
def test_every_zoo_model_under_every_placement(zoo, policy, weights_resident):
    configs = [h.replace(activation_policy=policy, weights_resident=weights_resident)
               for h in shipped_configs() if h.kind == "systolic"]
    assert_same_outputs(zoo, configs)


@pytest.mark.parametrize("seed", range(4))
def test_random_layers_on_random_small_configs(seed):
    """Single layers of every kind (and small networks of composite blocks) on configs as small as
    0.25 KiB per buffer, so that tilings split channels, reductions and columns."""
    rng = np.random.default_rng(seed)
    layers = [build_layer(random_spec(int(s), SIMPLE_BLOCKS)) for s in rng.integers(0, 2 ** 32, count(300))]
    networks = [build_layer(random_spec(int(s), COMPOSITE_BLOCKS, blocks=(2, 4)))
                for s in rng.integers(0, 2 ** 32, count(60))]
    configs = [build_hw(random_config(int(s))) for s in rng.integers(0, 2 ** 32, count(16))]
    assert_same_outputs(layers + networks, configs)


def search_networks(rng, n):
    spaces = (NetworkSpace(),
              NetworkSpace(channel_mode="free", stage_precisions=("int8", "int16", "fp16"),
                           heads=("classifier", "ssdlite", "lraspp", "deeplabv3"), resolutions=(96, 128, 160)))
    return [space.build(space.sample(rng)) for space in spaces for _ in range(n)]


def search_configs(rng, n):
    spaces = (DatasetHardwareSpace(), HardwareSpace(), DatasetHardwareSpace(activation_policies=("fused",)))
    configs = []
    for space in spaces:
        base = space.base_hardware()
        configs += [space.build(space.sample(rng), base) for _ in range(n)]
    return configs


@pytest.mark.parametrize("seed", range(3))
def test_search_space_networks_on_never_seen_configs(seed):
    """Networks drawn from the network search space on configs drawn from the estimator's dataset
    space (SRAM from 16 KiB, DRAM latency to 1 us: long walks) and the hardware search space."""
    rng = np.random.default_rng(100 + seed)
    assert_same_outputs(search_networks(rng, count(8)), search_configs(rng, count(10)))


def test_phase_one_reads_only_its_fields():
    """Layers equal in their first PHASE1_FIELDS fields take each other's phase-1 results: so phase 1
    (the dram policy, weights in DRAM) must not move when every other field does."""
    rng = np.random.default_rng(5)
    nets = search_networks(rng, 2)
    hws = [h.replace(activation_policy="dram", weights_resident=False) for h in search_configs(rng, 4)]
    sim_nets, sim_hws, lay, start, end, tables, pair_net, _, pair_hw, row_start, n_rows, _ = \
        simulate_module._pairs_layout(nets, hws, False, "test")
    outs = []
    for shuffle in (False, True):
        table = lay.copy()
        if shuffle:
            table[after.PHASE1_FIELDS:] = rng.permutation(table[after.PHASE1_FIELDS:], axis=1)
        out = np.empty((T.N_OUT_FIELDS, n_rows))
        after.run_pairs_serial(table, start, end, *tables, pair_net, pair_hw, row_start, out)
        outs.append(out)
    assert after.PHASE1_FIELDS == T.L_KW_EXT + 1 and same_bits(*outs)


def test_parallel_driver_equals_the_serial_one():
    rng = np.random.default_rng(7)
    nets = search_networks(rng, 2)
    hws = search_configs(rng, 8)
    serial = outputs(after, nets, hws)
    many = accelsim.simulate_many(nets, hws)   # >= PARALLEL_MIN_PAIRS pairs: the parallel driver
    assert len(nets) * len(hws) >= after.PARALLEL_MIN_PAIRS
    assert same_bits(serial, many.per_layer)


# ---------------------------------------------------------------- the tiling search and the walk directly
def layer_columns(rng, n):
    """(layer column, config column, bytes per element) triples from random layers on random configs."""
    nets = [build_layer(random_spec(int(s), SIMPLE_BLOCKS)) for s in rng.integers(0, 2 ** 32, n)]
    nets += search_networks(rng, 1)
    hws = [build_hw(random_config(int(s))) for s in rng.integers(0, 2 ** 32, 8)] + search_configs(rng, 3)
    hwt, _, _, _, pbytes = T.pack_hardware(hws)
    cases = []
    for net in nets:
        lay = T.pack_network(net)
        for i in range(lay.shape[1]):
            if lay[T.L_OP, i] == T.OP_CONCAT:
                continue
            h = int(rng.integers(len(hws)))
            cases.append((np.ascontiguousarray(lay[:, i]), np.ascontiguousarray(hwt[:, h]), pbytes[:, h]))
    return cases


def formats(op, li, pbytes):
    ab = pbytes[int(li[T.L_APREC])]
    fb = ab if op == T.OP_MATMUL else pbytes[int(li[T.L_WPREC])]
    dense = (op in (T.OP_CONV, T.OP_CONV_T) and li[T.L_GROUPS] == 1) or op == T.OP_MATMUL
    return ab, fb, dense


def test_tiling_search_and_extents():
    rng = np.random.default_rng(11)
    checked = 0
    for li, hw, pbytes in layer_columns(rng, count(400)):
        op = int(li[T.L_OP])
        ab, fb, dense = formats(op, li, pbytes)
        for align_tile in (float(min(rng.choice([1, 4, 8, 32, 128]), li[T.L_OUT_C])), li[T.L_OUT_C]):
            for by_cols in (False, True):
                args = (op, dense, li, ab, fb, align_tile, hw[T.H_ALIGN], hw, by_cols)
                tiling = before.choose_tiling(*args)
                assert tiling == after.choose_tiling(*args), (li, hw, align_tile, by_cols)
                if tiling[0]:
                    planned = (op, dense, *tiling[:4], li, ab, fb, hw[T.H_ALIGN])
                    assert same_bits(np.array(before.planned_bytes(*planned)), np.array(after.planned_bytes(*planned)))
                for m_t, c_t in ((li[T.L_OUT_C], after.reduction(op, li)),
                                 (float(rng.integers(1, li[T.L_OUT_C] + 1)),
                                  float(rng.integers(1, max(after.reduction(op, li), 1.0) + 1)))):
                    ext = (op, dense, by_cols, m_t, c_t, li, ab, fb, hw[T.H_ALIGN], hw)
                    assert before.max_extent(*ext) == after.max_extent(*ext), (li, hw, m_t, c_t, by_cols)
                checked += 1
    assert checked >= count(400)


def test_planned_traffic_rows():
    """The estimator's account of the chosen tiling's bytes (no walk), row by row."""
    rng = np.random.default_rng(13)
    cases = layer_columns(rng, count(200))
    lay = np.ascontiguousarray(np.stack([c[0] for c in cases], axis=1))
    hwt = np.ascontiguousarray(np.stack([c[1] for c in cases], axis=1))
    pbytes = np.ascontiguousarray(np.stack([c[2] for c in cases], axis=1))
    on_array = (rng.random(len(cases)) < 0.7) | (hwt[T.H_LANES] == 0)   # no vector unit: the array
    old, new = np.full((2, len(cases)), np.nan), np.full((2, len(cases)), np.nan)
    before.planned_traffic_rows(lay, hwt, pbytes, on_array, old)
    after.planned_traffic_rows(lay, hwt, pbytes, on_array, new)
    assert same_bits(old, new) and (old[1] > 0).mean() > 0.9


def test_walks_of_random_tilings():
    """Walks of random tilings, from one tile to thousands (steady states stepped across), in both
    loop orders, by rows or by columns, with every operand through DRAM or shares of them on chip."""
    rng = np.random.default_rng(12)
    walks = long = 0
    for li, hw, pbytes in layer_columns(rng, count(400)):
        op = int(li[T.L_OP])
        ab, fb, dense = formats(op, li, pbytes)
        out_h, out_w, out_c = int(li[T.L_OUT_H]), int(li[T.L_OUT_W]), int(li[T.L_OUT_C])
        c_red = after.reduction(op, li)
        for _ in range(4):
            by_cols = rng.random() < 0.25 and out_w > 1
            small = rng.random() < 0.5   # small tiles: long walks
            h_t = 1 if by_cols else int(rng.integers(1, (max(out_h // 8, 1) if small else out_h) + 1))
            w_t = int(rng.integers(1, out_w)) if by_cols else out_w
            m_t = float(rng.integers(1, (max(out_c // 8, 1) if small else out_c) + 1))
            c_t = float(rng.integers(1, int(c_red) + 1)) if rng.random() < 0.3 else c_red
            keep = [1.0, 1.0, 1.0]
            if rng.random() < 0.5:
                keep = [float(rng.choice([0.0, 1.0, rng.random()])) for _ in range(3)]
            compute = float(rng.choice([0.0, rng.uniform(1, 1e6), rng.integers(1, 10 ** 7)]))
            args = (op, dense, h_t, w_t, m_t, c_t, int(rng.integers(2)), li, ab, fb, hw[T.H_ALIGN], compute, hw, *keep)
            old, new = before.dma_walk(*args), after.dma_walk(*args)
            assert same_bits(np.array(old), np.array(new)), (args, old, new)
            walks += 1
            long += old[3] >= 64
    assert walks >= count(1600) and long >= count(200)


def test_long_walks_end_where_the_loop_did():
    """Walks of 32,768 tiles (512 row tiles x 64 output-channel tiles), one compute-bound and one
    DMA-bound, stepped across in a few hundred steps: bit for bit the loop's totals."""
    b = NetworkBuilder("long", (512, 64, 64), "int8")
    b.conv(b.input, 256, 3, 1, bias=False, name="L")
    li = np.ascontiguousarray(T.pack_network(b.build())[:, 0])
    for bw_gbs, compute in ((1000.0, 3e7), (0.5, 1e3)):
        hw = make_hw(**{"dram.bandwidth_gb_per_s": bw_gbs, "dram.latency_ns": 37})
        col = np.ascontiguousarray(T.pack_hardware([hw])[0][:, 0])
        args = (T.OP_CONV, True, 1, 64, 4.0, 64.0, 0, li, 1.0, 1.0, 1.0, compute, col, 1.0, 1.0, 1.0)
        old, new = before.dma_walk(*args), after.dma_walk(*args)
        assert old[3] == 512 * 64 and same_bits(np.array(old), np.array(new))


# ---------------------------------------------------------------- simulate()'s errors
def old_simulate(net, hw):
    """simulate() as it was: the format check before the kernel, then the first failing layer."""
    problem = simulate_module._precision_problem(net, hw)
    if problem:
        raise MappingError(problem)
    out = outputs(before, [net], [hw])
    bad = np.nonzero(out[T.O_STATUS])[0]
    if bad.size:
        raise simulate_module._status_error(net, hw, int(bad[0]), int(out[T.O_STATUS, bad[0]]))
    return out


def two_layers(first_kb, second_precision):
    b = NetworkBuilder("two", (64, 64, 64), "int8")
    x = b.conv(b.input, 64, 3, 1, bias=False, name="wide")
    b.conv(x, 8, 1, 1, bias=False, name="late", weight_precision=second_precision, act_precision=second_precision)
    return b.build(), make_hw(**{"memory.sram": {"ifmap_kb": first_kb, "filter_kb": first_kb, "ofmap_kb": first_kb,
                                                  "energy_per_byte_pj": 1.0}})


@pytest.mark.parametrize("kb,precision", [(0.0625, "fp16"), (64, "fp16"), (0.0625, "int8"), (64, "int8")])
def test_errors_read_as_before(kb, precision):
    """A format the config lacks is named even when an earlier layer fits no tiling (the check ran
    first); otherwise the first failing layer is; a network that runs gives the same report."""
    net, hw = two_layers(kb, precision)
    try:
        expected = old_simulate(net, hw)
    except MappingError as exc:
        with pytest.raises(MappingError) as got:
            accelsim.simulate(net, hw)
        assert str(got.value) == str(exc)
    else:
        assert same_bits(accelsim.simulate(net, hw).per_layer, expected)
