"""The on-chip memory hierarchy: activation placement (dram / resident / fused), weights kept on
chip, channel alignment, width tiling, the arena, and the fixes that came with them.

Laws pinned here: ``dram`` is SCALE-Sim's assumption and keeps the earlier numbers exactly;
``resident`` and ``fused`` never move more DRAM bytes than ``dram`` nor fewer than the compulsory
traffic (weights once, the network input, the network outputs), and never take longer; compute
cycles equal SCALE-Sim 3.0.0's at any SRAM size from 1 KiB up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.engine import failing_share, memory_figures
from accelsim.engine import kernels as K
from accelsim.engine import tables as T
from accelsim.errors import MappingError
from accelsim.workload import Network, NetworkBuilder
from accelsim.workload.scalesim import scalesim_layer
from accelsim.workload.zoo import fused_ibn_block, ibn_block

from conftest import make_hw

GOLDEN = json.loads((Path(__file__).parent / "data" / "scalesim_golden.json").read_text())
NE = accelsim.load_hardware("neural_engine")
POLICIES = ("dram", "resident", "fused")


def one_conv(h, w, c, m, k=1, stride=1, groups=1, precision="int8", dilation=1):
    b = NetworkBuilder("one", (h, w, c), precision)
    b.conv(b.input, m, k, stride, groups=groups, bias=False, name="L", dilation=dilation)
    return b.build()


def pad(c, a):
    return math.ceil(c / a) * a


def compulsory_bytes(net, hw) -> float:
    """Weights once, the network input once, every network output once, all as stored."""
    a = hw.channel_alignment
    nbytes = {p.name: p.bytes_per_element for p in hw.precisions}
    consumed = {src for layer in net.layers for src in layer.inputs}
    total = net.input_shape[0] * net.input_shape[1] * pad(net.input_shape[2], a) * nbytes[net.input_precision]
    for layer in net.layers:
        if layer.op == "conv":
            kh, kw = layer.kernel
            per_out = pad(layer.in_channels, a) if layer.groups == 1 else layer.in_channels // layer.groups
            total += pad(layer.out_channels, a) * kh * kw * per_out * nbytes[layer.weight_precision]
        if layer.name not in consumed and layer.op != "concat":
            h, w, c = layer.out_shape
            total += h * w * pad(c, a) * nbytes[layer.act_precision]
    return total


# ------------------------------------------------------------------------------ SCALE-Sim at any SRAM size
@pytest.mark.parametrize("sram_kb", [1, 4, 64])
def test_compute_cycles_equal_scalesim_at_every_sram_size(sram_kb):
    for case in GOLDEN["cases"]:
        layer = scalesim_layer(case["layer"], case["ifmap_h"], case["ifmap_w"], case["filter_h"], case["filter_w"],
                               case["channels"], case["num_filter"], case["stride"])
        net = Network(case["layer"], layer.in_shape, (layer,))
        hw = make_hw(**{"array.rows": case["rows"], "array.cols": case["cols"], "array.dataflow": case["dataflow"],
                        "memory.sram.ifmap_kb": sram_kb, "memory.sram.filter_kb": sram_kb,
                        "memory.sram.ofmap_kb": sram_kb})
        assert accelsim.simulate(net, hw).compute_cycles == case["total_cycles"] - case["stall_cycles"], case


def test_scalesim_cfg_with_1kib_buffers_runs_a_wide_layer(tmp_path):
    cfg = "[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: {0}\nFilterSramSzkB: {0}\n" \
          "OfmapSramSzkB: {0}\nDataflow: os\n"
    small, big = tmp_path / "small.cfg", tmp_path / "big.cfg"
    small.write_text(cfg.format(1))
    big.write_text(cfg.format(1024))
    net = one_conv(3, 4096, 8, 8, k=3)   # one output row of all 8 channels is 32 KiB of input: width tiles
    a, b = accelsim.simulate(net, small), accelsim.simulate(net, big)
    assert a.compute_cycles == b.compute_cycles
    rec = a.layers()[0]
    assert rec["tiles"] > b.layers()[0]["tiles"]
    # every input byte is read at least once; column tiles re-read their halo columns
    assert rec["dram_read_bytes"] >= 3 * 4096 * 8 + 3 * 3 * 8 * 8
    assert rec["dram_write_bytes"] == 3 * 4096 * 8    # "same" padding: a 3 x 4096 x 8 output


def test_only_a_layer_whose_one_window_cannot_fit_is_an_error(tmp_path):
    hw = make_hw(**{"memory.sram.ifmap_kb": 1, "memory.sram.filter_kb": 1, "memory.sram.ofmap_kb": 1})
    accelsim.simulate(one_conv(30, 30, 8, 8, k=22), hw)    # one 22x22 window of one channel: 484 B
    with pytest.raises(MappingError, match="not even one filter window of one output fits"):
        accelsim.simulate(one_conv(30, 30, 8, 8, k=23), hw)   # 529 B > half of 1 KiB


def test_a_global_pool_larger_than_its_buffer_splits_its_window():
    b = NetworkBuilder("gp", (112, 112, 32))
    b.global_avg_pool(b.input)
    net = b.build()
    hw = NE.replace(activation_policy="dram")
    rec = accelsim.simulate(net, hw).layers()[0]
    # 112 x 112 x 32 = 392 KiB of input, more than half the 512 KiB ifmap buffer: row slices of the
    # window accumulate, and every input byte is read exactly once
    assert rec["tiles"] > 1 and rec["dram_read_bytes"] == 112 * 112 * 32


# ------------------------------------------------------------------------------ dram: earlier numbers
def test_dram_policy_keeps_the_earlier_numbers():
    r = accelsim.simulate(accelsim.load_model("mobilenet_v2"), NE.replace(activation_policy="dram",
                                                                          channel_alignment=1))
    assert r.total_cycles == pytest.approx(1008402.396047619, rel=1e-12)
    assert r.dram_bytes == 18471464.0
    assert not r.per_layer[T.O_INPUT_ON_CHIP].any() and not r.per_layer[T.O_OUTPUT_ON_CHIP].any()


def test_scalesim_inputs_default_to_dram_and_no_padding(tmp_path):
    for name in ("scalesim_scale", "scalesim_google", "scalesim_eyeriss"):
        hw = accelsim.load_hardware(name)
        assert (hw.activation_policy, hw.channel_alignment, hw.weights_resident) == ("dram", 1, False)
    assert (NE.activation_policy, NE.channel_alignment) == ("resident", 32)


# ------------------------------------------------------------------------------ placement laws
MODELS = ("mobilenet_v2", "resnet18", "ssdlite_mobilenet_v2", "efficientnet_b0", "mnasnet_a1")
CONFIGS = ("neural_engine", "edge_tpu_like", "datacenter_wide", "eyeriss_like")


@pytest.fixture(scope="module")
def zoo_reports():
    out = {}
    for m in MODELS:
        net = accelsim.load_model(m)
        for h in CONFIGS:
            hw = accelsim.load_hardware(h)
            for p in POLICIES:
                out[m, h, p] = accelsim.simulate(net, hw.replace(activation_policy=p))
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("hw_name", CONFIGS)
def test_placement_never_moves_more_than_dram_nor_less_than_compulsory(zoo_reports, model, hw_name):
    d, r, f = (zoo_reports[model, hw_name, p] for p in POLICIES)
    need = compulsory_bytes(d.network, d.hardware)
    assert d.dram_bytes >= need
    assert need <= f.dram_bytes * (1 + 1e-12) and f.dram_bytes <= r.dram_bytes * (1 + 1e-9)
    assert r.dram_bytes <= d.dram_bytes * (1 + 1e-9)
    assert f.total_cycles <= r.total_cycles * (1 + 1e-9) and r.total_cycles <= d.total_cycles * (1 + 1e-9)
    assert r.compute_cycles == d.compute_cycles   # placement changes traffic, not the array's work
    # layer by layer, residency only removes transfers
    assert np.all(r.per_layer[T.O_DRAM_R] + r.per_layer[T.O_DRAM_W]
                  <= (d.per_layer[T.O_DRAM_R] + d.per_layer[T.O_DRAM_W]) * (1 + 1e-9))
    assert np.all(r.per_layer[T.O_TOTAL] <= d.per_layer[T.O_TOTAL] * (1 + 1e-9))


def test_resident_placement_records_where_each_tensor_lived(zoo_reports):
    r = zoo_reports["mobilenet_v2", "neural_engine", "resident"]
    recs = {x["name"]: x for x in r.layers()}
    assert recs["stem"]["input_on_chip"] == 0.0          # the network input arrives in DRAM
    assert recs["classifier"]["output_on_chip"] is False  # the network output leaves through DRAM
    net = r.network
    pl = r.per_layer
    for i, layer in enumerate(net.layers):
        if pl[T.O_OUTPUT_ON_CHIP, i]:
            assert pl[T.O_DRAM_W, i] == 0.0                   # kept on chip: never stored
            for j, other in enumerate(net.layers):
                if layer.name in other.inputs and other.op != "concat":
                    assert pl[T.O_INPUT_ON_CHIP, j] > 0       # ... and read from SRAM by every consumer
    # the 112x112x96 expanded tensor (1.2 MB) cannot stay in 1 MiB of activation SRAM
    assert recs["s1.b0.expand"]["output_on_chip"] is False and recs["s1.b0.dw"]["input_on_chip"] == 0.0
    assert r.totals()["activation_policy"] == "resident"


def test_fused_chain_keeps_the_expanded_tensor_off_dram():
    """IBN at 112x112x32 (expansion 6: a 2.4 MB expanded tensor) on 1 MiB of activation SRAM: under
    ``fused`` expand -> depthwise -> project runs depth-first, so DRAM sees the block input (read
    by the expand and, as the network input, again by the residual add), the weights once and the
    block output, exactly."""
    net = ibn_block(resolution=112, channels=32, out_channels=32, expansion=6)
    hw = NE.replace(activation_policy="fused", channel_alignment=1)
    r = accelsim.simulate(net, hw)
    recs = {x["name"]: x for x in r.layers()}
    chain = [n for n, x in recs.items() if x["fused_chain"]]
    assert chain == ["ibn.expand", "ibn.dw", "ibn.project"]
    assert {recs[n]["fused_chain"] for n in chain} == {"ibn.expand"} and recs["ibn.expand"]["fuse_mode"] == "cache"
    assert recs["ibn.dw"]["input_on_chip"] == 1.0 and recs["ibn.dw"]["output_on_chip"]
    weights = sum(l.weight_elements for l in net.layers)
    x = 112 * 112 * 32
    assert r.dram_bytes == 2 * x + weights + x
    d = accelsim.simulate(net, hw.replace(activation_policy="resident"))
    assert r.total_cycles < d.total_cycles and r.dram_bytes < d.dram_bytes
    assert d.layers()[0]["output_on_chip"] is False      # unfused, the expanded tensor must spill


def _chain(net, hw, i=0, j=2):
    """The reference model's chain i..j of ``net`` on ``hw`` (its placement decided first)."""
    from accelsim.engine import reference as ref
    shapes = {"input": net.input_shape, **{l.name: l.out_shape for l in net.layers}}
    model = ref.NetworkModel(list(net.layers), shapes, hw)
    model.run()
    return ref.Chain(model, i, j)


