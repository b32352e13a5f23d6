"""Bring your own measurements: the estimator trained on measured latencies instead of the simulator.

Two CSV shapes are read (``load_measurements`` detects which from the header):

- **per operator** — one row per operator or block with its shape and measured latency, e.g. the
  HW-NAS-Bench FBNet lookup table (``part``, ``block_name``, ``H_in``, ``W_in``, ``C_in``, ``C_out``,
  ``stride``, ``expansion``, ``kernel``, ``groups``) or a generic table with an ``op`` column
  (conv, depthwise, pool, global_avgpool, add, fc, ibn, fused_ibn, skip) and the same shape columns;
- **per network** — one row per NAS-Bench-201 architecture (``arch_str``) with its measured latency.

Each row becomes a small accelsim network built directly in the IR (no torch); the per-family MLPs
of :class:`~codesign.estimator.model.Estimator` (measured mode) predict a latency per layer, and training
fits the *sum* over a row's layers to the measured value (log-space loss), so per-operator and
per-network measurements train the same model. Engineered features are computed on a reference
hardware config (the shapes matter; the device is what the data measured).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.estimator.measured"):
    import torch

from accelsim.config import load_hardware
from accelsim.workload.ir import Network, NetworkBuilder

from . import features as F
from ..errors import CodesignError
from .model import MLP, Estimator, FamilyModel, TrainConfig
from ..spaces.nb201 import compiled_network as nb201_network  # noqa: F401 (kept public here)
from ..spaces.nb201 import live_edges as nb201_live_edges  # noqa: F401 (kept public here)

# Measured tables are small (tens to thousands of rows): smaller MLPs with stronger weight decay.
MEASURED_CONFIG = TrainConfig(hidden=32, depth=2, weight_decay=1e-2)


def read_csv(path) -> tuple[list[str], list[dict]]:
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: no such measurement file")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise CodesignError(f"{path}: expected a UTF-8 text CSV, found byte 0x{exc.object[exc.start]:02x} "
                            f"at byte offset {exc.start}") from None
    except (OSError, csv.Error) as exc:
        raise CodesignError(f"{path}: unreadable CSV ({exc})") from None
    if not rows:
        raise CodesignError(f"{path}: no data rows")
    return header, rows


def _num(row: dict, key: str, path, line: int, default=None) -> float:
    v = (row.get(key) or "").strip()
    if not v:
        if default is not None:
            return default
        raise CodesignError(f"{path}: row {line}: column {key!r} is empty")
    try:
        return float(v)
    except ValueError:
        raise CodesignError(f"{path}: row {line}: column {key!r}: expected a number, got {v!r}") from None


def _latency(row: dict, key: str, path, line: int, allow_zero: bool = False) -> float:
    """A measured latency cell: a positive finite number of ms (``allow_zero``: >= 0, for tables such as
    the FBNet LUT where 0 means "costs nothing", e.g. an identity skip). Checked for every row before
    any training, so a blank, NaN or negative cell fails at once, naming the row and column."""
    raw = (row.get(key) or "").strip()
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not (np.isfinite(v) and (v > 0 or (allow_zero and v == 0))):
        what = "a finite number >= 0" if allow_zero else "a positive finite number"
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        raise CodesignError(f"{path}: row {line}: column {key!r}: expected {what} (latency in ms), got {shown!r}")
    return v


# ------------------------------------------------------------------------------------ builders
def operator_network(row: dict, path="<csv>", line: int = 0) -> Network | None:
    """The operator/block a per-operator row describes, or None for an identity (costs nothing here)."""
    kind = (row.get("op") or "").strip().lower()
    part = (row.get("part") or "").strip().lower()
    block = (row.get("block_name") or "").strip().lower()
    if not kind:
        kind = {"stem": "conv", "head_conv": "conv", "avgpool": "global_avgpool", "fc": "fc"}.get(part, "")
        if part == "layer":
            kind = "skip" if block == "skip" else "fbnet_block"
    if not kind:
        raise CodesignError(f"{path}: row {line}: cannot tell the operator (give an 'op' column, or FBNet "
                            "'part'/'block_name')")
    h = int(_num(row, "H_in", path, line))
    w = int(_num(row, "W_in", path, line, default=h))
    cin = int(_num(row, "C_in", path, line))
    cout = int(_num(row, "C_out", path, line, default=cin))
    s = int(_num(row, "stride", path, line, default=1))
    k = int(_num(row, "kernel", path, line, default=1))
    g = int(_num(row, "groups", path, line, default=1))
    e = _num(row, "expansion", path, line, default=1)
    b = NetworkBuilder(f"op{line}", (h, w, cin))
    if kind == "conv":
        b.conv(b.input, cout, k, s, groups=g, activation="relu")
    elif kind == "depthwise":
        b.depthwise(b.input, k, s, activation="relu")
    elif kind == "pool":
        b.pool(b.input, k, s, padding=(k - 1) // 2)
    elif kind == "global_avgpool":
        b.global_avg_pool(b.input)
    elif kind == "add":
        b.add(b.input, b.input)
    elif kind == "fc":
        b.linear(b.input, cout)
    elif kind in ("ibn", "fused_ibn"):
        (b.ibn if kind == "ibn" else b.fused_ibn)(b.input, cout, e, k, s)
    elif kind == "fbnet_block":
        # FBNet block: 1x1 (grouped) expand, kxk depthwise, 1x1 (grouped) project, residual if shapes allow
        mid = int(round(cin * e))
        y = b.conv(b.input, mid, 1, groups=g, activation="relu")
        y = b.depthwise(y, k, s, activation="relu")
        y = b.conv(y, cout, 1, groups=g)
        if s == 1 and cin == cout:
            b.add(b.input, y)
    elif kind == "skip":
        if s == 1 and cin == cout:
            return None
        b.conv(b.input, cout, 1, s)
    else:
        raise CodesignError(f"{path}: row {line}: op {kind!r}: expected conv, depthwise, pool, global_avgpool, "
                            "add, fc, ibn, fused_ibn or skip")
    return b.build()


# ------------------------------------------------------------------------------------ training
def fit_measured(networks: list, targets: np.ndarray, train: np.ndarray, val: np.ndarray,
                 cfg: TrainConfig = MEASURED_CONFIG, reference_hw: str = "neural_engine", steps: int = 1500,
                 progress: bool = False, metadata: dict | None = None) -> Estimator:
    """Fit per-family MLPs so that the summed per-layer latency of ``networks[i]`` matches ``targets[i]``.

    ``train``/``val`` are boolean masks over the networks (val picks the best step; it must not
    include the held-out test rows).
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    targets = np.asarray(targets, dtype=float)
    if np.any(targets[train | val] <= 0) or not np.all(np.isfinite(targets[train | val])):
        raise CodesignError("measured training: targets must be positive finite latencies")
    ref = load_hardware(reference_hw)
    lay, start, sizes = F.network_layer_table(networks)
    uniq, inverse = np.unique(lay.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    U = np.ascontiguousarray(uniq.T)
    eng = F.engineered(U, F.take_rows(F.hardware_table([ref]), np.zeros(U.shape[1], np.int64)))
    # sample x unique-layer counts
    sample_of_row = np.repeat(np.arange(len(networks)), sizes)
    code = sample_of_row * U.shape[1] + inverse
    ucode, counts = np.unique(code, return_counts=True)
    s_idx = torch.from_numpy(ucode // U.shape[1])
    u_idx = torch.from_numpy(ucode % U.shape[1])
    cnt = torch.from_numpy(counts.astype(np.float32))
    base = torch.from_numpy(np.where(eng["free"], 0.0, eng["base_cycles"]).astype(np.float32))
    base_sum = np.zeros(len(networks))
    np.add.at(base_sum, ucode // U.shape[1], counts * np.where(eng["free"], 0.0, eng["base_cycles"])[ucode % U.shape[1]])
    scale = float(np.exp(np.median(np.log(targets[train] / np.maximum(base_sum[train], 1e-9)))))

    families, params, rows_of = {}, [], {}
    X = torch.from_numpy(eng["X"])
    for f, name in enumerate(F.FAMILIES):
        m = np.nonzero(eng["family"] == f)[0]
        if len(m) == 0:
            continue
        mean = eng["X"][m].mean(axis=0).astype(np.float64)
        std = eng["X"][m].std(axis=0).astype(np.float64)
        std = np.where(std > 1e-8, std, 1.0)
        fm = FamilyModel(MLP(X.shape[1], cfg.hidden, cfg.depth, 1), mean, std, cfg.hidden, cfg.depth)
        families[name] = fm
        rows_of[name] = torch.from_numpy(m)
        params += list(fm.mlp.parameters())
    y = torch.from_numpy(np.log(np.where(targets > 0, targets, 1.0)).astype(np.float32))
    tr = torch.from_numpy(np.asarray(train, dtype=bool))
    va = torch.from_numpy(np.asarray(val, dtype=bool))

    def predict_log():
        out = torch.zeros(U.shape[1])
        for name, fm in families.items():
            r = rows_of[name]
            out = out.index_put((r,), fm.torch_forward(X[r]).reshape(-1))
        per_layer = base * torch.exp(out) * scale
        tot = torch.zeros(len(networks)).index_add(0, s_idx, cnt * per_layer[u_idx])
        return torch.log(torch.clamp(tot, min=1e-12))

    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    best = (float("inf"), None, -1)
    sel = va if bool(va.any()) else tr
    for step in range(steps):
        for fm in families.values():
            fm.mlp.train()
        loss = ((predict_log() - y)[tr] ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0 or step == steps - 1:
            with torch.no_grad():
                vloss = float(((predict_log() - y)[sel] ** 2).mean())
            if vloss < best[0]:
                best = (vloss, {n: {k: v.clone() for k, v in fm.mlp.state_dict().items()}
                                for n, fm in families.items()}, step)
    for n, fm in families.items():
        fm.mlp.load_state_dict(best[1][n])
        fm.mlp.eval()
    meta = {"trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": time.perf_counter() - t0,
            "samples": int(np.sum(train)), "selection_samples": int(np.sum(val)), "best_step": best[2],
            "val_mse_log": best[0], "unique_layers": int(U.shape[1]), "reference_hardware": ref.name,
            "config": dict(cfg.__dict__), "steps": steps, **(metadata or {})}
    return Estimator("measured", families, meta, ref, scale)


# ------------------------------------------------------------------------------------ benchmarks
def _metrics(pred, true):
    from .validate import metrics
    return metrics(pred, true)


def _macs_baseline(macs_train, y_train, macs_test):
    c = float(np.exp(np.median(np.log(y_train / np.maximum(macs_train, 1)))))
    return c * macs_test


@dataclass
class MeasuredResult:
    device: str
    estimator: Estimator
    test: dict          # metrics of the estimator on held-out architectures
    baseline: dict      # metrics of MACs x fitted constant on the same architectures
    extra: dict


def evaluate_nb201(path, device: str, train_archs: int = 1000, seed: int = 0, cfg: TrainConfig | None = None,
                   networks_cache: dict | None = None, test_archs: int | None = None,
                   steps: int = 1500) -> MeasuredResult:
    """Train on ``train_archs`` random NB201 architectures' measured latency (10 % of them for model
    selection) and test on the others (or ``test_archs`` of them); ``steps`` per fit (two fits).

    Model selection also picks how the networks are built: as written, or as an inference compiler
    prunes them (dead edges removed, constant cells folded), whichever fits the selection archs
    better; on-device TFLite measurements (pixel3, raspi4) prefer the pruned form."""
    header, rows = read_csv(path)
    if "arch_str" not in header or device not in header:
        raise CodesignError(f"{path}: expected columns arch_str and {device!r} (have {', '.join(header[:8])}...)")
    y = np.array([_latency(r, device, path, i + 2) for i, r in enumerate(rows)])   # before any slow work
    cache = networks_cache if networks_cache is not None else {}
    archs = [r["arch_str"] for r in rows]
    for prune in (False, True):
        key = f"nets_prune{int(prune)}"
        if key not in cache or len(cache[key]) != len(archs):
            cache[key] = [nb201_network(a, prune=prune) for a in archs]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(archs))
    n_val = max(1, train_archs // 10)
    train = np.zeros(len(archs), bool)
    val = np.zeros(len(archs), bool)
    train[perm[:train_archs - n_val]] = True
    val[perm[train_archs - n_val:train_archs]] = True
    test_idx = perm[train_archs:] if test_archs is None else perm[train_archs:train_archs + test_archs]
    # model selection on the validation archs: the network as written, or as a compiler prunes it
    fits = []
    for prune in (False, True):
        nets = cache[f"nets_prune{int(prune)}"]
        est = fit_measured(nets, y, train, val, cfg or MEASURED_CONFIG, steps=steps,
                           metadata={"source": str(path), "target": device, "format": "nb201", "pruned": prune})
        fits.append((est.metadata["val_mse_log"], prune, est, nets))
    _, prune, est, nets = min(fits, key=lambda f: f[0])
    pred = est.predict_pairs([nets[i] for i in test_idx], [est.reference_hardware] * len(test_idx))["latency"]
    macs = np.array([n.macs for n in cache["nets_prune0"]], dtype=float)
    fit = train | val
    base = _macs_baseline(macs[fit], y[fit], macs[test_idx])
    return MeasuredResult(device, est, _metrics(pred, y[test_idx]), _metrics(base, y[test_idx]),
                          {"train_archs": int(train_archs), "test_archs": int(len(test_idx)), "pruned": prune})


FBNET_LAYERS = 22
FBNET_BLOCKS = 9


def fbnet_tables(path, dataset: str, device: str):
    """(fixed rows, rows[layer][block]) of one dataset's part of the FBNet LUT."""
    header, rows = read_csv(path)
    if device not in header:
        lat = [h for h in header if h.endswith("_latency_ms")]
        raise CodesignError(f"{path}: no column {device!r}; latency columns: {', '.join(lat)}")
    mine = [(i + 2, r) for i, r in enumerate(rows) if r.get("dataset") == dataset]
    if not mine:
        raise CodesignError(f"{path}: no rows for dataset {dataset!r}")
    fixed = [(line, r) for line, r in mine if r["part"] != "layer"]
    grid = [[None] * FBNET_BLOCKS for _ in range(FBNET_LAYERS)]
    for line, r in mine:
        if r["part"] == "layer":
            grid[int(r["layer_idx"])][int(r["block_idx"])] = (line, r)
    if any(c is None for row in grid for c in row):
        raise CodesignError(f"{path}: dataset {dataset!r} lacks some of the 22 x 9 layer/block rows")
    return fixed, grid


def evaluate_fbnet(path, device: str, dataset: str = "cifar100", heldout_ops: float = 0.3, n_archs: int = 2000,
                   seed: int = 0, cfg: TrainConfig | None = None) -> MeasuredResult:
    """Per-operator training on the FBNet LUT with ``heldout_ops`` of the distinct searchable operators
    left out (never measured, as far as training knows); test = random architectures, whose
    latency is the LUT sum (stem + 22 chosen blocks + head conv + pool + FC)."""
    fixed, grid = fbnet_tables(path, dataset, device)
    for line, r in fixed + [c for row in grid for c in row]:
        _latency(r, device, path, line, allow_zero=True)
    rng = np.random.default_rng(seed)
    keys = sorted({r["lut_key"] for row in grid for _, r in row})
    held = set(np.asarray(keys)[rng.random(len(keys)) < heldout_ops].tolist())
    by_key: dict[str, tuple] = {}
    for line, r in fixed + [c for row in grid for c in row]:
        by_key.setdefault(r["lut_key"], (line, r))
    op_keys = list(by_key)
    nets = [operator_network(r, path, line) for line, r in by_key.values()]
    y = np.array([_latency(r, device, path, line, allow_zero=True) for line, r in by_key.values()])
    trainable = np.array([(n is not None) and (k not in held) and (v > 0) for k, n, v in zip(op_keys, nets, y)])
    is_fixed = np.isin(op_keys, [r["lut_key"] for _, r in fixed])
    idx = np.nonzero(trainable & ~is_fixed)[0]  # the fixed parts are in every architecture: always trained
    val = np.zeros(len(nets), bool)
    val[rng.choice(idx, size=max(1, len(idx) // 10), replace=False)] = True
    train = trainable & ~val
    placeholder = NetworkBuilder("identity", (1, 1, 1))
    placeholder.activation(placeholder.input, "identity")
    ident = placeholder.build()
    nets_fit = [n if n is not None else ident for n in nets]
    est = fit_measured(nets_fit, np.where(y > 0, y, 1.0), train, val, cfg or MEASURED_CONFIG,
                       metadata={"source": str(path), "target": device, "format": "fbnet-lut", "dataset": dataset,
                                 "heldout_ops": sorted(held)})
    op_pred = est.predict_pairs(nets_fit, [est.reference_hardware] * len(nets_fit))["latency"]
    op_pred = np.where([n is None for n in nets], 0.0, op_pred)  # an identity skip costs nothing
    pos = {k: i for i, k in enumerate(op_keys)}
    fixed_ix = [pos[r["lut_key"]] for _, r in fixed]
    grid_ix = np.array([[pos[c[1]["lut_key"]] for c in row] for row in grid])
    archs = rng.integers(0, FBNET_BLOCKS, size=(n_archs, FBNET_LAYERS))
    chosen = grid_ix[np.arange(FBNET_LAYERS)[None, :], archs]
    true = y[fixed_ix].sum() + y[chosen].sum(axis=1)
    pred = op_pred[fixed_ix].sum() + op_pred[chosen].sum(axis=1)
    macs = np.array([n.macs if n is not None else 0 for n in nets], dtype=float)
    arch_macs = macs[fixed_ix].sum() + macs[chosen].sum(axis=1)
    c = float(np.exp(np.median(np.log(y[train] / np.maximum(macs[train], 1)))))
    unseen = np.isin(np.asarray(op_keys)[chosen], list(held))
    heldout_op_mask = np.array([k in held for k in op_keys]) & (y > 0)
    extra = {"dataset": dataset, "archs": int(n_archs), "ops": len(op_keys), "heldout_ops": len(held),
             "unseen_op_share_pct": float(100 * unseen.mean()),
             "heldout_op_metrics": _metrics(op_pred[heldout_op_mask], y[heldout_op_mask])}
    return MeasuredResult(device, est, _metrics(pred, true), _metrics(c * arch_macs, true), extra)


def detect_format(path) -> str:
    header, _ = read_csv(path)
    if "arch_str" in header:
        return "nb201"
    if "lut_key" in header and "part" in header:
        return "fbnet-lut"
    if "op" in header and "C_in" in header:
        return "ops"
    raise CodesignError(f"{path}: unknown measurement table: expected an 'arch_str' column (NAS-Bench-201, per "
                        "network), FBNet LUT columns ('part', 'lut_key', ...) or an 'op' column with shapes "
                        "(H_in, W_in, C_in, C_out, kernel, stride, groups)")


def evaluate_ops(path, device: str, heldout: float = 0.3, seed: int = 0, cfg: TrainConfig | None = None):
    """Generic per-operator CSV: train on 1 - ``heldout`` of the rows, report on the held-out rows."""
    header, rows = read_csv(path)
    if device not in header:
        raise CodesignError(f"{path}: no column {device!r}")
    nets, y = [], []
    for i, r in enumerate(rows):
        n = operator_network(r, path, i + 2)
        if n is not None:
            nets.append(n)
            y.append(_latency(r, device, path, i + 2))
    y = np.array(y)
    rng = np.random.default_rng(seed)
    u = rng.random(len(nets))
    test = u < heldout
    val = (~test) & (u < heldout + 0.1 * (1 - heldout))
    train = ~test & ~val & (y > 0)
    est = fit_measured(nets, np.where(y > 0, y, 1.0), train, val & (y > 0), cfg or MEASURED_CONFIG,
                       metadata={"source": str(path), "target": device, "format": "ops"})
    pred = est.predict_pairs([nets[i] for i in np.nonzero(test)[0]], [est.reference_hardware] * int(test.sum()))["latency"]
    macs = np.array([n.macs for n in nets], dtype=float)
    base = _macs_baseline(macs[train], y[train], macs[test])
    return MeasuredResult(device, est, _metrics(pred, y[test]), _metrics(base, y[test]), {"test_ops": int(test.sum())})
