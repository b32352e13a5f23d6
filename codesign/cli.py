"""``codesign`` command line: dataset, train-estimator, validate-estimator, search, show, sweep, supernet.

Every input error prints one line (``codesign: error: ...``) and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from accelsim.cli import OneLineArgumentParser, run_cli
from accelsim.console import Blanks, RenamedOption, Steps, quiet_help, show_progress
from accelsim.errors import AccelsimError

from . import __version__

# Commands that always run torch (the codesign extra); search and sweep need it, optuna or ray
# depending on the run config (RunConfig.require_extras), dataset needs pyarrow for Parquet tables.
NEEDS_TORCH = ("train-estimator", "validate-estimator", "supernet")


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {v}")
    return v


def _fail(text: str):
    from .errors import CodesignError
    raise CodesignError(text)


def _short(v) -> str:
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _at_least(arg: str, value, low: int = 1) -> None:
    """A whole-number option checked in the command (not by argparse) so the error is one line."""
    if value is not None and value < low:
        _fail(f"{arg}: expected an integer >= {low}, got {value}")


def _check_out_file(arg: str, path) -> None:
    """A file to write at the end (:func:`accelsim.io.check_out_file`), checked before any work."""
    from accelsim.errors import AccelsimError
    from accelsim.io import check_out_file
    try:
        check_out_file(arg, path)
    except AccelsimError as exc:
        _fail(str(exc))


def _check_out_dir(arg: str, path) -> None:
    """A folder to write into: created (with its parents) when missing, so it must be a folder if it
    exists, and the nearest existing folder above it must be writable. Checked before any work."""
    import os
    p = Path(path)
    if p.exists() and not p.is_dir():
        _fail(f"{arg}: expected a folder, got an existing file: {_short(path)}")
    existing = p
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _fail(f"{arg}: cannot create {_short(path)}: {_short(existing)} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        _fail(f"{arg}: cannot write in {_short(existing)} (for {_short(path)}): not writable")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="codesign", description="Network/accelerator co-design on top of accelsim.")
    p.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = sub.add_parser("dataset", help="simulate sampled operators/blocks/networks x hardware configs into records",
                       description="Sample operators, blocks and networks x hardware configs, run the engine, and "
                                   "write records in shards (resumable; a repeated request is a cache hit). Configs "
                                   "vary clock, DRAM bandwidth and latency, SRAM sizes, array, vector unit, formats, "
                                   "placement and alignment around --hw, over ranges that hold every shipped config.")
    d.add_argument("--out", required=True, help="dataset folder (created; holds manifest.json and shards/)")
    d.add_argument("--operators", type=_positive, default=20000, help="single operators, each on a fresh config (20000)")
    d.add_argument("--blocks", type=_positive, default=5000, help="IBN / fused-IBN / residual / SE blocks (5000)")
    d.add_argument("--networks", type=_positive, default=500, help="networks from the search space (500)")
    d.add_argument("--zoo", nargs="*", default=[], metavar="MODEL",
                   help="accelsim zoo models to include, each on every pool config (e.g. mobilenet_v2 resnet18)")
    d.add_argument("--hardware", type=_positive, default=64,
                   help="hardware pool size; config 0 is the base, config i depends only on the hardware seed (64)")
    d.add_argument("--hardware-seed", type=int, default=0, help="seed of the hardware pool (0)")
    d.add_argument("--hw-per-network", type=_positive, default=4, help="pool configs per network, config 0 included (4)")
    d.add_argument("--hw", default="neural_engine", help="base hardware config whose clock, DRAM, SRAM, array, vector unit, formats, placement "
                        "and alignment the dataset varies over ranges holding every shipped config (neural_engine)")
    d.add_argument("--base", dest="hw", action=RenamedOption, new="--hw")   # the name before --hw
    d.add_argument("--seed", type=int, default=0, help="seed of the workload samples (0)")
    d.add_argument("--format", choices=("parquet", "npz"), default="parquet", help="table format (parquet)")
    d.add_argument("--runner", choices=("serial", "processes", "ray"), default="serial",
                   help="where shards run: this process, local processes, or Ray (if installed)")
    d.add_argument("--workers", type=int, default=None, help="processes / Ray CPUs, >= 1 (default: all cores)")
    d.add_argument("--adaptive-from", default="", metavar="MODEL",
                   help="estimator checkpoint: keep the operators/blocks it predicts worst")
    d.add_argument("--oversample", type=int, default=4, help="adaptive: candidates simulated per kept sample (4)")
    d.add_argument("--force-new", action="store_true",
                   help="start afresh: move a folder holding an earlier run aside to DIR.old-<time> "
                        "(nothing is deleted)")
    d.add_argument("--quiet", action="store_true", help=quiet_help())

    t = sub.add_parser("train-estimator", help="train the estimator on dataset records or on a measured CSV",
                       description="Train per-operator-family MLPs on simulator records (--data) or on measured "
                                   "latencies (--measured CSV --target COLUMN).")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", metavar="DIR", help="dataset folder(s) made by `codesign dataset`")
    src.add_argument("--measured", metavar="CSV",
                     help="measured latencies: per network (a 'network'/'model' zoo column, 'onnx', 'genome', "
                          "'arch_str' or FBNet 'blocks' column), the FBNet operator LUT, or a per-operator table; "
                          "blank latency cells are skipped and counted")
    t.add_argument("--out", required=True,
                   help="checkpoint file to write (.pt); its folder must exist and be writable (checked first)")
    t.add_argument("--target", help="--measured: the latency column to fit (e.g. pixel3, raspi4_latency_ms)")
    t.add_argument("--fbnet-dataset", default="cifar100", choices=("cifar100", "ImageNet"),
                   help="--measured FBNet LUT: which half of the table (cifar100)")
    t.add_argument("--train-archs", default="0.8", metavar="N|SHARE",
                   help="--measured per-network tables: rows to train on, a count (>= 2) or a share of the usable "
                        "rows (0.8); the rest are held out to test. The model is chosen by k-fold "
                        "cross-validation on the training rows")
    t.add_argument("--folds", type=int, default=5, help="--measured per-network tables: cross-validation folds (5)")
    t.add_argument("--mlp", action="store_true",
                   help="--measured per-network tables: also train the per-family MLPs end to end on the "
                        "measured sums (for networks whose layers the table does not resolve)")
    t.add_argument("--heldout-ops", type=float, default=0.3,
                   help="--measured per-operator tables: share of distinct operators kept out of training (0.3)")
    t.add_argument("--epochs", type=int, default=40, help="training epochs per family, >= 1 (40)")
    t.add_argument("--members", type=int, default=1,
                   help="--data: ensemble members, each trained with the next seed; predictions are their "
                        "geometric mean and a network they disagree on by over 5 %% is flagged (1)")
    t.add_argument("--hidden", type=int, default=None, help="MLP width (128; measured: 32)")
    t.add_argument("--depth", type=int, default=None, help="MLP hidden layers (3; measured: 2)")
    t.add_argument("--max-rows", type=int, default=400_000, help="layer rows per family, subsampled above (400000)")
    t.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--report", metavar="DIR", help="--measured: write metrics.json and report.md here (created if missing)")
    t.add_argument("--quiet", action="store_true", help=quiet_help("no training log lines"))

    v = sub.add_parser("validate-estimator", help="held-out accuracy of an estimator, with baselines, as a report",
                       description="MAPE, RMSE, within ±5/±10 %%, Spearman/Kendall on held-out networks and "
                                   "hardware, beside FLOPs and roofline baselines; writes report.md and plots.")
    v.add_argument("--model", required=True, help="estimator checkpoint")
    v.add_argument("--data", nargs="+", required=True, metavar="DIR",
                   help="dataset folder(s) with networks the model never saw (another --seed)")
    v.add_argument("--report", required=True, metavar="DIR", help="folder for report.md, metrics.json, plots (created if missing)")
    v.add_argument("--quiet", action="store_true", help=quiet_help())

    s = sub.add_parser("search", help="search networks, hardware or both from a run config (resumable)",
                       description="Run the search a YAML run config describes (space, objectives, constraints, "
                                   "algorithm, budget, seed, runner). Every evaluation is journaled; the same "
                                   "command on the same --out resumes. Writes pareto.csv/json, hypervolume.csv, "
                                   "pareto.png and summary.json.")
    s.add_argument("--config", required=True, help="run config (.yaml); see examples/search/")
    s.add_argument("--out", help="run folder (default: runs/<name>)")
    s.add_argument("--budget", type=_positive, help="override the config's budget (a larger one extends a run)")
    s.add_argument("--seed", type=int, help="override the config's seed")
    s.add_argument("--runner", choices=("serial", "processes", "ray"), help="override the config's runner")
    s.add_argument("--workers", type=int, help="processes / Ray CPUs for the runner (>= 1; default: all cores)")
    s.add_argument("--address", help="Ray cluster address (auto, ray://host:port); default: start a local one")
    s.add_argument("--threads", type=int,
                   help="CPU threads of torch scoring (proxies, training, estimator; default 1) and of the engine "
                        "in this process; overrides the config's threads. A torch-scored run resumes only with "
                        "the thread count it started with (it can change scores)")
    s.add_argument("--force-new", action="store_true",
                   help="start afresh: move a folder holding an earlier run aside to DIR.old-<time> "
                        "(nothing is deleted)")
    s.add_argument("--quiet", action="store_true", help=quiet_help())

    sh = sub.add_parser("show", help="summarise a run folder (finished or not): front, hypervolume, progress")
    sh.add_argument("run", help="run folder written by `codesign search`")
    sh.add_argument("--top", type=_positive, default=15, help="front rows to print (15)")
    sh.add_argument("--html", metavar="PAGE.html",
                    help="also write the run explorer: one self-contained page with every evaluation, the front, "
                         "hover details, per-stage breakdowns on click and the hypervolume trace (needs bokeh: "
                         "the codesign extra); its folder must exist")
    sh.add_argument("--compare", nargs="+", metavar="RUN", default=[],
                    help="with --html: overlay the fronts of these runs (same objectives), e.g. a search of the "
                         "network alone on the fixed hardware beside a joint search")

    w = sub.add_parser("sweep", help="one search per hardware config or constraint value, then the winners table",
                       description="A sweep file names a run config (run:), the swept setting (sweep: {key: "
                                   "hardware | constraints.METRIC.max, values: [...]}) and how to pick each run's "
                                   "winner (pick: {max: accuracy}). Writes one run folder per value and "
                                   "winners.csv / winners.md.")
    w.add_argument("--config", required=True, help="sweep file (.yaml)")
    w.add_argument("--out", help="sweep folder (default: runs/<sweep file name>)")
    w.add_argument("--force-new", action="store_true",
                   help="start each run afresh: move a run folder holding an earlier run aside to "
                        "DIR.old-<time> (nothing is deleted)")
    w.add_argument("--quiet", action="store_true", help=quiet_help())

    n = sub.add_parser("supernet", help="ProxylessNAS-style single-shot search with the target's latency as a loss",
                       description="Train a supernet of IBN / fused-IBN candidates (kernel x expansion, skip) with "
                                   "path binarisation and a differentiable expected-latency term from accelsim (or "
                                   "an estimator) on --hw; derive the network, simulate it, write result.json. "
                                   "Resumes from --out/checkpoint.pt when killed. Uses CUDA when available. The "
                                   "defaults are those of experiments/proxyless_kernels.py.")
    n.add_argument("--config", help="supernet config file (.yaml): SupernetConfig keys (README); the options "
                                    "below override its values when given")
    n.add_argument("--hw", help="target hardware config (neural_engine)")
    n.add_argument("--data", default="synthetic",
                   help="an .npz with x (N, 3, R, R) and y (N,), or 'synthetic' (oriented gratings) (synthetic)")
    n.add_argument("--samples", type=_positive, default=3200, help="synthetic: images (3200)")
    n.add_argument("--noise", type=float, default=1.0,
                   help="synthetic: standard deviation of the images' Gaussian noise (1.0)")
    n.add_argument("--resolution", type=_positive, help="input resolution R (32)")
    n.add_argument("--steps", type=_positive, help=f"weight steps ({_SUPERNET_DEFAULTS['steps']})")
    n.add_argument("--warmup", type=_positive,
                   help="weight steps before architecture steps (half of the steps)")
    n.add_argument("--latency-weight", type=float,
                   help=f"lambda of CE + lambda (E[lat] - T) / T ({_SUPERNET_DEFAULTS['latency_weight']})")
    n.add_argument("--arch-lr", type=float,
                   help=f"Adam learning rate of the architecture parameters ({_SUPERNET_DEFAULTS['arch_lr']})")
    n.add_argument("--estimator", help="take block latencies from this estimator checkpoint instead of the engine")
    n.add_argument("--device", help="auto (CUDA when available), cpu, cuda, cuda:1 ... (auto)")
    n.add_argument("--seed", type=int, help="seed of the weights, data split, batches and synthetic data (0)")
    n.add_argument("--threads", type=int, default=1,
                   help="CPU threads of torch (intra-op), pinned for the run (1: these small convolutions gain "
                        "little from more, and a busy machine makes them slower). On a CPU a checkpoint resumes "
                        "only with the thread count it started with (it can change the last bits of every step)")
    n.add_argument("--out", required=True, help="folder for result.json and checkpoint.pt")
    n.add_argument("--force-new", action="store_true",
                   help="start afresh: move a folder holding an earlier run aside to DIR.old-<time> "
                        "(nothing is deleted)")
    n.add_argument("--quiet", action="store_true", help=quiet_help("no training log lines"))

    gn = sub.add_parser("genome", help="write a zoo model, or a design of a run's front, as a network genome file",
                        description="Print (or write with --out) a network genome as JSON: a zoo model's own stage "
                                    "list, or a design a search evaluated (--run DIR --evaluation N). A genome file "
                                    "is a baseline of space.network: {type: from_model, model: FILE.json}.")
    gn.add_argument("model", nargs="?", help="zoo model name (mobilenet_v2, ssdlite_mobilenet_v2, ...)")
    gn.add_argument("--resolution", type=_positive, help="input resolution (default: the model's)")
    gn.add_argument("--num-classes", type=_positive, help="classes (default: the model's)")
    gn.add_argument("--output-stride", type=int, choices=(8, 16, 32), help="a segmenter's output stride")
    gn.add_argument("--run", help="a run folder of a network search (type mobile or from_model)")
    gn.add_argument("--evaluation", type=int, help="with --run: the design's evaluation number (pareto.csv)")
    gn.add_argument("--out", help="genome file to write (.json); default: stdout")

    m = sub.add_parser("monotonicity", help="latency rank correlation across devices, and proxy-front reuse",
                       description="Spearman and Kendall rank correlation of every device pair's latencies in a "
                                   "table (one row per architecture, one ms column per device; a pair uses the "
                                   "rows both devices have, blank cells are left out) and, with --accuracy, how "
                                   "much of each target device's true Pareto hypervolume (min latency, max "
                                   "accuracy) the front found on each proxy device reaches there (reference: the "
                                   "target front's nadir + 10 % of its range). Writes spearman.csv, pairs.csv, "
                                   "spearman.png, front_reuse.csv and summary.json into --out.")
    m.add_argument("table", metavar="TABLE.csv", help="latency table: an architecture column and one latency "
                                                     "column (ms) per device; arch_index is not a device")
    m.add_argument("--out", required=True, help="folder for the outputs (created if missing)")
    m.add_argument("--accuracy", metavar="SOURCE",
                   help="accuracy per architecture for front reuse: nb201[:DATASET] (the packaged NAS-Bench-201 "
                        "table: cifar10, cifar100, imagenet16_120; the architectures must be NB201 arch strings), "
                        "a column of TABLE.csv (then not a device), or FILE.csv:COLUMN (joined on the "
                        "architecture column); a blank accuracy leaves that row out of front reuse")
    m.add_argument("--arch-column", metavar="NAME",
                   help="the architecture column (default: the first of arch_str, arch, architecture, network, "
                        "model, genome, blocks, onnx)")
    m.add_argument("--devices", nargs="+", metavar="NAME",
                   help="the device columns to compare, in this order (default: every other column)")
    m.add_argument("--min-shared", type=int, default=10, metavar="N",
                   help="rows a device pair must both have, >= 3; fewer is an error (10)")

    sc = sub.add_parser("schema", help="print the JSON Schema of a codesign config file type (for editors and checks)",
                        description="Print the JSON Schema (draft 2020-12) every file of this type is checked "
                                    "against, or with --markdown its reference table. The hardware and scenario "
                                    "schemas are under 'accelsim schema'.")
    sc.add_argument("name", choices=sorted(SCHEMAS), help="config type")
    sc.add_argument("--markdown", action="store_true", help="the reference table (key, unit, range, meaning)")
    return p


# Config types whose schema ``codesign schema NAME`` prints.
SCHEMAS = {"run": "codesign.search.runconfig:RUN_CONFIG_SCHEMA", "sweep": "codesign.search.runs:SWEEP_SCHEMA",
           "supernet": "codesign.supernet.config:SUPERNET_SCHEMA",
           "network-space": "codesign.spaces.space:NETWORK_SPACE_SCHEMA",
           "model-space": "codesign.spaces.model_space:MODEL_SPACE_SCHEMA",
           "hardware-space": "codesign.spaces.space:HARDWARE_SPACE_SCHEMA"}


def _genome(args) -> int:
    from accelsim.io import write_atomic

    from .errors import CodesignError
    if (args.model is None) == (args.run is None):
        raise CodesignError("genome: expected a zoo model name or --run DIR --evaluation N (one of the two)")
    if args.run is not None:
        from .search.runs import design_genome
        if args.evaluation is None:
            raise CodesignError("genome: --run needs --evaluation N (a row of the run's pareto.csv)")
        genome = design_genome(args.run, args.evaluation)
    else:
        from .spaces.zoo_genomes import zoo_genome
        genome = zoo_genome(args.model, resolution=args.resolution, num_classes=args.num_classes,
                            output_stride=args.output_stride)
    text = json.dumps(genome.to_dict(), indent=1) + "\n"
    if args.out:
        write_atomic(Path(args.out), text)
    else:
        print(text, end="")
    return 0


def _monotonicity(args) -> int:
    _at_least("--min-shared", args.min_shared, 3)
    _check_out_dir("--out", args.out)
    from . import monotonicity as M
    table, accuracy, accuracy_source = M.load_inputs(args.table, arch_column=args.arch_column, devices=args.devices,
                                                     accuracy=args.accuracy)
    rc = M.rank_correlations(table, min_shared=args.min_shared)
    fr = M.front_reuse(table, accuracy, min_shared=args.min_shared) if accuracy is not None else None
    paths, s = M.write_outputs(args.out, table, rc, fr, accuracy_source, args.min_shared)
    print(M.describe(s))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _schema(args) -> int:
    from accelsim.schema import show
    print(show(args.name, SCHEMAS, args.markdown))
    return 0


def _search(args) -> int:
    _at_least("--workers", args.workers)   # before the imports below, which load the engine
    from .search.runconfig import load_run_config
    from .search.runs import describe, execute
    overrides = {}
    if args.budget is not None:
        overrides["budget"] = args.budget
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.threads is not None:
        from .search.runconfig import MAX_THREADS
        if not 1 <= args.threads <= MAX_THREADS:
            _fail(f"--threads: expected an integer in [1, {MAX_THREADS}], got {args.threads}")
        overrides["threads"] = args.threads
    runner = {k: v for k, v in (("name", args.runner), ("workers", args.workers), ("address", args.address))
              if v is not None}
    cfg = load_run_config(args.config, overrides, runner)
    out = Path(args.out) if args.out else Path("runs") / cfg.name
    with _numba_threads(cfg.threads):
        run = execute(cfg, out, progress=show_progress(args.quiet), force_new=args.force_new)
    print(describe(run, out, top=10))
    return 0


@contextlib.contextmanager
def _numba_threads(threads):
    """Pin numba's thread count (the engine's kernels in this process) to ``threads``, at most the
    count numba started with; None leaves it. Restored after, for callers that run several commands
    in one process. Torch's count is pinned where torch scores (``codesign.accuracy.torch_threads``),
    so it holds in worker processes too."""
    if threads is None:
        yield
        return
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _show(args) -> int:
    from .search.runs import show
    if args.compare and not args.html:
        _fail("--compare: overlays runs on the explorer page; give --html PAGE.html too")
    runs = None
    if args.html:   # every input checked before any work
        from .search.explorer import check_inputs
        runs = check_inputs(args.run, args.compare, args.html)
    print(show(args.run, top=args.top))
    if runs is not None:
        from .search.explorer import write_runs_page
        info = write_runs_page(runs, args.html, progress=show_progress(False))
        print(f"{args.html}: {info['points']} evaluations, {info['front']} on the front, per-stage breakdowns of "
              f"{'every evaluation' if info['breakdowns'] == 'all' else 'the fronts'}; {info['bytes'] / 1e6:.2f} MB")
    return 0


def _sweep(args) -> int:
    from .search.runs import sweep
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    sweep(args.config, out, progress=show_progress(args.quiet), force_new=args.force_new)
    print((out / "winners.md").read_text(), end="")
    return 0


def _dataset(args) -> int:
    _at_least("--workers", args.workers)   # before the imports below, which load the engine
    _at_least("--oversample", args.oversample)
    _check_out_dir("--out", args.out)
    from .estimator.dataset import DatasetRequest, _default_network_spaces, generate
    from .spaces.space import DatasetHardwareSpace
    req = DatasetRequest(seed=args.seed, operators=args.operators, blocks=args.blocks, networks=args.networks,
                         zoo=tuple(args.zoo), hardware=args.hardware, hardware_seed=args.hardware_seed,
                         hw_per_network=args.hw_per_network, network_spaces=_default_network_spaces(),
                         hardware_space=DatasetHardwareSpace(base=args.hw), format=args.format,
                         adaptive_model=args.adaptive_from, adaptive_oversample=args.oversample)
    r = generate(req, args.out, runner=args.runner, workers=args.workers, progress=show_progress(args.quiet),
                 force_new=args.force_new)
    if r.moved_aside is not None:
        print(f"{args.out}: the old dataset folder was moved aside to {r.moved_aside}")
    if r.cached:
        print(f"{args.out}: cache hit (request {r.content_hash}): {r.pairs:,} records, {r.layers:,} layer rows; "
              "nothing simulated")
    else:
        note = f", {r.skipped_shards} shards resumed from disk" if r.skipped_shards else ""
        print(f"{args.out}: {r.pairs:,} records ({r.layers:,} layer rows) in {r.seconds:.1f} s "
              f"({r.computed_shards} shards simulated{note}); request {r.content_hash}")
    return 0


def _train(args) -> int:
    from .estimator.model import TrainConfig
    _at_least("--epochs", args.epochs)
    _at_least("--members", args.members)
    _at_least("--threads", args.threads)
    _at_least("--max-rows", args.max_rows)
    _at_least("--hidden", args.hidden)
    _at_least("--depth", args.depth)
    _at_least("--folds", args.folds, 2)
    if not 0 <= args.heldout_ops < 1:
        _fail(f"--heldout-ops: expected a share in [0, 1), got {args.heldout_ops}")
    _check_out_file("--out", args.out)
    if args.report:
        _check_out_dir("--report", args.report)
    if args.data:
        from .estimator.dataset import load_dataset
        from .estimator.model import train_estimator
        cfg = TrainConfig(hidden=args.hidden or 128, depth=args.depth or 3, epochs=args.epochs,
                          max_rows_per_family=args.max_rows, threads=args.threads, seed=args.seed)
        ds = load_dataset(args.data)
        est = train_estimator(ds, cfg, progress=show_progress(args.quiet), log=None if args.quiet else print,
                              members=args.members)
        est.save(args.out)
        print(f"{args.out}: {len(est.families)} family models, {est.metadata['layer_rows']:,} layer rows, "
              f"{est.metadata['seconds']:.0f} s")
        return 0
    from .estimator import measured as M
    if not args.target:
        raise AccelsimError("train-estimator --measured: --target COLUMN is required (the latency column to fit)")
    base = M.MEASURED_CONFIG
    cfg = TrainConfig(hidden=args.hidden or base.hidden, depth=args.depth or base.depth,
                      weight_decay=base.weight_decay, threads=args.threads, seed=args.seed)
    fmt = M.detect_format(args.measured)
    if fmt not in ("fbnet-lut", "ops"):   # per network: table, cells, networks and split all checked first
        train = M.parse_share_or_count(args.train_archs)
        r = M.evaluate_networks(args.measured, args.target, train=train, seed=args.seed, cfg=cfg, folds=args.folds,
                                mlp=args.mlp)
        blank = f"; {r.extra['blank_rows']:,} rows with a blank {args.target!r} cell skipped" \
            if r.extra["blank_rows"] else ""
        what = (f"{r.extra['test_archs']:,} held-out networks ({fmt} table, trained on {r.extra['train_archs']:,}"
                f"{blank}; model: {r.extra['prior']}, layer correction {r.extra['layer_correction']})")
    elif fmt == "fbnet-lut":
        r = M.evaluate_fbnet(args.measured, args.target, dataset=args.fbnet_dataset, heldout_ops=args.heldout_ops,
                             seed=args.seed, cfg=cfg)
        what = (f"{r.extra['archs']:,} random FBNet architectures ({args.fbnet_dataset}; "
                f"{r.extra['unseen_op_share_pct']:.0f} % of their blocks never measured for training)")
    else:
        r = M.evaluate_ops(args.measured, args.target, heldout=args.heldout_ops, seed=args.seed, cfg=cfg)
        what = f"{r.extra['test_ops']:,} held-out operators"
    r.estimator.metadata["test_metrics"] = r.test
    r.estimator.metadata["baseline_metrics"] = r.baseline
    r.estimator.save(args.out)
    blanks = Blanks()
    line = (f"{args.target} on {what}: within ±10 % {r.test['within_10_pct']:.1f} %, MAPE {r.test['mape_pct']:.2f} %, "
            f"Spearman {blanks.cell(r.test['spearman'], '.4f', _NO_SPEARMAN)}, Kendall "
            f"{blanks.cell(r.test['kendall'], '.4f', _NO_KENDALL)} "
            f"(MACs x constant: within ±10 % {r.baseline['within_10_pct']:.1f} %, MAPE {r.baseline['mape_pct']:.2f} %, "
            f"Spearman {blanks.cell(r.baseline['spearman'], '.4f', _NO_SPEARMAN)})")
    line = "\n".join([line] + blanks.notes())
    print(line)
    if args.report:
        from accelsim.io import write_atomic
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "metrics.json", json.dumps({"target": args.target, "format": fmt, "estimator": r.test,
                                                       "macs_baseline": r.baseline, "extra": r.extra}, indent=1))
        write_atomic(out / "report.md", f"# Estimator from measurements: {args.measured}\n\n{line}\n")
    return 0


def _validate(args) -> int:
    from .estimator.dataset import load_dataset
    from .estimator.model import Estimator
    from .estimator.validate import write_report
    _check_out_dir("--report", args.report)
    with Steps(args.quiet, "validate-estimator", 3) as steps:
        steps.start("loading the estimator")
        est = Estimator.load(args.model)
        steps.start("loading the data")
        ds = load_dataset(args.data)
        steps.start(f"predicting {ds.n_pairs:,} pairs, writing the report")
        summary = write_report(est, args.model, ds, args.report)
    blanks = Blanks()
    no_pairs = "no pair of the split has a positive, finite simulated latency"
    for name, r in summary.items():
        m, macs = r["latency"], r["baselines"]["macs"]
        print(f"{name}: {r['pairs']:,} pairs, MAPE {blanks.cell(m.get('mape_pct'), '.2f', no_pairs)} %, within ±5 % "
              f"{blanks.cell(m.get('within_5_pct'), '.1f', no_pairs)} %, ±10 % "
              f"{blanks.cell(m.get('within_10_pct'), '.1f', no_pairs)} %, Spearman "
              f"{blanks.cell(m.get('spearman'), '.4f', _NO_SPEARMAN)} (per config "
              f"{blanks.cell(m.get('spearman_per_hw'), '.4f', _no_spearman_per_hw(m))}); MACs baseline Spearman "
              f"per config {blanks.cell(macs.get('spearman_per_hw'), '.4f', _no_spearman_per_hw(macs))}")
    for line in blanks.notes():
        print(line)
    print(f"report: {Path(args.report) / 'report.md'}")
    return 0


_NO_SPEARMAN = "Spearman undefined: fewer than 2 pairs, or all latencies equal"
_NO_KENDALL = "Kendall undefined: fewer than 2 pairs, or all latencies equal"


def _no_spearman_per_hw(m: dict) -> str:
    """Why a split's Spearman per config is missing (:func:`codesign.estimator.validate.metrics`)."""
    if not m.get("per_hw_configs"):
        return "Spearman per config undefined: no hardware config holds 5 or more of the split's pairs"
    return "Spearman per config undefined: on every config with 5 or more pairs, all latencies are equal"


