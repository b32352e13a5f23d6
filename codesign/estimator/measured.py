"""Bring your own measurements: the estimator trained on measured latencies instead of the simulator.

:func:`detect_format` tells the table's kind from its header.

**Per operator** tables — one row per operator or block with its shape and measured latency, e.g. the
HW-NAS-Bench FBNet lookup table (``part``, ``block_name``, ``H_in``, ``W_in``, ``C_in``, ``C_out``,
``stride``, ``expansion``, ``kernel``, ``groups``, ``lut_key``) or a generic table with an ``op``
column (conv, depthwise, pool, global_avgpool, add, fc, ibn, fused_ibn, skip) and the same shape
columns.

**Per network** tables — one row per whole network, described by exactly one of these columns:

==============  ==================================================================================
column          cell
==============  ==================================================================================
``network`` or  a zoo model (``accelsim.workload.zoo.MODELS``) with its options, either written
``model``       in the cell as ``NAME:KEY=VALUE,KEY=VALUE`` (``mobilenet_v2:width=0.5,resolution=160``)
                or given as extra columns named after zoo options (``width``, ``resolution``, ...;
                a blank option cell means the model's default) — not both in one row
``onnx``        an ONNX file, relative to the CSV's folder (only shapes are read)
``genome``      a network-genome file (.json / .yaml, as ``codesign genome`` writes), relative to
                the CSV's folder, or the genome's JSON text itself
``arch_str``    a NAS-Bench-201 cell string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``
``blocks``      an FBNet architecture: its 22 block names (``k3_e1``, ``k3_e1_g2``, ``k3_e3``,
                ``k3_e6``, ``k5_e1``, ``k5_e1_g2``, ``k5_e3``, ``k5_e6``, ``skip``) separated by
                spaces, commas or ``-``, on HW-NAS-Bench's FBNet macro-architecture; an optional
                ``resolution`` column picks the CIFAR (32, default) or ImageNet (224) layout
==============  ==================================================================================

Every other column may be a latency target (``--target``, milliseconds). A blank target cell means
"not measured": the row is left out for that target and counted (``blank_rows`` in the metadata and
the report); any other cell that is not a positive finite number is an error naming the file, row
and column. Everything is checked, and every network built, before any training starts.

**How a per-network table is fitted** (:func:`fit_networks`). Each row becomes an accelsim network;
its layers' roofline time on a reference hardware config (compute or compulsory DRAM traffic,
whichever is slower, plus DRAM latency), their count and their compulsory DRAM bytes, summed per
operator family, are the simulator's prior. Two stages, each chosen by cross-validation over all
training rows (k-fold; leave-one-out up to 20 rows; the simplest candidate within one standard
error of the best):

1. a non-negative linear model of measured latency on a few of these sums (``PRIOR_MODELS``: a
   scale on the roofline time, plus a cost per layer, per family where the data support it), with a
   ridge strength, and for NAS-Bench-201 whether the network is taken as written or as an inference
   compiler prunes it;
2. a non-negative factor per operator type or per layer kind on that per-layer latency, pulled
   towards 1 (or none).

With ten rows this learns a scale and a few corrections; with hundreds, a per-layer cost table. The
per-layer latencies are then distilled into an ordinary measured-mode
:class:`~codesign.estimator.model.Estimator` (per-layer latency = roofline time × exp(MLP) × scale),
so a checkpoint works wherever an estimator does and predicts networks outside the table too;
``mlp=True`` (``--mlp``) also trains those MLPs end to end on the measured sums. A 30-row table
trains in about a second.
"""

from __future__ import annotations

import csv
import functools
import gzip
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.estimator.measured"):
    import torch

from accelsim.config import load_hardware
from accelsim.errors import AccelsimError
from accelsim.workload.ir import Network, NetworkBuilder

from . import features as F

from ..errors import CodesignError
from .model import Estimator, TrainConfig, new_family_model
from ..spaces.nb201 import compiled_network as nb201_network  # noqa: F401 (kept public here)
from ..spaces.nb201 import live_edges as nb201_live_edges  # noqa: F401 (kept public here)
from ..spaces.nb201 import arch_str as nb201_arch_str

# Measured tables are small (tens to thousands of rows): smaller MLPs with stronger weight decay.
MEASURED_CONFIG = TrainConfig(hidden=32, depth=2, weight_decay=1e-2)


# Measured tables shipped with the package (codesign/data; provenance and licences in its README.md):
# wherever a measured table is read, one of these names may stand for its path.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PACKAGED_TABLES = {"help-nb201": "nb201_help_latency.npz",              # HELP, NAS-Bench-201 x 27 devices
                   "hwnasbench-fbnet": "hwnasbench_fbnet_op_lut.csv.gz"}   # HW-NAS-Bench FBNet operator LUT


def packaged_table(spec) -> "str | None":
    """The packaged table ``spec`` names, or None; a file or folder of that name always wins."""
    name = str(spec)
    return name if name in PACKAGED_TABLES and not Path(name).exists() else None


def read_packaged(file) -> tuple[list[str], list[list[str]]]:
    """(header, rows as text cells) of a packaged table file. The HELP table stores only its latencies
    (float32; row i = NAS-Bench-201 arch_index i, the order of nb201_cifar.npz, whose ops give arch_str),
    each written back as the shortest text that reads back to the same float32."""
    file = Path(file)
    if file.name.endswith(".csv.gz"):
        with gzip.open(file, "rt", newline="", encoding="utf-8") as fh:
            header, *rows = csv.reader(fh)
        return header, rows
    with np.load(file, allow_pickle=False) as z:
        devices, latency = [str(d) for d in z["devices"]], z["latency_ms"]
    with np.load(DATA_DIR / "nb201_cifar.npz", allow_pickle=False) as z:
        ops = z["ops"]
    cells = latency.astype(str).tolist()    # numpy writes a float32 as its shortest round-trip text
    rows = [[str(i), nb201_arch_str(o), *c] for i, (o, c) in enumerate(zip(ops, cells))]
    return ["arch_index", "arch_str", *devices], rows


