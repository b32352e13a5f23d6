"""PyTorch modules for codesign network genomes, so accuracy signals (zero-shot proxies, short
training) can score the same networks the simulator costs.

``genome_module(g)`` has the structure of ``space.build_network(g)`` layer for layer: every conv is
followed by a BatchNorm (which ``accelsim.workload.torch_import.from_torch`` folds into the conv as
its bias, as the IR's convs carry one), ReLU6 where the IR fuses relu6, and a residual add where
the IR has one. The blocks are the zoo's ``InvertedResidual``, whose expand/depthwise/project
rules are the ones ``NetworkBuilder.ibn`` / ``fused_ibn`` follow.
"""

from __future__ import annotations

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy.torch_models"):
    import torch
    import torch.nn as nn

from accelsim.workload.torch_zoo import InvertedResidual, conv_bn

from ..spaces.space import NetworkGenome


class GenomeNet(nn.Module):
    """Stem 3x3/2 conv, the genome's stages of (fused) IBN blocks, 1x1 head conv, pool, linear."""

    def __init__(self, genome: NetworkGenome):
        super().__init__()
        g = genome
        layers = [conv_bn(3, g.stem_channels, 3, 2, act=nn.ReLU6)]
        c = g.stem_channels
        for stage, depth in zip(g.stages, g.stage_depths()):
            for i in range(depth):
                # same rounding as NetworkBuilder.ibn / fused_ibn: mid = round(cin * expansion)
                mid = int(round(c * stage.expansion))
                layers.append(InvertedResidual(c, stage.channels, stage.kernel, stage.stride if i == 0 else 1, mid,
                                               act=nn.ReLU6, fused=stage.block == "fused_ibn"))
                c = stage.channels
        layers.append(conv_bn(c, g.head_channels, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(g.head_channels, g.num_classes)
        self.input_shape = (3, g.resolution, g.resolution)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def genome_module(genome: NetworkGenome) -> nn.Module:
    """A freshly initialised torch module for ``genome`` (input (N, 3, resolution, resolution))."""
    return GenomeNet(genome)
