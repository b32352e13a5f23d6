"""How fast networks are built: the IR builder (what a search uses) and each zoo model.

    python benchmarks/model_build_speed.py [--repeats 3] [--networks 200] [--threads 1]

Prints two Markdown tables of CPU seconds (``time.process_time``; min / median of ``--repeats``;
torch, Numba and BLAS pinned to ``--threads`` threads):

- networks per second built directly with ``NetworkBuilder`` (random stacks of 2-6 IBN / fused-IBN
  blocks at 224 px, as a network search builds its candidates);
- each zoo model's build time: the IR-direct ones, and those traced from their PyTorch module with
  torch.fx (interpreter-warm: the first model pays torch's import, reported on its own row).

The target: >= 1,000 networks per second on the IR path; every zoo model under a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import header, measure, once, pin_threads, require_repeats  # noqa: E402


def random_stack(rng) -> tuple:
    blocks, c = [], int(rng.choice([8, 16, 24]))
    for _ in range(int(rng.integers(2, 7))):
        blocks.append(dict(fused=bool(rng.integers(2)), out=int(rng.choice([8, 16, 24, 32, c])),
                           expansion=float(rng.choice([1, 3, 4, 6])), kernel=int(rng.choice([3, 5, 7])),
                           stride=int(rng.choice([1, 1, 2]))))
    return c, blocks * 3


def build(c: int, blocks: list):
    from accelsim.workload.ir import NetworkBuilder
    b = NetworkBuilder("genome", (224, 224, c))
    x = b.input
    for i, blk in enumerate(blocks):
        f = b.fused_ibn if blk["fused"] else b.ibn
        x = f(x, blk["out"], blk["expansion"], blk["kernel"], blk["stride"], name=f"b{i}")
    return b.build()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--networks", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="torch, Numba and BLAS threads (1)")
    args = ap.parse_args()
    require_repeats(ap, "--repeats", args.repeats)
    pin_threads(args.threads)
    import numpy as np

    rng = np.random.default_rng(0)
    stacks = [random_stack(rng) for _ in range(args.networks)]
    build(*stacks[0])   # imports outside the timing
    ir = measure(lambda: [build(*s) for s in stacks], args.repeats)
    best, med = ir.rate(args.networks)
    print(header("CPU seconds of this process (process_time)", args.repeats, f"{args.threads} (pinned)") + "\n")
    print("| IR builder | best networks/s (min CPU time) | median networks/s |\n|---|---:|---:|")
    print(f"| random IBN / fused-IBN stacks, 224 px | {best:,.0f} | {med:,.0f} |")
    print("\nIR builder >= 1,000 networks/CPU-s (median): "
          + ("target met" if med >= 1000 else f"gap {1000 - med:,.0f}/s") + "\n")

    from accelsim.workload.zoo import MODELS
    first = once(lambda: __import__("torch"))[0]
    pin_threads(args.threads)   # torch is loaded now
    print("| zoo model | min s | median s |\n|---|---:|---:|")
    print(f"| (import torch, once) | {first:.3f} | {first:.3f} |")
    slowest = ("", 0.0)
    for name, fn in MODELS.items():
        t = measure(fn, args.repeats)
        slowest = max(slowest, (name, t.cpu_median), key=lambda x: x[1])
        print(f"| {name} | {t.cpu_min:.3f} | {t.cpu_median:.3f} |")
    print("\nevery zoo model under 1 s (median): "
          + ("target met" if slowest[1] < 1 else f"gap {slowest[1] - 1:.3f} s") + f" (slowest: {slowest[0]}, "
          f"{slowest[1]:.3f} s)")

if __name__ == "__main__":
    main()
