"""Model transforms (accelsim.workload.transforms) against the same networks built by hand, on the zoo's
MobileNetV2, and on network genomes (codesign.spaces.transforms): layers, shapes, MACs, parameters."""

from __future__ import annotations

import copy

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload import transforms as T
from accelsim.workload.ir import NetworkBuilder
from accelsim.workload.mobilenet_arch import MOBILENET_V2_STAGES
from accelsim.workload.zoo import ibn_block, mobilenet_v2
from codesign.spaces import transforms as G
from codesign.spaces.space import NetworkGenome, StageGene, build_network

# (expansion, kernel, stride) of the three stages of the small network below
SPEC = ((1, 3, 1), (4, 3, 2), (6, 5, 2))


def three_stage(kinds=("ibn", "ibn", "ibn"), depths=(1, 2, 2), widths=(16, 24, 32), stem=16, head=64,
                dense_dw=False):
    """32x32x3 -> stem (3x3/2) -> three stages of IBN or fused blocks -> 1x1 head -> pool -> 10 classes,
    named as the zoo names MobileNetV2. ``dense_dw``: IBNs with a standard conv in place of the
    depthwise one, written out layer by layer."""
    b = NetworkBuilder("tiny", (32, 32, 3))
    with b.block("stem.0"):
        x = b.conv(b.input, stem, 3, 2, activation="relu6", name="stem")
    for si, ((t, k, s), kind, n, c) in enumerate(zip(SPEC, kinds, depths, widths)):
        for i in range(n):
            name, stride = f"s{si}.b{i}", s if i == 0 else 1
            if dense_dw:
                with b.block(name):
                    c_in = b.shape(x)[2]
                    y = b.conv(x, c_in * t, 1, activation="relu6", name=f"{name}.expand") if t != 1 else x
                    y = b.conv(y, c_in * t, k, stride, activation="relu6", name=f"{name}.dw")
                    y = b.conv(y, c, 1, name=f"{name}.project")
                    x = b.add(x, y, name=f"{name}.add") if stride == 1 and c_in == c else y
            else:
                block = b.ibn if kind == "ibn" else b.fused_ibn
                x = block(x, c, expansion=t, kernel=k, stride=stride, name=name)
    with b.block("head.0"):
        x = b.conv(x, head, 1, activation="relu6", name="head")
        x = b.global_avg_pool(x, name="pool")
        b.linear(x, 10, name="classifier")
    return b.build()


@pytest.fixture(scope="module")
def net():
    return three_stage()


@pytest.fixture(scope="module")
def mnv2():
    return mobilenet_v2()


def rows(network):
    return [(l.name, l.op, l.block, l.in_shape, l.out_shape, l.kernel, l.stride, l.groups, l.macs, l.param_count)
            for l in network.layers]


# ------------------------------------------------------------------------------------ blocks
def test_find_blocks_reads_mobilenet_v2():
    blocks = T.find_blocks(mobilenet_v2())
    assert [b.id for b in blocks] == [f"s{si}.b{i}" for si, (_, _, n, _) in enumerate(MOBILENET_V2_STAGES)
                                      for i in range(n)]
    assert {b.kind for b in blocks} == {"ibn"}
    assert sum(b.add is not None for b in blocks) == 10          # 17 blocks, 7 stage-first ones without
    first, second = blocks[0], blocks[1]
    assert first.expand is None and first.expansion == 1.0 and (first.in_channels, first.out_channels) == (32, 16)
    assert second.expand.name == "s1.b0.expand" and second.expansion == 6.0 and second.mid_channels == 96
    assert second.spatial.stride == (2, 2) and second.prefix == "s1.b0"


