"""Search problems on simulated accelerators: network-only, hardware-only and joint network x hardware.

A problem is two *axes* and a scorer. The network axis is a :class:`~codesign.spaces.space.NetworkSpace`
(stages of IBN / fused-IBN blocks), the NAS-Bench-201 cell space, or one fixed network; the hardware
axis is a :class:`~codesign.spaces.space.HardwareSpace` around a base config, or one fixed config. The
genome the search algorithms see is one flat dict of categorical parameters (network keys first,
hardware keys prefixed ``hw.``), so every algorithm in :mod:`codesign.search.algorithms` works on every problem.

``evaluate`` builds the networks and configs (both cached by key), scores the whole batch in one
``accelsim.simulate_many(pairs=True)`` call (or one estimator call) and returns per candidate the
metrics in :data:`METRICS` plus ``violation``: 0 when every hard constraint holds, else the summed
relative excess (a mapping failure, e.g. a precision the hardware lacks, counts 10). Objectives
are minimised; a maximised metric (accuracy) appears as ``neg_<name>``. A problem given a baseline
design scores it first on the base hardware (``evaluate_baseline``) and resolves the constraints
relative to it (``Constraint.max_baseline`` / ``min_baseline``) to numbers.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections import OrderedDict
import dataclasses
from dataclasses import dataclass

import numpy as np

from accelsim.config import Hardware
from accelsim.engine import failing_share, memory_figures
from accelsim.workload.heads import SEGMENTERS
from accelsim.workload.ir import Network
from accelsim.workload.packed import PackedNetwork

from ..spaces import nb201
from ..errors import CodesignError
from ..spaces.space import (HardwareGenome, HardwareSpace, NetworkGenome, NetworkSpace, StageGene, build_hardware,
                    build_network, packed_network, packed_networks)

MIB = 1024 * 1024
SCORER_FALLBACKS = ("none", "engine")   # designs outside an estimator's training ranges: keep, simulate
# Who scores when an estimator is given: auto (the engine where the estimator only predicts the engine,
# which is exact and, measured by benchmarks/estimator_speed.py, faster; the estimator otherwise) or
# estimator (always the estimator)
SCORER_PREFER = ("auto", "estimator")
MAPPING_FAILURE = 10.0   # violation of a pair none of whose layers the engine can run; a pair with some
                         # failing layers gets this times their share, so a search can climb out of it

# name -> (direction, unit, meaning)
METRICS = {
    "latency_ms": ("min", "ms", "end-to-end latency of one inference"),
    "energy_mj": ("min", "mJ", "energy of one inference (dynamic + static)"),
    "edp": ("min", "mJ*ms", "energy-delay product"),
    "area_mm2": ("min", "mm^2", "accelerator area (MAC array, SRAM, vector unit, fixed)"),
    "power_mw": ("min", "mW", "average power while the network runs (energy / latency)"),
    "memory_mb": ("min", "MiB", "parameter bytes + peak activation bytes"),
    "macs_m": ("min", "M", "multiply-accumulates"),
    "params_m": ("min", "M", "parameters"),
    "accuracy": ("max", "%", "accuracy or accuracy proxy of the network (see the accuracy source)"),
}


# What tables and plots call the accuracy metric when a proxy gives it: a score, not an accuracy.
PROXY_LABELS = {"synflow": "synflow score (proxy)", "naswot": "naswot score (proxy)",
                "grad_norm": "grad_norm score (proxy)", "params": "log10 params (proxy)",
                "macs": "log10 MACs (proxy)"}


def metric_label(metric: str, accuracy_source: str | None = None) -> str:
    """The name tables and plots give ``metric``: the metric itself, except ``accuracy`` from a proxy
    source (``synflow`` -> ``synflow score (proxy)``). Journals and pareto.json keep the metric name."""
    if metric == "accuracy" and accuracy_source in PROXY_LABELS:
        return PROXY_LABELS[accuracy_source]
    return metric


def objective_key(metric: str) -> str:
    """The minimised key of a metric: itself, or ``neg_<metric>`` for a maximised one."""
    if metric not in METRICS:
        raise CodesignError(f"objective {metric!r}: expected one of {', '.join(METRICS)}")
    return metric if METRICS[metric][0] == "min" else f"neg_{metric}"


# ------------------------------------------------------------------------------------------- axes
class MobileAxis:
    """Network axis over a NetworkSpace; keys ``resolution``, ``stem``, ``head``, ``depth_multiplier``
    and per stage ``s{i}.block/kernel/expansion/depth/channels`` (and ``s{i}.precision``)."""

    kind = "mobile"

    def __init__(self, space: NetworkSpace):
        self.space = space
        c = {"resolution": space.resolutions, "stem": space.stem_channels, "head": space.head_channels,
             "depth_multiplier": space.depth_multipliers}
        for i in range(len(space.strides)):
            c[f"s{i}.block"] = space.blocks
            c[f"s{i}.kernel"] = space.kernels
            c[f"s{i}.expansion"] = space.expansions
            c[f"s{i}.depth"] = space.depths
            c[f"s{i}.channels"] = space.channel_choices(i)
            if space.stage_precisions:
                c[f"s{i}.precision"] = space.stage_precisions
        # task heads only when the space lists any, so a classifier search keeps its genomes and journals
        if tuple(space.heads) != ("classifier",):
            c["task_head"] = space.heads
            if len(space.output_strides) > 1 and set(space.heads) & set(SEGMENTERS):
                c["output_stride"] = space.output_strides
        self.choices = {k: tuple(v) for k, v in c.items()}
        self._genes = operator.itemgetter(*self.choices)   # the genes in choices order, as one tuple
        # per stage: its five genes at once, and the name of its precision gene (absent: the network's)
        self._stage_genes = tuple((operator.itemgetter(*(f"s{i}.{k}" for k in ("block", "kernel", "expansion",
                                                                                "depth", "channels"))),
                                   f"s{i}.precision") for i in range(len(space.strides)))
        self._stages: dict = {}

    def __getstate__(self):   # workers build their own cache
        return {**self.__dict__, "_stages": {}}

    def genome(self, g: dict) -> NetworkGenome:
        sp = self.space
        stages = tuple(self._stage(i, get(g), g.get(precision, ""))
                       for i, (get, precision) in enumerate(self._stage_genes))
        head = sp.head_gene(g["task_head"], g.get("output_stride", 0)) if "task_head" in g else None
        return NetworkGenome(resolution=g["resolution"], stem_channels=g["stem"], stages=stages,
                             head_channels=g["head"], depth_multiplier=g["depth_multiplier"],
                             num_classes=sp.num_classes, precision=sp.precision, head=head)

    def _stage(self, i: int, genes: tuple, precision: str) -> StageGene:
        """Stage ``i``'s gene from its block, kernel, expansion, depth and channels genes and its
        precision (cached: a search draws the same stages again and again)."""
        key = (i, genes, precision, type(genes[2]))   # an expansion of 6 and of 6.0: two genomes (keys differ)
        hit = self._stages.get(key)
        if hit is None:
            block, kernel, expansion, depth, channels = genes
            hit = StageGene(block=block, kernel=kernel, expansion=expansion, depth=depth, channels=channels,
                            stride=self.space.strides[i], precision=precision)
            if len(self._stages) < 65536:
                self._stages[key] = hit
        return hit

    def key(self, g: dict) -> tuple:
        """The genes in ``choices`` order; a detector's or classifier's output stride gene (unused: its
        backbone keeps its strides) reads 0, so designs differing only there are one design."""
        if "output_stride" in self.choices and g["task_head"] not in SEGMENTERS:
            return tuple(0 if k == "output_stride" else g[k] for k in self.choices)
        return self._genes(g)

    def build(self, g: dict) -> Network:
        return build_network(self.genome(g), name=self._name(g))

    def packed(self, g: dict) -> PackedNetwork:
        """What :meth:`build` builds, as rows: what a search scores, without ``Layer`` objects."""
        return packed_network(self.genome(g), name=self._name(g))

    def packed_many(self, gs: list) -> list:
        """:meth:`packed` of each genome, equal object for object, the classifiers among them built in
        one compiled call (:func:`codesign.spaces.space.packed_networks`)."""
        return packed_networks([self.genome(g) for g in gs], [self._name(g) for g in gs])

    def _name(self, g: dict) -> str:
        # a hash of the flat key: the genome's own content hash (asdict + JSON) costs more than building
        return "net-" + hashlib.sha1(repr(self.key(g)).encode()).hexdigest()[:16]

    def describe(self, g: dict) -> str:
        return describe_genome(self.genome(g))


_SE_MARK = {"mobilenet_v3": "/se3", "efficientnet": "/seE"}


def describe_genome(ng: NetworkGenome) -> str:
    """One line per design: resolution, stem, depth multiplier, then per stage block (I or F), kernel,
    expansion, blocks and channels (``I5e3x3c40``; ``/se3`` or ``/seE`` with squeeze-excite, the stage's
    own activation and precision when set), the head conv and any task head."""
    stages = " ".join(f"{'F' if s.block == 'fused_ibn' else 'I'}{s.kernel}e{s.expansion:g}x{d}c{s.channels}"
                      + _SE_MARK.get(s.se, "") + (f"/{s.activation}" if s.activation else "")
                      + (f"@{s.precision}" if s.precision else "")
                      for s, d in zip(ng.stages, ng.stage_depths()))
    extra = (f" act:{ng.activation}" if ng.activation else "") + \
        (f" fc{ng.classifier_hidden}" if ng.classifier_hidden and ng.head is None else "")
    task = "" if ng.head is None else f" +{ng.head.kind}" + (f"/os{ng.head.output_stride}"
                                                             if ng.head.kind in SEGMENTERS else "")
    if ng.head is not None and ng.head.kind == "deeplabv3" and ng.aspp != "separable":
        task += f"/aspp:{ng.aspp}"
    return f"r{ng.resolution} stem{ng.stem_channels} dm{ng.depth_multiplier} {stages} head{ng.head_channels}{extra}{task}"


class ModelAxis(MobileAxis):
    """Network axis over a :class:`~codesign.spaces.model_space.ModelSpace`: the genes its ``search``
    names (``block``, ``s1.block``, ``width_multiplier``, ...) applied to the product model's genome; a
    gene missing from a genome keeps the baseline's value, so ``{}`` is the baseline itself."""

    kind = "from_model"

    def __init__(self, space):
        self.space = space
        self.choices = dict(space.choices)
        self._base = {k: v for k, v in space.baseline_genes().items() if v is not None}

    def genome(self, g: dict) -> NetworkGenome:
        return self.space.genome(g)

    def key(self, g: dict) -> tuple:
        """The genome's content hash: designs whose genes differ but build one network (a channel
        multiple the channels already meet) are one design, and a network's proxy score (seeded by
        this key) does not depend on which axes the space has."""
        return (self.space.genome(g).key(),)

    def baseline_genes(self) -> "dict | None":
        """The genes of the baseline when it is a design of the space (every gene's choices hold the
        baseline's value), else None."""
        return None if self.space.baseline_reachable() else dict(self._base)


