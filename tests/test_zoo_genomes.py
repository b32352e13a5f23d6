"""Zoo models as network genomes (codesign.spaces.zoo_genomes) and the genome fields they need:
squeeze-excite, activations, expansions that are not whole, a hidden classifier layer, no head conv
and DeepLabV3's ASPP kind.

Each zoo genome builds the zoo's own network layer for layer (same operators, shapes, settings,
MACs and parameters); genomes that use none of the new fields keep the dicts, keys and networks they
had before the fields existed (keys pinned from before); the torch twin of a genome with the new
fields traces to the same layers as build_network."""

from __future__ import annotations

import dataclasses
import json

import pytest

from accelsim.workload import load_model
from accelsim.workload import transforms as T
from accelsim.workload.mobilenet_arch import MOBILENET_V2_STAGES, make_divisible
from codesign.errors import CodesignError
from codesign.spaces import transforms as G
from codesign.spaces.space import HeadGene, NetworkGenome, StageGene, build_network
from codesign.spaces.zoo_genomes import ZOO_GENOMES, zoo_genome

# build_network(zoo_genome(name)) and load_model(name): MACs and parameters at the zoo's defaults
ZOO = {
    "mobilenet_v2": (300_774_272, 3_487_816),
    "mobilenet_v3_large": (216_589_760, 5_470_832),
    "mobilenet_v3_small": (56_510_400, 2_536_800),
    "efficientnet_b0": (385_814_752, 5_267_540),
    "efficientnet_edgetpu_s": (1_788_731_008, 5_412_672),
    "mnasnet_a1": (311_579_072, 3_870_294),
    "ssdlite_mobilenet_v2": (788_830_144, 4_311_637),
    "deeplabv3_mobilenet_v2": (2_740_709_056, 2_097_013),
    "lraspp_mobilenet_v3": (2_086_219_688, 3_209_210),
}


def _key(layer):
    return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.padding, layer.groups,
            layer.bias, layer.activation, layer.attrs, layer.dilation, layer.macs, layer.param_count)


def _mobilenet_v2(**changes) -> NetworkGenome:
    stages = tuple(StageGene("ibn", 3, t, n, c, s) for t, c, n, s in MOBILENET_V2_STAGES)
    return NetworkGenome(**{"resolution": 224, "stem_channels": 32, "stages": stages, "head_channels": 1280,
                            "depth_multiplier": 1.0, **changes})


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tracing runs small forward passes: on one thread they take a fraction of a second, where two
    threads on a busy machine wait on each other for seconds."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ zoo genomes
@pytest.mark.parametrize("name", list(ZOO))
def test_a_zoo_genome_builds_the_zoo_model(name):
    if name not in ("mobilenet_v2", "deeplabv3_mobilenet_v2"):   # the others are traced from torch
        pytest.importorskip("torch")
    zoo = load_model(name)   # built once: the only test that needs the zoo's own network
    net = build_network(zoo_genome(name))
    assert (net.macs, net.params) == (zoo.macs, zoo.params) == ZOO[name]
    assert [_key(layer) for layer in net.layers] == [_key(layer) for layer in zoo.layers]


def test_every_zoo_genome_is_tested():
    assert set(ZOO_GENOMES) == set(ZOO)