def test_halo_modes_by_hand():
    """IBN 16x16x8 (expansion 2, 3x3 depthwise, stride 1): per chain layer, the outputs computed per
    output it has. Tiles 16 rows x 8 columns with halos recomputed: the depthwise needs 8 + 2
    columns of the expanded tensor per tile, so the expand computes 2 x 10 of its 16 columns (1.25);
    bands of 4 full-width rows with halo rows recomputed: 6 rows per band, 4 bands, 24 of 16 (1.5).
    Cached, every output once."""
    net = ibn_block(resolution=16, channels=8, out_channels=8, expansion=2)
    chain = _chain(net, NE.replace(activation_policy="fused", channel_alignment=1))
    assert chain.calls(1, 8, True) == [[10, 10], [8, 8], [8, 8]]
    assert chain.calls(0, 4, True) == [[6, 6, 6, 6], [4, 4, 4, 4], [4, 4, 4, 4]]
    assert chain.calls(0, 4, False) == [[4, 4, 4, 4]] * 3
    assert chain.compute("recompute", 16, 8)[1] == [1.25, 1.0, 1.0]
    assert chain.compute("recompute_rows", 4, 16)[1] == [1.5, 1.0, 1.0]
    assert chain.compute("recompute_rows", 4, 8)[1] == [1.5, 1.0, 1.0]   # columns cached within a band
    assert chain.compute("recompute", 4, 8)[1] == [1.5 * 1.25, 1.0, 1.0]
    assert chain.compute("cache", 4, 8)[1] == [1.0, 1.0, 1.0]
    # SRAM of one 4 x 8 tile (bytes; int8, no padding). Cached: the expand's double-buffered 4 x 8 x 8
    # input, the depthwise's window (2 full-width halo lines of the 16-channel expanded tensor plus
    # 4 new rows over 8 + 2 columns), the project's 4 x 8 x 16 input, the double-buffered 4 x 8 x 8
    # output. Rows recomputed: no halo lines, but the expand's input tile grows to 6 rows and the
    # depthwise holds a 6 x 10 window.
    out_tile = 2 * 4 * 8 * 8
    assert chain.footprint("cache", 4, 8, 0, 0) == 2 * 4 * 8 * 8 + (2 * 16 + 4 * 10) * 16 + 4 * 8 * 16 + out_tile
    assert chain.footprint("recompute_rows", 4, 8, 0, 0) == 2 * 6 * 8 * 8 + 6 * 10 * 16 + 4 * 8 * 16 + out_tile
    # kept on chip, the chain's input and output need no tile buffers
    assert chain.footprint("cache", 4, 8, 1, 1) == (2 * 16 + 4 * 10) * 16 + 4 * 8 * 16


