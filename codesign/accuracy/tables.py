"""The NAS-Bench-201 accuracy table (Dong & Yang, ICLR 2020): ``NB201Table`` holds the 200-epoch test
accuracy of all 15,625 cells on CIFAR-10, CIFAR-100 and ImageNet16-120, packaged in
``codesign/data/nb201_cifar.npz`` (provenance in ``codesign/data/README.md``). Needs no torch."""

from __future__ import annotations

import csv
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CodesignError
from ..spaces.nb201 import EDGES as NB201_EDGES
from ..spaces.nb201 import OPS as NB201_OPS
from ..spaces.nb201 import arch_str, op_indices

DATASETS = ("cifar10", "cifar100", "imagenet16_120")
NB201_SIZE = len(NB201_OPS) ** len(NB201_EDGES)   # 15,625 cells
DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "data" / "nb201_cifar.npz"
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
