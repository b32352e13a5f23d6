"""Training the supernet: ProxylessNAS's alternating weight and architecture steps, checkpoints and
the finished result.

:func:`weight_step` samples one path per position from softmax(alpha) and trains its weights on a
training batch; :func:`arch_step` samples two candidates per position, takes the BinaryConnect and
expected-latency gradients of the architecture loss on a held-out batch, steps the alphas and shifts
the sampled pair back to its total softmax mass. :func:`evaluate` measures one path's accuracy, after
re-estimating BatchNorm statistics for it. :func:`train_supernet` runs the search and returns a
:class:`SupernetResult`; :func:`train_in_folder` is the ``codesign supernet`` command's run folder.

Randomness: weight initialisation from a ``torch.Generator`` seeded by ``seed``; batch order and
path samples from ``numpy`` generators keyed by (seed, stream, epoch or step), so a run resumed from
a checkpoint draws exactly what an uninterrupted run draws. No global RNG is touched.

Resuming: a checkpoint stores the identity of its inputs (:func:`run_identity`: the config, the
hardware config in full, the training data's checksum, the estimator's when it gives the latencies,
on a CPU the torch thread count, and the engine model version; see :mod:`codesign.identity`). A
checkpoint made from other inputs, or one without a stored identity, is refused with one line
naming what changed; the hardware alone may differ while the run is still in its warm-up.
:func:`train_in_folder` (``codesign supernet``) also locks its folder and, with ``force_new``, moves
an earlier run aside to ``DIR.old-<time>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.supernet.train"):
    import torch
    import torch.nn.functional as TF
    from torch import nn

from accelsim.config import Hardware
from accelsim.engine import simulate
from accelsim.io import load_checkpoint, write_atomic
from accelsim.io import save_checkpoint as write_checkpoint

from .. import __version__
from ..errors import CodesignError
from ..identity import check_same, claim_folder, describe_change, fingerprint, identity
from ..spaces.space import hardware_key
from .config import _RESUME_NEUTRAL, SupernetConfig
from .data import as_arrays
from .latency import LatencyTable, _load_hw, latency_table
from .model import DerivedArch, Supernet, binary_gate_alpha_grad, combine_loss, derive
from .skeleton import positions

CHECKPOINT_FORMAT = "codesign-supernet"
CHECKPOINT_VERSION = 1
# Random streams (the first spawn-key entry), kept apart so adding draws to one never shifts another.
_STREAM_SPLIT, _STREAM_TRAIN, _STREAM_VAL, _STREAM_PATH, _STREAM_ARCH = range(5)


# ------------------------------------------------------------------------------------ sampling and steps
def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def _np_probs(alpha: torch.Tensor) -> np.ndarray:
    p = torch.softmax(alpha.detach().double(), dim=0).cpu().numpy()
    return p / p.sum()


def sample_path(supernet: Supernet, rng: np.random.Generator) -> list:
    """One candidate per position, drawn from softmax(alpha) (the binarised path of a weight step)."""
    return [int(rng.choice(len(p), p=p)) for p in (_np_probs(m.alpha) for m in supernet.mixed)]


def sample_pairs(supernet: Supernet, rng: np.random.Generator) -> tuple:
    """Per position (active, inactive): two distinct candidates drawn by softmax(alpha), then the
    active one drawn from the softmax over the two. Single-candidate positions get (0, None)."""
    active, inactive = [], []
    for m in supernet.mixed:
        n = len(m.alpha)
        if n == 1:
            active.append(0)
            inactive.append(None)
            continue
        pair = rng.choice(n, size=2, replace=False, p=_np_probs(m.alpha))
        c = int(rng.choice(2, p=_np_probs(m.alpha[torch.as_tensor(pair, device=m.alpha.device)])))
        active.append(int(pair[c]))
        inactive.append(int(pair[1 - c]))
    return active, inactive


def arch_step(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, table: LatencyTable, target_ms: float,
              optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> dict:
    """One architecture update (two-path binary gates + expected-latency gradient, then rescaling)."""
    cfg = supernet.cfg
    active, inactive = sample_pairs(supernet, rng)
    dev = x.device
    gates = [None if b is None else torch.tensor([1.0, 0.0], device=dev, requires_grad=True) for b in inactive]
    weights = supernet.weight_parameters()
    # Weight gradients are not needed here; turning them off saves most of the backward pass.
    flags = [p.requires_grad for p in weights]
    for p in weights:
        p.requires_grad_(False)
    try:
        logits = supernet(x, active, inactive, gates)
        ce = TF.cross_entropy(logits, y)
        expected = supernet.expected_latency_ms(table)
        loss = combine_loss(ce, expected, cfg, target_ms)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
    finally:
        for p, f in zip(weights, flags):
            p.requires_grad_(f)
    before, lat_parts, ce_parts = [], [], []
    with torch.no_grad():
        for m, a, b, g in zip(supernet.mixed, active, inactive, gates):
            if m.alpha.grad is None:
                m.alpha.grad = torch.zeros_like(m.alpha)
            lat_parts.append(m.alpha.grad.clone())
            ce_parts.append(torch.zeros_like(m.alpha))
            if g is None:
                before.append(None)
                continue
            idx = torch.tensor([a, b], device=m.alpha.device)
            old = m.alpha[idx].clone()
            ce_parts[-1][idx] = binary_gate_alpha_grad(old, g.grad.to(old.dtype))
            m.alpha.grad += ce_parts[-1]
            before.append((idx, old))
    optimizer.step()
    with torch.no_grad():
        for m, saved in zip(supernet.mixed, before):
            if saved is None:
                continue
            idx, old = saved
            new = m.alpha[idx]
            # Keep the two sampled candidates' total softmax mass: the others' odds stay put.
            m.alpha[idx] = new - (torch.logsumexp(new, 0) - torch.logsumexp(old, 0))
    # Root-mean-square alpha gradient of each loss term over all alphas: which one steers the search.
    rms = [float(torch.cat(parts).pow(2).mean().sqrt()) for parts in (lat_parts, ce_parts)]
    return {"arch_ce": float(ce.detach()), "arch_loss": float(loss.detach()),
            "expected_latency_ms": float(expected.detach()), "latency_grad_rms": rms[0], "ce_grad_rms": rms[1]}


def weight_step(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                rng: np.random.Generator) -> dict:
    """One weight update along a single path sampled from softmax(alpha)."""
    path = sample_path(supernet, rng)
    logits = supernet(x, path)
    ce = TF.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)   # unsampled candidates keep grad None: SGD leaves them alone
    ce.backward()
    optimizer.step()
    acc = float((logits.detach().argmax(1) == y).float().mean())
    return {"train_ce": float(ce.detach()), "train_acc": acc}


@torch.no_grad()
def evaluate(supernet: Supernet, x: torch.Tensor, y: torch.Tensor, path: Sequence[int],
             calibration: torch.Tensor | None = None, batch_size: int = 256) -> float:
    """Accuracy of one path. With ``calibration`` images, BatchNorm statistics are first re-estimated
    for that path on a copy (running averages in the supernet mix every sampled path)."""
    net = supernet
    if calibration is not None:
        net = copy.deepcopy(supernet)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None   # cumulative average over the calibration batches
        net.train()
        for i in range(0, len(calibration), batch_size):
            net(calibration[i:i + batch_size], path)
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(x[i:i + batch_size], path).argmax(1) == y[i:i + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, len(x))



# ------------------------------------------------------------------------------------ checkpoints
def run_identity(cfg: SupernetConfig, hardware: Hardware, x: np.ndarray, y: np.ndarray, data=None, estimator=None,
                 estimator_path: "str | os.PathLike | None" = None, threads: int | None = None) -> dict:
    """The identity (:mod:`codesign.identity`) of a supernet run's inputs: the config (less the
    fields that do not change what is computed), ``hardware`` in full, the training data (the
    file's checksum when ``data`` is a path, else the arrays'), the estimator when it gives the
    latencies (its checkpoint's checksum, or its weights'), ``threads`` when given (torch's intra-op
    thread count on a CPU: it can change the last bits of every step) and the engine model version."""
    parts = {"kind": "supernet",
             "config": {k: v for k, v in cfg.to_dict().items() if k not in _RESUME_NEUTRAL},
             "hardware": hardware}
    if threads is not None:
        parts["threads"] = int(threads)
    files = {}
    if isinstance(data, (str, os.PathLike)):
        files["training data"] = data
    else:
        h = hashlib.sha256()
        for a in (x, y):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        parts["data"] = {"shape": list(x.shape), "sha256": h.hexdigest()}
    if cfg.latency_source == "estimator":
        if estimator_path is not None:
            files["estimator checkpoint"] = estimator_path
        else:
            parts["estimator"] = _estimator_digest(estimator)
    parts["files"] = files
    return identity(parts)


def _estimator_digest(estimator) -> str:
    """sha256 over an in-memory Estimator's mode, scale and weights (its type name for anything else)."""
    h = hashlib.sha256(type(estimator).__qualname__.encode())
    families = getattr(estimator, "families", None)
    if isinstance(families, dict):
        h.update(f"{getattr(estimator, 'mode', '')}/{getattr(estimator, 'output_scale', '')}".encode())
        for name in sorted(families):
            fm = families[name]
            h.update(name.encode())
            for k, v in fm.mlp.state_dict().items():
                h.update(k.encode())
                h.update(np.ascontiguousarray(v.detach().cpu().numpy()).tobytes())
            for a in (fm.x_mean, fm.x_std):
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_checkpoint(path: "str | os.PathLike", supernet: Supernet, weight_opt, arch_opt, step: int,
                    history: list, target_ms: float, hw_key: str, inputs: dict | None = None) -> None:
    """Weights, alphas, both optimizers' state, the step and ``inputs`` (the run's identity, see
    :func:`run_identity`), written atomically with :func:`accelsim.io.save_checkpoint`."""
    blob = {"codesign_version": __version__,
            "config": supernet.cfg.to_dict(), "hardware_key": hw_key, "step": int(step),
            "identity": json.dumps(inputs) if inputs is not None else None,
            "target_ms": float(target_ms),
            "model": {k: v.detach().cpu() for k, v in supernet.state_dict().items()},
            "weight_opt": _cpu(weight_opt.state_dict()), "arch_opt": _cpu(arch_opt.state_dict()),
            "history": history}
    write_checkpoint(path, blob, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def _cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def read_checkpoint(path: "str | os.PathLike") -> dict:
    """The checkpoint's contents, checked for format and version; a damaged file raises CodesignError."""
    path = Path(path)
    blob = load_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, what="supernet", error=CodesignError)
    if not isinstance(blob, dict):
        raise CodesignError(f"{path}: malformed supernet checkpoint (expected a mapping)")
    for key in ("config", "step", "model", "weight_opt", "arch_opt", "history", "target_ms", "hardware_key"):
        if key not in blob:
            raise CodesignError(f"{path}: malformed supernet checkpoint (no {key!r})")
    return blob