@pytest.mark.parametrize("kb", [2, 4, 64])
def test_engine_picks_the_faster_halo_mode(kb):
    """An IBN block (56x56x16, expansion 6) with the ifmap and ofmap buffers shrunk: the chain the
    fused policy runs is the fastest schedule over every halo mode, its records say which, and small
    buffers (no room for full-width halo lines of the 96-channel expanded tensor) recompute the halo
    rows in column tiles; with room for a full-width band, halos are cached."""
    net = ibn_block(resolution=56, channels=16, out_channels=16, expansion=6)
    hw = NE.replace(activation_policy="fused", sram__ifmap_kb=kb, sram__ofmap_kb=kb)
    recs = accelsim.simulate(net, hw).layers()
    fused = [i for i, x in enumerate(recs) if x["fused_chain"]]
    assert fused, "a chain runs depth-first at every size here"
    i, j = fused[0], fused[-1]
    chain = recs[i:j + 1]
    mode = chain[0]["fuse_mode"]
    assert {x["fuse_mode"] for x in chain} == {mode} and {x["fused_chain"] for x in chain} == {recs[i]["name"]}
    ref_chain = _chain(net, hw, i, j)
    full_width = ref_chain.footprint("cache", 1, 56, ref_chain.net.in_share[i],
                                     1.0 if j in ref_chain.net.kept else 0.0) <= ref_chain.space()
    per_mode = {}
    for m in (("cache",) if full_width else ("cache", "recompute_rows", "recompute")):
        c = _chain(net, hw, i, j)
        c.MODES = (m,)
        b = c.best()
        per_mode[m] = b["total"] if b else math.inf
    total = sum(x["total_cycles"] for x in chain)
    assert total == pytest.approx(min(per_mode.values()), rel=1e-9)
    assert per_mode[mode] == pytest.approx(total, rel=1e-9)
    if kb <= 4:
        assert not full_width and mode == "recompute_rows" and per_mode["cache"] > total
        assert chain[0]["tiles"] > 56          # row bands cut into column tiles
    else:
        assert full_width and mode == "cache"
    resident = accelsim.simulate(net, hw.replace(activation_policy="resident"))
    r = accelsim.simulate(net, hw)
    assert r.total_cycles < resident.total_cycles and r.dram_bytes <= resident.dram_bytes


