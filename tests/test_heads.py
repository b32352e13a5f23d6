"""Task heads (SSDLite, LR-ASPP, DeepLabV3) on the IR and on network genomes: hand-counted MACs and
parameters of small heads, the zoo's traced SSDLite and LR-ASPP rebuilt exactly, DeepLabV3 against the
published TF DeepLab and torchvision figures, genomes with a head (built, sampled, hashed, and traced
from their torch twin to the same layers), and one error per bad input.

Parameters are counted as accelsim does: conv weights + one bias per channel (a batch norm folded into
the conv before it), so a framework's count is higher by one per batch-norm channel."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import accelsim
from accelsim.errors import WorkloadError
from accelsim.workload import heads, load_model
from accelsim.workload.ir import NetworkBuilder
from accelsim.workload.mobilenet_arch import MOBILENET_V2_STAGES
from codesign.errors import CodesignError
from codesign.spaces.space import (HeadGene, NetworkGenome, NetworkSpace, StageGene, build_network, head_taps,
                                   stable_hash)


def _head_sum(net, stage: str, what: str = "macs") -> int:
    return sum(getattr(layer, what if what == "macs" else "param_count") for layer in net.layers
               if layer.stage == stage)


# ------------------------------------------------------------------------------------ heads by hand
def test_deeplabv3_separable_dense_and_no_aspp_by_hand():
    # features 8x8x32, ASPP channels 16, 5 classes; rates 6/12/18 at output stride 16
    # aspp0 1x1: 64 px * 16 * 32 = 32,768 MACs, 32*16+16 = 528 params; pooling conv 1x1 on 1x1: 512, 528
    # separable branch: dw 64*32*9 = 18,432 (+ 9*32+32 = 320) and pw 32,768 (+ 528), three of them
    # project over 5 branches x 16 = 80 channels: 64*16*80 = 81,920 (80*16+16 = 1,296); classifier 64*5*16 = 5,120 (85)
    sep = _deeplab(aspp="separable")
    assert sep.macs == 32_768 + 3 * (18_432 + 32_768) + 512 + 81_920 + 5_120 == 273_920
    assert sep.params == 528 + 3 * (320 + 528) + 528 + 1_296 + 85 == 4_981
    assert [layer.dilation for layer in sep.layers if layer.dilation != (1, 1)] == [(6, 6), (12, 12), (18, 18)]
    # dense branch: 64*16*9*32 = 294,912 MACs, 9*32*16+16 = 4,624 params
    dense = _deeplab(aspp="dense")
    assert dense.macs == 32_768 + 3 * 294_912 + 512 + 81_920 + 5_120 == 1_005_056
    assert dense.params == 528 + 3 * 4_624 + 528 + 1_296 + 85 == 16_309
    # no atrous branches (TF DeepLab's MobileNetV2 models): project over 32 channels, 64*16*32 = 32,768 (528)
    none = _deeplab(aspp="none")
    assert none.macs == 32_768 + 512 + 32_768 + 5_120 == 71_168
    assert none.params == 528 + 528 + 528 + 85 == 1_669
    for net in (sep, dense, none):   # pooling branch upsampled back, output upsampled to the input
        assert net.layer("deeplabv3.pool_up").out_shape == (8, 8, 16) and net.layers[-1].out_shape == (8, 8, 5)
    assert _deeplab(aspp="dense", output_stride=8).layer("deeplabv3.aspp3").dilation == (36, 36)
    # torchvision's extra 3x3 conv: 64*16*9*16 = 147,456 MACs, 9*16*16+16 = 2,320 params
    refined = _deeplab(aspp="none", refine=True)
    assert (refined.macs - none.macs, refined.params - none.params) == (147_456, 2_320)


def _deeplab(**kw):
    b = NetworkBuilder("d", (8, 8, 32))
    heads.deeplabv3(b, b.input, 5, channels=16, **kw)
    return b.build()


def test_lraspp_by_hand():
    # low map 16x16x24 (the input), high map 8x8x48; 8 branch channels, 3 classes
    b = NetworkBuilder("l", (16, 16, 24))
    high = b.conv(b.input, 48, 3, 2, name="high")
    out = heads.lraspp(b, b.input, high, 3, channels=8)
    net = b.build()
    # cbr 64*8*48 = 24,576; gate conv on 1x1: 384 (no bias); low classifier 256*3*24 = 18,432; high 256*3*8 = 6,144
    assert _head_sum(net, "lraspp") == 24_576 + 384 + 18_432 + 6_144 == 49_536
    assert _head_sum(net, "lraspp", "params") == (48 * 8 + 8) + 48 * 8 + (24 * 3 + 3) + (8 * 3 + 3) == 878
    assert net.layer("lraspp.scale").activation == "sigmoid" and not net.layer("lraspp.scale").bias
    assert net.layer("lraspp.up").out_shape == (16, 16, 8) and net.layer(out).out_shape == (16, 16, 3)


def test_ssdlite_by_hand():
    # maps 4x4x12 (stride 16) and 2x2x20 (stride 32); extra depths 8, 4 -> 1x1x8, 1x1x4; anchors 2, 3, 3, 3
    b = NetworkBuilder("s", (4, 4, 12))
    m32 = b.conv(b.input, 20, 3, 2, name="m32")
    boxes, scores = heads.ssdlite(b, b.input, m32, 5, extra_depths=(8, 4), anchors=(2, 3, 3, 3))
    net = b.build()
    # extras: 2x2 reduce 4*4*20 = 320, dw s2 to 1x1: 4*9 = 36, expand 4*8 = 32; then 8*2 = 16, 2*9 = 18, 2*4 = 8
    extras = 320 + 36 + 32 + 16 + 18 + 8
    # per map: two 3x3 depthwise (box, class), box 1x1 to a*4, class 1x1 to a*5
    maps = [(16, 12, 2), (4, 20, 3), (1, 8, 3), (1, 4, 3)]   # (pixels, channels, anchors)
    predictors = sum(2 * px * c * 9 + px * c * a * 4 + px * c * a * 5 for px, c, a in maps)
    assert _head_sum(net, "ssdlite") == extras + predictors == 430 + 6_912 + 3_600 + 360 + 180 == 11_482
    assert _head_sum(net, "ssdlite", "params") == 2_273
    # 16*2 + 4*3 + 3 + 3 = 50 boxes: 200 offsets, 250 scores; the 1x1 maps need no reshape
    assert net.layer(boxes).out_shape == (1, 1, 200) and net.layer(scores).out_shape == (1, 1, 250)
    assert [layer.name for layer in net.layers if dict(layer.attrs).get("kind") == "reshape"] == \
        ["ssdlite.box0.flat", "ssdlite.box1.flat", "ssdlite.cls0.flat", "ssdlite.cls1.flat"]


def test_atrous_plan_of_mobilenet_v2():
    strides = [s for *_, s in MOBILENET_V2_STAGES]   # 1, 2, 2, 2, 1, 2, 1 after a stride-2 stem
    assert heads.atrous_plan(strides, None) == ((1, 1, 2), (2, 1, 4), (2, 1, 8), (2, 1, 16), (1, 1, 16),
                                                (2, 1, 32), (1, 1, 32))
    assert heads.atrous_plan(strides, 16) == ((1, 1, 2), (2, 1, 4), (2, 1, 8), (2, 1, 16), (1, 1, 16),
                                              (1, 2, 16), (1, 2, 16))
    assert heads.atrous_plan(strides, 8) == ((1, 1, 2), (2, 1, 4), (2, 1, 8), (1, 2, 8), (1, 2, 8),
                                             (1, 4, 8), (1, 4, 8))
    assert [heads.aspp_rates(s) for s in (16, 8, 32)] == [(6, 12, 18), (12, 24, 36), (3, 6, 9)]


def test_dilated_ibn_keeps_macs_and_spaces_its_taps():
    b = NetworkBuilder("ibn", (17, 17, 16))
    plain = b.ibn(b.input, 16, 6, 3, name="plain")
    dilated = b.ibn(plain, 16, 6, 3, name="dilated", dilation=2)
    fused = b.fused_ibn(dilated, 16, 2, 3, name="fused", dilation=3)
    net = b.build()
    assert net.layer("dilated.dw").dilation == (2, 2) and net.layer("dilated.dw").padding == (2, 2)
    assert net.layer("fused.expand").dilation == (3, 3) and net.layer("fused.expand").out_shape == (17, 17, 32)
    assert net.layer("dilated.dw").macs == net.layer("plain.dw").macs == 17 * 17 * 96 * 9
    assert net.layer(fused).op == "add"   # stride 1, 16 -> 16: the residual stays


# ------------------------------------------------------------------------------------ published models
def _mobilenet_v2_genome(resolution: int, head=None) -> NetworkGenome:
    stages = tuple(StageGene("ibn", 3, t, n, c, s) for t, c, n, s in MOBILENET_V2_STAGES)
    return NetworkGenome(resolution, 32, stages, 1280, 1.0, 1000, head=head)


def _key(layer):
    return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.padding, layer.groups,
            layer.bias, layer.activation, layer.attrs, layer.dilation, layer.macs, layer.param_count)


def test_ssdlite_genome_is_the_zoo_ssdlite_layer_for_layer():
    pytest.importorskip("torch")
    net = build_network(_mobilenet_v2_genome(320, HeadGene("ssdlite", 81)))
    zoo = load_model("ssdlite_mobilenet_v2")
    assert [_key(layer) for layer in net.layers] == [_key(layer) for layer in zoo.layers]
    assert (net.macs, net.params) == (zoo.macs, zoo.params) == (788_830_144, 4_311_637)
    assert net.layer("s5.b0.expand").out_shape == (20, 20, 576)   # "the expansion of layer 15"


def _traced_mobilenet_v3_backbone():
    """The zoo LR-ASPP's dilated MobileNetV3-Large (torchvision's ``dilated=True``) up to its 960-channel
    conv, in a fresh builder; the stride-8 map is the output of features[4], as torchvision's."""
    zoo = load_model("lraspp_mobilenet_v3")
    names = [layer.name for layer in zoo.layers]
    b = NetworkBuilder("mnv3", zoo.input_shape)
    b.splice(zoo.layers[:names.index("high.16.0") + 1], b.input)
    return zoo, b


