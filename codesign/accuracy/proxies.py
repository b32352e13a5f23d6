"""Zero-shot accuracy proxies on a freshly initialised torch module and one batch of inputs
(``score(model, name, inputs)``): synflow, NASWOT and grad-norm, always with the #params and FLOPs
baselines beside them (``score_all``), because on NAS-Bench-201 the baselines rank about as well as the
proxies (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021). Every score is
"higher predicts more accurate".

A model may be a classifier (logits (N, classes)), a segmenter (logits (N, classes, H, W)) or a
detector (boxes (N, B, 4) and scores (N, B, classes), as SSDLite's): ``task_loss`` is the loss of each
(cross-entropy per sample or per pixel; smooth-L1 and focal loss on a detector's per-anchor targets),
which grad-norm takes the gradient of; any other output is one ``CodesignError`` line.

Randomness comes only from the ``seed`` arguments (through ``torch.Generator`` objects and a forked
global RNG: ``seeded``, ``genome_seed``, ``reset_parameters``), so a score repeats exactly on the same
machine and leaves the caller's RNG state and model untouched.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy.proxies"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

from ..errors import CodesignError

ZERO_SHOT = ("synflow", "naswot", "grad_norm")
BASELINES = ("params", "flops")
# Every name ``score`` accepts; the baselines are listed with the proxies because a proxy is only
# worth its cost where it beats them.
PROXIES = ZERO_SHOT + BASELINES
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)   # layers whose weights the proxies sum over
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_RELU = (nn.ReLU, nn.ReLU6)
FOCAL_GAMMA = 2.0   # focusing exponent of the detection loss (Lin et al. 2017)


def _replace_modules(net: nn.Module, match, make) -> None:
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, match):
                setattr(parent, name, make(child))


def _model_device_dtype(model: nn.Module):
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def synflow(model: nn.Module, inputs: torch.Tensor) -> float:
    """log of the synflow score (Tanaka et al. 2020): sum over conv/linear weights of |w * dR/dw| with
    R = sum of the outputs, every parameter replaced by its absolute value, input all ones.

    Computed on a float64 copy with BatchNorm removed (the "synflow" entry of Abdelfattah et al.
    2021, not "synflow_bn"): with a constant input the batch statistics are degenerate, and BN's
    per-channel rescaling is not part of the path-norm that synflow measures. ReLU6 is swapped for
    ReLU because with positive weights and inputs every activation is positive and grows with
    depth, so a clip at 6 would zero the gradient of whole layers. float64 and the log keep the
    product of per-layer gains in range (up to about 1e50 for NAS-Bench-201 at default init, 1e90
    for the largest network of codesign's default space); a net whose output does not depend on its
    weights (an NB201 cell cut off by 'none' edges) gives -inf.
    """
    net = copy.deepcopy(model).double().eval()
    _replace_modules(net, _BN, lambda m: nn.Identity())
    _replace_modules(net, nn.ReLU6, lambda m: nn.ReLU())
    device, _ = _model_device_dtype(net)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_().requires_grad_(True)   # frozen parameters are scored too
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=device)
    with torch.enable_grad():
        sum(out.sum() for out in _outputs(net(x))).backward()
    total = 0.0
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, _WEIGHTED) and m.weight.grad is not None:
                total += float((m.weight * m.weight.grad).abs().sum())
    return math.log(total) if total > 0 else float("-inf")


def naswot(model: nn.Module, inputs: torch.Tensor, include_head: bool = False) -> float:
    """NASWOT score (Mellor et al. 2021): log|K| for the minibatch kernel K[i, j] = number of ReLU units
    on which inputs i and j agree (both active or both inactive).

    Hooks every ``nn.ReLU`` / ``nn.ReLU6`` module (a unit is active when its input is > 0), in train
    mode as the reference code runs it (BatchNorm uses the batch's statistics), on a copy of the model.
    The units of a task head (a child module named ``head``, as a detector's or segmenter's genome
    twin has) are left out unless ``include_head``: the head is the same in every design of a task,
    so the score speaks of the backbone. A singular K (inputs the net cannot tell apart) gives -inf.
    """
    net = copy.deepcopy(model).train()
    device, dtype = _model_device_dtype(net)
    x = inputs.to(device=device, dtype=dtype)
    n = x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=device)
    chunk = 1 << 22   # +-1 dot products stay exact in float32 below 2^24 terms

    def hook(module, args, output):
        nonlocal kernel
        signs = (args[0].detach().reshape(n, -1) > 0).to(torch.float32) * 2 - 1
        for s in signs.split(chunk, dim=1):
            # agreements = (units + s.s') / 2 for +-1 codes
            kernel += (s @ s.T).double().add_(s.shape[1]).mul_(0.5)

    head = getattr(net, "head", None)
    skip = set() if include_head or not isinstance(head, nn.Module) else set(map(id, head.modules()))
    _forward_with_hook(net, x, _RELU, hook, skip)
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    return float(logdet) if float(sign) > 0 else float("-inf")


def grad_norm(model: nn.Module, inputs: torch.Tensor, targets=None, seed: int = 0) -> float:
    """Sum over conv/linear layers of the L2 norm of the weight gradient of the task's loss on one
    minibatch (the "grad_norm" of Abdelfattah et al. 2021, there with the cross-entropy of a
    classifier), in train mode on a copy of the model.

    ``targets`` are those of :func:`task_loss`: labels (N,) for a classifier, a class mask (N, H, W)
    for a segmenter, per-anchor ``(box_offsets (N, B, 4), classes (N, B))`` for a detector
    (``codesign.accuracy.tasks.proxy_batch`` makes them from the synthetic shapes). Without
    ``targets``, labels are drawn uniformly over the output classes from ``seed``: one per sample for
    logits, one per pixel for a segmenter, one per box for a detector, whose class scores alone then
    carry a cross-entropy (its box offsets get no gradient)."""
    net = copy.deepcopy(model).train().requires_grad_(True)   # frozen parameters are scored too
    device, dtype = _model_device_dtype(net)
    x = inputs.to(device=device, dtype=dtype)
    net.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = net(x)
        kind = output_kind(out, "grad_norm")
        if targets is None:
            if kind == "detector":   # classes on the last axis
                out = out[1].transpose(1, 2)
            gen = torch.Generator().manual_seed(int(seed))
            targets = torch.randint(out.shape[1], (x.shape[0], *out.shape[2:]), generator=gen)
            loss = F.cross_entropy(out, targets.to(device=device))
        else:
            loss = task_loss(out, targets, "grad_norm")
        loss.backward()
    total = 0.0
    for m in net.modules():
        if isinstance(m, _WEIGHTED) and m.weight.grad is not None:
            total += float(m.weight.grad.double().norm())
    return total


_OUTPUTS = ("logits (N, classes), a segmenter's logits (N, classes, H, W) or a detector's (boxes (N, B, 4), "
            "scores (N, B, classes))")


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def output_kind(out, where: str = "score") -> str:
    """What a model's output is: ``"logits"`` (N, classes), ``"dense"`` (a segmenter's (N, classes, H, W))
    or ``"detector"`` (a pair boxes (N, B, 4), scores (N, B, classes)); anything else is a
    ``CodesignError`` naming what was found."""
    if isinstance(out, torch.Tensor):
        if out.ndim == 2:
            return "logits"
        if out.ndim == 4:
            return "dense"
    elif isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out):
        boxes, scores = out
        if boxes.ndim == 3 and scores.ndim == 3 and boxes.shape[2] == 4 and boxes.shape[:2] == scores.shape[:2]:
            return "detector"
    found = _shape(out) if not isinstance(out, (tuple, list)) else \
        f"{type(out).__name__} of {', '.join(_shape(t) for t in out)}"
    raise CodesignError(f"{where}: model output {found} is not supported: expected {_OUTPUTS}")


def detection_loss(boxes: torch.Tensor, scores: torch.Tensor, box_targets: torch.Tensor,
                   class_targets: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """A single-shot detector's loss on per-anchor targets: smooth-L1 between the predicted and target
    box offsets of the positive anchors (class target > 0; SSD, Liu et al. 2016) plus the softmax focal
    loss -(1 - p)^gamma log p of every anchor's target class (Lin et al. 2017), both over the number
    of positives in the batch (at least 1).

    The focal term stands in for SSD's hard-negative mining: it too keeps the many easy background
    anchors from swamping the few positives, and on short schedules it learns faster (on
    synthetic_shapes, about twice the mAP after 200 steps)."""
    n, b, c = scores.shape
    positive = class_targets > 0
    num_pos = positive.sum().clamp(min=1).to(scores.dtype)
    box_loss = F.smooth_l1_loss(boxes[positive], box_targets[positive].to(boxes.dtype), reduction="sum")
    log_p = F.log_softmax(scores, -1).gather(-1, class_targets[..., None])[..., 0]
    focal = -((1 - log_p.exp()) ** gamma) * log_p
    return (box_loss + focal.sum()) / num_pos


def task_loss(out, targets, where: str = "task_loss") -> torch.Tensor:
    """The training loss of a model's output ``out`` against ``targets``:

    - logits (N, classes): cross-entropy with labels (N,);
    - a segmenter's (N, classes, h, w): per-pixel cross-entropy with a class mask (N, H, W), the logits
      resized bilinearly to (H, W) first when they differ;
    - a detector's (boxes (N, B, 4), scores (N, B, classes)): :func:`detection_loss` with targets
      ``(box_offsets (N, B, 4), classes (N, B))`` per anchor (``codesign.accuracy.tasks`` encodes them).

    Targets that do not fit the output are one ``CodesignError`` line."""
    kind = output_kind(out, where)

    def bad(expected):
        got = _shape(targets) if not isinstance(targets, (tuple, list)) else \
            f"{type(targets).__name__} of {', '.join(_shape(t) for t in targets)}"
        whose = {"logits": "a classifier's", "dense": "a segmenter's", "detector": "a detector's"}[kind]
        return CodesignError(f"{where}: targets: {whose} output needs {expected}, got {got}")

    if kind == "detector":
        boxes, scores = out
        n, b, c = scores.shape
        if not (isinstance(targets, (tuple, list)) and len(targets) == 2
                and all(isinstance(t, torch.Tensor) for t in targets)
                and tuple(targets[0].shape) == (n, b, 4) and tuple(targets[1].shape) == (n, b)
                and not targets[1].is_floating_point()):
            raise bad(f"per-anchor targets (box offsets ({n}, {b}, 4), classes ({n}, {b}) integers)")
        classes = targets[1].to(device=scores.device, dtype=torch.long)
        if len(classes) and (int(classes.min()) < 0 or int(classes.max()) >= c):
            raise CodesignError(f"{where}: targets: classes must lie in 0..{c - 1} (0: background)")
        return detection_loss(boxes, scores, targets[0].to(boxes.device), classes)
    n, c = out.shape[:2]
    if not isinstance(targets, torch.Tensor) or targets.is_floating_point() \
            or targets.ndim != (1 if kind == "logits" else 3) or targets.shape[0] != n:
        raise bad("class labels (N,)" if kind == "logits" else "a class mask (N, H, W) of integers")
    labels = targets.to(device=out.device, dtype=torch.long)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c):
        raise CodesignError(f"{where}: targets: classes must lie in 0..{c - 1}, got {int(labels.min())}.."
                            f"{int(labels.max())}")
    if kind == "dense" and out.shape[2:] != labels.shape[1:]:
        out = F.interpolate(out, size=labels.shape[1:], mode="bilinear", align_corners=False)
    return F.cross_entropy(out, labels)


def _outputs(out) -> tuple:
    """A model's output tensors: the tensor itself, or those of a tuple, list or dict (a detector's
    boxes and scores)."""
    if isinstance(out, dict):
        out = tuple(out.values())
    items = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise CodesignError(f"synflow: model output {type(out).__name__} is not supported: expected a tensor or "
                            "a tuple, list or dict of tensors")
    return items


def param_count(model: nn.Module) -> float:
    """Number of trainable parameters (BatchNorm affine included, as NAS-Bench-201 counts them)."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def flop_count(model: nn.Module, inputs: torch.Tensor) -> float:
    """FLOPs per sample as NAS-Bench-201 counts them (AutoDL ``flop_benchmark``): one per multiply-add
    of every conv and linear layer plus one per bias add; pooling, BatchNorm and activations are free."""
    net = copy.deepcopy(model).eval()
    device, dtype = _model_device_dtype(net)
    x = inputs[:1].to(device=device, dtype=dtype)
    total = 0

    def hook(module, args, output):
        nonlocal total
        if isinstance(module, nn.Linear):
            positions = output.numel() // module.out_features
            total += positions * module.in_features * module.out_features
        else:
            positions = output[0, 0].numel() * output.shape[0]
            total += positions * module.weight[0].numel() * module.out_channels
        if module.bias is not None:
            total += output.numel()

    _forward_with_hook(net, x, _WEIGHTED, hook)
    return float(total)