# codesign supernet's defaults where they differ from SupernetConfig's: those of the documented experiment,
# experiments/proxyless_kernels.py (a config file's keys and the options override them; warmup_steps, when
# neither gives it, is half of the steps, as there); and the SupernetConfig key each option sets.
_SUPERNET_DEFAULTS = {"steps": 400, "latency_weight": 2.0, "arch_lr": 0.05}
_SUPERNET_OPTIONS = {"hw": "hardware", "resolution": "resolution", "steps": "steps", "warmup": "warmup_steps",
                     "latency_weight": "latency_weight", "arch_lr": "arch_lr", "seed": "seed", "device": "device"}


def _supernet_config(args):
    """The run's SupernetConfig: the dataclass's defaults, then the command's, then the --config file's
    keys (checked against SUPERNET_SCHEMA, errors naming the file), then the options given; a warm-up
    given by neither is half of the steps."""
    from accelsim import schema
    from accelsim.io import read_yaml

    from .errors import CodesignError
    from .supernet.config import SUPERNET_SCHEMA, SupernetConfig
    values = dict(_SUPERNET_DEFAULTS)
    if args.config is not None:
        values.update(schema.check(read_yaml(Path(args.config)), SUPERNET_SCHEMA, args.config, CodesignError))
        if values.get("latency_source") == "estimator" and not args.estimator:
            _fail(f"{args.config}: latency_source: estimator needs --estimator FILE")
    values.update({key: getattr(args, opt) for opt, key in _SUPERNET_OPTIONS.items()
                   if getattr(args, opt) is not None})
    if values.get("warmup_steps") is None and isinstance(values.get("steps"), int):
        values["warmup_steps"] = values["steps"] // 2
    if args.estimator:
        values["latency_source"] = "estimator"
    return SupernetConfig(**values)


