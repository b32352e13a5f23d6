"""Hardware kinds and the calibration section: the roofline law worked out by hand on a tiny device,
its efficiency curve, cache re-read rule and overhead floor; the calibration section on the systolic
kind; one batch mixing both kinds; the kernel against the reference; round trips and bad input."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.config import hardware_from_dict, hardware_to_dict, load_hardware, require_kind
from accelsim.engine import tables as T
from accelsim.errors import ConfigError, MappingError
from accelsim.workload.ir import NetworkBuilder

from conftest import hardware_with, make_hw
from test_engine import (COMPOSITE_BLOCKS, SIMPLE_BLOCKS, assert_kernel_matches_reference, build_hw, build_network,
                         random_config, random_spec)

# A device whose numbers make the law easy to follow: at 1000 MHz a cycle is a nanosecond, so int8
# dense 200 Gop/s is 200 ops (100 MACs) per cycle, depthwise 50, element ops 10; 100 GB/s is 100 bytes
# per cycle; the overhead of 2 us is 2000 cycles.
ROOF = {
    "name": "tiny_roof",
    "kind": "roofline",
    "roofline": {"clock_mhz": 1000, "cache_kb": 64, "layer_overhead_us": 2, "half_outputs": 0,
                 "throughput": {"int8": {"dense_gops": 200, "depthwise_gops": 50, "elementwise_gops": 10,
                                         "energy_per_op_pj": 0.5},
                                "int16": {"dense_gops": 100, "depthwise_gops": 25, "elementwise_gops": 5,
                                          "energy_per_op_pj": 1.0}}},
    "dram": {"bandwidth_gb_per_s": 100, "energy_per_byte_pj": 10},
    "memory": {"memory_budget_mb": 1},
}


def roof(**changes):
    """ROOF with nested changes given as 'roofline.cache_kb'=1 style keys (None removes a key)."""
    return hardware_with(ROOF, **changes)


def conv_net(out_channels=32, in_channels=16, size=8, kernel=3, groups=1, weight_precision=None, precision="int8"):
    b = NetworkBuilder("one_conv", (size, size, in_channels), precision)
    b.conv(b.input, out_channels, kernel, groups=groups, bias=False, name="c", weight_precision=weight_precision)
    return b.build()


def layer(report, i=0) -> dict:
    return report.layers()[i]


# ------------------------------------------------------------------------------------ roofline law
def test_conv_time_by_hand():
    """8x8x16 -> 8x8x32 3x3 conv, int8: 294,912 MACs = 589,824 ops at 200 per cycle = 2949.12 cycles;
    DRAM 1024 + 4608 + 2048 bytes at 100 per cycle = 76.8 cycles; compute-bound, plus 2000 overhead."""
    net = conv_net()
    assert net.macs == 294912
    rec = layer(accelsim.simulate(net, roof()))
    assert rec["compute_cycles"] == pytest.approx(2949.12)
    assert rec["total_cycles"] == pytest.approx(2949.12 + 2000)
    assert rec["stall_cycles"] == pytest.approx(2000)
    assert (rec["dram_read_bytes"], rec["dram_write_bytes"]) == (1024 + 4608, 2048)
    assert rec["unit"] == "array" and rec["tiles"] == 1 and rec["mapping_efficiency"] == 1
    assert rec["utilization"] == pytest.approx(294912 / (4949.12 * 100))
    assert rec["energy_pj"] == pytest.approx(589824 * 0.5 + 7680 * 10)   # no static power
    assert rec["array_cycles"] == pytest.approx(2949.12) and rec["vector_cycles"] is None
    # depthwise: 8x8x16 3x3, 9,216 MACs at 50 ops per cycle; bytes 1024 + 144 + 1024
    dw = layer(accelsim.simulate(conv_net(16, 16, groups=16), roof()))
    assert dw["compute_cycles"] == pytest.approx(2 * 9216 / 50)
    assert dw["total_cycles"] == pytest.approx(2 * 9216 / 50 + 2000) and dw["unit"] == "array"


def test_memory_bound_layer_costs_its_bytes_over_the_bandwidth():
    """At 1 GB/s (1 byte per cycle) the same conv moves 7680 bytes: 7680 cycles, not its 2949.12 of compute."""
    rec = layer(accelsim.simulate(conv_net(), roof(**{"dram.bandwidth_gb_per_s": 1})))
    assert rec["total_cycles"] == pytest.approx(7680 + 2000)
    assert rec["compute_cycles"] == pytest.approx(2949.12)
    assert rec["stall_cycles"] == pytest.approx(7680 - 2949.12 + 2000)
    # an activation on 16x16x16 int8: 4096 element ops at 10 per cycle, 8192 bytes at 1 per cycle
    b = NetworkBuilder("act", (16, 16, 16), "int8")
    b.activation(b.input, name="a")
    act = layer(accelsim.simulate(b.build(), roof(**{"dram.bandwidth_gb_per_s": 1})))
    assert act["unit"] == "vector" and act["compute_cycles"] == pytest.approx(409.6)
    assert act["total_cycles"] == pytest.approx(8192 + 2000)


def test_efficiency_curve():
    """e = outputs / (outputs + half_outputs): at half_outputs = the layer's 2048 outputs, half the rate."""
    net = conv_net()
    for half, e in ((2048, 0.5), (6144, 0.25), (0, 1.0), (1e9, 2048 / (2048 + 1e9))):
        rec = layer(accelsim.simulate(net, roof(**{"roofline.half_outputs": half})))
        assert rec["mapping_efficiency"] == pytest.approx(e)
        assert rec["compute_cycles"] == pytest.approx(2949.12 / e)
    # compute = ops x (outputs + half) / (peak x outputs): for a fixed work per output, time grows by a
    # fixed work x half / peak, so a small layer never takes less than that
    hw = roof(**{"roofline.half_outputs": 1000, "roofline.layer_overhead_us": 0})
    for m in (1, 4, 32, 256):
        rec = layer(accelsim.simulate(conv_net(m), hw))
        outputs, ops = 64 * m, 2 * 64 * m * 144
        assert rec["compute_cycles"] == pytest.approx(ops * (outputs + 1000) / (200 * outputs))


