"""Writes the small synthetic per-network tables beside this file (see README.md for provenance).

    python tests/data/measured/make_synthetic_tables.py

Latencies of ``synthetic_zoo_networks.csv`` and ``synthetic_genomes.csv`` are the simulator's
(accelsim on ``hw_configs/eyeriss_like.yaml``), standing in for a device; those of
``fbnet_blocks_pixel3.csv`` are sums of the shipped HW-NAS-Bench FBNet LUT excerpt (pixel3), i.e.
HW-NAS-Bench's own latency of each FBNet architecture. Blank cells are deliberate.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

import accelsim
from accelsim.workload import zoo
from codesign.spaces.space import build_network
from codesign.spaces.zoo_genomes import zoo_genome

HERE = Path(__file__).resolve().parent
HW = accelsim.load_hardware("eyeriss_like")


def ms(net) -> str:
    return f"{accelsim.simulate(net, HW).latency_ms:.6g}"


def zoo_table():
    rows = []
    for width in (0.35, 0.5, 0.75, 1.0):
        for res in (96, 128, 160):
            rows.append({"network": "mobilenet_v2", "width": width, "resolution": res,
                         "latency_ms": ms(zoo.load_model("mobilenet_v2", width=width, resolution=res))})
    for ch in (16, 32, 64):
        for kind in ("ibn_block", "fused_ibn_block"):
            cell = f"{kind}:resolution=28,channels={ch}"
            rows.append({"network": cell, "width": "", "resolution": "",
                         "latency_ms": ms(zoo.load_model(kind, resolution=28, channels=ch))})
    rows[3]["latency_ms"] = ""      # not measured: skipped for this target and counted
    rows[10]["latency_ms"] = ""
    write(HERE / "synthetic_zoo_networks.csv", rows)


def genome_table():
    g = zoo_genome("mobilenet_v2", resolution=96)
    (HERE / "genomes").mkdir(exist_ok=True)
    (HERE / "genomes" / "mobilenet_v2_96.json").write_text(json.dumps(g.to_dict(), indent=1) + "\n")
    rows = [{"genome": "genomes/mobilenet_v2_96.json", "latency_ms": ms(build_network(g))}]
    for res in (64, 128):
        gr = zoo_genome("mobilenet_v2", resolution=res)
        rows.append({"genome": json.dumps(gr.to_dict(), separators=(",", ":")), "latency_ms": ms(build_network(gr))})
    write(HERE / "synthetic_genomes.csv", rows)


def fbnet_table(n: int = 30, seed: int = 0):
    from codesign.estimator.measured import FBNET_BLOCK_NAMES, fbnet_tables
    fixed, grid = fbnet_tables(HERE / "hwnasbench_fbnet_op_lut_cifar100.csv", "cifar100", "pixel3_latency_ms")
    lat = lambda r: float(r["pixel3_latency_ms"])   # noqa: E731
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        arch = rng.integers(0, len(FBNET_BLOCK_NAMES), 22)
        total = sum(lat(r) for _, r in fixed) + sum(lat(grid[i][b][1]) for i, b in enumerate(arch))
        rows.append({"blocks": " ".join(FBNET_BLOCK_NAMES[b] for b in arch), "pixel3": f"{total:.6g}"})
    write(HERE / "fbnet_blocks_pixel3.csv", rows)


def write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    zoo_table()
    genome_table()
    fbnet_table()