def _supernet(args) -> int:
    from . import supernet as S
    from .search.runconfig import MAX_THREADS
    out = Path(args.out)
    if not 1 <= args.threads <= MAX_THREADS:
        _fail(f"--threads: expected an integer in [1, {MAX_THREADS}], got {args.threads}")
    if not 0 <= args.noise < float("inf"):
        _fail(f"--noise: expected a finite number >= 0, got {args.noise}")
    cfg = _supernet_config(args)
    if args.data == "synthetic":
        data = S.synthetic_dataset(args.samples, resolution=cfg.resolution, num_classes=cfg.num_classes,
                                   channels=cfg.in_channels, seed=cfg.seed, noise=args.noise)
    else:
        data = args.data
    est = None
    if args.estimator:
        from .estimator.model import Estimator
        est = Estimator.load(args.estimator)
    r = S.train_in_folder(cfg, data, out, estimator=est, estimator_path=args.estimator, force_new=args.force_new,
                          progress=show_progress(args.quiet), log=None if args.quiet else print,
                          threads=args.threads)
    if r.moved_aside is not None:
        print(f"{out}: the old run folder was moved aside to {r.moved_aside}")
    for c in r.choices():
        print(f"{c['position']:8s} {c['choice']:18s} p={c['prob']:.2f}  {1e3 * c['latency_ms']:8.2f} us")
    print(f"{cfg.hardware}: derived network {1e3 * r.simulated_latency_ms:.2f} us simulated (expected under the final "
          f"probabilities {1e3 * r.expected_latency_ms:.2f} us), held-out accuracy {100 * r.val_accuracy:.1f} % "
          f"-> {out / 'result.json'}")
    return 0


def main(argv=None) -> int:
    """Run one command; returns the exit status: 0 done, 2 bad input (one line on stderr), 130 interrupted,
    1 when the reader of stdout went away (``codesign show DIR | head -1``). A usage error (an unknown
    option, a value of the wrong type, a missing argument or command) is one line on stderr and raises
    SystemExit(2), as ``--help`` and ``--version`` raise SystemExit(0)."""
    def run(args) -> int:
        if args.command in NEEDS_TORCH:
            from accelsim.extras import require
            require("torch", "codesign", f"codesign {args.command}")
        return {"dataset": _dataset, "train-estimator": _train, "validate-estimator": _validate,
                "search": _search, "show": _show, "sweep": _sweep, "supernet": _supernet,
                "schema": _schema, "genome": _genome, "monotonicity": _monotonicity}[args.command](args)

    return run_cli("codesign", build_parser(), argv, run,
                   lambda exc: " (a dataset or search run resumes where it stopped when run again)")


if __name__ == "__main__":
    sys.exit(main())
