"""How fast networks are built: the IR builder (what a search uses) and each zoo model.

    python benchmarks/model_build_speed.py [--repeats 3] [--networks 200]

Prints two Markdown tables of CPU seconds (min / median of ``--repeats``):

- networks per second built directly with ``NetworkBuilder`` (random stacks of 2-6 IBN / fused-IBN
  blocks at 224 px, as a network search builds its candidates);
- each zoo model's build time: the IR-direct ones, and those traced from their PyTorch module with
  torch.fx (interpreter-warm: the first model pays torch's import, reported on its own row).

The target: >= 1,000 networks per second on the IR path; every zoo model under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from accelsim.workload.ir import NetworkBuilder  # noqa: E402


def random_stack(rng) -> tuple:
    blocks, c = [], int(rng.choice([8, 16, 24]))
    for _ in range(int(rng.integers(2, 7))):
        blocks.append(dict(fused=bool(rng.integers(2)), out=int(rng.choice([8, 16, 24, 32, c])),
                           expansion=float(rng.choice([1, 3, 4, 6])), kernel=int(rng.choice([3, 5, 7])),
                           stride=int(rng.choice([1, 1, 2]))))
    return c, blocks * 3


def build(c: int, blocks: list):
    b = NetworkBuilder("genome", (224, 224, c))
    x = b.input
    for i, blk in enumerate(blocks):
        f = b.fused_ibn if blk["fused"] else b.ibn
        x = f(x, blk["out"], blk["expansion"], blk["kernel"], blk["stride"], name=f"b{i}")
    return b.build()


def cpu_seconds(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--networks", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    stacks = [random_stack(rng) for _ in range(args.networks)]
    rates = [args.networks / cpu_seconds(lambda: [build(*s) for s in stacks]) for _ in range(args.repeats)]
    print("| IR builder | min networks/s | median networks/s |\n|---|---:|---:|")
    print(f"| random IBN / fused-IBN stacks, 224 px | {min(rates):,.0f} | {statistics.median(rates):,.0f} |\n")

    from accelsim.workload.zoo import MODELS
    first = cpu_seconds(lambda: __import__("torch"))
    print("| zoo model | min s | median s |\n|---|---:|---:|")
    print(f"| (import torch, once) | {first:.3f} | {first:.3f} |")
    for name, fn in MODELS.items():
        times = [cpu_seconds(fn) for _ in range(args.repeats)]
        print(f"| {name} | {min(times):.3f} | {statistics.median(times):.3f} |")


if __name__ == "__main__":
    main()