@functools.lru_cache(maxsize=None)
def packaged_rows(name: str) -> tuple:
    """(header, rows) of the packaged table ``name`` as tuples of text cells, read once per process."""
    header, rows = read_packaged(DATA_DIR / PACKAGED_TABLES[name])
    return tuple(header), tuple(map(tuple, rows))


def read_csv(path) -> tuple[list[str], list[dict]]:
    """(header, rows as dicts of text cells) of a measured table: a CSV file, or the name of a packaged
    table (``PACKAGED_TABLES``)."""
    name = packaged_table(path)
    if name is not None:
        header, rows = packaged_rows(name)
        return list(header), [dict(zip(header, r)) for r in rows]
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: no such measurement file (packaged tables: {', '.join(PACKAGED_TABLES)})")
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
    sums = layer_sums(networks, ref)
    base_sum = sums.S[:, sums.terms.index(("base", "all"))]
    scale = float(np.exp(np.median(np.log(targets[train] / np.maximum(base_sum[train], 1e-9)))))
    model = _PerLayerModel(sums, cfg, scale)
    families = model.families
    s_idx, u_idx = torch.from_numpy(sums.s_idx), torch.from_numpy(sums.u_idx)
    cnt = torch.from_numpy(sums.cnt.astype(np.float32))
    every = np.arange(len(networks))
    y = torch.from_numpy(np.log(np.where(targets > 0, targets, 1.0)).astype(np.float32))
    tr = torch.from_numpy(np.asarray(train, dtype=bool))
    va = torch.from_numpy(np.asarray(val, dtype=bool))

    def predict_log():
        return model.network_log(model.out(), every, s_idx, u_idx, cnt)

    opt = torch.optim.Adam(model.params(), lr=cfg.lr)
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
            "val_mse_log": best[0], "unique_layers": int(sums.U.shape[1]), "reference_hardware": ref.name,
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


def evaluate_nb201(path, device: str, train_archs=1000, seed: int = 0, cfg: TrainConfig | None = None,
                   networks_cache: dict | None = None, test_archs: int | None = None,
                   steps: int = 300) -> MeasuredResult:
    """A NAS-Bench-201 table (``arch_str``): :func:`evaluate_networks` with ``train_archs`` (a count or a
    share) training architectures and ``test_archs`` (default: all others) to test on; ``steps`` per
    MLP fit. Cross-validation also picks how the networks are built: as written, or as an inference
    compiler prunes them (dead edges removed, constant cells folded); on-device TFLite measurements
    (pixel3, raspi4) prefer the pruned form."""
    header, rows = read_csv(path)
    if "arch_str" not in header or device not in header:
        raise CodesignError(f"{path}: expected columns arch_str and {device!r} (have {', '.join(header[:8])}...)")
    table = read_network_table(path, device, header, rows, cache=networks_cache)
    return evaluate_networks(path, device, train=train_archs, seed=seed, cfg=cfg, test_rows=test_archs,
                             mlp_steps=steps, table=table)


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
                   seed: int = 0, cfg: TrainConfig | None = None, heldout_keys=None) -> MeasuredResult:
    """Per-operator training on the FBNet LUT with ``heldout_ops`` of the distinct searchable operators
    left out (never measured, as far as training knows); test = random architectures, whose
    latency is the LUT sum (stem + 22 chosen blocks + head conv + pool + FC). ``heldout_keys``: the
    LUT keys to leave out instead of a random share (e.g. every shape of some block types); the
    fixed parts (stem, head conv, pool, FC) are in every architecture and cannot be left out.

    Most blocks of a random architecture were trained on, so its metrics say little about operators
    never measured: ``extra["heldout_op_metrics"]`` scores the left-out operators themselves."""
    fixed, grid = fbnet_tables(path, dataset, device)
    for line, r in fixed + [c for row in grid for c in row]:
        _latency(r, device, path, line, allow_zero=True)
    rng = np.random.default_rng(seed)
    keys = sorted({r["lut_key"] for row in grid for _, r in row})
    if heldout_keys is None:
        held = set(np.asarray(keys)[rng.random(len(keys)) < heldout_ops].tolist())
    else:
        held = {str(k) for k in heldout_keys}
        unknown = sorted(held - set(keys))
        if unknown:
            fixed_keys = {r["lut_key"] for _, r in fixed}
            why = "a fixed part, in every architecture" if unknown[0] in fixed_keys else "not a searchable block"
            raise CodesignError(f"{path}: dataset {dataset!r}: held-out key {unknown[0]!r} is {why}")
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
    """The table's kind from its header: a per-network format (``zoo``, ``onnx``, ``genome``, ``nb201``,
    ``fbnet-blocks``: see the module docstring), ``fbnet-lut`` or ``ops`` (per operator)."""
    header, _ = read_csv(path)
    column = network_column(header, path)
    if column is not None:
        return NETWORK_FORMATS[column]
    if "lut_key" in header and "part" in header:
        return "fbnet-lut"
    if "op" in header and "C_in" in header:
        return "ops"
    raise CodesignError(f"{path}: unknown measurement table: expected a column describing whole networks "
                        f"({', '.join(NETWORK_COLUMNS)}), FBNet LUT columns ('part', 'lut_key', ...) or an 'op' "
                        "column with shapes (H_in, W_in, C_in, C_out, kernel, stride, groups)")


