"""System-model speed: simulated seconds of a scenario per CPU second, and how it scales.

    python benchmarks/system_speed.py [--scenario smart_display] [--hw neural_engine] [--duration 60s] [--repeat 3]
                                      [--requests 1e3 1e4 1e5] [--threads 1]

Everything is timed in CPU seconds of this process (``time.process_time``: other jobs on a shared
machine do not count), with Numba and torch pinned to ``--threads`` threads (1 by default); the
median wall seconds of the same runs are printed beside, labelled.

Target (system-level issue): 60 s of smart_display on neural_engine in under 5 s (CPU, median).
Building the models (torch.fx tracing) and the engine runs happen once per scenario and are timed
once, on their own; the simulation, the Chrome trace and the Gantt chart are timed ``--repeat``
times (min / median) with the networks already built.

The scaling table runs the scenario for as long as its streams need to send about N requests
(N / the summed arrival rates) for each N of ``--requests`` and prints the min and median CPU time of
``--repeat`` runs, requests and layer events per CPU second, and the process's peak memory after
that size (a high-water mark: sizes run smallest first). ``--requests`` with no values skips the
table.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

from _timing import Times, header, once, pin_threads, require_repeats


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3   # bytes on macOS, KiB elsewhere


def scaling_table(sc, hw, nets, sizes, repeat: int) -> list[str]:
    """One row per request count: CPU min / median over ``repeat`` runs, throughput, memory."""
    from accelsim.system import simulate_system
    rate = sum(s.arrival.rate_hz for s in sc.streams)
    head = (f"{'requests':>10}{'simulated':>12}{'CPU min s':>11}{'CPU median s':>14}{'requests/CPU-s':>16}"
            f"{'layers/CPU-s':>14}{'wall median s':>15}{'peak RSS MB':>13}")
    lines = [f"{sc.name} on {hw.name}, {rate:g} requests/s summed over {len(sc.streams)} streams; "
             f"{repeat} runs per size", head, "-" * len(head)]
    for n in sizes:
        duration = n / rate
        t, result = Times(), None
        for _ in range(repeat):
            result = None   # free the previous run's logs before the next one
            cpu, wall, result = once(lambda: simulate_system(sc, hw, duration=duration, networks=nets))
            t.add(cpu, wall)
        arrived = sum(s["arrived"] for s in result.stream_stats())
        st = result.system_stats()
        layers = st["engine_layers"] + st["host_layers"]
        med = t.cpu_median
        lines.append(f"{arrived:>10,}{duration:>11.4g}s{t.cpu_min:>11.2f}{med:>14.2f}{arrived / med:>16,.0f}"
                     f"{layers / med:>14,.0f}{t.wall_median:>15.2f}{_peak_rss_mb():>13,.0f}")
        print(lines[-1], file=sys.stderr, flush=True)   # progress while the larger sizes run
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="smart_display")
    ap.add_argument("--hw", default="neural_engine")
    ap.add_argument("--duration", default="60s")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timing, >= 3")
    ap.add_argument("--target-s", type=float, default=5.0, help="CPU-time target for the simulation")
    ap.add_argument("--requests", type=float, nargs="*", default=[1e3, 1e4, 1e5], metavar="N",
                    help="request counts for the scaling table (default 1e3 1e4 1e5; none: skip it)")
    ap.add_argument("--threads", type=int, default=1, help="Numba and torch threads (1)")
    args = ap.parse_args(argv)
    require_repeats(ap, "--repeat", args.repeat)
    if any(n < 1 for n in args.requests):
        ap.error("--requests: expected values >= 1")
    pin_threads(args.threads)

    from accelsim.config import load_hardware
    from accelsim.system import build_networks, load_scenario, parse_duration, plot_gantt, simulate_system

    sc = load_scenario(args.scenario)
    hw = load_hardware(args.hw)
    simulated = parse_duration(args.duration, "--duration")

    build_cpu, build_wall, nets = once(lambda: build_networks(sc))
    pin_threads(args.threads)   # torch is loaded now
    simulate_system(sc, hw, duration="0.1s", networks=nets)   # warm: engine kernels compiled

    sim, result = Times(), None
    for _ in range(args.repeat):
        result = None
        cpu, wall, result = once(lambda: simulate_system(sc, hw, duration=simulated, networks=nets))
        sim.add(cpu, wall)
    st = result.system_stats()
    requests = sum(s["arrived"] for s in result.stream_stats())
    layers = st["engine_layers"] + st["host_layers"]

    trace, gantt = Times(), Times()
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.repeat):
            cpu, wall, _ = once(lambda: Path(d, "trace.json").write_text(result.chrome_trace_json()))
            trace.add(cpu, wall)
            cpu, wall, _ = once(lambda: plot_gantt(result, Path(d, "gantt.png")))
            gantt.add(cpu, wall)
        trace_mb = Path(d, "trace.json").stat().st_size / 1e6

    def mm(t: Times) -> str:
        return f"{t.cpu_min:.2f} / {t.cpu_median:.2f} s"

    rows = [
        ("build the models (torch.fx tracing; once)", f"{build_cpu:.2f} s (once)", f"{build_wall:.2f} s", "", None),
        (f"simulate {args.duration} of {sc.name} on {hw.name}", mm(sim), f"{sim.wall_median:.2f} s",
         f"< {args.target_s:g} s", sim.cpu_median < args.target_s),
        ("simulated time / CPU time (best / median)",
         f"{simulated / sim.cpu_min:,.0f}x / {simulated / sim.cpu_median:,.0f}x", "", "", None),
        ("requests / layers simulated", f"{requests:,} / {layers:,}", "", "", None),
        ("layers per CPU second (best / median)", f"{layers / sim.cpu_min:,.0f} / {layers / sim.cpu_median:,.0f}",
         "", "", None),
        (f"Chrome trace JSON ({trace_mb:.0f} MB)", mm(trace), f"{trace.wall_median:.2f} s", "", None),
        ("Gantt PNG (first 0.5 s)", mm(gantt), f"{gantt.wall_median:.2f} s", "", None),
    ]
    print(header("CPU seconds of this process (process_time)", args.repeat))
    print(f"{'measurement':<48}{'CPU min / median':>24}{'wall median':>13}  {'target':<10}{'met':>5}")
    print("-" * 102)
    for name, value, wall, target, met in rows:
        print(f"{name:<48}{value:>24}{wall:>13}  {target:<10}{'' if met is None else ('yes' if met else 'NO'):>5}")
    if not sim.cpu_median < args.target_s:
        print(f"gap: {sim.cpu_median - args.target_s:.2f} s over the target")
    if args.requests:
        result = None
        print()
        print("\n".join(scaling_table(sc, hw, nets, [int(n) for n in args.requests], args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