def test_time_is_monotone_in_work():
    hw = roof(**{"roofline.half_outputs": 5000, "dram.bandwidth_gb_per_s": 3})
    grown = {"out": lambda n: conv_net(n), "in": lambda n: conv_net(16, n), "size": lambda n: conv_net(16, 16, n + 2)}
    for grow, make in grown.items():
        totals, computes = [], []
        for n in (1, 2, 3, 5, 8, 16, 32, 64):
            rec = layer(accelsim.simulate(make(n), hw))
            totals.append(rec["total_cycles"])
            computes.append(rec["compute_cycles"])
        assert all(a < b for a, b in zip(computes, computes[1:])), grow
        assert all(a <= b for a, b in zip(totals, totals[1:])), grow


def test_a_one_element_layer_costs_the_overhead():
    b = NetworkBuilder("dot", (1, 1, 1), "int8")
    b.activation(b.input, name="a")
    net = b.build()
    rec = layer(accelsim.simulate(net, roof()))
    assert rec["total_cycles"] == pytest.approx(2000 + 0.1)   # one op at 10 per cycle; 2 bytes take 0.02
    gpu = load_hardware("gpu_like")   # 5 us at 2520 MHz
    assert layer(accelsim.simulate(net, gpu))["total_cycles"] == pytest.approx(5 * 2520, rel=1e-3)
    # the calibration's overhead adds to the device's own
    more = layer(accelsim.simulate(net, roof().replace(calibration__layer_overhead_us=0.5)))
    assert more["total_cycles"] == pytest.approx(2500 + 0.1)


def test_cache_rereads_the_input_when_the_weights_do_not_fit():
    """The conv's weights are 4608 bytes and one output row reads 3 input rows of 8 x 16 bytes (384).
    Weights + rows overflowing the cache re-read the input ceil(4608 / (cache / 2)) times."""
    net = conv_net()
    for cache_kb, passes in ((64, 1), (4.875, 1), (4.8, 2), (1, 9), (0.25, 36)):
        rec = layer(accelsim.simulate(net, roof(**{"roofline.cache_kb": cache_kb})))
        assert rec["tiles"] == passes, cache_kb
        assert rec["dram_read_bytes"] == 1024 * passes + 4608, cache_kb
    # layers without weights never re-read, however small the cache
    b = NetworkBuilder("pool", (16, 16, 64), "int8")
    b.pool(b.input, 3, 1, 1, name="p")
    rec = layer(accelsim.simulate(b.build(), roof(**{"roofline.cache_kb": 0.25})))
    assert rec["tiles"] == 1 and rec["dram_read_bytes"] == 16 * 16 * 64


