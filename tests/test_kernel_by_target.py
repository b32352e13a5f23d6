"""The facts experiments/kernel_by_target.py rests on, with numbers worked out by hand: a kxk IBN
block's MACs, the roofline law for k7 against k3 (compute-bound, overhead-bound, memory-bound), what
the shipped roofline configs charge for a large depthwise layer, and the scoped wide-array claim
(datacenter_wide prices a 7x7 relatively cheaper than neural_engine only at low resolution)."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.workload.ir import NetworkBuilder

from conftest import hardware_with

# At 1000 MHz a cycle is a nanosecond: 200 Gop/s is 200 ops = 100 MACs per cycle, 100 GB/s is 100
# bytes per cycle. No efficiency curve, no overhead: a layer costs max(compute, bytes / bandwidth).
ROOF = {
    "name": "kernel_roof",
    "kind": "roofline",
    "roofline": {"clock_mhz": 1000, "cache_kb": 64, "layer_overhead_us": 0, "half_outputs": 0,
                 "throughput": {"int8": {"dense_gops": 200, "depthwise_gops": 200, "elementwise_gops": 10,
                                         "energy_per_op_pj": 0.5}}},
    "dram": {"bandwidth_gb_per_s": 100, "energy_per_byte_pj": 10},
    "memory": {"memory_budget_mb": 1},
}

# 14x14x32, expansion 6 (192 expanded channels), stride 1, 196 output pixels:
EXPAND_MACS = 196 * 32 * 192          # 1,204,224 (and the same for the project)
DW3_MACS = 196 * 192 * 9              # 338,688
DW7_MACS = 196 * 192 * 49             # 1,843,968


def block(kernel, size=14, width=32, expansion=6, stride=1, residual=None):
    b = NetworkBuilder(f"ibn_k{kernel}", (size, size, width), "int8")
    b.ibn(b.input, width, expansion=expansion, kernel=kernel, stride=stride, residual=residual, name="b")
    return b.build()


def layer(net, name):
    return next(x for x in net.layers if x.name == name)


def dw_record(report):
    return next(rec for rec in report.layers() if rec["name"] == "b.dw")


# ------------------------------------------------------------------------------------ MACs
def test_a_k7_ibn_block_has_49_ninths_of_the_depthwise_macs_of_a_k3_one():
    k3, k7 = block(3), block(7)
    assert layer(k3, "b.dw").macs == DW3_MACS == 338_688
    assert layer(k7, "b.dw").macs == DW7_MACS == 1_843_968
    assert layer(k7, "b.dw").macs * 9 == layer(k3, "b.dw").macs * 49
    for name in ("b.expand", "b.project"):
        assert layer(k3, name).macs == layer(k7, name).macs == EXPAND_MACS == 1_204_224
    # whole block: 196 x 192 x (2 x 32 + k^2), so k7 / k3 = (2C + 49) / (2C + 9) = 113 / 73
    assert (k3.macs, k7.macs) == (2_747_136, 4_252_416)
    assert k7.macs * 73 == k3.macs * 113


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_macs_scale_with_k_squared_at_either_stride(stride):
    out = 14 // stride                 # 'same' padding: 14 -> 14 or 7
    for k in (3, 5, 7):
        assert layer(block(k, stride=stride), "b.dw").macs == out * out * 192 * k * k


# ------------------------------------------------------------------------------------ roofline law
def test_compute_bound_without_overhead_latency_ratio_is_the_mac_ratio():
    """Dense = depthwise rate (100 MACs per cycle), no add layer: latency is MACs / 100 cycles.
    k3: 2,747,136 / 100 = 27,471.36 cycles; k7: 42,524.16; ratio 113 / 73. Every layer is far from
    its DRAM time (the k7 depthwise moves 37,632 + 9,408 + 37,632 bytes: 846.72 cycles vs 18,439.68)."""
    hw = hardware_with(ROOF)
    k3 = accelsim.simulate(block(3, residual=False), hw)
    k7 = accelsim.simulate(block(7, residual=False), hw)
    assert k3.total_cycles == pytest.approx(27_471.36)
    assert k7.total_cycles == pytest.approx(42_524.16)
    assert k7.latency_ms / k3.latency_ms == pytest.approx(113 / 73)
    assert dw_record(k7)["dram_read_bytes"] + dw_record(k7)["dram_write_bytes"] == 37_632 + 9_408 + 37_632


def test_a_slower_depthwise_rate_makes_k7_dearer_than_its_macs():
    """Depthwise at half the dense rate (50 MACs per cycle), as on a phone core whose int8 depthwise
    taps do not fit its dot-product instruction: the two 1x1 convs take 24,084.48 cycles, the
    depthwise 6,773.76 (k3) or 36,879.36 (k7): ratio 60,963.84 / 30,858.24 = 1.976 > 113 / 73 = 1.548."""
    hw = hardware_with(ROOF, **{"roofline.throughput.int8.depthwise_gops": 100})
    k3 = accelsim.simulate(block(3, residual=False), hw)
    k7 = accelsim.simulate(block(7, residual=False), hw)
    assert k3.total_cycles == pytest.approx(24_084.48 + 6_773.76)
    assert k7.total_cycles == pytest.approx(24_084.48 + 36_879.36)
    assert k7.latency_ms / k3.latency_ms == pytest.approx(60_963.84 / 30_858.24)


@pytest.mark.parametrize("overhead_us", [0, 2, 5, 50])
def test_per_layer_overhead_pulls_the_ratio_towards_one(overhead_us):
    """Three layers, each + overhead: (42,524.16 + 3,000 o) / (27,471.36 + 3,000 o), o in us."""
    hw = hardware_with(ROOF, **{"roofline.layer_overhead_us": overhead_us})
    k3 = accelsim.simulate(block(3, residual=False), hw)
    k7 = accelsim.simulate(block(7, residual=False), hw)
    fixed = 3 * overhead_us * 1000
    assert k3.total_cycles == pytest.approx(27_471.36 + fixed)
    assert k7.latency_ms / k3.latency_ms == pytest.approx((42_524.16 + fixed) / (27_471.36 + fixed))


def test_below_the_ridge_a_depthwise_layer_costs_its_bytes_whatever_the_kernel():
    """At 1 GB/s (1 byte per cycle) the k3 and k7 depthwise layers of the 14x14x32 e6 block move
    37,632 + 9 x 192 + 37,632 and 37,632 + 49 x 192 + 37,632 bytes: 76,992 and 84,672 cycles, not
    their 3,386.88 and 18,439.68 cycles of compute."""
    hw = hardware_with(ROOF, **{"dram.bandwidth_gb_per_s": 1})
    k3 = dw_record(accelsim.simulate(block(3), hw))
    k7 = dw_record(accelsim.simulate(block(7), hw))
    assert (k3["compute_cycles"], k7["compute_cycles"]) == (pytest.approx(3_386.88), pytest.approx(18_439.68))
    assert (k3["total_cycles"], k7["total_cycles"]) == (pytest.approx(76_992), pytest.approx(84_672))


# ------------------------------------------------------------------------------------ shipped roofline configs
def test_gpu_like_runs_a_large_k7_depthwise_layer_at_its_memory_bound():
    """gpu_like, 112x112x320 e6 block (1,920 expanded channels): the k7 depthwise does 2 x 49 ops per
    output and moves ~2 bytes, 49 ops/byte, below the ridge 82,600 / 1,008 = 81.9. Bytes: 24,084,480 in
    + 49 x 1,920 weights + 24,084,480 out = 48,263,040, over 1,008 GB/s = 47.88 us, + 5 us launch;
    compute 2,360,279,040 ops / (82.6 Tops x 24,084,480 / (24,084,480 + 262,144)) = 28.89 us. The k3
    layer moves 40 x 1,920 bytes less: 0.0762 us faster."""
    hw = accelsim.load_hardware("gpu_like")
    k3 = dw_record(accelsim.simulate(block(3, size=112, width=320), hw))
    k7 = dw_record(accelsim.simulate(block(7, size=112, width=320), hw))
    us = 1 / hw.clock_mhz
    outputs = 112 * 112 * 1920
    assert k7["total_cycles"] * us == pytest.approx(48_263_040 / 1_008_000 + 5)
    assert k7["compute_cycles"] * us == pytest.approx(2 * 49 * outputs / (82_600_000 * outputs / (outputs + 262_144)))
    assert k7["compute_cycles"] * us == pytest.approx(28.886, abs=1e-3)
    assert (k7["total_cycles"] - k3["total_cycles"]) * us == pytest.approx(40 * 1920 / 1_008_000)


def test_mobile_cpu_like_runs_depthwise_compute_bound_so_k7_costs_49_ninths():
    """mobile_cpu_like, 56x56x32 e6 block: int8 depthwise at 90.9 Gop/s over 34.1 GB/s (ridge 2.7
    ops/byte), so a 3x3 (9 ops/byte) is already compute-bound: 602,112 outputs x 18 ops /
    (90,900 ops/us x 602,112 / (602,112 + 512)) = 119.33 us, + 2 us dispatch; the 7x7 is 49 / 9 of it."""
    hw = accelsim.load_hardware("mobile_cpu_like")
    k3 = dw_record(accelsim.simulate(block(3, size=56), hw))
    k7 = dw_record(accelsim.simulate(block(7, size=56), hw))
    us = 1 / hw.clock_mhz
    outputs = 56 * 56 * 192
    compute3 = 18 * outputs / (90_900 * outputs / (outputs + 512))
    assert k3["compute_cycles"] * us == pytest.approx(compute3)
    assert compute3 == pytest.approx(119.33, abs=0.01)
    assert k3["total_cycles"] * us == pytest.approx(compute3 + 2)
    assert k7["compute_cycles"] / k3["compute_cycles"] == pytest.approx(49 / 9)
    assert k7["total_cycles"] * us == pytest.approx(compute3 * 49 / 9 + 2)


@pytest.mark.parametrize("name", ["gpu_like", "mobile_cpu_like", "dsp_like", "scalesim_scale", "datacenter_wide"])
def test_the_kernel_changes_only_the_depthwise_layer_on_roofline_and_dram_configs(name):
    """Under the roofline law and the systolic `dram` placement every layer is costed alone, so a
    larger kernel changes nothing but the depthwise layer (datacenter_wide, resident, at these sizes too)."""
    hw = accelsim.load_hardware(name)
    for size in (8, 56):
        r3 = accelsim.simulate(block(3, size=size), hw).column("total_cycles")
        r7 = accelsim.simulate(block(7, size=size), hw).column("total_cycles")
        names = [x.name for x in block(3).layers]
        for i, n in enumerate(names):
            if n != "b.dw":
                assert r3[i] == r7[i], (name, size, n)


# ------------------------------------------------------------------------------------ the scoped claim
@pytest.mark.parametrize("width", [16, 32, 96, 320])
def test_wide_array_prices_k7_relatively_cheaper_only_at_low_resolution(width):
    """datacenter_wide's k7/k3 block latency is below neural_engine's at 8 px and above it at 56 px
    (expansion 6, stride 1): the README's 'the wide array prices big kernels cheaper' holds for the
    32x32 toy skeleton's positions (16 px and below) and reverses at higher resolution."""
    hws = [accelsim.load_hardware(n) for n in ("datacenter_wide", "neural_engine")]
    nets = [block(k, size=s, width=width) for s in (8, 56) for k in (3, 7)]
    lat = accelsim.simulate_many(nets, hws).latency_ms
    wide8, ne8 = lat[1] / lat[0]
    wide56, ne56 = lat[3] / lat[2]
    assert wide8 < ne8
    assert wide56 > ne56


def test_gpu_like_charges_under_two_percent_for_a_k7_block_and_mobile_cpu_like_more():
    """14 and 56 px, widths 16 and 160, expansion 6: on gpu_like the 5 us launch per layer (small
    layers) or the memory bound (large ones) hides the 7x7; mobile_cpu_like pays for its MACs."""
    hws = [accelsim.load_hardware(n) for n in ("gpu_like", "mobile_cpu_like")]
    for size in (14, 56):
        for width in (16, 160):
            lat = accelsim.simulate_many([block(3, size, width), block(7, size, width)], hws).latency_ms
            gpu, cpu = lat[1] / lat[0]
            assert 1.0 <= gpu < 1.02
            assert cpu > 1.2