def test_find_blocks_ignores_layers_that_are_not_blocks():
    b = NetworkBuilder("resnetish", (16, 16, 8))
    with b.block("s0.b0"):                 # 3x3 -> 3x3 -> add: a basic residual block, not an IBN
        y = b.conv(b.input, 8, 3, activation="relu")
        y = b.conv(y, 8, 3)
        x = b.add(b.input, y)
    with b.block("s1.b0"):                 # depthwise separable with a ReLU after the pointwise conv
        y = b.depthwise(x, 3, activation="relu")
        b.conv(y, 16, 1, activation="relu")
    assert T.find_blocks(b.build()) == ()


# ------------------------------------------------------------------------------------ fuse / unfuse
def test_fuse_one_stage_equals_the_network_built_fused(net):
    fused = T.fuse_ibn(net, stages=["s2"])
    built = three_stage(kinds=("ibn", "ibn", "fused_ibn"))
    assert rows(fused) == rows(built) and fused.layers == built.layers
    # s2.b0: 8x8x24 -> 5x5/2 conv -> 4x4x144: 4*4*144*25*24 MACs, 25*24*144 weights + 144 biases
    e = fused.layer("s2.b0.expand")
    assert (e.kernel, e.stride, e.out_shape, e.macs, e.param_count) == ((5, 5), (2, 2), (4, 4, 144), 1_382_400, 86_544)
    assert "s2.b0.dw" not in {l.name for l in fused.layers}
    # IBN s2.b0 was 8*8*144*24 + 4*4*144*25 = 278,784 MACs; s2.b1 4*4*192*32 + 4*4*192*25 = 175,104, fused
    # 4*4*192*25*32 = 2,457,600: the network grows by 1,103,616 + 2,282,496
    assert fused.macs - net.macs == 3_386_112
    assert len(fused.layers) == len(net.layers) - 2


def test_fuse_all_and_unfuse_back(net):
    fused = T.fuse_ibn(net)
    assert fused.layers == three_stage(kinds=("fused_ibn",) * 3).layers
    assert T.unfuse(fused).layers == net.layers
    assert T.unfuse(fused, stages="s1").layers == three_stage(kinds=("fused_ibn", "ibn", "fused_ibn")).layers


def test_fuse_unfuse_round_trip_on_mobilenet_v2(mnv2):
    fused = T.fuse_ibn(mnv2)
    assert (fused.macs, fused.params, len(fused.layers)) == (1_124_820_992, 9_440_680, len(mnv2.layers) - 16)
    assert T.unfuse(fused).layers == mnv2.layers
    assert T.fuse_ibn(fused).layers == fused.layers           # nothing left to fuse


def test_dilated_blocks_keep_their_dilation():
    def dilated(fused: bool):
        b = NetworkBuilder("dilated", (16, 16, 8))
        with b.block("s0.b0"):
            if fused:
                y = b.conv(b.input, 32, 3, activation="relu6", name="s0.b0.expand", dilation=2)
            else:
                y = b.conv(b.input, 32, 1, activation="relu6", name="s0.b0.expand")
                y = b.depthwise(y, 3, activation="relu6", name="s0.b0.dw", dilation=2)
            b.add(b.input, b.conv(y, 8, 1, name="s0.b0.project"), name="s0.b0.add")
        return b.build()
    ibn, fused = dilated(False), dilated(True)
    assert T.fuse_ibn(ibn).layers == fused.layers and T.unfuse(fused).layers == ibn.layers
    e = fused.layer("s0.b0.expand")      # 16x16 outputs, 3x3 taps two apart, 'same' padding 2
    assert (e.dilation, e.padding, e.out_shape, e.macs) == ((2, 2), (2, 2), (16, 16, 32), 16 * 16 * 32 * 9 * 8)
    copy_ = T.scale_depth(ibn, 2).layer("s0.b1.dw")
    assert (copy_.dilation, copy_.padding, copy_.out_shape) == ((2, 2), (2, 2), (16, 16, 32))


