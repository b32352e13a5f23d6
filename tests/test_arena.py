"""Activation arena planner: hand-worked arenas, sharing rules, padding, and laws on random DAGs."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim import precision as prec
from accelsim.errors import WorkloadError
from accelsim.workload import zoo
from accelsim.workload.arena import ArenaPlan, padded_elements, padded_param_bytes, plan_arena
from accelsim.workload.ir import INPUT, NetworkBuilder
from conftest import make_hw


def chain():
    # input 8x8x4 (256 B) -> c1 8x8x8 (512) -> c2 8x8x16 (1024) -> c3 8x8x4 (256)
    b = NetworkBuilder("chain", (8, 8, 4))
    c1 = b.conv(b.input, 8, 1, name="c1")
    c2 = b.conv(c1, 16, 1, name="c2")
    b.conv(c2, 4, 1, name="c3")
    return b.build()


def test_chain_arena_is_the_largest_adjacent_pair():
    plan = plan_arena(chain())
    assert plan.sizes == {"input": 256, "c1": 512, "c2": 1024, "c3": 256}
    assert plan.lifetimes == {"input": (0, 0), "c1": (0, 1), "c2": (1, 2), "c3": (2, 3)}
    # Live per step: input+c1 = 768, c1+c2 = 1536, c2+c3 = 1280.
    assert plan.lower_bound_bytes == plan.unshared_lower_bound_bytes == 1536
    # Greedy: c2 at 0; c1 (meets c2) at 1024; c3 (meets c2, not c1) at 1024; input (meets c1 only) at 0.
    assert plan.offsets == {"c2": 0, "c1": 1024, "c3": 1024, "input": 0}
    assert plan.peak_bytes == 1536
    assert plan.total_bytes == 2048
    assert plan.shares == {}
    assert chain().peak_activation_bytes == 1536


def test_residual_block_keeps_the_skip_live_and_adds_in_place():
    # input 8x8x8 (512) -> x (512) -> y 8x8x16 (1024) -> z (512) -> a = add(x, z) -> out 8x8x4 (256)
    b = NetworkBuilder("res", (8, 8, 8))
    x = b.conv(b.input, 8, 1, name="x")
    y = b.conv(x, 16, 1, name="y")
    z = b.conv(y, 8, 1, name="z")
    a = b.add(x, z, name="a")
    b.conv(a, 4, 1, name="out")
    net = b.build()
    plan = plan_arena(net)
    assert plan.lifetimes["x"] == (0, 3)  # read by y at step 1 and by the add at step 3
    # x's buffer ends at the add, which writes into it: buffer X = {x, a} over steps 0..4.
    assert plan.shares == {"a": "x"}
    # Unshared: 1024, 1536, x+y+z = 2048, x+z+a = 1536, a+out = 768.
    assert plan.unshared_lower_bound_bytes == net.peak_activation_bytes == 2048
    # Shared: input+X = 1024, X+y = 1536, X+y+z = 2048, X+z = 1024, X+out = 768.
    assert plan.lower_bound_bytes == 2048
    # y at 0; the 512s by first step: input (meets nothing placed) at 0, X (meets input, y) at 1024,
    # z (meets y, X) at 1536; out (meets X only) at 0.
    assert plan.offsets == {"input": 0, "x": 1024, "y": 0, "z": 1536, "a": 1024, "out": 0}
    assert plan.peak_bytes == 2048
    assert plan.total_bytes == 512 + 512 + 1024 + 512 + 256


def test_in_place_add_saves_the_output_buffer():
    # input 8x8x1 (64) -> x, y 8x8x8 (512 each) -> a = add(x, y), the network output
    b = NetworkBuilder("inplace", (8, 8, 1))
    x = b.conv(b.input, 8, 1, name="x")
    y = b.conv(b.input, 8, 1, name="y")
    b.add(x, y, name="a")
    net = b.build()
    plan = plan_arena(net)
    assert plan.shares == {"a": "x"}
    # Unshared: 576, 1088, x+y+a = 1536. Shared: 576, 1088, X+y = 1024.
    assert plan.unshared_lower_bound_bytes == net.peak_activation_bytes == 1536
    assert plan.lower_bound_bytes == 1088
    # X at 0, y (meets X) at 512, input (meets both) at 1024.
    assert plan.offsets == {"x": 0, "a": 0, "y": 512, "input": 1024}
    assert plan.peak_bytes == 1088 == plan.total_bytes


def test_in_place_needs_a_dying_first_input_of_equal_size_that_is_not_the_input():
    b = NetworkBuilder("no_inplace", (4, 4, 8))
    r = b.activation(b.input, name="r")            # the caller's input buffer: never overwritten
    x = b.conv(r, 8, 1, name="x")
    y = b.conv(r, 8, 1, name="y")
    a = b.add(x, y, name="a")                      # x still read by `later`: not in place
    later = b.conv(x, 8, 1, name="later")
    g = b.global_avg_pool(a, name="g")             # (1, 1, 8) gate
    m1 = b.mul(g, later, name="m1")                # first input is the gate: sizes differ
    m2 = b.mul(m1, g, name="m2")                   # m1 dies here, same size: in place
    b.add(m2, a, name="out")                       # m2 dies here: in place
    net = b.build()
    plan = plan_arena(net)
    assert plan.shares == {"m2": "m1", "out": "m2"}
    assert plan.offsets["out"] == plan.offsets["m2"] == plan.offsets["m1"]
    # An int16 activation of an int8 tensor: 256 vs 128 bytes, so not in place.
    b = NetworkBuilder("cast", (4, 4, 8), precision="int16")
    x = b.conv(b.input, 8, 1, name="x", act_precision="int8")
    b.activation(x, name="r")
    plan = plan_arena(b.build())
    assert (plan.sizes["x"], plan.sizes["r"], plan.shares) == (128, 256, {})


def test_reshape_is_a_view():
    # input 4x4x2 (32) -> c 4x4x8 (128) -> r = reshape(c) (1,1,128) -> fc (1,1,10) (10)
    b = NetworkBuilder("view", (4, 4, 2))
    c = b.conv(b.input, 8, 1, name="c")
    r = b.reshape(c, (1, 1, 128), name="r")
    b.conv(r, 10, 1, name="fc")
    net = b.build()
    plan = plan_arena(net)
    assert plan.shares == {"r": "c"}
    # Unshared: input+c = 160, c+r = 256, r+fc = 138. Shared (C = {c, r} over 0..2): 160, 128, 138.
    assert plan.unshared_lower_bound_bytes == net.peak_activation_bytes == 256
    assert plan.lower_bound_bytes == 160
    # C at 0; input and fc (each meets C only) at 128.
    assert plan.offsets == {"c": 0, "r": 0, "input": 128, "fc": 128}
    assert plan.peak_bytes == 160
    assert plan.total_bytes == 32 + 128 + 10
    # A flatten of a channel-padded tensor keeps the padded buffer: c stores 4*4*32, r only 128.
    padded = plan_arena(net, alignment=32)
    assert padded.sizes["c"] == 512 and padded.sizes["r"] == 128
    assert padded.offsets["r"] == padded.offsets["c"]
    assert padded.total_bytes == 4 * 4 * 32 + 512 + 32  # input, C (512), fc (1x1x32)


def test_multi_input_concat_is_a_copy():
    # input 4x4x4 (64) -> a, b 4x4x8 (128 each) -> concat 4x4x16 (256)
    b = NetworkBuilder("cat", (4, 4, 4))
    a = b.conv(b.input, 8, 1, name="a")
    c = b.conv(b.input, 8, 1, name="b")
    b.concat(a, c, name="cat")
    net = b.build()
    plan = plan_arena(net)
    assert plan.shares == {}
    # 192, 320, a+b+cat = 512.
    assert plan.lower_bound_bytes == plan.unshared_lower_bound_bytes == net.peak_activation_bytes == 512
    # cat at 0, a at 256, b at 384, input (meets a and b, not cat) at 0.
    assert plan.offsets == {"cat": 0, "a": 256, "b": 384, "input": 0}
    assert plan.peak_bytes == 512
    assert plan.total_bytes == 576


def test_unconsumed_outputs_stay_live_to_the_end():
    # a is a side output nobody reads; today's rule frees it after its own step.
    b = NetworkBuilder("two_out", (4, 4, 4))
    b.conv(b.input, 8, 1, name="a")               # 128
    x = b.conv(b.input, 4, 1, name="b")           # 64
    b.conv(x, 4, 1, name="c")                     # 64
    net = b.build()
    plan = plan_arena(net)
    assert plan.lifetimes == {"input": (0, 1), "a": (0, 3), "b": (1, 2), "c": (2, 3)}
    # 192, input+a+b = 256, a+b+c = 256 (today: 192, 128, 128).
    assert plan.lower_bound_bytes == 256
    assert net.peak_activation_bytes == 192
    # a at 0; the 64s by first step: input at 128, b at 192, c (meets a, b) at 128.
    assert plan.offsets == {"a": 0, "input": 128, "b": 192, "c": 128}
    assert plan.peak_bytes == 256


def test_channel_padding_and_bytes_per_element():
    assert padded_elements((2, 2, 33), 32) == 2 * 2 * 64
    assert padded_elements((2, 2, 32), 32) == 2 * 2 * 32
    assert padded_elements((1, 1, 1), 32) == 32
    assert padded_elements((3, 5, 7), 1) == 105
    b = NetworkBuilder("pad", (2, 2, 33))
    b.conv(b.input, 33, 1, name="c")
    plan = plan_arena(b.build(), alignment=32)
    assert plan.sizes == {"input": 256, "c": 256}
    assert plan.peak_bytes == 512
    # A config that stores int8 in 2 bytes doubles every size; formats it lacks keep the defaults.
    hw = make_hw(**{"precisions.int8.bytes_per_element": 2})
    wide = {p.name: p.bytes_per_element for p in hw.precisions}
    assert wide == {"int8": 2, "int16": 2.0}
    plain, doubled = plan_arena(chain()), plan_arena(chain(), wide)
    assert doubled.sizes == {k: 2 * v for k, v in plain.sizes.items()}
    assert (doubled.peak_bytes, doubled.lower_bound_bytes, doubled.total_bytes) == (3072, 3072, 4096)
    assert plan_arena(chain().with_precision("fp32"), wide).peak_bytes == 4 * 1536
    # int4: 0.5 B per element, an odd count rounded up to a whole byte.
    b = NetworkBuilder("nibbles", (1, 1, 3), precision="int4")
    b.conv(b.input, 5, 1, name="c")
    assert plan_arena(b.build()).sizes == {"input": 2, "c": 3}


def test_offset_alignment():
    b = NetworkBuilder("odd", (1, 1, 3))
    b.conv(b.input, 5, 1, name="c")
    plan = plan_arena(b.build(), offset_alignment=16)
    assert plan.offsets == {"c": 0, "input": 16}
    assert plan.peak_bytes == 19


def test_padded_param_bytes():
    b = NetworkBuilder("params", (4, 4, 3))
    x = b.conv(b.input, 33, 3, name="dense")       # 33 x 3x3 x 3 + 33 bias
    x = b.depthwise(x, 3, name="dw")               # 33 x 3x3 + 33 bias
    b.conv(x, 66, 1, groups=3, bias=False, name="grouped")  # 66 x 1x1 x 11, no bias
    net = b.build()
    assert padded_param_bytes(net) == net.param_bytes == (33 * 9 * 3 + 33) + (33 * 9 + 33) + 66 * 11
    # At 32: dense 64 x 9 x 32 + 64; depthwise 64 x 9 + 64; grouped 96 x 11 (in_c / groups unpadded).
    assert padded_param_bytes(net, alignment=32) == (64 * 9 * 32 + 64) + (64 * 9 + 64) + 96 * 11
    assert padded_param_bytes(net, {"int8": 2}, alignment=32) == 2 * padded_param_bytes(net, alignment=32)
    mnv2 = zoo.mobilenet_v2()
    assert padded_param_bytes(mnv2) == mnv2.param_bytes
    assert padded_param_bytes(mnv2, alignment=32) > mnv2.param_bytes


def test_bad_inputs():
    net = chain()
    with pytest.raises(WorkloadError, match="alignment: expected a positive integer, got 0"):
        plan_arena(net, alignment=0)
    with pytest.raises(WorkloadError, match="alignment: expected a positive integer"):
        plan_arena(net, alignment=2.5)
    with pytest.raises(WorkloadError, match="offset_alignment: expected a positive integer, got -4"):
        plan_arena(net, offset_alignment=-4)
    with pytest.raises(WorkloadError, match="alignment: expected a positive integer"):
        padded_elements((1, 1, 8), 0)
    with pytest.raises(WorkloadError, match=r"bytes_per_element.int8: expected a positive number of bytes, got -1"):
        plan_arena(net, {"int8": -1})
    with pytest.raises(WorkloadError, match="bytes_per_element.int8"):
        padded_param_bytes(net, {"int8": "one"})
    odd = dataclasses.replace(net, layers=(dataclasses.replace(net.layers[0], act_precision="fp8"),)
                              + net.layers[1:])
    with pytest.raises(WorkloadError, match="layer 'c1' has format 'fp8'"):
        plan_arena(odd)
    odd = dataclasses.replace(net, layers=(dataclasses.replace(net.layers[0], weight_precision="fp8"),)
                              + net.layers[1:])
    with pytest.raises(WorkloadError, match="layer 'c1' has weight format 'fp8'"):
        padded_param_bytes(odd)


# ---- agreement with today's liveness rule ---------------------------------------------------------
def _builder_nets():
    yield zoo.ibn_block()
    yield zoo.fused_ibn_block(stride=2)
    b = NetworkBuilder("se_cat", (16, 16, 8))
    x = b.conv(b.input, 16, 3, stride=2, activation="relu")
    g = b.global_avg_pool(x)
    g = b.conv(g, 16, 1, activation="sigmoid")
    s = b.mul(x, g)
    y = b.depthwise(s, 3)
    c = b.concat(s, y, b.activation(y, "relu"))
    p = b.pool(c, 2)
    b.linear(p, 10)
    yield b.build()


@pytest.fixture(scope="module")
def resnet18():
    return zoo.resnet18()


def test_unshared_bound_is_todays_peak(resnet18):
    for net in (zoo.mobilenet_v2(), resnet18, *_builder_nets()):
        plan = plan_arena(net)
        assert plan.unshared_lower_bound_bytes == net.peak_activation_bytes, net.name
        assert plan.lower_bound_bytes <= plan.unshared_lower_bound_bytes, net.name
        assert plan.lower_bound_bytes <= plan.peak_bytes <= plan.total_bytes, net.name


def test_mobilenet_v2_golden():
    # Peak at s1.b0.dw: its input 112x112x96 and its output 56x56x96, both live; nothing shares there.
    net = zoo.mobilenet_v2()
    plan = plan_arena(net)
    assert (plan.peak_bytes, plan.lower_bound_bytes) == (112 * 112 * 96 + 56 * 56 * 96,) * 2
    assert plan.peak_bytes == net.peak_activation_bytes
    assert len(plan.shares) == 10  # the 10 residual adds run in place
    # At 32, the 3-channel 224x224 input is stored as 32 channels, and the stem step dominates.
    padded = plan_arena(net, alignment=32)
    assert padded.peak_bytes == padded.lower_bound_bytes == 224 * 224 * 32 + 112 * 112 * 32


# ---- laws on random DAGs ---------------------------------------------------------------------------
PRECISIONS = ("int8", "int16", "int4")


@st.composite
def random_nets(draw):
    h, w, c = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 40))
    b = NetworkBuilder("rand", (h, w, c), precision=draw(st.sampled_from(PRECISIONS)))
    tensors = [b.input]
    for _ in range(draw(st.integers(1, 12))):
        op = draw(st.sampled_from(("conv", "depthwise", "add", "mul", "concat", "reshape", "act", "pool")))
        x = draw(st.sampled_from(tensors))
        hx, wx, cx = b.shape(x)
        if op == "conv":
            y = b.conv(x, draw(st.integers(1, 40)), draw(st.sampled_from((1, 3))), draw(st.sampled_from((1, 2))),
                       act_precision=draw(st.sampled_from(PRECISIONS)))
        elif op == "depthwise":
            y = b.depthwise(x, 3, draw(st.sampled_from((1, 2))))
        elif op == "add":
            y = b.add(x, draw(st.sampled_from([t for t in tensors if b.shape(t) == (hx, wx, cx)])))
        elif op == "mul":
            gates = [t for t in tensors if b.shape(t) == (1, 1, cx)] or [b.global_avg_pool(x)]
            g = draw(st.sampled_from(gates))
            y = b.mul(*((x, g) if draw(st.booleans()) else (g, x)))
        elif op == "concat":
            y = b.concat(x, draw(st.sampled_from([t for t in tensors if b.shape(t)[:2] == (hx, wx)])))
        elif op == "reshape":
            y = b.reshape(x, draw(st.sampled_from(((1, 1, hx * wx * cx), (hx * wx, 1, cx), (hx, wx * cx, 1)))))
        elif op == "act":
            y = b.activation(x)
        else:
            y = b.pool(x, 2) if hx >= 2 and wx >= 2 else b.pool(x, 1)
        tensors.append(y)
    return b.build()


@settings(deadline=None)
@given(random_nets(), st.sampled_from((1, 4, 32)), st.sampled_from((1, 16)),
       st.sampled_from((None, {"int8": 2}, {"int4": 1, "int16": 3})))
def test_laws_on_random_dags(net, alignment, offset_alignment, bpe):
    plan = plan_arena(net, bpe, alignment, offset_alignment)
    assert isinstance(plan, ArenaPlan)
    table = {**prec.BYTES_PER_ELEMENT, **(bpe or {})}
    n = len(net.layers)
    fmt = {INPUT: net.input_precision, **{layer.name: layer.act_precision for layer in net.layers}}
    shape = {INPUT: net.input_shape, **{layer.name: layer.out_shape for layer in net.layers}}
    step = {INPUT: 0, **{layer.name: i for i, layer in enumerate(net.layers)}}
    assert plan.sizes == {t: math.ceil(padded_elements(shape[t], alignment) * table[fmt[t]]) for t in shape}

    # Lifetimes from first principles.
    readers = {t: [i for i, layer in enumerate(net.layers) if t in layer.inputs] for t in shape}
    assert plan.lifetimes == {t: (step[t], max(readers[t]) if readers[t] else n) for t in shape}

    def root(t):
        while t in plan.shares:
            t = plan.shares[t]
        return t

    buffers = {}
    for t in shape:
        buffers.setdefault(root(t), []).append(t)
    size = {r: max(plan.sizes[t] for t in ts) for r, ts in buffers.items()}
    life = {r: (min(plan.lifetimes[t][0] for t in ts), max(plan.lifetimes[t][1] for t in ts))
            for r, ts in buffers.items()}
    for r, ts in buffers.items():
        assert {plan.offsets[t] for t in ts} == {plan.offsets[r]}
        assert plan.offsets[r] % offset_alignment == 0

    # Sharing only where the rules allow it.
    for t, src in plan.shares.items():
        layer = net.layers[step[t]]
        assert layer.inputs[0] == src
        if layer.op == "concat":
            assert len(layer.inputs) == 1
            continue
        assert layer.op in ("add", "act") and plan.sizes[t] == plan.sizes[src]
        assert root(src) != INPUT
        # Nothing else in the buffer is read after the in-place write (outputs end at n > step).
        i = step[t]
        for u in buffers[root(t)]:
            if plan.lifetimes[u][0] < i:
                assert plan.lifetimes[u][1] <= i

    # Laws.
    steps = range(n + 1)
    lower = max(sum(size[r] for r in buffers if life[r][0] <= s <= life[r][1]) for s in steps)
    unshared = max(sum(plan.sizes[t] for t in shape if plan.lifetimes[t][0] <= s <= plan.lifetimes[t][1])
                   for s in steps)
    assert plan.lower_bound_bytes == lower
    assert plan.unshared_lower_bound_bytes == unshared
    assert plan.total_bytes == sum(size.values())
    assert plan.peak_bytes == max(plan.offsets[r] + size[r] for r in buffers)
    assert plan.lower_bound_bytes <= plan.peak_bytes
    # Offset alignment can leave gaps of under offset_alignment bytes below each buffer.
    assert plan.peak_bytes <= sum(-(-z // offset_alignment) * offset_alignment for z in size.values())
    if offset_alignment == 1:
        assert plan.peak_bytes <= plan.total_bytes
    roots = list(buffers)
    for i, a in enumerate(roots):
        for b in roots[i + 1:]:
            if life[a][0] <= life[b][1] and life[b][0] <= life[a][1]:
                oa, ob = plan.offsets[a], plan.offsets[b]
                assert oa + size[a] <= ob or ob + size[b] <= oa, (a, b)
