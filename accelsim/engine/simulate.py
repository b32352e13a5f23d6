"""Validating wrapper around the kernels: ``simulate`` (one pair) and ``simulate_many`` (a batch).

Packing a network or hardware config into tables happens once per object (cached on it), so
re-simulating the same objects costs only the kernel call.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import Hardware, load_hardware
from ..errors import MappingError
from ..workload.arena import padded_param_bytes, plan_arena
from ..workload.ir import Network
from ..workload.packed import PackedNetwork
from . import tables as T
from .kernels import run_pairs, status_pairs

MIB = 1024.0 * 1024.0


def _cached(obj, key, build):
    d = obj.__dict__
    if key not in d:
        d[key] = build(obj)
    return d[key]


def packed_network(net: "Network | PackedNetwork") -> np.ndarray:
    if isinstance(net, PackedNetwork):
        return net.lay
    return _cached(net, "_accelsim_lay", T.pack_network)


def _layer_count(net: "Network | PackedNetwork") -> int:
    return net.n_layers if isinstance(net, PackedNetwork) else len(net.layers)


def packed_hardware(hw: Hardware) -> tuple:
    return _cached(hw, "_accelsim_hwt", lambda h: T.pack_hardware([h]))


def _layer_end(net: Network) -> np.ndarray:
    """``[number of layers]``: the network's end in the layer table, as the batch driver takes it."""
    return _cached(net, "_accelsim_end", lambda n: np.array([len(n.layers)], dtype=np.int64))


_ZERO = np.zeros(1, dtype=np.int64)   # one pair: network 0 on hardware 0, from row 0 (kernels only read it)


@dataclass(frozen=True)
class MemoryFigures:
    """What a network needs of a hardware config's memory, stored the config's way (channels padded
    to ``memory.channel_alignment``, the config's bytes per element)."""

    param_bytes: float                     # parameters as stored
    peak_activation_bytes: float           # arena planned greedy-by-size, in-place where allowed
    activation_lower_bound_bytes: float    # liveness bound over the same buffers

    @property
    def memory_bytes(self) -> float:
        return self.param_bytes + self.peak_activation_bytes


def memory_figures(net: "Network | PackedNetwork", hw: Hardware) -> MemoryFigures:
    """Parameter and activation memory of ``net`` on ``hw`` (cached on the network per storage rule)."""
    bpe = tuple((p.name, p.bytes_per_element) for p in hw.precisions)
    key = (int(hw.channel_alignment), bpe)
    cache = net.__dict__.setdefault("_accelsim_memory", {})
    figs = cache.get(key)
    if figs is None:
        if isinstance(net, PackedNetwork):
            figs = MemoryFigures(*net.memory_bytes(dict(bpe), key[0]))
        else:
            plan = plan_arena(net, dict(bpe), key[0])
            figs = MemoryFigures(float(padded_param_bytes(net, dict(bpe), key[0])), float(plan.peak_bytes),
                                 float(plan.lower_bound_bytes))
        cache[key] = figs
    return figs


def _precision_problem(net: Network, hw: Hardware) -> str | None:
    """The error naming a format a layer uses (its weights' when it has any, its activations') that
    ``hw`` does not list, or None. Whether a layer can run is decided by the engine's one rule,
    :func:`accelsim.engine.folds.runnable_units` (a format the config lacks has no MACs or vector
    ops there, so the kernel reports STATUS_NO_UNIT); this check only words that failure."""
    have = set(hw.precision_names)
    for layer in net.layers:
        if layer.op == "concat":
            continue
        need = [("weights", layer.weight_precision)] if layer.weight_elements else []
        need.append(("activations", layer.act_precision))
        for what, p in need:
            if p not in have:
                return (f"layer {layer.name!r} of {net.name} uses {p} {what}, but hardware {hw.name!r} "
                        f"supports {', '.join(hw.precision_names)}")
    return None


def _status_error(net: Network, hw: Hardware, layer_index: int, status: int) -> MappingError:
    layer = net.layers[layer_index]
    if status == T.STATUS_NO_TILING:
        return MappingError(f"layer {layer.name!r} of {net.name} ({layer.op} {layer.in_shape}->{layer.out_shape}) "
                            f"fits no tiling in the SRAM of hardware {hw.name!r} "
                            f"({hw.sram.total_kb:g} KiB); not even one filter window of one output fits")
    if hw.kind == "roofline":
        return MappingError(f"layer {layer.name!r} of {net.name} ({layer.op}) has no rate on hardware {hw.name!r}")
    return MappingError(f"layer {layer.name!r} of {net.name} ({layer.op}) has no unit to run on hardware "
                        f"{hw.name!r} (vector unit: {hw.vector.lanes} lanes, formats "
                        f"{', '.join(n for n, _ in hw.vector.ops_per_lane_per_cycle) or 'none'})")


