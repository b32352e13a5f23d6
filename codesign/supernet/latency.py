"""The supernet's latency table: every candidate block measured *alone* at its position's input
shape on the target config (accelsim, or a trained :class:`~codesign.estimator.model.Estimator`), plus
the fixed stem and head; the expected latency over it is differentiable in the architecture
parameters (:meth:`codesign.supernet.model.Supernet.expected_latency_ms`).

Under the ``dram`` activation policy the engine costs each layer on its own, so with engine
latencies the table sum along a path equals the simulated latency of the derived network. Under
``resident`` or ``fused`` placement a block simulated alone reads its input from and writes its
output to DRAM, while inside the network those tensors may stay on chip, so the table is an
additive approximation (as in ProxylessNAS); the result reports both, and the gap between the
expected latency under the final softmax and the derived network's simulated latency. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from accelsim.config import Hardware, load_hardware
from accelsim.engine import simulate, simulate_many
from accelsim.errors import AccelsimError

from ..errors import CodesignError
from .config import SKIP, SupernetConfig
from .skeleton import candidate_network, head_network, positions, stem_network


# ------------------------------------------------------------------------------------ latency table
@dataclass(frozen=True)
class LatencyTable:
    """Latency of every candidate at every position on one hardware config, and of the fixed parts."""

    hardware: str
    source: str                 # "engine" or "estimator"
    block_ms: tuple             # per position: float64 array, one entry per candidate (skip: 0)
    stem_ms: float
    head_ms: float              # head conv + pooling + classifier

    @property
    def fixed_ms(self) -> float:
        return self.stem_ms + self.head_ms

    def path_ms(self, path: Sequence[int]) -> float:
        """Fixed parts plus the table entry of each chosen candidate."""
        return self.fixed_ms + float(sum(self.block_ms[i][j] for i, j in enumerate(path)))

    def uniform_ms(self) -> float:
        """Expected latency when every candidate is equally likely (alphas all equal)."""
        return self.fixed_ms + float(sum(v.mean() for v in self.block_ms))


def latency_table(cfg: SupernetConfig, hardware: "Hardware | str | None" = None, estimator=None) -> LatencyTable:
    """Each candidate block simulated alone at its position's input shape (or predicted by ``estimator``
    when ``cfg.latency_source`` is "estimator"), plus the stem and head, in ms."""
    hw = _load_hw(hardware if hardware is not None else cfg.hardware)
    pos = positions(cfg)
    nets, where = [stem_network(cfg), head_network(cfg)], []
    for p in pos:
        for j, cand in enumerate(p.candidates):
            if cand.block != SKIP:
                nets.append(candidate_network(cfg, p, cand))
                where.append((p.index, j))
    if cfg.latency_source == "engine":
        lat = simulate_many(nets, [hw]).latency_ms[:, 0]
        for i in np.nonzero(~np.isfinite(lat))[0]:
            try:
                simulate(nets[i], hw)
            except AccelsimError as exc:
                raise CodesignError(f"supernet: block {nets[i].name} cannot run on {hw.name}: {exc}") from None
    else:
        if estimator is None:
            raise CodesignError("supernet: latency_source is 'estimator' but no estimator was given")
        pred = estimator.predict(nets, [hw])
        key = "latency_ms" if "latency_ms" in pred else "latency"
        lat = np.asarray(pred[key], dtype=np.float64)[:, 0]
        if not np.all(np.isfinite(lat)) or np.any(lat < 0):
            raise CodesignError(f"supernet: the estimator predicted a negative or non-finite latency on {hw.name}")
    block = [np.zeros(len(p.candidates)) for p in pos]
    for (i, j), v in zip(where, lat[2:]):
        block[i][j] = v
    return LatencyTable(hw.name, cfg.latency_source, tuple(block), float(lat[0]), float(lat[1]))


def _load_hw(h) -> Hardware:
    try:
        return load_hardware(h)
    except AccelsimError as exc:
        raise CodesignError(str(exc)) from None
