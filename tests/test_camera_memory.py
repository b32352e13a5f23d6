"""What the camera memory experiment (``experiments/camera_memory.py``) rests on, pinned as numbers:
the depthwise -> standard and fused-IBN transforms, channel alignment to the array's factor, and the
activation arena under transforms that only shrink tensors, on ``camera_like``.

Hand-computed figures used below (int8, one byte per element, channels padded to 16):
- MobileNetV3-Small's arena peaks while the stem runs: its 224x224 input stored as 16 channels
  (802,816 B) plus the stem's 112x112x16 output (200,704 B) = 1,003,520 B.
- After the stem, its largest live set is s1.b0's depthwise step: the 56x56x72 expansion stored as 80
  channels (250,880 B) plus the 28x28x80 depthwise output (62,720 B) = 313,600 B; fused, the largest
  is s0's: the stem output (200,704 B) plus the fused conv's 56x56x16 output (50,176 B) = 250,880 B.
- MobileNetV2's arena peaks inside s1.b0: the 112x112x96 expansion (1,204,224 B) plus the 56x56x96
  depthwise output (301,056 B) = 1,505,280 B; fused, the stem step is the largest: the input as 16
  channels (802,816 B) plus the 112x112x32 stem output (401,408 B) = 1,204,224 B.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import accelsim
from accelsim.engine.simulate import memory_figures
from accelsim.workload import transforms as T
from accelsim.workload.arena import padded_elements, plan_arena
from codesign.spaces import transforms as GT
from codesign.spaces.space import build_network
from codesign.spaces.zoo_genomes import zoo_genome

ROOT = Path(__file__).resolve().parents[1]
MIB = 2 ** 20


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("camera_memory_experiment",
                                                  ROOT / "experiments" / "camera_memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def camera():
    return accelsim.load_hardware("camera_like")


@pytest.fixture(scope="module")
def v3_small():
    return build_network(zoo_genome("mobilenet_v3_small"))


@pytest.fixture(scope="module")
def v2():
    return build_network(zoo_genome("mobilenet_v2"))


def _bpe(hw) -> dict:
    return {p.name: p.bytes_per_element for p in hw.precisions}


def _arena(net, hw) -> int:
    return plan_arena(net, _bpe(hw), hw.channel_alignment).peak_bytes


def test_camera_like_is_a_tight_budget_for_the_stock_model(camera, v3_small):
    assert (camera.array.rows, camera.array.cols, camera.channel_alignment) == (16, 16, 16)
    assert camera.memory_budget_mb == 3 and camera.activation_policy == "resident"
    assert camera.peak_tops["int8"] == pytest.approx(0.256)      # 256 MACs x 2 ops x 500 MHz
    f = memory_figures(v3_small, camera)
    assert f.peak_activation_bytes == 224 * 224 * 16 + 112 * 112 * 16 == 1_003_520
    assert f.param_bytes == 2_570_384
    assert f.memory_bytes == 3_573_904 > 3 * MIB


def test_depthwise_to_standard_raises_macs_and_keeps_every_shape(camera, v3_small):
    dense = T.replace_depthwise_with_dense(v3_small)
    dw = [l for l in v3_small.layers if l.is_depthwise]
    assert len(dw) == 11 and not any(l.is_depthwise for l in dense.layers)
    assert [(l.name, l.out_shape) for l in dense.layers] == [(l.name, l.out_shape) for l in v3_small.layers]
    # a kxk depthwise conv over C channels does C times the MACs as a standard conv, with C times the weights
    assert dense.macs - v3_small.macs == sum(l.macs * (l.in_channels - 1) for l in dw)
    assert (v3_small.macs, dense.macs) == (56_510_400, 1_843_757_568)
    assert dense.params - v3_small.params == sum(l.kernel[0] * l.kernel[1] * l.in_channels * (l.in_channels - 1)
                                                 for l in dw)
    assert (v3_small.params, dense.params) == (2_536_800, 25_248_072)
    # same tensors, same arena: the transform only adds weights
    assert _arena(dense, camera) == _arena(v3_small, camera) == 1_003_520
    assert memory_figures(dense, camera).param_bytes == 25_355_104


def test_fused_ibn_raises_macs_keeps_block_outputs_and_cuts_the_working_set(experiment, camera, v3_small, v2):
    fused = build_network(GT.fuse_ibn(zoo_genome("mobilenet_v3_small")))
    assert fused.macs == 373_211_904 > v3_small.macs and fused.params == 6_287_360
    outputs = {l.name: l.out_shape for l in v3_small.layers if l.name.endswith((".project", ".add"))}
    assert outputs and outputs == {l.name: l.out_shape for l in fused.layers if l.name in outputs}
    assert fused.layers[-1].out_shape == v3_small.layers[-1].out_shape == (1, 1, 1000)
    # the arena still peaks at the stem; after it, the largest live set shrinks 20 %
    plan, fused_plan = (plan_arena(n, _bpe(camera), 16) for n in (v3_small, fused))
    live = experiment.live_bytes(plan, len(v3_small.layers))
    fused_live = experiment.live_bytes(fused_plan, len(fused.layers))
    assert plan.peak_bytes == fused_plan.peak_bytes == live[0] == fused_live[0] == 1_003_520
    assert (max(live[1:]), max(fused_live[1:])) == (56 * 56 * 80 + 28 * 28 * 80, 112 * 112 * 16 + 56 * 56 * 16)
    # MobileNetV2 peaks inside a block, so there fusing lowers the arena itself (to its stem step)
    v2_fused = build_network(GT.fuse_ibn(zoo_genome("mobilenet_v2")))
    assert _arena(v2, camera) == 112 * 112 * 96 + 56 * 56 * 96 == 1_505_280
    assert _arena(v2_fused, camera) == 224 * 224 * 16 + 112 * 112 * 32 == 1_204_224


def test_alignment_makes_every_channel_count_a_multiple_of_the_factor(experiment, camera, v3_small, v2):
    factor = camera.array.cols
    assert len(experiment.unaligned_channels(v3_small, factor)) == 16      # e.g. 72, 88, SE squeezes of 8
    for net in (v3_small, v2, T.replace_depthwise_with_dense(v3_small),
                build_network(GT.fuse_ibn(zoo_genome("mobilenet_v3_small")))):
        for mode in ("nearest", "up", "down"):
            aligned = T.round_channels(net, factor, mode)
            assert experiment.unaligned_channels(aligned, factor) == []
            convs = [l for l in aligned.layers if l.op == "conv"]
            assert all(l.out_channels % factor == 0 for l in convs[:-1])
            assert convs[-1].out_channels == 1000                       # the logits are never rounded
    # storage is already padded to the factor, so nearest rounding barely moves the stored bytes
    assert memory_figures(T.round_channels(v3_small, factor), camera).param_bytes == 2_571_584


def test_arena_never_grows_under_transforms_that_only_shrink_stored_tensors(camera, v3_small, v2):
    hws = (camera, accelsim.load_hardware("neural_engine"))
    shrinking = 0
    for net in (v3_small, v2):
        candidates = [T.round_channels(net, m, "down") for m in (8, 16, 32)] + \
            [T.scale_width(net, w) for w in (0.35, 0.5, 0.75)]
        for hw in hws:
            a = hw.channel_alignment
            for new in candidates:
                assert [l.name for l in new.layers] == [l.name for l in net.layers]
                smaller = all(padded_elements(x.out_shape, a) <= padded_elements(y.out_shape, a)
                              for x, y in zip(new.layers, net.layers))
                if smaller:
                    shrinking += 1
                    assert _arena(new, hw) <= _arena(net, hw)
                    bounds = [plan_arena(n, _bpe(hw), a).lower_bound_bytes for n in (new, net)]
                    assert bounds[0] <= bounds[1]
    assert shrinking == 20   # of 24 (network, config, transform) cases
    # "round down" is not shrink-only: counts below the multiple are raised to it (MobileNetV2's 16- and
    # 24-channel stages to 32), and then the arena doubles
    down32 = T.round_channels(v2, 32, "down")
    assert _arena(down32, camera) == 2 * _arena(v2, camera) == 3_010_560


def test_live_bytes_peak_is_the_liveness_bound(experiment, camera, v3_small, v2):
    for net in (v3_small, v2, build_network(GT.fuse_ibn(zoo_genome("mobilenet_v2")))):
        plan = plan_arena(net, _bpe(camera), camera.channel_alignment)
        live = experiment.live_bytes(plan, len(net.layers))
        assert len(live) == len(net.layers) + 1 and max(live) == plan.lower_bound_bytes


def test_transform_table_changes_are_against_the_stock_model(experiment, camera):
    table = experiment.transform_table("mobilenet_v3_small", camera)
    rows = {r["key"]: r for r in table["rows"]}
    assert list(rows) == ["stock", "dense", "fused", "aligned", "aligned_down", "dense_aligned", "fused_aligned"]
    stock = rows["stock"]
    assert stock["arena_peak_at"] == "stem" and not stock["budget_ok"]
    assert stock["memory_bytes"] == 3_573_904
    assert stock["head_params"] == (96 * 576 + 576) + (576 * 1024 + 1024) + (1024 * 1000 + 1000)   # with biases
    for r in rows.values():
        assert r["arena_bytes"] == 1_003_520 and r["change"]["arena_bytes"] == 0
        assert r["change"]["memory_bytes"] == pytest.approx(r["memory_bytes"] / stock["memory_bytes"] - 1)
    assert rows["dense"]["change"]["params"] == pytest.approx(25_248_072 / 2_536_800 - 1)
    assert rows["fused"]["change"]["after_first_layer_bytes"] == pytest.approx(-0.2)
    assert rows["dense"]["latency_ms"] > stock["latency_ms"] and rows["dense"]["energy_mj"] > stock["energy_mj"]
