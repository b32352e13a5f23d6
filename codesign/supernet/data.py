"""Training data for the supernet: a synthetic image set (:func:`synthetic_dataset`), .npz files
(:func:`save_npz`, :func:`load_npz`, checked for shapes, label range and finite values) and
:func:`as_arrays`, which accepts an .npz path, an (x, y) pair, a dict or a torch Dataset.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.supernet.data"):
    import torch

from accelsim.io import atomic_open

from ..errors import CodesignError


def synthetic_dataset(n: int, resolution: int = 32, num_classes: int = 10, channels: int = 3, seed: int = 0,
                      noise: float = 0.6) -> tuple:
    """Oriented sine gratings, class = (orientation, spatial frequency), with jittered angle and
    frequency, random phase and per-channel gain, and Gaussian noise: images ``x`` (n, C, H, W)
    float32 and labels ``y`` (n,) int64. Learnable by a small CNN, not trivially."""
    if n <= 0 or resolution <= 0 or num_classes <= 0 or channels <= 0:
        raise CodesignError("synthetic_dataset: n, resolution, num_classes and channels must be positive")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(99,)))
    n_orient = max(1, math.ceil(num_classes / 2))
    y = rng.integers(num_classes, size=n)
    theta = np.pi * (y % n_orient) / n_orient + rng.normal(0.0, 0.06, n)
    cycles = np.where(y // n_orient == 0, 2.5, 5.0) * (1.0 + rng.normal(0.0, 0.05, n))
    phase = rng.uniform(0.0, 2 * np.pi, n)
    coords = (np.arange(resolution) - resolution / 2) / resolution
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    arg = 2 * np.pi * cycles[:, None, None] * (xx[None] * np.cos(theta)[:, None, None] +
                                                yy[None] * np.sin(theta)[:, None, None]) + phase[:, None, None]
    gain = rng.uniform(0.5, 1.5, (n, channels))
    x = gain[:, :, None, None] * np.sin(arg)[:, None] + rng.normal(0.0, noise, (n, channels, resolution, resolution))
    return x.astype(np.float32), y.astype(np.int64)


def save_npz(path: "str | os.PathLike", x: np.ndarray, y: np.ndarray) -> None:
    """Write ``x`` and ``y`` to an .npz (temporary file, then renamed into place)."""
    with atomic_open(path, binary=True) as fh:
        np.savez(fh, x=x, y=y)


def load_npz(path: "str | os.PathLike") -> tuple:
    """``x`` (N, C, H, W) and ``y`` (N,) integer class labels from an .npz, checked."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile, pickle and value errors all mean "not a readable npz"
        raise CodesignError(f"{path}: not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise CodesignError(f"{path}: missing key {key!r} (has {', '.join(sorted(arrays)) or 'no arrays'})")
    return _check_arrays(arrays["x"], arrays["y"], str(path))


def _check_arrays(x, y, where: str) -> tuple:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number):
        raise CodesignError(f"{where}: key 'x': expected a numeric array (N, C, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise CodesignError(f"{where}: key 'y': expected integer labels (N,), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise CodesignError(f"{where}: key 'y': {len(y)} labels for {len(x)} images")
    if len(y) and y.min() < 0:
        raise CodesignError(f"{where}: key 'y': labels must be >= 0, got {int(y.min())}")
    if not np.all(np.isfinite(x)):
        raise CodesignError(f"{where}: key 'x': has NaN or infinite values")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def as_arrays(data) -> tuple:
    """Images and labels from an .npz path, an (x, y) pair, a dict with x and y, or a torch Dataset
    of (image, label) items."""
    if isinstance(data, (str, os.PathLike)):
        return load_npz(data)
    if isinstance(data, dict):
        missing = [k for k in ("x", "y") if k not in data]
        if missing:
            raise CodesignError(f"data: missing key {missing[0]!r}")
        return _check_arrays(_np(data["x"]), _np(data["y"]), "data")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _check_arrays(_np(data[0]), _np(data[1]), "data")
    if isinstance(data, torch.utils.data.Dataset):
        items = [data[i] for i in range(len(data))]
        if not items:
            raise CodesignError("data: the dataset is empty")
        x = np.stack([_np(a) for a, _ in items])
        y = np.array([int(b) for _, b in items], dtype=np.int64)
        return _check_arrays(x, y, "data")
    raise CodesignError(f"data: expected an .npz path, an (x, y) pair, a dict or a torch Dataset, "
                        f"got {type(data).__name__}")


def _np(v) -> np.ndarray:
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
