"""System-model speed: simulated seconds of a scenario per wall-clock second, and how it scales.

    python benchmarks/system_speed.py [--scenario smart_display] [--hw neural_engine] [--duration 60s] [--repeat 3]
                                      [--requests 1e3 1e4 1e5]

Target (system-level issue): 60 s of smart_display on neural_engine in under 5 s. Building the
models (torch.fx tracing) and the engine runs happen once per scenario and are timed separately;
the simulation time is the median of ``--repeat`` runs with the networks already built.

The scaling table runs the scenario for as long as its streams need to send about N requests
(N / the summed arrival rates) for each N of ``--requests`` and prints the minimum and median
wall-clock time of ``--repeat`` runs, requests and layer events per second, and the process's
peak memory after that size (a high-water mark: sizes run smallest first). ``--requests`` with
no values skips the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from accelsim.config import load_hardware
from accelsim.system import build_networks, load_scenario, parse_duration, plot_gantt, simulate_system


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3   # bytes on macOS, KiB elsewhere


def scaling_table(sc, hw, nets, sizes, repeat: int) -> list[str]:
    """One row per request count: wall-clock min / median over ``repeat`` runs, throughput, memory."""
    rate = sum(s.arrival.rate_hz for s in sc.streams)
    head = (f"{'requests':>10}{'simulated':>12}{'min s':>9}{'median s':>10}{'requests/s':>12}"
            f"{'layers/s':>11}{'peak RSS MB':>13}")
    lines = [f"{sc.name} on {hw.name}, {rate:g} requests/s summed over {len(sc.streams)} streams; "
             f"{repeat} runs per size", head, "-" * len(head)]
    for n in sizes:
        duration = n / rate
        times, result = [], None
        for _ in range(repeat):
            result = None   # free the previous run's logs before the next one
            t = time.perf_counter()
            result = simulate_system(sc, hw, duration=duration, networks=nets)
            times.append(time.perf_counter() - t)
        arrived = sum(s["arrived"] for s in result.stream_stats())
        st = result.system_stats()
        layers = st["engine_layers"] + st["host_layers"]
        med = statistics.median(times)
        lines.append(f"{arrived:>10,}{duration:>11.4g}s{min(times):>9.2f}{med:>10.2f}{arrived / med:>12,.0f}"
                     f"{layers / med:>11,.0f}{_peak_rss_mb():>13,.0f}")
        print(lines[-1], file=sys.stderr, flush=True)   # progress while the larger sizes run
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="smart_display")
    ap.add_argument("--hw", default="neural_engine")
    ap.add_argument("--duration", default="60s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target-s", type=float, default=5.0, help="wall-clock target for the simulation")
    ap.add_argument("--requests", type=float, nargs="*", default=[1e3, 1e4, 1e5], metavar="N",
                    help="request counts for the scaling table (default 1e3 1e4 1e5; none: skip it)")
    args = ap.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.requests):
        ap.error("--repeat and --requests: expected values >= 1")

    sc = load_scenario(args.scenario)
    hw = load_hardware(args.hw)
    simulated = parse_duration(args.duration, "--duration")

    t = time.perf_counter()
    nets = build_networks(sc)
    build_s = time.perf_counter() - t
    simulate_system(sc, hw, duration="0.1s", networks=nets)   # warm: engine kernels compiled

    times, result = [], None
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = simulate_system(sc, hw, duration=simulated, networks=nets)
        times.append(time.perf_counter() - t)
    sim_s = statistics.median(times)
    st = result.system_stats()
    requests = sum(s["arrived"] for s in result.stream_stats())
    layers = st["engine_layers"] + st["host_layers"]

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        Path(d, "trace.json").write_text(result.chrome_trace_json())
        trace_s = time.perf_counter() - t
        trace_mb = Path(d, "trace.json").stat().st_size / 1e6
        t = time.perf_counter()
        plot_gantt(result, Path(d, "gantt.png"))
        gantt_s = time.perf_counter() - t

    rows = [
        ("build the models (torch.fx tracing; once)", f"{build_s:.2f} s", "", None),
        (f"simulate {args.duration} of {sc.name} on {hw.name}", f"{sim_s:.2f} s",
         f"< {args.target_s:g} s", sim_s < args.target_s),
        ("simulated time / wall-clock time", f"{simulated / sim_s:,.0f}x", "", None),
        ("requests / layers simulated", f"{requests:,} / {layers:,}", "", None),
        ("layers per wall-clock second", f"{layers / sim_s:,.0f}", "", None),
        (f"Chrome trace JSON ({trace_mb:.0f} MB)", f"{trace_s:.2f} s", "", None),
        ("Gantt PNG (first 0.5 s)", f"{gantt_s:.2f} s", "", None),
    ]
    print(f"{'measurement':<48}{'value':>20}  {'target':<10}{'met':>5}")
    print("-" * 85)
    for name, value, target, met in rows:
        print(f"{name:<48}{value:>20}  {target:<10}{'' if met is None else ('yes' if met else 'NO'):>5}")
    print(f"\n{args.repeat} runs, median; cores: {os.cpu_count()}")
    if args.requests:
        result = None
        print()
        print("\n".join(scaling_table(sc, hw, nets, [int(n) for n in args.requests], args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