def test_lraspp_builder_rebuilds_the_zoo_lraspp():
    pytest.importorskip("torch")
    zoo, b = _traced_mobilenet_v3_backbone()
    heads.lraspp(b, "low.4.block.3.0", "high.16.0")
    net = b.build()
    assert [_key(layer) for layer in net.layers] == [_key(layer) for layer in zoo.layers]
    assert (net.macs, net.params) == (zoo.macs, zoo.params) == (2_086_219_688, 3_209_210)


def test_deeplabv3_builder_matches_torchvision_deeplabv3_mobilenet_v3_large():
    pytest.importorskip("torch")
    # torchvision: dense ASPP at rates 12/24/36 on the 960-channel map, a 3x3 conv after the projection;
    # 11,029,328 params and 10.452 GFLOPS (MACs) at 520 px, both with the auxiliary FCN head on the
    # stride-8 map (conv 3x3 40->10 without bias, BN(10), conv 1x1 10->21: 3,851 params)
    _, b = _traced_mobilenet_v3_backbone()
    heads.deeplabv3(b, "high.16.0", 21, aspp="dense", rates=(12, 24, 36), refine=True)
    net = b.build()
    # less the aux head and one parameter per BN channel: 12,200 in the backbone (the zoo LR-ASPP module
    # has 12,328 with its 128-channel cbr) and 7 x 256 in the head (4 ASPP convs, pooling, projection, refine)
    assert net.params == 11_029_328 - 3_851 - 12_200 - 7 * 256 == 11_011_485
    aux = 65 * 65 * 10 * 9 * 40 + 65 * 65 * 21 * 10   # the aux head's MACs on the 65x65 map
    assert net.macs == 10_436_350_688 and round((net.macs + aux) / 1e9, 3) == 10.452