def test_recomputed_outputs_cost_energy():
    """Recomputing halos costs the recomputed MACs' energy: the expand of a chain that recomputes its
    halo rows spends more dynamic energy than the same layer unfused would on its own outputs."""
    net = ibn_block(resolution=56, channels=16, out_channels=16, expansion=6)
    hw = NE.replace(activation_policy="fused", sram__ifmap_kb=4, sram__ofmap_kb=4, dram__energy_per_byte_pj=0.0,
                    energy__static_power_mw=0.0)
    fused = {x["name"]: x for x in accelsim.simulate(net, hw).layers()}
    alone = {x["name"]: x for x in accelsim.simulate(net, hw.replace(activation_policy="resident")).layers()}
    expand = fused["ibn.expand"]
    assert expand["fuse_mode"] in ("recompute_rows", "recompute")
    assert expand["compute_cycles"] > alone["ibn.expand"]["compute_cycles"]
    e_sram = hw.sram.energy_per_byte_pj

    def mac_energy(x):   # with DRAM energy and static power zero: energy less the SRAM accesses
        return x["energy_pj"] - (x["sram_read_bytes"] + x["sram_write_bytes"]) * e_sram

    net_layer = next(l for l in net.layers if l.name == "ibn.expand")
    assert mac_energy(alone["ibn.expand"]) == pytest.approx(net_layer.macs * NE.precision("int8").energy_per_mac_pj)
    assert mac_energy(expand) > 1.2 * mac_energy(alone["ibn.expand"])