_PLACEMENT = ("input_on_chip", "output_on_chip", "weights_on_chip", "fused_chain", "fuse_mode")


def placement_code(rec: dict) -> str:
    """Where a layer's input and output lived, for tables: D(RAM), S(RAM), or F(used line buffer)."""
    if rec["op"] == "concat":
        return "view"
    fused = rec.get("fused_chain") is not None
    first = fused and rec["fused_chain"] == rec["name"]
    i = "S" if rec["input_on_chip"] >= 1.0 else ("D" if rec["input_on_chip"] <= 0 else "D+S")
    if fused and not first:
        i = "F"
    o = "S" if rec["output_on_chip"] else "D"
    return f"{i}>{o}"


@dataclass(frozen=True, eq=False)
class Report:
    """Per-layer results (``per_layer[field, layer]``, fields in ``tables.OUT_NAMES``) and totals."""

    network: Network
    hardware: Hardware
    per_layer: np.ndarray

    def column(self, name: str) -> np.ndarray:
        return self.per_layer[T.OUT_NAMES.index(name)]

    # ---- totals ----
    @property
    def total_cycles(self) -> float:
        return float(self.per_layer[T.O_TOTAL].sum())

    @property
    def compute_cycles(self) -> float:
        return float(self.per_layer[T.O_COMPUTE].sum())

    @property
    def stall_cycles(self) -> float:
        return float(self.per_layer[T.O_STALL].sum())

    @property
    def latency_ms(self) -> float:
        return self.total_cycles / (self.hardware.clock_mhz * 1e3)

    @property
    def energy_pj(self) -> float:
        return float(self.per_layer[T.O_ENERGY].sum())

    @property
    def energy_mj(self) -> float:
        return self.energy_pj * 1e-9

    @property
    def dram_bytes(self) -> float:
        return float(self.per_layer[T.O_DRAM_R].sum() + self.per_layer[T.O_DRAM_W].sum())

    @property
    def sram_bytes(self) -> float:
        return float(self.per_layer[T.O_SRAM_R].sum() + self.per_layer[T.O_SRAM_W].sum())

    @property
    def utilization(self) -> float:
        """Time-weighted mean of per-layer utilisation of the unit each layer ran on."""
        t = self.per_layer[T.O_TOTAL]
        return float((self.per_layer[T.O_UTIL] * t).sum() / t.sum()) if t.sum() > 0 else 0.0

    @property
    def memory(self) -> MemoryFigures:
        return memory_figures(self.network, self.hardware)

    @property
    def param_bytes(self) -> float:
        """Parameter bytes as the hardware stores them (channels padded to its alignment)."""
        return self.memory.param_bytes

    @property
    def peak_activation_bytes(self) -> float:
        """Activation arena: offsets planned greedy-by-size, element-wise ops in place where the
        input dies, tensors padded to the hardware's channel alignment."""
        return self.memory.peak_activation_bytes

    @property
    def activation_lower_bound_bytes(self) -> float:
        """The liveness bound: the most bytes of (shared) activation buffers alive at one step."""
        return self.memory.activation_lower_bound_bytes

    @property
    def memory_bytes(self) -> float:
        return self.param_bytes + self.peak_activation_bytes

    @property
    def weights_on_chip(self) -> bool:
        """True when every parameter stays on chip across inferences (``memory.weights_resident``)."""
        w = self.per_layer[T.O_WEIGHTS_ON_CHIP]
        return bool(w.size and w.max() > 0)

    @property
    def budget_ok(self) -> bool:
        return self.memory_bytes <= self.hardware.memory_budget_mb * MIB

    def totals(self) -> dict:
        return {
            "network": self.network.name, "hardware": self.hardware.name,
            "macs": int(self.network.macs), "params": int(self.network.params),
            "total_cycles": self.total_cycles, "compute_cycles": self.compute_cycles,
            "stall_cycles": self.stall_cycles, "latency_ms": self.latency_ms, "energy_mj": self.energy_mj,
            "utilization": self.utilization, "dram_bytes": self.dram_bytes, "sram_bytes": self.sram_bytes,
            "param_bytes": self.param_bytes, "peak_activation_bytes": self.peak_activation_bytes,
            "activation_lower_bound_bytes": self.activation_lower_bound_bytes,
            "memory_budget_bytes": self.hardware.memory_budget_mb * MIB, "budget_ok": self.budget_ok,
            "activation_policy": self.hardware.activation_policy, "weights_on_chip": self.weights_on_chip,
            "channel_alignment": self.hardware.channel_alignment,
        }

    # ---- per-layer records ----
    def layers(self) -> list[dict]:
        out = []
        pl = self.per_layer
        for i, layer in enumerate(self.network.layers):
            rec = {"name": layer.name, "op": layer.op, "in_shape": list(layer.in_shape),
                   "out_shape": list(layer.out_shape), "kernel": list(layer.kernel),
                   "stride": list(layer.stride), "groups": layer.groups,
                   "weight_precision": layer.weight_precision, "act_precision": layer.act_precision,
                   "macs": layer.macs, "unit": T.UNIT_NAMES[int(pl[T.O_UNIT, i])]}
            for f, name in enumerate(T.OUT_NAMES):
                if name in ("unit", "status") or name in _PLACEMENT:
                    continue
                v = float(pl[f, i])
                rec[name] = v if np.isfinite(v) else None
            chain = int(pl[T.O_FUSED_CHAIN, i])
            rec.update(input_on_chip=float(pl[T.O_INPUT_ON_CHIP, i]), output_on_chip=bool(pl[T.O_OUTPUT_ON_CHIP, i]),
                       weights_on_chip=bool(pl[T.O_WEIGHTS_ON_CHIP, i]),
                       fused_chain=self.network.layers[chain - 1].name if chain else None,
                       fuse_mode=T.FUSE_MODES[int(pl[T.O_FUSE_MODE, i])] or None)
            out.append(rec)
        return out

    def to_json(self) -> str:
        return json.dumps({"totals": self.totals(), "layers": self.layers()}, indent=1)

    def to_csv(self) -> str:
        recs = self.layers()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(recs[0]))
        w.writeheader()
        for r in recs:
            w.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
        return buf.getvalue()

    def table(self, max_rows: int | None = None) -> str:
        """Fixed-width per-layer table plus totals, for the terminal."""
        head = f"{'layer':<22}{'op':<9}{'unit':<7}{'in>out':<7}{'out shape':>15}{'MACs':>12}{'compute':>11}" \
               f"{'stall':>10}{'total':>11}{'util':>7}{'DRAM KiB':>10}{'energy uJ':>11}"
        lines = [head, "-" * len(head)]
        recs = self.layers()
        for r in recs[:max_rows] if max_rows else recs:
            shape = "x".join(map(str, r["out_shape"]))
            lines.append(f"{r['name'][:21]:<22}{r['op']:<9}{r['unit']:<7}{placement_code(r):<7}{shape:>15}{r['macs']:>12,}"
                         f"{r['compute_cycles']:>11,.0f}{r['stall_cycles']:>10,.0f}{r['total_cycles']:>11,.0f}"
                         f"{r['utilization']:>7.1%}{(r['dram_read_bytes'] + r['dram_write_bytes']) / 1024:>10,.1f}"
                         f"{r['energy_pj'] / 1e6:>11.2f}")
        t = self.totals()
        lines += ["-" * len(head),
                  f"{self.network.name} on {self.hardware.name} ({self._memory_words(t)}): {t['latency_ms']:.4f} ms "
                  f"({t['total_cycles']:,.0f} cycles = {t['compute_cycles']:,.0f} compute + "
                  f"{t['stall_cycles']:,.0f} stall), utilisation {t['utilization']:.1%}, "
                  f"energy {t['energy_mj']:.4f} mJ, DRAM {t['dram_bytes'] / MIB:.2f} MiB",
                  f"MACs {t['macs']:,}  params {t['params']:,}  memory {t['param_bytes'] / MIB:.2f} MiB params + "
                  f"{t['peak_activation_bytes'] / MIB:.2f} MiB activation arena = "
                  f"{(t['param_bytes'] + t['peak_activation_bytes']) / MIB:.2f} MiB of "
                  f"{self.hardware.memory_budget_mb:g} MiB budget: {'OK' if t['budget_ok'] else 'OVER BUDGET'}"]
        return "\n".join(lines)

    def _memory_words(self, t: dict) -> str:
        if self.hardware.kind == "roofline":
            return "roofline"
        return f"{t['activation_policy']} activations{', weights on chip' if t['weights_on_chip'] else ''}"

    # ---- grouped records ----
    def by_block(self) -> list[dict]:
        """Per-block sums of the per-layer records (see :mod:`accelsim.engine.grouping`)."""
        from .grouping import group_layers
        return group_layers(self, "block")

    def by_stage(self) -> list[dict]:
        """Per-stage sums of the per-layer records (see :mod:`accelsim.engine.grouping`)."""
        from .grouping import group_layers
        return group_layers(self, "stage")