class NB201Axis:
    """Network axis over the NAS-Bench-201 cell: keys ``edge{j}_{i}`` with NB201's five ops."""

    kind = "nb201"

    def __init__(self, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
                 precision: str = "int8"):
        self.options = dict(channels=channels, cells=cells, num_classes=num_classes, resolution=resolution,
                            precision=precision)
        self.choices = {k: nb201.OPS for k in nb201.EDGE_KEYS}

    def key(self, g: dict) -> tuple:
        return tuple(g[k] for k in nb201.EDGE_KEYS)

    def build(self, g: dict) -> Network:
        return nb201.network(nb201.genome_arch(g), **self.options)

    def packed(self, g: dict) -> PackedNetwork:
        """What :meth:`build` builds, as rows (what a search scores)."""
        return nb201.network_rows(nb201.genome_arch(g), **self.options)

    def packed_many(self, gs: list) -> list:
        """:meth:`packed` of each genome, equal object for object, built by compiled batches
        (:func:`codesign.spaces.nb201.network_rows_many`)."""
        return nb201.network_rows_many([self.key(g) for g in gs], **self.options)

    def describe(self, g: dict) -> str:
        return nb201.genome_arch(g)


class FixedNetwork:
    kind = "fixed"
    choices: dict = {}

    def __init__(self, network: Network):
        self.network = network

    def key(self, g: dict) -> tuple:
        return ()

    def build(self, g: dict) -> Network:
        return self.network

    def describe(self, g: dict) -> str:
        return self.network.name


