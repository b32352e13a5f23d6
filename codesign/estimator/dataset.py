"""Training data from the simulator: sampled operators, blocks and networks x hardware configs -> records.

A :class:`DatasetRequest` says what to sample (counts, spaces, seeds). Hardware configs come by default
from :class:`~codesign.spaces.space.DatasetHardwareSpace`: every field that decides latency or DRAM
traffic (clock, DRAM bandwidth and latency, SRAM sizes, array, vector unit, formats, placement,
alignment) varies around the base config over ranges that hold every shipped config, continuous ones
log-uniformly, so the estimator learns those dependences instead of meeting them first at prediction
time. :func:`generate` splits the request into shards, runs the engine on each shard in one
``simulate_many`` call and writes the shard's three tables atomically (a temporary folder renamed
into place):

- ``layers``: one row per (layer, workload, hardware): the engine's layer-table fields
  (``features.LAYER_COLUMNS``) and every per-layer output (``features.OUT_COLUMNS``);
- ``pairs``: one row per (workload, hardware): kind (op / block / network / zoo), workload key and
  name, hardware key, totals (cycles, latency, energy, DRAM bytes, memory, budget), and where its
  layers are;
- ``hardware``: one row per config (``features.HW_COLUMNS``, its key and its genome).

Shard *i* of a kind depends only on (seed, kind, i), so the result is the same whether shards run
serially, in local processes or on Ray, and a killed run resumes by skipping the shards already on
disk and removing the temporary files and folders it left (:func:`remove_stale_temporaries`).
``manifest.json`` holds the request, its identity (:meth:`DatasetRequest.identity`: the request,
the base hardware config in full, the adaptive model's checksum and the engine model version, see
:mod:`codesign.identity`) and its content hash (the identity's fingerprint): asking again for a
finished request costs nothing, and a folder holding another request (or one made from another base
hardware file or engine code) is an error naming what changed; ``force_new`` moves it aside to
``DIR.old-<time>`` and starts afresh. The folder is locked (``DIR/.lock``) while a process works in it.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.config import Hardware
from accelsim.errors import AccelsimError
from accelsim.io import leftover_temporaries, write_json
from accelsim.engine import memory_figures
from accelsim.engine import tables as T
from accelsim.workload.ir import Network, NetworkBuilder

from .. import __version__
from . import features as F
from ..errors import CodesignError
from ..spaces.space import (DatasetHardwareSpace, HardwareSpace, NetworkSpace, build_hardware, build_network,
                            hardware_key, hardware_pool)

DATASET_VERSION = 1
KINDS = ("op", "block", "network", "zoo")
SHARD_SIZE = {"op": 5000, "block": 2000, "network": 100, "zoo": 1}
FORMATS = ("parquet", "npz")
TABLES = ("layers", "pairs", "hardware")
PAIR_FLOAT_COLUMNS = ("total_cycles", "compute_cycles", "stall_cycles", "latency_ms", "energy_pj", "dram_bytes",
                      "sram_bytes", "macs", "params", "param_bytes", "peak_activation_bytes", "memory_bytes",
                      "memory_budget_bytes")


def _default_network_spaces() -> tuple:
    return (NetworkSpace(), NetworkSpace(channel_mode="free"), NetworkSpace(channel_multiple=32),
            NetworkSpace(heads=("classifier", "ssdlite", "lraspp", "deeplabv3"), output_strides=(8, 16, 32)))


@dataclass(frozen=True)
class DatasetRequest:
    """What to sample. Everything here (and the code version) goes into the content hash."""

    seed: int = 0
    operators: int = 20000            # single operators (with their helper layers), each on a fresh config
    blocks: int = 5000                # IBN / fused-IBN / residual / SE blocks, each on a fresh config
    networks: int = 500               # genomes from the network spaces, each on hw_per_network pool configs
    zoo: tuple = ()                   # accelsim zoo models (default options), each on every pool config
    hardware: int = 64                # pool size; config 0 is the base itself
    hardware_seed: int = 0            # pool config i depends only on (hardware_seed, i)
    hw_per_network: int = 4           # config 0 plus random others from the pool
    network_variety: float = 0.5      # share of sampled networks given squeeze-excite, activations and a
                                      # hidden classifier layer drawn per stage (the zoo's structures)
    network_spaces: tuple = field(default_factory=_default_network_spaces)
    # configs: by default every latency-relevant field over ranges holding every shipped config
    # (DatasetHardwareSpace); a search's HardwareSpace samples only that search's choices
    hardware_space: "DatasetHardwareSpace | HardwareSpace" = field(default_factory=DatasetHardwareSpace)
    format: str = "parquet"
    adaptive_model: str = ""          # estimator checkpoint: keep the samples it predicts worst
    adaptive_oversample: int = 4      # candidates simulated per kept sample in adaptive mode

    def validate(self) -> None:
        for name in ("operators", "blocks", "networks"):
            if getattr(self, name) < 0:
                raise CodesignError(f"dataset request: {name}: expected a count >= 0, got {getattr(self, name)}")
        if self.hardware < 1:
            raise CodesignError(f"dataset request: hardware: expected a pool of >= 1 configs, got {self.hardware}")
        if not 1 <= self.hw_per_network <= self.hardware:
            raise CodesignError(f"dataset request: hw_per_network: expected 1..{self.hardware} (the pool size), "
                                f"got {self.hw_per_network}")
        if self.format not in FORMATS:
            raise CodesignError(f"dataset request: format: expected one of {', '.join(FORMATS)}, got {self.format!r}")
        if not isinstance(self.hardware_space, (DatasetHardwareSpace, HardwareSpace)):
            raise CodesignError(f"dataset request: hardware_space: expected a DatasetHardwareSpace or HardwareSpace, "
                                f"got {type(self.hardware_space).__name__}")
        if isinstance(self.network_variety, bool) or not isinstance(self.network_variety, (int, float)) \
                or not 0 <= self.network_variety <= 1:
            raise CodesignError(f"dataset request: network_variety: expected a share in [0, 1], "
                                f"got {self.network_variety!r}")
        if self.adaptive_oversample < 1:
            raise CodesignError("dataset request: adaptive_oversample: expected >= 1")
        if self.adaptive_model and not Path(self.adaptive_model).is_file():
            raise CodesignError(f"dataset request: adaptive model {self.adaptive_model}: no such file")
        if self.zoo:
            from accelsim.workload.zoo import MODELS
            for name in self.zoo:
                if name not in MODELS:
                    raise CodesignError(f"dataset request: zoo model {name!r}: unknown; known: {', '.join(MODELS)}")
        if self.format == "parquet":
            from accelsim.extras import require
            require("pyarrow", "codesign", "dataset request: format parquet", hint="or use format npz")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.adaptive_model:  # the model's content, not its path, decides the samples
            d["adaptive_model"] = _file_hash(self.adaptive_model)
        return d

    def identity(self) -> dict:
        """What the records are made from: the request (the base hardware's name or path and the
        adaptive model's path left out), the base hardware config in full, the adaptive model's
        checksum and the engine model version."""
        from ..identity import identity
        request = dataclasses.asdict(self)
        request["hardware_space"].pop("base")
        request["adaptive_model"] = bool(self.adaptive_model)
        try:
            base = self.hardware_space.base_hardware()
        except AccelsimError as exc:
            raise CodesignError(f"dataset request: base hardware: {exc}") from None
        return identity({"kind": "dataset", "dataset_version": DATASET_VERSION, "hardware": base,
                         "request": request, "files": {"adaptive estimator checkpoint": self.adaptive_model or None}})

    def content_hash(self, ident: dict | None = None) -> str:
        from ..identity import fingerprint
        return fingerprint(ident if ident is not None else self.identity())[:20]

    def shard_tasks(self) -> list[tuple]:
        """(kind, index, count) per shard, in a fixed order."""
        tasks = []
        counts = {"op": self.operators, "block": self.blocks, "network": self.networks, "zoo": len(self.zoo)}
        for kind in KINDS:
            n, size = counts[kind], SHARD_SIZE[kind]
            for i in range(-(-n // size)):
                tasks.append((kind, i, min(size, n - i * size)))
        return tasks


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def code_version() -> str:
    """Version string of everything a record depends on: the engine model version of
    :mod:`codesign.identity` (all of accelsim but its CLI and plots, and the codesign modules that
    compute results, this sampler included)."""
    from ..identity import engine_model_version
    return engine_model_version()[:16]


# ------------------------------------------------------------------------------------ sampling
_LEVEL_RES = (224, 192, 160, 128, 96, 64, 32)


def _channels(rng, level: int, hw: Hardware, lo: int = 1, hi: int = 2048, multiple_of: int = 1) -> int:
    """Realistic channel counts (wider at lower resolution), aligned or not to the array width."""
    c = 16 * 2 ** level * np.exp(rng.uniform(np.log(0.5), np.log(3.0)))
    u = rng.random()
    if u < 0.45:
        m = int(rng.choice((8, 16, 32)))
    elif u < 0.65:
        m = hw.array.cols
    else:
        m = 1
    m = int(np.lcm(m, multiple_of))
    c = max(m, int(round(c / m)) * m)
    return int(np.clip(c, max(lo, m), max(hi, m)) // m * m)


def _spatial(rng) -> tuple:
    level = int(rng.integers(0, 6))
    res = int(rng.choice(_LEVEL_RES))
    h = max(1, res // 2 ** level)
    w = h if rng.random() < 0.9 else max(1, int(h * rng.uniform(0.25, 2.0)))
    return level, h, w


def _precisions(rng, hw: Hardware) -> tuple:
    names = hw.precision_names
    w = str(rng.choice(names))
    a = w if rng.random() < 0.7 else str(rng.choice(names))
    return w, a


def sample_operator(rng: np.random.Generator, hw: Hardware, name: str) -> tuple[Network, dict]:
    """One operator (conv k1/3/5/7 with strides and groups, depthwise, pooling, add, SE-style multiply,
    activation, FC, attention matmul, upsample) on realistic shapes, in formats ``hw`` supports."""
    level, h, w = _spatial(rng)
    wp, ap = _precisions(rng, hw)
    u = rng.random()
    spec: dict = {"level": level}
    if u < 0.36:
        groups = 1 if rng.random() < 0.85 else int(rng.choice((2, 4, 8)))
        cin = 3 if rng.random() < 0.04 and groups == 1 else _channels(rng, level, hw, multiple_of=groups)
        cout = _channels(rng, level, hw, multiple_of=groups)
        k = int(rng.choice((1, 3, 5, 7), p=(0.45, 0.35, 0.12, 0.08)))
        s = int(rng.choice((1, 2), p=(0.75, 0.25)))
        spec.update(op="conv", kernel=k, stride=s, groups=groups)
        b = NetworkBuilder(name, (h, w, cin), ap, wp)
        b.conv(b.input, cout, k, s, groups=groups, activation="relu")
    elif u < 0.56:
        c = _channels(rng, level, hw)
        k = int(rng.choice((3, 5, 7), p=(0.6, 0.3, 0.1)))
        s = int(rng.choice((1, 2), p=(0.75, 0.25)))
        spec.update(op="depthwise", kernel=k, stride=s)
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        b.depthwise(b.input, k, s, activation="relu6")
    elif u < 0.64:
        c = _channels(rng, level, hw)
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        if rng.random() < 0.3:
            spec.update(op="global_pool")
            b.global_avg_pool(b.input)
        else:
            k = int(rng.choice((2, 3)))
            s = int(rng.choice((1, 2)))
            kind = str(rng.choice(("max", "avg")))
            spec.update(op="pool", kernel=k, stride=s, kind=kind)
            b = NetworkBuilder(name, (max(h, k), max(w, k), c), ap, wp)
            b.pool(b.input, k, s, padding=(k - 1) // 2, kind=kind)
    elif u < 0.73:
        c = _channels(rng, level, hw)
        spec.update(op="add")
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        b.add(b.input, b.input)
    elif u < 0.76:
        c = _channels(rng, level, hw)
        spec.update(op="mul")
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        b.mul(b.input, b.global_avg_pool(b.input))
    elif u < 0.80:
        c = _channels(rng, level, hw)
        spec.update(op="act")
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        b.activation(b.input, str(rng.choice(("relu", "hswish", "sigmoid"))))
    elif u < 0.91:
        cin = int(np.exp(rng.uniform(np.log(16), np.log(4096))))
        cout = int(np.exp(rng.uniform(np.log(10), np.log(4096))))
        if rng.random() < 0.5:
            m = int(rng.choice((8, 16, 32)))
            cin, cout = max(m, cin // m * m), max(m, cout // m * m)
        spec.update(op="fc")
        b = NetworkBuilder(name, (1, 1, cin), ap, wp)
        b.linear(b.input, cout)
    elif u < 0.96:
        tokens = int(np.exp(rng.uniform(np.log(16), np.log(1024))))
        heads = int(rng.choice((1, 2, 4, 8)))
        dim = int(rng.choice((16, 32, 48, 64, 96)))
        spec.update(op="matmul", tokens=tokens, heads=heads)
        b = NetworkBuilder(name, (tokens, heads, dim), ap, ap)
        kproj = b.conv(b.input, dim, 1)
        scores = b.matmul(b.input, kproj, transpose_b=True)
        b.matmul(scores, kproj)
    else:
        c = _channels(rng, min(level + 2, 5), hw)
        h, w = max(1, h // 2), max(1, w // 2)
        mode = str(rng.choice(("nearest", "bilinear")))
        spec.update(op="upsample", mode=mode)
        b = NetworkBuilder(name, (h, w, c), ap, wp)
        b.upsample(b.input, 2, mode)
    spec.update(wp=wp, ap=ap, shape=[h, w])
    return b.build(), spec


def sample_block(rng: np.random.Generator, hw: Hardware, name: str) -> tuple[Network, dict]:
    """One IBN, fused-IBN, residual basic block or IBN with squeeze-excite, on realistic shapes."""
    level, h, w = _spatial(rng)
    wp, ap = _precisions(rng, hw)
    cin = _channels(rng, level, hw, hi=640)
    cout = cin if rng.random() < 0.4 else _channels(rng, level, hw, hi=640)
    kind = str(rng.choice(("ibn", "fused_ibn", "basic", "se_ibn"), p=(0.45, 0.35, 0.1, 0.1)))
    k = int(rng.choice((3, 5, 7), p=(0.6, 0.3, 0.1)))
    e = int(rng.choice((1, 3, 4, 6)))
    s = int(rng.choice((1, 2), p=(0.7, 0.3)))
    b = NetworkBuilder(name, (h, w, cin), ap, wp)
    if kind == "ibn":
        b.ibn(b.input, cout, e, k, s)
    elif kind == "fused_ibn":
        b.fused_ibn(b.input, cout, e, k, s)
    elif kind == "basic":
        y = b.conv(b.input, cout, 3, s, activation="relu")
        y = b.conv(y, cout, 3)
        sc = b.input if (s == 1 and cin == cout) else b.conv(b.input, cout, 1, s)
        b.add(y, sc, activation="relu")
    else:
        mid = cin * e
        y = b.conv(b.input, mid, 1, activation="hswish") if e > 1 else b.input
        y = b.depthwise(y, k, s, activation="hswish")
        gate = b.global_avg_pool(y)
        gate = b.conv(gate, max(8, mid // 4), 1, activation="relu")
        gate = b.conv(gate, mid, 1, activation="hsigmoid")
        y = b.mul(y, gate)
        y = b.conv(y, cout, 1)
        if s == 1 and cin == cout:
            b.add(b.input, y)
    return b.build(), {"block": kind, "kernel": k, "expansion": e, "stride": s, "cin": cin, "cout": cout,
                       "shape": [h, w], "wp": wp, "ap": ap}


# ------------------------------------------------------------------------------------ shards
def _shard_rng(seed: int, kind: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(KINDS.index(kind), index)))


def _workloads(req: DatasetRequest, kind: str, index: int, count: int, base: Hardware, pool_cache: dict):
    """(workloads, hardware configs, pairs (net index, hw index), workload metadata, hw pool index)."""
    rng = _shard_rng(req.seed, kind, index)
    nets, hws, pair_net, pair_hw, meta, pool_index = [], [], [], [], [], []
    if kind in ("op", "block"):
        sampler = sample_operator if kind == "op" else sample_block
        n_draw = count * (req.adaptive_oversample if req.adaptive_model else 1)
        for j in range(n_draw):
            hw = build_hardware(base, req.hardware_space.sample(rng))
            net, spec = sampler(rng, hw, f"{kind}{index}.{j}")
            nets.append(net)
            hws.append(hw)
            pool_index.append(-1)
            pair_net.append(j)
            pair_hw.append(j)
            meta.append(json.dumps(spec, sort_keys=True))
        return nets, hws, pair_net, pair_hw, meta, pool_index
    key = ("pool", req.hardware_space, req.hardware_seed, req.hardware)
    if key not in pool_cache:
        pool_cache[key] = hardware_pool(req.hardware_space, req.hardware_seed, req.hardware)
    pool = pool_cache[key]
    hws = list(pool)
    pool_index = list(range(len(pool)))
    if kind == "network":
        for j in range(count):
            space = req.network_spaces[int(rng.integers(len(req.network_spaces)))]
            genome = space.sample(rng)
            if rng.random() < req.network_variety:
                genome = _varied(genome, rng)
            nets.append(build_network(genome))
            meta.append(json.dumps(genome.to_dict(), sort_keys=True))
            others = rng.choice(np.arange(1, len(pool)), size=req.hw_per_network - 1, replace=False) \
                if req.hw_per_network > 1 else []
            for h in [0, *sorted(int(o) for o in others)]:
                pair_net.append(j)
                pair_hw.append(h)
    else:  # zoo
        from accelsim.workload.zoo import load_model
        name = req.zoo[index]
        nets.append(load_model(name))
        meta.append(json.dumps({"zoo": name}))
        for h in range(len(pool)):
            pair_net.append(0)
            pair_hw.append(h)
    return nets, hws, pair_net, pair_hw, meta, pool_index


def _varied(genome, rng: np.random.Generator):
    """``genome`` with squeeze-excite and activations drawn per stage, a network activation and a hidden
    classifier layer: the structures of MobileNetV3 and EfficientNet that a search space's genomes lack
    (long-lived gate inputs, element-wise products, hard-swish), so the estimator has seen them."""
    from ..spaces.space import ACTIVATIONS, SE_KINDS
    stages = tuple(dataclasses.replace(st, se=str(rng.choice(("",) + SE_KINDS)),
                                       activation=str(rng.choice(("",) + ACTIVATIONS))) for st in genome.stages)
    return dataclasses.replace(genome, stages=stages, activation=str(rng.choice(("",) + ACTIVATIONS)),
                               classifier_hidden=int(rng.choice((0, 0, 1024, 1280))))


def _workload_key(net: Network) -> str:
    """Content hash of the layer structure (names excluded), so the same network is the same key."""
    from accelsim.engine.simulate import packed_network
    return hashlib.sha256(packed_network(net).tobytes()).hexdigest()[:16]


def _adaptive_keep(req: DatasetRequest, result, count: int) -> np.ndarray:
    """Indices of the ``count`` pairs whose latency the estimator predicts worst."""
    from .model import Estimator
    est = Estimator.load(req.adaptive_model)
    feas = result.feasible.reshape(-1)
    pred = est.predict_pairs([result.networks[i] for i in result.pair_net],   # extrapolations are what it
                             [result.hardware[i] for i in result.pair_hw],   # looks for: no warning
                             out_of_range="ignore")["cycles"]
    true = result.total_cycles.reshape(-1)
    err = np.where(feas, np.abs(np.log(np.maximum(pred, 1e-9) / np.where(feas, true, 1.0))), -1.0)
    return np.sort(np.argsort(-err, kind="stable")[:count])


def run_shard(req: DatasetRequest, kind: str, index: int, count: int, _cache: dict | None = None) -> dict:
    """Sample, simulate and assemble one shard's tables (no I/O)."""
    from accelsim.engine.simulate import simulate_many
    cache = _cache if _cache is not None else {}
    key = ("base", req.hardware_space.base)
    if key not in cache:
        cache[key] = req.hardware_space.base_hardware()
    base = cache[key]
    nets, hws, pair_net, pair_hw, meta, pool_index = _workloads(req, kind, index, count, base, cache)
    result = simulate_many([nets[i] for i in pair_net], [hws[i] for i in pair_hw], pairs=True)
    keep = np.arange(len(pair_net))
    if req.adaptive_model and kind in ("op", "block"):
        keep = _adaptive_keep(req, result, count)
    return _tables(kind, nets, hws, np.asarray(pair_net)[keep], np.asarray(pair_hw)[keep], meta, pool_index,
                   result, keep)


def _tables(kind, nets, hws, pair_net, pair_hw, meta, pool_index, result, keep) -> dict:
    sizes = np.array([len(nets[i].layers) for i in pair_net], dtype=np.int64)
    layer_start = np.cumsum(sizes) - sizes
    used_hw = sorted(set(int(h) for h in pair_hw))
    hw_row = {h: r for r, h in enumerate(used_hw)}
    hw_list = [hws[h] for h in used_hw]
    keys = [hardware_key(h) for h in hw_list]

    # layer rows: the engine's layer table and its outputs, pair by pair
    src_cols = np.concatenate([np.arange(result.row_start[p], result.row_start[p] + s) for p, s in zip(keep, sizes)]) \
        if len(keep) else np.zeros(0, dtype=np.int64)
    from accelsim.engine.simulate import packed_network
    lay = np.concatenate([packed_network(nets[i]) for i in pair_net], axis=1) if len(pair_net) else \
        np.zeros((T.N_LAYER_FIELDS, 0))
    out = result.per_layer[:, src_cols]
    layers = {"pair": np.repeat(np.arange(len(pair_net)), sizes),
              "layer_index": np.concatenate([np.arange(s) for s in sizes]) if len(sizes) else np.zeros(0, np.int64)}
    for i, name in enumerate(F.LAYER_COLUMNS):
        layers[name] = lay[i]
    for i, name in enumerate(F.OUT_COLUMNS):
        layers[name] = out[i]

    wkeys = {i: _workload_key(nets[i]) for i in set(int(n) for n in pair_net)}
    feas = result.feasible.reshape(-1)[keep]
    pairs = {"pair": np.arange(len(pair_net)), "kind": np.array([kind] * len(pair_net), dtype=str),
             "workload": np.array([wkeys[int(i)] for i in pair_net], dtype=str),
             "name": np.array([nets[i].name for i in pair_net], dtype=str),
             "spec": np.array([meta[i] for i in pair_net], dtype=str),
             "hw": np.array([keys[hw_row[int(h)]] for h in pair_hw], dtype=str),
             "hw_row": np.array([hw_row[int(h)] for h in pair_hw], dtype=np.int64),
             "hw_pool_index": np.array([pool_index[h] for h in pair_hw], dtype=np.int64),
             "layer_start": layer_start, "n_layers": sizes, "feasible": feas.astype(bool)}
    per = result.per_layer
    sums = {}
    for name, f in (("total_cycles", T.O_TOTAL), ("compute_cycles", T.O_COMPUTE), ("stall_cycles", T.O_STALL),
                    ("energy_pj", T.O_ENERGY)):
        sums[name] = np.add.reduceat(per[f], result.row_start)[keep] if per.shape[1] else np.zeros(len(keep))
    dram = np.add.reduceat(per[T.O_DRAM_R] + per[T.O_DRAM_W], result.row_start)[keep]
    sram = np.add.reduceat(per[T.O_SRAM_R] + per[T.O_SRAM_W], result.row_start)[keep]
    clock = np.array([hws[h].array.clock_mhz for h in pair_hw])
    pairs.update(sums)
    pairs["latency_ms"] = np.where(feas, sums["total_cycles"] / (clock * 1e3), np.inf)
    pairs["dram_bytes"] = dram
    pairs["sram_bytes"] = sram
    pairs["macs"] = np.array([nets[i].macs for i in pair_net], dtype=float)
    pairs["params"] = np.array([nets[i].params for i in pair_net], dtype=float)
    mem = [memory_figures(nets[i], hws[h]) for i, h in zip(pair_net, pair_hw)]
    pairs["param_bytes"] = np.array([m.param_bytes for m in mem], dtype=float)
    pairs["peak_activation_bytes"] = np.array([m.peak_activation_bytes for m in mem], dtype=float)
    pairs["memory_bytes"] = pairs["param_bytes"] + pairs["peak_activation_bytes"]
    pairs["memory_budget_bytes"] = np.array([hws[h].memory_budget_mb * 1024.0 ** 2 for h in pair_hw])
    pairs["budget_ok"] = pairs["memory_bytes"] <= pairs["memory_budget_bytes"]

    hardware = {"hw": np.array(keys, dtype=str), "name": np.array([h.name for h in hw_list], dtype=str),
                "pool_index": np.array([pool_index[h] for h in used_hw], dtype=np.int64),
                "config": np.array([json.dumps(dataclasses.asdict(h), sort_keys=True) for h in hw_list], dtype=str)}
    hardware.update(F.hardware_table(hw_list))
    return {"layers": layers, "pairs": pairs, "hardware": hardware}


# ------------------------------------------------------------------------------------ files
def _write_table(path: Path, table: dict, fmt: str) -> None:
    if fmt == "npz":
        with open(path.with_suffix(".npz"), "wb") as fh:
            np.savez(fh, **table)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table({k: pa.array(v) for k, v in table.items()}), path.with_suffix(".parquet"))


