"""Learned performance estimator: per-operator-family MLPs on engineered features, summed per network.

Each family (``features.FAMILIES``: kxk conv, 1x1 conv / FC, depthwise, matmul, vector ops) has its
own small MLP. In *simulator* mode it predicts two log-ratios per layer: total cycles over the
roofline time (max(compute, compulsory bytes / bandwidth) + DRAM latency) and DRAM bytes over the
compulsory bytes. Energy is composed from those two predictions with the config's per-event
energies (as the engine composes it), and memory (parameters + peak activations) is exact from the
IR. A network's prediction is the sum over its layers, batched over thousands of (network,
hardware) pairs; identical (layer, config) rows are evaluated once.

In *measured* mode (:mod:`codesign.estimator.measured`) the same per-family MLPs predict one log-latency per
layer, trained end to end on the summed latency of whole measured operators or networks.

Checkpoints (:func:`accelsim.io.save_checkpoint`: plain tensors and lists behind a header with a
format version and a sha256, loaded with ``weights_only=True``) carry the feature schema and training
metadata; a corrupt file or one written for another feature schema fails with one line naming the
file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.estimator.model"):
    import torch
    from torch import nn

from accelsim.config import Hardware, load_hardware
from accelsim.engine import memory_figures
from accelsim.io import load_checkpoint, save_checkpoint
from accelsim.workload.ir import Network
from accelsim.workload.packed import PackedNetwork

from .. import __version__
from . import features as F
from ..errors import CodesignError

CHECKPOINT_FORMAT = "codesign-estimator"
CHECKPOINT_VERSION = 1
MODES = ("simulator", "measured")
OUTPUTS = {"simulator": ("log_cycles_over_roofline", "log_dram_over_compulsory"), "measured": ("log_latency",)}


class MLP(nn.Module):
    def __init__(self, n_in: int, hidden: int, depth: int, n_out: int):
        super().__init__()
        mods, d = [], n_in
        for _ in range(depth):
            mods += [nn.Linear(d, hidden), nn.SiLU()]
            d = hidden
        mods.append(nn.Linear(d, n_out))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


# A feature counts as outside the training range when it lies beyond the trained [min, max] by more
# than this share of the span, and at least RANGE_FLOOR (most features are log2 sizes: 0.05 is about
# 3.5 %); a feature that was constant in training (a dataflow, a placement flag) allows only the floor.
RANGE_TOLERANCE = 0.05
RANGE_FLOOR = 0.05


# An ensemble's members (the same data, other seeds) disagreeing on a network by more than this share
# mark the prediction as uncertain, as a feature outside the trained ranges does.
DISAGREEMENT = 0.05


class EstimatorRangeWarning(UserWarning):
    """Some predictions lie outside the ranges the estimator was trained on (extrapolations)."""


@dataclass
class FamilyModel:
    mlp: MLP
    x_mean: np.ndarray
    x_std: np.ndarray
    hidden: int
    depth: int
    x_min: np.ndarray | None = None      # per feature, over the training rows (None: an older checkpoint)
    x_max: np.ndarray | None = None

    def set_range(self, X: np.ndarray) -> None:
        """Record the per-feature range of the rows this family was trained on."""
        X = np.asarray(X, dtype=np.float64)
        self.x_min, self.x_max = X.min(axis=0), X.max(axis=0)

    def beyond(self, X: np.ndarray) -> np.ndarray:
        """``[row, feature]``: how far each value lies beyond the trained range and its tolerance (0 inside)."""
        if self.x_min is None:
            return np.zeros(X.shape)
        slack = np.maximum(RANGE_TOLERANCE * (self.x_max - self.x_min), RANGE_FLOOR)
        return np.maximum(np.maximum(self.x_min - slack - X, X - self.x_max - slack), 0.0)

    def all_inside(self, X: np.ndarray) -> bool:
        """True when every value lies within the trained range and its tolerance (:meth:`beyond` is
        all zeros), found with comparisons alone; False when any is outside or NaN."""
        if self.x_min is None:
            return True
        slack = np.maximum(RANGE_TOLERANCE * (self.x_max - self.x_min), RANGE_FLOOR)
        return bool(((X >= self.x_min - slack) & (X <= self.x_max + slack)).all())

    def forward(self, X: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(((X - self.x_mean) / self.x_std).astype(np.float32))
        with torch.no_grad():
            return self.mlp(x).numpy().astype(np.float64)

    def torch_forward(self, X: torch.Tensor) -> torch.Tensor:
        mean = torch.from_numpy(self.x_mean.astype(np.float32))
        std = torch.from_numpy(self.x_std.astype(np.float32))
        return self.mlp((X - mean) / std)


@dataclass
class Estimator:
    mode: str
    families: dict                       # family name -> FamilyModel
    metadata: dict = field(default_factory=dict)
    reference_hardware: Hardware | None = None   # measured mode: features are computed on this config
    output_scale: float = 1.0            # measured mode: per-layer prediction unit (e.g. ms per cycle)
    members: tuple = ()                  # further family dicts trained on the same rows with other seeds:
                                         # the prediction is their geometric mean, their spread a warning

    # ---------------------------------------------------------------------------- prediction
    def raw_outputs(self, lay: np.ndarray, hw_rows: dict, net: dict | None = None) -> tuple[np.ndarray, dict]:
        """Per-row model outputs ``[output, row]`` and the engineered quantities, with ``outside`` (rows
        whose features lie outside the trained ranges) and ``furthest`` (feature, value, trained min,
        trained max, row) of the row furthest out, or None. ``net``: per-row network figures
        (``features.NET_COLUMNS``)."""
        eng = F.engineered(lay, hw_rows, net)
        n_out = len(OUTPUTS[self.mode])
        out = np.zeros((n_out, lay.shape[1]))
        outside = np.zeros(lay.shape[1], dtype=bool)
        furthest, distance = None, 0.0
        for f, name in enumerate(F.FAMILIES):
            m = eng["family"] == f
            if not m.any():
                continue
            if name not in self.families:
                raise CodesignError(f"estimator: no model for operator family {name!r} (the training data had "
                                    "no such layers); train on data that covers it")
            fm = self.families[name]
            X = eng["X"][m]
            outs = [fm.forward(X).T] + [member[name].forward(X).T for member in self.members]
            out[:, m] = np.mean(outs, axis=0)
            if self.members:
                eng.setdefault("member_out", np.zeros((len(outs), lay.shape[1])))[:, m] = [o[0] for o in outs]
            if fm.all_inside(X):   # the common case: nothing outside, nothing furthest
                continue
            beyond = fm.beyond(X)
            outside[m] = beyond.max(axis=1) > 0
            r, c = np.unravel_index(int(np.argmax(beyond)), beyond.shape)
            if beyond[r, c] > distance:
                distance = float(beyond[r, c])
                furthest = (F.FEATURE_NAMES[c], float(X[r, c]), float(fm.x_min[c]), float(fm.x_max[c]),
                            int(np.nonzero(m)[0][r]))
        eng["outside"], eng["furthest"] = outside, furthest
        return out, eng

    def predict_layers(self, lay: np.ndarray, hw_rows: dict, net: dict | None = None) -> dict:
        """Per layer row: ``cycles``, ``dram_bytes`` and ``energy_pj`` (simulator mode) or ``latency``,
        and ``outside`` (the row's features lie outside the trained ranges); ``furthest`` as in
        :meth:`raw_outputs`."""
        out, eng = self.raw_outputs(lay, hw_rows, net)
        where = {"outside": eng["outside"], "furthest": eng["furthest"]}
        if self.mode == "measured":
            lat = np.where(eng["free"], 0.0, eng["base_cycles"] * np.exp(np.clip(out[0], -30, 30)) * self.output_scale)
            return {"latency": lat, **where}
        cycles = np.where(eng["free"], 0.0, eng["base_cycles"] * np.exp(np.clip(out[0], -20, 20)))
        dram = np.where(eng["free"], 0.0, eng["dram_plan"] * np.exp(np.clip(out[1], -20, 20)))
        if "member_out" in eng:   # each member's cycles, for the spread of network totals
            where["member_cycles"] = np.where(eng["free"], 0.0,
                                              eng["base_cycles"] * np.exp(np.clip(eng["member_out"], -20, 20)))
        return {"cycles": cycles, "dram_bytes": dram, "energy_pj": F.compose_energy(eng, cycles, dram), **where}

    def predict_pairs(self, networks: Sequence[Network], hardware: Sequence, out_of_range: str = "warn") -> dict:
        """Totals for each (networks[i], hardware[i]) pair (a ``Network`` or its rows, a
        :class:`~accelsim.workload.packed.PackedNetwork`: the estimator reads the layer table and the
        memory figures, which both give), as arrays of length len(networks), and
        ``in_range`` (False where a layer's features lie outside the trained ranges: an extrapolation).
        ``out_of_range="warn"`` issues one :class:`EstimatorRangeWarning` per call when any pair is
        outside, naming the feature furthest out; ``"ignore"`` leaves that to the caller."""
        nets = list(networks)
        hws = [load_hardware(h) for h in hardware]
        if len(nets) != len(hws):
            raise CodesignError(f"estimator: {len(nets)} networks but {len(hws)} hardware configs")
        uniq_nets, net_idx = _unique_objects(nets)
        uniq_hws, hw_idx = _unique_objects(hws)
        return self._predict(uniq_nets, uniq_hws, net_idx, hw_idx, out_of_range)

    def predict(self, networks: "Network | Sequence[Network]", hardware_list: Sequence,
                out_of_range: str = "warn") -> dict:
        """Every network on every config: arrays ``[network, hardware]`` (``in_range`` as in
        :meth:`predict_pairs`)."""
        nets = [networks] if isinstance(networks, (Network, PackedNetwork)) else list(networks)
        hws = [load_hardware(h) for h in hardware_list]
        ni = np.repeat(np.arange(len(nets)), len(hws))
        hi = np.tile(np.arange(len(hws)), len(nets))
        res = self._predict(nets, hws, ni, hi, out_of_range)
        return {k: v.reshape(len(nets), len(hws)) for k, v in res.items()}

    def _predict(self, nets, hws, net_idx, hw_idx, out_of_range: str = "warn") -> dict:
        if out_of_range not in ("warn", "ignore"):
            raise CodesignError(f"estimator: out_of_range: expected warn or ignore, got {out_of_range!r}")
        if self.mode == "measured":
            hws_eff = [self.reference_hardware] * len(hws)
        else:
            hws_eff = hws
        lay, start, sizes = F.network_layer_table(nets)
        figs = [memory_figures(nets[n], hws[h]) for n, h in zip(net_idx, hw_idx)]
        # each pair's config, with its network's figures where the config keeps weights on chip (the
        # only case the network-level features read them): distinct states, then distinct layers
        # across all networks, then the distinct (layer, state) rows actually needed
        keeps = np.array([bool(hws_eff[h].weights_resident) for h in hw_idx], dtype=bool)
        state = np.stack([np.asarray(hw_idx, dtype=np.float64),
                          np.where(keeps, [f.param_bytes for f in figs], 0.0),
                          np.where(keeps, [f.peak_activation_bytes for f in figs], 0.0)], axis=1) \
            if len(figs) else np.zeros((0, 3))
        states, pair_state = unique_rows(state) if len(figs) else (state, np.zeros(0, np.int64))
        uniq, inverse = unique_rows(lay.T)
        rows_layer = np.concatenate([inverse[start[n]:start[n] + sizes[n]] for n in net_idx]) \
            if len(net_idx) else np.zeros(0, np.int64)
        rows_state = np.repeat(pair_state, sizes[np.asarray(net_idx)])
        code = rows_layer.astype(np.int64) * max(len(states), 1) + rows_state
        ucode, uinv = np.unique(code, return_inverse=True)
        st = states[ucode % max(len(states), 1)]
        hw_rows = F.take_rows(F.hardware_table(hws_eff), st[:, 0].astype(np.int64))
        pred = self.predict_layers(np.ascontiguousarray(uniq[ucode // max(len(states), 1)].T), hw_rows,
                                   {"param_bytes": st[:, 1], "peak_activation_bytes": st[:, 2]})
        pair_sizes = sizes[np.asarray(net_idx)]
        bounds = np.cumsum(pair_sizes) - pair_sizes

        def total(v):
            return np.add.reduceat(v[uinv], bounds) if len(uinv) else np.zeros(len(net_idx))

        furthest = pred["furthest"]
        in_range = self._in_range(pred["outside"][uinv], bounds,
                                  pred["member_cycles"][:, uinv] if "member_cycles" in pred else None,
                                  furthest, None if furthest is None else int(np.nonzero(uinv == furthest[4])[0][0]),
                                  out_of_range, lambda pair: f"{nets[net_idx[pair]].name} on {hws[hw_idx[pair]].name}")
        memory = np.array([f.memory_bytes for f in figs], dtype=float)
        if self.mode == "measured":
            return {"latency": total(pred["latency"]), "memory_bytes": memory, "in_range": in_range}
        cycles = total(pred["cycles"])
        clock = np.array([hws[h].array.clock_mhz for h in hw_idx], dtype=float)
        return {"cycles": cycles, "latency_ms": cycles / (clock * 1e3), "energy_mj": total(pred["energy_pj"]) * 1e-9,
                "dram_bytes": total(pred["dram_bytes"]), "memory_bytes": memory, "in_range": in_range}

    def predict_dataset(self, ds, out_of_range: str = "warn") -> dict:
        """Totals per pair of a loaded dataset, from its stored layer tables (no network rebuild), and
        ``in_range`` per pair (as in :meth:`predict_pairs`)."""
        lay, hw_rows = ds.layer_inputs()
        net = None
        if self.mode == "measured":
            hw_rows = F.take_rows(F.hardware_table([self.reference_hardware]), np.zeros(lay.shape[1], np.int64))
        else:
            net = ds.layer_network_figures()
        pred = self.predict_layers(lay, hw_rows, net)
        outside, furthest = pred.pop("outside"), pred.pop("furthest")
        member_cycles = pred.pop("member_cycles", None)
        start = ds.pairs["layer_start"]
        total = {k: np.add.reduceat(v, start) for k, v in pred.items()}
        in_range = self._in_range(outside, start, member_cycles, furthest, None if furthest is None else furthest[4],
                                  out_of_range, lambda pair: f"{ds.pairs['name'][pair]} on "
                                                             f"{ds.hardware['name'][ds.pairs['hw_row'][pair]]}")
        if self.mode == "measured":
            return {**total, "in_range": in_range}
        clock = ds.hardware["clock_mhz"][ds.pairs["hw_row"]]
        return {"cycles": total["cycles"], "latency_ms": total["cycles"] / (clock * 1e3),
                "energy_mj": total["energy_pj"] * 1e-9, "dram_bytes": total["dram_bytes"], "in_range": in_range}

    def _in_range(self, outside_rows, starts, member_rows, furthest, furthest_row, out_of_range, describe):
        """``in_range`` per pair from per-layer-row flags ``outside_rows`` (rows in pair order, pair i's
        rows from ``starts[i]``) and the members' per-row cycles ``member_rows`` (``[member, row]`` or
        None); with ``out_of_range="warn"``, one warning naming ``describe(pair)`` of the pair that holds
        the row furthest out (``furthest_row``), else of the first uncertain pair."""
        if len(outside_rows) == 0:
            return np.ones(len(starts), dtype=bool)
        outside = np.logical_or.reduceat(outside_rows, starts)
        in_range, disagree = _judge(outside, None if member_rows is None
                                    else np.add.reduceat(member_rows, starts, axis=1))
        if out_of_range == "warn" and not in_range.all():
            if outside.any():
                row = furthest_row if furthest_row is not None else int(np.nonzero(outside_rows)[0][0])
                pair = int(np.searchsorted(starts, row, side="right")) - 1
            else:
                pair = int(np.nonzero(disagree)[0][0])
            warn_outside(self, outside, disagree, furthest, describe(pair))
        return in_range

    # ---------------------------------------------------------------------------- files
    def save(self, path: "str | Path") -> None:
        blob = {"codesign_version": __version__, "mode": self.mode, "outputs": list(OUTPUTS[self.mode]),
                "schema": F.schema(), "families": _families_blob(self.families),
                "members": [_families_blob(m) for m in self.members],
                "metadata": _plain(self.metadata), "output_scale": float(self.output_scale),
                "reference_hardware": self.reference_hardware.name if self.reference_hardware else ""}
        save_checkpoint(path, blob, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)

    @classmethod
    def load(cls, path: "str | Path") -> "Estimator":
        path = Path(path)
        blob = load_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, what="estimator",
                               hint="; retrain with `codesign train-estimator`", error=CodesignError)
        if not isinstance(blob, dict):
            raise CodesignError(f"{path}: malformed estimator checkpoint (expected a mapping)")
        want = F.schema()
        have = blob.get("schema") or {}
        for key in want:
            if have.get(key) != want[key]:
                raise CodesignError(f"{path}: feature schema does not match this code ({key} differs: checkpoint "
                                    f"{_short(have.get(key))}, code {_short(want[key])}); retrain the estimator")
        mode = blob.get("mode")
        if mode not in MODES or list(blob.get("outputs", [])) != list(OUTPUTS[mode]):
            raise CodesignError(f"{path}: unknown estimator mode {mode!r} or outputs {blob.get('outputs')}")
        try:
            families = _families_from_blob(blob["families"], path, mode)
            members = tuple(_families_from_blob(m, path, mode) for m in blob.get("members") or ())
            if any(set(m) != set(families) for m in members):
                raise CodesignError(f"{path}: malformed estimator weights (members cover other families)")
        except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
            raise CodesignError(f"{path}: malformed estimator weights ({str(exc).splitlines()[0]})") from None
        ref = blob.get("reference_hardware") or ""
        return cls(mode, families, dict(blob.get("metadata") or {}), load_hardware(ref) if ref else None,
                   float(blob.get("output_scale", 1.0)), members)


def _families_blob(families: dict) -> dict:
    """Family models as plain tensors and numbers (a checkpoint's ``families`` or one of its ``members``)."""
    fams = {}
    for name, fm in families.items():
        fams[name] = {"state": {k: v.detach().clone() for k, v in fm.mlp.state_dict().items()},
                      "x_mean": torch.from_numpy(fm.x_mean.astype(np.float64)),
                      "x_std": torch.from_numpy(fm.x_std.astype(np.float64)),
                      "hidden": fm.hidden, "depth": fm.depth}
        if fm.x_min is not None:
            fams[name]["x_min"] = torch.from_numpy(fm.x_min.astype(np.float64))
            fams[name]["x_max"] = torch.from_numpy(fm.x_max.astype(np.float64))
    return fams


def _families_from_blob(blob: dict, path, mode: str) -> dict:
    families = {}
    for name, fb in blob.items():
        if name not in F.FAMILIES:
            raise CodesignError(f"{path}: unknown operator family {name!r} in checkpoint")
        mlp = MLP(len(F.FEATURE_NAMES), int(fb["hidden"]), int(fb["depth"]), len(OUTPUTS[mode]))
        mlp.load_state_dict(fb["state"])
        mlp.eval()
        families[name] = FamilyModel(mlp, fb["x_mean"].numpy().astype(np.float64),
                                     fb["x_std"].numpy().astype(np.float64), int(fb["hidden"]), int(fb["depth"]))
        if "x_min" in fb:
            families[name].x_min = fb["x_min"].numpy().astype(np.float64)
            families[name].x_max = fb["x_max"].numpy().astype(np.float64)
    return families


def _judge(outside: np.ndarray, member_totals: "np.ndarray | None") -> tuple[np.ndarray, np.ndarray]:
    """(in_range, disagree) per pair: a pair is in range when none of its layers lies outside the trained
    ranges and the ensemble's members (``[member, pair]`` totals) agree within ``DISAGREEMENT``."""
    disagree = np.zeros(len(outside), dtype=bool)
    if member_totals is not None and len(outside):
        disagree = member_totals.max(axis=0) > (1 + DISAGREEMENT) * member_totals.min(axis=0)
    return ~(outside | disagree), disagree


def outside_message(count: int, total: int, furthest, where: str, disagree: int = 0, members: int = 1) -> str:
    """One line: how many predictions lie outside the trained ranges (``count``) with the feature furthest
    out, and on how many more the ensemble's members disagree (``disagree``)."""
    if not count:
        return (f"estimator: its {members} members differ by over {DISAGREEMENT:.0%} on {disagree} of {total} "
                f"prediction{'s' if total != 1 else ''} (e.g. {where})")
    text = f"estimator: {count} of {total} prediction{'s' if total != 1 else ''} lie outside the ranges it was trained on"
    if furthest is None:
        text += f" (e.g. {where})"
    else:
        name, value, lo, hi, _ = furthest
        side = f"{value - hi:.3g} above" if value > hi else f"{lo - value:.3g} below"
        text += f"; furthest: {where}, feature {name} = {value:.4g}, {side} the trained {lo:.4g}..{hi:.4g}"
    if disagree:
        text += f"; on {disagree} more its {members} members differ by over {DISAGREEMENT:.0%}"
    return text


def warn_outside(est: "Estimator", outside: np.ndarray, disagree: np.ndarray, furthest, where: str) -> None:
    """One EstimatorRangeWarning for a call whose pairs ``outside`` / ``disagree`` are uncertain."""
    import warnings
    hint = ("; these are extrapolations: retrain on data that covers them, or score with "
            "scorer: {estimator: ..., fallback: engine}" if est.mode == "simulator" else
            "; these are extrapolations: add measurements that cover them")
    message = outside_message(int(outside.sum()), len(outside), furthest, where, int((disagree & ~outside).sum()),
                              1 + len(est.members))
    warnings.warn(message + hint, EstimatorRangeWarning, stacklevel=4)


def _plain(obj):
    """Metadata as plain JSON types (numpy scalars and tuples converted), loadable with weights_only."""
    import json

    def conv(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=conv))


def _short(v) -> str:
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."


_ROW_MIX = np.random.default_rng(0x5EED).integers(1, 2 ** 63, size=64, dtype=np.uint64) | np.uint64(1)


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D float array and each row's index among them, as
    ``np.unique(a, axis=0, return_inverse=True)`` gives (in another order), several times faster:
    rows are grouped by a 64-bit mix of their bytes, then checked equal to their group's first row
    (a collision falls back to ``np.unique``)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] > len(_ROW_MIX) or a.shape[0] == 0:
        uniq, inverse = np.unique(a, axis=0, return_inverse=True)
        return uniq, inverse.reshape(-1)
    x = (a + 0.0).view(np.uint64)            # + 0.0: -0.0 and 0.0 get the same bytes
    with np.errstate(over="ignore"):        # splitmix64's finaliser per word, then a weighted sum
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        h = (x * _ROW_MIX[:a.shape[1]]).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    uniq = a[first]
    if not np.array_equal(uniq[inverse], a):
        uniq, inverse = np.unique(a, axis=0, return_inverse=True)
        return uniq, inverse.reshape(-1)
    return uniq, inverse


