"""Latency monotonicity across devices, and whether a Pareto front found on a proxy device can be reused
on a target device.

Lu et al. ("One Proxy Device Is Enough for Hardware-Aware Neural Architecture Search", SIGMETRICS
2022) observe that architectures' latency ranks are often correlated across devices; where they are,
the architectures found Pareto-optimal (latency vs accuracy) on one proxy device are close to optimal
on another, and the per-device search is not needed. This module measures both on any latency table:

- **The table** (:func:`read_latency_table`, :func:`load_inputs`): a CSV with one row per architecture,
  an architecture column (``arch_str``, ``arch``, ``architecture``, ``network``, ``model``, ``genome``,
  ``blocks`` or ``onnx``, the first present, or one named) and one latency column (ms) per device;
  ``arch_index`` is a row number, not a device. A blank cell means the device lacks that row; any other
  cell that is not a positive finite number is an error naming the file, row (spreadsheet numbering:
  the header is row 1) and column.
- **Rank correlation** (:func:`rank_correlations`): Spearman's rho (Pearson's r of average ranks, as
  ``scipy.stats.spearmanr``) and Kendall's tau-b for every device pair, each pair over the rows *both*
  devices have (pairwise deletion, so pairs may use different rows); a pair sharing fewer than
  ``min_shared`` rows is an error, not a number from a handful of points.
- **Front reuse** (:func:`front_reuse`), given one accuracy per row (larger is better): for each
  ordered (proxy, target) pair, over the rows both devices and the accuracy have, the proxy's Pareto
  front (minimum latency on the proxy, maximum accuracy) is evaluated on the target, and its
  hypervolume there is divided by that of the target's own true front. Reference point: the target's
  true front's nadir (its largest latency and lowest accuracy) pushed out by ``margin`` (10 %) of the
  front's range in each objective (of the nadir's magnitude where the front has no range, a one-point
  front), the rule of ``experiments/search_targets.py``; reused architectures beyond it count nothing.
  A share of 1.0 means the proxy's front is as good on the target as a search on the target itself.

Outputs (:func:`write_outputs`, atomically): ``spearman.csv`` (a matrix whose first row and first
column are the device names), ``pairs.csv`` (rows shared, Spearman and Kendall per pair), a heat map
``spearman.png``, ``front_reuse.csv`` when an accuracy is given, and ``summary.json``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.io import write_atomic, write_json

from .errors import CodesignError

ARCH_COLUMNS = ("arch_str", "arch", "architecture", "network", "model", "genome", "blocks", "onnx")
INDEX_COLUMNS = ("arch_index",)      # row numbering in published tables, not a device
MIN_SHARED_ROWS = 10                 # fewer shared rows per device pair is an error
HV_MARGIN = 0.1                      # reference point: the target front's nadir + 10 % of its range
NB201_SOURCE = "nb201"               # --accuracy nb201[:DATASET]: the packaged NAS-Bench-201 table


# ------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class LatencyTable:
    """Latencies of architectures (rows) on devices (columns); NaN where a device lacks a row."""

    archs: tuple               # the architecture cell of each row, as written
    devices: tuple             # device names, the latency columns in table order
    latency_ms: np.ndarray     # (rows, devices) float64 milliseconds, NaN = not measured
    source: str = ""           # where the table came from, for messages
    arch_column: str = "arch_str"
    rows: np.ndarray = field(default=None)   # (rows,) spreadsheet row number of each row (header = 1)

    def __post_init__(self):
        where = self.source or "latency table"
        lat = np.asarray(self.latency_ms, dtype=float)
        if lat.ndim != 2 or lat.shape != (len(self.archs), len(self.devices)):
            raise CodesignError(f"{where}: latency_ms: expected shape ({len(self.archs)}, {len(self.devices)}), "
                                f"got {lat.shape}")
        if len(self.devices) < 2:
            raise CodesignError(f"{where}: expected at least 2 device latency columns, got {len(self.devices)}"
                                + (f" ({', '.join(self.devices)})" if self.devices else ""))
        if len(set(self.devices)) != len(self.devices):
            dup = next(d for d in self.devices if self.devices.count(d) > 1)
            raise CodesignError(f"{where}: device {dup!r} appears twice")
        rows = np.arange(2, len(self.archs) + 2) if self.rows is None else np.asarray(self.rows)
        bad = ~np.isnan(lat) & ~(np.isfinite(lat) & (lat > 0))
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise CodesignError(f"{where}: row {rows[i]}: device {self.devices[j]!r}: expected a positive finite "
                                f"latency in ms or NaN (not measured), got {float(lat[i, j])!r}")
        object.__setattr__(self, "latency_ms", lat)
        object.__setattr__(self, "rows", rows)

    @property
    def blank_cells(self) -> int:
        return int(np.isnan(self.latency_ms).sum())


def _short(text, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_csv(path) -> "tuple[list[str], list[list[str]], list[int]]":
    """(header, data rows, each data row's spreadsheet row number: the header is row 1) of a UTF-8 CSV,
    blank rows left out; every way the file can be unreadable is one line."""
    p = Path(path)
    if not p.exists():
        from .estimator import measured   # a packaged table's name (help-nb201, ...) stands for its file
        if measured.packaged_table(path) is not None:
            header, rows = measured.packaged_rows(str(path))
            return list(header), list(rows), list(range(2, len(rows) + 2))
        raise CodesignError(f"{path}: no such file (packaged tables: {', '.join(measured.PACKAGED_TABLES)})")
    if not p.is_file():
        raise CodesignError(f"{path}: expected a CSV file, got a folder")
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise CodesignError(f"{path}: expected a UTF-8 text CSV, found byte 0x{exc.object[exc.start]:02x} "
                            f"at byte offset {exc.start}") from None
    except (OSError, csv.Error) as exc:
        raise CodesignError(f"{path}: unreadable CSV ({type(exc).__name__}: {_short(exc, 80)})") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise CodesignError(f"{path}: empty file or header (expected a header row and one row per architecture)")
    header = [c.strip() for c in rows[0]]
    numbered = [(r, i + 2) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]   # blank rows carry nothing
    if not numbered:
        raise CodesignError(f"{path}: no data rows under the header")
    rows, lines = [r for r, _ in numbered], [n for _, n in numbered]
    for k, name in enumerate(header):
        if not name and any(k < len(r) and r[k].strip() for r in rows):
            raise CodesignError(f"{path}: column {k + 1} holds values but has no name in the header")
    seen = set()
    for name in header:
        if name and name in seen:
            raise CodesignError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    return header, rows, lines


def _columns_text(header, skip=()) -> str:
    names = [h for h in header if h not in skip]
    return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")


def _arch_column(header, path, arch_column) -> str:
    if arch_column is not None:
        if arch_column not in header:
            raise CodesignError(f"{path}: no architecture column {arch_column!r} (--arch-column); columns: "
                                f"{_columns_text(header)}")
        return arch_column
    for name in ARCH_COLUMNS:
        if name in header:
            return name
    raise CodesignError(f"{path}: no architecture column (expected one of {', '.join(ARCH_COLUMNS)}, or name it "
                        f"with --arch-column); columns: {_columns_text(header)}")


def _cells(rows, col: int):
    """The stripped cells of one column; a short row's missing cell is blank."""
    return [(r[col].strip() if col < len(r) else "") for r in rows]


def _number_column(cells, path, name, lines, what: str = "latency in ms", positive: bool = True) -> np.ndarray:
    """One column's numbers (a blank cell is NaN); a cell that is not a finite number (and positive, when
    ``positive``) is one error line naming the file, row and column."""
    out = np.full(len(cells), np.nan)
    for i, raw in enumerate(cells):
        if not raw:
            continue
        try:
            v = float(raw)
        except ValueError:
            v = float("nan")
        if not (math.isfinite(v) and (v > 0 or not positive)):
            raise CodesignError(f"{path}: row {lines[i]}: column {name!r}: expected a "
                                f"{'positive ' if positive else ''}finite {what} (or a blank cell), got "
                                f"{_short(raw)!r}")
        out[i] = v
    return out


def read_latency_table(path, arch_column: "str | None" = None, devices=None, exclude=()) -> LatencyTable:
    """Read a latency table: every cell checked (a blank one is NaN). ``devices`` picks and orders the
    latency columns (default: every column but the architecture, ``arch_index`` and ``exclude``)."""
    header, rows, lines = _read_csv(path)
    return _table(path, header, rows, lines, arch_column, devices, exclude)


def _table(path, header, rows, lines, arch_column, devices, exclude) -> LatencyTable:
    arch = _arch_column(header, path, arch_column)
    not_devices = {arch, *INDEX_COLUMNS, *exclude}
    if devices is None:
        devices = [h for h in header if h not in not_devices and h]
    else:
        devices = list(devices)
        for d in devices:
            if d not in header:
                raise CodesignError(f"{path}: no device column {d!r}; columns: "
                                    f"{_columns_text(header, not_devices)}")
            if d in not_devices:
                raise CodesignError(f"{path}: column {d!r} is the architecture, row index or accuracy column, "
                                    "not a device")
        if len(set(devices)) != len(devices):
            raise CodesignError(f"{path}: device {next(d for d in devices if devices.count(d) > 1)!r} named twice")
    if len(devices) < 2:
        raise CodesignError(f"{path}: expected at least 2 device latency columns, got {len(devices)}"
                            + (f" ({', '.join(devices)})" if devices else ""))
    a = header.index(arch)
    archs = _cells(rows, a)
    for i, cell in enumerate(archs):
        if not cell:
            raise CodesignError(f"{path}: row {lines[i]}: column {arch!r}: empty architecture cell")
    lat = np.stack([_number_column(_cells(rows, header.index(d)), path, d, lines) for d in devices], axis=1)
    return LatencyTable(tuple(archs), tuple(devices), lat, str(path), arch, np.array(lines))


# ------------------------------------------------------------------------------------------ accuracy
def nb201_accuracy(table: LatencyTable, dataset: str = "cifar10", nb201_table=None) -> np.ndarray:
    """Test accuracy (%) of each row's NAS-Bench-201 arch string, from the packaged table (or
    ``nb201_table``); a row that is not an NB201 cell is an error naming it."""
    from .accuracy.tables import DATASETS, NB201Table
    if dataset not in DATASETS:
        raise CodesignError(f"accuracy {NB201_SOURCE}:{dataset}: expected a dataset of {', '.join(DATASETS)}")
    t = nb201_table if nb201_table is not None else NB201Table.load()
    acc = t.accuracies[dataset]
    out = np.empty(len(table.archs))
    index: dict = {}
    for i, arch in enumerate(table.archs):
        if arch not in index:
            try:
                index[arch] = t.index(arch)
            except CodesignError as exc:
                raise CodesignError(f"{table.source}: row {table.rows[i]}: column {table.arch_column!r}: not a "
                                    f"NAS-Bench-201 cell for accuracy {NB201_SOURCE} ({exc})") from None
        out[i] = acc[index[arch]]
    return out


def _accuracy_cells(cells, path, name, lines) -> np.ndarray:
    return _number_column(cells, path, name, lines, what="accuracy", positive=False)


def _accuracy_file(spec: str, table: LatencyTable) -> np.ndarray:
    """``FILE.csv:COLUMN``: accuracies joined to the table on the architecture column."""
    path, _, column = spec.rpartition(":")
    header, rows, lines = _read_csv(path)
    arch = _arch_column(header, path, table.arch_column if table.arch_column in header else None)
    if column not in header or column == arch:
        raise CodesignError(f"{path}: no accuracy column {column!r}; columns: {_columns_text(header, (arch,))}")
    archs = _cells(rows, header.index(arch))
    values = _accuracy_cells(_cells(rows, header.index(column)), path, column, lines)
    by_arch: dict = {}
    for i, (a, v) in enumerate(zip(archs, values)):
        if not a or math.isnan(v):
            continue
        if a in by_arch and by_arch[a] != v:
            raise CodesignError(f"{path}: row {lines[i]}: architecture {_short(a)!r} has two accuracies "
                                f"({by_arch[a]:g} and {v:g})")
        by_arch[a] = v
    return np.array([by_arch.get(a, np.nan) for a in table.archs])


def load_inputs(path, arch_column: "str | None" = None, devices=None, accuracy: "str | None" = None
                ) -> "tuple[LatencyTable, np.ndarray | None, str]":
    """The latency table and, when ``accuracy`` is given, one accuracy per row (NaN: none) and a
    description of it. ``accuracy`` is ``nb201`` or ``nb201:DATASET`` (the packaged NAS-Bench-201
    table; the architecture cells must be NB201 arch strings), the name of a column of the table (not
    then a device), or ``FILE.csv:COLUMN`` (joined on the architecture column)."""
    header, rows, lines = _read_csv(path)
    if accuracy is None:
        return _table(path, header, rows, lines, arch_column, devices, ()), None, ""
    spec = str(accuracy).strip()
    if spec == NB201_SOURCE or spec.startswith(NB201_SOURCE + ":"):
        dataset = spec.partition(":")[2] or "cifar10"
        from .accuracy.tables import DATASETS
        if dataset not in DATASETS:
            raise CodesignError(f"--accuracy {spec}: expected a NAS-Bench-201 dataset of {', '.join(DATASETS)}")
        table = _table(path, header, rows, lines, arch_column, devices, ())
        return table, nb201_accuracy(table, dataset), f"NAS-Bench-201 {dataset} test accuracy (%)"
    if spec in header:
        table = _table(path, header, rows, lines, arch_column, devices, (spec,))
        if spec == table.arch_column:
            raise CodesignError(f"--accuracy {spec}: that is the architecture column")
        return (table, _accuracy_cells(_cells(rows, header.index(spec)), path, spec, lines),
                f"column {spec!r} of the table")
    file_part = spec.rpartition(":")[0]
    if file_part.lower().endswith(".csv"):
        table = _table(path, header, rows, lines, arch_column, devices, ())
        return table, _accuracy_file(spec, table), f"column {spec.rpartition(':')[2]!r} of {Path(file_part).name}"
    raise CodesignError(f"--accuracy {_short(spec)}: expected {NB201_SOURCE}[:DATASET], a column of {path} "
                        f"(columns: {_columns_text(header)}), or FILE.csv:COLUMN")


# ---------------------------------------------------------------------------------- rank correlation
@dataclass(frozen=True, eq=False)
class RankCorrelation:
    """Pairwise rank correlation of the devices' latencies; symmetric matrices, 1 on the diagonal
    (NaN where a device's latencies on the shared rows are all equal)."""

    devices: tuple
    spearman: np.ndarray      # (devices, devices)
    kendall: np.ndarray       # (devices, devices) tau-b
    shared_rows: np.ndarray   # (devices, devices) rows both devices have


def shared_rows(table: LatencyTable) -> np.ndarray:
    """(devices, devices) count of rows each pair of devices both have a latency for."""
    have = np.isfinite(table.latency_ms).astype(np.int64)
    return have.T @ have


def _check_shared(table: LatencyTable, shared: np.ndarray, min_shared: int, what: str = "a latency") -> None:
    """Every device pair shares at least ``min_shared`` rows; else one error naming the pair that shares
    the fewest, and how many pairs fall short."""
    iu = np.triu_indices(len(table.devices), k=1)
    counts = shared[iu]
    short = counts < min_shared
    if short.any():
        k = int(np.argmin(counts))
        i, j = int(iu[0][k]), int(iu[1][k])
        others = int(short.sum()) - 1
        raise CodesignError(
            f"{table.source or 'latency table'}: devices {table.devices[i]!r} and {table.devices[j]!r} both have "
            f"{what} in only {counts[k]} rows; expected at least {min_shared} (a pair uses the rows where neither "
            f"cell is blank{f'; {others} other pairs also fall short' if others else ''})")


def rank_correlations(table: LatencyTable, min_shared: int = MIN_SHARED_ROWS, kendall: bool = True
                      ) -> RankCorrelation:
    """Spearman (and Kendall tau-b) of every device pair over the rows both have; a pair sharing fewer
    than ``min_shared`` rows is a CodesignError (checked for every pair before any is computed)."""
    from .estimator.validate import kendall_tau_b, rankdata, spearman
    if min_shared < 3:
        raise CodesignError(f"min_shared: expected an integer >= 3, got {min_shared}")
    lat = table.latency_ms
    n = len(table.devices)
    shared = shared_rows(table)
    _check_shared(table, shared, min_shared)
    full = np.isfinite(lat).all(axis=0)
    ranks = {j: rankdata(lat[:, j]) for j in range(n) if full[j]}   # reused by every complete pair
    rho = np.eye(n)
    tau = np.eye(n) if kendall else np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            if full[i] and full[j]:
                x, y, rx, ry = lat[:, i], lat[:, j], ranks[i], ranks[j]
                r = _pearson(rx, ry)
            else:
                m = np.isfinite(lat[:, i]) & np.isfinite(lat[:, j])
                x, y = lat[m, i], lat[m, j]
                r = spearman(x, y)
            rho[i, j] = rho[j, i] = r
            if kendall:
                tau[i, j] = tau[j, i] = kendall_tau_b(x, y)
    for j in range(n):   # a constant device ranks nothing, not even against itself
        col = lat[np.isfinite(lat[:, j]), j]
        if len(col) and np.all(col == col[0]):
            rho[j, j] = tau[j, j] = np.nan
    return RankCorrelation(table.devices, rho, tau, shared)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two rank vectors (Spearman's rho of the values); NaN when one is constant."""
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else float("nan")


def pairwise_summary(matrix: np.ndarray) -> dict:
    """Median, quartiles, extremes and count of the off-diagonal upper-triangle values (NaN left out)."""
    m = np.asarray(matrix, dtype=float)
    v = m[np.triu_indices(len(m), k=1)]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"pairs": 0}
    q = np.percentile(v, [0, 25, 50, 75, 100])
    return {"pairs": int(v.size), "median": float(q[2]), "q25": float(q[1]), "q75": float(q[3]),
            "min": float(q[0]), "max": float(q[4]), "mean": float(v.mean())}


# ---------------------------------------------------------------------------------------- front reuse
def pareto_rows(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the rows on the front of minimum latency and maximum accuracy (duplicates all kept)."""
    from .search.pareto import non_dominated
    return np.flatnonzero(non_dominated(np.column_stack([latency, -np.asarray(accuracy, dtype=float)])))


def reference_point(front: np.ndarray, margin: float = HV_MARGIN) -> np.ndarray:
    """The front's nadir pushed out by ``margin`` of its range per objective (minimised objectives);
    an objective without range (a one-point front) uses ``margin`` of the nadir's magnitude (or of 1)."""
    lo, hi = front.min(axis=0), front.max(axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.where(np.abs(hi) > 0, np.abs(hi), 1.0))
    return hi + margin * span


@dataclass(frozen=True, eq=False)
class FrontReuse:
    """For each (proxy row, target column): how the proxy's front does on the target."""

    devices: tuple
    share: np.ndarray             # (proxy, target) hypervolume on the target of the proxy's front / the target's own
    shared_rows: np.ndarray       # (proxy, target) rows with both latencies and an accuracy
    proxy_front: np.ndarray       # (proxy, target) architectures on the proxy's front (on those rows)
    target_front: np.ndarray      # (proxy, target) architectures on the target's true front
    on_target_front: np.ndarray   # (proxy, target) of the proxy's front, how many are on the target's front
    target_hypervolume: np.ndarray   # (proxy, target) the target front's hypervolume (ms x accuracy units)
    margin: float = HV_MARGIN


def front_reuse(table: LatencyTable, accuracy: np.ndarray, margin: float = HV_MARGIN,
                min_shared: int = MIN_SHARED_ROWS) -> FrontReuse:
    """Share of each target's true-front hypervolume that the proxy's front reaches on the target, for
    every ordered device pair, over the rows both devices and the accuracy have (module docstring)."""
    from .search.pareto import hypervolume
    acc = np.asarray(accuracy, dtype=float)
    if acc.shape != (len(table.archs),):
        raise CodesignError(f"front_reuse: expected one accuracy per row ({len(table.archs)}), got shape {acc.shape}")
    lat = table.latency_ms
    n = len(table.devices)
    have = np.isfinite(lat) & np.isfinite(acc)[:, None]
    counts = have.T.astype(np.int64) @ have.astype(np.int64)
    _check_shared(table, counts, min_shared, "a latency and an accuracy")
    full = have.all(axis=0)
    fronts = {j: pareto_rows(lat[:, j], acc) for j in range(n) if full[j]}   # reused by complete pairs
    out = {k: np.full((n, n), np.nan) for k in ("share", "proxy", "target", "on", "hv")}
    for p in range(n):
        for t in range(n):
            if full[p] and full[t]:
                rows = np.arange(len(acc))
                fp, ft = fronts[p], fronts[t]
            else:
                rows = np.flatnonzero(have[:, p] & have[:, t])
                fp = rows[pareto_rows(lat[rows, p], acc[rows])]
                ft = rows[pareto_rows(lat[rows, t], acc[rows])]
            true_pts = np.column_stack([lat[ft, t], -acc[ft]])
            ref = reference_point(true_pts, margin)
            hv_true = hypervolume(true_pts, ref)
            hv_reuse = hypervolume(np.column_stack([lat[fp, t], -acc[fp]]), ref)
            out["share"][p, t] = hv_reuse / hv_true if hv_true > 0 else np.nan
            out["proxy"][p, t], out["target"][p, t] = len(fp), len(ft)
            out["on"][p, t] = np.isin(fp, ft).sum()
            out["hv"][p, t] = hv_true
    return FrontReuse(table.devices, out["share"], counts, out["proxy"].astype(int), out["target"].astype(int),
                      out["on"].astype(int), out["hv"], margin)


def reuse_summary(fr: FrontReuse) -> dict:
    """Median and extremes of the share over ordered pairs with proxy != target, and the worst pair."""
    n = len(fr.devices)
    off = ~np.eye(n, dtype=bool)
    v = fr.share[off]
    ok = np.isfinite(v)
    if not ok.any():
        return {"pairs": 0}
    q = np.percentile(v[ok], [0, 25, 50, 75, 100])
    p, t = np.unravel_index(np.nanargmin(np.where(off, fr.share, np.nan)), fr.share.shape)
    return {"pairs": int(ok.sum()), "median": float(q[2]), "q25": float(q[1]), "q75": float(q[3]),
            "min": float(q[0]), "max": float(q[4]), "mean": float(v[ok].mean()),
            "at_least_95_pct": float(np.mean(v[ok] >= 0.95)),
            "worst": {"proxy": fr.devices[p], "target": fr.devices[t], "share": float(fr.share[p, t])}}


# -------------------------------------------------------------------------------------------- outputs
def _cell(v, digits: int = 6) -> str:
    return "" if not np.isfinite(v) else f"{v:.{digits}f}"


def matrix_csv(devices, matrix: np.ndarray, digits: int = 6) -> str:
    """A square matrix as CSV: the first row is ``device`` and the device names, each further row a
    device name and its values (a blank cell for NaN)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["device", *devices])
    for name, row in zip(devices, np.asarray(matrix, dtype=float)):
        w.writerow([name, *(_cell(v, digits) for v in row)])
    return buf.getvalue()


def read_matrix_csv(path) -> "tuple[tuple, np.ndarray]":
    """(device names, matrix) of a file :func:`matrix_csv` wrote; a malformed one is a CodesignError."""
    header, rows, lines = _read_csv(path)
    devices = tuple(header[1:])
    if [r[0].strip() for r in rows] != list(devices) or any(len(r) != len(header) for r in rows):
        raise CodesignError(f"{path}: expected a square matrix whose first row and first column name the same devices")
    m = np.full((len(devices), len(devices)), np.nan)
    for i, r in enumerate(rows):
        for j, raw in enumerate(r[1:]):
            if raw.strip():
                try:
                    m[i, j] = float(raw)
                except ValueError:
                    raise CodesignError(f"{path}: row {lines[i]}: column {devices[j]!r}: expected a number, "
                                        f"got {_short(raw)!r}") from None
    return devices, m


def pairs_csv(rc: RankCorrelation) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["device_a", "device_b", "shared_rows", "spearman", "kendall"])
    n = len(rc.devices)
    for i in range(n):
        for j in range(i + 1, n):
            w.writerow([rc.devices[i], rc.devices[j], int(rc.shared_rows[i, j]), _cell(rc.spearman[i, j]),
                        _cell(rc.kendall[i, j])])
    return buf.getvalue()


def front_reuse_csv(fr: FrontReuse) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["proxy", "target", "shared_rows", "proxy_front", "target_front", "proxy_front_on_target_front",
                "target_hypervolume", "hypervolume_share"])
    for p, proxy in enumerate(fr.devices):
        for t, target in enumerate(fr.devices):
            w.writerow([proxy, target, int(fr.shared_rows[p, t]), int(fr.proxy_front[p, t]),
                        int(fr.target_front[p, t]), int(fr.on_target_front[p, t]),
                        f"{fr.target_hypervolume[p, t]:.6g}", _cell(fr.share[p, t])])
    return buf.getvalue()


def plot_heatmap(path, devices, matrix: np.ndarray, title: str, label: str = "Spearman's rho",
                 vmin: "float | None" = None, vmax: float = 1.0) -> None:
    """A device x device heat map as a PNG (written atomically); values in the cells up to 30 devices.
    ``vmin`` (default): -1 on a diverging map when a value is negative, else 0 on a sequential one, so
    that correlations that are all positive spread over the whole map instead of its red half. The map
    has 20 levels (steps of 0.1 or 0.05): the cells' values are written in them."""
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
    n = len(devices)
    size = min(4.0 + 0.28 * n, 22.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    m = np.asarray(matrix, dtype=float)
    if vmin is None:
        vmin = -1.0 if (m[np.isfinite(m)] < 0).any() else 0.0
    cmap = plt.get_cmap("RdBu_r" if vmin < 0 else "viridis", 20)
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=vmin, vmax=vmax)
    font = max(4.0, min(9.0, 260.0 / max(n, 1)))
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(devices, rotation=90, fontsize=font)
    ax.set_yticklabels(devices, fontsize=font)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if np.isfinite(m[i, j]):
                    r, g, b, _ = im.cmap(im.norm(m[i, j]))   # white text on dark cells, black on light ones
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=font * 0.8,
                            color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, palette=True)   # flat cells in 20 colour levels: 256 colours hold every pixel


def summary(table: LatencyTable, rc: RankCorrelation, fr: "FrontReuse | None" = None, accuracy_source: str = "",
            min_shared: int = MIN_SHARED_ROWS) -> dict:
    out = {"table": table.source, "architecture_column": table.arch_column, "rows": len(table.archs),
           "devices": list(table.devices), "blank_cells": table.blank_cells, "min_shared_rows": min_shared,
           "pairing": "each device pair uses the rows where both devices have a latency",
           "shared_rows": {"min": int(rc.shared_rows[np.triu_indices(len(rc.devices), 1)].min()),
                           "max": int(rc.shared_rows[np.triu_indices(len(rc.devices), 1)].max())},
           "spearman": pairwise_summary(rc.spearman), "kendall": pairwise_summary(rc.kendall)}
    if fr is not None:
        out["front_reuse"] = {
            "accuracy": accuracy_source, **reuse_summary(fr),
            "reference_point": f"per target: its true front's nadir + {fr.margin:g} x the front's range in each "
                               "objective (latency ms, accuracy); proxy-front points beyond it count nothing",
            "pairing": "each (proxy, target) pair uses the rows with both latencies and an accuracy"}
    return out


def describe(s: dict) -> str:
    """A few lines for the terminal from :func:`summary`'s dict."""
    sp, kd = s["spearman"], s["kendall"]
    sh = s["shared_rows"]
    blanks = f", {s['blank_cells']:,} blank cells" if s["blank_cells"] else ""
    lines = [f"{s['table']}: {s['rows']:,} architectures ('{s['architecture_column']}') x {len(s['devices'])} devices"
             f"{blanks}; each pair uses the rows both devices have ({sh['min']:,}-{sh['max']:,} shared)"]
    if sp.get("pairs"):
        lines.append(f"Spearman over {sp['pairs']} pairs: median {sp['median']:.3f} (quartiles {sp['q25']:.3f}-"
                     f"{sp['q75']:.3f}, range {sp['min']:.3f}-{sp['max']:.3f})"
                     + (f"; Kendall median {kd['median']:.3f}" if kd.get("pairs") else ""))
    fr = s.get("front_reuse")
    if fr and fr.get("pairs"):
        lines.append(f"front reuse ({fr['accuracy']}): the proxy's front reaches a median {100 * fr['median']:.1f} % "
                     f"of the target's true hypervolume (range {100 * fr['min']:.1f}-{100 * fr['max']:.1f} %, "
                     f">= 95 % in {100 * fr['at_least_95_pct']:.0f} % of {fr['pairs']} ordered pairs; worst "
                     f"{fr['worst']['proxy']} -> {fr['worst']['target']})")
    return "\n".join(lines)


def write_outputs(out_dir, table: LatencyTable, rc: RankCorrelation, fr: "FrontReuse | None" = None,
                  accuracy_source: str = "", min_shared: int = MIN_SHARED_ROWS) -> "tuple[list, dict]":
    """Write spearman.csv, pairs.csv, spearman.png, front_reuse.csv (with ``fr``) and summary.json into
    ``out_dir`` (created), each atomically; returns (the paths written, the summary)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summary(table, rc, fr, accuracy_source, min_shared)
    paths = [out / "spearman.csv", out / "pairs.csv", out / "spearman.png"]
    write_atomic(paths[0], matrix_csv(rc.devices, rc.spearman))
    write_atomic(paths[1], pairs_csv(rc))
    med = s["spearman"].get("median", float("nan"))
    plot_heatmap(paths[2], rc.devices, rc.spearman,
                 f"{Path(table.source).name or 'latency'}: latency rank correlation (median {med:.2f})")
    if fr is not None:
        paths.append(out / "front_reuse.csv")
        write_atomic(paths[-1], front_reuse_csv(fr))
    paths.append(out / "summary.json")
    write_json(paths[-1], s)
    return paths, s


__all__ = ["ARCH_COLUMNS", "FrontReuse", "HV_MARGIN", "INDEX_COLUMNS", "LatencyTable", "MIN_SHARED_ROWS",
           "RankCorrelation", "describe", "front_reuse", "front_reuse_csv", "load_inputs", "matrix_csv",
           "nb201_accuracy", "pairs_csv", "pairwise_summary", "pareto_rows", "plot_heatmap", "rank_correlations",
           "read_latency_table", "read_matrix_csv", "reference_point", "reuse_summary", "shared_rows", "summary",
           "write_outputs"]
