"""System-model speed: simulated seconds of a scenario per wall-clock second.

    python benchmarks/system_speed.py [--scenario smart_display] [--hw neural_engine] [--duration 60s] [--repeat 3]

Target (system-level issue): 60 s of smart_display on neural_engine in under 5 s. Building the
models (torch.fx tracing) and the engine runs happen once per scenario and are timed separately;
the simulation time is the median of ``--repeat`` runs with the networks already built.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from accelsim.config import load_hardware
from accelsim.system import build_networks, load_scenario, parse_duration, plot_gantt, simulate_system


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="smart_display")
    ap.add_argument("--hw", default="neural_engine")
    ap.add_argument("--duration", default="60s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target-s", type=float, default=5.0, help="wall-clock target for the simulation")
    args = ap.parse_args(argv)

    sc = load_scenario(args.scenario)
    hw = load_hardware(args.hw)
    simulated = parse_duration(args.duration, "--duration")

    t = time.perf_counter()
    nets = build_networks(sc)
    build_s = time.perf_counter() - t
    simulate_system(sc, hw, duration="0.1s", networks=nets)   # warm: engine kernels compiled or loaded

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