class HardwareAxis:
    """Hardware axis over a HardwareSpace: keys ``hw.rows``, ``hw.cols``, ``hw.dataflow``,
    ``hw.vector_lanes``, ``hw.unified_kb`` (0 = separate buffers), ``hw.ifmap_kb``, ``hw.filter_kb``,
    ``hw.ofmap_kb``, ``hw.dram_gb_per_s``, ``hw.precisions`` ('int8+int16') and ``hw.clock_mhz``."""

    kind = "space"

    def __init__(self, space: HardwareSpace, base: Hardware | None = None):
        self.space = space
        self.base = base or space.base_hardware()
        unified = (0.0,) + tuple(float(v) for v in space.unified_kb) if space.unified_probability > 0 else (0.0,)
        c = {"hw.rows": space.rows, "hw.cols": space.cols, "hw.dataflow": space.dataflows,
             "hw.vector_lanes": space.vector_lanes, "hw.unified_kb": unified,
             "hw.ifmap_kb": tuple(float(v) for v in space.sram_kb), "hw.filter_kb": tuple(float(v) for v in space.sram_kb),
             "hw.ofmap_kb": tuple(float(v) for v in space.sram_kb),
             "hw.dram_gb_per_s": tuple(float(v) for v in space.dram_gb_per_s),
             "hw.precisions": tuple("+".join(s) for s in space.precision_sets),
             "hw.clock_mhz": tuple(float(v) for v in space.clocks_mhz) or (float(self.base.array.clock_mhz),)}
        self.choices = {k: tuple(v) for k, v in c.items()}
        self._genes = operator.itemgetter(*self.choices)   # the genes in choices order, as one tuple
        self._separate = list(self.choices).index("hw.ifmap_kb")   # then hw.filter_kb, hw.ofmap_kb
        self.base_genome = hardware_genome_of(self.base)
        self._base_key = self.key(self.base_genome)

    def genome(self, g: dict) -> HardwareGenome:
        u = float(g["hw.unified_kb"])
        return HardwareGenome(rows=g["hw.rows"], cols=g["hw.cols"], dataflow=g["hw.dataflow"],
                              vector_lanes=g["hw.vector_lanes"], unified_kb=u,
                              ifmap_kb=0.0 if u else float(g["hw.ifmap_kb"]),
                              filter_kb=0.0 if u else float(g["hw.filter_kb"]),
                              ofmap_kb=0.0 if u else float(g["hw.ofmap_kb"]),
                              dram_gb_per_s=float(g["hw.dram_gb_per_s"]),
                              precisions=tuple(g["hw.precisions"].split("+")),
                              clock_mhz=float(g["hw.clock_mhz"]))

    def key(self, g: dict) -> tuple:
        # separate-buffer sizes do not matter when the buffer is unified (the choices hold them in a row)
        k, i = self._genes(g), self._separate
        return k[:i] + (0.0, 0.0, 0.0) + k[i + 3:] if g["hw.unified_kb"] else k

    def build(self, g: dict) -> Hardware:
        if self.key(g) == self._base_key:   # the base config itself, not a rebuild of it
            return self.base
        return build_hardware(self.base, self.genome(g))

    def describe(self, g: dict) -> str:
        sram = f"U{g['hw.unified_kb']:g}K" if g["hw.unified_kb"] else \
            f"{g['hw.ifmap_kb']:g}/{g['hw.filter_kb']:g}/{g['hw.ofmap_kb']:g}K"
        return (f"{g['hw.rows']}x{g['hw.cols']} {g['hw.dataflow']} v{g['hw.vector_lanes']} {sram} "
                f"{g['hw.dram_gb_per_s']:g}GB/s {g['hw.precisions']} {g['hw.clock_mhz']:g}MHz")