def _stored_identity(path: Path, blob: dict) -> "dict | None":
    text = blob.get("identity")
    if text is None:
        return None
    try:
        ident = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise CodesignError(f"{path}: malformed supernet checkpoint (unreadable identity)") from None
    return ident if isinstance(ident, dict) else None


def _resume(path: Path, blob: dict, cfg: SupernetConfig, ident: dict, table: LatencyTable, supernet: Supernet,
            weight_opt, arch_opt):
    stored = _stored_identity(path, blob)
    # everything but the hardware must match; the hardware may change while the warm-up lasts
    check_same(None if stored is None else {k: v for k, v in stored.items() if k != "hardware"},
               {k: v for k, v in ident.items() if k != "hardware"}, str(path), "this checkpoint")
    step, history, target_ms = int(blob["step"]), list(blob["history"]), float(blob["target_ms"])
    other_hw = fingerprint({"h": stored.get("hardware")}) != fingerprint({"h": ident["hardware"]})
    if other_hw and step > cfg.warmup_steps:
        change = describe_change({"hardware": stored.get("hardware")}, {"hardware": ident["hardware"]})
        raise CodesignError(f"{path}: checkpoint was written for another hardware config "
                            f"({change}) after architecture steps began; "
                            "rerun with --force-new to start afresh (the old folder is moved aside, not deleted) "
                            "or use another output folder")
    try:
        supernet.load_state_dict(blob["model"])
        weight_opt.load_state_dict(blob["weight_opt"])
        arch_opt.load_state_dict(blob["arch_opt"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CodesignError(f"{path}: malformed supernet checkpoint ({str(exc).splitlines()[0]})") from None
    if other_hw:
        # Before the first architecture step nothing depends on the hardware (alphas are still
        # uniform), so a warm-up can be shared between targets; only the latency bookkeeping changes.
        if cfg.target_ms is None:
            target_ms = table.uniform_ms()
        with torch.no_grad():
            e = float(supernet.expected_latency_ms(table))
        history = [{**r, "expected_latency_ms": e} for r in history]
    return step, history, target_ms


# ------------------------------------------------------------------------------------ training
@dataclass
class SupernetResult:
    """A finished search: the derived architecture, final probabilities, latencies and history."""

    config: SupernetConfig
    hardware: str
    derived: DerivedArch
    probs: tuple                    # per position: softmax(alpha) as a tuple of floats
    candidate_names: tuple          # per position: the candidates' names, in alpha order
    table: LatencyTable
    target_ms: float                # T of the latency loss
    expected_latency_ms: float      # E[lat] under the final softmax
    path_latency_ms: float          # table sum along the derived path (fixed parts included)
    simulated_latency_ms: float     # accelsim on the whole derived network
    val_accuracy: float             # derived path on the held-out split (BatchNorm re-estimated)
    history: list = field(default_factory=list)
    resumed_from: int = 0           # step the run started at (0 unless resumed)
    seconds: float = 0.0
    device: str = "cpu"
    moved_aside: "Path | None" = None   # train_in_folder with force_new: where the earlier run went

    @property
    def latency_gap_ms(self) -> float:
        """Simulated latency of the derived network minus the expected latency under the softmax."""
        return self.simulated_latency_ms - self.expected_latency_ms

    def choices(self) -> list:
        """Per position: name, chosen candidate and its probability."""
        return [{"position": p.name, "choice": c.name, "prob": float(self.probs[p.index][j]),
                 "latency_ms": float(self.table.block_ms[p.index][j])}
                for p, c, j in zip(positions(self.config), self.derived.choices, self.derived.path)]

    def summary(self) -> dict:
        return {"hardware": self.hardware, "choices": list(self.derived.names),
                "expected_latency_ms": self.expected_latency_ms, "path_latency_ms": self.path_latency_ms,
                "simulated_latency_ms": self.simulated_latency_ms, "latency_gap_ms": self.latency_gap_ms,
                "target_ms": self.target_ms, "val_accuracy": self.val_accuracy, "seconds": self.seconds,
                "device": self.device, "genome": self.derived.genome.to_dict() if self.derived.genome else None}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CodesignError(f"device {name!r}: CUDA is not available here")
    return torch.device(name)


def _batch(n: int, batch_size: int, seed: int, stream: int, step: int) -> np.ndarray:
    """Indices of batch ``step`` of a shuffled pass (reshuffled each epoch, last partial batch dropped)."""
    per_epoch = max(1, n // batch_size)
    epoch, b = divmod(step, per_epoch)
    perm = _rng(seed, stream, epoch).permutation(n)
    return perm[b * batch_size:(b + 1) * batch_size]


def train_supernet(cfg: SupernetConfig, data, hardware: "Hardware | str | None" = None, estimator=None,
                   checkpoint: "str | os.PathLike | None" = None, progress: bool = True,
                   log: Callable[[str], None] | None = None, stop_after: int | None = None,
                   estimator_path: "str | os.PathLike | None" = None, threads: int | None = None) -> SupernetResult:
    """Search with ProxylessNAS's alternating weight / architecture steps; return the derived network.

    ``data``: an .npz path (keys ``x`` (N, C, H, W) and ``y`` (N,)), an (x, y) pair, a dict or a
    torch Dataset. A ``val_fraction`` share is held out for architecture steps and the final
    accuracy. ``hardware`` (a config or name) overrides ``cfg.hardware``. With ``checkpoint``, state
    is saved there every ``checkpoint_every`` steps and at the end, and an existing file is resumed
    (it must come from the same config and hardware); a resumed run ends exactly as an
    uninterrupted one. A checkpoint taken before the first architecture step (``stop_after=
    cfg.warmup_steps``) may be resumed on another hardware config: the warm-up is shared.
    ``stop_after`` ends the run once that many steps are done (checkpoint written) and reports the
    state then. ``log`` receives a line every tenth of the run. ``estimator_path``: the checkpoint
    ``estimator`` was loaded from (its checksum then names it in the run's identity). ``threads``
    pins torch's intra-op thread count for the run (None: as it is); on a CPU device the count in
    effect is part of the run's identity, so a checkpoint resumes only with the count it started with.
    """
    from ..accuracy.proxies import torch_threads
    with torch_threads(threads):
        return _train_supernet(cfg, data, hardware, estimator, checkpoint, progress, log, stop_after,
                               estimator_path)


def _train_supernet(cfg: SupernetConfig, data, hardware, estimator, checkpoint, progress: bool, log, stop_after,
                    estimator_path) -> SupernetResult:
    t0 = time.perf_counter()
    hw = _load_hw(hardware if hardware is not None else cfg.hardware)
    hw_key = hardware_key(hw)
    device = resolve_device(cfg.device)
    x_all, y_all = as_arrays(data)
    where = str(data) if isinstance(data, (str, os.PathLike)) else "data"
    want = (cfg.in_channels, cfg.resolution, cfg.resolution)
    if tuple(x_all.shape[1:]) != want:
        raise CodesignError(f"{where}: images are {tuple(x_all.shape[1:])} (C, H, W), the supernet config "
                            f"expects {want}")
    if len(y_all) and y_all.max() >= cfg.num_classes:
        raise CodesignError(f"{where}: label {int(y_all.max())} is out of range for num_classes={cfg.num_classes}")
    perm = _rng(cfg.seed, _STREAM_SPLIT, 0).permutation(len(y_all))
    n_val = int(round(len(y_all) * cfg.val_fraction))
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if len(train_idx) < cfg.batch_size or len(val_idx) < cfg.batch_size:
        raise CodesignError(f"{where}: {len(train_idx)} training and {len(val_idx)} held-out samples; each split "
                            f"needs at least batch_size={cfg.batch_size}")
    x_tr = torch.from_numpy(x_all[train_idx]).to(device)
    y_tr = torch.from_numpy(y_all[train_idx]).to(device)
    x_va = torch.from_numpy(x_all[val_idx]).to(device)
    y_va = torch.from_numpy(y_all[val_idx]).to(device)

    table = latency_table(cfg, hw, estimator)
    threads = torch.get_num_threads() if device.type == "cpu" else None   # a GPU's sums do not depend on it
    ident = run_identity(cfg, hw, x_all, y_all, data, estimator, estimator_path, threads) \
        if checkpoint is not None else None
    net = Supernet(cfg, torch.Generator().manual_seed(cfg.seed)).to(device)
    weight_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.weight_lr, momentum=0.9, nesterov=True,
                                 weight_decay=cfg.weight_decay)
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.0, 0.999), eps=1e-8)
    target_ms = cfg.target_ms if cfg.target_ms is not None else table.uniform_ms()
    start, history = 0, []
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        start, history, target_ms = _resume(ckpt, read_checkpoint(ckpt), cfg, ident, table, net, weight_opt,
                                            arch_opt)
        if log:
            log(f"resumed {ckpt} at step {start}")

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=min(start, cfg.steps), unit="step", desc=f"supernet {hw.name}",
               disable=not progress)
    every = max(1, cfg.steps // 10)
    end = cfg.steps if stop_after is None else max(start, min(cfg.steps, int(stop_after)))
    net.train()
    for step in range(start, end):
        for g in weight_opt.param_groups:
            g["lr"] = 0.5 * cfg.weight_lr * (1.0 + math.cos(math.pi * step / cfg.steps))
        b = torch.from_numpy(_batch(len(y_tr), cfg.batch_size, cfg.seed, _STREAM_TRAIN, step)).to(device)
        rec = {"step": step, **weight_step(net, x_tr[b], y_tr[b], weight_opt, _rng(cfg.seed, _STREAM_PATH, step))}
        after = step - cfg.warmup_steps
        if after >= 0 and after % cfg.arch_every == 0:
            k = after // cfg.arch_every
            vb = torch.from_numpy(_batch(len(y_va), cfg.batch_size, cfg.seed, _STREAM_VAL, k)).to(device)
            rec.update(arch_step(net, x_va[vb], y_va[vb], table, target_ms, arch_opt,
                                 _rng(cfg.seed, _STREAM_ARCH, step)))
        else:
            with torch.no_grad():
                rec["expected_latency_ms"] = float(net.expected_latency_ms(table))
        history.append(rec)
        done = step + 1
        if ckpt is not None and (done % cfg.checkpoint_every == 0 or done == end):
            save_checkpoint(ckpt, net, weight_opt, arch_opt, done, history, target_ms, hw_key, ident)
        bar.update(1)
        bar.set_postfix(ce=f"{rec['train_ce']:.3f}", lat=f"{rec['expected_latency_ms']:.4f}ms")
        if log and (done % every == 0 or done == cfg.steps):
            log(f"step {done}/{cfg.steps}: train CE {rec['train_ce']:.3f}, expected latency "
                f"{rec['expected_latency_ms']:.4f} ms (target {target_ms:.4f})")
    bar.close()
    if log and end < cfg.steps:
        log(f"stopped at step {end}/{cfg.steps}")

    derived = derive(net)
    with torch.no_grad():
        probs = tuple(tuple(float(v) for v in p.cpu()) for p in net.probs())
        expected = float(net.expected_latency_ms(table))
    calib = x_tr[torch.from_numpy(_batch(len(y_tr), min(len(y_tr), 512), cfg.seed, _STREAM_TRAIN, 0)).to(device)]
    acc = evaluate(net, x_va, y_va, list(derived.path), calibration=calib)
    simulated = simulate(derived.network, hw).latency_ms
    return SupernetResult(config=cfg, hardware=hw.name, derived=derived, probs=probs,
                          candidate_names=tuple(tuple(c.name for c in p.candidates) for p in net.positions),
                          table=table, target_ms=float(target_ms), expected_latency_ms=expected,
                          path_latency_ms=table.path_ms(derived.path), simulated_latency_ms=float(simulated),
                          val_accuracy=acc, history=history, resumed_from=start,
                          seconds=time.perf_counter() - t0, device=str(device))


RESULT_FILE, CHECKPOINT_FILE = "result.json", "checkpoint.pt"


def train_in_folder(cfg: SupernetConfig, data, out: "str | os.PathLike", hardware: "Hardware | str | None" = None,
                    estimator=None, estimator_path: "str | os.PathLike | None" = None, force_new: bool = False,
                    progress: bool = True, log: Callable[[str], None] | None = None,
                    threads: int | None = None) -> SupernetResult:
    """:func:`train_supernet` with ``out/checkpoint.pt`` (resumed when there), then ``out/result.json``.
    The folder is locked for the call; ``force_new`` first moves a non-empty folder aside to
    ``out.old-<time>`` (``SupernetResult.moved_aside``). ``threads``: as for :func:`train_supernet`."""
    out = Path(out)
    with claim_folder(out, force_new=force_new) as moved:
        r = train_supernet(cfg, data, hardware, estimator, checkpoint=out / CHECKPOINT_FILE, progress=progress,
                           log=log, estimator_path=estimator_path, threads=threads)
        write_atomic(out / RESULT_FILE, json.dumps({**r.summary(), "positions": r.choices()}, indent=1,
                                                   default=float))
    r.moved_aside = moved
    return r