# ------------------------------------------------------------------------------------ depthwise -> dense
def test_replace_depthwise_with_dense_equals_hand_built(net):
    dense = T.replace_depthwise_with_dense(net)
    assert dense.layers == three_stage(dense_dw=True).layers
    # s1.b0.dw: 16x16x64 -> 3x3/2 -> 8x8x64: 8*8*64*9 MACs as depthwise, times 64 as a dense conv
    assert (net.layer("s1.b0.dw").macs, dense.layer("s1.b0.dw").macs) == (36_864, 2_359_296)


def test_replace_chosen_depthwise_layers_only(mnv2):
    one = T.replace_depthwise_with_dense(mnv2, layers=["s1.b0.dw"])
    # 56x56x96 outputs, 3x3 taps, 96 input channels instead of 1
    assert one.macs - mnv2.macs == 56 * 56 * 96 * 9 * 95 == 257_402_880
    assert one.layer("s1.b0.dw").groups == 1 and one.layer("s1.b1.dw").groups == 144
    every = T.replace_depthwise_with_dense(mnv2)
    dws = [l for l in mnv2.layers if l.is_depthwise]
    assert len(dws) == 17 and every.macs == mnv2.macs + sum(l.macs * (l.in_channels - 1) for l in dws) == 5_549_139_968


# ------------------------------------------------------------------------------------ widths
@pytest.mark.parametrize("mode, widths, stem, head", [
    ("nearest", (16, 24, 40), 32, 64),     # 12 -> 16, 20 -> 24 (2.5 rounds up), 36 -> 40, 30 -> 32, 60 -> 64
    ("up", (16, 24, 40), 32, 64),
    ("down", (8, 16, 32), 24, 56),
])
def test_round_channels_equals_hand_built(mode, widths, stem, head):
    odd = three_stage(widths=(12, 20, 36), stem=30, head=60)
    rounded = T.round_channels(odd, 8, mode)
    assert rounded.layers == three_stage(widths=widths, stem=stem, head=head).layers
    assert rounded.layer("classifier").out_channels == 10          # outputs untouched
    # expanded widths follow the block's new input: s2.b0 expands 24 (or 16) inputs by 6
    assert rounded.layer("s2.b0.expand").out_channels == widths[1] * 6


def test_round_channels_keeps_residual_adds_valid(mnv2):
    r = T.round_channels(mnv2, 16, "up")
    shapes = {l.name: l.out_shape for l in r.layers}
    shapes["input"] = r.input_shape
    adds = [l for l in r.layers if l.op == "add"]
    assert len(adds) == 10 and all(len({shapes[i] for i in a.inputs}) == 1 for a in adds)
    convs = [l for l in r.layers if l.op == "conv" and l.name != "classifier"]
    assert all(l.out_channels % 16 == 0 for l in convs) and r.layer("classifier").out_channels == 1000
    assert [r.layer(f"s{i}.b0.project").out_channels for i in range(7)] == [16, 32, 32, 64, 96, 160, 320]
    assert (r.layer("s1.b1.expand").out_channels, r.macs) == (192, 331_369_088)   # 32 inputs x 6
    assert T.round_channels(mnv2, 8).layers == mnv2.layers      # already multiples of 8


def test_round_channels_keeps_a_residual_group_tied_to_the_input():
    block = ibn_block(channels=24)                    # input + projection, both 24 channels
    r = T.round_channels(block, 16)
    assert r.layer("ibn.project").out_channels == 24 and r.layer("ibn.expand").out_channels == 144
    assert r.layers == block.layers


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.3, 1.4])
def test_scale_width_equals_the_zoo_width_option(mnv2, width):
    scaled = T.scale_width(mnv2, width, keep=["head"] if width < 1 else ())   # the zoo keeps 1280 below 1
    zoo = mobilenet_v2(width=width)
    assert scaled.layers == zoo.layers and (scaled.macs, scaled.params) == (zoo.macs, zoo.params)