def test_a_matmul_streams_its_second_operand_as_weights():
    b = NetworkBuilder("mm", (4, 8, 16), "int8")
    y = b.conv(b.input, 16, 1, bias=False, name="k")
    b.matmul(b.input, y, transpose_b=True, name="mm")
    net = b.build()
    rec = accelsim.simulate(net, roof()).layers()[1]
    mm = net.layers[1]
    assert rec["unit"] == "array" and rec["compute_cycles"] == pytest.approx(2 * mm.macs / 200)
    assert rec["dram_read_bytes"] == 4 * 8 * 16 + 4 * 8 * 16   # the input, and the other operand once


def test_mixed_formats_take_the_slower_rate_and_a_missing_format_is_refused():
    rec = layer(accelsim.simulate(conv_net(weight_precision="int16"), roof()))
    assert rec["compute_cycles"] == pytest.approx(2 * 294912 / 100)   # int16 dense rate
    assert rec["energy_pj"] == pytest.approx(2 * 294912 * 1.0 + (1024 + 2 * 4608 + 2048) * 10)
    with pytest.raises(MappingError, match=r"^layer 'c' of one_conv uses fp16 weights, but hardware 'tiny_roof' "
                                           r"supports int8, int16$"):
        accelsim.simulate(conv_net(precision="fp16"), roof())
    many = accelsim.simulate_many([conv_net(precision="fp16"), conv_net()], [roof()])
    assert list(many.feasible[:, 0]) == [False, True]


def test_memory_figures_and_area():
    net = accelsim.load_model("mobilenet_v2")
    gpu = accelsim.simulate(net, "gpu_like")
    plain = accelsim.simulate(net, "scalesim_scale")   # int8, 1 byte per element, no channel padding
    assert gpu.param_bytes == plain.param_bytes and gpu.peak_activation_bytes == plain.peak_activation_bytes
    assert gpu.budget_ok and gpu.totals()["memory_budget_bytes"] == 24576 * 2 ** 20
    assert load_hardware("gpu_like").area_mm2 == 608.5
    assert math.isnan(load_hardware("mobile_cpu_like").area_mm2)
    assert load_hardware("gpu_like").peak_tops == pytest.approx({"fp16": 165.2, "int8": 660.6, "fp32": 82.6})


def test_the_kind_guard_is_one_line():
    require_kind(load_hardware("neural_engine"), "systolic", "estimator features")
    with pytest.raises(ConfigError, match=r"^estimator features: hardware 'dsp_like' is of kind roofline; only kind "
                                          r"systolic configs are supported here$"):
        require_kind(load_hardware("dsp_like"), "systolic", "estimator features")


# ------------------------------------------------------------------------------------ calibration on systolic
def test_efficiency_half_doubles_the_compute_of_a_compute_bound_layer():
    hw = make_hw(**{"dram.bandwidth_gb_per_s": 64.0})
    net = conv_net(64, 64, 16)   # 9.4 M MACs on 64 PEs: ~150k cycles against ~70k bytes at 64 bytes per cycle
    base = layer(accelsim.simulate(net, hw))
    half = layer(accelsim.simulate(net, hw.replace(calibration__efficiency__dense=0.5)))
    assert base["stall_cycles"] < 0.02 * base["total_cycles"]
    assert half["compute_cycles"] == 2 * base["compute_cycles"]
    assert half["array_cycles"] == 2 * base["array_cycles"]
    assert half["total_cycles"] == pytest.approx(2 * base["total_cycles"], rel=0.02)
    for key in ("dram_read_bytes", "dram_write_bytes", "energy_pj", "tiles", "folds"):   # no static power
        assert half[key] == base[key], key
    # another class's efficiency leaves a dense layer alone
    assert layer(accelsim.simulate(net, hw.replace(calibration__efficiency__depthwise=0.5))) == base