def _unique_objects(objs: list) -> tuple[list, np.ndarray]:
    """Distinct objects (by identity) and each entry's index among them."""
    seen: dict[int, int] = {}
    uniq, idx = [], np.empty(len(objs), dtype=np.int64)
    for i, o in enumerate(objs):
        j = seen.get(id(o))
        if j is None:
            j = seen[id(o)] = len(uniq)
            uniq.append(o)
        idx[i] = j
    return uniq, idx


# -------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 128
    depth: int = 3
    epochs: int = 40
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-6
    val_fraction: float = 0.1       # workloads kept aside for model selection (best epoch)
    seed: int = 0
    threads: int = 2
    max_rows_per_family: int = 400_000

    def __post_init__(self):
        for key in ("hidden", "depth", "epochs", "batch_size", "threads", "max_rows_per_family"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise CodesignError(f"training config: {key}: expected an integer >= 1, got {v!r}")
        if not 0 < self.val_fraction < 1:
            raise CodesignError(f"training config: val_fraction: expected a share in (0, 1), got {self.val_fraction!r}")


def _standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and spread, in float64. A feature that did not vary in training (its spread is
    below float32 resolution of its value) gets spread 1: it reads 0 in every training row, so its
    weights learn nothing, and a config that moves it moves the output by its raw change, not by the
    round-off spread (a constant DRAM latency of 100 cycles read with spread 8e-6 turned a 20 % clock
    change into a 32,000-sigma input)."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return mean, np.where(std > 1e-5 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def new_family_model(X: np.ndarray, hidden: int, depth: int, n_out: int) -> FamilyModel:
    """An untrained family model standardised on, and recording the range of, the rows ``X``."""
    mean, std = _standardize(X)
    fm = FamilyModel(MLP(X.shape[1], hidden, depth, n_out), mean, std, hidden, depth)
    fm.set_range(X)
    return fm


def _fit_rows(X: np.ndarray, Y: np.ndarray, val: np.ndarray, cfg: TrainConfig, gen: torch.Generator,
              progress=None) -> tuple[FamilyModel, dict]:
    """Fit one family's MLP on per-row targets; keeps the weights of the best validation epoch."""
    mean, std = _standardize(X[~val])
    fm = FamilyModel(MLP(X.shape[1], cfg.hidden, cfg.depth, Y.shape[1]), mean, std, cfg.hidden, cfg.depth)
    Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
    Yt = torch.from_numpy(Y.astype(np.float32))
    tr = torch.from_numpy(np.nonzero(~val)[0])
    va = torch.from_numpy(np.nonzero(val)[0])
    # each output's squared error relative to its spread, so a widely spread second output (DRAM bytes:
    # zero for a layer whose tensors stay on chip, compulsory otherwise) does not drown the first (cycles)
    var = Y[~val].astype(np.float64).var(axis=0) if (~val).any() else np.ones(Y.shape[1])
    w = torch.from_numpy(np.minimum(1.0, var[0] / np.maximum(var, 1e-12)).astype(np.float32))
    opt = torch.optim.AdamW(fm.mlp.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, cfg.epochs * math.ceil(len(tr) / cfg.batch_size))
    # one-cycle schedule, warming up over the first 10 % of the steps; a short fit needs at least one
    # step on each side of the peak (10 steps at 10 % would put the peak at step 0), and under 4 steps
    # the rate stays constant
    pct = 0.1 if steps > 10 else 2.0 / steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=pct) \
        if steps >= 4 else None
    best = (float("inf"), None, -1)
    history = []
    for epoch in range(cfg.epochs):
        fm.mlp.train()
        perm = tr[torch.randperm(len(tr), generator=gen)]
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            loss = (((fm.mlp(Xt[b]) - Yt[b]) ** 2) * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        fm.mlp.eval()
        with torch.no_grad():
            sel = va if len(va) else tr[:4096]
            vloss = float((((fm.mlp(Xt[sel]) - Yt[sel]) ** 2) * w).mean())
        history.append(vloss)
        if vloss < best[0]:
            best = (vloss, {k: v.clone() for k, v in fm.mlp.state_dict().items()}, epoch)
        if progress is not None:
            progress(epoch, vloss)
    fm.mlp.load_state_dict(best[1])
    fm.mlp.eval()
    return fm, {"best_epoch": best[2], "val_mse": best[0], "rows": int(len(tr)), "val_rows": int(len(va)),
                "history": history}


def split_workloads(keys: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask: True for rows whose workload falls in the validation split (by hash, stable)."""
    uniq, inv = np.unique(keys, return_inverse=True)
    rng = np.random.default_rng(seed)
    chosen = rng.random(len(uniq)) < fraction
    return chosen[inv.reshape(-1)]


def training_rows(ds) -> dict:
    """Feasible, non-free layer rows of a dataset with their engineered features and targets."""
    pair = ds.layers["pair"]
    ok = ds.pairs["feasible"][pair] & (ds.layers["status"] == 0)
    rows = np.nonzero(ok)[0]
    lay = ds.layer_table(rows)
    hw_rows = F.take_rows({k: ds.hardware[k] for k in F.HW_COLUMNS}, ds.pairs["hw_row"][pair[rows]])
    eng = F.engineered(lay, hw_rows, ds.layer_network_figures(rows))
    keep = ~eng["free"]
    total = ds.layers["total_cycles"][rows]
    dram = ds.layers["dram_read_bytes"][rows] + ds.layers["dram_write_bytes"][rows]
    keep &= (total > 0) & (eng["base_cycles"] > 0)
    # DRAM bytes relative to the engine's tiling; a layer whose tensors all stay on chip moves none:
    # its target is a thousandth of the planned bytes (not log 0), so the target stays near 0
    dram_plan = np.maximum(eng["dram_plan"], 1e-9)
    Y = np.stack([np.log(np.maximum(total, 1e-9) / np.maximum(eng["base_cycles"], 1e-9)),
                  np.log(np.maximum(dram, 1e-3 * dram_plan) / dram_plan)], axis=1)
    return {"X": eng["X"][keep], "Y": Y[keep], "family": eng["family"][keep], "rows": rows[keep],
            "workload": ds.pairs["workload"][pair[rows[keep]]], "hw": ds.pairs["hw"][pair[rows[keep]]]}


def _hardware_range(ds) -> dict:
    """[min, max] over the training configs of the hardware numbers the features read."""
    hw = ds.hardware
    cols = {"clock_mhz": hw["clock_mhz"], "dram_gb_per_s": hw["dram_gb_per_s"],
            "dram_latency_ns": hw["dram_latency_cycles"] * 1e3 / hw["clock_mhz"],
            "dram_bytes_per_cycle": hw["dram_bytes_per_cycle"], "dram_latency_cycles": hw["dram_latency_cycles"],
            "rows": hw["rows"], "cols": hw["cols"], "lanes": hw["lanes"], "channel_alignment": hw["channel_alignment"]}
    return {k: [float(np.min(v)), float(np.max(v))] for k, v in cols.items()}


def train_estimator(ds, cfg: TrainConfig = TrainConfig(), progress: bool = True, log=None,
                    members: int = 1) -> Estimator:
    """Train the simulator-mode estimator on a loaded :class:`~codesign.estimator.dataset.Dataset`.

    Model selection (the best epoch) uses ``cfg.val_fraction`` of the *workloads* of ``ds``; the
    held-out evaluation data (``codesign validate-estimator``) is a separate dataset never seen here.
    ``members`` > 1 trains an ensemble: member k is the estimator of seed ``cfg.seed + k`` (its own
    validation split and initial weights); predictions are the members' geometric mean, and a
    network they disagree on by more than ``DISAGREEMENT`` is flagged like an extrapolation.
    """
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise CodesignError(f"training: members: expected a whole number >= 1, got {members!r}")
    t0 = time.perf_counter()
    est = _train_one(ds, cfg, progress, log)
    extra = []
    for k in range(1, members):
        if log:
            log(f"member {k + 1} of {members} (seed {cfg.seed + k})")
        extra.append(_train_one(ds, dataclasses.replace(cfg, seed=cfg.seed + k), progress, log).families)
    est.members = tuple(extra)
    est.metadata.update(members=members, seconds=time.perf_counter() - t0)
    return est


def _train_one(ds, cfg: TrainConfig, progress: bool, log) -> Estimator:
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    data = training_rows(ds)
    val = split_workloads(data["workload"], cfg.val_fraction, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    families, info = {}, {}
    from tqdm import tqdm
    for f, name in enumerate(F.FAMILIES):
        m = np.nonzero(data["family"] == f)[0]
        if len(m) == 0:
            continue
        if len(m) > cfg.max_rows_per_family:
            m = np.sort(rng.choice(m, cfg.max_rows_per_family, replace=False))
        bar = tqdm(total=cfg.epochs, desc=f"train {name} ({len(m):,} rows)", unit="epoch", disable=not progress)

        def tick(epoch, vloss, bar=bar):
            bar.update(1)
            bar.set_postfix(val_mse=f"{vloss:.2e}")

        fm, fi = _fit_rows(data["X"][m], data["Y"][m], val[m], cfg, gen, tick)
        bar.close()
        fm.set_range(data["X"][data["family"] == f])   # every row of the family, not just those fitted on
        families[name] = fm
        info[name] = {k: v for k, v in fi.items() if k != "history"}
        if log:
            log(f"{name}: {fi['rows']:,} rows, best epoch {fi['best_epoch']}, val MSE {fi['val_mse']:.3e}")
    pairs = ds.pairs
    net_kinds = np.isin(pairs["kind"], ("network", "zoo"))
    from .baselines import fit_constants, pair_baselines
    lay, hw_rows = ds.layer_inputs()
    raw = pair_baselines(lay, hw_rows, pairs["layer_start"])
    sel = pairs["feasible"] & (net_kinds if (net_kinds & pairs["feasible"]).any() else True)
    baselines = fit_constants({k: v[sel] for k, v in raw.items()}, pairs["total_cycles"][sel])
    meta = {"trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": time.perf_counter() - t0,
            "data": list(ds.sources), "config": dict(cfg.__dict__), "families": info,
            "layer_rows": int(len(data["Y"])), "pairs": int(ds.n_pairs),
            "seen_hardware": sorted(set(pairs["hw"].tolist())),
            "seen_networks": sorted(set(pairs["workload"][net_kinds].tolist())),
            "selection_networks": sorted(set(data["workload"][val].tolist()) & set(pairs["workload"][net_kinds].tolist())),
            "baselines": baselines, "torch": torch.__version__, "hardware_range": _hardware_range(ds)}
    return Estimator("simulator", families, meta)
