"""Accuracy signals for the joint network/hardware search: how good a network is likely to be.

Three sources, cheapest first:

* **Lookup table** for the NAS-Bench-201 space (Dong & Yang, ICLR 2020): ``NB201Table`` holds the
  200-epoch test accuracy of all 15,625 cells on CIFAR-10, CIFAR-100 and ImageNet16-120, packaged
  in ``codesign/data/nb201_cifar.npz`` (provenance in ``codesign/data/README.md``).
* **Zero-shot proxies** on a freshly initialised torch module and one batch of inputs
  (``score(model, name, inputs)``): synflow, NASWOT and grad-norm, always with the #params and FLOPs
  baselines beside them (``score_all``), because on NAS-Bench-201 the baselines rank about as well
  as the proxies (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021).
  Every score is "higher predicts more accurate".
* **Short training** on a dataset the user supplies (``train_short``): a torch ``Dataset`` or an
  ``.npz`` with ``x`` (N, C, H, W) and ``y`` (N,), early-stopped on a held-out validation split.

Randomness comes only from the ``seed`` arguments (through ``torch.Generator`` objects and a forked
global RNG), so a score or a training run repeats exactly on the same machine and leaves the
caller's RNG state and model untouched (training changes the model's weights, on purpose).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import math
import os
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


from .errors import CodesignError
from .nb201 import EDGES as NB201_EDGES
from .nb201 import OPS as NB201_OPS
from .nb201 import arch_str, op_indices

# ============================================================================ NAS-Bench-201 table
DATASETS = ("cifar10", "cifar100", "imagenet16_120")
NB201_SIZE = len(NB201_OPS) ** len(NB201_EDGES)   # 15,625 cells
DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "nb201_cifar.npz"
TABLE_FORMAT = 1
_CSV_ACC = {d: f"{d}_test_acc" for d in DATASETS}
_CSV_COLUMNS = ("arch_index", "arch_str", *_CSV_ACC.values(), "flops_M_cifar10", "params_M_cifar10")
_PLACE = len(NB201_OPS) ** np.arange(len(NB201_EDGES) - 1, -1, -1)   # base-5 digits, first edge most significant


@dataclass(frozen=True, eq=False)
class NB201Table:
    """NAS-Bench-201 test accuracies and cost of every cell; row i is the official ``arch_index`` i.

    The official index order is the benchmark's own (not a formula of the ops), so the table stores
    each row's ops; ``index`` inverts it through the base-5 code of the six op indices.
    """

    ops: np.ndarray          # (15625, 6) int8, op indices into NB201_OPS, edges in NB201_EDGES order
    accuracies: dict         # dataset -> (15625,) float32 test accuracy in %, 200 epochs, mean over seeds
    flops: np.ndarray        # (15625,) float32 MFLOPs of the CIFAR-10 net (NB201 counting: multiply-adds)
    params: np.ndarray       # (15625,) float32 millions of parameters of the CIFAR-10 net
    source: str = ""         # the file it was read from
    _by_code: np.ndarray = field(init=False, repr=False)   # base-5 code of the ops -> arch_index

    def __post_init__(self):
        """Shapes, dtypes and ranges, and every one of the 5^6 cells exactly once."""
        where = self.source or "NB201Table"
        n, e = NB201_SIZE, len(NB201_EDGES)
        ops = np.asarray(self.ops)
        if ops.shape != (n, e) or ops.dtype != np.int8:
            raise CodesignError(f"{where}: ops: expected an int8 array of shape ({n}, {e}), "
                                f"got {ops.dtype} {ops.shape}")
        if ops.min() < 0 or ops.max() >= len(NB201_OPS):
            raise CodesignError(f"{where}: ops: expected op indices 0..{len(NB201_OPS) - 1}")
        codes = ops.astype(np.int64) @ _PLACE
        by_code = np.full(n, -1, dtype=np.int64)
        by_code[codes] = np.arange(n)
        if (by_code < 0).any():
            raise CodesignError(f"{where}: ops: expected each of the {n} cells exactly once")
        if sorted(self.accuracies) != sorted(DATASETS):
            raise CodesignError(f"{where}: accuracies: expected datasets {', '.join(DATASETS)}, "
                                f"got {', '.join(self.accuracies)}")
        named = {**{f"accuracy {d}": a for d, a in self.accuracies.items()}, "flops": self.flops, "params": self.params}
        for what, a in named.items():
            a = np.asarray(a)
            if a.shape != (n,) or a.dtype != np.float32 or not np.isfinite(a).all():
                raise CodesignError(f"{where}: {what}: expected {n} finite float32 values, got {a.dtype} {a.shape}")
        for d, a in self.accuracies.items():
            if a.min() < 0 or a.max() > 100:
                raise CodesignError(f"{where}: accuracy {d}: expected percentages in [0, 100]")
        object.__setattr__(self, "_by_code", by_code)

    arch_str = staticmethod(arch_str)
    op_indices = staticmethod(op_indices)

    def __len__(self) -> int:
        return len(self.ops)

    # -- loading -----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "NB201Table":
        """The packaged table (``path=None``), a table written by ``save``, or the original CSV
        (columns ``arch_index, arch_str, <dataset>_test_acc..., flops_M_cifar10, params_M_cifar10``)."""
        path = Path(path) if path is not None else DEFAULT_TABLE
        if not path.is_file():
            raise CodesignError(f"{path}: NAS-Bench-201 table not found")
        if path.suffix.lower() == ".csv":
            return cls._from_csv(path)
        z = read_npz(path)
        for key in ("format", "op_names", "ops", *(f"acc_{d}" for d in DATASETS), "flops_M", "params_M"):
            if key not in z:
                raise CodesignError(f"{path}: missing array {key!r} (expected a table written by NB201Table.save)")
        fmt = z["format"]
        if fmt.shape != () or fmt.dtype.kind not in "iu" or int(fmt) != TABLE_FORMAT:
            raise CodesignError(f"{path}: format: expected {TABLE_FORMAT}, got {fmt!r}")
        if tuple(str(s) for s in z["op_names"]) != NB201_OPS:
            raise CodesignError(f"{path}: op_names: expected {NB201_OPS}, got {tuple(z['op_names'])}")
        return cls(ops=z["ops"], accuracies={d: z[f"acc_{d}"] for d in DATASETS}, flops=z["flops_M"],
                   params=z["params_M"], source=str(path))

    @classmethod
    def _from_csv(cls, path: Path) -> "NB201Table":
        try:
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or ())]
                if missing:
                    raise CodesignError(f"{path}: missing column {missing[0]!r} (expected {', '.join(_CSV_COLUMNS)})")
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CodesignError(f"{path}: cannot read the CSV ({type(exc).__name__}: {exc})") from None
        if len(rows) != NB201_SIZE:
            raise CodesignError(f"{path}: expected {NB201_SIZE} rows (one per NAS-Bench-201 cell), got {len(rows)}")
        ops = np.full((NB201_SIZE, len(NB201_EDGES)), -1, dtype=np.int8)
        values = np.full((len(DATASETS) + 2, NB201_SIZE), np.nan)
        value_cols = (*_CSV_ACC.values(), "flops_M_cifar10", "params_M_cifar10")
        for line, row in enumerate(rows, start=2):
            try:
                i = int(row["arch_index"])
                vals = [float(row[c]) for c in value_cols]
            except (TypeError, ValueError):
                raise CodesignError(f"{path}: line {line}: expected an integer arch_index and numeric "
                                    f"{', '.join(value_cols)}") from None
            if not 0 <= i < NB201_SIZE or ops[i, 0] >= 0:
                raise CodesignError(f"{path}: line {line}: arch_index {i} out of range 0..{NB201_SIZE - 1} "
                                    f"or repeated")
            try:
                ops[i] = op_indices(row["arch_str"])
            except CodesignError as exc:
                raise CodesignError(f"{path}: line {line}: {exc}") from None
            values[:, i] = vals
        return cls(ops=ops, accuracies={d: values[k].astype(np.float32) for k, d in enumerate(DATASETS)},
                   flops=values[-2].astype(np.float32), params=values[-1].astype(np.float32), source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write the table as a compressed .npz (atomically: a killed write leaves no partial file)."""
        from accelsim.io import atomic_open
        with atomic_open(path, binary=True) as fh:
            np.savez_compressed(fh, format=np.int16(TABLE_FORMAT), op_names=np.array(NB201_OPS), ops=self.ops,
                                **{f"acc_{d}": a for d, a in self.accuracies.items()},
                                flops_M=self.flops, params_M=self.params)

    # -- lookup ------------------------------------------------------------------------------------
    def index(self, arch) -> int:
        """The official arch_index of an arch string or six op indices."""
        return int(self._by_code[np.asarray(op_indices(arch), dtype=np.int64) @ _PLACE])

    def indices(self, ops: np.ndarray) -> np.ndarray:
        """Vectorised ``index`` for an (n, 6) array of op indices."""
        ops = np.asarray(ops)
        if ops.ndim != 2 or ops.shape[1] != len(NB201_EDGES) or ops.min() < 0 or ops.max() >= len(NB201_OPS):
            raise CodesignError(f"NB201Table.indices: expected an (n, 6) array of op indices 0..{len(NB201_OPS) - 1}")
        return self._by_code[ops.astype(np.int64) @ _PLACE]

    def accuracy(self, arch, dataset: str = "cifar10") -> float:
        """Test accuracy in % of an arch string or six op indices on ``dataset``."""
        if dataset not in self.accuracies:
            raise CodesignError(f"NB201Table.accuracy: dataset: expected one of {', '.join(DATASETS)}, got {dataset!r}")
        return float(self.accuracies[dataset][self.index(arch)])