@pytest.mark.parametrize("options, published, rel, macs, params", [
    # TF DeepLab model zoo (PASCAL VOC, 513x513, one scale, no flip): mobilenetv2_coco_voc_trainaug 2.75 B
    ({}, 2.75e9, 0.005, 2_740_709_056, 2_097_013),
    # mobilenetv2_dm05_coco_voc_trainval at output stride 8: 2.84 B
    ({"width": 0.5, "output_stride": 8}, 2.84e9, 0.01, 2_861_513_424, 691_485),
    # mobilenetv2_dm05_coco_voc_trainaug at 16: 0.88 B. TF DeepLab rounds depth-0.5 channels to
    # multiples of 1 (12 for the 24-channel stage); the zoo's MobileNetV2 to multiples of 8 (16), so more
    ({"width": 0.5}, 0.88e9, 0.04, 910_369_488, 691_485),
])
def test_deeplabv3_mobilenet_v2_against_tf_deeplab(options, published, rel, macs, params):
    net = load_model("deeplabv3_mobilenet_v2", **options)
    assert net.macs == pytest.approx(published, rel=rel)
    assert (net.macs, net.params) == (macs, params)
    assert net.layers[-1].out_shape == (513, 513, 21)


def test_deeplabv3_mobilenet_v2_options():
    base = load_model("deeplabv3_mobilenet_v2")
    # output stride 16: the last two stages dilated (2), 513 -> 257 -> 129 -> 65 -> 33
    assert base.layer("s5.b0.dw").dilation == (2, 2) and base.layer("s5.b0.dw").stride == (1, 1)
    assert base.layer("s6.b0.project").out_shape == (33, 33, 320)
    os8 = load_model("deeplabv3_mobilenet_v2", output_stride=8)
    assert os8.layer("s3.b0.dw").dilation == (2, 2) and os8.layer("s6.b0.dw").dilation == (4, 4)
    assert os8.layer("s6.b0.project").out_shape == (65, 65, 320) and os8.params == base.params
    # lite ASPP: three separable branches, each dw 33*33*320*9 + pw 33*33*256*320, and a projection over
    # 5 x 256 instead of 2 x 256 channels (33*33*256*768 more)
    lite = load_model("deeplabv3_mobilenet_v2", aspp="separable")
    assert lite.macs - base.macs == 3 * (1089 * 320 * 9 + 1089 * 256 * 320) + 1089 * 256 * 768 == 491_147_712
    with pytest.raises(WorkloadError, match=r"^network deeplabv3_mobilenet_v2_1_513_os12: output_stride: expected "
                                            r"8, 16 or 32, got 12$"):
        load_model("deeplabv3_mobilenet_v2", output_stride=12)
    with pytest.raises(WorkloadError, match=r"option aspp: expected one of separable, dense, none"):
        load_model("deeplabv3_mobilenet_v2", aspp="wide")