def evaluate_ops(path, device: str, heldout: float = 0.3, seed: int = 0, cfg: TrainConfig | None = None):
    """Generic per-operator CSV: train on 1 - ``heldout`` of the rows, report on the held-out rows."""
    header, rows = read_csv(path)
    if device not in header:
        raise CodesignError(f"{path}: no column {device!r}")
    nets, y, blank = [], [], 0
    for i, r in enumerate(rows):
        if not (r.get(device) or "").strip():
            blank += 1          # not measured: the row is left out for this target
            continue
        v = _latency(r, device, path, i + 2)
        n = operator_network(r, path, i + 2)
        if n is not None:
            nets.append(n)
            y.append(v)
    y = np.array(y)
    rng = np.random.default_rng(seed)
    u = rng.random(len(nets))
    test = u < heldout
    val = (~test) & (u < heldout + 0.1 * (1 - heldout))
    train = ~test & ~val & (y > 0)
    if train.sum() < 2 or test.sum() < 1:   # before any training
        skipped = f" ({blank} blank)" if blank else ""
        raise CodesignError(f"{path}: column {device!r}: {len(nets)} usable operator rows{skipped}, too few to "
                            f"train on and test ({int(train.sum())} training, {int(test.sum())} held out with "
                            f"--heldout-ops {heldout}); needs >= 2 and >= 1")
    est = fit_measured(nets, np.where(y > 0, y, 1.0), train, val & (y > 0), cfg or MEASURED_CONFIG,
                       metadata={"source": str(path), "target": device, "format": "ops", "blank_rows": blank})
    pred = est.predict_pairs([nets[i] for i in np.nonzero(test)[0]], [est.reference_hardware] * int(test.sum()))["latency"]
    macs = np.array([n.macs for n in nets], dtype=float)
    base = _macs_baseline(macs[train], y[train], macs[test])
    return MeasuredResult(device, est, _metrics(pred, y[test]), _metrics(base, y[test]), {"test_ops": int(test.sum()), "blank_rows": blank})


# ------------------------------------------------------------------------------------ per-network tables
NETWORK_COLUMNS = ("network", "model", "arch_str", "onnx", "genome", "blocks")
NETWORK_FORMATS = {"network": "zoo", "model": "zoo", "arch_str": "nb201", "onnx": "onnx", "genome": "genome",
                   "blocks": "fbnet-blocks"}
FBNET_BLOCK_NAMES = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
# HW-NAS-Bench's FBNet macro-architecture (its ``fbnet_get_metrics``): output channels of the 22
# searchable layers; stride 2 at layers 5, 9, 17 (and 1, with a strided stem, at ImageNet size)
FBNET_CHANNELS = (16, 24, 24, 24, 24, 32, 32, 32, 32, 64, 64, 64, 64, 112, 112, 112, 112, 184, 184, 184, 184, 352)
DEFAULT_TRAIN_SHARE = 0.8


def network_column(header, path="<csv>") -> "str | None":
    """The column that describes whole networks (one of ``NETWORK_COLUMNS``), None for a per-operator table."""
    have = [c for c in NETWORK_COLUMNS if c in header]
    if len(have) > 1:
        raise CodesignError(f"{path}: columns {', '.join(repr(c) for c in have)} each describe the network; "
                            "expected exactly one of them")
    return have[0] if have else None


def fbnet_network(blocks, resolution: int = 32, name: str = "fbnet") -> Network:
    """An FBNet architecture (22 block names, ``FBNET_BLOCK_NAMES``) on HW-NAS-Bench's macro-architecture:
    3x3 stem (16 channels), the 22 blocks, 1x1 head conv, global pooling, classifier. ``resolution``
    32 is the CIFAR-100 layout (1504-wide head, 100 classes), anything above 64 the ImageNet one
    (strided stem and layer 1, 1984-wide head, 1000 classes)."""
    blocks = list(blocks)
    imagenet = resolution > 64
    b = NetworkBuilder(name, (resolution, resolution, 3))
    x = b.conv(b.input, 16, 3, 2 if imagenet else 1, activation="relu", name="stem")
    cin = 16
    for i, (blk, cout) in enumerate(zip(blocks, FBNET_CHANNELS)):
        s = 2 if i in (5, 9, 17) or (imagenet and i == 1) else 1
        if blk == "skip":
            if s != 1 or cin != cout:
                x = b.conv(x, cout, 1, s, name=f"l{i}.proj")
        else:
            k, e = int(blk[1]), int(blk[4])
            g = 2 if blk.endswith("_g2") else 1
            y = b.conv(x, cin * e, 1, groups=g, activation="relu", name=f"l{i}.expand")
            y = b.depthwise(y, k, s, activation="relu", name=f"l{i}.dw")
            y = b.conv(y, cout, 1, groups=g, name=f"l{i}.project")
            x = b.add(x, y, name=f"l{i}.add") if s == 1 and cin == cout else y
        cin = cout
    x = b.conv(x, 1984 if imagenet else 1504, 1, activation="relu", name="head")
    x = b.global_avg_pool(x, name="pool")
    b.linear(x, 1000 if imagenet else 100, name="classifier")
    return b.build()


def _zoo_network(row: dict, header, path, line: int, column: str) -> tuple[str, Network]:
    from accelsim.workload import zoo
    cell = (row.get(column) or "").strip()
    where = f"{path}: row {line}: column {column!r}"
    name, _, opts_text = cell.partition(":")
    name = name.strip()
    if name not in zoo.MODELS:
        raise CodesignError(f"{where}: expected a zoo model (NAME or NAME:KEY=VALUE,...; one of "
                            f"{', '.join(zoo.MODELS)}), got {name!r}")
    allowed = zoo.option_names(name)
    option_columns = [h for h in header if h in zoo.OPTIONS and (row.get(h) or "").strip()]
    options = {}
    try:
        if opts_text.strip():
            if option_columns:
                raise CodesignError(f"{where}: options are given both in the cell and in column(s) "
                                    f"{', '.join(option_columns)}; expected one of the two")
            for item in opts_text.split(","):
                key, value = zoo.parse_option(name, item.strip())
                options[key] = value
        for h in option_columns:
            if h not in allowed:
                raise CodesignError(f"{path}: row {line}: column {h!r}: model {name} takes no option {h!r} "
                                    f"(it takes {', '.join(allowed)}); leave the cell blank")
            key, value = zoo.parse_option(name, f"{h}={row[h].strip()}")
            options[key] = value
        key = name + "".join(f",{k}={v}" for k, v in sorted(options.items()))
        return key, zoo.load_model(name, **options)
    except CodesignError:
        raise
    except AccelsimError as exc:
        raise CodesignError(f"{where}: {str(exc).splitlines()[0]}") from None


