"""Pack the two measured latency tables shipped in codesign/data (names ``help-nb201``, ``hwnasbench-fbnet``).

    python experiments/tools/pack_measured.py --help-nb201 nb201_help_latency_ms.csv \\
        --hwnasbench-fbnet hwnasbench_fbnet_op_lut.csv [--out-dir codesign/data]

``--help-nb201``: HELP's NAS-Bench-201 latency CSV (``arch_index, arch_str`` and one column of ms per
device, 15,625 rows). It becomes ``nb201_help_latency.npz``: the latencies as float32 (rows in official
arch_index order) and the device names; the arch strings are not stored but rebuilt from the ops of the
packaged accuracy table ``nb201_cifar.npz``, so every row's arch string must equal the one those ops give.

``--hwnasbench-fbnet``: HW-NAS-Bench's FBNet operator lookup table as a CSV. It becomes
``hwnasbench_fbnet_op_lut.csv.gz``, the same bytes gzipped.

Each packed file is read back with the reader every command uses
(``codesign.estimator.measured.read_packaged``) and checked against its CSV row by row, cell by cell
(latencies to float32 precision, everything else exactly) before the script reports success.
Provenance, licences and citations: codesign/data/README.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
from pathlib import Path

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.io import atomic_open
from codesign.errors import CodesignError
from codesign.estimator import measured as M
from codesign.spaces.nb201 import arch_str

HELP_ROWS = 15_625          # one per NAS-Bench-201 cell
HELP_FORMAT = 1             # the 'format' scalar of nb201_help_latency.npz


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header, *rows = csv.reader(fh)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise CodesignError(f"{path}: cannot read the CSV ({type(exc).__name__}: {exc})") from None
    return header, rows


def pack_help(src: Path, out: Path) -> str:
    header, rows = _read(src)
    if header[:2] != ["arch_index", "arch_str"] or len(header) < 3:
        raise CodesignError(f"{src}: expected columns arch_index, arch_str, then one latency column per device")
    if len(rows) != HELP_ROWS:
        raise CodesignError(f"{src}: expected {HELP_ROWS} rows (one per NAS-Bench-201 cell), got {len(rows)}")
    devices = header[2:]
    with np.load(M.DATA_DIR / "nb201_cifar.npz", allow_pickle=False) as z:
        ops = z["ops"]
    latency = np.empty((HELP_ROWS, len(devices)), dtype=np.float32)
    for i, row in enumerate(rows):
        line = i + 2
        if len(row) != len(header) or row[0] != str(i):
            raise CodesignError(f"{src}: line {line}: expected arch_index {i} and {len(header)} cells")
        if row[1] != arch_str(ops[i]):
            raise CodesignError(f"{src}: line {line}: arch_str {row[1]!r} is not arch_index {i} of nb201_cifar.npz "
                                f"({arch_str(ops[i])!r})")
        try:
            latency[i] = [float(c) for c in row[2:]]
        except ValueError:
            raise CodesignError(f"{src}: line {line}: expected a number in every latency cell") from None
    if not (np.isfinite(latency).all() and (latency > 0).all()):
        raise CodesignError(f"{src}: expected positive finite latencies in ms")
    with atomic_open(out, binary=True) as fh:
        np.savez_compressed(fh, format=np.int16(HELP_FORMAT), devices=np.array(devices), latency_ms=latency)

    # read back as every command does, and compare with the CSV cell by cell
    got_header, got_rows = M.read_packaged(out)
    if got_header != header or len(got_rows) != len(rows):
        raise CodesignError(f"{out}: header or row count differs from {src}")
    for i, (want, got) in enumerate(zip(rows, got_rows)):
        packed, source = (np.array(r[2:], dtype=float).astype(np.float32) for r in (got, want))
        same = got[:2] == want[:2] and np.array_equal(packed, source)
        if not same:
            raise CodesignError(f"{out}: row {i} differs from line {i + 2} of {src}")
    return f"{len(rows)} architectures x {len(devices)} devices, arch strings and float32 values verified"


def pack_fbnet(src: Path, out: Path) -> str:
    header, rows = _read(src)
    if "lut_key" not in header or "part" not in header:
        raise CodesignError(f"{src}: expected the FBNet operator LUT (columns part, lut_key, ...)")
    data = src.read_bytes()
    with atomic_open(out, binary=True) as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename="") as gz:   # reproducible bytes
            gz.write(data)
    got_header, got_rows = M.read_packaged(out)
    if got_header != header or got_rows != rows:
        raise CodesignError(f"{out}: differs from {src}")
    return f"{len(rows)} rows x {len(header)} columns, every cell verified"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--help-nb201", type=Path, metavar="CSV", help="HELP's NAS-Bench-201 latency CSV")
    ap.add_argument("--hwnasbench-fbnet", type=Path, metavar="CSV", help="HW-NAS-Bench's FBNet operator LUT CSV")
    ap.add_argument("--out-dir", type=Path, default=M.DATA_DIR, help=f"output folder (default {M.DATA_DIR})")
    args = ap.parse_args(argv)
    jobs = [(name, src, pack) for name, src, pack in (("help-nb201", args.help_nb201, pack_help),
                                                      ("hwnasbench-fbnet", args.hwnasbench_fbnet, pack_fbnet)) if src]
    if not jobs:
        ap.error("give --help-nb201 CSV, --hwnasbench-fbnet CSV or both")
    for name, src, pack in jobs:
        out = args.out_dir / M.PACKAGED_TABLES[name]
        try:
            what = pack(src, out)
        except (CodesignError, AccelsimError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {out} ({name}): {out.stat().st_size / 1024:.0f} KiB; {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
