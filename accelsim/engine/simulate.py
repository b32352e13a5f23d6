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
from ..workload.ir import Network
from . import tables as T
from .kernels import run_pairs

MIB = 1024.0 * 1024.0


def _cached(obj, key, build):
    d = obj.__dict__
    if key not in d:
        d[key] = build(obj)
    return d[key]


def packed_network(net: Network) -> np.ndarray:
    return _cached(net, "_accelsim_lay", T.pack_network)


def packed_hardware(hw: Hardware) -> tuple:
    return _cached(hw, "_accelsim_hwt", lambda h: T.pack_hardware([h]))


def _precision_problem(net: Network, hw: Hardware) -> str | None:
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
                            f"({hw.sram.total_kb:g} KiB); even one output row does not fit")
    problem = _precision_problem(net, hw)
    if problem:
        return MappingError(problem)
    return MappingError(f"layer {layer.name!r} of {net.name} ({layer.op}) has no unit to run on hardware "
                        f"{hw.name!r} (vector unit: {hw.vector.lanes} lanes, formats "
                        f"{', '.join(n for n, _ in hw.vector.ops_per_lane_per_cycle) or 'none'})")


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
        return self.total_cycles / (self.hardware.array.clock_mhz * 1e3)

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
    def param_bytes(self) -> float:
        return float(self.network.param_bytes)

    @property
    def peak_activation_bytes(self) -> float:
        return float(self.network.peak_activation_bytes)

    @property
    def memory_bytes(self) -> float:
        return self.param_bytes + self.peak_activation_bytes

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
            "memory_budget_bytes": self.hardware.memory_budget_mb * MIB, "budget_ok": self.budget_ok,
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
                if name in ("unit", "status"):
                    continue
                v = float(pl[f, i])
                rec[name] = v if np.isfinite(v) else None
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
        head = f"{'layer':<22}{'op':<9}{'unit':<7}{'out shape':>15}{'MACs':>12}{'compute':>11}{'stall':>10}" \
               f"{'total':>11}{'util':>7}{'DRAM KiB':>10}{'energy uJ':>11}"
        lines = [head, "-" * len(head)]
        recs = self.layers()
        for r in recs[:max_rows] if max_rows else recs:
            shape = "x".join(map(str, r["out_shape"]))
            lines.append(f"{r['name'][:21]:<22}{r['op']:<9}{r['unit']:<7}{shape:>15}{r['macs']:>12,}"
                         f"{r['compute_cycles']:>11,.0f}{r['stall_cycles']:>10,.0f}{r['total_cycles']:>11,.0f}"
                         f"{r['utilization']:>7.1%}{(r['dram_read_bytes'] + r['dram_write_bytes']) / 1024:>10,.1f}"
                         f"{r['energy_pj'] / 1e6:>11.2f}")
        t = self.totals()
        lines += ["-" * len(head),
                  f"{self.network.name} on {self.hardware.name}: {t['latency_ms']:.4f} ms "
                  f"({t['total_cycles']:,.0f} cycles = {t['compute_cycles']:,.0f} compute + "
                  f"{t['stall_cycles']:,.0f} stall), utilisation {t['utilization']:.1%}, "
                  f"energy {t['energy_mj']:.4f} mJ, DRAM {t['dram_bytes'] / MIB:.2f} MiB",
                  f"MACs {t['macs']:,}  params {t['params']:,}  memory {t['param_bytes'] / MIB:.2f} MiB params + "
                  f"{t['peak_activation_bytes'] / MIB:.2f} MiB peak activations = "
                  f"{(t['param_bytes'] + t['peak_activation_bytes']) / MIB:.2f} MiB of "
                  f"{self.hardware.memory_budget_mb:g} MiB budget: {'OK' if t['budget_ok'] else 'OVER BUDGET'}"]
        return "\n".join(lines)