def test_scale_width_numbers(mnv2, net):
    half = T.scale_width(mnv2, 0.5, keep=["head"])
    assert (half.macs, half.params) == (97_131_840, 1_959_408)
    # without keep the head conv goes 1280 -> 640: 7*7*160*640 and 640*1000 MACs instead of twice that
    assert T.scale_width(mnv2, 0.5).macs == 97_131_840 - 7 * 7 * 160 * 640 - 640 * 1000 == 91_474_240
    # 16 -> 8, 24 -> 16 (12 is rounded to 16), 32 -> 16, head 64 -> 32, classifier 10 untouched
    assert T.scale_width(net, 0.5).layers == three_stage(widths=(8, 16, 16), stem=8, head=32).layers


# ------------------------------------------------------------------------------------ depth
@pytest.mark.parametrize("multiplier, stages, depths", [
    (2.0, None, (2, 4, 4)),
    (0.5, None, (1, 1, 1)),             # 2 * 0.5 = 1; 1 * 0.5 = 0.5 rounds up to 1
    (1.5, ["s2"], (1, 2, 3)),
    (1.25, ["s0", "s1"], (1, 3, 2)),    # 1.25 -> 1, 2.5 -> 3
])
def test_scale_depth_equals_hand_built(net, multiplier, stages, depths):
    assert T.scale_depth(net, multiplier, stages).layers == three_stage(depths=depths).layers


def test_scale_depth_mobilenet_v2(mnv2):
    deeper = T.scale_depth(mnv2, 1.5)
    assert [len({l.block for l in deeper.layers if l.stage == f"s{i}"}) for i in range(7)] == [2, 3, 5, 6, 5, 5, 2]
    copy_ = deeper.layer("s6.b1.expand")                # a copy of s6.b0: 320 -> 1920 -> 320 with a residual
    assert (copy_.in_channels, copy_.out_channels, deeper.layer("s6.b1.dw").stride) == (320, 1920, (1, 1))
    assert deeper.layer("s6.b1.add").inputs == ("s6.b0.project", "s6.b1.project")
    assert deeper.layer("head").inputs == ("s6.b1.add",)
    assert (len(deeper.layers), deeper.macs) == (107, 511_526_016)


# ------------------------------------------------------------------------------------ general rules
TRANSFORMS = [
    lambda n: T.fuse_ibn(n, ["s1"]), lambda n: T.unfuse(T.fuse_ibn(n)), lambda n: T.replace_depthwise_with_dense(n),
    lambda n: T.round_channels(n, 16), lambda n: T.scale_width(n, 0.75), lambda n: T.scale_depth(n, 2),
]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_input_is_not_changed(transform):
    net = three_stage(widths=(12, 20, 36)).with_precision("int8", "int16")
    before = copy.deepcopy(net)
    out = transform(net)
    assert net == before and out is not net
    assert {(l.weight_precision, l.act_precision) for l in out.layers} == {("int8", "int16")}   # formats carried


def test_a_rewrite_that_changes_nothing_gives_the_same_layers(mnv2):
    assert T.replace_depthwise_with_dense(mnv2, layers=()) == mnv2
    assert T.scale_depth(mnv2, 1.0).layers == mnv2.layers


def _no_blocks():
    b = NetworkBuilder("plain", (8, 8, 3))
    b.conv(b.input, 8, 3, name="c0")
    return b.build()