class FixedHardware:
    kind = "fixed"
    choices: dict = {}

    def __init__(self, hardware: Hardware):
        self.hardware = hardware

    def key(self, g: dict) -> tuple:
        return ()

    def build(self, g: dict) -> Hardware:
        return self.hardware

    def describe(self, g: dict) -> str:
        return self.hardware.name


# ------------------------------------------------------------------------------------ accuracy
class AccuracySource:
    """Where the ``accuracy`` metric comes from.

    - ``nb201``: NAS-Bench-201 test accuracy (%) from the packaged table (network axis nb201 only);
    - ``params`` / ``macs``: log10 of the network's parameter / MAC count, the capacity baselines any
      zero-shot proxy must beat;
    - ``synflow`` / ``naswot`` / ``grad_norm``: zero-shot proxies on the network's torch module
      (:mod:`codesign.accuracy`; ``batch`` and ``resolution`` set the synthetic input), initialised
      from a seed of the genome and ``seed`` and scored on ``threads`` torch threads (default 1), so
      a genome's score is the same in every run, worker and evaluation order;
    - ``train``: short training on the user's data (``data``: an .npz with ``x`` and ``y``), also on
      ``threads`` torch threads; with ``task: detection`` or ``segmentation``, on procedurally drawn
      shapes (``data: synthetic_shapes``), scored as mAP@0.5 or mIoU (:meth:`_task_score`).
    Values are cached per network, so each network is scored once per process.
    """

    SOURCES = ("nb201", "params", "macs", "synflow", "naswot", "grad_norm", "train")
    TORCH_SOURCES = ("synflow", "naswot", "grad_norm", "train")   # scored with torch: the thread count matters

    def __init__(self, source: str, threads: int = 1, **options):
        if source not in self.SOURCES:
            raise CodesignError(f"accuracy.source {source!r}: expected one of {', '.join(self.SOURCES)}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise CodesignError(f"threads: expected an integer >= 1, got {threads!r}")
        self.source, self.options, self.threads = source, dict(options), threads
        self._table = None
        self.cache: dict = {}

    def describe(self) -> str:
        return self.source + "".join(f" {k}={v}" for k, v in sorted(self.options.items()))

    def __getstate__(self):
        return {**self.__dict__, "_table": None, "cache": {}}

    def scores(self, axis, genomes: list, networks: list) -> list[float]:
        out = []
        for g, net in zip(genomes, networks):
            key = axis.key(g)
            if key not in self.cache:
                self.cache[key] = self._score(axis, g, net)
            out.append(self.cache[key])
        return out

    def _score(self, axis, g: dict, net: Network) -> float:
        if self.source == "params":
            return math.log10(max(net.params, 1))
        if self.source == "macs":
            return math.log10(max(net.macs, 1))
        if self.source == "nb201":
            if axis.kind != "nb201":
                raise CodesignError("accuracy.source nb201: needs space.network.type: nb201")
            if self._table is None:
                from ..accuracy.tables import NB201Table
                self._table = NB201Table.load(self.options.get("table"))
            return float(self._table.accuracy(nb201.genome_arch(g), self.options.get("dataset", "cifar10")))
        return self._torch_score(axis, g)

    def _module(self, axis, g: dict):
        """A freshly initialised torch module of genome ``g`` and its input resolution."""
        if axis.kind == "nb201":
            from accelsim.workload.torch_zoo import NB201Net
            model = NB201Net(nb201.genome_arch(g), channels=axis.options["channels"], cells=axis.options["cells"],
                             num_classes=axis.options["num_classes"])
            return model, axis.options["resolution"]
        if axis.kind in ("mobile", "from_model"):
            from ..accuracy.torch_models import genome_module
            return genome_module(axis.genome(g)), axis.genome(g).resolution
        raise CodesignError(f"accuracy.source {self.source}: needs a network search space")

    def _torch_score(self, axis, g: dict) -> float:
        from accelsim.extras import require
        torch = require("torch", "codesign", f"accuracy.source {self.source}")

        from .. import accuracy as acc
        seed = int(self.options.get("seed", 0))
        # The initial weights come from a seed of the genome itself (not torch's global generator, whose
        # state depends on what ran before), so a genome scores the same in any run, worker or order.
        init_seed = acc.genome_seed(axis.key(g), seed)
        if self.source == "train" and self.task != "classification":
            return self._task_score(axis, g, init_seed, seed)
        if self.source == "train":
            data = self.options.get("data")
            if not data:
                raise CodesignError("accuracy.data: the train source needs an .npz path with arrays x and y")
            opts = {k: v for k, v in self.options.items() if k not in ("data", "seed", "threads", "task")}
            with acc.torch_threads(self.threads):   # the run's thread count, so the result does not depend
                with acc.seeded(init_seed, threads=None):   # on the machine's core count
                    model, _ = self._module(axis, g)
                return float(acc.train_short(model, data, seed=seed, **opts)["best_val_acc"])
        # zero-shot proxies: one thread unless the run says otherwise, so the score does not depend on the
        # core count
        genome = axis.genome(g) if hasattr(axis, "genome") else None
        if genome is not None and genome.head is not None:
            return self._task_proxy(genome, init_seed, seed)
        with acc.seeded(init_seed, threads=self.threads):
            model, res = self._module(axis, g)
            res = int(self.options.get("resolution", res))
            batch = int(self.options.get("batch", 16))
            gen = torch.Generator().manual_seed(seed)   # the same input batch for every genome
            x = torch.randn(batch, 3, res, res, generator=gen)
            y = torch.randint(0, 10, (batch,), generator=gen)
            return float(acc.score(model, self.source, x, y, seed=seed))

    def _task_proxy(self, genome: NetworkGenome, init_seed: int, seed: int) -> float:
        """A zero-shot proxy of a detector or segmenter, as ``experiments/task_proxies.py`` measures it: on
        the design re-headed for synthetic_shapes' classes (``num_classes``, default 3, plus background),
        with a batch of those shapes and their boxes or masks as the task loss's targets."""
        from .. import accuracy as acc
        from ..accuracy.tasks import proxy_batch, task_genome, task_of
        from ..accuracy.torch_models import genome_module
        task = task_of(genome)
        with acc.seeded(init_seed, threads=self.threads):
            model = genome_module(task_genome(genome, task, num_classes=int(self.options.get("num_classes", 3))))
            x, y = proxy_batch(model, task, batch=int(self.options.get("batch", 16)),
                               resolution=int(self.options.get("resolution", genome.resolution)), seed=seed)
            return float(acc.score(model, self.source, x, y, seed=seed))

    @property
    def task(self) -> str:
        """What ``train`` trains for: classification (on ``data``, an .npz), detection or segmentation
        (on ``data: synthetic_shapes``, :func:`codesign.accuracy.tasks.train_task`)."""
        return self.options.get("task", "classification")

    def check_task(self, axis) -> None:
        """Raise when a task the training cannot run on the axis's designs is named: a detection or
        segmentation task needs a network space of genomes whose heads are for that task."""
        if self.source != "train" or self.task == "classification":
            return
        from ..accuracy.tasks import HEAD_TASKS
        where = f"accuracy.task {self.task}"
        if axis.kind == "from_model":
            head = axis.space.baseline.head
            kinds = [] if head is None else [head.kind]
        elif axis.kind == "mobile":
            kinds = [k for k in axis.space.heads if k != "classifier"]
        else:
            raise CodesignError(f"{where}: needs a network space of genomes (type mobile or from_model), not "
                                f"{axis.kind}")
        for kind in kinds:
            if HEAD_TASKS[kind] != self.task:
                raise CodesignError(f"{where}: the designs' {kind} head is for {HEAD_TASKS[kind]}")

    def _task_score(self, axis, g: dict, init_seed: int, seed: int) -> float:
        """The design trained on its task (a genome with the head of that task on the synthetic data's
        classes, plus background; a classifier design gets the task's default head) and scored on
        held-out images: mAP@0.5 or mIoU, in %."""
        from .. import accuracy as acc
        from ..accuracy.tasks import TASK_OPTIONS, task_genome, train_task
        from ..accuracy.torch_models import genome_module
        opts = {k: v for k, v in self.options.items() if k in TASK_OPTIONS and k != "threads"}
        genome = task_genome(axis.genome(g), self.task, num_classes=int(opts.get("num_classes", 3)))
        with acc.torch_threads(self.threads):
            with acc.seeded(init_seed, threads=None):
                model = genome_module(genome)
            return float(train_task(model, self.task, seed=seed, threads=self.threads, device="cpu",
                                    **{k: v for k, v in opts.items() if k != "seed"})["score"])


# ------------------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class Constraint:
    """A hard bound on one metric. ``max_baseline`` / ``min_baseline``: the bound is that factor times
    the baseline design's value of the metric (``0.5 baseline``); :meth:`resolve` turns it into the
    number ``max`` / ``min``, which :meth:`excess` uses."""

    metric: str
    max: float | None = None
    min: float | None = None
    budget: bool = False      # memory_mb <= the hardware's memory budget
    max_baseline: float | None = None
    min_baseline: float | None = None

    @property
    def relative(self) -> bool:
        return self.max_baseline is not None or self.min_baseline is not None

    def relative_sides(self) -> tuple:
        return tuple(side for side in ("max", "min") if getattr(self, f"{side}_baseline") is not None)

    def resolve(self, baseline: dict) -> "Constraint":
        """This constraint with its relative bounds made numbers from the baseline's metrics."""
        out = {}
        for side in self.relative_sides():
            v = baseline.get(self.metric)
            if v is None:
                raise CodesignError(f"constraints.{self.metric}.{side}: the baseline has no {self.metric}")
            if not math.isfinite(v):
                raise CodesignError(f"constraints.{self.metric}.{side}: the baseline's {self.metric} is not finite "
                                    f"(it cannot run on the base hardware)")
            out[side] = float(getattr(self, f"{side}_baseline")) * float(v)
        return dataclasses.replace(self, **out) if out else self

    def excess(self, m: dict) -> float:
        v = m.get(self.metric)
        if v is None or not np.isfinite(v):
            return MAPPING_FAILURE
        if self.budget:
            return max(0.0, (v - m["budget_mb"]) / m["budget_mb"])
        out = 0.0
        if self.max is not None and v > self.max:
            out += (v - self.max) / max(abs(self.max), 1e-12)
        if self.min is not None and v < self.min:
            out += (self.min - v) / max(abs(self.min), 1e-12)
        return out


class SearchProblem:
    """A network axis x a hardware axis, scored by the engine (or an estimator), with objectives and
    hard constraints. Picklable, so the process and Ray runners can ship it to workers."""

    def __init__(self, network_axis, hardware_axis, objectives=("latency_ms", "accuracy"), constraints=(),
                 accuracy: AccuracySource | None = None, estimator=None, cache_size: int = 4096, threads: int = 1,
                 baseline=None, estimator_fallback: str = "none", estimator_prefer: str = "auto"):
        self.net_axis, self.hw_axis = network_axis, hardware_axis
        self.threads = threads   # torch threads of the estimator's predictions (the accuracy source has its own)
        self.metrics = tuple(objectives)
        self.objectives = tuple(objective_key(m) for m in self.metrics)
        if not self.objectives:
            raise CodesignError("objectives: expected at least one metric")
        self.constraints = tuple(constraints)
        for c in self.constraints:
            objective_key(c.metric)
        wants_acc = "accuracy" in self.metrics or any(c.metric == "accuracy" for c in self.constraints)
        if wants_acc and accuracy is None:
            raise CodesignError("objectives: accuracy needs an accuracy source (accuracy.source)")
        self.accuracy = accuracy
        if accuracy is not None:
            accuracy.check_task(network_axis)
        self.estimator = estimator
        if estimator_fallback not in SCORER_FALLBACKS:
            raise CodesignError(f"scorer.fallback: expected one of {', '.join(SCORER_FALLBACKS)}, "
                                f"got {estimator_fallback!r}")
        if estimator_fallback == "engine" and estimator is not None and estimator.mode != "simulator":
            raise CodesignError("scorer.fallback: engine needs an estimator trained on the engine; this one was "
                                "trained on measurements, which the engine cannot stand in for")
        self.estimator_fallback = estimator_fallback
        if estimator_prefer not in SCORER_PREFER:
            raise CodesignError(f"scorer.prefer: expected one of {', '.join(SCORER_PREFER)}, got {estimator_prefer!r}")
        self.estimator_replaced = False   # an estimator was given, and the engine scores instead (prefer: auto)
        if estimator is not None and estimator.mode == "simulator" and estimator_prefer == "auto":
            import warnings
            warnings.warn("scorer: this estimator was trained on the engine, which scores exactly and faster; "
                          "scoring with the engine (scorer.prefer: estimator keeps the estimator)", stacklevel=2)
            self.estimator, self.estimator_fallback, self.estimator_replaced = None, "none", True
        self.choices = {**network_axis.choices, **hardware_axis.choices}
        if not self.choices:
            raise CodesignError("space: nothing to search (give space.network and/or space.hardware)")
        self.cache_size = cache_size
        self._nets: OrderedDict = OrderedDict()
        self._packed: OrderedDict = OrderedDict()
        self._hws: OrderedDict = OrderedDict()
        # the baseline design (a Network, or an arch string on a NAS-Bench-201 axis): scored first, and
        # the relative bounds resolved against its metrics
        if baseline is None and network_axis.kind == "from_model":
            baseline = network_axis.space.baseline   # a product model's search is always relative to it
        self.baseline, self.baseline_metrics = baseline, None
        relative = [(c, side) for c in self.constraints for side in c.relative_sides()]
        if relative and baseline is None:
            c, side = relative[0]
            what = "ARCH" if self.net_axis.kind == "nb201" else "NETWORK"
            raise CodesignError(f"constraints.{c.metric}.{side}: 'baseline' needs a baseline design; "
                                f"give baseline: {what}")
        for c, side in relative:
            if c.metric == "accuracy" and not self._scores_baseline_accuracy():
                raise CodesignError(f"constraints.accuracy.{side}: a bound relative to the baseline needs an accuracy "
                                    f"source that can score the baseline (nb201 for an arch string, params or macs "
                                    f"for any network), got {self.accuracy.source}")
        if baseline is not None:
            self.baseline_metrics = self.evaluate_baseline()
            self.constraints = tuple(c.resolve(self.baseline_metrics) for c in self.constraints)

    def __getstate__(self):
        return {**self.__dict__, "_nets": OrderedDict(), "_packed": OrderedDict(), "_hws": OrderedDict()}

    # ------------------------------------------------------------------ building (cached)
    def _cached(self, store: OrderedDict, key, make):
        hit = store.get(key)
        if hit is None:
            hit = make()
            store[key] = hit
            if len(store) > self.cache_size:
                store.popitem(last=False)
        else:
            store.move_to_end(key)
        return hit

    def network(self, g: dict) -> Network:
        return self._cached(self._nets, self.net_axis.key(g), lambda: self.net_axis.build(g))

    def scored_network(self, g: dict) -> "Network | PackedNetwork":
        """What the scorer reads of ``g``'s network: its rows where the axis makes them (no ``Layer``
        objects: see :mod:`accelsim.workload.packed`; the engine and the estimator both read the layer
        table and memory figures rows give), else the ``Network``."""
        if not hasattr(self.net_axis, "packed"):
            return self.network(g)
        return self._cached(self._packed, self.net_axis.key(g), lambda: self.net_axis.packed(g))

    def hardware(self, g: dict) -> Hardware:
        return self._cached(self._hws, self.hw_axis.key(g), lambda: self.hw_axis.build(g))

    def describe(self, g: dict) -> tuple[str, str]:
        return self.net_axis.describe(g), self.hw_axis.describe(g)

    def design_key(self, g: dict) -> tuple:
        """Two genomes with the same key are the same design (same network, same config), so a search
        evaluates one of them only (genes that do not matter, e.g. separate buffer sizes under a
        unified buffer, are left out)."""
        return self.net_axis.key(g), self.hw_axis.key(g)

    def baseline_network_genes(self) -> "dict | None":
        """The product model's genes when the network axis starts from one and the model is a design
        of it (a search starts from it: see :func:`codesign.search.algorithms.baseline_genomes`)."""
        return self.net_axis.baseline_genes() if self.net_axis.kind == "from_model" else None

    def baseline_hardware(self) -> dict:
        """The base config's hardware genes when the hardware is searched (a search starts from it:
        see :func:`codesign.search.algorithms.baseline_genomes`); empty for fixed hardware."""
        return dict(self.hw_axis.base_genome) if isinstance(self.hw_axis, HardwareAxis) else {}

    def static_violation(self, g: dict) -> float:
        """Excess over the constraints that depend on the hardware alone (area), without simulating."""
        if self.hw_axis.kind == "fixed" or not any(c.metric == "area_mm2" for c in self.constraints):
            return 0.0
        m = {"area_mm2": self.hardware(g).area_mm2}
        return sum(c.excess(m) for c in self.constraints if c.metric == "area_mm2")

    # ------------------------------------------------------------------ baseline
    def base_hardware(self) -> Hardware:
        """The base config: the fixed one, or the base of the hardware space."""
        return self.hw_axis.base if isinstance(self.hw_axis, HardwareAxis) else self.hw_axis.hardware

    def baseline_genome(self) -> "dict | None":
        """The network genes of the baseline: an arch string's on a NAS-Bench-201 axis, ``{}`` (every
        gene at the model's value) on a product model's axis; None otherwise."""
        if self.net_axis.kind == "from_model":
            return {}
        if isinstance(self.baseline, str) and self.net_axis.kind == "nb201":
            try:
                return dict(zip(nb201.EDGE_KEYS, nb201.ops_of(self.baseline)))
            except CodesignError as exc:
                raise CodesignError(f"baseline: {exc}") from None
        return None

    def _scores_baseline_accuracy(self) -> bool:
        if self.accuracy is None:
            return False
        if self.accuracy.source in ("params", "macs") or self.net_axis.kind == "from_model":
            return True
        return self.accuracy.source == "nb201" and self.net_axis.kind == "nb201" and isinstance(self.baseline, str)

    def baseline_network(self) -> Network:
        g = self.baseline_genome()
        if g is not None:
            return self.net_axis.build(g)
        if isinstance(self.baseline, str):
            raise CodesignError(f"baseline: an arch string needs space.network.type: nb201, got {self.baseline!r}")
        return self.baseline

    def describe_baseline(self) -> str:
        g = self.baseline_genome()
        return self.net_axis.describe(g) if g is not None else self.baseline_network().name

    def evaluate_baseline(self) -> dict:
        """The baseline design on the base hardware, scored with the metrics of a candidate (without
        ``violation``); its accuracy when the accuracy source can score it (see the class docs)."""
        return self.evaluate_design(self.baseline_network(), self.baseline_genome())

    def evaluate_design(self, network: Network, genome: "dict | None" = None) -> dict:
        """``network`` on the base hardware with the metrics of a candidate (no ``violation``).
        ``genome``: its network genes when it is a point of the network axis (the accuracy source
        then scores it as it scores a candidate)."""
        hw = self.base_hardware()
        acc = None
        if self.accuracy is not None and (genome is not None or self.accuracy.source in ("params", "macs")):
            if genome is not None and (self.accuracy.source in ("nb201", "params", "macs")
                                       or self.net_axis.kind == "from_model"):
                acc = self.accuracy.scores(self.net_axis, [genome], [network])
            elif genome is None:
                acc = [self.accuracy._score(self.net_axis, {}, network)]
        m = self._metrics([network], [hw], acc)[0]
        m.pop("violation")
        return m

    # ------------------------------------------------------------------ scoring
    def scored_networks(self, genomes: list) -> list:
        """:meth:`scored_network` of each genome; the ones not cached yet built together where the axis
        builds a batch at once (``packed_many``)."""
        if not hasattr(self.net_axis, "packed_many"):
            return [self.scored_network(g) for g in genomes]
        keys = [self.net_axis.key(g) for g in genomes]
        missing: dict = {}
        for k, g in zip(keys, genomes):
            if k not in self._packed and k not in missing:
                missing[k] = g
        built = dict(zip(missing, self.net_axis.packed_many(list(missing.values())))) if missing else {}
        out = []
        for k, g in zip(keys, genomes):
            net = built.get(k)
            out.append(self._cached(self._packed, k, lambda: net) if net is not None else self.scored_network(g))
        return out

    def evaluate(self, genomes: list) -> list[dict]:
        nets = self.scored_networks(genomes)
        hws = [self.hardware(g) for g in genomes]
        acc = self.accuracy.scores(self.net_axis, genomes, nets) if self.accuracy is not None else None
        return self._metrics(nets, hws, acc)

    def _metrics(self, nets: list, hws: list, acc: "list | None") -> list[dict]:
        if self.estimator is not None:
            latency, energy, failing = self._estimate(nets, hws)
        else:
            import accelsim
            r = accelsim.simulate_many(nets, hws, pairs=True)
            latency, energy, failing = r.latency_ms.ravel(), r.energy_mj.ravel(), r.failing_share.ravel()
        out = []
        for i, (net, hw) in enumerate(zip(nets, hws)):
            lat, en = float(latency[i]), float(energy[i])
            ok = failing[i] == 0 and np.isfinite(lat)
            m = {"latency_ms": lat if ok else math.inf, "energy_mj": en if ok else math.inf,
                 "edp": lat * en if ok else math.inf, "area_mm2": float(hw.area_mm2),
                 "power_mw": en / lat * 1e3 if ok and lat > 0 else math.inf,
                 "memory_mb": memory_figures(net, hw).memory_bytes / MIB,
                 "budget_mb": float(hw.memory_budget_mb), "macs_m": net.macs / 1e6, "params_m": net.params / 1e6}
            if acc is not None:
                m["accuracy"] = float(acc[i])
                m["neg_accuracy"] = -m["accuracy"]
            violation = 0.0 if ok else MAPPING_FAILURE * max(float(failing[i]), 0.01)
            violation += sum(c.excess(m) for c in self.constraints)
            m["violation"] = float(violation)
            out.append(m)
        return out

    def _estimate(self, nets, hws):
        from ..accuracy.proxies import torch_threads
        fallback = self.estimator_fallback == "engine"
        with torch_threads(self.threads):   # matrix products split among threads: pin them, as proxies do
            pred = self.estimator.predict_pairs(nets, hws, out_of_range="ignore" if fallback else "warn")
        # the estimator cannot tell which layers cannot run; the engine's own rule decides, unsimulated
        failing = failing_share(nets, hws, pairs=True)
        lat = np.asarray(pred.get("latency_ms", pred.get("latency")), dtype=float)
        energy = np.asarray(pred.get("energy_mj", np.full(len(nets), np.nan)), dtype=float)
        outside = np.nonzero(~pred["in_range"])[0]
        if fallback and len(outside):
            import warnings
            import accelsim
            from ..estimator.model import EstimatorRangeWarning
            r = accelsim.simulate_many([nets[i] for i in outside], [hws[i] for i in outside], pairs=True)
            lat[outside], energy[outside] = r.latency_ms.ravel(), r.energy_mj.ravel()
            failing = np.array(failing, dtype=float)
            failing[outside] = r.failing_share.ravel()
            warnings.warn(f"estimator: {len(outside)} of {len(nets)} designs lie outside the ranges it was trained "
                          f"on (e.g. {nets[outside[0]].name} on {hws[outside[0]].name}); simulated with the engine "
                          "instead (scorer.fallback: engine)", EstimatorRangeWarning, stacklevel=2)
        return lat, energy, failing


def hardware_genome_of(hw: Hardware) -> dict:
    """A hardware config as the flat dict of a HardwareAxis (values need not be in the space's lists)."""
    s = hw.sram
    return {"hw.rows": hw.array.rows, "hw.cols": hw.array.cols, "hw.dataflow": hw.array.dataflow,
            "hw.vector_lanes": hw.vector.lanes, "hw.unified_kb": float(s.unified_kb or 0.0),
            "hw.ifmap_kb": float(s.ifmap_kb or 0.0), "hw.filter_kb": float(s.filter_kb or 0.0),
            "hw.ofmap_kb": float(s.ofmap_kb or 0.0), "hw.dram_gb_per_s": float(hw.dram.bandwidth_gb_per_s),
            "hw.precisions": "+".join(p.name for p in hw.precisions), "hw.clock_mhz": float(hw.array.clock_mhz)}

