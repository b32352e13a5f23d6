"""What checking a config against its schema costs (accelsim.schema), per call.

    python benchmarks/config_speed.py [--repeats 5] [--calls 2000]

Times, in CPU microseconds per call (min / median of ``--repeats`` runs of ``--calls`` calls each):

- ``schema.check`` of the default hardware config's YAML form: the compiled accept test
  (fastjsonschema) after turning the mapping into plain data;
- ``hardware_from_dict``: that check plus building the frozen dataclasses and the cross-field rules;
- ``Hardware.replace(array__rows=...)``: what a hardware search pays per candidate config;
- a rejected config: the explaining validator (jsonschema) finding the first violation in schema
  order and writing the one-line message (only paid on bad input).

The target: ``Hardware.replace`` well under a millisecond, negligible beside a simulation.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim import schema  # noqa: E402
from accelsim.config import HARDWARE_SCHEMA, hardware_from_dict, hardware_to_dict, load_hardware  # noqa: E402
from accelsim.errors import ConfigError  # noqa: E402


def per_call_us(fn, calls: int, repeats: int) -> tuple:
    fn()   # compile and warm caches outside the timing
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        times.append((time.process_time() - t0) / calls * 1e6)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    hw = load_hardware("neural_engine")
    data = hardware_to_dict(hw)
    bad = copy.deepcopy(data)
    bad["memory"]["sram"]["ifmap_kb"] = -4

    def rejected():
        try:
            schema.check(bad, HARDWARE_SCHEMA, "bad.yaml")
        except ConfigError:
            pass

    rows = [("schema.check (valid hardware config)", lambda: schema.check(data, HARDWARE_SCHEMA, "hw.yaml")),
            ("hardware_from_dict", lambda: hardware_from_dict(data)),
            ("Hardware.replace(array__rows=64)", lambda: hw.replace(array__rows=64)),
            ("schema.check (rejected: first violation + message)", rejected)]
    print(f"CPU µs per call, min / median of {args.repeats} x {args.calls} calls\n")
    print("| call | min µs | median µs |")
    print("|---|---:|---:|")
    for name, fn in rows:
        lo, med = per_call_us(fn, args.calls, args.repeats)
        print(f"| {name} | {lo:.0f} | {med:.0f} |")


if __name__ == "__main__":
    main()