def test_efficiency_slows_each_class_and_keeps_the_unit():
    ne = load_hardware("neural_engine")
    net = accelsim.load_model("mobilenet_v2")
    base = accelsim.simulate(net, ne).layers()
    cal = accelsim.simulate(net, ne.replace(calibration__efficiency__depthwise=0.25,
                                            calibration__efficiency__elementwise=0.5)).layers()
    for layer_, b, c in zip(net.layers, base, cal):
        assert c["unit"] == b["unit"]
        factor = 4.0 if layer_.groups > 1 else (1.0 if layer_.op == "conv" else 2.0)
        if layer_.op != "concat":
            assert c["compute_cycles"] == pytest.approx(factor * b["compute_cycles"]), layer_.name


@pytest.mark.parametrize("policy", ["dram", "resident", "fused"])
def test_overhead_adds_overhead_times_clock_to_every_layer_that_runs(policy):
    ne = load_hardware("neural_engine").replace(activation_policy=policy)   # 1000 MHz, 30 mW static
    net = accelsim.load_model("mobilenet_v2")
    base = accelsim.simulate(net, ne)
    more = accelsim.simulate(net, ne.replace(calibration__layer_overhead_us=1.5))
    runs = np.array([layer_.op != "concat" for layer_ in net.layers])
    np.testing.assert_allclose(more.column("total_cycles") - base.column("total_cycles"), 1500.0 * runs, atol=1e-6)
    np.testing.assert_array_equal(more.column("compute_cycles"), base.column("compute_cycles"))
    np.testing.assert_array_equal(more.column("dram_read_bytes"), base.column("dram_read_bytes"))
    np.testing.assert_array_equal(more.column("fused_chain"), base.column("fused_chain"))
    np.testing.assert_allclose(more.column("energy_pj") - base.column("energy_pj"), 1500.0 * 30.0 * runs, rtol=1e-9)
    assert more.total_cycles == pytest.approx(base.total_cycles + 1500.0 * runs.sum())


@pytest.mark.parametrize("base", ["neural_engine", "gpu_like"])
def test_class_overhead_adds_each_class_its_own_time(base):
    """calibration.overhead_us: 4 us on every dense layer, 1 us on every depthwise and 0.5 us on every
    element-wise one that runs, on top of the per-layer overhead; nothing else moves."""
    hw = load_hardware(base)
    net = accelsim.load_model("mobilenet_v2")
    b = accelsim.simulate(net, hw)
    more = accelsim.simulate(net, hw.replace(calibration__overhead_us__dense=4, calibration__overhead_us__depthwise=1,
                                             calibration__overhead_us__elementwise=0.5))
    us = np.array([0.0 if l.op == "concat" else 4.0 if l.op in ("conv", "matmul", "conv_transpose") and l.groups == 1
                   else 1.0 if l.groups > 1 else 0.5 for l in net.layers])
    assert (us == 4).sum() == 36 and (us == 1).sum() == 17 and (us == 0.5).sum() > 0   # MobileNetV2 by hand
    np.testing.assert_allclose(more.column("total_cycles") - b.column("total_cycles"), us * hw.clock_mhz, rtol=1e-12,
                               atol=1e-6)
    np.testing.assert_array_equal(more.column("compute_cycles"), b.column("compute_cycles"))
    np.testing.assert_array_equal(more.column("dram_read_bytes"), b.column("dram_read_bytes"))
    assert hw.replace(calibration__overhead_us__dense=4).overhead_us_of("dense") == hw.layer_overhead_us + 4
    back = hardware_from_dict(hardware_to_dict(hw.replace(calibration__overhead_us__elementwise=0.5)))
    assert back.calibration.overhead_us.elementwise == 0.5 and back.calibration.overhead_us.dense == 0