def _read_table(path: Path) -> dict:
    if path.with_suffix(".npz").exists():
        try:
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise CodesignError(f"{path.with_suffix('.npz')}: unreadable shard table ({exc})") from None
    p = path.with_suffix(".parquet")
    if p.exists():
        from accelsim.extras import require
        pq = require("pyarrow.parquet", "codesign", f"{p}: reading Parquet")
        try:
            tbl = pq.read_table(p)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise CodesignError(f"{p}: unreadable shard table ({exc})") from None
        return {name: _column(tbl.column(name)) for name in tbl.column_names}
    raise CodesignError(f"{path}: missing shard table (expected .parquet or .npz)")


def _column(col) -> np.ndarray:
    arr = col.to_numpy()
    if arr.dtype == object:
        return arr.astype(str)
    return arr


def shard_name(kind: str, index: int) -> str:
    return f"{kind}-{index:05d}"


def write_shard(shard_dir: Path, tables: dict, fmt: str) -> None:
    """Write the tables into a temporary folder (``.tmp-<shard>-<pid>``) and rename it into place (all
    or nothing). A shard folder already in place is kept: shard *i* depends only on the request and
    *i*, so one that another writer (a worker of a killed run, finishing its shard) renamed there first
    holds the same tables."""
    tmp = shard_dir.parent / f".tmp-{shard_dir.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for name in TABLES:
            _write_table(tmp / name, tables[name], fmt)
        try:
            os.replace(tmp, shard_dir)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not shard_dir.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_SHARD_TMP = re.compile(rf"\.tmp-(?:{'|'.join(KINDS)})-\d{{5,}}-(\d+)")      # write_shard's temporary folder


