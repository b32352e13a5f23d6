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


@dataclass
class FamilyModel:
    mlp: MLP
    x_mean: np.ndarray
    x_std: np.ndarray
    hidden: int
    depth: int

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

    # ---------------------------------------------------------------------------- prediction
    def raw_outputs(self, lay: np.ndarray, hw_rows: dict) -> tuple[np.ndarray, dict]:
        """Per-row model outputs ``[output, row]`` and the engineered quantities."""
        eng = F.engineered(lay, hw_rows)
        n_out = len(OUTPUTS[self.mode])
        out = np.zeros((n_out, lay.shape[1]))
        for f, name in enumerate(F.FAMILIES):
            m = eng["family"] == f
            if not m.any():
                continue
            if name not in self.families:
                raise CodesignError(f"estimator: no model for operator family {name!r} (the training data had "
                                    "no such layers); train on data that covers it")
            out[:, m] = self.families[name].forward(eng["X"][m]).T
        return out, eng

    def predict_layers(self, lay: np.ndarray, hw_rows: dict) -> dict:
        """Per layer row: ``cycles``, ``dram_bytes`` and ``energy_pj`` (simulator mode) or ``latency``."""
        out, eng = self.raw_outputs(lay, hw_rows)
        if self.mode == "measured":
            lat = np.where(eng["free"], 0.0, eng["base_cycles"] * np.exp(np.clip(out[0], -30, 30)) * self.output_scale)
            return {"latency": lat}
        cycles = np.where(eng["free"], 0.0, eng["base_cycles"] * np.exp(np.clip(out[0], -20, 20)))
        dram = np.where(eng["free"], 0.0, eng["dram_min"] * np.exp(np.clip(out[1], -20, 20)))
        return {"cycles": cycles, "dram_bytes": dram, "energy_pj": F.compose_energy(eng, cycles, dram)}

    def predict_pairs(self, networks: Sequence[Network], hardware: Sequence) -> dict:
        """Totals for each (networks[i], hardware[i]) pair, as arrays of length len(networks)."""
        nets = list(networks)
        hws = [load_hardware(h) for h in hardware]
        if len(nets) != len(hws):
            raise CodesignError(f"estimator: {len(nets)} networks but {len(hws)} hardware configs")
        uniq_nets, net_idx = _unique_objects(nets)
        uniq_hws, hw_idx = _unique_objects(hws)
        return self._predict(uniq_nets, uniq_hws, net_idx, hw_idx)

    def predict(self, networks: "Network | Sequence[Network]", hardware_list: Sequence) -> dict:
        """Every network on every config: arrays ``[network, hardware]``."""
        nets = [networks] if isinstance(networks, Network) else list(networks)
        hws = [load_hardware(h) for h in hardware_list]
        ni = np.repeat(np.arange(len(nets)), len(hws))
        hi = np.tile(np.arange(len(hws)), len(nets))
        res = self._predict(nets, hws, ni, hi)
        return {k: v.reshape(len(nets), len(hws)) for k, v in res.items()}

    def _predict(self, nets, hws, net_idx, hw_idx) -> dict:
        if self.mode == "measured":
            hws_eff = [self.reference_hardware] * len(hws)
        else:
            hws_eff = hws
        lay, start, sizes = F.network_layer_table(nets)
        # distinct layers across all networks, then distinct (layer, config) rows actually needed
        uniq, inverse = np.unique(lay.T, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        rows_layer = np.concatenate([inverse[start[n]:start[n] + sizes[n]] for n in net_idx]) \
            if len(net_idx) else np.zeros(0, np.int64)
        rows_hw = np.repeat(np.asarray(hw_idx), sizes[np.asarray(net_idx)])
        code = rows_layer.astype(np.int64) * len(hws) + rows_hw
        ucode, uinv = np.unique(code, return_inverse=True)
        hw_rows = F.take_rows(F.hardware_table(hws_eff), ucode % len(hws))
        pred = self.predict_layers(np.ascontiguousarray(uniq[ucode // len(hws)].T), hw_rows)
        pair_sizes = sizes[np.asarray(net_idx)]
        bounds = np.cumsum(pair_sizes) - pair_sizes

        def total(v):
            return np.add.reduceat(v[uinv], bounds) if len(uinv) else np.zeros(len(net_idx))

        memory = np.array([memory_figures(nets[n], hws[h]).memory_bytes for n, h in zip(net_idx, hw_idx)],
                          dtype=float)
        if self.mode == "measured":
            return {"latency": total(pred["latency"]), "memory_bytes": memory}
        cycles = total(pred["cycles"])
        clock = np.array([hws[h].array.clock_mhz for h in hw_idx], dtype=float)
        return {"cycles": cycles, "latency_ms": cycles / (clock * 1e3), "energy_mj": total(pred["energy_pj"]) * 1e-9,
                "dram_bytes": total(pred["dram_bytes"]), "memory_bytes": memory}

    def predict_dataset(self, ds) -> dict:
        """Totals per pair of a loaded dataset, from its stored layer tables (no network rebuild)."""
        lay, hw_rows = ds.layer_inputs()
        if self.mode == "measured":
            hw_rows = F.take_rows(F.hardware_table([self.reference_hardware]), np.zeros(lay.shape[1], np.int64))
        pred = self.predict_layers(lay, hw_rows)
        start = ds.pairs["layer_start"]
        total = {k: np.add.reduceat(v, start) for k, v in pred.items()}
        if self.mode == "measured":
            return total
        clock = ds.hardware["clock_mhz"][ds.pairs["hw_row"]]
        return {"cycles": total["cycles"], "latency_ms": total["cycles"] / (clock * 1e3),
                "energy_mj": total["energy_pj"] * 1e-9, "dram_bytes": total["dram_bytes"]}

    # ---------------------------------------------------------------------------- files
    def save(self, path: "str | Path") -> None:
        fams = {}
        for name, fm in self.families.items():
            fams[name] = {"state": {k: v.detach().clone() for k, v in fm.mlp.state_dict().items()},
                          "x_mean": torch.from_numpy(fm.x_mean.astype(np.float32)),
                          "x_std": torch.from_numpy(fm.x_std.astype(np.float32)),
                          "hidden": fm.hidden, "depth": fm.depth}
        blob = {"codesign_version": __version__, "mode": self.mode, "outputs": list(OUTPUTS[self.mode]),
                "schema": F.schema(), "families": fams,
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
        families = {}
        try:
            for name, fb in blob["families"].items():
                if name not in F.FAMILIES:
                    raise CodesignError(f"{path}: unknown operator family {name!r} in checkpoint")
                mlp = MLP(len(F.FEATURE_NAMES), int(fb["hidden"]), int(fb["depth"]), len(OUTPUTS[mode]))
                mlp.load_state_dict(fb["state"])
                mlp.eval()
                families[name] = FamilyModel(mlp, fb["x_mean"].numpy().astype(np.float64),
                                             fb["x_std"].numpy().astype(np.float64), int(fb["hidden"]), int(fb["depth"]))
        except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
            raise CodesignError(f"{path}: malformed estimator weights ({str(exc).splitlines()[0]})") from None
        ref = blob.get("reference_hardware") or ""
        return cls(mode, families, dict(blob.get("metadata") or {}), load_hardware(ref) if ref else None,
                   float(blob.get("output_scale", 1.0)))


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
    mean = X.mean(axis=0).astype(np.float64)
    std = X.std(axis=0).astype(np.float64)
    return mean, np.where(std > 1e-8, std, 1.0)


def _fit_rows(X: np.ndarray, Y: np.ndarray, val: np.ndarray, cfg: TrainConfig, gen: torch.Generator,
              progress=None) -> tuple[FamilyModel, dict]:
    """Fit one family's MLP on per-row targets; keeps the weights of the best validation epoch."""
    mean, std = _standardize(X[~val])
    fm = FamilyModel(MLP(X.shape[1], cfg.hidden, cfg.depth, Y.shape[1]), mean, std, cfg.hidden, cfg.depth)
    Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
    Yt = torch.from_numpy(Y.astype(np.float32))
    tr = torch.from_numpy(np.nonzero(~val)[0])
    va = torch.from_numpy(np.nonzero(val)[0])
    opt = torch.optim.AdamW(fm.mlp.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, cfg.epochs * math.ceil(len(tr) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    best = (float("inf"), None, -1)
    history = []
    for epoch in range(cfg.epochs):
        fm.mlp.train()
        perm = tr[torch.randperm(len(tr), generator=gen)]
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            loss = ((fm.mlp(Xt[b]) - Yt[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        fm.mlp.eval()
        with torch.no_grad():
            sel = va if len(va) else tr[:4096]
            vloss = float(((fm.mlp(Xt[sel]) - Yt[sel]) ** 2).mean())
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
    eng = F.engineered(lay, hw_rows)
    keep = ~eng["free"]
    total = ds.layers["total_cycles"][rows]
    dram = ds.layers["dram_read_bytes"][rows] + ds.layers["dram_write_bytes"][rows]
    keep &= (total > 0) & (eng["base_cycles"] > 0)
    Y = np.stack([np.log(np.maximum(total, 1e-9) / np.maximum(eng["base_cycles"], 1e-9)),
                  np.log(np.maximum(dram, 1e-9) / np.maximum(eng["dram_min"], 1e-9))], axis=1)
    return {"X": eng["X"][keep], "Y": Y[keep], "family": eng["family"][keep], "rows": rows[keep],
            "workload": ds.pairs["workload"][pair[rows[keep]]], "hw": ds.pairs["hw"][pair[rows[keep]]]}


def train_estimator(ds, cfg: TrainConfig = TrainConfig(), progress: bool = True, log=None) -> Estimator:
    """Train the simulator-mode estimator on a loaded :class:`~codesign.estimator.dataset.Dataset`.

    Model selection (the best epoch) uses ``cfg.val_fraction`` of the *workloads* of ``ds``; the
    held-out evaluation data (``codesign validate-estimator``) is a separate dataset never seen here.
    """
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
            "baselines": baselines, "torch": torch.__version__}
    return Estimator("simulator", families, meta)