def _forward_with_hook(net: nn.Module, x: torch.Tensor, kinds, hook, skip=frozenset()) -> None:
    """One no-grad forward pass with ``hook`` on every module of the given types (removed after),
    except those whose ``id`` is in ``skip``."""
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds) and id(m) not in skip]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()


def score(model: nn.Module, name: str, inputs: torch.Tensor, targets=None, seed: int = 0) -> float:
    """One accuracy proxy (a name in ``PROXIES``) of ``model`` on a batch ``inputs`` (N, C, H, W);
    higher predicts a more accurate network. The model is not changed, the global RNG is restored,
    and any randomness (labels for grad_norm, dropout) comes from ``seed``. ``targets`` (used by
    grad_norm only) are those of :func:`task_loss` for the model's output: labels (N,), a class mask
    (N, H, W) or a detector's per-anchor targets; None draws random labels from ``seed``."""
    if name not in PROXIES:
        raise CodesignError(f"score: name: expected one of {', '.join(PROXIES)}, got {name!r}")
    if not isinstance(model, nn.Module):
        raise CodesignError(f"score: model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2 or inputs.shape[0] < 1:
        raise CodesignError("score: inputs: expected a tensor (N, ...) with N >= 1")
    if name == "params":
        return param_count(model)
    device, _ = _model_device_dtype(model)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        if name == "synflow":
            return synflow(model, inputs)
        if name == "naswot":
            if inputs.shape[0] < 2:
                raise CodesignError("score: naswot: inputs: expected a batch of at least 2")
            return naswot(model, inputs)
        if name == "grad_norm":
            return grad_norm(model, inputs, targets, seed)
        return flop_count(model, inputs)


def score_all(model: nn.Module, inputs: torch.Tensor, targets=None, seed: int = 0,
              names=PROXIES) -> dict:
    """``{name: score}`` for several proxies (all of them, baselines included, by default)."""
    return {name: score(model, name, inputs, targets, seed) for name in names}


def genome_seed(key, seed: int = 0) -> int:
    """A seed for one genome: a stable hash (SHA-256 of ``repr``) of its key and the run's ``seed``, so the
    same genome is initialised alike in every run, process and evaluation order (``hash()`` is salted per
    process and would not do). ``key`` is a tuple of plain values (ints, floats, strings)."""
    digest = hashlib.sha256(repr((int(seed), key)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1   # 63 bits: torch.manual_seed takes it


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch's intra-op thread count pinned to ``threads`` (None: left as it is),
    restored after. Torch on the CPU splits reductions (sums, matrix products, convolutions) among
    its threads, so the thread count can change the last bits of a result."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded(seed: int, threads: int | None = 1):
    """Run the block with torch's global RNG seeded from ``seed`` and, unless ``threads`` is None, torch's
    intra-op thread count pinned to ``threads``; both are restored after.

    Building a module inside draws its initial weights from ``seed``, so a zero-shot score depends on
    the genome alone; a fixed thread count fixes the order of floating-point reductions, so the score
    does not depend on the machine's core count either (a float sum in another order differs in the
    last bits, which is enough to reorder a Pareto front).
    """
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        torch.manual_seed(int(seed))
        yield


def reset_parameters(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every submodule that has ``reset_parameters`` (torch's default init, BN running
    statistics too) from ``seed``, without touching the global RNG; returns the model."""
    device, _ = _model_device_dtype(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seed))
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model
