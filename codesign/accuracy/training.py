"""Short training on a dataset the user supplies (``train_short``): a torch ``Dataset`` or an ``.npz``
with ``x`` (N, C, H, W) and ``y`` (N,), early-stopped on a held-out validation split. The seed fixes the
split, the batches and the initial weights; training changes the model's weights, on purpose."""

from __future__ import annotations

import math
import os
import time

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy.training"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

from ..errors import CodesignError
from .proxies import _model_device_dtype
from .tables import read_npz


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