def _genome_network(cell: str, path, line: int) -> tuple[str, Network]:
    import json
    from ..spaces.model_space import load_genome_file
    from ..spaces.space import NetworkGenome, build_network
    where = f"{path}: row {line}: column 'genome'"
    try:
        if cell.startswith("{"):
            try:
                data = json.loads(cell)
            except ValueError as exc:
                raise CodesignError(f"{where}: expected genome JSON or a genome file, got unreadable JSON "
                                    f"({str(exc).splitlines()[0]})") from None
            genome = NetworkGenome.from_dict(data)
        else:
            file = Path(cell) if Path(cell).is_absolute() else Path(path).parent / cell
            if not file.is_file():
                raise CodesignError(f"{where}: expected a genome file (.json / .yaml, relative to the CSV) or "
                                    f"genome JSON, got {cell!r} (no such file)")
            genome = load_genome_file(file, where)
        return f"genome:{genome.key()}", build_network(genome)
    except CodesignError as exc:
        msg = str(exc).splitlines()[0]
        raise CodesignError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    except AccelsimError as exc:
        raise CodesignError(f"{where}: {str(exc).splitlines()[0]}") from None


def row_network(fmt: str, row: dict, header, path, line: int, column: str, prune: bool = False) -> tuple[str, Network]:
    """(identity key, network) that row ``line`` of a per-network table describes; ``prune``: NAS-Bench-201
    as an inference compiler runs it. Every problem is one CodesignError line naming file, row, column."""
    cell = (row.get(column) or "").strip()
    where = f"{path}: row {line}: column {column!r}"
    if fmt == "zoo":
        return _zoo_network(row, header, path, line, column)
    if fmt == "nb201":
        try:
            return f"nb201:{cell}:{int(prune)}", nb201_network(cell, prune=prune)
        except AccelsimError as exc:
            raise CodesignError(f"{where}: expected a NAS-Bench-201 arch string |op~0|+|op~0|op~1|+"
                                f"|op~0|op~1|op~2| ({str(exc).splitlines()[0]})") from None
    if fmt == "onnx":
        from accelsim.workload.onnx_import import from_onnx
        file = Path(cell) if Path(cell).is_absolute() else Path(path).parent / cell
        if not file.is_file():
            raise CodesignError(f"{where}: expected an ONNX file (relative to the CSV), got {cell!r} (no such file)")
        try:
            return f"onnx:{file.resolve()}", from_onnx(file)
        except AccelsimError as exc:
            raise CodesignError(f"{where}: {str(exc).splitlines()[0]}") from None
    if fmt == "genome":
        return _genome_network(cell, path, line)
    if fmt == "fbnet-blocks":
        names = [t for t in cell.replace(",", " ").replace("-", " ").split() if t]
        bad = [t for t in names if t not in FBNET_BLOCK_NAMES]
        if len(names) != FBNET_LAYERS or bad:
            got = f"{bad[0]!r}" if bad else f"{len(names)} names"
            raise CodesignError(f"{where}: expected {FBNET_LAYERS} FBNet block names (one of "
                                f"{', '.join(FBNET_BLOCK_NAMES)}), got {got}")
        res = (row.get("resolution") or "").strip()
        try:
            r = int(res) if res else 32
        except ValueError:
            r = 0
        if r < 8:
            raise CodesignError(f"{path}: row {line}: column 'resolution': expected an input size in pixels "
                                f"(32: CIFAR layout, 224: ImageNet), got {res!r}")
        return f"fbnet:{r}:{'-'.join(names)}", fbnet_network(names, r)
    raise CodesignError(f"{path}: unknown per-network format {fmt!r}")


@dataclass
class NetworkTable:
    """A per-network table read and checked: usable rows for one target, their networks and latencies."""
    path: str
    format: str
    column: str
    target: str
    lines: np.ndarray        # CSV line of each usable row
    latency: np.ndarray      # measured latency (ms) of each usable row
    networks: dict           # variant ("as_written", "pruned") -> list of Network, one per usable row
    blank_rows: int          # rows whose target cell was blank (not used for this target)
    blank_network_rows: int  # rows whose network cell was blank
    total_rows: int
    sums: dict = field(default_factory=dict)   # variant -> LayerSums on the reference config, filled on use

    def layer_sums(self, reference_hw: str = "neural_engine") -> dict:
        for variant, nets in self.networks.items():
            if (variant, reference_hw) not in self.sums:
                self.sums[(variant, reference_hw)] = layer_sums(nets, load_hardware(reference_hw))
        return {v: self.sums[(v, reference_hw)] for v in self.networks}


def read_network_table(path, target: str, header=None, rows=None, cache: dict | None = None) -> NetworkTable:
    """Read a per-network table for ``target``: every latency cell checked, blank ones counted and
    skipped, every network built (NAS-Bench-201: also as pruned). No training."""
    if header is None:
        header, rows = read_csv(path)
    column = network_column(header, path)
    if column is None:
        raise CodesignError(f"{path}: not a per-network table (expected one column of {', '.join(NETWORK_COLUMNS)})")
    if target not in header or target in NETWORK_COLUMNS:
        lat = [h for h in header if h != column and h not in ("arch_index", "resolution")]
        raise CodesignError(f"{path}: no latency column {target!r}; columns: {', '.join(lat[:12])}"
                            + (" ..." if len(lat) > 12 else ""))
    fmt = NETWORK_FORMATS[column]
    keep, y = [], []
    blank = blank_net = 0
    for i, r in enumerate(rows):
        line = i + 2
        if not (r.get(target) or "").strip():
            blank += 1
            continue
        v = _latency(r, target, path, line)
        if not (r.get(column) or "").strip():
            blank_net += 1
            continue
        keep.append(line)
        y.append(v)
    cache = cache if cache is not None else {}
    variants = {"as_written": False, "pruned": True} if fmt == "nb201" else {"as_written": False}
    nets = {}
    for variant, prune in variants.items():
        out = []
        for line in keep:
            r = rows[line - 2]
            ck = (fmt, prune, (r.get(column) or "").strip(), (r.get("resolution") or "").strip())
            if fmt == "zoo":   # the option columns are part of what the row describes
                from accelsim.workload.zoo import OPTIONS
                ck = ck + tuple((r.get(h) or "").strip() for h in header if h in OPTIONS)
            if ck not in cache:
                cache[ck] = row_network(fmt, r, header, path, line, column, prune=prune)[1]
            out.append(cache[ck])
        nets[variant] = out
    return NetworkTable(str(path), fmt, column, target, np.array(keep, dtype=np.int64), np.array(y, dtype=float),
                        nets, blank, blank_net, len(rows))