def simulate(network: Network, hardware: "Hardware | str") -> Report:
    """Simulate one network on one hardware config; raises MappingError if a layer cannot run.

    The error is worded only when the kernel reports a layer it could not run (a non-zero status):
    a format the config lacks leaves the layer no unit (STATUS_NO_UNIT), so checking the formats
    first, as the error's wording does, finds every such case and names the first format missing."""
    hw = load_hardware(hardware)
    lay = packed_network(network)
    hwt, macs, vops, emac, pbytes = packed_hardware(hw)
    out = np.empty((T.N_OUT_FIELDS, lay.shape[1]))
    run_pairs(lay, _ZERO, _layer_end(network), hwt, macs, vops, emac, pbytes, _ZERO, _ZERO, _ZERO, out)
    status = out[T.O_STATUS]
    if status.any():
        problem = _precision_problem(network, hw)
        if problem:
            raise MappingError(problem)
        bad = int(np.flatnonzero(status)[0])
        raise _status_error(network, hw, bad, int(status[bad]))
    return Report(network, hw, out)


@dataclass(frozen=True, eq=False)
class ManyResult:
    """Results of ``simulate_many``: arrays indexed [network, hardware] (or [pair] with ``pairs``)."""

    networks: tuple
    hardware: tuple
    pair_net: np.ndarray
    pair_hw: np.ndarray
    row_start: np.ndarray
    per_layer: np.ndarray
    shape: tuple

    def _sum(self, field: int) -> np.ndarray:
        vals = np.add.reduceat(self.per_layer[field], self.row_start) if self.per_layer.shape[1] else \
            np.zeros(len(self.row_start))
        return vals.reshape(self.shape)

    @property
    def feasible(self) -> np.ndarray:
        return (self._sum(T.O_STATUS) == 0)

    @property
    def failing_share(self) -> np.ndarray:
        """Share of each pair's layers that cannot run (0 where the pair is feasible)."""
        return _failing_share(self.per_layer[T.O_STATUS], self.row_start, self.networks, self.pair_net, self.shape)

    @property
    def total_cycles(self) -> np.ndarray:
        return np.where(self.feasible, self._sum(T.O_TOTAL), np.inf)

    @property
    def latency_ms(self) -> np.ndarray:
        clock = np.array([h.clock_mhz for h in self.hardware])[self.pair_hw].reshape(self.shape)
        return self.total_cycles / (clock * 1e3)

    @property
    def energy_mj(self) -> np.ndarray:
        return np.where(self.feasible, self._sum(T.O_ENERGY) * 1e-9, np.inf)

    @property
    def dram_bytes(self) -> np.ndarray:
        return self._sum(T.O_DRAM_R) + self._sum(T.O_DRAM_W)

    @property
    def memory_bytes(self) -> np.ndarray:
        m = np.array([memory_figures(self.networks[n], self.hardware[h]).memory_bytes
                      for n, h in zip(self.pair_net, self.pair_hw)])
        return m.reshape(self.shape)

    @property
    def budget_ok(self) -> np.ndarray:
        b = np.array([h.memory_budget_mb * MIB for h in self.hardware])
        return self.memory_bytes <= b[self.pair_hw].reshape(self.shape)

    def report(self, *index) -> Report:
        """The full per-layer :class:`Report` of one pair."""
        p = int(np.ravel_multi_index(index, self.shape))
        net = self.networks[self.pair_net[p]]
        if isinstance(net, PackedNetwork):
            raise MappingError(f"report: network {net.name} was simulated from its rows (a PackedNetwork); a "
                               "per-layer report names layers: simulate the Network built from it")
        r = self.row_start[p]
        return Report(net, self.hardware[self.pair_hw[p]], self.per_layer[:, r:r + len(net.layers)])