def test_fused_ibn_block_costs_its_own_chain(zoo_reports):
    net = fused_ibn_block(resolution=112, channels=16, out_channels=16, expansion=4)
    hw = NE.replace(activation_policy="fused")
    recs = accelsim.simulate(net, hw).layers()
    fused = [x["name"] for x in recs if x["fused_chain"]]
    assert fused == [] or fused[0].endswith(".expand")


@st.composite
def small_networks(draw):
    """Random chains of convs, depthwise, IBN and fused-IBN blocks, pools and residual adds."""
    res = draw(st.sampled_from([8, 14, 28, 56]))
    c = draw(st.sampled_from([3, 8, 16, 33]))
    b = NetworkBuilder("rand", (res, res, c))
    x = b.input
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "dw", "ibn", "fibn", "pool", "res"]))
        ch = b.shape(x)[2]
        if kind == "conv":
            x = b.conv(x, draw(st.sampled_from([8, 16, 24, 40])), draw(st.sampled_from([1, 3])), name=f"c{i}",
                       dilation=draw(st.sampled_from([1, 1, 2])))
        elif kind == "dw":
            x = b.depthwise(x, draw(st.sampled_from([3, 5])), draw(st.sampled_from([1, 2])), name=f"d{i}")
        elif kind == "ibn":
            x = b.ibn(x, ch, draw(st.sampled_from([2, 4, 6])), 3, 1, name=f"i{i}")
        elif kind == "fibn":
            x = b.fused_ibn(x, draw(st.sampled_from([ch, 16])), 4, 3, 1, name=f"f{i}")
        elif kind == "pool" and b.shape(x)[0] >= 4:
            x = b.pool(x, 2, name=f"p{i}")
        else:
            y = b.conv(x, ch, 1, name=f"r{i}")
            x = b.add(x, y, name=f"a{i}")
    return b.build()


