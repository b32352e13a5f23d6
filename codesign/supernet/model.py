"""The supernet's torch modules and the differentiable pieces of its objective.

:class:`Supernet` is the over-parameterised network: the skeleton's stem and head around one
:class:`MixedOp` per position, which holds every candidate's branch (:class:`BlockBranch`, layer for
layer what the IR builders emit, or :class:`Zero` for skip) and the position's architecture
parameters ``alpha``. Its forward pass runs one path (path binarisation), or with binary gates also
the inactive candidate of an architecture step; :meth:`Supernet.expected_latency_ms` is
``fixed + sum_pos softmax(alpha_pos) . lat[pos]``. :func:`derive` takes the argmax-alpha path as a
:class:`DerivedArch` (choices, IR network, genome).

Gradient pieces: :func:`binary_gate_alpha_grad`, ProxylessNAS's two-path BinaryConnect gradient
dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) over the two sampled candidates, and
:func:`combine_loss`, the architecture loss ``CE + w * (E[lat] - T) / T`` ("add") or
``CE * (E[lat] / T) ** w`` ("mul").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.supernet.model"):
    import torch
    from torch import nn

from accelsim.workload.ir import Network

from ..spaces.space import NetworkGenome
from .config import SKIP, SupernetConfig
from .latency import LatencyTable
from .skeleton import Candidate, Position, derived_genome, derived_network, positions


# ------------------------------------------------------------------------------------ torch modules
def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class BlockBranch(nn.Module):
    """A candidate's residual branch: layer for layer what ``NetworkBuilder.ibn``/``fused_ibn`` emit."""

    def __init__(self, cand: Candidate, cin: int, cout: int, stride: int):
        super().__init__()
        mid = int(round(cin * cand.expansion))
        if cand.block == "ibn":
            layers = [_conv_bn(cin, mid, 1)] if mid != cin else []
            layers.append(_conv_bn(mid, mid, cand.kernel, stride, groups=mid))
        else:
            layers = [_conv_bn(cin, mid, cand.kernel, stride)]
        layers.append(_conv_bn(mid, cout, 1, act=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Zero(nn.Module):
    """The skip candidate's branch (only at residual positions, so the block becomes the identity)."""

    def forward(self, x):
        return torch.zeros_like(x)


class MixedOp(nn.Module):
    """All candidates of one position and their architecture parameters ``alpha``."""

    def __init__(self, position: Position):
        super().__init__()
        self.position = position
        cin = position.in_shape[2]
        self.candidates = nn.ModuleList(Zero() if c.block == SKIP else
                                        BlockBranch(c, cin, position.out_channels, position.stride)
                                        for c in position.candidates)
        self.alpha = nn.Parameter(torch.zeros(len(position.candidates)))

    def forward(self, x, active: int, inactive: int | None = None, gates: torch.Tensor | None = None):
        """Run candidate ``active``; with ``gates`` (binary, requires grad) also ``inactive``, graph-free,
        so that backward yields dL/dgate for both."""
        y = self.candidates[active](x)
        if gates is not None:
            with torch.no_grad():
                other = self.candidates[inactive](x)
            y = gates[0] * y + gates[1] * other
        return x + y if self.position.residual else y


class Supernet(nn.Module):
    """The over-parameterised network: fixed stem and head around one MixedOp per position."""

    def __init__(self, cfg: SupernetConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.positions = positions(cfg)
        self.stem = _conv_bn(cfg.in_channels, cfg.stem_channels, 3, 2)
        self.mixed = nn.ModuleList(MixedOp(p) for p in self.positions)
        self.head = _conv_bn(self.positions[-1].out_channels, cfg.head_channels, 1)
        self.classifier = nn.Linear(cfg.head_channels, cfg.num_classes)
        self.reset_parameters(generator or torch.Generator().manual_seed(cfg.seed))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """ProxylessNAS's initialisation (He normal, fan-out), drawn from ``generator`` only."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                    m.bias.zero_()
            for mo in self.mixed:
                mo.alpha.zero_()

    def arch_parameters(self) -> list:
        return [m.alpha for m in self.mixed]

    def weight_parameters(self) -> list:
        arch = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x, path: Sequence[int], others: Sequence | None = None, gates: Sequence | None = None):
        """Logits along ``path`` (one candidate index per position); ``others``/``gates`` give the
        inactive candidate and binary gates of an architecture step (None entries: single path)."""
        x = self.stem(x)
        for i, m in enumerate(self.mixed):
            g = None if gates is None else gates[i]
            x = m(x, path[i], None if g is None else others[i], g)
        x = self.head(x).mean(dim=(2, 3))
        return self.classifier(x)

    def probs(self) -> list:
        """softmax(alpha) per position (tensors, differentiable)."""
        return [torch.softmax(m.alpha, dim=0) for m in self.mixed]

    def expected_latency_ms(self, table: LatencyTable) -> torch.Tensor:
        """fixed + sum_pos softmax(alpha_pos) . lat[pos], differentiable in alpha."""
        total = torch.zeros((), dtype=torch.float64, device=self.mixed[0].alpha.device)
        for p, lat in zip(self.probs(), table.block_ms):
            total = total + (p.double() * torch.as_tensor(lat, device=p.device)).sum()
        return total + table.fixed_ms

    def argmax_path(self) -> list:
        return [int(torch.argmax(m.alpha.detach()).item()) for m in self.mixed]

    def derive(self) -> "DerivedArch":
        return derive(self)


# ------------------------------------------------------------------------------------ derivation
@dataclass(frozen=True)
class DerivedArch:
    """The most probable candidate per position, as choices, an IR network and (if uniform) a genome."""

    choices: tuple                 # Candidate per position
    path: tuple                    # candidate index per position
    network: Network
    genome: NetworkGenome | None   # None when a stage's kept blocks differ

    @property
    def names(self) -> tuple:
        return tuple(c.name for c in self.choices)


def derive(supernet: Supernet, name: str = "supernet-derived") -> DerivedArch:
    """The argmax-alpha architecture of a supernet."""
    path = supernet.argmax_path()
    choices = tuple(p.candidates[j] for p, j in zip(supernet.positions, path))
    cfg = supernet.cfg
    return DerivedArch(choices, tuple(path), derived_network(cfg, choices, name), derived_genome(cfg, choices))


# ------------------------------------------------------------------------------------ gradient pieces
def binary_gate_alpha_grad(alpha_pair: torch.Tensor, gate_grad: torch.Tensor) -> torch.Tensor:
    """ProxylessNAS's BinaryConnect gradient over the sampled candidates:
    dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - sum_j p_j dL/dg_j),
    with p the softmax over ``alpha_pair``."""
    p = torch.softmax(alpha_pair, dim=0)
    return p * (gate_grad - (p * gate_grad).sum())


def combine_loss(ce: torch.Tensor, expected_ms: torch.Tensor, cfg: SupernetConfig, target_ms: float) -> torch.Tensor:
    """The architecture loss: "add" CE + w (E - T)/T, or "mul" CE (E/T)^w."""
    ratio = expected_ms.to(ce.dtype) / target_ms
    if cfg.loss_form == "mul":
        return ce * ratio ** cfg.latency_weight
    return ce + cfg.latency_weight * (ratio - 1.0)
