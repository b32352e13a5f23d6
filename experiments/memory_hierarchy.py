"""What on-chip placement does to MobileNetV2 and to the fused-IBN vs IBN choice, per stage.

The published accelerator-aware NAS results on a consumer neural engine say fused inverted
bottlenecks (kxk full conv expand -> 1x1 project) win early in the network, where resolution is
high and channels few, because their expanded tensor need not leave the chip. This script measures
what the engine's three activation policies make of that on one hardware config:

- ``dram``: every tensor through DRAM (SCALE-Sim's assumption);
- ``resident``: a tensor stays in SRAM from producer to last consumer when it fits;
- ``fused``: in addition, conv chains may run depth-first in row bands.

Tables (Markdown, plus the same numbers in JSON):
1. MobileNetV2 (224x224, int8) under each policy, with channels stored unpadded and padded to the
   config's alignment: latency, DRAM traffic, energy, parameter bytes, activation arena and its
   liveness bound.
2. Per stage of MobileNetV2: the stage's own cycles with IBN blocks and with fused-IBN blocks (same
   expansion, kernel and channels), each stage swapped alone, under each policy.
3. Over all 2^7 per-stage IBN / fused-IBN patterns: the fastest pattern against all-IBN, per policy.
4. Single blocks (expansion 6, 3x3, channels in = out) from high resolution and few channels to low
   resolution and many: IBN and fused-IBN latency under each policy.
5. Halo modes: the stage-1 IBN block (112x112x16, expansion 6) with the activation SRAM (ifmap and
   ofmap buffers) shrunk step by step: the chains the fused policy runs, their tile grid and halo
   mode (cache / recompute_rows / recompute), against the resident policy.

    .venv/bin/python experiments/memory_hierarchy.py                        # ~10 s on 2 CPU cores
    .venv/bin/python experiments/memory_hierarchy.py --hw edge_tpu_like --resolution 160

Writes experiments/results/memory_hierarchy.{md,json} (or --out), atomically.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import accelsim
from accelsim.errors import AccelsimError
from accelsim.io import write_atomic
from accelsim.workload.ir import NetworkBuilder
from accelsim.workload.zoo import MOBILENET_V2_STAGES, fused_ibn_block, ibn_block, make_divisible

RESULTS = Path(__file__).resolve().parent / "results"
BLOCKS = ((112, 16), (56, 24), (28, 40), (14, 96), (7, 160))   # (resolution, channels) of table 4
POLICIES = ("dram", "resident", "fused")
SRAM_SWEEP_KB = (1, 2, 4, 8, 16, 32, 64, 512)   # ifmap and ofmap buffer sizes of table 5
MIB = 2.0 ** 20


def mobilenet_v2_pattern(fused: tuple, resolution: int = 224, width: float = 1.0):
    """MobileNetV2 with stage ``i`` built from fused-IBN blocks where ``fused[i]`` (else IBN), same
    expansion, kernel, channels and strides; the first stage (expansion 1) has no expand conv as IBN
    and a 3x3 full conv to 16 channels as fused-IBN."""
    tag = "".join("F" if f else "I" for f in fused)
    b = NetworkBuilder(f"mobilenet_v2_{tag}_{resolution}", (resolution, resolution, 3), "int8")
    c = make_divisible(32 * width)
    with b.block("stem.0"):
        x = b.conv(b.input, c, 3, 2, activation="relu6", bias=True, name="stem")
    for si, (t, ch, n, s) in enumerate(MOBILENET_V2_STAGES):
        out = make_divisible(ch * width)
        for i in range(n):
            block = b.fused_ibn if fused[si] else b.ibn
            x = block(x, out, expansion=t, kernel=3, stride=s if i == 0 else 1, name=f"s{si}.b{i}")
    with b.block("head.0"):
        x = b.conv(x, make_divisible(1280 * max(1.0, width)), 1, activation="relu6", name="head")
        x = b.global_avg_pool(x, name="pool")
        b.linear(x, 1000, name="classifier")
    return b.build()


def stage_cycles(report) -> dict:
    return {g["name"]: g["total_cycles"] for g in report.by_stage()}


def run(hw_name: str, resolution: int) -> dict:
    base = accelsim.load_hardware(hw_name)
    clock_khz = base.array.clock_mhz * 1e3
    n_stages = len(MOBILENET_V2_STAGES)
    all_ibn = (False,) * n_stages
    out = {"hardware": base.name, "resolution": resolution, "alignment": base.channel_alignment,
           "mobilenet_v2": [], "stages": [], "patterns": [], "blocks": [], "halo_modes": []}

    # 1. MobileNetV2 under each policy, unpadded and padded
    net = accelsim.load_model("mobilenet_v2", resolution=resolution)
    for align in sorted({1, base.channel_alignment}):
        for policy in POLICIES:
            r = accelsim.simulate(net, base.replace(activation_policy=policy, channel_alignment=align))
            out["mobilenet_v2"].append({
                "policy": policy, "alignment": align, "latency_ms": r.latency_ms, "dram_mib": r.dram_bytes / MIB,
                "energy_mj": r.energy_mj, "stall_share": r.stall_cycles / r.total_cycles,
                "param_mib": r.param_bytes / MIB, "arena_mib": r.peak_activation_bytes / MIB,
                "lower_bound_mib": r.activation_lower_bound_bytes / MIB,
                "layers_fused": int(sum(1 for x in r.layers() if x["fused_chain"]))})

    # 2. per stage: swap one stage to fused-IBN, compare the stage's own cycles
    for policy in POLICIES:
        hw = base.replace(activation_policy=policy)
        ibn_stages = stage_cycles(accelsim.simulate(mobilenet_v2_pattern(all_ibn, resolution), hw))
        for si, (t, ch, n, s) in enumerate(MOBILENET_V2_STAGES):
            pattern = tuple(i == si for i in range(n_stages))
            r = accelsim.simulate(mobilenet_v2_pattern(pattern, resolution), hw)
            fused = stage_cycles(r)[f"s{si}"]
            in_shape = next(l.in_shape for l in r.network.layers if l.block == f"s{si}.b0")
            out["stages"].append({"policy": policy, "stage": si, "input": "x".join(map(str, in_shape)),
                                  "channels": ch, "expansion": t, "blocks": n, "stride": s,
                                  "ibn_us": ibn_stages[f"s{si}"] / clock_khz * 1e3, "fused_us": fused / clock_khz * 1e3})

    # 3. every per-stage pattern
    for policy in POLICIES:
        hw = base.replace(activation_policy=policy)
        nets = [mobilenet_v2_pattern(p, resolution) for p in itertools.product((False, True), repeat=n_stages)]
        many = accelsim.simulate_many(nets, [hw])
        lat = many.latency_ms[:, 0]
        best = int(lat.argmin())
        pattern = nets[best].name.split("_")[2]
        out["patterns"].append({"policy": policy, "all_ibn_ms": float(lat[0]), "best_ms": float(lat[best]),
                                "best_pattern": pattern, "gain_pct": 100 * (1 - lat[best] / lat[0]),
                                "all_fused_ms": float(lat[-1]), "best_macs_m": nets[best].macs / 1e6,
                                "all_ibn_macs_m": nets[0].macs / 1e6})

    # 4. single blocks
    for res, ch in BLOCKS:
        ibn, fused = ibn_block(res, ch, ch, 6), fused_ibn_block(res, ch, ch, 6)
        row = {"resolution": res, "channels": ch, "mac_ratio": fused.macs / ibn.macs}
        for policy in POLICIES:
            hw = base.replace(activation_policy=policy)
            row[f"{policy}_ibn_us"] = accelsim.simulate(ibn, hw).latency_ms * 1e3
            row[f"{policy}_fused_us"] = accelsim.simulate(fused, hw).latency_ms * 1e3
        out["blocks"].append(row)

    # 5. halo modes as the activation SRAM shrinks
    block = ibn_block(112, 16, 16, 6)
    for kb in SRAM_SWEEP_KB:
        if base.sram.unified:   # the same activation space beside the block's weights
            hw = base.replace(sram__unified_kb=2 * kb + math.ceil(block.param_bytes / 1024), activation_policy="fused")
        else:
            hw = base.replace(sram__ifmap_kb=kb, sram__ofmap_kb=kb, activation_policy="fused")
        fused = accelsim.simulate(block, hw)
        resident = accelsim.simulate(block, hw.replace(activation_policy="resident"))
        chains = {}
        for x in fused.layers():
            if x["fused_chain"]:
                chains.setdefault(x["fused_chain"], []).append(x)
        out["halo_modes"].append({
            "sram_kb": kb, "resident_us": resident.latency_ms * 1e3, "fused_us": fused.latency_ms * 1e3,
            "resident_dram_kib": resident.dram_bytes / 1024, "fused_dram_kib": fused.dram_bytes / 1024,
            "fused_mj": fused.energy_mj, "resident_mj": resident.energy_mj,
            "chains": [{"layers": [x["name"] for x in xs], "mode": xs[0]["fuse_mode"], "tiles": int(xs[0]["tiles"])}
                       for xs in chains.values()]})
    return out


def _pair_header(ratio: str) -> str:
    """Header cells of an IBN / fused-IBN / ratio triple per policy, closing the row."""
    return " | ".join(f"{p}: IBN us | {p}: fused us | {p}: {ratio}" for p in POLICIES) + " |"


def _pair_cells(ibn_us: float, fused_us: float) -> str:
    return f"{ibn_us:.1f} | {fused_us:.1f} | {fused_us / ibn_us:.2f}"


def markdown(res: dict, command: str, seconds: float) -> str:
    hw = res["hardware"]
    lines = [f"# On-chip placement: MobileNetV2 and fused-IBN vs IBN on `{hw}`", "",
             f"Measured by `{command}` in {seconds:.0f} s. Input {res['resolution']}x{res['resolution']}, int8, "
             f"batch 1. Engine model: activation placement `dram` / `resident` / `fused` "
             f"(see the README's memory hierarchy section).", "",
             "## 1. MobileNetV2 under each policy", "",
             "| policy | channels stored | latency ms | DRAM MiB | energy mJ | stall share | layers fused | "
             "params MiB | activation arena MiB | liveness bound MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["mobilenet_v2"]:
        stored = "unpadded" if r["alignment"] == 1 else f"padded to {r['alignment']}"
        lines.append(f"| {r['policy']} | {stored} | {r['latency_ms']:.4f} | {r['dram_mib']:.2f} | "
                     f"{r['energy_mj']:.4f} | {100 * r['stall_share']:.1f} % | {r['layers_fused']} | "
                     f"{r['param_mib']:.2f} | {r['arena_mib']:.2f} | {r['lower_bound_mib']:.2f} |")
    lines += ["", "## 2. Per stage: the stage's own time with IBN and with fused-IBN blocks", "",
              "Each row swaps one stage of MobileNetV2 to fused-IBN (3x3 full conv expand -> 1x1 project, same "
              "expansion and channels) and reports that stage's cycles; < 1 means fused-IBN is faster there.", "",
              "| stage | input | out ch | t | blocks | " + _pair_header("ratio"),
              "|---|---|---|---|---|" + "---|---|---|" * len(POLICIES)]
    by = {(r["policy"], r["stage"]): r for r in res["stages"]}
    for si in sorted({r["stage"] for r in res["stages"]}):
        r0 = by["dram", si]
        cells = [_pair_cells(by[p, si]["ibn_us"], by[p, si]["fused_us"]) for p in POLICIES]
        lines.append(f"| s{si} | {r0['input']} | {r0['channels']} | {r0['expansion']} | {r0['blocks']} | "
                     + " | ".join(cells) + " |")
    lines += ["", "## 3. The fastest of all 128 per-stage patterns", "",
              "Pattern: one letter per stage s0..s6, I = IBN, F = fused-IBN.", "",
              "| policy | all-IBN ms | best pattern | best ms | faster than all-IBN | MACs best / all-IBN | "
              "all-fused ms |", "|---|---|---|---|---|---|---|"]
    for r in res["patterns"]:
        lines.append(f"| {r['policy']} | {r['all_ibn_ms']:.4f} | {r['best_pattern']} | {r['best_ms']:.4f} | "
                     f"{r['gain_pct']:.1f} % | {r['best_macs_m']:.0f} M / {r['all_ibn_macs_m']:.0f} M | "
                     f"{r['all_fused_ms']:.4f} |")
    lines += ["", "## 4. Single blocks: IBN vs fused-IBN", "",
              "Expansion 6, 3x3, channels in = out, stride 1, the block alone (its input read from and its "
              "output written to DRAM).", "",
              "| block (HxW, C) | fused MACs / IBN MACs | " + _pair_header("fused / IBN"),
              "|---|---|" + "---|---|---|" * len(POLICIES)]
    for r in res["blocks"]:
        cells = [_pair_cells(r[p + "_ibn_us"], r[p + "_fused_us"]) for p in POLICIES]
        lines.append(f"| {r['resolution']}x{r['resolution']}, {r['channels']} | {r['mac_ratio']:.1f}x | "
                     + " | ".join(cells) + " |")
    lines += ["", "## 5. Halo modes as the activation SRAM shrinks", "",
              "The IBN block of stage 1 (112x112x16, expansion 6, 3x3) under `fused`, with the ifmap and ofmap "
              "buffers set to the size given (the filter buffer as configured), against `resident` on the same "
              "config. A chain runs in tiles of its last layer's output: full-width row bands when one fits, "
              "else column tiles. Halo mode: `cache` keeps the rows and columns neighbouring tiles share "
              "(full-width halo lines between bands), `recompute_rows` keeps the columns but recomputes the "
              "rows, `recompute` recomputes both.", "",
              "| ifmap = ofmap KiB | resident us | fused us | fused / resident | resident DRAM KiB | "
              "fused DRAM KiB | fused / resident energy | chains (layers: halo mode, tiles) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in res["halo_modes"]:
        chains = "; ".join(f"{' > '.join(n.split('.')[-1] for n in c['layers'])}: {c['mode']}, {c['tiles']}"
                           for c in r["chains"]) or "none"
        lines.append(f"| {r['sram_kb']} | {r['resident_us']:.1f} | {r['fused_us']:.1f} | "
                     f"{r['fused_us'] / r['resident_us']:.2f} | {r['resident_dram_kib']:.0f} | "
                     f"{r['fused_dram_kib']:.0f} | {r['fused_mj'] / r['resident_mj']:.2f} | {chains} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hw", default="neural_engine", help="hardware config name or YAML path (neural_engine)")
    ap.add_argument("--resolution", type=int, default=224, help="input resolution (224)")
    ap.add_argument("--out", type=Path, default=RESULTS / "memory_hierarchy.md",
                    help="Markdown output; the JSON goes beside it (experiments/results/memory_hierarchy.md)")
    args = ap.parse_args(argv)
    if args.resolution < 32:
        print(f"--resolution: expected >= 32, got {args.resolution}", file=sys.stderr)
        return 2
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        res = run(args.hw, args.resolution)
    except (AccelsimError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = "python experiments/memory_hierarchy.py" + (f" {' '.join(argv)}" if argv else "")
    write_atomic(args.out, markdown(res, cmd, time.perf_counter() - t0))
    write_atomic(args.out.with_suffix(".json"), json.dumps(res, indent=1))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