@pytest.mark.parametrize("call, words", [
    (lambda n: T.fuse_ibn(n, ["s9"]),
     "fuse_ibn: stages: unknown stage 's9' in network tiny; expected some of s0, s1, s2"),
    (lambda n: T.unfuse(n, "head"), "unfuse: stages: unknown stage 'head'"),
    (lambda n: T.fuse_ibn(n, [2]), "fuse_ibn: stages: expected a list of names, got [2]"),
    (lambda n: T.scale_depth(n, 2, ["stem"]), "scale_depth: stages: unknown stage 'stem'"),
    (lambda n: T.scale_width(n, 0), "scale_width: multiplier: expected a positive number, got 0"),
    (lambda n: T.scale_width(n, -0.5), "scale_width: multiplier: expected a positive number, got -0.5"),
    (lambda n: T.scale_width(n, True), "scale_width: multiplier: expected a positive number, got True"),
    (lambda n: T.scale_depth(n, 0), "scale_depth: multiplier: expected a positive number, got 0"),
    (lambda n: T.scale_depth(n, float("nan")), "scale_depth: multiplier: expected a positive number, got nan"),
    (lambda n: T.scale_width(n, 0.5, multiple=0), "scale_width: multiple: expected a positive whole number"),
    (lambda n: T.scale_width(n, 0.5, keep=["tail"]), "scale_width: keep: unknown stage 'tail'"),
    (lambda n: T.round_channels(n, 8, mode="sideways"),
     "round_channels: mode: expected one of nearest, up, down, got 'sideways'"),
    (lambda n: T.round_channels(n, 2.5),
     "round_channels: multiple: expected a positive whole number of channels, got 2.5"),
    (lambda n: T.replace_depthwise_with_dense(n, ["nope"]), "replace_depthwise_with_dense: layers: no layer 'nope'"),
    (lambda n: T.replace_depthwise_with_dense(n, ["stem"]), "layers: layer 'stem' of network tiny is not a depthwise"),
    (lambda n: T.fuse_ibn(_no_blocks()), "fuse_ibn: network plain has no inverted-bottleneck blocks"),
    (lambda n: T.scale_depth(_no_blocks(), 2), "scale_depth: network plain has no inverted-bottleneck blocks"),
])
def test_bad_arguments_are_one_line_errors(net, call, words):
    with pytest.raises(WorkloadError) as exc:
        call(net)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_scale_depth_needs_stages_that_are_chains_of_blocks():
    b = NetworkBuilder("mixed", (16, 16, 8))
    x = b.ibn(b.input, 8, expansion=2, name="s0.b0")
    with b.block("s0.extra"):
        b.conv(x, 8, 3, name="extra")
    with pytest.raises(WorkloadError, match="^scale_depth: network mixed has no stage made only of a chain"):
        T.scale_depth(b.build(), 2)


# ------------------------------------------------------------------------------------ imported models
def test_blocks_of_an_imported_model_are_found_by_structure():
    pytest.importorskip("torch")
    from accelsim.workload.zoo import mobilenet_v2_torch
    traced = mobilenet_v2_torch(resolution=96)
    blocks = T.find_blocks(traced)
    assert len(blocks) == 17 and blocks[3].id == "features.4" and sum(b.add is not None for b in blocks) == 10
    assert T.fuse_ibn(traced).macs == T.fuse_ibn(mobilenet_v2(resolution=96)).macs
    with pytest.raises(WorkloadError, match="no stage made only of a chain"):   # one stage, "features", with stem
        T.scale_depth(traced, 2)


@pytest.mark.parametrize("name, options", [
    ("mobilenet_v3_small", {"resolution": 96}),            # squeeze-excite muls, hardswish
    ("lraspp_mobilenet_v3", {"resolution": 96}),           # upsampling, dilated convs
    ("ssdlite_mobilenet_v2", {"resolution": 96}),          # concat, reshapes
    ("vit_tiny", {"resolution": 32, "depth": 1}),          # matmuls
])
def test_every_operator_is_rebuilt_as_it_was(name, options):
    pytest.importorskip("torch")
    from accelsim.workload.zoo import load_model
    model = load_model(name, **options)
    assert T.replace_depthwise_with_dense(model, layers=()) == model


# ------------------------------------------------------------------------------------ genomes
def genome(**changes):
    stages = (StageGene("ibn", 3, 1, 1, 16, 1), StageGene("fused_ibn", 5, 4, 2, 24, 2, "int16"),
              StageGene("ibn", 7, 6, 3, 40, 2), StageGene("ibn", 3, 3, 2, 80, 1))
    return NetworkGenome(**{"resolution": 96, "stem_channels": 24, "stages": stages, "head_channels": 640,
                            "depth_multiplier": 1.25, "num_classes": 10, **changes})