def test_mobilenet_v3_large_genome():
    g = zoo_genome("mobilenet_v3_large")
    # the 24- and 80-channel runs of different expansions are consecutive stages
    assert [(s.channels, s.expansion, s.depth) for s in g.stages] == [
        (16, 1, 1), (24, 4, 1), (24, 3, 1), (40, 3, 3), (80, 6, 1), (80, 2.5, 1), (80, 2.3, 2), (112, 6, 2),
        (160, 6, 3)]
    assert [s.se for s in g.stages] == [""] * 3 + ["mobilenet_v3"] + [""] * 3 + ["mobilenet_v3"] * 2
    assert [g.stage_activation(s) for s in g.stages] == ["relu"] * 4 + ["hardswish"] * 5
    assert isinstance(g.stages[1].expansion, int) and g.classifier_hidden == 1280
    net = build_network(g)
    # SE of the first 40-channel block: 72 expanded channels squeezed to make_divisible(72 / 4) = 24
    assert [(layer.name, layer.out_shape, layer.activation) for layer in net.layers if layer.block == "s3.b0"] == [
        ("s3.b0.expand", (56, 56, 72), "relu"), ("s3.b0.dw", (28, 28, 72), "relu"),
        ("s3.b0.se.pool", (1, 1, 72), ""), ("s3.b0.se.reduce", (1, 1, 24), "relu"),
        ("s3.b0.se.expand", (1, 1, 72), "hardsigmoid"), ("s3.b0.se.mul", (28, 28, 72), ""),
        ("s3.b0.project", (28, 28, 40), "")]
    assert net.layer("s6.b0.expand").out_shape[2] == 184   # round(80 * 2.3)
    assert [(layer.name, layer.out_shape[2], layer.activation) for layer in net.layers[-4:]] == [
        ("head", 960, "hardswish"), ("pool", 960, ""), ("classifier_hidden", 1280, "hardswish"),
        ("classifier", 1000, "")]


def test_efficientnet_squeeze_follows_the_block_input():
    net = build_network(zoo_genome("efficientnet_b0"))
    # a quarter of the block's input (16 for s1.b0, 24 for s1.b1), the block's SiLU, a sigmoid gate
    assert [(net.layer(f"s1.b{i}.se.reduce").out_shape[2], net.layer(f"s1.b{i}.se.reduce").activation,
             net.layer(f"s1.b{i}.se.expand").activation) for i in (0, 1)] == [(4, "silu", "sigmoid"),
                                                                              (6, "silu", "sigmoid")]


def test_zoo_genome_options():
    g = zoo_genome("mobilenet_v3_small", resolution=160, num_classes=10)
    assert (g.resolution, g.num_classes) == (160, 10)
    seg = zoo_genome("deeplabv3_mobilenet_v2", num_classes=5, output_stride=8)
    assert (seg.resolution, seg.head, seg.head_channels, seg.aspp) == (513, HeadGene("deeplabv3", 5, 8), 0, "none")
    assert zoo_genome("lraspp_mobilenet_v3").head == HeadGene("lraspp", 21, 16)
    assert zoo_genome("ssdlite_mobilenet_v2", num_classes=91).head == HeadGene("ssdlite", 91)
    assert zoo_genome("mobilenet_v2") == _mobilenet_v2()


@pytest.mark.parametrize("call, words", [
    (lambda: zoo_genome("resnet50"), "zoo genome 'resnet50': unknown model; expected one of mobilenet_v2, "),
    (lambda: zoo_genome("mobilenet_v2", output_stride=16),
     "zoo genome mobilenet_v2: output_stride: mobilenet_v2 is a classifier; only a segmenter"),
    (lambda: zoo_genome("ssdlite_mobilenet_v2", output_stride=16), "is a ssdlite detector"),
    (lambda: zoo_genome("lraspp_mobilenet_v3", output_stride=12),
     "zoo genome lraspp_mobilenet_v3: output_stride: expected 8, 16 or 32, got 12"),
    (lambda: zoo_genome("mnasnet_a1", resolution=0), "zoo genome mnasnet_a1: resolution: expected an integer in"),
    (lambda: zoo_genome("mnasnet_a1", num_classes=2.5), "zoo genome mnasnet_a1: num_classes: expected an integer"),
])
def test_zoo_genome_bad_inputs(call, words):
    with pytest.raises(CodesignError) as exc:
        call()
    assert words in str(exc.value) and "\n" not in str(exc.value)