def parse_share_or_count(text, what: str = "--train-archs") -> float:
    """A split size: a share in (0, 1) or a whole count >= 2 (returned as float/int)."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise CodesignError(f"{what}: expected a share in (0, 1) or a count >= 2, got {text!r}") from None
    if 0 < v < 1:
        return v
    if v >= 2 and float(v).is_integer():
        return int(v)
    raise CodesignError(f"{what}: expected a share in (0, 1) or a count >= 2, got {text!r}")


def split_size(train, n_rows: int, table: str, target: str, blank: int = 0, what: str = "--train-archs") -> int:
    """Training rows that ``train`` (share or count) asks for among ``n_rows`` usable rows; a table too
    small for it (at least 2 training rows and 1 test row) fails in one line, before any training."""
    n = int(np.floor(train * n_rows)) if isinstance(train, float) and train < 1 else int(train)
    skipped = f" ({blank} blank)" if blank else ""
    if n < 2 or n + 1 > n_rows:
        raise CodesignError(f"{table}: column {target!r}: {n_rows} usable rows{skipped}, too few for {what} {train} "
                            f"({n} training rows; needs >= 2 to train and >= 1 left to test)")
    return n


# ------------------------------------------------------------------------------------ per-network fitting
_RIDGE = (0.0, 1e-3, 1e-1)  # ridge strengths cross-validated for the linear prior
_LOO_ROWS = 20             # up to this many training rows, leave-one-out cross-validation
# sums over a network's layers that the linear prior may use: (quantity, family or "all")
PRIOR_MODELS = {
    "scale": (("base", "all"),),
    "base+count": (("base", "all"), ("count", "all")),
    "base+count+dram": (("base", "all"), ("count", "all"), ("dram", "all")),
    "family-base+count": (("base", "family"), ("count", "all")),
    "family-base+family-count": (("base", "family"), ("count", "family")),
    "family-all": (("base", "family"), ("count", "family"), ("dram", "family")),
}


@dataclass
class LayerSums:
    """Per-network sums of per-layer prior quantities over the distinct layers of a list of networks."""
    U: np.ndarray          # distinct layer rows [field, layer]
    eng: dict              # engineered features of U on the reference config
    s_idx: np.ndarray      # (network, distinct layer) pairs ...
    u_idx: np.ndarray
    cnt: np.ndarray        # ... and how often the layer occurs in the network
    terms: list            # (quantity, family) names of G's columns
    G: np.ndarray          # [distinct layer, term]
    S: np.ndarray          # [network, term]
    kind: np.ndarray       # per distinct layer: its layer kind (same operator and shapes, any place in the network)
    optype: np.ndarray     # per distinct layer: its operator type (same operator and kernel, any shapes)


# what makes two layers the same kind for the per-layer correction: operator and shapes, not the
# layer's place in the network (which the activation-placement features also see)
_SHAPE_COLUMNS = ("op", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kh", "kw", "sh", "sw", "groups",
                 "wprec", "aprec", "filter_elems", "in_factor", "ops_per_out", "kh_extent", "kw_extent")


def layer_sums(networks, ref) -> LayerSums:
    lay, start, sizes = F.network_layer_table(networks)
    uniq, inverse = np.unique(lay.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    U = np.ascontiguousarray(uniq.T)
    eng = F.engineered(U, F.take_rows(F.hardware_table([ref]), np.zeros(U.shape[1], np.int64)))
    code = np.repeat(np.arange(len(networks)), sizes) * U.shape[1] + inverse
    ucode, counts = np.unique(code, return_counts=True)
    s_idx, u_idx = ucode // U.shape[1], ucode % U.shape[1]
    free = eng["free"]
    q = {"base": np.where(free, 0.0, eng["base_cycles"]), "count": (~free).astype(float),
         "dram": np.where(free, 0.0, eng["dram_min"])}
    terms, cols = [], []
    for kind in ("base", "count", "dram"):
        terms.append((kind, "all"))
        cols.append(q[kind])
        for f, name in enumerate(F.FAMILIES):
            m = eng["family"] == f
            if m.any():
                terms.append((kind, name))
                cols.append(np.where(m, q[kind], 0.0))
    G = np.stack(cols, axis=1)
    S = np.zeros((len(networks), G.shape[1]))
    np.add.at(S, s_idx, counts[:, None] * G[u_idx])
    shape_fields = [F.LAYER_COLUMNS.index(c) for c in _SHAPE_COLUMNS]
    _, kind = np.unique(U[shape_fields].T, axis=0, return_inverse=True)
    L = {c: U[F.LAYER_COLUMNS.index(c)] for c in ("op", "kh", "kw", "sh", "sw", "groups", "in_c", "in_factor", "ops_per_out")}
    depthwise = (L["groups"] > 1) & (L["groups"] == L["in_c"])
    op_fields = np.stack([L["op"], L["kh"], L["kw"], L["sh"], L["sw"], depthwise, L["in_factor"], L["ops_per_out"]])
    _, optype = np.unique(op_fields.T, axis=0, return_inverse=True)
    return LayerSums(U, eng, s_idx, u_idx, counts.astype(float), terms, G, S, kind.reshape(-1), optype.reshape(-1))


def _prior_columns(sums: LayerSums, model: str) -> list:
    cols = []
    for kind, fam in PRIOR_MODELS[model]:
        if fam == "all":
            cols.append(sums.terms.index((kind, "all")))
        else:
            cols += [j for j, (k, f) in enumerate(sums.terms) if k == kind and f != "all"]
    return cols


def _nnls_relative(A: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Non-negative w minimising sum(((A w - y) / y)^2) + ridge * |w * colscale|^2 (columns scaled so
    that ridge acts alike on each)."""
    from scipy.optimize import nnls
    B = A / y[:, None]
    c = np.median(np.where(B > 0, B, np.nan), axis=0)
    c = np.where(np.isfinite(c) & (c > 0), c, 1.0)
    Bs = B / c
    if ridge > 0:
        Bs = np.vstack([Bs, np.sqrt(ridge * len(y)) * np.eye(A.shape[1])])
        rhs = np.concatenate([np.ones(len(y)), np.zeros(A.shape[1])])
    else:
        rhs = np.ones(len(y))
    w, _ = nnls(Bs, rhs, maxiter=50 * A.shape[1] + 100)
    return w / c


