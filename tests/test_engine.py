"""Engine: hand-worked cycle counts, kernel vs plain-Python reference, conservation and monotonicity
laws, the accelerator physics the published work reports, and mapping errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.engine import reference as ref
from accelsim.engine import tables as T
from accelsim.engine.kernels import array_cycles
from accelsim.errors import MappingError
from accelsim.workload import NetworkBuilder
from accelsim.workload.zoo import fused_ibn_block, ibn_block

from conftest import make_hw


def one_conv(h, w, c, m, k=1, stride=1, padding=None, groups=1, precision="int8"):
    b = NetworkBuilder("one", (h, w, c), precision)
    b.conv(b.input, m, k, stride, padding, groups=groups, bias=False, name="L")
    return b.build()


# ---------------------------------------------------------------- hand-worked compute cycles
@pytest.mark.parametrize("dataflow,expected", [
    # 1x1 conv on 4x4x8 -> 8 channels, 8x8 array: P=16, K=8, M=8.
    ("os", 2 * (8 + 8 + 8 - 2) - 1),      # Sr=P=16 -> 2 row folds, Sc=M=8 -> 1; T=K=8
    ("ws", 1 * (2 * 8 + 8 + 16 - 2) - 1),  # Sr=K=8, Sc=M=8 -> 1 fold; T=P=16
    ("is", 2 * (2 * 8 + 8 + 8 - 2) - 1),   # Sr=K=8, Sc=P=16 -> 2 folds; T=M=8
])
def test_compute_cycles_by_hand(dataflow, expected):
    hw = make_hw(**{"array.dataflow": dataflow})
    r = accelsim.simulate(one_conv(4, 4, 8, 8), hw)
    assert r.compute_cycles == expected


def test_packed_precision_halves_reduction_time():
    # 2 int8 MACs per PE: T = ceil(27 / 2) = 14 in OS. 3x3 conv, 3 channels, 8 outputs, 6x6 output.
    hw = make_hw(**{"precisions.int8.macs_per_pe_per_cycle": 2})
    r = accelsim.simulate(one_conv(6, 6, 3, 8, k=3), hw)
    assert r.compute_cycles == math.ceil(36 / 8) * 1 * (8 + 8 + 14 - 2) - 1


def test_grouped_conv_runs_groups_one_after_another():
    # groups=2: each group K=1*1*4, M=4; OS folds per group ceil(16/8)*ceil(4/8)=2
    hw = make_hw(**{"vector.lanes": 0, "vector.ops_per_lane_per_cycle": None})
    r = accelsim.simulate(one_conv(4, 4, 8, 8, groups=2), hw)
    assert r.compute_cycles == 2 * 2 * (8 + 8 + 4 - 2) - 1


def test_vector_unit_cycles_by_hand(tiny_hw):
    # depthwise 3x3 on 8x8x8: ceil(8 / 4 lanes) * 64 pixels * 9 taps; the array would need
    # 8 groups * 8 folds * (8 + 8 + 9 - 2) - 1 cycles, so the vector unit wins.
    b = NetworkBuilder("dw", (8, 8, 8))
    b.depthwise(b.input, 3, name="dw")
    r = accelsim.simulate(b.build(), tiny_hw)
    rec = r.layers()[0]
    assert rec["unit"] == "vector"
    assert rec["compute_cycles"] == 2 * 64 * 9
    assert rec["array_cycles"] == 8 * 8 * (8 + 8 + 9 - 2) - 1


def test_dma_walk_by_hand(tiny_hw):
    # 1 B/cycle DRAM, no latency. 1x1 conv 4x4x8 -> 8, int8: ifmap 128 B, weights 64 B, ofmap 128 B,
    # compute 43 cycles (OS). Best walk: two tiles of 2 rows. Step 0 loads 64 + 64 B (t=128), computes
    # 21.5; step 1 loads 64 B (t=192), computes to 213.5; stores of 64 B each end at 256 and 320.
    r = accelsim.simulate(one_conv(4, 4, 8, 8), tiny_hw)
    rec = r.layers()[0]
    assert rec["compute_cycles"] == 43
    assert rec["total_cycles"] == pytest.approx(320)
    assert rec["stall_cycles"] == pytest.approx(320 - 43)
    assert (rec["dram_read_bytes"], rec["dram_write_bytes"], rec["tiles"]) == (192, 128, 2)


def test_energy_by_hand(tiny_hw):
    # 1x1 conv 4x4x8 -> 8 int8 on the tiny config: 1024 MACs x 1 pJ; DRAM 320 B x 10 pJ;
    # SRAM (OS): ifmap reads P*K*ceil(M/C) = 128, filter reads M*K*ceil(P/R) = 128, ofmap writes 128,
    # plus 192 B written in from DRAM and 128 B read out to DRAM = 704 B x 1 pJ; no static power.
    r = accelsim.simulate(one_conv(4, 4, 8, 8), tiny_hw)
    assert r.energy_pj == pytest.approx(1024 + 3200 + 704)


# ---------------------------------------------------------------- kernel == reference
layers = st.one_of(
    st.builds(dict, op=st.just("conv"), h=st.integers(1, 40), c=st.integers(1, 70), m=st.integers(1, 90),
              k=st.sampled_from([1, 3, 5, 7]), s=st.sampled_from([1, 2]), depthwise=st.booleans()),
    st.builds(dict, op=st.sampled_from(["pool", "add", "act", "upsample", "linear"]), h=st.integers(1, 40),
              c=st.integers(1, 70), m=st.integers(1, 90), k=st.sampled_from([1, 2, 3]), s=st.sampled_from([1, 2]),
              depthwise=st.just(False)),
)
hardware = st.builds(
    dict, rows=st.sampled_from([4, 8, 16, 32]), cols=st.sampled_from([4, 8, 16, 32]),
    dataflow=st.sampled_from(["os", "ws", "is"]), kb=st.sampled_from([0.5, 2, 8, 64]),
    unified=st.booleans(), bw=st.floats(0.5, 64), lat=st.sampled_from([0, 50]), lanes=st.sampled_from([0, 4, 16]),
    int8_pack=st.sampled_from([1, 2, 4]))


def build_layer(spec, precision="int8"):
    h, c, m, k, s = spec["h"], spec["c"], spec["m"], spec["k"], spec["s"]
    b = NetworkBuilder("rand", (h, h + 3, c), precision)
    op = spec["op"]
    if op == "conv":
        if spec["depthwise"]:
            b.depthwise(b.input, k, s, name="L")
        else:
            b.conv(b.input, m, k, s, name="L")
    elif op == "pool":
        b.pool(b.input, min(k, h), s, name="L")
    elif op == "add":
        b.add(b.input, b.activation(b.input, name="A"), name="L")
    elif op == "act":
        b.activation(b.input, name="L")
    elif op == "upsample":
        b.upsample(b.input, 2, mode="bilinear" if k > 1 else "nearest", name="L")
    else:
        b.linear(b.input, m, name="L")
    return b.build()


def build_hw(spec):
    sram = ({"unified_kb": 3 * spec["kb"], "energy_per_byte_pj": 1.0} if spec["unified"] else
            {"ifmap_kb": spec["kb"], "filter_kb": spec["kb"], "ofmap_kb": spec["kb"], "energy_per_byte_pj": 1.0})
    changes = {"array.rows": spec["rows"], "array.cols": spec["cols"], "array.dataflow": spec["dataflow"],
               "memory.sram": sram, "dram.bandwidth_gb_per_s": spec["bw"], "dram.latency_ns": spec["lat"],
               "vector.lanes": spec["lanes"], "precisions.int8.macs_per_pe_per_cycle": spec["int8_pack"]}
    if spec["lanes"] == 0:
        changes["vector.ops_per_lane_per_cycle"] = None
    return make_hw(**changes)


def kernel_rows(net, hw):
    many = accelsim.simulate_many(net, [hw])
    return many.report(0, 0).per_layer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers, hardware)
# Two walks whose totals differ only by float summation order: both must break the tie by bytes.
@example(dict(op="conv", h=5, c=8, m=5, k=7, s=1, depthwise=False),
         dict(rows=4, cols=4, dataflow="ws", kb=0.5, unified=False, bw=2.0, lat=0, lanes=0, int8_pack=1))
def test_kernel_matches_reference(lspec, hspec):
    net, hw = build_layer(lspec), build_hw(hspec)
    got = kernel_rows(net, hw)
    want = ref.simulate_network(net, hw)
    for i, w in enumerate(want):
        status = {"ok": T.STATUS_OK, "no_tiling": T.STATUS_NO_TILING, "no_unit": T.STATUS_NO_UNIT}[w["status"]]
        assert got[T.O_STATUS, i] == status
        if w["status"] != "ok":
            continue
        assert T.UNIT_NAMES[int(got[T.O_UNIT, i])] == w["unit"]
        for name in ("compute_cycles", "total_cycles", "dram_read_bytes", "dram_write_bytes", "tiles", "folds",
                     "array_cycles", "vector_cycles"):
            assert got[T.OUT_NAMES.index(name), i] == pytest.approx(w[name], rel=1e-9, abs=1e-9), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers, hardware)
def test_conservation_laws(lspec, hspec):
    net, hw = build_layer(lspec), build_hw(hspec)
    pl = kernel_rows(net, hw)
    for i, layer in enumerate(net.layers):
        if pl[T.O_STATUS, i] != 0 or layer.op == "concat":
            continue
        total, compute = pl[T.O_TOTAL, i], pl[T.O_COMPUTE, i]
        dram = pl[T.O_DRAM_R, i] + pl[T.O_DRAM_W, i]
        assert total >= compute - 1e-9
        assert total >= dram / hw.dram_bytes_per_cycle - 1e-6  # DMA cannot beat the DRAM port
        # bytes moved >= bytes needed: every output once, every weight once, inputs at least once
        out_bytes = layer.output_elements * 1.0
        assert pl[T.O_DRAM_W, i] == pytest.approx(out_bytes)
        needed_rows = ref._input_rows(layer, layer.out_shape[0])
        needed = needed_rows * layer.in_shape[1] * layer.in_shape[2] + layer.weight_elements
        assert pl[T.O_DRAM_R, i] >= needed - 1e-6
        assert 0 <= pl[T.O_UTIL, i] <= 1 + 1e-12
        assert pl[T.O_ENERGY, i] > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers, hardware, st.floats(1.1, 8))
def test_more_bandwidth_never_slower(lspec, hspec, factor):
    net, hw = build_layer(lspec), build_hw(hspec)
    faster = hw.replace(dram__bandwidth_gb_per_s=hw.dram.bandwidth_gb_per_s * factor)
    a, b = kernel_rows(net, hw), kernel_rows(net, faster)
    ok = (a[T.O_STATUS] == 0)
    assert np.all(b[T.O_TOTAL][ok] <= a[T.O_TOTAL][ok] + 1e-9)


def planned_traffic(net, hw):
    """DRAM bytes of the tiling the planner picks (minimum traffic at the largest row tile)."""
    from accelsim.engine import kernels as K
    lay = T.pack_network(net)
    hwt, macs, vops, _ = T.pack_hardware([hw])
    out = []
    for i, layer in enumerate(net.layers):
        li, h = lay[:, i], hwt[:, 0]
        op = int(li[T.L_OP])
        dense = layer.op == "matmul" or (layer.op == "conv" and layer.groups == 1)
        ab = fb = 1.0
        align = min(hw.array.cols, layer.out_channels)
        h_t, m_t, c_t, order = K.choose_tiling(op, dense, li, ab, fb, align, h)
        if h_t == 0:
            out.append(None)
            continue
        if c_t < (li[T.L_IN_C] / li[T.L_GROUPS]):
            out.append("split")  # the planner had to split the reduction; see the test below
            continue
        c_red = li[T.L_IN_C] / li[T.L_GROUPS]
        n = (math.ceil(li[T.L_OUT_H] / h_t), math.ceil(li[T.L_OUT_C] / m_t), math.ceil(c_red / c_t))
        parts = K.traffic(order, dense, *n, K.ifmap_pass_bytes(op, h_t, li, ab), li[T.L_FILTER_ELEMS] * fb,
                          layer.output_elements * ab)
        out.append(sum(parts))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers, hardware)
def test_more_sram_never_more_planned_traffic(lspec, hspec):
    # Only the planner's choice is monotone: the DMA walk may then pick smaller row tiles that move a
    # few more halo bytes but overlap better, so measured bytes are not tested for monotonicity.
    # Known exception, excluded here: the planner splits input channels only when no unsplit tiling
    # fits, so a config just big enough to avoid the split can plan more traffic than a smaller one
    # that split (seen: 7x7 conv, 33 channels, 2 KiB unified).
    net = build_layer(lspec)
    small, big = build_hw(hspec), build_hw({**hspec, "kb": hspec["kb"] * 4})
    for a, b in zip(planned_traffic(net, small), planned_traffic(net, big)):
        if a is not None and a != "split":
            assert b is not None and b != "split" and b <= a + 1e-6


# ---------------------------------------------------------------- physics of the published work
@pytest.mark.parametrize("res,ch", [(112, 16), (96, 16)])
def test_fused_ibn_faster_at_high_resolution_few_channels(neural_engine, res, ch):
    ibn, fused = ibn_block(res, ch), fused_ibn_block(res, ch)
    assert fused.macs > 3 * ibn.macs  # far more MACs ...
    assert accelsim.simulate(fused, neural_engine).latency_ms < accelsim.simulate(ibn, neural_engine).latency_ms


@pytest.mark.parametrize("res,ch", [(14, 96), (7, 160), (14, 64)])
def test_fused_ibn_slower_at_low_resolution_many_channels(neural_engine, res, ch):
    ibn, fused = ibn_block(res, ch), fused_ibn_block(res, ch)
    assert accelsim.simulate(fused, neural_engine).latency_ms > 1.5 * accelsim.simulate(ibn, neural_engine).latency_ms


@pytest.mark.parametrize("aligned", [32, 64, 96])
def test_one_channel_over_a_multiple_costs_like_the_next_multiple(neural_engine, aligned):
    cycles = {m: accelsim.simulate(one_conv(28, 28, 64, m), neural_engine) for m in (aligned, aligned + 1, aligned + 32)}
    assert cycles[aligned + 1].compute_cycles == cycles[aligned + 32].compute_cycles
    assert cycles[aligned + 1].compute_cycles > 1.25 * cycles[aligned].compute_cycles
    assert cycles[aligned + 1].total_cycles >= 0.8 * cycles[aligned + 32].total_cycles


def test_depthwise_mapping_says_which_unit(neural_engine):
    net = accelsim.load_model("mobilenet_v2")
    recs = accelsim.simulate(net, neural_engine).layers()
    dws = [r for r in recs if r["name"].endswith(".dw")]
    assert dws and all(r["unit"] == "vector" and r["array_cycles"] > r["vector_cycles"] for r in dws)


def test_int8_faster_than_int16(neural_engine):
    net = accelsim.load_model("mobilenet_v2")
    a = accelsim.simulate(net, neural_engine)
    b = accelsim.simulate(net.with_precision("int16"), neural_engine)
    assert a.compute_cycles < b.compute_cycles and a.dram_bytes < b.dram_bytes and a.energy_pj < b.energy_pj


# ---------------------------------------------------------------- reports and batches
def test_report_totals_are_sums(neural_engine):
    r = accelsim.simulate(accelsim.load_model("mobilenet_v2"), neural_engine)
    recs = r.layers()
    assert r.total_cycles == pytest.approx(sum(x["total_cycles"] for x in recs))
    assert r.total_cycles == pytest.approx(r.compute_cycles + r.stall_cycles)
    assert r.latency_ms == pytest.approx(r.total_cycles / 1e6)
    assert r.budget_ok and r.memory_bytes == r.param_bytes + r.peak_activation_bytes


def test_simulate_many_equals_simulate(neural_engine):
    nets = [accelsim.load_model("mobilenet_v2", width=w) for w in (0.5, 1.0)]
    hws = [neural_engine, accelsim.load_hardware("eyeriss_like"), neural_engine.replace(array__cols=16)]
    many = accelsim.simulate_many(nets, hws)
    assert many.latency_ms.shape == (2, 3)
    for i, n in enumerate(nets):
        for j, h in enumerate(hws):
            assert many.latency_ms[i, j] == pytest.approx(accelsim.simulate(n, h).latency_ms, rel=1e-12)
    zipped = accelsim.simulate_many(nets, hws[:2], pairs=True)
    assert zipped.latency_ms == pytest.approx([many.latency_ms[0, 0], many.latency_ms[1, 1]])


def test_parallel_and_serial_drivers_are_distinct_functions():
    # numba's on-disk cache is keyed by the Python function: two njit wrappers of one function would
    # share a cache entry, and the "parallel" driver would silently load the serial machine code.
    from accelsim.engine import kernels as K
    par, ser = K.run_pairs_parallel, K.run_pairs_serial
    assert getattr(par, "py_func", par) is not getattr(ser, "py_func", ser)
    if hasattr(par, "targetoptions"):  # absent under NUMBA_DISABLE_JIT=1
        assert par.targetoptions.get("parallel") and not ser.targetoptions.get("parallel")


def test_simulate_many_parallel_path_matches_serial(neural_engine):
    hws = [neural_engine.replace(dram__bandwidth_gb_per_s=float(b)) for b in np.linspace(4, 64, 70)]
    net = accelsim.load_model("ibn_block")
    many = accelsim.simulate_many(net, hws)  # 70 pairs: the parallel driver
    for j in (0, 35, 69):
        assert many.latency_ms[0, j] == pytest.approx(accelsim.simulate(net, hws[j]).latency_ms, rel=1e-12)


# ---------------------------------------------------------------- mapping errors
def test_unsupported_precision_is_an_error(neural_engine):
    net = accelsim.load_model("mobilenet_v2").with_precision("int4")
    with pytest.raises(MappingError, match="uses int4 weights, but hardware 'neural_engine' supports int8, int16, fp16"):
        accelsim.simulate(net, neural_engine)


def test_layer_that_fits_no_tiling(tiny_hw):
    hw = tiny_hw.replace(sram__ifmap_kb=1.0)
    b = NetworkBuilder("wide", (3, 4096, 8))  # one input row is 32 KiB
    b.conv(b.input, 8, 3, name="wide_conv")
    with pytest.raises(MappingError, match="layer 'wide_conv' of wide .* fits no tiling in the SRAM"):
        accelsim.simulate(b.build(), hw)
    many = accelsim.simulate_many(b.build(), [hw, tiny_hw])
    assert list(many.feasible[0]) == [False, True] and np.isinf(many.latency_ms[0, 0])


def test_vector_op_without_vector_unit(tiny_hw):
    hw = make_hw(**{"vector.lanes": 0, "vector.ops_per_lane_per_cycle": None})
    b = NetworkBuilder("p", (8, 8, 8))
    b.pool(b.input, 2, name="mp")
    with pytest.raises(MappingError, match="layer 'mp' of p \\(pool\\) has no unit"):
        accelsim.simulate(b.build(), hw)


def test_array_cycles_kernel_matches_formula_grid():
    for df, code in (("os", 0), ("ws", 1), ("is", 2)):
        for rows, cols in ((8, 8), (32, 16)):
            got, folds, _ = array_cycles(code, rows, cols, 27.0, 100.0, 40.0, 1.0, 1.0)
            want, want_folds = ref.scalesim_cycles(df, rows, cols, 27, 100, 40, 1, 1)
            assert (got, folds) == (want, want_folds)