def _running(pid: int) -> bool:
    """Whether another process with this pid is running (this process's own pid: False)."""
    if pid == os.getpid() or pid <= 0:
        return False
    if os.name == "nt":      # os.kill would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # it exists, but belongs to another user
        return True
    return True


def remove_stale_temporaries(out: "str | os.PathLike") -> list[Path]:
    """Remove what killed writers left in dataset folder ``out``; the caller holds the folder's lock.

    ``.manifest.json.<random>.tmp`` files always go: only the process holding the lock writes the
    manifest. A shard's ``shards/.tmp-<shard>-<pid>`` folder goes when its writer is not running; one
    of a running process other than this one is left alone, since a worker of a killed ``processes``
    or Ray run (the workers hold no lock) may still be finishing its shard; a later resume removes it.
    Other names are not this module's and are left alone. Returns the removed paths."""
    out = Path(out)
    removed = []
    for p in leftover_temporaries(out / "manifest.json"):
        p.unlink(missing_ok=True)
        removed.append(p)
    shards = out / "shards"
    if shards.is_dir():
        for p in sorted(shards.iterdir()):
            m = _SHARD_TMP.fullmatch(p.name)
            if m and p.is_dir() and not p.is_symlink() and not _running(int(m.group(1))):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _shard_job(args) -> dict:
    req, kind, index, count, out_dir = args
    t0 = time.perf_counter()
    tables = run_shard(req, kind, index, count, _WORKER_CACHE)
    write_shard(Path(out_dir) / "shards" / shard_name(kind, index), tables, req.format)
    return {"shard": shard_name(kind, index), "pairs": len(tables["pairs"]["pair"]),
            "layers": len(tables["layers"]["pair"]), "seconds": time.perf_counter() - t0}