def read_npz(path: str | os.PathLike) -> dict:
    """All arrays of an .npz (no pickles) as a dict; a missing or unreadable file is a CodesignError."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: file not found")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # numpy's text for an object array advises allow_pickle=True, which would run code from the
        # file: say what is wrong instead
        why = "holds object arrays (pickles), which are not read" if "allow_pickle" in str(exc) else \
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
        raise CodesignError(f"{path}: not a readable .npz archive ({why})") from None


# ============================================================================ zero-shot proxies
ZERO_SHOT = ("synflow", "naswot", "grad_norm")
BASELINES = ("params", "flops")
# Every name ``score`` accepts; the baselines are listed with the proxies because a proxy is only
# worth its cost where it beats them.
PROXIES = ZERO_SHOT + BASELINES
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)   # layers whose weights the proxies sum over
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_RELU = (nn.ReLU, nn.ReLU6)


def _replace_modules(net: nn.Module, match, make) -> None:
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, match):
                setattr(parent, name, make(child))


def _model_device_dtype(model: nn.Module):
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def synflow(model: nn.Module, inputs: torch.Tensor) -> float:
    """log of the synflow score (Tanaka et al. 2020): sum over conv/linear weights of |w * dR/dw| with
    R = sum of the outputs, every parameter replaced by its absolute value, input all ones.

    Computed on a float64 copy with BatchNorm removed (the "synflow" entry of Abdelfattah et al.
    2021, not "synflow_bn"): with a constant input the batch statistics are degenerate, and BN's
    per-channel rescaling is not part of the path-norm that synflow measures. ReLU6 is swapped for
    ReLU because with positive weights and inputs every activation is positive and grows with
    depth, so a clip at 6 would zero the gradient of whole layers. float64 and the log keep the
    product of per-layer gains in range (up to about 1e50 for NAS-Bench-201 at default init, 1e90
    for the largest network of codesign's default space); a net whose output does not depend on its
    weights (an NB201 cell cut off by 'none' edges) gives -inf.
    """
    net = copy.deepcopy(model).double().eval()
    _replace_modules(net, _BN, lambda m: nn.Identity())
    _replace_modules(net, nn.ReLU6, lambda m: nn.ReLU())
    device, _ = _model_device_dtype(net)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_().requires_grad_(True)   # frozen parameters are scored too
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=device)
    with torch.enable_grad():
        net(x).sum().backward()
    total = 0.0
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, _WEIGHTED) and m.weight.grad is not None:
                total += float((m.weight * m.weight.grad).abs().sum())
    return math.log(total) if total > 0 else float("-inf")


def naswot(model: nn.Module, inputs: torch.Tensor) -> float:
    """NASWOT score (Mellor et al. 2021): log|K| for the minibatch kernel K[i, j] = number of ReLU units
    on which inputs i and j agree (both active or both inactive).

    Hooks every ``nn.ReLU`` / ``nn.ReLU6`` module (a unit is active when its input is > 0), in train
    mode as the reference code runs it (BatchNorm uses the batch's statistics), on a copy of the model.
    A singular K (inputs the net cannot tell apart) gives -inf.
    """
    net = copy.deepcopy(model).train()
    device, dtype = _model_device_dtype(net)
    x = inputs.to(device=device, dtype=dtype)
    n = x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=device)
    chunk = 1 << 22   # +-1 dot products stay exact in float32 below 2^24 terms

    def hook(module, args, output):
        nonlocal kernel
        signs = (args[0].detach().reshape(n, -1) > 0).to(torch.float32) * 2 - 1
        for s in signs.split(chunk, dim=1):
            # agreements = (units + s.s') / 2 for +-1 codes
            kernel += (s @ s.T).double().add_(s.shape[1]).mul_(0.5)

    _forward_with_hook(net, x, _RELU, hook)
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    return float(logdet) if float(sign) > 0 else float("-inf")


def grad_norm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None, seed: int = 0) -> float:
    """Sum over conv/linear layers of the L2 norm of the weight gradient of the cross-entropy on one
    minibatch (the "grad_norm" of Abdelfattah et al. 2021), in train mode on a copy of the model.
    Without ``targets``, labels are drawn uniformly over the output classes from ``seed``."""
    net = copy.deepcopy(model).train().requires_grad_(True)   # frozen parameters are scored too
    device, dtype = _model_device_dtype(net)
    x = inputs.to(device=device, dtype=dtype)
    net.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = net(x)
        if targets is None:
            gen = torch.Generator().manual_seed(int(seed))
            targets = torch.randint(out.shape[1], (x.shape[0],), generator=gen)
        F.cross_entropy(out, targets.to(device=device, dtype=torch.long)).backward()
    total = 0.0
    for m in net.modules():
        if isinstance(m, _WEIGHTED) and m.weight.grad is not None:
            total += float(m.weight.grad.double().norm())
    return total


def param_count(model: nn.Module) -> float:
    """Number of trainable parameters (BatchNorm affine included, as NAS-Bench-201 counts them)."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def flop_count(model: nn.Module, inputs: torch.Tensor) -> float:
    """FLOPs per sample as NAS-Bench-201 counts them (AutoDL ``flop_benchmark``): one per multiply-add
    of every conv and linear layer plus one per bias add; pooling, BatchNorm and activations are free."""
    net = copy.deepcopy(model).eval()
    device, dtype = _model_device_dtype(net)
    x = inputs[:1].to(device=device, dtype=dtype)
    total = 0

    def hook(module, args, output):
        nonlocal total
        if isinstance(module, nn.Linear):
            positions = output.numel() // module.out_features
            total += positions * module.in_features * module.out_features
        else:
            positions = output[0, 0].numel() * output.shape[0]
            total += positions * module.weight[0].numel() * module.out_channels
        if module.bias is not None:
            total += output.numel()

    _forward_with_hook(net, x, _WEIGHTED, hook)
    return float(total)


def _forward_with_hook(net: nn.Module, x: torch.Tensor, kinds, hook) -> None:
    """One no-grad forward pass with ``hook`` on every module of the given types (removed after)."""
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()


def score(model: nn.Module, name: str, inputs: torch.Tensor, targets: torch.Tensor | None = None,
          seed: int = 0) -> float:
    """One accuracy proxy (a name in ``PROXIES``) of ``model`` on a batch ``inputs`` (N, C, H, W);
    higher predicts a more accurate network. The model is not changed, the global RNG is restored,
    and any randomness (labels for grad_norm, dropout) comes from ``seed``."""
    if name not in PROXIES:
        raise CodesignError(f"score: name: expected one of {', '.join(PROXIES)}, got {name!r}")
    if not isinstance(model, nn.Module):
        raise CodesignError(f"score: model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2 or inputs.shape[0] < 1:
        raise CodesignError("score: inputs: expected a tensor (N, ...) with N >= 1")
    if name == "params":
        return param_count(model)
    device, _ = _model_device_dtype(model)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        if name == "synflow":
            return synflow(model, inputs)
        if name == "naswot":
            if inputs.shape[0] < 2:
                raise CodesignError("score: naswot: inputs: expected a batch of at least 2")
            return naswot(model, inputs)
        if name == "grad_norm":
            return grad_norm(model, inputs, targets, seed)
        return flop_count(model, inputs)


def score_all(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None, seed: int = 0,
              names=PROXIES) -> dict:
    """``{name: score}`` for several proxies (all of them, baselines included, by default)."""
    return {name: score(model, name, inputs, targets, seed) for name in names}


def genome_seed(key, seed: int = 0) -> int:
    """A seed for one genome: a stable hash (SHA-256 of ``repr``) of its key and the run's ``seed``, so the
    same genome is initialised alike in every run, process and evaluation order (``hash()`` is salted per
    process and would not do). ``key`` is a tuple of plain values (ints, floats, strings)."""
    digest = hashlib.sha256(repr((int(seed), key)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1   # 63 bits: torch.manual_seed takes it


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch's intra-op thread count pinned to ``threads`` (None: left as it is),
    restored after. Torch on the CPU splits reductions (sums, matrix products, convolutions) among
    its threads, so the thread count can change the last bits of a result."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded(seed: int, threads: int | None = 1):
    """Run the block with torch's global RNG seeded from ``seed`` and, unless ``threads`` is None, torch's
    intra-op thread count pinned to ``threads``; both are restored after.

    Building a module inside draws its initial weights from ``seed``, so a zero-shot score depends on
    the genome alone; a fixed thread count fixes the order of floating-point reductions, so the score
    does not depend on the machine's core count either (a float sum in another order differs in the
    last bits, which is enough to reorder a Pareto front).
    """
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        torch.manual_seed(int(seed))
        yield


def reset_parameters(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every submodule that has ``reset_parameters`` (torch's default init, BN running
    statistics too) from ``seed``, without touching the global RNG; returns the model."""
    device, _ = _model_device_dtype(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seed))
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


# ============================================================================ short training
def load_training_npz(path: str | os.PathLike) -> torch.utils.data.TensorDataset:
    """An .npz with ``x`` (N, C, H, W) floats and ``y`` (N,) integer class labels >= 0, as a dataset."""
    z = read_npz(path)
    for key in ("x", "y"):
        if key not in z:
            raise CodesignError(f"{path}: missing array {key!r} (expected x (N, C, H, W) floats and y (N,) labels)")
    x, y = z["x"], z["y"]
    if x.ndim != 4 or x.dtype.kind != "f":
        raise CodesignError(f"{path}: x: expected a float array of shape (N, C, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise CodesignError(f"{path}: y: expected {len(x)} integer labels (shape ({len(x)},)), got {y.dtype} {y.shape}")
    if len(y) and y.min() < 0:
        raise CodesignError(f"{path}: y: expected class labels >= 0, got {int(y.min())}")
    if not np.isfinite(x).all():
        raise CodesignError(f"{path}: x: expected finite values")
    return torch.utils.data.TensorDataset(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                                          torch.from_numpy(y.astype(np.int64)))


def _positive(name, value, integer=True):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if not ok or isinstance(value, bool) or not value > 0:
        raise CodesignError(f"train_short: {name}: expected a positive {'integer' if integer else 'number'}, "
                            f"got {value!r}")


def _evaluate(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for xb, yb in loader:
            out = model(xb.to(device))
            correct += int((out.argmax(1) == yb.to(device)).sum())
            total += len(yb)
    return 100.0 * correct / max(total, 1)


def train_short(model: nn.Module, data, *, epochs: int = 20, batch_size: int = 128, lr: float = 0.05,
                patience: int = 3, val_fraction: float = 0.2, seed: int = 0, device=None,
                max_minutes: float | None = None, weight_decay: float = 5e-4, min_delta: float = 0.0) -> dict:
    """Train ``model`` briefly and return its best validation accuracy, as a search-time accuracy signal.

    ``data`` is a map-style torch ``Dataset`` of (x, label) pairs or the path of an .npz with ``x``
    (N, C, H, W) floats and ``y`` (N,) labels. A ``val_fraction`` of it (drawn from ``seed``) is held
    out. SGD (momentum 0.9, Nesterov) with a cosine schedule over ``epochs``; training stops after
    ``patience`` epochs without a validation gain above ``min_delta`` points, at ``epochs``, or once
    ``max_minutes`` have passed. The model ends with its best epoch's weights, on its original device.
    CUDA is used when available and ``device`` is None.

    Returns ``{"best_val_acc" (%), "best_epoch" (1-based), "epochs_run", "stopped" ("patience",
    "epochs", "time" or "diverged"), "seconds", "device", "history"}``; ``history`` has one dict per
    epoch with ``epoch``, ``train_loss``, ``train_acc`` (%), ``val_acc`` (%) and ``seconds``.
    """
    if not isinstance(model, nn.Module):
        raise CodesignError(f"train_short: model: expected a torch.nn.Module, got {type(model).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        _positive(name, value)
    _positive("lr", lr, integer=False)
    if max_minutes is not None:
        _positive("max_minutes", max_minutes, integer=False)
    if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise CodesignError(f"train_short: val_fraction: expected a number in (0, 1), got {val_fraction!r}")
    if isinstance(data, (str, os.PathLike)):
        dataset = load_training_npz(data)
    elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        dataset = data
    else:
        raise CodesignError(f"train_short: data: expected a map-style torch Dataset or an .npz path, "
                            f"got {type(data).__name__}")
    n = len(dataset)
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 1:
        raise CodesignError(f"train_short: data: {n} samples cannot be split into training and validation "
                            f"with val_fraction={val_fraction}")
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    home, _ = _model_device_dtype(model)

    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=gen).tolist()
    Subset, DataLoader = torch.utils.data.Subset, torch.utils.data.DataLoader
    train_loader = DataLoader(Subset(dataset, order[n_val:]), batch_size=batch_size, shuffle=True, generator=gen)
    val_loader = DataLoader(Subset(dataset, order[:n_val]), batch_size=batch_size, shuffle=False)

    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    start = time.perf_counter()
    deadline = start + 60.0 * max_minutes if max_minutes is not None else None
    best_acc, best_epoch, best_state, stale = -1.0, 0, None, 0
    history, stopped = [], "epochs"
    try:
        # dropout and any other use of the global RNG draw from the seed, and the caller's state comes back
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(int(seed))
            for epoch in range(1, epochs + 1):
                model.train()
                loss_sum, correct, seen, out_of_time = 0.0, 0, 0, False
                for xb, yb in train_loader:
                    xb, yb = xb.to(device), yb.to(device=device, dtype=torch.long)
                    out = model(xb)
                    if epoch == 1 and seen == 0 and (out.ndim != 2 or int(yb.max()) >= out.shape[1]):
                        raise CodesignError(f"train_short: data: label {int(yb.max())} does not fit the model's "
                                            f"output of shape {tuple(out.shape)}")
                    loss = F.cross_entropy(out, yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    loss_sum += float(loss.detach()) * len(yb)
                    correct += int((out.argmax(1) == yb).sum())
                    seen += len(yb)
                    if deadline is not None and time.perf_counter() > deadline:
                        out_of_time = True
                        break
                sched.step()
                val_acc = _evaluate(model, val_loader, device)
                train_loss = loss_sum / max(seen, 1)
                history.append({"epoch": epoch, "train_loss": train_loss, "train_acc": 100.0 * correct / max(seen, 1),
                                "val_acc": val_acc, "seconds": time.perf_counter() - start})
                if not math.isfinite(train_loss):
                    stopped = "diverged"
                    break
                if val_acc > best_acc + min_delta or best_state is None:
                    best_acc, best_epoch, stale = val_acc, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                if stale >= patience:
                    stopped = "patience"
                    break
                if out_of_time:
                    stopped = "time"
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
    finally:
        model.to(home)
    return {"best_val_acc": best_acc, "best_epoch": best_epoch, "epochs_run": len(history), "stopped": stopped,
            "seconds": time.perf_counter() - start, "device": str(device), "history": history}
