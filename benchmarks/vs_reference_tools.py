"""accelsim beside SCALE-Sim 3.0.0 and ZigZag on one workload: CPU time and per-layer agreement.

    python benchmarks/vs_reference_tools.py --scalesim-python /path/to/scalesim-venv/bin/python \\
        --zigzag-python /path/to/zigzag-venv/bin/python [--repeats 3] [--calls 200] [--lpf-limit 2] \\
        [--side-by-side] [--per-layer] [--layers N]

The workload is the 21 dense layers of ResNet-18 in ``examples/scalesim/resnet18.csv`` (SCALE-Sim's
topology format) on the 32x32 weight-stationary array of ``examples/scalesim/scale.cfg`` (64 KB per
SRAM buffer, 10 one-byte words per cycle of DRAM; see ``examples/scalesim/README.md``). accelsim reads
the two files with ``accelsim.load_topology`` and ``accelsim.load_hardware``; SCALE-Sim is given the
same two files; ZigZag is given the same layers and an accelerator generated from the same config.

What is timed, in CPU time (``time.process_time``), min / median:

- accelsim: ``accelsim.simulate(net, hw)``, warm (the first call, which compiles or loads the Numba
  cache and packs the network and the config into the tables it keeps on them, is excluded), in
  this process on one Numba thread; ``--calls`` calls per repeat, ``--repeats`` repeats.
- SCALE-Sim: one child process per run, ``--repeats`` runs; the child reports the CPU time of
  ``run_scale`` (traces off), which excludes its imports, its reading of the two files before it and
  its writing of the report files after it.
- ZigZag: one child process per run, ``--repeats`` runs; the child reports the CPU time of ZigZag's
  stages from the loop over layers down to the cost model (the stages ``zigzag.api`` chains, with the
  spatial mapping given and the temporal mapping searched by LOMA with ``--lpf-limit``, least latency
  kept), which excludes its imports and its parsing of the YAML inputs; its saving, plotting and
  summing stages are not run.

The children run with BLAS and OpenMP on one thread, like accelsim.

Per-layer agreement with accelsim (``accelsim.simulate(net, hw).layers()``):

- SCALE-Sim: compute cycles, "Total Cycles" - "Stall Cycles" of its COMPUTE_REPORT.csv (as in
  ``tests/test_scalesim_golden.py``), against accelsim's ``compute_cycles``: how many of the 21
  layers are equal, and the largest relative difference.
- ZigZag: its latency per layer (``latency_total2``) against accelsim's ``total_cycles`` and
  ``compute_cycles``, and its ideal temporal cycles (the product of the temporal loops, its compute
  cycles) against accelsim's ``compute_cycles``: the per-layer ratio (median, min, max) and the
  Spearman rank correlation over the 21 layers. The accelerator, mapping and workload YAML files
  are generated into a temporary directory: a cols x rows MAC array unrolling K over the columns and
  C over the rows (weight stationary), systolic in both dimensions; per PE a one-weight and a
  one-partial-sum register; an ifmap, a filter and an ofmap SRAM of the config's sizes; a DRAM whose
  one port moves the config's bandwidth; 8-bit weights, inputs and outputs, 16-bit partial sums
  (as in ZigZag's own ResNet-18 workload).

The table is followed by one line per way in which ZigZag's model differs from accelsim's.

The two interpreters are virtual environments outside the repository, e.g.:

    python3 -m venv /path/to/scalesim-venv && /path/to/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    python3 -m venv /path/to/zigzag-venv && /path/to/zigzag-venv/bin/pip install zigzag-dse==3.9.1 six

(zigzag-dse 3.9.1 imports ``six`` without declaring it.) A tool without an interpreter gets a row
"not run". One SCALE-Sim run of this workload takes about 7 minutes of CPU and up to 6 GB of
memory, one ZigZag run a little over a minute, so a run with the defaults takes about 25 minutes of
CPU; ``--side-by-side`` overlaps the two tools' runs in wall time. ``--layers N`` takes the first N
layers only, for a quick check of the setup.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _timing import header, measure, min_median, pin_threads, require_repeats
from engine_speed import SCALESIM_LAYOUT

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "examples" / "scalesim" / "resnet18.csv"
CONFIG = ROOT / "examples" / "scalesim" / "scale.cfg"
WORD_BITS = 8    # SCALE-Sim's words are one byte
PSUM_BITS = 16   # partial sums, as ZigZag's own ResNet-18 workload gives them

# Times run_scale only: SCALE-Sim reads its inputs in the constructor, and run() ends by writing the
# report files, which is held back until the clock has stopped.
SCALESIM_CHILD = r"""
import contextlib, io, sys, time
from importlib.metadata import version
from scalesim.scale_sim import scalesim
config, topology, layout, out_dir = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology, layout=layout)
    write_reports = sim.runner.generate_reports
    sim.runner.generate_reports = lambda: None
    t = time.process_time()
    sim.run_scale(top_path=out_dir)
    cpu = time.process_time() - t
    write_reports()