# ------------------------------------------------------------------------------------ unchanged genomes
@pytest.mark.parametrize("genome, key, macs, params", [
    # keys, MACs and params computed before squeeze-excite, activations and the hidden layer existed
    (_mobilenet_v2(), "9d4f577e41179dc5", 300_774_272, 3_487_816),
    (dataclasses.replace(_mobilenet_v2(), resolution=320, head=HeadGene("ssdlite", 81), precision="int16",
                         stages=(dataclasses.replace(_mobilenet_v2().stages[0], precision="int8", block="fused_ibn"),)
                         + _mobilenet_v2().stages[1:]), "f1e091804623f378", 1_017_386_944, 4_320_565),
    (_mobilenet_v2(resolution=513, head=HeadGene("deeplabv3", 21, 16), depth_multiplier=0.75),
     "1a895f764b4b67be", 4_190_376_832, 3_715_413),
])
def test_a_genome_without_the_new_fields_is_unchanged(genome, key, macs, params):
    d = genome.to_dict()
    assert genome.key() == key
    assert not {"activation", "classifier_hidden", "aspp"} & set(d)
    assert all(set(s) <= {"block", "kernel", "expansion", "depth", "channels", "stride", "precision"}
               for s in d["stages"])
    net = build_network(genome)
    assert (net.macs, net.params) == (macs, params)
    assert NetworkGenome.from_dict(json.loads(json.dumps(d))) == genome


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0",
                                  "deeplabv3_mobilenet_v2", "lraspp_mobilenet_v3"])
def test_the_new_fields_round_trip(name):
    g = zoo_genome(name)
    d = json.loads(json.dumps(g.to_dict()))
    back = NetworkGenome.from_dict(d)
    assert back == g and back.key() == g.key()
    assert [type(s.expansion) for s in back.stages] == [type(s.expansion) for s in g.stages]
    # present only where set
    assert all(("se" in s) == bool(gene.se) and ("activation" in s) == bool(gene.activation)
               for s, gene in zip(d["stages"], g.stages))


@pytest.mark.parametrize("make, words", [
    (lambda: StageGene("ibn", 3, 6, 1, 16, 1, se="cbam"),
     "network genome: stage.se: expected '' (none), mobilenet_v3 or efficientnet, got 'cbam'"),
    (lambda: StageGene("ibn", 3, 6, 1, 16, 1, activation="swish"),
     "network genome: stage.activation: expected '' (the network's), relu, relu6, hardswish, silu, got 'swish'"),
    (lambda: StageGene("ibn", 3, -2.5, 1, 16, 1), "network genome: stage.expansion: expected a positive number"),
    (lambda: _mobilenet_v2(activation="tanh"), "network genome: activation: expected '' (relu6), relu, "),
    (lambda: _mobilenet_v2(classifier_hidden=-1), "network genome: classifier_hidden: expected a whole number >= 0"),
    (lambda: _mobilenet_v2(aspp="wide", head=HeadGene("deeplabv3", 21, 16)),
     "network genome: aspp: expected separable, dense, none, got 'wide'"),
    (lambda: NetworkGenome.from_dict({**_mobilenet_v2().to_dict(), "stages": [
        {"block": "ibn", "kernel": 3, "expansion": 1, "depth": 1, "channels": 16, "stride": 1, "se": "x"}]}),
     "network genome: stages[0].se: expected"),
])
def test_bad_new_fields(make, words):
    with pytest.raises(CodesignError) as exc:
        make()
    assert words in str(exc.value) and "\n" not in str(exc.value)


# ------------------------------------------------------------------------------------ torch twin
SE_GENOMES = [
    zoo_genome("mobilenet_v3_small", resolution=64, num_classes=10),
    # a fused stage with squeeze-excite, per-stage activations, no head conv
    dataclasses.replace(G.fuse_ibn(zoo_genome("efficientnet_b0", resolution=64), ["s1"]), head_channels=0,
                        classifier_hidden=96),
    zoo_genome("lraspp_mobilenet_v3", resolution=64),
    dataclasses.replace(zoo_genome("mnasnet_a1", resolution=64), head=HeadGene("ssdlite", 7), activation="hardswish"),
    zoo_genome("deeplabv3_mobilenet_v2", resolution=65, output_stride=8),
]