_WORKER_CACHE: dict = {}   # a worker's networks and packed tables, kept across its shards


@dataclass
class GenerateResult:
    path: Path
    content_hash: str
    cached: bool                 # the whole request was already on disk: no engine work
    computed_shards: int         # shards simulated by this call
    skipped_shards: int          # shards found on disk (a resumed run)
    pairs: int                   # records (workload x hardware) in the dataset
    layers: int                  # layer rows in the dataset
    seconds: float
    moved_aside: Path | None = None   # force_new: where the folder's earlier contents went

    @property
    def records_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else float("inf")


def generate(req: DatasetRequest, out: "str | os.PathLike", runner: str = "serial", workers: int | None = None,
             progress: bool = True, on_shard=None, force_new: bool = False) -> GenerateResult:
    """Make (or finish, or find) the dataset for ``req`` in folder ``out``.

    ``runner`` is ``serial``, ``processes`` (``workers`` local processes, spawned, one numba thread
    each) or ``ray`` (needs Ray installed). ``on_shard(summary)`` is called after each shard is on disk.
    The folder is locked for the call; one holding another request's records (or records made from
    another base hardware file or engine code, or by a codesign that stored no identity) is refused;
    ``force_new`` first moves a non-empty folder aside to ``out.old-<time>``.
    """
    from ..identity import claim_folder
    from ..runners import RUNNERS
    req.validate()
    if runner not in RUNNERS:
        raise CodesignError(f"runner {runner!r}: expected one of {', '.join(RUNNERS)}")
    out = Path(out)
    ident = req.identity()
    with claim_folder(out, force_new=force_new) as moved:
        r = _generate(req, ident, out, runner, workers, progress, on_shard)
    r.moved_aside = moved
    return r


