"""Engine speed: one network warm, a batch of hardware configs, and the ratios to the plain-Python
reference model and (when available) to SCALE-Sim on the same layers; then the kernels against
their state before the faster tiling search and DMA walk (``tests/_kernels_before.py``).

    python benchmarks/engine_speed.py [--configs 1000] [--repeats 5] [--threads 1]
                                      [--scalesim-python /path/to/venv/bin/python] [--scalesim-repeats 3]
                                      [--rounds 5] [--never-seen 300]

Everything is timed in CPU time (``time.process_time`` of this process: every thread's user + system
time, so other jobs on a shared machine do not count), min / median over the repeats, with Numba
pinned to ``--threads`` threads (1 by default); the median wall time of the same calls is printed
beside it, labelled. First calls (JIT compile or cache load) are excluded by warming up.

Targets: MobileNetV2 on one config <= 1 ms warm under the default (resident) placement; >= 2,000
(network, hardware) evaluations per CPU second in a batch (on one thread that is >= 2,000 per
second of one core), and >= 12,000 per second of wall time on 2 cores (judged with ``--threads
2``, the parallel kernel); on-chip placement (resident, fused) no slower than 1.5x the per-layer dram
model in a batch. The policies are timed interleaved, round by round, so that a change in the
machine's load falls on all of them alike; the ratios are of median CPU times.

SCALE-Sim runs in a child process with another interpreter; the child reports the CPU time of its
own simulation (``process_time`` around ``run_scale``, imports excluded), set against accelsim's
CPU time on the same layers.

Before and after, the two kernels interleaved round by round: ``simulate()`` of MobileNetV2 on
neural_engine, warm (target <= 60 us), its wrapper as it was (the format check before the kernel)
against today's; and batches of configs never seen before, drawn from the estimator's dataset
hardware space, each batch packed and run through one kernel's serial driver (evaluations per CPU
second; building the configs, the same for both, is timed on its own). Both run on one thread.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import header, interleaved, measure, min_median, once, pin_threads, require_repeats


def random_hardware(base, n: int, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kb = float(rng.choice([64, 128, 256, 512, 1024]))
        out.append(base.replace(array__rows=int(rng.choice([8, 16, 32, 64])), array__cols=int(rng.choice([8, 16, 32, 64])),
                                array__dataflow=str(rng.choice(["os", "ws", "is"])),
                                sram__ifmap_kb=kb, sram__filter_kb=kb, sram__ofmap_kb=kb / 2,
                                dram__bandwidth_gb_per_s=float(rng.uniform(4, 64))))
    return out


SCALESIM_SCRIPT = """
import sys, time, os
import io, contextlib
from scalesim.scale_sim import scalesim
t = time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2], layout=sys.argv[4])
    s.run_scale(top_path=sys.argv[3])
print(time.process_time() - t)
"""

SCALESIM_CFG = """[general]
run_name = bench

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# SCALE-Sim always opens a layout file; a header-only one means "no custom layout".
SCALESIM_LAYOUT = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, Filter Height Intraline "
                   "Factor, Filter Width Intraline Factor, Channel Intraline Factor, Num Filter Intraline Factor, IFMAP "
                   "Height Intraline Order, IFMAP Width Intraline Order, Channel Intraline Order, IFMAP Height Interline "
                   "Order, IFMAP Width Interline Order, Channel Interline Order, Num Filter Intraline Order, Channel "
                   "Intraline Order, Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline "
                   "Order, Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n")