@pytest.mark.parametrize("genome", SE_GENOMES, ids=["v3small", "fused-se", "lraspp", "ssdlite-se", "deeplab-none"])
def test_the_torch_twin_traces_to_build_network(genome):
    pytest.importorskip("torch")
    from accelsim.workload.torch_import import from_torch
    from codesign.accuracy.torch_models import genome_module
    traced = from_torch(genome_module(genome), (3, genome.resolution, genome.resolution))
    net = build_network(genome)
    assert [_key(layer) for layer in traced.layers] == [_key(layer) for layer in net.layers]
    assert (traced.macs, traced.params) == (net.macs, net.params)


# ------------------------------------------------------------------------------------ transforms
def test_transforms_keep_squeeze_excite_and_activation():
    g = zoo_genome("mobilenet_v3_large")
    fused = G.fuse_ibn(g, ["s3"])
    assert fused.stages[3] == dataclasses.replace(g.stages[3], block="fused_ibn")
    assert G.unfuse(fused) == g
    net = build_network(fused)
    # the squeeze-excite follows the fused kxk conv
    assert [layer.name for layer in net.layers if layer.block == "s3.b0"] == [
        "s3.b0.expand", "s3.b0.se.pool", "s3.b0.se.reduce", "s3.b0.se.expand", "s3.b0.se.mul", "s3.b0.project"]
    assert net.layer("s3.b0.expand").kernel == (5, 5) and net.layer("s3.b0.expand").activation == "relu"
    narrow = G.scale_width(g, 0.5)
    assert (narrow.head_channels, narrow.classifier_hidden) == (480, 640)
    assert [s.se for s in narrow.stages] == [s.se for s in g.stages]
    # the squeezed width follows the new expanded width, by the stage's rule
    net = build_network(narrow)
    assert [net.layer(f"s{i}.b1.se.reduce").out_shape[2] for i in (3, 7, 8)] == \
        [make_divisible(net.layer(f"s{i}.b1.dw").out_shape[2] // 4) for i in (3, 7, 8)] == [24, 88, 120]
    kept = G.scale_width(g, 0.5, keep=["head"])
    assert (kept.head_channels, kept.classifier_hidden) == (960, 1280)
    no_head_conv = G.round_channels(zoo_genome("deeplabv3_mobilenet_v2"), 16)
    assert no_head_conv.head_channels == 0


@pytest.mark.parametrize("on_genome, on_network", [
    (lambda g: G.fuse_ibn(g, ["s2"]), lambda n: T.fuse_ibn(n, ["s2"])),
    (lambda g: G.scale_width(g, 1.25), lambda n: T.scale_width(n, 1.25)),
    (lambda g: G.scale_width(g, 1.5, keep=["head"]), lambda n: T.scale_width(n, 1.5, keep=["head"])),
    (lambda g: G.round_channels(g, 16, "down"), lambda n: T.round_channels(n, 16, "down")),
    (lambda g: G.scale_depth(g, 1.5), lambda n: T.scale_depth(n, 1.5)),
])
def test_genome_and_network_transforms_agree_with_activations_and_a_hidden_layer(on_genome, on_network):
    # EdgeTPU-S (no squeeze-excite, fused and plain blocks, ReLU) with a hidden layer and a per-stage activation;
    # widths chosen so that the stem and s0 (stride 1) do not become equal, where only the genome gains a residual
    g = zoo_genome("efficientnet_edgetpu_s", resolution=96)
    stages = list(g.stages)
    stages[3] = dataclasses.replace(stages[3], activation="hardswish")
    g = dataclasses.replace(g, stages=tuple(stages), classifier_hidden=512)
    assert build_network(on_genome(g)).layers == on_network(build_network(g)).layers