def test_a_headed_network_simulates():
    net = load_model("deeplabv3_mobilenet_v2", resolution=129, aspp="separable")
    report = accelsim.simulate(net, accelsim.load_hardware("neural_engine"))
    assert report.totals()["macs"] == net.macs == 235_042_432


# ------------------------------------------------------------------------------------ genomes
SMALL = NetworkGenome(resolution=96, stem_channels=16, head_channels=320, depth_multiplier=1.0, num_classes=10,
                      stages=(StageGene("ibn", 3, 1, 1, 16, 1), StageGene("fused_ibn", 3, 4, 2, 24, 2),
                              StageGene("ibn", 5, 6, 2, 40, 2), StageGene("ibn", 3, 3, 2, 40, 1),
                              StageGene("fused_ibn", 3, 3, 2, 64, 2), StageGene("ibn", 7, 3, 2, 96, 2),
                              StageGene("ibn", 3, 6, 1, 96, 1)))
HEADS = [HeadGene("ssdlite", 81), HeadGene("lraspp", 21, 16), HeadGene("lraspp", 21, 8),
         HeadGene("deeplabv3", 21, 16), HeadGene("deeplabv3", 5, 8), HeadGene("deeplabv3", 21, 32)]
# build_network(SMALL with each head): MACs and params (regression pins; the torch twin test checks them)
HEADED = {("ssdlite", 0): (46_801_248, 1_773_277), ("lraspp", 16): (48_920_320, 614_234),
          ("lraspp", 8): (99_761_536, 614_234), ("deeplabv3", 16): (71_076_224, 1_282_429),
          ("deeplabv3", 8): (189_196_544, 1_278_317), ("deeplabv3", 32): (46_421_984, 1_282_429)}


def test_a_genome_without_a_head_keeps_its_dict_key_and_network():
    # key, MACs and params as before genomes had heads
    d = SMALL.to_dict()
    assert "head" not in d and SMALL.key() == stable_hash(d)[:16] == "eaac56c0acc87827"
    assert NetworkGenome.from_dict(json.loads(json.dumps(d))) == SMALL
    net = build_network(SMALL)
    assert (net.macs, net.params) == (40_318_880, 531_826) and net.layers[-1].name == "classifier"