def scalesim_cpu_seconds(python: str, topology_csv: str, hw) -> float | None:
    """CPU seconds of one SCALE-Sim simulation, as its child process reports them (None if it failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.cfg"
        cfg.write_text(SCALESIM_CFG.format(rows=hw.array.rows, cols=hw.array.cols, dataflow=hw.array.dataflow))
        topo = Path(tmp) / "topo.csv"
        topo.write_text(topology_csv)
        layout = Path(tmp) / "layout.csv"
        layout.write_text(SCALESIM_LAYOUT)
        script = Path(tmp) / "run.py"
        script.write_text(SCALESIM_SCRIPT)
        res = subprocess.run([python, str(script), str(cfg), str(topo), tmp, str(layout)], capture_output=True,
                             text=True)
        if res.returncode != 0:
            print(f"SCALE-Sim failed: {res.stderr.strip().splitlines()[-1] if res.stderr else res.returncode}")
            return None
        return float(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=1000, help="hardware configs in the batch")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the policy timings, >= 3 (5)")
    ap.add_argument("--threads", type=int, default=1, help="Numba threads (1)")
    ap.add_argument("--scalesim-python", help="a Python interpreter with scalesim==3.0.0 installed")
    ap.add_argument("--scalesim-layers", type=int, default=0,
                    help="compare on the first N dense layers only (0 = all; all takes SCALE-Sim minutes per run)")
    ap.add_argument("--scalesim-repeats", type=int, default=3, help="SCALE-Sim runs, >= 3 (3)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the before/after comparison, >= 3")
    ap.add_argument("--never-seen", type=int, default=300, help="configs per batch in the before/after comparison")
    args = ap.parse_args(argv)
    for option in ("repeats", "scalesim_repeats", "rounds"):
        require_repeats(ap, "--" + option.replace("_", "-"), getattr(args, option))
    pin_threads(args.threads)

    import accelsim
    from accelsim.engine import reference
    from accelsim.workload.scalesim import to_topology

    hw = accelsim.load_hardware("neural_engine")
    net = accelsim.load_model("mobilenet_v2")
    policies = ("dram", "resident", "fused")
    hw_by = {p: hw.replace(activation_policy=p) for p in policies}
    hws_by = {p: [h.replace(activation_policy=p) for h in random_hardware(hw, args.configs)] for p in policies}
    for p in policies:
        accelsim.simulate(net, hw_by[p])  # compile or load the cache
        accelsim.simulate_many(net, hws_by[p][:80])  # warm the parallel driver
    fns = {}
    for p in policies:   # interleaved rounds: machine noise hits every policy alike
        fns["one", p] = lambda p=p: [accelsim.simulate(net, hw_by[p]) for _ in range(60)]
        fns["batch", p] = lambda p=p: accelsim.simulate_many(net, hws_by[p])
    t = interleaved(fns, args.repeats)
    one = {p: t["one", p].per(60) for p in policies}
    batch = {p: t["batch", p] for p in policies}
    ref = measure(lambda: reference.simulate_network(net, hw), 3)

    rows = []   # (measurement, CPU min / median, wall median, target, met)
    for p in policies:
        o = one[p]
        rows.append((f"MobileNetV2 on neural_engine, {p}, warm", f"{o.cpu_min * 1e3:.3f} / {o.cpu_median * 1e3:.3f} ms",
                     f"{o.wall_median * 1e3:.3f} ms", "<= 1 ms", o.cpu_median <= 1e-3 if p == "resident" else None))
    for p in policies:
        best, med = batch[p].rate(args.configs)
        rows.append((f"batch of {args.configs} hardware configs, {p}", f"{best:,.0f} / {med:,.0f} evals/CPU-s",
                     f"{batch[p].wall_rate(args.configs)[1]:,.0f} evals/s", ">= 2,000 evals/CPU-s",
                     med >= 2000 if p == "resident" else None))
    wall_best, wall_med = batch["resident"].wall_rate(args.configs)
    rows.append((f"the resident batch on {args.threads} thread(s), wall", f"{wall_best:,.0f} / {wall_med:,.0f} evals/s",
                 "", ">= 12,000/s on 2 cores", wall_med >= 12000 if args.threads >= 2 else None))
    for p in ("resident", "fused"):
        lo = min(a / b for a, b in zip(batch[p].cpu, batch["dram"].cpu))   # the same round's pair
        ratio = batch[p].cpu_median / batch["dram"].cpu_median
        rows.append((f"batch time, {p} / dram (rounds' best / medians)", f"{lo:.2f}x / {ratio:.2f}x",
                     f"{batch[p].wall_median / batch['dram'].wall_median:.2f}x", "<= 1.5x", ratio <= 1.5))
    rows += [("plain-Python reference, same network", f"{ref.cpu_min * 1e3:.1f} / {ref.cpu_median * 1e3:.1f} ms",
              f"{ref.wall_median * 1e3:.1f} ms", "", None),
             ("speed-up over the reference (medians)", f"{ref.cpu_median / one['resident'].cpu_median:,.0f}x",
              "", "", None)]
    hw = hw_by["dram"]   # SCALE-Sim's assumption, for the comparison below

    python = args.scalesim_python or (sys.executable if _has_scalesim() else None)
    if python:
        topo = to_topology(net)
        if args.scalesim_layers:
            topo = "\n".join(topo.splitlines()[:args.scalesim_layers + 1]) + "\n"
        dense = load_topology_text(topo)
        accelsim.simulate(dense, hw)
        ours = measure(lambda: accelsim.simulate(dense, hw), args.scalesim_repeats, calls=50)
        theirs = [scalesim_cpu_seconds(python, topo, hw) for _ in range(args.scalesim_repeats)]
        if None not in theirs:
            rows += [(f"SCALE-Sim 3.0.0, {len(dense.layers)} dense layers of MobileNetV2",
                      f"{min_median(theirs, '.1f')} s", "", "", None),
                     ("accelsim, same layers", f"{ours.cpu_min * 1e3:.3f} / {ours.cpu_median * 1e3:.3f} ms",
                      f"{ours.wall_median * 1e3:.3f} ms", "", None),
                     ("speed-up over SCALE-Sim (medians)",
                      f"{statistics.median(theirs) / ours.cpu_median:,.0f}x", "", "", None)]
    else:
        rows.append(("SCALE-Sim", "not installed (pass --scalesim-python)", "", "", None))

    print(header("CPU time of this process (process_time), the policies interleaved round by round", args.repeats)
          + "; one call: 60 calls per repeat; reference: 3 repeats"
          + (f"; SCALE-Sim: CPU time its child reports, {args.scalesim_repeats} runs" if python else ""))
    print(f"{'measurement':<50}{'CPU min / median':>34}{'wall median':>18}  {'target':<22}{'met':>5}")
    print("-" * 131)
    for name, value, wall, target, met in rows:
        print(f"{name:<50}{value:>34}{wall:>18}  {target:<22}{'' if met is None else ('yes' if met else 'NO'):>5}")
    before_after(args.rounds, args.never_seen)
    return 0


def _old_simulate(before, net, hw):
    """``simulate()`` as it was: the format check, then the kernels of ``before``."""
    import accelsim
    import numpy as np
    from accelsim.engine import tables as T
    sim = importlib.import_module("accelsim.engine.simulate")
    problem = sim._precision_problem(net, hw)
    if problem:
        raise accelsim.MappingError(problem)
    lay = sim.packed_network(net)
    hwt, macs, vops, emac, pbytes = sim.packed_hardware(hw)
    n = lay.shape[1]
    out = np.empty((T.N_OUT_FIELDS, n))
    zero = np.zeros(1, dtype=np.int64)
    before.run_pairs(lay, zero, np.array([n], dtype=np.int64), hwt, macs, vops, emac, pbytes, zero, zero, zero, out)
    return out


def _batch(kernels, net, hws):
    """One batch, packed as simulate_many packs it, through ``kernels``' serial driver."""
    import numpy as np
    from accelsim.engine import tables as T
    sim = importlib.import_module("accelsim.engine.simulate")
    _, _, lay, start, end, tables, pair_net, _, pair_col, row_start, n_rows, _ = sim._pairs_layout(net, hws, False, "b")
    out = np.empty((T.N_OUT_FIELDS, n_rows))
    kernels.run_pairs_serial(lay, start, end, *tables, pair_net, pair_col, row_start, out)
    return out


