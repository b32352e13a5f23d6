"""Pack the NAS-Bench-201 accuracy CSV into the compact table shipped as codesign/data/nb201_cifar.npz.

    python experiments/tools/pack_nb201.py /path/to/nb201_accuracy.csv [--out codesign/data/nb201_cifar.npz]

The CSV is the one described in codesign/data/README.md (15,625 rows: arch_index, arch_str, test
accuracies on three datasets, FLOPs and params). The packed table replaces each arch string by its
six op indices and is checked against the CSV row by row before it is written.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from codesign.accuracy import DATASETS, DEFAULT_TABLE, NB201Table, arch_str
from codesign.errors import CodesignError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="nb201_accuracy.csv (columns arch_index, arch_str, cifar10_test_acc, ...)")
    ap.add_argument("--out", default=str(DEFAULT_TABLE), help=f"output .npz (default {DEFAULT_TABLE})")
    args = ap.parse_args(argv)
    try:
        table = NB201Table.load(args.csv)
        table.save(args.out)
        packed = NB201Table.load(args.out)
    except CodesignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # the packed table must give back the CSV exactly (accuracies are float32 in both)
    same = np.array_equal(packed.ops, table.ops) and np.array_equal(packed.flops, table.flops) \
        and np.array_equal(packed.params, table.params) \
        and all(np.array_equal(packed.accuracies[d], table.accuracies[d]) for d in DATASETS)
    with open(args.csv, newline="") as fh:
        strings_ok = all(arch_str(packed.ops[int(r["arch_index"])]) == r["arch_str"] for r in csv.DictReader(fh))
    if not (same and strings_ok):
        print("error: the packed table differs from the CSV", file=sys.stderr)
        return 1
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {len(packed)} cells, {size / 1024:.0f} KiB; arch strings and values verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