@pytest.mark.parametrize("on_genome, on_network", [
    (lambda g: G.fuse_ibn(g, ["s2"]), lambda n: T.fuse_ibn(n, ["s2"])),
    (lambda g: G.fuse_ibn(g, [0, 3]), lambda n: T.fuse_ibn(n, ["s0", "s3"])),
    (lambda g: G.unfuse(g), lambda n: T.unfuse(n)),
    (lambda g: G.scale_depth(g, 2), lambda n: T.scale_depth(n, 2)),
    (lambda g: G.scale_depth(g, 0.5, "s1"), lambda n: T.scale_depth(n, 0.5, ["s1"])),
    (lambda g: G.scale_width(g, 0.5), lambda n: T.scale_width(n, 0.5)),
    (lambda g: G.scale_width(g, 1.3, keep=["head", "s1"]), lambda n: T.scale_width(n, 1.3, keep=["head", "s1"])),
    (lambda g: G.round_channels(g, 16), lambda n: T.round_channels(n, 16)),
])
def test_transformed_genome_builds_the_transformed_network(on_genome, on_network):
    g = genome()
    assert build_network(on_genome(g)).layers == on_network(build_network(g)).layers


def test_genome_transforms_set_the_genes():
    g = genome()
    assert [s.block for s in G.fuse_ibn(g).stages] == ["fused_ibn"] * 4
    deeper = G.scale_depth(g, 2)
    assert deeper.depth_multiplier == 1.0 and [s.depth for s in deeper.stages] == [2, 6, 8, 6]   # 2 x (1, 3, 4, 3)
    wide = G.scale_width(g, 0.5, keep=["stem"])
    assert (wide.stem_channels, [s.channels for s in wide.stages], wide.head_channels, wide.num_classes) == \
        (24, [8, 16, 24, 40], 320, 10)
    assert g == genome()                                 # unchanged


def test_mobilenet_v2_genome_matches_the_zoo(mnv2):
    g = NetworkGenome(224, 32, tuple(StageGene("ibn", 3, t, n, c, s) for t, c, n, s in MOBILENET_V2_STAGES),
                      1280, 1.0)
    assert build_network(g).layers == mnv2.layers
    assert build_network(G.round_channels(g, 16, "up")).layers == T.round_channels(mnv2, 16, "up").layers
    assert build_network(G.scale_depth(g, 1.5)).layers == T.scale_depth(mnv2, 1.5).layers


def test_rounding_that_equalises_a_stride_1_stage_adds_a_residual_in_the_genome_only():
    g = genome()     # stem 24 -> s0 16 (stride 1): rounding both up to 32 lets the genome's s0.b0 add a residual
    from_genome = build_network(G.round_channels(g, 32, "up"))
    from_network = T.round_channels(build_network(g), 32, "up")
    assert [l.name for l in from_genome.layers if l.name not in {m.name for m in from_network.layers}] == ["s0.b0.add"]


@pytest.mark.parametrize("call, words", [
    (lambda g: G.fuse_ibn(g, ["s9"]), "fuse_ibn: stages: unknown stage 's9'; expected some of s0, s1, s2, s3"),
    (lambda g: G.unfuse(g, [4]), "unfuse: stages: unknown stage 4"),
    (lambda g: G.scale_depth(g, -1), "scale_depth: multiplier: expected a positive number, got -1"),
    (lambda g: G.scale_width(g, 0), "scale_width: multiplier: expected a positive number, got 0"),
    (lambda g: G.scale_width(g, 0.5, keep=["tail"]), "scale_width: keep: unknown stage 'tail'"),
    (lambda g: G.round_channels(g, 8, "x"), "round_channels: mode: expected one of nearest, up, down, got 'x'"),
])
def test_genome_bad_arguments(call, words):
    with pytest.raises(WorkloadError) as exc:
        call(genome())
    assert words in str(exc.value) and "\n" not in str(exc.value)