print(version("scalesim"), cpu)
"""

# zigzag.api.get_hardware_performance_zigzag's stages from the loop over layers down, with the
# arguments it passes by default except one spatial mapping generated (the mapping file gives it);
# its input parsing runs before the clock starts, and its stages that save, plot and sum the results
# are left out.
ZIGZAG_CHILD = r"""
import json, logging, sys, time
from importlib.metadata import version
logging.disable(logging.CRITICAL)
from zigzag.mapping.temporal_mapping import TemporalMappingType
from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
from zigzag.stages.main import MainStage
from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
from zigzag.stages.parser.workload_parser import WorkloadParserStage
from zigzag.stages.results.reduce_stages import MinimalLatencyStage
from zigzag.stages.workload_iterator import WorkloadStage
accelerator_yaml, workload_yaml, mapping_yaml, lpf_limit = sys.argv[1:5]
accelerator = AcceleratorParserStage.parse_accelerator(accelerator_yaml)
workload = WorkloadParserStage([CostModelStage], workload=workload_yaml, mapping=mapping_yaml).parse_workload()
stages = [WorkloadStage, MinimalLatencyStage, SpatialMappingGeneratorStage, MinimalLatencyStage,
          TemporalMappingGeneratorStage, CostModelStage]
t = time.process_time()
results = MainStage(stages, accelerator=accelerator, workload=workload, loma_lpf_limit=int(lpf_limit),
                    loma_show_progress_bar=False, nb_mappings_generated=1,
                    enable_mix_spatial_mapping_generation=False, access_same_data_considered_as_no_access=True,
                    temporal_mapping_type=TemporalMappingType.UNEVEN).run()
cpu = time.process_time() - t
layers = [{"name": cme.layer.name, "latency": float(cme.latency_total2),
           "ideal_temporal": float(cme.ideal_temporal_cycle),
           "ideal": float(cme.ideal_cycle), "stall": float(cme.stall_slack_comb),
           "onloading": float(cme.data_onloading_cycle), "offloading": float(cme.data_offloading_cycle),
           "drain": float(cme.systolic_drain_cycle), "spatial_utilization": float(cme.mac_spatial_utilization),
           "spatial_mapping": str(cme.layer.spatial_mapping)} for cme, _ in results]