def _generate(req: DatasetRequest, ident: dict, out: Path, runner: str, workers: int | None, progress: bool,
              on_shard) -> GenerateResult:
    from ..identity import FORCE_NEW_HINT, describe_change
    digest = req.content_hash(ident)
    manifest_path = out / "manifest.json"
    manifest = None
    if manifest_path.exists():
        manifest = _read_manifest(manifest_path, f"corrupt dataset folder; {FORCE_NEW_HINT}")
        if not isinstance(manifest.get("identity"), dict):
            raise CodesignError(f"{out}: this dataset folder has no stored input identity (made by an older "
                                f"codesign), so it cannot be checked against this request; {FORCE_NEW_HINT}")
        if manifest.get("content_hash") != digest:
            raise CodesignError(f"{out}: holds a dataset of another request or other inputs "
                                f"({describe_change(manifest['identity'], ident)}); {FORCE_NEW_HINT}")
    elif (out / "shards").is_dir() and any((out / "shards").iterdir()):
        raise CodesignError(f"{out}: holds dataset shards but no manifest.json, so they cannot be checked against "
                            f"this request; {FORCE_NEW_HINT}")
    # a killed run's temporaries: this request's folder (or a new one), and this process holds its lock
    remove_stale_temporaries(out)
    if manifest is not None and manifest.get("complete"):
        _check_complete_manifest(manifest_path, manifest, f"corrupt dataset folder; {FORCE_NEW_HINT}")
        return GenerateResult(out, digest, True, 0, len(manifest["shards"]), manifest["pairs"],
                              manifest["layers"], 0.0)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    tasks = req.shard_tasks()
    names = [shard_name(k, i) for k, i, _ in tasks]
    manifest = {"content_hash": digest, "code_version": ident["engine_model"][:16], "codesign_version": __version__,
                "dataset_version": DATASET_VERSION, "request": req.to_dict(), "identity": ident, "shards": names,
                "complete": False}
    write_json(manifest_path, manifest, sort_keys=True, default=str)
    pending = [(req, k, i, c, str(out)) for (k, i, c), name in zip(tasks, names)
               if not (out / "shards" / name).is_dir()]
    skipped = len(tasks) - len(pending)
    t0 = time.perf_counter()
    from tqdm import tqdm
    bar = tqdm(total=len(tasks), initial=skipped, unit="shard", desc="dataset", disable=not progress)
    done_pairs = 0

    def finished(summary):
        nonlocal done_pairs
        done_pairs += summary["pairs"]
        bar.update(1)
        bar.set_postfix(records=done_pairs)
        if on_shard is not None:
            on_shard(summary)

    try:
        from ..runners import make_runner
        pool = make_runner("serial" if len(pending) <= 1 else runner, workers=workers)
        try:
            for summary in pool.imap_unordered(_shard_job, pending):
                finished(summary)
        finally:
            pool.close()
    finally:
        bar.close()
    pairs = layers = 0
    for name in names:
        t = _read_table(out / "shards" / name / "pairs")
        pairs += len(t["pair"])
        layers += int(t["n_layers"].sum())
    manifest.update(complete=True, pairs=pairs, layers=layers)
    write_json(manifest_path, manifest, sort_keys=True, default=str)
    return GenerateResult(out, digest, False, len(pending), skipped, pairs, layers, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ loading
@dataclass
class Dataset:
    """All shards of one or more dataset folders: ``layers``/``pairs``/``hardware`` column dicts.

    ``layers["pair"]`` indexes ``pairs`` rows and ``pairs["hw_row"]`` indexes ``hardware`` rows
    (configs deduplicated by key across shards and folders).
    """

    layers: dict
    pairs: dict
    hardware: dict
    sources: tuple

    @property
    def n_pairs(self) -> int:
        return len(self.pairs["pair"])

    def layer_table(self, rows: np.ndarray | None = None) -> np.ndarray:
        idx = slice(None) if rows is None else rows
        return np.stack([np.asarray(self.layers[c], dtype=np.float64)[idx] for c in F.LAYER_COLUMNS])

    def layer_hw_rows(self) -> np.ndarray:
        return self.pairs["hw_row"][self.layers["pair"]]

    def layer_network_figures(self, rows: np.ndarray | None = None) -> dict:
        """Per layer row: its network's figures on its config (``features.NET_COLUMNS``)."""
        pair = self.layers["pair"] if rows is None else self.layers["pair"][rows]
        return {k: self.pairs[k][pair] for k in F.NET_COLUMNS}

    def layer_inputs(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """(layer table ``[field, row]``, per-row hardware columns) for all layer rows or ``rows``."""
        hw_row = self.layer_hw_rows() if rows is None else self.layer_hw_rows()[rows]
        return self.layer_table(rows), F.take_rows({k: self.hardware[k] for k in F.HW_COLUMNS}, hw_row)


def _read_manifest(mp: Path, hint: str = "corrupt dataset folder") -> dict:
    """A dataset's manifest.json as a mapping; unreadable, non-UTF-8, non-JSON or not a mapping is one
    line naming the file."""
    try:
        manifest = json.loads(mp.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CodesignError(f"{mp}: expected UTF-8 JSON, found byte 0x{exc.object[exc.start]:02x} at byte offset "
                            f"{exc.start} ({hint})") from None
    except json.JSONDecodeError:
        raise CodesignError(f"{mp}: not valid JSON ({hint})") from None
    except OSError as exc:
        raise CodesignError(f"{mp}: cannot read ({exc.strerror})") from None
    if not isinstance(manifest, dict):
        raise CodesignError(f"{mp}: expected a JSON object (a dataset manifest), got a {type(manifest).__name__} "
                            f"({hint})")
    return manifest


def _check_complete_manifest(mp: Path, manifest: dict, hint: str = "corrupt dataset folder") -> None:
    """A complete manifest's shard list and counts have the right shape (so loading fails here, naming
    the file, rather than deep inside)."""
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(n, str) and n and "/" not in n and ".." not in n
                                               for n in shards):
        raise CodesignError(f"{mp}: shards: expected a list of shard folder names, got "
                            f"{repr(shards)[:60]} ({hint})")
    for key in ("pairs", "layers"):
        v = manifest.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CodesignError(f"{mp}: {key}: expected a record count >= 0, got {repr(v)[:60]} ({hint})")


def load_dataset(paths) -> Dataset:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    parts = []
    for p in paths:
        p = Path(p)
        mp = p / "manifest.json"
        if not mp.exists():
            raise CodesignError(f"{p}: not a codesign dataset (no manifest.json); make one with `codesign dataset`")
        manifest = _read_manifest(mp)
        if manifest.get("complete") is not True:
            raise CodesignError(f"{p}: dataset is incomplete (a run was stopped); run the same "
                                "`codesign dataset` command again to finish it")
        _check_complete_manifest(mp, manifest)
        for name in manifest["shards"]:
            parts.append({t: _read_table(p / "shards" / name / t) for t in TABLES})
    if not parts:
        raise CodesignError(f"{', '.join(map(str, paths))}: dataset holds no records")
    cat = lambda tabs: {k: np.concatenate([t[k] for t in tabs]) for k in tabs[0]}
    hw_all = cat([part["hardware"] for part in parts])
    keys, first, inverse = np.unique(hw_all["hw"], return_index=True, return_inverse=True)
    hardware = {k: v[first] for k, v in hw_all.items()}
    layers, pairs = [], []
    pair_offset = layer_offset = hw_offset = 0
    for part in parts:
        n_hw = len(part["hardware"]["hw"])
        remap = inverse[hw_offset:hw_offset + n_hw]
        hw_offset += n_hw
        pr = dict(part["pairs"])
        lr = dict(part["layers"])
        pr["hw_row"] = remap[pr["hw_row"]]
        lr["pair"] = lr["pair"] + pair_offset
        pr["pair"] = pr["pair"] + pair_offset
        pr["layer_start"] = pr["layer_start"] + layer_offset
        pair_offset += len(pr["pair"])
        layer_offset += len(lr["pair"])
        layers.append(lr)
        pairs.append(pr)
    return Dataset(cat(layers), cat(pairs), hardware, tuple(str(p) for p in paths))