@st.composite
def small_hardware(draw):
    unified = draw(st.booleans())
    kb = draw(st.sampled_from([8, 32, 128, 512]))
    changes = {"array.rows": draw(st.sampled_from([4, 8, 16])), "array.cols": draw(st.sampled_from([4, 8, 16])),
               "dram.bandwidth_gb_per_s": draw(st.sampled_from([0.5, 4.0, 32.0])),
               "dram.latency_ns": draw(st.sampled_from([0, 50])), "memory.channel_alignment": draw(
                   st.sampled_from([1, 8, 32])), "memory.weights_resident": draw(st.booleans())}
    if unified:
        changes.update({"memory.sram.ifmap_kb": None, "memory.sram.filter_kb": None, "memory.sram.ofmap_kb": None,
                        "memory.sram.unified_kb": 3 * kb})
    else:
        changes.update({"memory.sram.ifmap_kb": kb, "memory.sram.filter_kb": kb, "memory.sram.ofmap_kb": kb})
    return make_hw(**changes)


@settings(max_examples=60, deadline=None)
@given(small_networks(), small_hardware())
def test_placement_laws_on_random_networks(net, hw):
    base = hw.replace(weights_resident=False)
    reps = {p: accelsim.simulate_many([net], [base.replace(activation_policy=p)]) for p in POLICIES}
    if not reps["dram"].feasible[0, 0]:
        assert not any(reps[p].feasible[0, 0] for p in POLICIES)
        return
    d, r, f = (reps[p].report(0, 0) for p in POLICIES)
    need = compulsory_bytes(net, base)
    for rep in (d, r, f):
        assert rep.dram_bytes >= need * (1 - 1e-12)
    assert r.dram_bytes <= d.dram_bytes * (1 + 1e-9) and f.dram_bytes <= r.dram_bytes * (1 + 1e-9)
    assert r.total_cycles <= d.total_cycles * (1 + 1e-9) and f.total_cycles <= r.total_cycles * (1 + 1e-9)
    # weights kept on chip remove weight loads only
    w = accelsim.simulate_many([net], [base.replace(activation_policy="resident", weights_resident=True)])
    wr = w.report(0, 0)
    assert wr.dram_bytes <= r.dram_bytes * (1 + 1e-9)
    if wr.weights_on_chip:
        assert wr.dram_bytes >= need - sum(
            pad(l.out_channels, hw.channel_alignment) * l.kernel[0] * l.kernel[1]
            * (pad(l.in_channels, hw.channel_alignment) if l.groups == 1 else l.in_channels // l.groups)
            for l in net.layers if l.op == "conv") - 1e-6


# ------------------------------------------------------------------------------ weights kept on chip
def test_weights_resident_when_they_fit_and_not_otherwise():
    net = ibn_block(resolution=28, channels=32, out_channels=32, expansion=6)
    hw = NE.replace(activation_policy="dram", channel_alignment=1)
    cold = accelsim.simulate(net, hw)
    warm = accelsim.simulate(net, hw.replace(weights_resident=True))
    weights = sum(l.weight_elements for l in net.layers)
    assert warm.weights_on_chip and not cold.weights_on_chip
    assert cold.dram_bytes - warm.dram_bytes == weights     # every weight loaded exactly once when cold
    assert warm.total_cycles < cold.total_cycles
    tiny_filter = hw.replace(weights_resident=True, sram__filter_kb=8)   # 11.3 KiB of weights do not fit
    assert not accelsim.simulate(net, tiny_filter).weights_on_chip


def test_system_streams_keep_weights_only_if_all_fit_together():
    from accelsim.system.service import shared_weights_hardware
    hw = NE.replace(weights_resident=True)
    small = ibn_block(resolution=28, channels=32, out_channels=32, expansion=6)
    assert shared_weights_hardware(hw, [small, small]).weights_resident
    big = accelsim.load_model("mobilenet_v2")      # 3.4 MB of weights: more than the 512 KiB filter buffer
    assert not shared_weights_hardware(hw, [small, big]).weights_resident


# ------------------------------------------------------------------------------ layouts and the arena
def test_33_channels_on_a_32_aligned_config_store_64():
    hw = NE.replace(activation_policy="dram")
    r33 = accelsim.simulate(one_conv(8, 8, 33, 33), hw).layers()[0]
    # input 8x8x64 and weights 64x64 loaded once, output 8x8x64 stored once
    assert r33["dram_read_bytes"] == 8 * 8 * 64 + 64 * 64
    assert r33["dram_write_bytes"] == 8 * 8 * 64
    unpadded = accelsim.simulate(one_conv(8, 8, 33, 33), hw.replace(channel_alignment=1)).layers()[0]
    assert unpadded["dram_read_bytes"] == 8 * 8 * 33 + 33 * 33
    # compute is the array's, unpadded: the same cycles either way
    assert r33["compute_cycles"] == unpadded["compute_cycles"]
    m = memory_figures(one_conv(8, 8, 33, 33), hw)
    assert m.peak_activation_bytes == 2 * 8 * 8 * 64


def test_report_memory_is_the_arena_with_its_lower_bound():
    for name in ("mobilenet_v2", "resnet18", "ssdlite_mobilenet_v2"):
        net = accelsim.load_model(name)
        for hw in (NE, NE.replace(channel_alignment=1)):
            r = accelsim.simulate(net, hw)
            all_tensors = sum(math.prod(l.out_shape[:2]) * pad(l.out_shape[2], hw.channel_alignment)
                              for l in net.layers if l.op != "concat") + \
                math.prod(net.input_shape[:2]) * pad(net.input_shape[2], hw.channel_alignment)
            assert r.activation_lower_bound_bytes <= r.peak_activation_bytes <= all_tensors
            assert r.memory_bytes == r.param_bytes + r.peak_activation_bytes
            assert r.budget_ok == (r.memory_bytes <= hw.memory_budget_mb * 2 ** 20)
    many = accelsim.simulate_many([net], [NE, NE.replace(channel_alignment=1)])
    assert many.memory_bytes[0, 0] > many.memory_bytes[0, 1]


# ------------------------------------------------------------------------------ fixes found in review
def test_matmul_counts_macs_as_its_ops():
    r = accelsim.simulate(accelsim.load_model("vit_tiny"), NE)
    for rec in r.layers():
        if rec["op"] == "matmul":
            assert rec["ops"] == rec["macs"] > 0
            assert 0 < rec["utilization"] <= 1.0


def test_bytes_per_element_is_used():
    net = one_conv(16, 16, 32, 32)
    hw = make_hw()
    wide = make_hw(**{"precisions.int8.bytes_per_element": 2})
    a, b = accelsim.simulate(net, hw).layers()[0], accelsim.simulate(net, wide).layers()[0]
    assert b["dram_read_bytes"] == 2 * a["dram_read_bytes"] and b["dram_write_bytes"] == 2 * a["dram_write_bytes"]
    assert memory_figures(net, wide).peak_activation_bytes == 2 * memory_figures(net, hw).peak_activation_bytes


def test_dilation_widens_the_input_halo():
    # 3x3 dilation 2 reads 5 input rows per output row; with 2 KiB ifmap buffers (tiles of 1 KiB:
    # 32 rows of 32 bytes) the dilated conv needs more row tiles and re-reads more halo rows
    hw = make_hw(**{"memory.sram.ifmap_kb": 2, "array.cols": 8})
    plain = accelsim.simulate(one_conv(64, 32, 1, 8, k=3), hw).layers()[0]
    dil = accelsim.simulate(one_conv(64, 32, 1, 8, k=3, dilation=2), hw).layers()[0]
    assert dil["compute_cycles"] == plain["compute_cycles"]       # same MACs
    assert dil["dram_read_bytes"] > plain["dram_read_bytes"]


def test_planned_traffic_equals_what_the_walk_moves():
    """For every layer of several zoo models (grouped, depthwise with multiplier, SE, matmul) on
    several configs, the planner's byte count of the tiling it picks equals the walk's."""
    nets = [accelsim.load_model(n) for n in ("mobilenet_v2", "efficientnet_b0", "vit_tiny", "resnet18")]
    b = NetworkBuilder("grouped", (20, 20, 24))
    x = b.conv(b.input, 36, 3, groups=3, name="g")
    x = b.conv(x, 72, 3, groups=36, name="dwmult")      # depthwise with channel multiplier 2
    nets.append(b.build())
    for hw in (NE, make_hw(), make_hw(**{"memory.sram.ifmap_kb": 4, "memory.sram.filter_kb": 2,
                                         "memory.channel_alignment": 8})):
        hwt, macs, vops, emac, pbytes = T.pack_hardware([hw])
        h = hwt[:, 0]
        for net in nets:
            lay = T.pack_network(net)
            for i, layer in enumerate(net.layers):
                li = lay[:, i]
                op = int(li[T.L_OP])
                if op == T.OP_CONCAT:
                    continue
                dense = layer.op == "matmul" or (layer.op == "conv" and layer.groups == 1)
                ab = pbytes[int(li[T.L_APREC]), 0]
                fb = ab if layer.op == "matmul" else pbytes[int(li[T.L_WPREC]), 0]
                align = h[T.H_ALIGN]
                for by_cols in (False, True):
                    h_t, w_t, m_t, c_t, order = K.choose_tiling(op, dense, li, ab, fb, min(8, li[T.L_OUT_C]), align,
                                                                h, by_cols)
                    if h_t == 0:
                        continue
                    c_red = K.reduction(op, li)
                    n_s = math.ceil(li[T.L_OUT_H] / h_t) * math.ceil(li[T.L_OUT_W] / w_t)
                    n = (n_s, math.ceil(li[T.L_OUT_C] / m_t), math.ceil(c_red / c_t))
                    planned = sum(K.traffic(order, dense, *n, *K.planned_bytes(op, dense, h_t, w_t, m_t, c_t, li, ab,
                                                                               fb, align)))
                    _, r, w, _ = K.dma_walk(op, dense, h_t, w_t, m_t, c_t, order, li, ab, fb, align, 1000.0, h,
                                            1.0, 1.0, 1.0)
                    assert planned == pytest.approx(r + w, rel=1e-9), (net.name, layer.name, by_cols)


def test_estimator_feasibility_is_the_engines():
    """``failing_share`` (what the estimator path uses) decides exactly as the engine does: missing
    formats, no vector unit, and SRAM too small for one window."""
    nets = [accelsim.load_model("mobilenet_v2", resolution=96), one_conv(30, 30, 8, 8, k=23),
            one_conv(8, 8, 8, 8, precision="int16"), accelsim.load_model("vit_tiny")]
    hws = [NE, make_hw(**{"memory.sram.ifmap_kb": 1, "memory.sram.filter_kb": 1, "memory.sram.ofmap_kb": 1}),
           make_hw(**{"vector.lanes": 0, "vector.ops_per_lane_per_cycle": None}),
           make_hw(**{"precisions.int16": None, "vector.ops_per_lane_per_cycle": {"int8": 1}})]
    many = accelsim.simulate_many(nets, hws)
    share = failing_share(nets, hws)
    status = many.per_layer[T.O_STATUS]
    engine = np.add.reduceat((status != 0).astype(float), many.row_start).reshape(many.shape) / \
        np.array([len(n.layers) for n in nets])[:, None]
    assert np.array_equal(share, engine)
    assert (share > 0).any() and (share == 0).any()