def _log_error(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(_log_errors(pred, y)))


def _log_errors(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (np.log(np.maximum(pred, 1e-12)) - np.log(y)) ** 2


def _one_standard_error(table: list) -> dict:
    """The first entry of ``table`` (ordered simplest first) whose cross-validated error is within one
    standard error of the best one's: on a few rows, CV errors are noisy and the simplest model that
    is as good as the best within that noise generalises more reliably."""
    best = min(table, key=lambda t: t["cv_mse_log"])
    limit = best["cv_mse_log"] + best["cv_se"]
    return next(t for t in table if t["cv_mse_log"] <= limit)


def _folds(n: int, k: int, rng) -> np.ndarray:
    """Each row's fold: ``k`` folds, or one row per fold (leave-one-out) up to ``_LOO_ROWS`` rows."""
    k = n if n <= _LOO_ROWS else max(2, min(k, n))
    f = np.empty(n, np.int64)
    f[rng.permutation(n)] = np.arange(n) % k
    return f


def _select_prior(sums_by_variant: dict, y: np.ndarray, train_idx: np.ndarray, fold: np.ndarray) -> tuple[dict, list]:
    """Cross-validation (``fold``: each training row's fold) of every (variant, prior model, ridge) on
    the training rows; returns the best choice (coefficients refitted on all training rows) and the table."""
    yt = y[train_idx]
    table = []
    for variant, sums in sums_by_variant.items():
        for model in PRIOR_MODELS:
            cols = _prior_columns(sums, model)
            A = sums.S[train_idx][:, cols]
            for ridge in _RIDGE:
                pred = np.empty(len(train_idx))
                for k in np.unique(fold):
                    te = fold == k
                    w = _nnls_relative(A[~te], yt[~te], ridge)
                    pred[te] = A[te] @ w
                e = _log_errors(pred, yt)
                table.append({"variant": variant, "model": model, "ridge": ridge, "cv_mse_log": float(e.mean()),
                              "cv_se": float(e.std() / np.sqrt(len(e)))})
    # simplest first: fewer sums, then stronger ridge, then the network as written
    order = {m: i for i, m in enumerate(PRIOR_MODELS)}
    table.sort(key=lambda t: (order[t["model"]], -t["ridge"], t["variant"] != "as_written"))
    best = _one_standard_error(table)
    sums = sums_by_variant[best["variant"]]
    cols = _prior_columns(sums, best["model"])
    w = _nnls_relative(sums.S[train_idx][:, cols], yt, best["ridge"])
    coef = np.zeros(len(sums.terms))
    coef[cols] = w
    return dict(best, coef=coef), table


class _PerLayerModel:
    """Per-family MLPs over distinct layers, per-layer latency = base * exp(mlp) * scale (the measured-mode
    Estimator's form), with helpers to distil a per-layer prior into them and to train end to end."""

    def __init__(self, sums: LayerSums, cfg: TrainConfig, scale: float):
        self.sums, self.cfg, self.scale = sums, cfg, scale
        eng = sums.eng
        self.X = torch.from_numpy(eng["X"])
        self.base = torch.from_numpy(np.where(eng["free"], 0.0, eng["base_cycles"]).astype(np.float32))
        self.families, self.rows_of = {}, {}
        for f, name in enumerate(F.FAMILIES):
            m = np.nonzero(eng["family"] == f)[0]
            if len(m) == 0:
                continue
            self.families[name] = new_family_model(eng["X"][m], cfg.hidden, cfg.depth, 1)
            self.rows_of[name] = torch.from_numpy(m)

    def params(self):
        return [p for fm in self.families.values() for p in fm.mlp.parameters()]

    def out(self) -> torch.Tensor:
        o = torch.zeros(self.X.shape[0])
        for name, fm in self.families.items():
            r = self.rows_of[name]
            o = o.index_put((r,), fm.torch_forward(self.X[r]).reshape(-1))
        return o

    def network_log(self, o: torch.Tensor, net_rows: np.ndarray, s_idx, u_idx, cnt) -> torch.Tensor:
        per_layer = self.base * torch.exp(o) * self.scale
        tot = torch.zeros(len(net_rows)).index_add(0, s_idx, cnt * per_layer[u_idx])
        return torch.log(torch.clamp(tot, min=1e-12))

    def distil(self, target_out: np.ndarray, steps: int = 200, tol: float = 1e-6) -> float:
        """Fit each family's MLP outputs to ``target_out`` (the prior's per-layer log-ratio) on the
        distinct layers: full-batch L-BFGS (scipy's, on torch gradients; at most ``steps`` iterations)."""
        from scipy.optimize import minimize
        worst = 0.0
        for name, fm in self.families.items():
            r = self.rows_of[name]
            x = self.X[r]
            t = torch.from_numpy(target_out[r.numpy()].astype(np.float32))
            params = list(fm.mlp.parameters())
            with torch.no_grad():   # start from the family's mean: the rest is a small correction
                fm.mlp.net[-1].bias.fill_(float(t.mean()))
            shapes = [p.shape for p in params]
            sizes = [p.numel() for p in params]

            def set_flat(v, params=params, shapes=shapes, sizes=sizes):
                with torch.no_grad():
                    for p, chunk in zip(params, np.split(v, np.cumsum(sizes)[:-1])):
                        p.copy_(torch.from_numpy(chunk.astype(np.float32)).reshape(p.shape))

            def loss_grad(v, fm=fm, x=x, t=t, params=params, set_flat=set_flat):
                set_flat(v)
                for p in params:
                    p.grad = None
                loss = ((fm.torch_forward(x).reshape(-1) - t) ** 2).mean()
                loss.backward()
                return float(loss.detach()), np.concatenate([p.grad.numpy().ravel() for p in params]).astype(np.float64)

            v0 = np.concatenate([p.detach().numpy().ravel() for p in params]).astype(np.float64)
            res = minimize(loss_grad, v0, jac=True, method="L-BFGS-B",
                           options={"maxiter": steps, "ftol": tol * 1e-3, "gtol": 1e-10})
            set_flat(res.x)
            worst = max(worst, float(res.fun))
        return worst

    def finetune(self, y: np.ndarray, rows: np.ndarray, prior_out: np.ndarray, steps: int, anchor: float):
        """End-to-end training on the measured sums of networks ``rows``, with an L2 pull of the per-layer
        outputs towards the prior (``anchor``) so that the MLP learns corrections, not a new model."""
        sel = np.isin(self.sums.s_idx, rows)
        remap = np.full(len(y), -1)
        remap[rows] = np.arange(len(rows))
        s_idx = torch.from_numpy(remap[self.sums.s_idx[sel]])
        u_idx = torch.from_numpy(self.sums.u_idx[sel])
        cnt = torch.from_numpy(self.sums.cnt[sel].astype(np.float32))
        yt = torch.from_numpy(np.log(y[rows]).astype(np.float32))
        p = torch.from_numpy(prior_out.astype(np.float32))
        live = torch.from_numpy(~self.sums.eng["free"])
        opt = torch.optim.Adam(self.params(), lr=self.cfg.lr, weight_decay=0.0)
        for _ in range(steps):
            o = self.out()
            loss = ((self.network_log(o, rows, s_idx, u_idx, cnt) - yt) ** 2).mean() \
                + anchor * ((o - p)[live] ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


_LAYER_RIDGE = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)   # pull of each group's correction towards 1
_MAX_LAYER_CELLS = 20_000_000                 # training rows x layer kinds above which stage 2 is skipped
_MIN_LAYER_FACTOR = 1e-2                      # a kind of layer costs at least 1 % of its prior


def _layer_matrix(sums: LayerSums, rows: np.ndarray, per_layer: np.ndarray, group: np.ndarray) -> np.ndarray:
    """[row, group]: how much of network ``rows[i]``'s prior latency each group of layers (``group``:
    each distinct layer's kind or operator type) is."""
    pos = np.full(int(sums.s_idx.max()) + 1, -1)
    pos[rows] = np.arange(len(rows))
    sel = pos[sums.s_idx] >= 0
    C = np.zeros((len(rows), int(group.max()) + 1))
    np.add.at(C, (pos[sums.s_idx[sel]], group[sums.u_idx[sel]]), sums.cnt[sel] * per_layer[sums.u_idx[sel]])
    return C


def _layer_correction(C: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Non-negative factor m per layer kind minimising sum(((C m - y) / y)^2) + ridge * sum((m - 1)^2)."""
    from scipy.optimize import nnls
    used = np.nonzero(C.any(axis=0))[0]
    m = np.ones(C.shape[1])
    if len(used) == 0:
        return m
    B = C[:, used] / y[:, None]
    r = np.sqrt(ridge)
    A = np.vstack([B, r * np.eye(len(used))])
    rhs = np.concatenate([np.ones(len(y)), np.full(len(used), r)])
    m[used], _ = nnls(A, rhs, maxiter=50 * len(used) + 100)
    return m


def fit_networks(networks_by_variant: dict, y: np.ndarray, train_idx: np.ndarray, cfg: TrainConfig = None,
                 reference_hw: str = "neural_engine", folds: int = 5, seed: int = 0, mlp: bool = False,
                 mlp_steps: int = 300, anchor: float = 0.1, metadata: dict | None = None,
                 sums: dict | None = None) -> Estimator:
    """Fit a measured-mode Estimator to whole-network latencies ``y`` of rows ``train_idx``.

    ``networks_by_variant``: {variant: networks} (e.g. NB201 as written and pruned), the same rows in
    each (``sums``: their :func:`layer_sums`, if already computed). Two stages, each chosen by
    ``folds``-fold cross-validation over all training rows:

    1. the linear prior: a variant, a ``PRIOR_MODELS`` entry and a ``_RIDGE`` strength;
    2. a non-negative factor on the prior's per-layer latency for each operator type (same operator
       and kernel) or each layer kind (same operator and shapes), pulled towards 1 with a
       ``_LAYER_RIDGE`` strength, or none at all (the prior alone).

    Each stage takes the simplest candidate within one standard error of the best cross-validated
    error (leave-one-out up to ``_LOO_ROWS`` rows), which keeps ten-row fits from chasing noise.

    The resulting per-layer latencies are distilled into the per-family MLPs of a measured-mode
    Estimator; ``mlp=True`` then also trains those end to end on the summed latencies (``mlp_steps``,
    pulled towards the distilled outputs by ``anchor``), for networks whose layers the table does not
    resolve.
    """
    cfg = cfg or MEASURED_CONFIG
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    y = np.asarray(y, dtype=float)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if len(train_idx) < 2 or not np.all(np.isfinite(y[train_idx]) & (y[train_idx] > 0)):
        raise CodesignError("measured training: expected >= 2 training rows with positive finite latencies")
    ref = load_hardware(reference_hw)
    sums = sums or {v: layer_sums(n, ref) for v, n in networks_by_variant.items()}
    fold = _folds(len(train_idx), folds, rng)
    best, table = _select_prior(sums, y, train_idx, fold)
    s = sums[best["variant"]]
    cols = _prior_columns(s, best["model"])
    yt = y[train_idx]
    # stage 2: a correction per operator type, then per layer kind, its strength (or none) by the same
    # folds; candidates simplest first (coarser groups, stronger pull towards the prior)
    layer_cv = [{"groups": "none", "ridge": None, "cv_mse_log": best["cv_mse_log"], "cv_se": best["cv_se"]}]
    for groups in ("optype", "kind"):
        g = getattr(s, groups)
        if len(train_idx) * (int(g.max()) + 1) > _MAX_LAYER_CELLS:
            continue
        preds = {lam: np.empty(len(train_idx)) for lam in _LAYER_RIDGE}
        for k in np.unique(fold):
            tr, te = train_idx[fold != k], train_idx[fold == k]
            coef = np.zeros(len(s.terms))
            coef[cols] = _nnls_relative(s.S[tr][:, cols], y[tr], best["ridge"])
            p_layer = s.G @ coef
            C_tr, C_te = _layer_matrix(s, tr, p_layer, g), _layer_matrix(s, te, p_layer, g)
            for lam in _LAYER_RIDGE:
                m = np.maximum(_layer_correction(C_tr, y[tr], lam), _MIN_LAYER_FACTOR)
                preds[lam][fold == k] = C_te @ m
        for lam in sorted(_LAYER_RIDGE, reverse=True):
            e = _log_errors(preds[lam], yt)
            layer_cv.append({"groups": groups, "ridge": lam, "cv_mse_log": float(e.mean()),
                             "cv_se": float(e.std() / np.sqrt(len(e)))})
    pick = _one_standard_error(layer_cv)
    choice = "none" if pick["ridge"] is None else f"{pick['groups']}:{pick['ridge']:g}"
    per_layer = s.G @ best["coef"]
    if pick["ridge"] is not None:
        g = getattr(s, pick["groups"])
        m = np.maximum(_layer_correction(_layer_matrix(s, train_idx, per_layer, g), yt, pick["ridge"]), _MIN_LAYER_FACTOR)
        per_layer = per_layer * m[g]
    scale = float(np.exp(np.median(np.log(yt / np.maximum(s.S[train_idx, 0], 1e-9)))))
    base = np.where(s.eng["free"], 0.0, s.eng["base_cycles"])
    with np.errstate(divide="ignore"):
        target_out = np.where(s.eng["free"], 0.0, np.log(np.maximum(per_layer, 1e-9 * np.maximum(base, 1e-9) * scale)
                                                          / (np.maximum(base, 1e-9) * scale)))
    model = _PerLayerModel(s, cfg, scale)
    distil_mse = model.distil(target_out)
    if mlp:
        model.finetune(y, train_idx, target_out, mlp_steps, anchor)
    for fm in model.families.values():
        fm.mlp.eval()
    meta = {"trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": time.perf_counter() - t0,
            "samples": int(len(train_idx)), "reference_hardware": ref.name, "folds": int(len(np.unique(fold))),
            "prior": {"variant": best["variant"], "model": best["model"], "ridge": best["ridge"],
                      "cv_mse_log": best["cv_mse_log"],
                      "coefficients": {f"{k}:{f}": float(c) for (k, f), c in zip(s.terms, best["coef"]) if c != 0}},
            "cv": table, "layer_correction": {"chosen": choice, "cv": layer_cv},
            "mlp": bool(mlp), "distil_mse_log": distil_mse, "pruned": best["variant"] == "pruned",
            "config": dict(cfg.__dict__), "seed": int(seed), **(metadata or {})}
    return Estimator("measured", model.families, meta, ref, scale)


def predict_table(est: Estimator, sums: LayerSums, rows) -> np.ndarray:
    """``est``'s latency for networks ``rows`` of a table, from its distinct layers (the per-layer
    prediction of :meth:`Estimator.predict_layers`, summed; equal to ``predict_pairs`` without
    rebuilding the networks' tables)."""
    hw_rows = F.take_rows(F.hardware_table([est.reference_hardware]), np.zeros(sums.U.shape[1], np.int64))
    lat = est.predict_layers(sums.U, hw_rows)["latency"]
    tot = np.zeros(int(sums.s_idx.max()) + 1)
    np.add.at(tot, sums.s_idx, sums.cnt * lat[sums.u_idx])
    return tot[np.asarray(rows, dtype=np.int64)]


def evaluate_networks(path, target: str, train=DEFAULT_TRAIN_SHARE, seed: int = 0, cfg: TrainConfig | None = None,
                      test_rows: int | None = None, folds: int = 5, mlp: bool = False, mlp_steps: int = 300,
                      table: NetworkTable | None = None, cache: dict | None = None) -> MeasuredResult:
    """Train on ``train`` (share or count) of a per-network table's usable rows for ``target``, chosen at
    random with ``seed``, and test on the others (or ``test_rows`` of them). The table is read, every
    cell checked and every network built before any training starts."""
    t = table or read_network_table(path, target, cache=cache)
    n = len(t.latency)
    n_train = split_size(train, n, str(path), target, t.blank_rows)
    perm = np.random.default_rng(seed).permutation(n)
    train_idx = np.sort(perm[:n_train])
    test_idx = perm[n_train:] if test_rows is None else perm[n_train:n_train + test_rows]
    est = fit_networks(t.networks, t.latency, train_idx, cfg, folds=folds, seed=seed, mlp=mlp, mlp_steps=mlp_steps,
                       metadata={"source": str(path), "target": target, "format": t.format,
                                 "blank_rows": t.blank_rows, "blank_network_rows": t.blank_network_rows,
                                 "usable_rows": n, "table_rows": t.total_rows}, sums=t.layer_sums())
    pred = predict_table(est, t.layer_sums()["pruned" if est.metadata["pruned"] else "as_written"], test_idx)
    macs = np.array([m.macs for m in t.networks["as_written"]], dtype=float)
    base = _macs_baseline(macs[train_idx], t.latency[train_idx], macs[test_idx])
    extra = {"train_archs": int(n_train), "test_archs": int(len(test_idx)), "pruned": est.metadata["pruned"],
             "blank_rows": t.blank_rows, "usable_rows": n, "format": t.format, "prior": est.metadata["prior"]["model"],
             "layer_correction": est.metadata["layer_correction"]["chosen"], "mlp": est.metadata["mlp"], "seconds": est.metadata["seconds"]}
    return MeasuredResult(target, est, _metrics(pred, t.latency[test_idx]), _metrics(base, t.latency[test_idx]), extra)
