"""Per-block and per-stage results: a report's per-layer records summed over each layer's block id.

A layer's block id is "<stage>.<block>" (e.g. "s3.b1", or "features.3" for an imported model; see
:class:`accelsim.workload.ir.Layer`); grouping by stage merges the blocks of one stage. Groups come in
the order their first layer runs, and layers without a block id form the group ``"(none)"``. Every
additive quantity is a plain sum, so the groups' totals equal the network's.
"""

from __future__ import annotations

GROUP_BY = ("block", "stage")
NO_GROUP = "(none)"

# Per-layer record fields summed into each group.
_SUMMED = ("macs", "compute_cycles", "stall_cycles", "total_cycles", "dram_read_bytes", "dram_write_bytes",
           "energy_pj")


def group_layers(report, by: str) -> list[dict]:
    """One record per group, in first-appearance order: name, layers (count), the summed fields
    (macs, compute/stall/total cycles, DRAM read/write bytes, energy_pj), latency_ms and
    cycle_share (the group's fraction of the network's total cycles)."""
    if by not in GROUP_BY:
        raise ValueError(f"group_layers: by: expected one of {', '.join(GROUP_BY)}, got {by!r}")
    groups: dict[str, dict] = {}
    for layer, rec in zip(report.network.layers, report.layers()):
        key = (layer.block if by == "block" else layer.stage) or NO_GROUP
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"name": key, "layers": 0, **{f: 0 for f in _SUMMED}}
        g["layers"] += 1
        for f in _SUMMED:
            g[f] += rec[f] or 0   # None marks a non-finite value (an infeasible layer)
    total = sum(g["total_cycles"] for g in groups.values())
    ms_per_cycle = 1.0 / (report.hardware.clock_mhz * 1e3)
    out = []
    for g in groups.values():
        g["latency_ms"] = g["total_cycles"] * ms_per_cycle
        g["cycle_share"] = g["total_cycles"] / total if total > 0 else 0.0
        out.append(g)
    return out


def grouped_table(groups: list[dict]) -> str:
    """Fixed-width table of ``group_layers`` records, for the terminal."""
    head = (f"{'group':<22}{'layers':>7}{'MACs':>15}{'compute':>13}{'stall':>12}{'total':>13}{'share':>8}"
            f"{'latency ms':>12}{'DRAM KiB':>11}{'energy uJ':>11}")
    lines = [head, "-" * len(head)]
    for g in groups:
        lines.append(f"{g['name'][:21]:<22}{g['layers']:>7}{g['macs']:>15,}{g['compute_cycles']:>13,.0f}"
                     f"{g['stall_cycles']:>12,.0f}{g['total_cycles']:>13,.0f}{g['cycle_share']:>8.1%}"
                     f"{g['latency_ms']:>12.4f}{(g['dram_read_bytes'] + g['dram_write_bytes']) / 1024:>11,.1f}"
                     f"{g['energy_pj'] / 1e6:>11.2f}")
    lines.append("-" * len(head))
    n = sum(g["layers"] for g in groups)
    lines.append(f"{len(groups)} groups, {n} layers: {sum(g['total_cycles'] for g in groups):,.0f} cycles, "
                 f"{sum(g['latency_ms'] for g in groups):.4f} ms, {sum(g['energy_pj'] for g in groups) / 1e9:.4f} mJ")
    return "\n".join(lines)