@pytest.mark.parametrize("head", HEADS, ids=lambda h: f"{h.kind}-{h.output_stride}")
def test_a_genome_with_a_head(head):
    g = dataclasses.replace(SMALL, head=head)
    d = g.to_dict()
    assert d["head"] == dataclasses.asdict(head) and g.key() != SMALL.key()
    assert NetworkGenome.from_dict(json.loads(json.dumps(d))) == g
    net = build_network(g)
    assert (net.macs, net.params) == HEADED[head.kind, head.output_stride]
    # the backbone up to the 1x1 head conv is the classifier's, but for the dilated stages
    plain = build_network(SMALL)
    n = [layer.name for layer in plain.layers].index("head") + 1
    if head.output_stride in (0, 32):
        assert [_key(layer) for layer in net.layers[:n]] == [_key(layer) for layer in plain.layers[:n]]
    assert not any(layer.name in ("pool", "classifier") for layer in net.layers)
    if head.kind != "ssdlite":
        assert net.layers[-1].out_shape == (96, 96, head.num_classes)


def test_genome_taps():
    # strides 1,2,2,1,2,2,1 after the stem: 2, 4, 8, 8, 16, 32, 32
    assert head_taps(dataclasses.replace(SMALL, head=HeadGene("ssdlite", 81)))["ssd_stage"] == 5
    assert head_taps(dataclasses.replace(SMALL, head=HeadGene("lraspp", 21, 16)))["low_stage"] == 3
    plan = head_taps(dataclasses.replace(SMALL, head=HeadGene("lraspp", 21, 8)))
    assert plan["low_stage"] == 3 and [d for _, d, _ in plan["plan"]] == [1, 1, 1, 1, 2, 4, 4]
    # SSDLite's first map: the expansion conv of the last strided stage (s5, an IBN expanding 64 channels
    # 3x to 192), at stride 16: 96 / 16 = 6
    net = build_network(dataclasses.replace(SMALL, head=HeadGene("ssdlite", 81)))
    assert net.layer("ssdlite.box0.dw").inputs == ("s5.b0.expand",)
    assert net.layer("s5.b0.expand").out_shape == (6, 6, 192)
    # a fused IBN's expansion conv is strided: the map is then the stage's input (s4's residual add)
    stages = list(SMALL.stages)
    stages[5] = dataclasses.replace(stages[5], block="fused_ibn")
    fused = dataclasses.replace(SMALL, stages=tuple(stages), head=HeadGene("ssdlite", 81))
    assert build_network(fused).layer("ssdlite.box0.dw").inputs == ("s4.b1.add",)


@pytest.mark.parametrize("head", HEADS, ids=lambda h: f"{h.kind}-{h.output_stride}")
def test_the_torch_twin_traces_to_the_same_layers(head):
    pytest.importorskip("torch")
    from accelsim.workload.torch_import import from_torch
    from codesign.accuracy.torch_models import HeadedGenomeNet, genome_module
    g = dataclasses.replace(SMALL, head=head)
    module = genome_module(g)
    assert isinstance(module, HeadedGenomeNet)
    traced = from_torch(module, (3, g.resolution, g.resolution))
    ir = build_network(g)
    assert [_key(layer) for layer in traced.layers] == [_key(layer) for layer in ir.layers]
    assert (traced.macs, traced.params) == HEADED[head.kind, head.output_stride]