def before_after(rounds: int, configs: int) -> None:
    """The kernels before and after (see the module docstring), interleaved; prints a table."""
    import accelsim
    import numpy as np
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    try:
        import _kernels_before as before
    except ImportError:
        print("\nbefore/after: tests/_kernels_before.py not found (a source checkout has it)")
        return
    from accelsim.engine import kernels as after
    from codesign.spaces.space import DatasetHardwareSpace

    net = accelsim.load_model("mobilenet_v2")
    hw = accelsim.load_hardware("neural_engine")
    space = DatasetHardwareSpace()
    base = space.base_hardware()
    rng = np.random.default_rng(0)

    def fresh(n):
        return [space.build(space.sample(rng), base) for _ in range(n)]

    warm_old, warm_new = _old_simulate(before, net, hw), accelsim.simulate(net, hw).per_layer   # compile or load
    hws = fresh(8)
    same = np.array_equal(warm_old, warm_new) and np.array_equal(_batch(before, net, hws), _batch(after, net, hws))
    one = {"before": [], "after": []}
    rate = {"before": [], "after": []}
    build = []
    for _ in range(rounds):
        for _ in range(200):
            one["before"].append(once(lambda: _old_simulate(before, net, hw))[0])
            one["after"].append(once(lambda: accelsim.simulate(net, hw))[0])
        cpu, _, hws = once(lambda: fresh(configs))
        build.append(cpu / configs)
        rate["before"].append(configs / once(lambda: _batch(before, net, hws))[0])
        rate["after"].append(configs / once(lambda: _batch(after, net, hws))[0])
    print(f"\nbefore / after (outputs equal bit for bit: {'yes' if same else 'NO'})")
    print(header(f"CPU time of this process (process_time), before and after interleaved in {rounds} rounds "
                 f"(one call: 200 single calls per round, min / median over all {rounds * 200}; batches: one per "
                 "round)", rounds, "1 (serial kernels)"))
    print(f"{'measurement':<76}{'before':>11}{'after':>11}{'ratio':>8}")
    print("-" * 106)
    for stat, pick in (("min", min), ("median", statistics.median)):
        b, a = pick(one["before"]) * 1e6, pick(one["after"]) * 1e6
        print(f"{f'simulate(), MobileNetV2 on neural_engine, warm, {stat} (us; target <= 60)':<76}{b:>11.1f}{a:>11.1f}"
              f"{b / a:>7.1f}x")
    a_med = statistics.median(one["after"]) * 1e6
    verdict = "target met" if a_med <= 60 else f"gap {a_med - 60:.1f} us"
    print(f"{'simulate() target <= 60 us (median)':<76}{'':>11}{verdict:>11}")
    for stat, pick in (("best", max), ("median", statistics.median)):
        b, a = pick(rate["before"]), pick(rate["after"])
        print(f"{f'{configs} never-seen configs x MobileNetV2, {stat} (evals per CPU-s)':<76}"
              f"{b:>11,.0f}{a:>11,.0f}{a / b:>7.1f}x")
    print(f"{'building one never-seen config (codesign, the same for both; ms, min / median)':<76}"
          f"{min_median([b * 1e3 for b in build], '.3f'):>22}")


def load_topology_text(text: str):
    from accelsim.workload.scalesim import load_topology
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
        fh.write(text)
    try:
        return load_topology(fh.name)
    finally:
        os.unlink(fh.name)


def _has_scalesim() -> bool:
    try:
        import scalesim  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
