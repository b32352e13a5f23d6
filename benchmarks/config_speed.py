"""What checking a config against its schema costs (accelsim.schema), per call.

    python benchmarks/config_speed.py [--repeats 5] [--calls 2000]

Times, in CPU microseconds per call (``time.process_time``; min / median of ``--repeats`` runs of
``--calls`` calls each; Numba and BLAS pinned to one thread, though none of these calls uses one):

- ``schema.check`` of the default hardware config's YAML form: the compiled accept test
  (fastjsonschema) after turning the mapping into plain data;
- ``hardware_from_dict``: that check plus building the frozen dataclasses and the cross-field rules;
- ``Hardware.replace(array__rows=...)``: what a hardware search pays per candidate config;
- a rejected config: the explaining validator (jsonschema) finding the first violation in schema
  order and writing the one-line message (only paid on bad input);
- ``codesign.spaces.build_hardware`` of a never-seen genome of the default hardware space on
  ``neural_engine``: with its groups' validations cached (a search's steady state; each call a
  genome not built before in the repeat), and in a cold batch of 256 (the caches emptied first, as
  ``search_speed.py``'s cold batches do), per genome.

The target: ``Hardware.replace`` well under a millisecond, negligible beside a simulation.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import header, measure, pin_threads, require_repeats  # noqa: E402


def per_call_us(fn, calls: int, repeats: int) -> tuple:
    fn()   # compile and warm caches outside the timing
    t = measure(fn, repeats, calls)
    return t.cpu_min * 1e6, t.cpu_median * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    require_repeats(ap, "--repeats", args.repeats)
    pin_threads(1)
    from accelsim import schema
    from accelsim.config import HARDWARE_SCHEMA, hardware_from_dict, hardware_to_dict, load_hardware
    from accelsim.errors import ConfigError

    hw = load_hardware("neural_engine")
    data = hardware_to_dict(hw)
    bad = copy.deepcopy(data)
    bad["memory"]["sram"]["ifmap_kb"] = -4

    def rejected():
        try:
            schema.check(bad, HARDWARE_SCHEMA, "bad.yaml")
        except ConfigError:
            pass

    import itertools
    import numpy as np
    from codesign.spaces import space as S
    space = S.HardwareSpace()
    rng = np.random.default_rng(0)
    genomes = [space.sample(rng) for _ in range(max(args.calls, 256))]
    for g in genomes:
        S.build_hardware(hw, g)   # every group value validated once
    warm = itertools.cycle(genomes)

    def cold_batch():
        S.clear_caches()
        for g in genomes[:256]:
            S.build_hardware(hw, g)

    rows = [("schema.check (valid hardware config)", lambda: schema.check(data, HARDWARE_SCHEMA, "hw.yaml")),
            ("hardware_from_dict", lambda: hardware_from_dict(data)),
            ("Hardware.replace(array__rows=64)", lambda: hw.replace(array__rows=64)),
            ("schema.check (rejected: first violation + message)", rejected),
            ("build_hardware, never-seen genome, validations cached", lambda: S.build_hardware(hw, next(warm)))]
    print(header(f"CPU µs per call (process_time), {args.calls} calls per repeat", args.repeats, "1 (pinned)") + "\n")
    print("| call | min µs | median µs |")
    print("|---|---:|---:|")
    medians = {}
    for name, fn in rows:
        lo, med = per_call_us(fn, args.calls, args.repeats)
        medians[name] = med
        print(f"| {name} | {lo:.0f} | {med:.0f} |")
    t = measure(cold_batch, args.repeats)
    print(f"| build_hardware, cold batch of 256 (caches emptied), per genome | {t.cpu_min / 256 * 1e6:.0f} | "
          f"{t.cpu_median / 256 * 1e6:.0f} |")
    replace = medians["Hardware.replace(array__rows=64)"]
    print("\nHardware.replace under 1,000 µs (median): "
          + ("target met" if replace < 1000 else f"gap {replace - 1000:.0f} µs") + f" ({replace:.0f} µs)")


if __name__ == "__main__":
    main()