def simulate(network: Network, hardware: "Hardware | str") -> Report:
    """Simulate one network on one hardware config; raises MappingError if a layer cannot run."""
    hw = load_hardware(hardware)
    problem = _precision_problem(network, hw)
    if problem:
        raise MappingError(problem)
    lay = packed_network(network)
    hwt, macs, vops, emac = packed_hardware(hw)
    n = lay.shape[1]
    out = np.empty((T.N_OUT_FIELDS, n))
    zero = np.zeros(1, dtype=np.int64)
    run_pairs(lay, zero, np.array([n], dtype=np.int64), hwt, macs, vops, emac, T.PRECISION_BYTES,
              zero, zero, zero, out)
    bad = np.nonzero(out[T.O_STATUS])[0]
    if bad.size:
        raise _status_error(network, hw, int(bad[0]), int(out[T.O_STATUS, bad[0]]))
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
    def total_cycles(self) -> np.ndarray:
        return np.where(self.feasible, self._sum(T.O_TOTAL), np.inf)

    @property
    def latency_ms(self) -> np.ndarray:
        clock = np.array([h.array.clock_mhz for h in self.hardware])[self.pair_hw].reshape(self.shape)
        return self.total_cycles / (clock * 1e3)

    @property
    def energy_mj(self) -> np.ndarray:
        return np.where(self.feasible, self._sum(T.O_ENERGY) * 1e-9, np.inf)

    @property
    def dram_bytes(self) -> np.ndarray:
        return self._sum(T.O_DRAM_R) + self._sum(T.O_DRAM_W)

    @property
    def memory_bytes(self) -> np.ndarray:
        m = np.array([n.param_bytes + n.peak_activation_bytes for n in self.networks])
        return m[self.pair_net].reshape(self.shape)

    @property
    def budget_ok(self) -> np.ndarray:
        b = np.array([h.memory_budget_mb * MIB for h in self.hardware])
        return self.memory_bytes <= b[self.pair_hw].reshape(self.shape)

    def report(self, *index) -> Report:
        """The full per-layer :class:`Report` of one pair."""
        p = int(np.ravel_multi_index(index, self.shape))
        net = self.networks[self.pair_net[p]]
        r = self.row_start[p]
        return Report(net, self.hardware[self.pair_hw[p]], self.per_layer[:, r:r + len(net.layers)])


def simulate_many(networks: "Network | Sequence[Network]", hardware_list: Sequence, pairs: bool = False) -> ManyResult:
    """Evaluate every network on every hardware config (or zip them with ``pairs=True``) in one call.

    Pairs that cannot run (unsupported precision, no tiling fits) are marked infeasible
    (``feasible`` False, latency inf) instead of raising, so sweeps over random configs go on.
    """
    nets = (networks,) if isinstance(networks, Network) else tuple(networks)
    hws = tuple(load_hardware(h) for h in hardware_list)
    if not nets or not hws:
        raise MappingError("simulate_many: needs at least one network and one hardware config")
    lays = [packed_network(n) for n in nets]
    sizes = np.array([l.shape[1] for l in lays], dtype=np.int64)
    layer_end = np.cumsum(sizes)
    layer_start = layer_end - sizes
    lay = np.ascontiguousarray(np.concatenate(lays, axis=1))
    hwt, macs, vops, emac = T.pack_hardware(hws)
    if pairs:
        if len(nets) != len(hws):
            raise MappingError(f"simulate_many(pairs=True): {len(nets)} networks but {len(hws)} hardware configs")
        pair_net = np.arange(len(nets), dtype=np.int64)
        pair_hw = np.arange(len(hws), dtype=np.int64)
        shape = (len(nets),)
    else:
        pair_net = np.repeat(np.arange(len(nets), dtype=np.int64), len(hws))
        pair_hw = np.tile(np.arange(len(hws), dtype=np.int64), len(nets))
        shape = (len(nets), len(hws))
    rows = sizes[pair_net]
    row_start = (np.cumsum(rows) - rows).astype(np.int64)
    out = np.empty((T.N_OUT_FIELDS, int(rows.sum())))
    run_pairs(lay, layer_start, layer_end, hwt, macs, vops, emac, T.PRECISION_BYTES, pair_net, pair_hw,
              row_start, out)
    return ManyResult(nets, hws, pair_net, pair_hw, row_start, out, shape)
