"""What the bounded fused-chain search gives up: network latency from the engine's search against
an exhaustive one.

The engine (``accelsim.engine.kernels.best_chain``) searches column tiles for a chain only when no
full-width band fits, and narrows the tiles only while that keeps paying off. The exhaustive
search here tries, for every chain, every halo mode at every width (the output width, half, a
quarter, ... one column) with the same band heights, on the plain-Python reference model. The
table gives, per network and config, the latency of each and the schedules (chain cost
evaluations) each needed.

    python benchmarks/fused_search.py          # about a minute of CPU
"""

from __future__ import annotations

import argparse
import sys
import time

import accelsim
from accelsim.engine import reference as ref
from accelsim.workload import zoo

MODELS = ("mobilenet_v2", "mnasnet_a1", "efficientnet_b0")


def configs() -> dict:
    out = {n: accelsim.load_hardware(n).replace(activation_policy="fused")
           for n in ("neural_engine", "eyeriss_like", "edge_tpu_like")}
    for kb in (8, 32):
        out[f"neural_engine, {kb} KiB buffers"] = accelsim.load_hardware("neural_engine").replace(
            activation_policy="fused", sram__ifmap_kb=kb, sram__ofmap_kb=kb)
    return out


class Counting(ref.Chain):
    """The reference chain, counting schedule evaluations."""
    evaluations = 0

    def cost(self, *args):
        Counting.evaluations += 1
        return super().cost(*args)


class Exhaustive(Counting):
    """Every halo mode at every width, whether or not a full-width band fits."""

    def best(self):
        return super().best(exhaustive=True)


def latency_ms(net, hw, chain_class) -> tuple[float, int]:
    ref.Chain, saved = chain_class, ref.Chain
    Counting.evaluations = 0
    try:
        cycles = sum(r["total_cycles"] for r in ref.simulate_network(net, hw))
    finally:
        ref.Chain = saved
    return cycles / (hw.array.clock_mhz * 1e3), Counting.evaluations


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
    t0 = time.process_time()
    print(f"{'network':<16}{'config':<30}{'engine ms':>11}{'exhaustive ms':>15}{'engine slower':>15}"
          f"{'schedules':>11}{'exhaustive':>12}")
    worst = 0.0
    for model in MODELS:
        net = getattr(zoo, model)()
        for name, hw in configs().items():
            bounded, n_b = latency_ms(net, hw, Counting)
            full, n_f = latency_ms(net, hw, Exhaustive)
            engine = accelsim.simulate(net, hw).latency_ms
            assert abs(engine - bounded) <= 1e-9 * bounded, (model, name, engine, bounded)   # kernel == reference
            gap = 100 * (bounded / full - 1)
            worst = max(worst, gap)
            print(f"{model:<16}{name:<30}{bounded:>11.4f}{full:>15.4f}{gap:>14.2f}%{n_b:>11,}{n_f:>12,}")
    print(f"\nlargest gap: {worst:.2f} %   ({time.process_time() - t0:.0f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