print(json.dumps({"version": version("zigzag-dse"), "cpu_s": cpu, "layers": layers}))
"""


# ---------------------------------------------------------------------------------------------
# ZigZag inputs, generated from the SCALE-Sim config (as accelsim read it) and the layers
# ---------------------------------------------------------------------------------------------

def _port(name: str, kind: str, bits_per_cycle: int, allocation: list) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bits_per_cycle, "bandwidth_max": bits_per_cycle,
            "allocation": allocation}


def _memory(size_bits: int, operands: list, ports: list, served: list, access_pj: float) -> dict:
    # Energy per access only breaks latency ties in ZigZag's search; no energy is compared here.
    return {"size": size_bits, "r_cost": access_pj, "w_cost": access_pj, "area": 0.0, "latency": 1,
            "operands": operands, "ports": ports, "served_dimensions": served}


def zigzag_accelerator(hw) -> dict:
    """A ZigZag accelerator for ``hw``: D1 = the array's columns, D2 = its rows. ZigZag takes each
    operand's memory levels in the order the memories are listed, innermost first."""
    rows, cols = hw.array.rows, hw.array.cols
    dram_bits = round(hw.dram.bandwidth_gb_per_s * 1e3 / hw.array.clock_mhz * 8)   # bits per cycle
    kb_bits = 1024 * 8
    reads_i, reads_w, psums = rows * WORD_BITS, cols * WORD_BITS, cols * PSUM_BITS   # one word per row / column
    whole_array = ["D1", "D2"]
    memories = {
        "weight_reg": _memory(WORD_BITS, ["I2"], [_port("r_port_1", "read", WORD_BITS, ["I2, tl"]),
                                                  _port("w_port_1", "write", WORD_BITS, ["I2, fh"])], [], 0.02),
        "psum_reg": _memory(PSUM_BITS, ["O"], [_port("r_port_1", "read", PSUM_BITS, ["O, tl"]),
                                               _port("r_port_2", "read", PSUM_BITS, ["O, th"]),
                                               _port("w_port_1", "write", PSUM_BITS, ["O, fh"]),
                                               _port("w_port_2", "write", PSUM_BITS, ["O, fl"])], [], 0.02),
        "ifmap_sram": _memory(round(hw.sram.ifmap_kb * kb_bits), ["I1"],
                              [_port("r_port_1", "read", reads_i, ["I1, tl"]),
                               _port("w_port_1", "write", reads_i, ["I1, fh"])], whole_array, 10.0),
        "filter_sram": _memory(round(hw.sram.filter_kb * kb_bits), ["I2"],
                               [_port("r_port_1", "read", reads_w, ["I2, tl"]),
                                _port("w_port_1", "write", reads_w, ["I2, fh"])], whole_array, 10.0),
        "ofmap_sram": _memory(round(hw.sram.ofmap_kb * kb_bits), ["O"],
                              [_port("r_port_1", "read", psums, ["O, tl", "O, th"]),
                               _port("w_port_1", "write", psums, ["O, fh", "O, fl"])], whole_array, 10.0),
        "dram": _memory(10 ** 10, ["I1", "I2", "O"],
                        [_port("rw_port_1", "read_write", dram_bits,
                               ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])],
                        whole_array, 700.0),
    }
    return {"name": hw.name, "memories": memories,
            "operational_array": {"unit_energy": 0.04, "unit_area": 1.0, "dimensions": ["D1", "D2"],
                                  "sizes": [cols, rows], "systolic_dimensions": ["D1", "D2"]}}