def _pairs_layout(networks, hardware_list, pairs: bool, what: str) -> tuple:
    """Packed tables and the (network, hardware) pair index shared by the batch drivers."""
    nets = (networks,) if isinstance(networks, (Network, PackedNetwork)) else tuple(networks)
    hws = tuple(load_hardware(h) for h in hardware_list)
    if not nets or not hws:
        raise MappingError(f"{what}: needs at least one network and one hardware config")
    lays = [packed_network(n) for n in nets]
    sizes = np.array([l.shape[1] for l in lays], dtype=np.int64)
    layer_end = np.cumsum(sizes)
    layer_start = layer_end - sizes
    lay = np.ascontiguousarray(np.concatenate(lays, axis=1))
    # each distinct config packed once (a search scores a batch on one fixed config): the kernel reads
    # column hw_column[h] for config h
    column, distinct = {}, []
    for h in hws:
        if id(h) not in column:
            column[id(h)] = len(distinct)
            distinct.append(h)
    hw_column = np.array([column[id(h)] for h in hws], dtype=np.int64)
    hwt, macs, vops, emac, pbytes = T.pack_hardware(distinct)
    if pairs:
        if len(nets) != len(hws):
            raise MappingError(f"{what}(pairs=True): {len(nets)} networks but {len(hws)} hardware configs")
        pair_net = np.arange(len(nets), dtype=np.int64)
        pair_hw = np.arange(len(hws), dtype=np.int64)
        shape = (len(nets),)
    else:
        pair_net = np.repeat(np.arange(len(nets), dtype=np.int64), len(hws))
        pair_hw = np.tile(np.arange(len(hws), dtype=np.int64), len(nets))
        shape = (len(nets), len(hws))
    rows = sizes[pair_net]
    row_start = (np.cumsum(rows) - rows).astype(np.int64)
    return (nets, hws, lay, layer_start, layer_end, (hwt, macs, vops, emac, pbytes), pair_net, pair_hw,
            hw_column[pair_hw], row_start, int(rows.sum()), shape)