def test_proxies_score_a_headed_genome_module():
    torch = pytest.importorskip("torch")
    from codesign.accuracy.proxies import reset_parameters, score_all
    from codesign.accuracy.torch_models import genome_module
    x = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    for head in (HeadGene("ssdlite", 81), HeadGene("lraspp", 21, 16), HeadGene("deeplabv3", 21, 16)):
        g = dataclasses.replace(SMALL, head=head)
        scores = score_all(reset_parameters(genome_module(g), 0), x)
        assert all(np.isfinite(v) for v in scores.values()), head
        # parameters as torch counts them: the IR's plus one per batch-norm channel
        bn = sum(m.num_features for m in genome_module(g).modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert scores["params"] == build_network(g).params + bn


# ------------------------------------------------------------------------------------ spaces
def test_a_classifier_space_samples_what_it_always_did():
    # the default space's first genome from seed 3, as before heads existed (key, MACs, params, layers)
    g = NetworkSpace().sample(np.random.default_rng(3))
    net = build_network(g)
    assert g.head is None and "head" not in g.to_dict()
    assert (g.key(), net.macs, net.params, len(net.layers)) == ("01bb7ab640cd403e", 2_112_484_736, 56_038_968, 48)
    heads_space = NetworkSpace(heads=("ssdlite", "lraspp", "deeplabv3"), output_strides=(8, 16))
    for seed in range(20):
        a, b = NetworkSpace().sample(np.random.default_rng(seed)), heads_space.sample(np.random.default_rng(seed))
        assert dataclasses.replace(b, head=None) == a   # the head is drawn last, after the backbone
        assert b.head.num_classes == heads.DEFAULT_CLASSES[b.head.kind]
        assert b.head.output_stride in ((0,) if b.head.kind == "ssdlite" else (8, 16))


def test_a_heads_space_draws_each_head_and_builds_it():
    space = NetworkSpace(heads=("classifier", "ssdlite", "lraspp", "deeplabv3"), head_classes=7,
                         resolutions=(96,), output_strides=(16,))
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(24):
        g = space.sample(rng)
        kind = g.head.kind if g.head else "classifier"
        kinds.add(kind)
        last = space.build(g).layers[-1]
        if kind == "classifier":
            assert (last.name, last.out_shape) == ("classifier", (1, 1, 1000))
        elif kind == "ssdlite":   # 7 scores per box
            assert last.name == "ssdlite.scores" and last.out_shape[2] % 7 == 0
        else:
            assert last.out_shape == (96, 96, 7)
    assert kinds == {"classifier", "ssdlite", "lraspp", "deeplabv3"}
    assert space.head_gene("lraspp") == HeadGene("lraspp", 7, 16) and space.head_gene("classifier") is None
    assert space.head_gene("deeplabv3", 8) == HeadGene("deeplabv3", 7, 8) and space.head_gene("ssdlite") == \
        HeadGene("ssdlite", 7, 0)


@pytest.mark.parametrize("settings, message", [
    ({"heads": ["yolo"]}, "network space: heads: expected classifier, ssdlite, lraspp or deeplabv3, got 'yolo'"),
    ({"heads": []}, "network space: heads: expected a non-empty list of names (strings), got []"),
    ({"output_strides": [12]}, "network space: output_strides: expected 8, 16 or 32, got 12"),
    ({"output_strides": []},
     "network space: output_strides: expected a non-empty list of positive whole numbers, got []"),
    ({"head_classes": -1}, "network space: head_classes: expected a whole number >= 0, got -1"),
    ({"head_classes": 2.5}, "network space: head_classes: expected a whole number >= 0, got 2.5"),
])
def test_bad_space_head_settings(settings, message):
    with pytest.raises(CodesignError) as err:
        NetworkSpace.from_dict(settings)
    assert str(err.value) == message


@pytest.mark.parametrize("args, message", [
    (("classifier", 10), "head.kind: expected ssdlite, lraspp or deeplabv3, got 'classifier'"),
    (("ssdlite", 0), "head.num_classes: expected a positive whole number, got 0"),
    (("ssdlite", True), "head.num_classes: expected a positive whole number, got True"),
    (("ssdlite", 81, 16),
     "head.output_stride: expected 0 for an ssdlite head (its backbone keeps its strides), got 16"),
    (("lraspp", 21), "head.output_stride: expected 8, 16 or 32 for a lraspp head, got 0"),
    (("deeplabv3", 21, 4), "head.output_stride: expected 8, 16 or 32 for a deeplabv3 head, got 4"),
])
def test_bad_head_genes(args, message):
    with pytest.raises(CodesignError) as err:
        HeadGene(*args)
    assert str(err.value) == f"network genome: {message}"


def test_backbones_a_head_cannot_read():
    flat = dataclasses.replace(SMALL, stages=tuple(dataclasses.replace(s, stride=1) for s in SMALL.stages),
                               head=HeadGene("ssdlite", 81))
    with pytest.raises(CodesignError, match=r"^network genome: head ssdlite: needs a stage with stride > 1"):
        build_network(flat)
    # s2 with stride 4 jumps from 4 to 16: no stage ends at output stride 8
    stages = list(SMALL.stages)
    stages[2] = dataclasses.replace(stages[2], stride=4)
    jump = dataclasses.replace(SMALL, stages=tuple(stages), head=HeadGene("lraspp", 21, 16))
    with pytest.raises(CodesignError, match=r"^network genome: head lraspp: needs a stage at output stride 8 for "
                                            r"its low-level branch; the stages reach 2, 4, 16, 16, 16, 16, 16$"):
        build_network(jump)
    with pytest.raises(CodesignError, match=r"malformed"):
        NetworkGenome.from_dict({**SMALL.to_dict(), "head": {"kind": "ssdlite"}})


@pytest.mark.parametrize("call, message", [
    (lambda b: heads.deeplabv3(b, b.input, 0),
     "head deeplabv3: num_classes: expected a positive whole number, got 0"),
    (lambda b: heads.deeplabv3(b, b.input, aspp="wide"),
     "head deeplabv3: aspp: expected separable, dense or none, got 'wide'"),
    (lambda b: heads.deeplabv3(b, b.input, output_stride=12),
     "head deeplabv3: output_stride: expected 8, 16 or 32, got 12"),
    (lambda b: heads.deeplabv3(b, b.input, rates=(6, 0)),
     "head deeplabv3: rates: expected a positive whole number, got 0"),
    (lambda b: heads.deeplabv3(b, b.input, channels=0),
     "head deeplabv3: channels: expected a positive whole number, got 0"),
    (lambda b: heads.lraspp(b, b.input, b.input, channels=-8),
     "head lraspp: channels: expected a positive whole number, got -8"),
    (lambda b: heads.ssdlite(b, b.input, b.input, 81, anchors=(3, 6)),
     "head ssdlite: anchors: expected one entry per map (6: two backbone maps and 4 extra layers), got 2"),
    (lambda b: heads.ssdlite(b, b.input, b.input, extra_depths=(512, 1), anchors=(3, 6, 6, 6)),
     "head ssdlite: extra_depths: expected whole numbers >= 2, got [512, 1]"),
    (lambda b: heads.ssdlite(b, b.input, b.input, anchors=(3, 6, 0, 6, 6, 6)),
     "head ssdlite: anchors: expected a positive whole number, got 0"),
])
def test_bad_head_settings(call, message):
    b = NetworkBuilder("n", (8, 8, 16))
    with pytest.raises(WorkloadError) as err:
        call(b)
    assert str(err.value) == f"network n: {message}"


def test_a_search_over_a_space_with_heads_draws_and_builds_them():
    from codesign.search import problems as P
    from codesign.spaces.space import NetworkSpace
    plain = P.MobileAxis(NetworkSpace(resolutions=(96,)))
    assert "task_head" not in plain.choices and "output_stride" not in plain.choices
    axis = P.MobileAxis(NetworkSpace(resolutions=(96,), heads=("ssdlite", "lraspp"), output_strides=(8, 16)))
    assert axis.choices["task_head"] == ("ssdlite", "lraspp") and axis.choices["output_stride"] == (8, 16)
    g = {k: v[0] for k, v in axis.choices.items()}
    assert axis.genome(g).head.kind == "ssdlite" and axis.describe(g).endswith("+ssdlite")
    g.update(task_head="lraspp", output_stride=16)
    net, ng = axis.build(g), axis.genome(g)
    assert ng.head.kind == "lraspp" and ng.head.output_stride == 16 and ng.head.num_classes == 21
    assert axis.describe(g).endswith("+lraspp/os16")
    assert net.layers[-1].out_shape[-1] == 21   # 21 class scores per pixel


def test_the_output_stride_gene_does_not_split_a_detector_design():
    from codesign.search import problems as P
    from codesign.spaces.space import NetworkSpace
    axis = P.MobileAxis(NetworkSpace(resolutions=(96,), heads=("ssdlite", "deeplabv3"), output_strides=(8, 16)))
    g = {k: v[0] for k, v in axis.choices.items()}
    g8, g16 = {**g, "output_stride": 8}, {**g, "output_stride": 16}
    assert axis.key(g8) == axis.key(g16)                     # ssdlite: the gene is unused
    s8, s16 = {**g8, "task_head": "deeplabv3"}, {**g16, "task_head": "deeplabv3"}
    assert axis.key(s8) != axis.key(s16) and axis.build(s8).macs > axis.build(s16).macs