def test_class_overhead_is_checked():
    with pytest.raises(ConfigError, match=r"calibration\.overhead_us\.dense"):
        hardware_from_dict({**hardware_to_dict(load_hardware("neural_engine")),
                            "calibration": {"overhead_us": {"dense": -1}}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"calibration\.overhead_us.*conv"):
        hardware_from_dict({**hardware_to_dict(load_hardware("neural_engine")),
                            "calibration": {"overhead_us": {"conv": 1}}}, "x.yaml")


def test_defaults_give_the_shipped_numbers():
    """The README's neural_engine line (907,416 cycles = 723,076 compute + 184,340 stall, 0.4567 mJ),
    with the calibration section absent or written out at its defaults."""
    ne = load_hardware("neural_engine")
    spelled = ne.replace(calibration__layer_overhead_us=0, calibration__efficiency__dense=1.0,
                         calibration__efficiency__depthwise=1, calibration__efficiency__elementwise=1.0)
    assert spelled == ne and "calibration" not in hardware_to_dict(spelled) and "kind" not in hardware_to_dict(ne)
    net = accelsim.load_model("mobilenet_v2")
    r = accelsim.simulate(net, ne)
    assert (round(r.total_cycles), r.compute_cycles, round(r.stall_cycles)) == (907416, 723076, 184340)
    assert round(r.energy_mj, 4) == 0.4567
    with_section = hardware_from_dict({**hardware_to_dict(ne), "kind": "systolic",
                                       "calibration": {"layer_overhead_us": 0.0, "efficiency": {"dense": 1.0}}})
    np.testing.assert_array_equal(accelsim.simulate(net, with_section).per_layer, r.per_layer)


# ------------------------------------------------------------------------------------ batches and the reference
def test_simulate_many_mixes_kinds_and_equals_simulate():
    nets = [accelsim.load_model("mobilenet_v2"), conv_net(), conv_net(precision="fp16")]
    hws = [load_hardware("gpu_like"), load_hardware("neural_engine"), roof(), load_hardware("mobile_cpu_like"),
           load_hardware("dsp_like"), load_hardware("neural_engine").replace(calibration__layer_overhead_us=0.3)]
    many = accelsim.simulate_many(nets, hws)
    for i, net in enumerate(nets):
        for j, hw in enumerate(hws):
            try:
                one = accelsim.simulate(net, hw)
            except MappingError:   # fp16 on tiny_roof and dsp_like
                assert not many.feasible[i, j] and net.precisions_used() - set(hw.precision_names)
                continue
            np.testing.assert_array_equal(many.report(i, j).per_layer, one.per_layer)
            assert many.latency_ms[i, j] == pytest.approx(one.latency_ms, rel=1e-12)


def test_a_large_mixed_batch_runs_in_parallel_as_it_runs_serially():
    from accelsim.engine.kernels import PARALLEL_MIN_PAIRS
    nets = [conv_net(m, 8, 6) for m in range(1, 17)]
    hws = [roof(), load_hardware("neural_engine"), load_hardware("gpu_like"),
           make_hw().replace(calibration__efficiency__dense=0.5, calibration__layer_overhead_us=0.01)]
    assert len(nets) * len(hws) >= PARALLEL_MIN_PAIRS
    many = accelsim.simulate_many(nets, hws)
    for i, net in enumerate(nets):
        for j, hw in enumerate(hws):
            np.testing.assert_array_equal(many.report(i, j).per_layer, accelsim.simulate(net, hw).per_layer)


def random_roofline(seed):
    """A roofline config drawn evenly from ``seed``: rates for the formats the random networks use
    (fp16 sometimes missing), caches from a quarter KiB, curves, overheads and calibration."""
    rng = np.random.default_rng(seed)

    def pick(options):
        return options[int(rng.integers(len(options)))]

    rates = {}
    for fmt in ("int4", "int8", "int16", "fp16"):
        if fmt == "fp16" and rng.integers(8) == 0:
            continue
        rates[fmt] = {k: round(float(rng.uniform(1, 500)), 3) for k in ("dense_gops", "depthwise_gops",
                                                                         "elementwise_gops")}
        rates[fmt]["energy_per_op_pj"] = pick([0, 0.5, 2])
    if rng.integers(4) == 0:
        rates["int8"]["bytes_per_element"] = 2.0
    return {"name": "rand_roof", "kind": "roofline",
            "roofline": {"clock_mhz": pick([200, 1000, 2500]), "cache_kb": pick([0.25, 1, 4, 64]),
                         "layer_overhead_us": pick([0, 0, 1.5]), "half_outputs": pick([0, 100, 5000]),
                         "throughput": rates},
            "dram": {"bandwidth_gb_per_s": round(float(rng.uniform(0.5, 64)), 3), "energy_per_byte_pj": 10},
            "memory": {"memory_budget_mb": 1}, "energy": {"static_power_mw": pick([0, 25])},
            "calibration": {"layer_overhead_us": pick([0, 0.25]),
                            "efficiency": {k: pick([1.0, 0.7, 0.3]) for k in ("dense", "depthwise", "elementwise")},
                            "overhead_us": {k: pick([0, 0, 0.4]) for k in ("dense", "depthwise", "elementwise")}}}


def calibrated(spec, seed):
    rng = np.random.default_rng(seed)
    eff = [1.0, 0.8, 0.5, 0.2]
    return build_hw(spec).replace(calibration__layer_overhead_us=float([0, 0.05, 1][int(rng.integers(3))]),
                                  **{f"calibration__efficiency__{k}": eff[int(rng.integers(4))]
                                     for k in ("dense", "depthwise", "elementwise")},
                                  **{f"calibration__overhead_us__{k}": float([0, 0, 0.3][int(rng.integers(3))])
                                     for k in ("dense", "depthwise", "elementwise")})


_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
_seeds = st.integers(0, 2 ** 32 - 1)


@settings(max_examples=150 if _JIT else 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_seeds)
def test_kernel_matches_reference_on_roofline_configs(seed):
    blocks = SIMPLE_BLOCKS if seed % 2 else COMPOSITE_BLOCKS
    net = build_network(random_spec(seed, blocks, blocks=(1, 4)))
    assert_kernel_matches_reference(net, hardware_from_dict(random_roofline(seed + 1)))


@settings(max_examples=150 if _JIT else 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_seeds)
def test_kernel_matches_reference_on_calibrated_systolic_configs(seed):
    blocks = SIMPLE_BLOCKS if seed % 2 else COMPOSITE_BLOCKS
    net = build_network(random_spec(seed, blocks, blocks=(1, 4)))
    assert_kernel_matches_reference(net, calibrated(random_config(seed + 1), seed + 2))


def test_kernel_matches_reference_on_the_shipped_roofline_configs():
    net = accelsim.load_model("mobilenet_v2")
    for name in ("gpu_like", "mobile_cpu_like", "dsp_like"):
        assert_kernel_matches_reference(net, load_hardware(name))
    assert_kernel_matches_reference(net, load_hardware("neural_engine").replace(
        activation_policy="fused", calibration__layer_overhead_us=0.7, calibration__efficiency__dense=0.6,
        calibration__efficiency__depthwise=0.3))


# ------------------------------------------------------------------------------------ round trips and bad input
@pytest.mark.parametrize("name", ["gpu_like", "mobile_cpu_like", "dsp_like", "calibrated", "tiny_roof"])
def test_yaml_to_hardware_to_dict_to_hardware(name, tmp_path):
    if name == "calibrated":
        hw = load_hardware("neural_engine").replace(calibration__layer_overhead_us=3,
                                                    calibration__efficiency__elementwise=0.4)
    elif name == "tiny_roof":
        hw = roof(**{"roofline.area_mm2": 2.5, "roofline.throughput.int8.bytes_per_element": 2,
                     "calibration.efficiency.dense": 0.9})
    else:
        hw = load_hardware(name)
    data = hardware_to_dict(hw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    again = load_hardware(path)
    assert again == hw and hardware_to_dict(again) == data
    assert ("kind" in data) == (hw.kind == "roofline") and ("calibration" in data) == (not hw.calibration.is_default)
    if name == "calibrated":
        assert data["calibration"] == {"layer_overhead_us": 3.0,
                                       "efficiency": {"dense": 1.0, "depthwise": 1.0, "elementwise": 0.4}}
    assert hw.replace(name="x").replace(name=hw.name) == hw


BAD = [
    ("neural_engine", {"kind": "gpu"}, "kind: expected one of systolic, roofline, got 'gpu'"),
    ("neural_engine", {"calibration": {"layer_overhead_us": -1}},
     "calibration.layer_overhead_us: expected a number >= 0, got -1"),
    ("neural_engine", {"calibration": {"efficiency": {"dense": 0}}},
     "calibration.efficiency.dense: expected a positive number, got 0"),
    ("neural_engine", {"calibration": {"efficiency": {"depthwise": 1.5}}},
     "calibration.efficiency.depthwise: expected a number in (0, 1], got 1.5"),
    ("neural_engine", {"calibration": {"efficiency": {"elementwise": -0.5}}},
     "calibration.efficiency.elementwise: expected a positive number, got -0.5"),
    ("neural_engine", {"calibration": {"efficency": {"dense": 0.5}}},
     "calibration.efficency: unknown key; expected one of layer_overhead_us, efficiency, overhead_us"),
    ("gpu_like", {"roofline": {"throughput": {"int8": {"dense_gops": 10, "elementwise_gops": 1,
                                                       "energy_per_op_pj": 1}}}},
     "roofline.throughput.int8.depthwise_gops: missing required key (peak rate of grouped and depthwise convs; "
     "1 MAC = 2 ops)"),
    ("gpu_like", {"roofline": {"throughput": {}}},
     "roofline.throughput: expected a non-empty mapping of format -> {dense_gops, depthwise_gops, "
     "elementwise_gops, energy_per_op_pj}, got {}"),
    ("gpu_like", {"roofline": {"throughput": None}},
     "roofline.throughput: missing required key (formats the device computes in (mapping format -> {...}))"),
    ("gpu_like", {"roofline": {"layer_overhead_us": -5}}, "roofline.layer_overhead_us: expected a number >= 0, got -5"),
    ("gpu_like", {"roofline": None}, "roofline: missing required section"),
    ("gpu_like", {"array": {"rows": 8}},
     "array: unknown key; expected one of calibration, description, dram, energy, kind, memory, name, roofline"),
    ("gpu_like", {"dram": {"latency_ns": 100}},
     "dram.latency_ns: unknown key; expected one of bandwidth_gb_per_s, energy_per_byte_pj"),
]


def _merge(data: dict, changes: dict) -> dict:
    for k, v in changes.items():
        if isinstance(v, dict) and v and isinstance(data.get(k), dict) and k != "throughput":
            _merge(data[k], v)
        elif v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return data


@pytest.mark.parametrize("base, changes, message", BAD, ids=[m.split(":")[0] for _, _, m in BAD])
def test_bad_input_is_one_line_naming_file_and_key(base, changes, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_merge(hardware_to_dict(load_hardware(base)), changes), sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_hardware(path)
    assert str(info.value) == f"{path}: {message}"


# ------------------------------------------------------------------------------------ command line
def test_cli_simulates_lists_and_compares_roofline_configs(capsys):
    from accelsim.cli import main
    assert main(["simulate", "--hw", "gpu_like", "--model", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2_1_224 on gpu_like (roofline): 0.3410 ms" in out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dsp_like              roofline @ 1000 MHz, cache 1024 KiB, DRAM 44 GB/s, 10 us per layer, dense TOPS: " \
           "int8 15.00, int16 3.75" in out
    assert "neural_engine         32x32 os @ 1000 MHz" in out
    assert main(["compare", "--hw", "gpu_like", "mobile_cpu_like", "--model", "ibn_block"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[3].split()[:3] == ["gpu_like", "roofline", "-"] and rows[4].split()[-2:] == ["–", "ok"]
    assert rows[-1] == "–: area unknown: the config gives none (roofline.area_mm2)"


def test_kind_rows_sit_after_the_systolic_ones():
    assert (T.N_HW_FIELDS, T.H_KIND, T.N_HW_ROWS) == (18, 18, 18 + 9 + 3 * T.N_FORMATS)
    hwt = T.pack_hardware([load_hardware("neural_engine"), load_hardware("gpu_like")])[0]
    assert hwt.shape == (T.N_HW_ROWS, 2) and list(hwt[T.H_KIND]) == [T.KIND_SYSTOLIC, T.KIND_ROOFLINE]
    assert hwt[T.H_OVERHEAD, 1] == 5 * 2520 and hwt[T.H_CACHE_B, 1] == 73728 * 1024