def simulate_many(networks: "Network | Sequence[Network]", hardware_list: Sequence, pairs: bool = False) -> ManyResult:
    """Evaluate every network on every hardware config (or zip them with ``pairs=True``) in one call.

    Pairs that cannot run (unsupported precision, no tiling fits) are marked infeasible
    (``feasible`` False, latency inf) instead of raising, so sweeps over random configs go on.
    """
    nets, hws, lay, start, end, (hwt, macs, vops, emac, pbytes), pair_net, pair_hw, pair_col, row_start, n_rows, \
        shape = _pairs_layout(networks, hardware_list, pairs, "simulate_many")
    out = np.empty((T.N_OUT_FIELDS, n_rows))
    run_pairs(lay, start, end, hwt, macs, vops, emac, pbytes, pair_net, pair_col, row_start, out)
    return ManyResult(nets, hws, pair_net, pair_hw, row_start, out, shape)


def failing_share(networks: "Network | Sequence[Network]", hardware_list: Sequence, pairs: bool = False) -> np.ndarray:
    """Share of each pair's layers that cannot run (no unit for their formats, or not even one
    filter window fits the SRAM), decided exactly as :func:`simulate_many` decides ``feasible`` but
    without simulating; for scorers that predict instead of simulating (the estimator)."""
    nets, hws, lay, start, end, (hwt, macs, vops, emac, pbytes), pair_net, pair_hw, pair_col, row_start, n_rows, \
        shape = _pairs_layout(networks, hardware_list, pairs, "failing_share")
    status = np.zeros(n_rows)
    status_pairs(lay, start, end, hwt, macs, vops, pbytes, pair_net, pair_col, row_start, status)
    return _failing_share(status, row_start, nets, pair_net, shape)


def _failing_share(status, row_start, nets, pair_net, shape) -> np.ndarray:
    """Per pair, the share of its layers whose status is not OK."""
    bad = (status != 0).astype(float)
    counts = np.array([_layer_count(nets[n]) for n in pair_net], dtype=float)
    share = np.add.reduceat(bad, row_start) / counts if bad.size else np.zeros(len(pair_net))
    return share.reshape(shape)