def zigzag_mapping(hw) -> list:
    """Weight stationary: output channels over the columns, input channels over the rows."""
    return [{"name": "default", "spatial_mapping": {"D1": [f"K, {hw.array.cols}"], "D2": [f"C, {hw.array.rows}"]},
             "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]


def zigzag_workload(layers: list) -> list:
    """The layers (``Report.layers()`` records) as ZigZag convolutions, chained in order; no padding,
    so the input extent is stride x (output - 1) + filter, as in SCALE-Sim."""
    out = []
    for i, rec in enumerate(layers):
        (oy, ox, k), c = rec["out_shape"], rec["in_shape"][2]
        (fy, fx), (sy, sx) = rec["kernel"], rec["stride"]
        out.append({"id": i, "name": rec["name"], "operator_type": "Conv",
                    "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
                    "dimension_relations": [f"ix={sx}*ox+1*fx", f"iy={sy}*oy+1*fy"],
                    "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
                    "loop_sizes": [1, k, c, oy, ox, fy, fx],
                    "operand_precision": {"W": WORD_BITS, "I": WORD_BITS, "O": PSUM_BITS, "O_final": WORD_BITS},
                    "operand_source": {"I": max(i - 1, 0), "W": i}})
    return out


# ---------------------------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------------------------

def _failure(tool: str, res) -> str:
    lines = (res.stderr or "").strip().splitlines()
    return f"{tool} failed (status {res.returncode}): {lines[-1] if lines else 'no message'}"


def scalesim_run(python: str, env: dict, topology: Path) -> dict:
    """One SCALE-Sim run: {"version", "cpu_s", "compute": [per layer]} or {"error"}."""
    with tempfile.TemporaryDirectory() as tmp:
        script, layout, out_dir = Path(tmp) / "run.py", Path(tmp) / "layout.csv", Path(tmp) / "out"
        script.write_text(SCALESIM_CHILD)
        layout.write_text(SCALESIM_LAYOUT)
        res = subprocess.run([python, str(script), str(CONFIG), str(topology), str(layout), str(out_dir)],
                             capture_output=True, text=True, env=env)
        if res.returncode != 0:
            return {"error": _failure("SCALE-Sim", res)}
        version, cpu = res.stdout.split()[-2:]
        report = next(out_dir.rglob("COMPUTE_REPORT.csv"))
        with report.open() as fh:
            rows = [{k.strip(): v.strip() for k, v in row.items() if k and k.strip()} for row in csv.DictReader(fh)]
        compute = [float(r["Total Cycles"]) - float(r["Stall Cycles"]) for r in rows]
        return {"version": version, "cpu_s": float(cpu), "compute": compute}


def zigzag_run(python: str, env: dict, hw, layers: list, lpf_limit: int) -> dict:
    """One ZigZag run: the child's JSON ({"version", "cpu_s", "layers"}) or {"error"}."""
    import yaml
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, data in (("accelerator", zigzag_accelerator(hw)), ("workload", zigzag_workload(layers)),
                           ("mapping", zigzag_mapping(hw))):
            paths[name] = Path(tmp) / f"{name}.yaml"
            paths[name].write_text(yaml.safe_dump(data, sort_keys=False))
        script = Path(tmp) / "run.py"
        script.write_text(ZIGZAG_CHILD)
        res = subprocess.run([python, str(script), str(paths["accelerator"]), str(paths["workload"]),
                              str(paths["mapping"]), str(lpf_limit)], capture_output=True, text=True, env=env, cwd=tmp)
        if res.returncode != 0:
            return {"error": _failure("ZigZag", res)}
        return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Agreement and the table
# ---------------------------------------------------------------------------------------------

def agreement(theirs, ours, spearmanr) -> dict:
    """Per-layer comparison of two equally long sequences of cycles."""
    ratios = [t / o for t, o in zip(theirs, ours)]
    return {"equal": sum(t == o for t, o in zip(theirs, ours)), "n": len(ours),
            "largest_rel": max(abs(t - o) / o for t, o in zip(theirs, ours)),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "spearman": float(spearmanr(theirs, ours).statistic)}


def _agreement_cells(a: dict | None) -> list:
    if a is None:
        return ["", "", "", ""]
    return [f"{a['equal']} of {a['n']}", f"{100 * a['largest_rel']:.3g} %",
            f"{a['ratio_median']:.3f} ({a['ratio_min']:.3f} – {a['ratio_max']:.3f})", f"{a['spearman']:.3f}"]


def _not_run(tool: str, python, results: list, flag: str) -> "list | None":
    """The table row of a tool that was not run (no interpreter given) or failed; None when it ran."""
    if not python:
        return [tool, f"not run: pass {flag}", "", "", "", "", "", ""]
    errors = [r["error"] for r in results if "error" in r]
    return [tool, errors[0], "", "", "", "", "", ""] if errors else None


def _seconds(values, unit: float, suffix: str, digits: str) -> str:
    return f"{min_median([v / unit for v in values], digits)} {suffix}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalesim-python", help="a Python interpreter with scalesim==3.0.0 installed")
    ap.add_argument("--zigzag-python", help="a Python interpreter with zigzag-dse (and six) installed")
    ap.add_argument("--repeats", type=int, default=3,
                    help="accelsim repeats and runs of each reference tool, >= 3 (3)")
    ap.add_argument("--calls", type=int, default=200, help="accelsim calls per repeat (200)")
    ap.add_argument("--lpf-limit", type=int, default=2,
                    help="ZigZag LOMA loop-prime-factor limit (2; ZigZag raises it to each layer's number of "
                         "temporal loops, so 2 gives the fewest loop orderings it allows)")
    ap.add_argument("--side-by-side", action="store_true",
                    help="run SCALE-Sim's runs and ZigZag's runs at the same time (each tool's own runs one after "
                         "another); each child reports its own CPU time, so this shortens the wall time only")
    ap.add_argument("--layers", type=int, default=0, help="the first N layers only, for a quick check (0 = all)")
    ap.add_argument("--per-layer", action="store_true", help="also print the cycles of every layer")
    args = ap.parse_args(argv)
    require_repeats(ap, "--repeats", args.repeats)
    if args.calls < 1 or args.lpf_limit < 1 or args.layers < 0:
        ap.error("--calls and --lpf-limit: expected >= 1; --layers: expected >= 0")
    for option in ("scalesim_python", "zigzag_python"):
        path = getattr(args, option)
        if path and not shutil.which(path):
            ap.error(f"--{option.replace('_', '-')}: expected a Python interpreter, {path} is not an executable")
    env = pin_threads(1)

    import accelsim
    from accelsim.extras import require
    from tqdm import tqdm
    spearmanr = require("scipy.stats", "codesign", "benchmarks/vs_reference_tools.py (Spearman)").spearmanr

    with tempfile.TemporaryDirectory() as tmp:
        return compare(args, env, accelsim, spearmanr, tqdm, first_layers(TOPOLOGY, args.layers, Path(tmp)))


def first_layers(topology: Path, n: int, tmp: Path) -> Path:
    """``topology``, or a copy of its header and first ``n`` layers in ``tmp`` when ``n`` > 0."""
    if not n:
        return topology
    lines = topology.read_text().splitlines(keepends=True)
    out = tmp / topology.name
    out.write_text("".join(lines[:n + 1]))
    return out


def compare(args, env: dict, accelsim, spearmanr, tqdm, topology: Path) -> int:
    """Runs the three tools on ``topology`` and prints the table."""
    net = accelsim.load_topology(str(topology))
    hw = accelsim.load_hardware(str(CONFIG))
    report = accelsim.simulate(net, hw)   # compiles or loads the Numba cache; not timed
    layers = report.layers()
    ours_compute = [rec["compute_cycles"] for rec in layers]
    ours_total = [rec["total_cycles"] for rec in layers]
    ours = measure(lambda: accelsim.simulate(net, hw), args.repeats, calls=args.calls)

    tools = {}   # tool -> one run
    if args.scalesim_python:
        tools["scalesim"] = lambda: scalesim_run(args.scalesim_python, env, topology)
    if args.zigzag_python:
        tools["zigzag"] = lambda: zigzag_run(args.zigzag_python, env, hw, layers, args.lpf_limit)
    with tqdm(total=args.repeats * len(tools), desc="reference-tool runs", file=sys.stderr,
              disable=not tools) as bar:
        def repeated(run):
            out = []
            for _ in range(args.repeats):
                out.append(run())
                bar.update(1)
            return out
        with ThreadPoolExecutor(max_workers=2 if args.side_by_side else 1) as pool:
            futures = {tool: pool.submit(repeated, run) for tool, run in tools.items()}
            runs = {tool: fut.result() for tool, fut in futures.items()}
    sc, zz = runs.get("scalesim", []), runs.get("zigzag", [])

    n = len(layers)
    lpf = f"LOMA, lpf_limit {args.lpf_limit}, uneven, least latency; spatial mapping given"
    cols = ["tool", "per layer, against accelsim", f"CPU time, min / median ({args.repeats} runs)",
            "CPU time / accelsim's (medians)", "layers equal", "largest relative difference",
            "ratio to accelsim: median (min – max)", "Spearman ρ"]
    table = [["accelsim (`simulate`, warm)", "", f"{ours.cpu_min * 1e3:.3f} / {ours.cpu_median * 1e3:.3f} ms", "1×",
              "", "", "", ""]]
    notes = []

    missing = _not_run("SCALE-Sim 3.0.0", args.scalesim_python, sc, "--scalesim-python")
    if missing:
        table.append(missing)
    else:
        cpu = [r["cpu_s"] for r in sc]
        a = agreement(sc[0]["compute"], ours_compute, spearmanr)
        same = all(r["compute"] == sc[0]["compute"] for r in sc)
        table.append([f"SCALE-Sim {sc[0]['version']} (`run_scale`, traces off)",
                      "compute cycles (Total − Stall) vs `compute_cycles`" + ("" if same else " (runs differ!)"),
                      _seconds(cpu, 1, "s", ".1f"), f"{statistics.median(cpu) / ours.cpu_median:,.0f}×",
                      *_agreement_cells(a)])

    missing = _not_run("ZigZag", args.zigzag_python, zz, "--zigzag-python")
    if missing:
        table.append(missing)
    else:
        cpu = [r["cpu_s"] for r in zz]
        z = zz[0]["layers"]
        latency, ideal_temporal = [rec["latency"] for rec in z], [rec["ideal_temporal"] for rec in z]
        same = all([rec["latency"] for rec in r["layers"]] == latency for r in zz)
        name = f"ZigZag {zz[0]['version']} (LOMA, lpf_limit {args.lpf_limit})"
        again = f"ZigZag {zz[0]['version']}, the same runs"
        table += [[name, "latency (`latency_total2`) vs `total_cycles`" + ("" if same else " (runs differ!)"),
                   _seconds(cpu, 1, "s", ".1f"), f"{statistics.median(cpu) / ours.cpu_median:,.0f}×",
                   *_agreement_cells(agreement(latency, ours_total, spearmanr))],
                  [again, "latency (`latency_total2`) vs `compute_cycles`", "", "",
                   *_agreement_cells(agreement(latency, ours_compute, spearmanr))],
                  [again, "ideal temporal cycles (its compute cycles) vs `compute_cycles`", "", "",
                   *_agreement_cells(agreement(ideal_temporal, ours_compute, spearmanr))]]
        notes = zigzag_notes(z, layers, hw)

    what = ("CPU time (process_time): accelsim `simulate(net, hw)` in this process, "
            f"{args.calls} calls per repeat; SCALE-Sim and ZigZag as their child processes report it, one "
            "process per run, imports and file reading/writing excluded")
    print(header(what, args.repeats))
    print(f"workload: {n} dense layers of ResNet-18 ({TOPOLOGY.relative_to(ROOT)}"
          f"{'' if topology == TOPOLOGY else f', the first {n}'}) on "
          f"{CONFIG.relative_to(ROOT)} ({hw.array.rows}x{hw.array.cols} {hw.array.dataflow}, "
          f"{hw.sram.ifmap_kb:g}/{hw.sram.filter_kb:g}/{hw.sram.ofmap_kb:g} KB SRAM, "
          f"{hw.dram.bandwidth_gb_per_s * 1e3 / hw.array.clock_mhz:g} bytes per cycle of DRAM); ZigZag search: {lpf}")
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    if notes:
        print()
        print("Where ZigZag's model differs from accelsim's (from the installed ZigZag's source):")
        print()
        for note in notes:
            print(f"- {note}")
    if args.per_layer:
        print_per_layer(layers, sc if sc and "error" not in sc[0] else None, zz[0]["layers"] if zz and "error"
                        not in zz[0] else None)
    return 0


def zigzag_notes(z: list, layers: list, hw) -> list:
    """One sentence per difference between ZigZag's model, as the run used it, and accelsim's."""
    first, first_rec = z[0], layers[0]
    rows_needed = first_rec["kernel"][0] * first_rec["kernel"][1] * first_rec["in_shape"][2]
    drain = max(rec["drain"] for rec in z)
    return [
        f"Spatial mapping: ZigZag unrolls only K over the {hw.array.cols} columns and C over the {hw.array.rows} "
        f"rows, so FX and FY stay temporal loops and {first['name']} (C = {first_rec['in_shape'][2]}) keeps "
        f"{first['spatial_utilization']:.1%} of the MACs busy ({first['spatial_mapping']}), where SCALE-Sim's "
        f"and accelsim's weight-stationary array folds Fh·Fw·C onto the rows ({first['name']}: {rows_needed} rows "
        f"in {-(-rows_needed // hw.array.rows)} folds).",
        "What a latency counts: ZigZag's `latency_total2` (cost_model.py, `calc_overall_latency`) is the product "
        "of the temporal loops plus the largest stall of any memory port, the data on-loading before and "
        f"off-loading after the layer, and one systolic drain per layer (up to {drain:g} cycles), whereas "
        "SCALE-Sim's and accelsim's compute cycles charge every weight fold its own fill and drain, and "
        "accelsim's total adds the stalls of its DMA walk.",
        "Memory hierarchy: ZigZag assigns each operand's loops bottom-up to its own levels (a one-weight and a "
        "one-partial-sum register per PE, that operand's SRAM, DRAM) and counts a level as double-buffered "
        "only when the operand fills at most half of it (`calc_double_buffer_flag`), whereas accelsim tiles "
        "output rows x channels into double-buffered SRAMs (half of each buffer per tile) and reloads an "
        "operand from DRAM whenever its tile changes.",
        "Memory ports: ZigZag takes a layer's stall as the largest over its ports, assuming they all work in "
        "parallel (`combine_data_transfer_rate_per_physical_port`), with the three operands sharing the one "
        "DRAM port, whereas accelsim moves every tile through one DMA queue, each load overlapping the "
        "previous tile's compute.",
        "Mapping search: ZigZag's LOMA tries loop orders per layer (here the fewest it allows) and keeps the "
        "one of least latency, whereas SCALE-Sim has one fixed weight-stationary order and accelsim fixes "
        "that order and picks its tiling by DRAM bytes, then by speed among a few row-tile sizes.",
        f"Data sizes: ZigZag moves partial sums at {PSUM_BITS} bits and final outputs at {WORD_BITS} "
        "(the precisions of its own ResNet-18 workload), whereas SCALE-Sim and accelsim count every value "
        "as one 1-byte word.",
    ]


def print_per_layer(layers: list, scalesim: list | None, zigzag: list | None) -> None:
    print()
    print("| layer | MACs | accelsim compute | accelsim total | SCALE-Sim compute | ZigZag latency | "
          "ZigZag ideal temporal |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, rec in enumerate(layers):
        sc = f"{scalesim[0]['compute'][i]:,.0f}" if scalesim else ""
        zl = f"{zigzag[i]['latency']:,.0f}" if zigzag else ""
        zt = f"{zigzag[i]['ideal_temporal']:,.0f}" if zigzag else ""
        print(f"| {rec['name']} | {rec['macs']:,} | {rec['compute_cycles']:,.0f} | {rec['total_cycles']:,.0f} | "
              f"{sc} | {zl} | {zt} |")


if __name__ == "__main__":
    sys.exit(main())
