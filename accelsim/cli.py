"""``accelsim`` command line: simulate, compare, list.

Every input error prints one line (``accelsim: error: ...``) and exits with status 2; files are
written only when asked for, atomically. When the reader of stdout goes away (``accelsim simulate |
head -1``) the command stops quietly with status 1: no traceback, and the output is incomplete.

Start-up stays cheap: this module imports only ``accelsim.errors`` and ``accelsim.console`` at the top,
and each command imports what it uses when it needs it, so ``--help``, ``list``, ``schema`` and every
argument or config error finish without importing numba, scipy, torch or matplotlib
(tests/test_startup.py checks it). On a terminal, a command that simulates prints one line on stderr
before the kernels compile on a cold Numba cache (:mod:`accelsim.engine.warmup`).

Both command lines print the same way (:mod:`accelsim.console`): ``--quiet`` drops progress bars and
informational notes but never results, a missing number is ``–`` with its reason below the table, and
an option's old name or use is accepted with one warning line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import __version__
from .console import AREA_UNKNOWN, Blanks, deprecate, progress, quiet_help
from ._jit import allow_small_commands, interpret_if_small
from .errors import AccelsimError, one_line, quote

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 1   # stdout's reader left early (``| head``): output is incomplete, so not 0


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2, e.g.
    ``codesign search: error: argument --workers: invalid int value: 'abc' (see codesign search --help)``.

    argparse prints the whole usage block before its message; here the message names the argument
    and what was expected, and points at ``--help`` (which still prints the full usage). Subparsers
    made with ``add_subparsers().add_parser`` are of the same class (argparse's default
    ``parser_class`` is the parent's type), so every command of both CLIs reports this way, and an
    argument a subcommand does not know is reported by that subcommand.
    """

    MAX_CHARS = 500   # a line quoting a huge argument value is cut here

    def error(self, message: str):
        text = " ".join(str(message).split())   # argparse messages can hold newlines (choices lists)
        head, tail = f"{self.prog}: error: ", f" (see {self.prog} --help)"
        if len(head) + len(text) + len(tail) > self.MAX_CHARS:
            text = text[:max(0, self.MAX_CHARS - len(head) - len(tail) - 3)] + "..."
        self.exit(EXIT_USAGE, head + text + tail + "\n")

    def defer_arguments(self, adder: str) -> None:
        """Add this (sub)parser's arguments only when it parses or prints its help: ``adder`` is
        ``"module:function"``, called with the parser. A command whose options are defined beside a
        heavy library module (``accelsim calibrate``) then costs nothing to ``accelsim --help``."""
        self._deferred = adder

    def _add_deferred(self) -> None:
        adder = getattr(self, "_deferred", None)
        if adder:
            import importlib
            self._deferred = None
            module, _, function = adder.partition(":")
            getattr(importlib.import_module(module), function)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._add_deferred()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self._add_deferred()
        return super().format_help()

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command_parser(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command_parser(self, parsed) -> argparse.ArgumentParser:
        """The subparser that ran for ``parsed`` (this parser when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, OneLineArgumentParser):
                    return chosen._command_parser(parsed)
        return self


def _load_network(args):
    from .workload import load_model, load_topology
    model = args.model
    if args.option and (args.topology or model.endswith(".onnx") or ":" in model):
        raise AccelsimError(f"--option {args.option[0]}: builder options apply to zoo models (--model NAME), "
                            "not to a topology, an ONNX file or a PyTorch factory")
    if args.topology:
        net = load_topology(args.topology, precision=args.precision or "int8")
    elif model.endswith(".onnx"):
        from .workload import from_onnx
        net = from_onnx(model)
    elif ":" in model:
        net = _from_factory(model, args.input_shape)
    else:
        from .workload.zoo import parse_option
        options = dict(parse_option(model, item) for item in args.option or [])
        net = load_model(model, **options)
    if args.precision:
        from . import precision as prec
        if args.precision not in prec.INDEX:
            raise AccelsimError(f"--precision {args.precision}: expected one of {', '.join(prec.NAMES)}")
        net = net.with_precision(args.precision)
    if getattr(args, "precision_policy", None):
        net = _apply_policy(net, args.precision_policy)
    return net


def _from_factory(spec: str, input_shape):
    """``package.module:factory`` -> the nn.Module the factory returns, traced with torch.fx."""
    import importlib
    module_name, _, attr = spec.partition(":")
    if not input_shape:
        raise AccelsimError(f"--model {spec}: a PyTorch factory needs --input-shape C H W")
    c, h, w = input_shape
    # the importer runs one forward pass on a zero tensor of this shape: keep it to a sane size
    if not (1 <= c <= 65536 and 1 <= h <= 8192 and 1 <= w <= 8192 and c * h * w <= 2 ** 30):
        raise AccelsimError(f"--input-shape {c} {h} {w}: expected C in [1, 65536], H and W in [1, 8192] and "
                            "C*H*W at most 2^30")
    from .extras import require
    require("torch", "torch", f"--model {spec}")
    from .workload import from_torch
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:   # ImportError, AttributeError, or whatever the module raises on import
        raise AccelsimError(f"--model {spec}: cannot import the factory ({type(exc).__name__}: {one_line(exc)})") \
            from None
    if not callable(factory):
        raise AccelsimError(f"--model {spec}: expected a function returning an nn.Module, got {quote(factory)}")
    try:
        module = factory()
    except Exception as exc:
        raise AccelsimError(f"--model {spec}: the factory failed ({type(exc).__name__}: {one_line(exc)})") from None
    return from_torch(module, tuple(input_shape), name=attr)


def _apply_policy(net, policy: str):
    """--precision-policy uniform:FMT | first_last[:HIGH[:LOW]] | FILE.yaml/.json (layer or glob -> format)."""
    from .workload import precision_policy as pp
    kind, _, rest = policy.partition(":")
    if kind == "uniform" and rest:
        return pp.uniform(net, rest)
    if kind == "first_last":
        parts = [p for p in rest.split(":") if p]
        return pp.first_last(net, *parts[:2])
    if policy.endswith((".yaml", ".yml", ".json")):
        return pp.from_map(net, policy)
    raise AccelsimError(f"--precision-policy {policy}: expected uniform:FMT, first_last[:HIGH[:LOW]] or a "
                        ".yaml/.json map of layer name -> format")


def _table_hidden(args) -> bool:
    """``--no-table``; or ``--quiet`` without it, which hid the table before ``--no-table`` existed and
    still does, with a deprecation note."""
    if args.quiet and not args.no_table:
        deprecate(args, f"{args.command} --quiet: hiding the table with --quiet alone is deprecated; add "
                        "--no-table (--quiet will only drop progress bars and notes)")
        return True
    return args.no_table


def cmd_simulate(args) -> int:
    from .config import load_hardware
    from .io import write_atomic
    if args.html:   # bokeh installed and the page's folder there, before any work
        from .html_report import check_page_path
        check_page_path("--html", args.html, "accelsim simulate --html")
    hw = load_hardware(args.hw)
    net = _load_network(args)
    interpret_if_small(len(net.layers))   # one network: plain Python beats loading numba (accelsim._jit)
    from .engine import simulate   # after the inputs are checked: an input error never loads numba
    from .engine.warmup import say_if_cold
    if not args.quiet:
        say_if_cold()
    report = simulate(net, hw)
    groups = None
    if args.group:
        from .engine.grouping import group_layers, grouped_table
        groups = group_layers(report, args.group)
    if not _table_hidden(args):
        if groups is None:
            print(report.table())
        else:
            print(f"{net.name} on {hw.name}, by {args.group}:")
            print(grouped_table(groups))
    if not args.quiet:
        if net.pruned_layers:
            print(f"{net.name}: pruned {net.pruned_layers} layers (dead, constant or duplicate; "
                  "as a deployment compiler removes them)")
    if args.json:
        if groups is None:
            write_atomic(args.json, report.to_json())
        else:
            import json
            data = json.loads(report.to_json())
            data["group_by"], data["groups"] = args.group, groups
            write_atomic(args.json, json.dumps(data, indent=1))
    if args.csv:
        write_atomic(args.csv, report.to_csv())
    if args.plot:
        from .plots import plot_report
        plot_report(report, args.plot)
    if args.html:
        from .html_report import write_report_page
        write_report_page(report, args.html)
    return 0


def cmd_compare(args) -> int:
    from .config import load_hardware
    net = _load_network(args)
    hws = [load_hardware(name) for name in args.hw]   # every config checked before the first simulation
    interpret_if_small(len(net.layers) * len(hws))
    from .engine import simulate
    from .engine.warmup import say_if_cold
    if not args.quiet:
        say_if_cold()
    rows = []
    for hw in progress(hws, args.quiet, desc="compare", unit="config"):
        r = simulate(net, hw)
        rows.append((hw.name, r))
    head = (f"{'hardware':<20}{'array':>9}{'df':>4}{'MHz':>6}{'latency ms':>12}{'cycles':>13}{'stall %':>9}"
            f"{'util':>7}{'energy mJ':>11}{'DRAM MiB':>10}{'area mm2':>10}{'budget':>8}")
    print(f"{net.name}: {net.macs / 1e6:,.1f} M MACs, {net.params / 1e6:.2f} M params")
    print(head)
    print("-" * len(head))
    blanks = Blanks()
    no_cycles = "no cycles simulated, so no stall share or utilisation"
    for name, r in rows:
        hw = r.hardware
        shape, dataflow = (f"{hw.array.rows}x{hw.array.cols}", hw.array.dataflow) if hw.kind == "systolic" else \
            ("roofline", "-")
        stall = 100 * r.stall_cycles / r.total_cycles if r.total_cycles else None
        print(f"{name[:19]:<20}{shape:>9}{dataflow:>4}"
              f"{hw.clock_mhz:>6.0f}{r.latency_ms:>12.4f}{r.total_cycles:>13,.0f}"
              f"{blanks.cell(stall, '>9.1f', no_cycles)}{blanks.cell(r.utilization, '>7.1%', no_cycles)}"
              f"{blanks.cell(r.energy_mj, '>11.4f')}{r.dram_bytes / 2**20:>10.2f}"
              f"{blanks.cell(hw.area_mm2, '>10.2f', AREA_UNKNOWN)}{'ok' if r.budget_ok else 'OVER':>8}")
    for line in blanks.notes():
        print(line)
    return 0


def cmd_list(args) -> int:
    from .config import available_hardware, load_hardware
    from .workload.zoo import MODELS
    print("hardware configs:")
    for name, path in available_hardware().items():
        try:
            hw = load_hardware(path)
            tops = ", ".join(f"{k} {v:.2f}" for k, v in hw.peak_tops.items())
            if hw.kind == "roofline":
                print(f"  {name:<22}roofline @ {hw.clock_mhz:g} MHz, cache {hw.roofline.cache_kb:g} KiB, "
                      f"DRAM {hw.dram.bandwidth_gb_per_s:g} GB/s, {hw.roofline.layer_overhead_us:g} us per layer, "
                      f"dense TOPS: {tops}")
                continue
            print(f"  {name:<22}{hw.array.rows}x{hw.array.cols} {hw.array.dataflow} @ {hw.array.clock_mhz:g} MHz, "
                  f"SRAM {hw.sram.total_kb:g} KiB, DRAM {hw.dram.bandwidth_gb_per_s:g} GB/s, TOPS: {tops}")
        except AccelsimError as exc:
            print(f"  {name:<22}INVALID: {exc}")
    print("models (accelsim simulate --model NAME [--option key=value ...]):")
    for name, fn in MODELS.items():
        doc = (fn.__doc__ or "").strip().splitlines()
        print(f"  {name:<24}{doc[0] if doc else ''}")
    return 0


# Config types whose schema ``accelsim schema NAME`` prints (codesign's own are under ``codesign schema``).
SCHEMAS = {"hardware": "accelsim.config:HARDWARE_SCHEMA", "scenario": "accelsim.system.scenario:SCENARIO_SCHEMA"}


def cmd_schema(args) -> int:
    from .schema import show
    print(show(args.name, SCHEMAS, args.markdown))
    return 0


def cmd_system(args) -> int:
    import json

    from . import system
    from .config import available_hardware, load_hardware
    from .io import write_atomic
    scenario = system.load_scenario(args.scenario)
    if args.policy or args.preemption is not None:
        sched = scenario.scheduler
        scenario = scenario.replace(scheduler=system.SchedulerSpec(
            args.policy or sched.policy, sched.preemption if args.preemption is None else args.preemption))
    if args.duration is not None:   # the scenario's own duration was checked when it was read
        from .system.scenario import check_load
        check_load(scenario, system.parse_duration(args.duration, "--duration"), f"--duration {args.duration}")
    if not 0.0 <= args.max_miss <= 1.0:
        raise AccelsimError(f"--max-miss {args.max_miss:g}: expected a fraction between 0 and 1")
    window = system.parse_duration(args.gantt_window, "--gantt-window") if args.gantt_window else None
    if args.sweep is not None:
        if args.hw:
            raise AccelsimError("give --hw (one config) or --sweep (several), not both")
        if args.trace or args.gantt:
            raise AccelsimError("--trace and --gantt describe one run; use them with --hw, not --sweep")
        names = args.sweep or list(available_hardware())
        from .engine.warmup import say_if_cold
        if not args.quiet:
            say_if_cold()
        rows = system.sweep(scenario, names, duration=args.duration, seed=args.seed, progress=not args.quiet)
        if not _table_hidden(args):
            print(system.sweep_table(rows, args.max_miss))
        if args.json:
            best = system.smallest_meeting(rows, args.max_miss)
            data = {"scenario": scenario.name, "max_miss": args.max_miss,
                    "smallest_meeting": best.hardware if best else None,
                    "rows": [{"hardware": r.hardware, "area_mm2": r.area_mm2, "error": r.error,
                              "meets": r.meets(args.max_miss), **(r.result.to_dict() if r.result else {})}
                             for r in rows]}
            write_atomic(args.json, json.dumps(data, indent=1))
        return 0
    hw = load_hardware(args.hw or "neural_engine")   # a config error before the engine loads
    from .engine.warmup import say_if_cold
    if not args.quiet:
        say_if_cold()
    # the DRAM bandwidth log only feeds the trace and the Gantt chart; a long run without them skips it
    result = system.simulate_system(scenario, hw, duration=args.duration, seed=args.seed,
                                    record=bool(args.trace or args.gantt), progress=False if args.quiet else None)
    if not _table_hidden(args):
        print(result.table())
    if args.json:
        write_atomic(args.json, result.to_json())
    if args.trace:
        write_atomic(args.trace, result.chrome_trace_json())
    if args.gantt:
        system.plot_gantt(result, args.gantt, window)
    return 0


def cmd_calibrate(args) -> int:
    from .calibration import run_command
    return run_command(args)


def cmd_models(args) -> int:
    from .extras import MissingExtraError, install_command
    from .workload.zoo import MODELS, model_info
    info = {}
    # every model is built for its figures (seconds in all): a bar on a terminal meanwhile
    for name in progress(list(MODELS), args.quiet, desc="building the zoo", unit="model"):
        try:
            info.update(model_info([name]))
        except MissingExtraError:   # a traced model without torch: listed without its figures
            pass
    print(f"{'model':<24}{'input (H,W,C)':>16}{'layers':>8}{'MACs (M)':>12}{'params (M)':>12}  description")
    blanks = Blanks()
    no_torch = f"a model traced from PyTorch; its figures need torch: {install_command('torch')}"
    for name, fn in MODELS.items():
        doc = (fn.__doc__ or "").strip().splitlines()
        if name not in info:
            cells = [blanks.cell(None, f">{width}", no_torch) for width in (16, 8, 12, 12)]
            print(f"{name:<24}{''.join(cells)}  {doc[0] if doc else ''}")
            continue
        i = info[name]
        shape = ",".join(map(str, i["input_shape"]))
        print(f"{name:<24}{shape:>16}{i['layers']:>8}{i['macs'] / 1e6:>12.1f}{i['params'] / 1e6:>12.3f}  "
              f"{doc[0] if doc else ''}")
    for line in blanks.notes():
        print(line)
    return 0


def cmd_warmup(args) -> int:
    import time

    from .engine.warmup import cache_folder, warmup

    def progress(label: str, seconds) -> None:
        if seconds is None:
            print(f"{label} ... ", end="", flush=True)
        else:
            print(f"{seconds:.1f} s", flush=True)

    start = time.perf_counter()
    warmup(progress)
    where = cache_folder()
    print(f"kernels ready in {time.perf_counter() - start:.1f} s; cached in {where}" if where else
          "the kernels run interpreted (ACCELSIM_JIT=0 or NUMBA_DISABLE_JIT=1): nothing to compile")
    return 0


# --quiet of the commands whose table it hid before --no-table existed
QUIET_HIDES_TABLE = "without --no-table it also hides the table, as it did before --no-table (deprecated)"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="accelsim", description="Cycle-approximate neural-engine simulator.")
    p.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def workload_args(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--model", default="mobilenet_v2",
                       help="zoo model name (default mobilenet_v2; see `accelsim models`), an .onnx file, or "
                            "package.module:factory returning a PyTorch nn.Module")
        g.add_argument("--topology", metavar="CSV", help="SCALE-Sim topology CSV instead of a zoo model")
        sp.add_argument("--option", action="append", metavar="KEY=VALUE",
                        help="model builder option, repeatable (e.g. width=0.75, resolution=160)")
        sp.add_argument("--precision", help="run every layer in this format (e.g. int8, int16, fp16)")
        sp.add_argument("--precision-policy", metavar="POLICY",
                        help="uniform:FMT, first_last[:HIGH[:LOW]], or a .yaml/.json map of layer name or glob "
                             "-> format")
        sp.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                        help="input shape for --model package.module:factory (a PyTorch nn.Module factory)")

    s = sub.add_parser("simulate", help="simulate one model on one hardware config",
                       description="Simulate a model on a hardware config; print per-layer table and totals.")
    s.add_argument("--hw", default="neural_engine",
                   help="hardware config name or path to .yaml / SCALE-Sim .cfg (default neural_engine)")
    workload_args(s)
    s.add_argument("--json", metavar="FILE", help="write per-layer records and totals as JSON")
    s.add_argument("--csv", metavar="FILE", help="write per-layer records as CSV")
    s.add_argument("--plot", metavar="FILE.png", help="write a latency breakdown and roofline plot")
    s.add_argument("--html", metavar="PAGE.html",
                   help="write a self-contained interactive page: per-layer latency and energy bars, per-stage "
                        "sums, a roofline with one roof per unit (array, vector, DRAM); needs bokeh (the "
                        "codesign extra)")
    s.add_argument("--group", choices=("block", "stage"),
                   help="print per-block or per-stage sums (block ids such as s3.b1 or features.3; the stage is "
                        "the part before the first '.') instead of the per-layer table; with --json, add them "
                        "as 'groups'")
    s.add_argument("--no-table", action="store_true", help="do not print the table (or the --group sums)")
    s.add_argument("--quiet", action="store_true", help=quiet_help(QUIET_HIDES_TABLE))
    s.set_defaults(func=cmd_simulate)

    c = sub.add_parser("compare", help="one model on several hardware configs, one row each")
    c.add_argument("--hw", nargs="+", required=True, help="hardware config names or paths")
    workload_args(c)
    c.add_argument("--quiet", action="store_true", help=quiet_help())
    c.set_defaults(func=cmd_compare)

    sy = sub.add_parser("system", help="several models sharing one engine: latency, deadlines, utilisation",
                        description="Run a scenario (streams of requests with arrivals, deadlines and priorities) "
                                    "on one hardware config and print per-stream throughput, latency percentiles, "
                                    "deadline misses and utilisation; or sweep it over several configs.")
    sy.add_argument("--scenario", required=True, metavar="FILE",
                    help="scenario YAML, or a name from experiments/scenarios/ (e.g. smart_display)")
    sy.add_argument("--hw", help="hardware config name or path (default neural_engine)")
    sy.add_argument("--sweep", nargs="*", metavar="HW",
                    help="run on each of these configs (none given: every shipped config), one row each, and "
                         "name the smallest (by area) on which every stream meets its deadlines")
    sy.add_argument("--max-miss", type=float, default=0.0, metavar="FRACTION",
                    help="with --sweep: a stream meets its deadlines if its miss rate is at most this (default 0)")
    sy.add_argument("--duration", help="simulated time with a unit, e.g. 10s or 500ms (default: the scenario's)")
    sy.add_argument("--seed", type=int, help="seed for arrivals (default: the scenario's)")
    sy.add_argument("--policy", choices=("fifo", "priority", "edf"), help="override the scenario's scheduler policy")
    sy.add_argument("--preemption", action=argparse.BooleanOptionalAction, default=None,
                    help="override the scenario's preemption at layer boundaries")
    sy.add_argument("--json", metavar="FILE", help="write per-stream and system statistics as JSON")
    sy.add_argument("--trace", metavar="FILE.json",
                    help="write a Chrome-trace / Perfetto timeline (engine, DRAM, host CPU, one track per stream)")
    sy.add_argument("--gantt", metavar="FILE.png", help="write a Gantt chart of the first --gantt-window")
    sy.add_argument("--gantt-window", metavar="TIME", help="time span the Gantt chart shows (default 500ms)")
    sy.add_argument("--no-table", action="store_true", help="do not print the table; write the results with --json")
    sy.add_argument("--quiet", action="store_true", help=quiet_help(QUIET_HIDES_TABLE))
    sy.set_defaults(func=cmd_system)

    ca = sub.add_parser("calibrate", help="fit a config's numbers to latencies measured on a device",
                        description="Fit numeric keys of a hardware config so its simulated latencies match a "
                                    "table of measured ones; report on the rows not used.")
    ca.defer_arguments("accelsim.calibration:add_arguments")   # the module imports numpy: only when asked
    ca.set_defaults(func=cmd_calibrate)

    md = sub.add_parser("models", help="list the model zoo with MACs, parameters and default input shape")
    md.add_argument("--quiet", action="store_true", help=quiet_help())
    md.set_defaults(func=cmd_models)

    ls = sub.add_parser("list", help="list hardware configs and models")
    ls.set_defaults(func=cmd_list)

    sc = sub.add_parser("schema", help="print the JSON Schema of a config file type (for editors and checks)",
                        description="Print the JSON Schema (draft 2020-12) every file of this type is checked "
                                    "against, or with --markdown its reference table.")
    sc.add_argument("name", choices=sorted(SCHEMAS), help="config type")
    sc.add_argument("--markdown", action="store_true", help="the reference table (key, unit, range, meaning)")
    sc.set_defaults(func=cmd_schema)

    wu = sub.add_parser("warmup", help="compile the simulator's Numba kernels once, after an install (optional)",
                        description="Compile, or load from Numba's cache, every kernel signature the engine uses, "
                                    "printing each group's seconds. Without it the first simulation compiles them "
                                    "(tens of seconds, said on stderr); later runs load them from the cache.")
    wu.set_defaults(func=cmd_warmup)
    return p


def run_cli(prog: str, parser, argv, run, interrupted) -> int:
    """The frame both command lines share: parse ``argv`` (a usage error is one line and SystemExit(2),
    ``--help`` SystemExit(0)), ``run(args)``; an AccelsimError is one line and status 2, Ctrl-C one
    line (``interrupted(exc)`` completes it) and 130, and a closed stdout (``| head -1``) status 1
    without a traceback: the rest of the output is dropped, files not yet written are not written.
    Deprecation notes the command left (:func:`accelsim.console.deprecate`) are one line each on
    stderr once it has run: an input error stays the only line."""
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit:   # --help, or a usage error: argparse has printed and exits
            sys.stdout.flush()
            raise
        try:
            with warnings.catch_warnings():   # a warning is one line too, not a source excerpt
                warnings.showwarning = lambda message, *_a, **_k: print(f"{prog}: warning: {message}",
                                                                         file=sys.stderr)
                status = run(args)
            for note in getattr(args, "deprecations", ()):
                print(f"{prog}: warning: {note}", file=sys.stderr)
            return status
        except AccelsimError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as exc:
            print(f"{prog}: interrupted{interrupted(exc)}", file=sys.stderr)
            return 130
        finally:
            sys.stdout.flush()   # a closed pipe shows up here when the output fit in the buffer
    except BrokenPipeError:
        drop_stdout()
        return EXIT_BROKEN_PIPE


def main(argv=None) -> int:
    """Run one command; returns the exit status: 0 done, 2 bad input (one line on stderr), 130 interrupted,
    and 1 when the reader of stdout went away (``accelsim simulate | head -1``; see :func:`run_cli`)."""
    def interrupted(exc) -> str:   # Ctrl-C: saying how far a system run got
        detail = one_line(exc)
        return f": {detail}" if detail else ""

    if argv is None:   # the program itself (not a caller's main([...])): small commands may skip numba
        allow_small_commands()
    return run_cli("accelsim", build_parser(), argv, lambda args: args.func(args), interrupted)


def drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):   # stdout is not a real file (tests replace it)
        sys.stdout = open(os.devnull, "w")


if __name__ == "__main__":
    sys.exit(main())
