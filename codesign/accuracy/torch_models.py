"""PyTorch modules for codesign network genomes, so accuracy signals (zero-shot proxies, short
training) can score the same networks the simulator costs.

``genome_module(g)`` has the structure of ``space.build_network(g)`` layer for layer: every conv is
followed by a BatchNorm (which ``accelsim.workload.torch_import.from_torch`` folds into the conv as
its bias, as the IR's convs carry one), the activation the IR fuses (the genome's: ReLU6 unless it
names another), a squeeze-excite where the stage has one and a residual add where the IR has one.
The blocks are the zoo's ``InvertedResidual``, whose expand/depthwise/SE/project rules are the ones
``NetworkBuilder.ibn`` / ``fused_ibn`` follow.

A genome with a task head (:class:`~codesign.spaces.space.HeadGene`) becomes a :class:`HeadedGenomeNet`:
the same backbone, dilated past a segmenter's output stride, then :class:`~accelsim.workload.torch_zoo.SSDLiteHead` (returns boxes
and scores), :class:`~accelsim.workload.torch_zoo.LRASPPHead` or :class:`~accelsim.workload.torch_zoo.DeepLabV3Head` (return (N, classes, H, W) logits), each the
layer-for-layer twin of its builder in :mod:`accelsim.workload.heads`.
"""

from __future__ import annotations

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy.torch_models"):
    import torch
    import torch.nn as nn

from accelsim.workload.torch_zoo import DeepLabV3Head, InvertedResidual, LRASPPHead, SSDLiteHead, conv_bn

from ..spaces.space import DEFAULT_ACTIVATION, NetworkGenome, StageGene, head_taps, squeeze_excite

# the torch module of each activation name the IR uses (space.ACTIVATIONS and the SE gates)
_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "silu": nn.SiLU,
                "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid}


def _block(g: NetworkGenome, stage: StageGene, cin: int, stride: int, dilation: int = 1) -> InvertedResidual:
    """One block of ``stage`` on ``cin`` channels, with the rules of ``NetworkBuilder.ibn`` / ``fused_ibn``:
    mid = round(cin * expansion), the stage's activation and squeeze-excite; a dilation > 1 replaces
    the stride."""
    mid = int(round(cin * stage.expansion))
    act = g.stage_activation(stage)
    squeeze, se_act, gate = squeeze_excite(stage.se, cin, mid, act)
    se = dict(se=squeeze, se_act=_ACTIVATIONS[se_act], se_gate=_ACTIVATIONS[gate]) if squeeze else {}
    return InvertedResidual(cin, stage.channels, stage.kernel, stride, mid, act=_ACTIVATIONS[act],
                            fused=stage.block == "fused_ibn", dilation=dilation, **se)


class GenomeNet(nn.Module):
    """Stem 3x3/2 conv, the genome's stages of (fused) IBN blocks, 1x1 head conv (if any), pool,
    [hidden linear + activation,] linear."""

    def __init__(self, genome: NetworkGenome):
        super().__init__()
        g = genome
        act = _ACTIVATIONS[g.activation or DEFAULT_ACTIVATION]
        layers = [conv_bn(3, g.stem_channels, 3, 2, act=act)]
        c = g.stem_channels
        for stage, depth in zip(g.stages, g.stage_depths()):
            for i in range(depth):
                layers.append(_block(g, stage, c, stage.stride if i == 0 else 1))
                c = stage.channels
        if g.head_channels:
            layers.append(conv_bn(c, g.head_channels, 1, act=act))
            c = g.head_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        if g.classifier_hidden:
            self.classifier = nn.Sequential(nn.Linear(c, g.classifier_hidden), act(),
                                            nn.Linear(g.classifier_hidden, g.num_classes))
        else:
            self.classifier = nn.Linear(c, g.num_classes)
        self.input_shape = (3, g.resolution, g.resolution)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class HeadedGenomeNet(nn.Module):
    """A genome with a task head: stem, stages (dilated past a segmenter's output stride, as
    ``build_network``), 1x1 head conv (if any), then the head on the maps ``head_taps`` names."""

    def __init__(self, genome: NetworkGenome):
        super().__init__()
        g, h = genome, genome.head
        taps = head_taps(g)
        self.kind, self.ssd_stage, self.low_stage = h.kind, taps.get("ssd_stage"), taps.get("low_stage")
        act = _ACTIVATIONS[g.activation or DEFAULT_ACTIVATION]
        self.stem = conv_bn(3, g.stem_channels, 3, 2, act=act)
        c, stages, self.ssd_expand, self.ssd_rest = g.stem_channels, [], None, None
        widths = []
        for si, (stage, depth, (_, dilation, _)) in enumerate(zip(g.stages, g.stage_depths(), taps["plan"])):
            blocks = []
            for i in range(depth):
                blocks.append(_block(g, stage, c, stage.stride if i == 0 else 1, dilation))
                if si == self.ssd_stage and i == 0:   # SSDLite's first map: block 0's expansion conv, if any
                    split = stage.block == "ibn" and int(round(c * stage.expansion)) != c
                    self.ssd_expand = blocks[0].block[0] if split else None
                    self.ssd_rest = nn.Sequential(*blocks[0].block[1:]) if split else blocks[0]
                    self.ssd_channels = int(round(c * stage.expansion)) if split else c
                    blocks = []
                c = stage.channels
            stages.append(nn.Sequential(*blocks))
            widths.append(c)
        self.stages = nn.ModuleList(stages)
        self.head_conv = conv_bn(c, g.head_channels, 1, act=act) if g.head_channels else nn.Identity()
        high = g.head_channels or c
        if h.kind == "ssdlite":
            self.head = SSDLiteHead(self.ssd_channels, high, h.num_classes)
        elif h.kind == "lraspp":
            self.head = LRASPPHead(widths[self.low_stage], high, h.num_classes)
        else:
            self.head = DeepLabV3Head(high, h.num_classes, h.output_stride, aspp=g.aspp)
        self.input_shape = (3, g.resolution, g.resolution)

    def forward(self, x):
        size = x.shape[-2:]
        y, low, first = self.stem(x), None, None
        for si, stage in enumerate(self.stages):
            if si == self.ssd_stage:
                first = y if self.ssd_expand is None else self.ssd_expand(y)
                y = self.ssd_rest(first)
            y = stage(y)
            if si == self.low_stage:
                low = y
        y = self.head_conv(y)
        if self.kind == "ssdlite":
            return self.head(first, y)
        if self.kind == "lraspp":
            return self.head(low, y, size)
        return self.head(y, size)


def genome_module(genome: NetworkGenome) -> nn.Module:
    """A freshly initialised torch module for ``genome`` (input (N, 3, resolution, resolution)): a
    :class:`GenomeNet` (logits (N, classes)), or a :class:`HeadedGenomeNet` for a genome with a head."""
    return GenomeNet(genome) if genome.head is None else HeadedGenomeNet(genome)
