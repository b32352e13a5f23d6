"""Short training of a detector or segmenter genome on a task (``train_task``), as a search-time accuracy
signal for networks that end in a task head (:class:`~codesign.spaces.space.HeadGene`).

Tasks and their scores on a held-out split of the data:

- ``detection`` (an SSDLite head): smooth-L1 box offsets and focal-loss classes
  (:func:`~codesign.accuracy.proxies.detection_loss`) on anchors matched to the ground-truth boxes, the
  class biases first set to RetinaNet's prior (every anchor starts at background probability 0.99);
  then mAP@0.5 (PASCAL VOC's all-point interpolated AP, averaged over the classes) of the decoded
  detections after per-class NMS;
- ``segmentation`` (an LR-ASPP or DeepLabV3 head): per-pixel cross-entropy, then mIoU over the classes,
  background included.

The data is ``synthetic_shapes`` (:mod:`codesign.accuracy.synthetic`), drawn at run time from the seed:
new training images every epoch (no image is seen twice, so a short run does not overfit) and one
held-out set. Its classes are numbered from 1 and 0 is background, so a head predicts
``num_classes + 1`` classes on either task (SSDLite's scores include background, as do the segmenters'
per-pixel classes): :func:`task_genome` gives a genome that head.

SSD anchors (Liu et al. 2016; the TF Object Detection API's SSDLite settings): on each of the head's
maps, at every location, scales ``s_k`` evenly spaced from 0.2 to 0.95 over the maps; a map with 3
anchors per location has (0.1, 1:1), (s_k, 2:1) and (s_k, 1:2), one with 6 has s_k at 1:1, 2:1, 1:2,
3:1 and 1:3 and sqrt(s_k s_k+1) at 1:1. Map sizes and anchor counts are read from the model's head. An
anchor is a positive for the box it overlaps most when that IoU is >= 0.5, and every box's best anchor
is a positive for it; box offsets are encoded with variances (0.1, 0.2).

The seed fixes the data, the batch order and any other use of torch's RNG during training; the
initial weights are the model's as given (build it under :func:`~codesign.accuracy.proxies.seeded`).
With ``threads`` set, a run repeats bit for bit on one machine.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np

from accelsim.extras import importing

with importing("torch", "codesign", "codesign.accuracy.tasks"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

from accelsim.workload import heads as task_heads
from accelsim.workload.torch_zoo import SSDLiteHead

from ..errors import CodesignError
from ..spaces.space import HeadGene, NetworkGenome
from .proxies import _model_device_dtype, output_kind, task_loss, torch_threads
from .synthetic import SHAPES, make_shapes

TASKS = ("detection", "segmentation")
TASK_DATA = ("synthetic_shapes",)
HEAD_TASKS = {"ssdlite": "detection", "lraspp": "segmentation", "deeplabv3": "segmentation"}
DEFAULT_HEADS = {"detection": "ssdlite", "segmentation": "lraspp"}
TASK_METRICS = {"detection": "mAP@0.5", "segmentation": "mIoU"}

# (default, kind, low, high, meaning) of every option of train_task; the ranges are checked.
TASK_OPTIONS = {
    "data": ("synthetic_shapes", "choice", None, None, "dataset (synthetic_shapes: drawn from the seed)"),
    "resolution": (None, "int", 32, 1024, "input side in pixels (None: the model's input_shape, else 96)"),
    "num_classes": (None, "int", 1, len(SHAPES), "object classes, background not counted (None: the head's "
                                                 "classes - 1)"),
    "epochs": (6, "int", 0, 1000, "training epochs of n_train new images each (0: score the model as it is)"),
    "batch_size": (16, "int", 1, 4096, "images per step"),
    "lr": (4e-3, "float", 0.0, 10.0, "peak learning rate of AdamW (linear warm-up over the first tenth, cosine "
                                     "decay to 0)"),
    "weight_decay": (1e-4, "float", 0.0, 1.0, "AdamW's decoupled weight decay"),
    "n_train": (512, "int", 1, 1_000_000, "training images per epoch (each epoch draws new ones)"),
    "n_val": (128, "int", 1, 1_000_000, "held-out images the score is measured on"),
    "seed": (0, "int", 0, 2 ** 63 - 1, "seed of the training and held-out images (split_seed) and of the "
                                       "batch order"),
    "threads": (None, "int", 1, 1024, "torch CPU threads (None: left as they are)"),
    "max_minutes": (None, "float", 0.0, 1e6, "stop training after this many minutes (None: no limit)"),
    "device": (None, "device", None, None, "torch device (None: CUDA when available, else the CPU)"),
}

ANCHOR_SCALES = (0.2, 0.95)   # SSD anchor scales of the first and last map (fractions of the image side)
BOX_VARIANCES = (0.1, 0.2)    # box encoding: centre offsets / 0.1, log size ratios / 0.2
MATCH_IOU = 0.5               # an anchor overlapping a box this much is a positive for it
NMS_IOU = 0.45                # per-class NMS drops a detection overlapping a better one this much
SCORE_THRESHOLD = 0.01        # detections kept for mAP (VOC-style evaluation keeps low scores)
MAX_DETECTIONS = 100          # per image
MAP_IOU = 0.5                 # a detection is a true positive at this IoU with an unmatched box
FOREGROUND_PRIOR = 0.01       # initial foreground probability of every anchor (Lin et al. 2017)
# held-out sets and proxy batches kept in memory (128 images of 96 px: 15 MB), so the next design scored
# with the same options draws them from the cache; training images are drawn anew every epoch
_CACHED_SETS = 4


# ------------------------------------------------------------------------------------ genomes
def task_of(genome: NetworkGenome) -> str:
    """The task a genome's head is for (``detection`` or ``segmentation``)."""
    if genome.head is None:
        raise CodesignError("task: the genome has no task head (a classifier); see task_genome")
    return HEAD_TASKS[genome.head.kind]


def task_genome(genome: NetworkGenome, task: str, num_classes: int = 3, kind: "str | None" = None,
                output_stride: int = 16) -> NetworkGenome:
    """``genome`` with a head for ``task`` on ``num_classes`` object classes: the head's classes become
    ``num_classes + 1`` (background included, on both tasks). A genome without a head gets one of
    ``kind`` (default: ssdlite for detection, lraspp for segmentation; a segmenter at
    ``output_stride``); a head of the other task is an error."""
    _check_choice("task_genome", "task", task, TASKS)
    if num_classes is None or _check_option("task_genome", "num_classes", num_classes) is None:
        raise CodesignError(f"task_genome: num_classes: expected a whole number in 1..{len(SHAPES)}, got None")
    head = genome.head
    if head is None:
        kind = kind or DEFAULT_HEADS[task]
        if HEAD_TASKS.get(kind) != task:
            raise CodesignError(f"task_genome: kind: expected a {task} head "
                                f"({', '.join(k for k, t in HEAD_TASKS.items() if t == task)}), got {kind!r}")
        head = HeadGene(kind, num_classes + 1, output_stride if kind in task_heads.SEGMENTERS else 0)
    elif HEAD_TASKS[head.kind] != task:
        raise CodesignError(f"task_genome: the genome's {head.kind} head is for {HEAD_TASKS[head.kind]}, not {task}")
    return dataclasses.replace(genome, head=dataclasses.replace(head, num_classes=num_classes + 1))


# ------------------------------------------------------------------------------------ options
def _check_choice(where, key, value, choices):
    if value not in choices:
        raise CodesignError(f"{where}: {key}: expected {' or '.join(choices)}, got {value!r}")
    return value


def _check_option(where: str, key: str, value):
    default, kind, low, high, _ = TASK_OPTIONS[key]
    if value is None and default is None:
        return None
    if kind == "choice":
        return _check_choice(where, key, value, TASK_DATA)
    if kind == "device":
        try:
            return torch.device(value)
        except (RuntimeError, TypeError):
            raise CodesignError(f"{where}: {key}: expected a torch device such as cpu or cuda, got {value!r}") from None
    integer = kind == "int"
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high \
            or (kind == "float" and key in ("lr", "max_minutes") and value <= 0):
        what = "a whole number" if integer else "a number"
        bound = f"in {low}..{high}" if integer else (f"in ({low}, {high:g}]" if key in ("lr", "max_minutes")
                                                      else f"in [{low}, {high:g}]")
        raise CodesignError(f"{where}: {key}: expected {what} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def task_options(**options) -> dict:
    """Every option of :func:`train_task`, defaults filled in and each checked (an unknown key or a
    value out of range is one ``CodesignError`` line), e.g. for a run config's ``accuracy`` section:
    ``train_task(model, task, **task_options(**section))``."""
    unknown = sorted(set(options) - set(TASK_OPTIONS))
    if unknown:
        raise CodesignError(f"train_task: unknown option {unknown[0]!r}; expected {', '.join(TASK_OPTIONS)}")
    return {k: _check_option("train_task", k, options.get(k, d[0])) for k, d in TASK_OPTIONS.items()}


# ------------------------------------------------------------------------------------ data
def _shapes(n: int, resolution: int, seed: int, num_classes: int) -> dict:
    """make_shapes as torch tensors, masks as uint8 (an eighth of the memory)."""
    data = {k: torch.from_numpy(v) for k, v in make_shapes(n, resolution, seed, num_classes).items()}
    data["masks"] = data["masks"].to(torch.uint8)
    return data


_cached_shapes = functools.lru_cache(maxsize=_CACHED_SETS)(_shapes)   # read only: callers copy what they change


DATA_SPLITS = ("train", "val", "proxy")


def split_seed(seed: int, split: str, epoch: int = 0) -> int:
    """The make_shapes seed of one split of ``seed`` (train: one set per epoch; val: the held-out set;
    proxy: a proxy's batch), so every split, epoch and seed draws different images."""
    state = np.random.SeedSequence([int(seed), DATA_SPLITS.index(split), int(epoch)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def _split(opts: dict, num_classes: int, split: str, epoch: int = 0) -> dict:
    n = opts["n_val"] if split == "val" else opts["n_train"]
    make = _shapes if split == "train" else _cached_shapes
    return make(n, opts["resolution"], split_seed(opts["seed"], split, epoch), num_classes)


# ------------------------------------------------------------------------------------ boxes
def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU (..., A, B) of boxes a (..., A, 4) and b (..., B, 4), both (x1, y1, x2, y2)."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter).clamp(min=1e-12)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float = NMS_IOU) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first."""
    order = scores.argsort(descending=True)
    overlaps = box_iou(boxes[order], boxes[order]).numpy() > iou
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= ~overlaps[i, i + 1:]
    return order[torch.from_numpy(keep)]


def _corners(cxcywh: torch.Tensor) -> torch.Tensor:
    c, wh = cxcywh[..., :2], cxcywh[..., 2:]
    return torch.cat([c - wh / 2, c + wh / 2], -1)


def ssd_anchors(map_sizes, anchors_per_map, scales: tuple = ANCHOR_SCALES):
    """Anchors (B, 4) as (cx, cy, w, h) fractions of the image, in the order SSDLite's head emits its
    predictions (map by map, row by row, column by column, anchor by anchor); see the module docs."""
    m = len(map_sizes)
    min_scale, max_scale = scales
    scales = [min_scale + (max_scale - min_scale) * k / max(m - 1, 1) for k in range(m)] + [1.0]
    out = []
    for k, ((h, w), a) in enumerate(zip(map_sizes, anchors_per_map)):
        s, s_next = scales[k], scales[k + 1]
        if a == 3:
            shapes = [(0.1, 1.0), (s, 2.0), (s, 0.5)]
        elif a <= 6:
            shapes = [(s, 1.0), (s, 2.0), (s, 0.5), (s, 3.0), (s, 1 / 3), (math.sqrt(s * s_next), 1.0)][:a]
        else:
            raise CodesignError(f"ssd_anchors: map {k}: expected 3 to 6 anchors per location, got {a}")
        wh = torch.tensor([(sc * math.sqrt(r), sc / math.sqrt(r)) for sc, r in shapes], dtype=torch.float32)
        ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
        centres = torch.stack([xs, ys], -1).reshape(-1, 1, 2).expand(-1, a, 2)
        out.append(torch.cat([centres, wh.expand(h * w, a, 2)], -1).reshape(-1, 4))
    return torch.cat(out)


def detector_layout(model: nn.Module, resolution: int) -> tuple:
    """``(map sizes, anchors per location)`` of the SSDLite head in ``model``, read from one forward
    pass of a blank image (box predictor i outputs anchors x 4 channels on map i)."""
    head = next((m for m in model.modules() if isinstance(m, SSDLiteHead)), None)
    if head is None:
        raise CodesignError("detection: the model has no SSDLite head (expected a genome with an ssdlite head)")
    sizes = []
    handles = [box.register_forward_hook(lambda mod, args, out: sizes.append(tuple(out.shape[-2:])))
               for box in head.box]
    device, dtype = _model_device_dtype(model)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution, device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return tuple(sizes), tuple(box[-1].out_channels // 4 for box in head.box)


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """SSD offsets (..., 4) of corner boxes (..., 4) relative to (cx, cy, w, h) anchors."""
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-6)
    c = (boxes[..., :2] + boxes[..., 2:]) / 2
    return torch.cat([(c - anchors[..., :2]) / (anchors[..., 2:] * BOX_VARIANCES[0]),
                      torch.log(wh / anchors[..., 2:]) / BOX_VARIANCES[1]], -1)


def decode_boxes(offsets: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Corner boxes (..., 4) from SSD offsets (the inverse of :func:`encode_boxes`)."""
    c = anchors[..., :2] + offsets[..., :2] * BOX_VARIANCES[0] * anchors[..., 2:]
    wh = anchors[..., 2:] * torch.exp((offsets[..., 2:] * BOX_VARIANCES[1]).clamp(max=math.log(1000.0)))
    return torch.cat([c - wh / 2, c + wh / 2], -1)


def match_anchors(anchors: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor,
                  iou_threshold: float = MATCH_IOU) -> tuple:
    """Per-anchor targets ``(offsets (N, B, 4), classes (N, B))`` for ground truth ``boxes`` (N, G, 4),
    ``labels`` (N, G) (classes from 1) and ``counts`` (N,) of real boxes per image: each anchor takes
    the box it overlaps most when that IoU is >= ``iou_threshold`` (else background, class 0), and each
    box's best anchor takes that box whatever the IoU."""
    n, g = labels.shape
    iou = box_iou(_corners(anchors).expand(n, -1, 4), boxes)                       # (N, B, G)
    real = torch.arange(g)[None, :] < counts[:, None]                              # (N, G)
    iou = torch.where(real[:, None, :], iou, torch.full_like(iou, -1.0))
    best_iou, best_box = iou.max(dim=2)                                            # per anchor
    best_anchor = iou.argmax(dim=1)                                                # per box (N, G)
    for j in range(g):   # a box's best anchor is forced to it (later boxes win a shared anchor)
        rows = torch.nonzero(real[:, j]).flatten()
        best_box[rows, best_anchor[rows, j]] = j
        best_iou[rows, best_anchor[rows, j]] = 2.0
    classes = torch.gather(labels, 1, best_box)
    classes = torch.where(best_iou >= iou_threshold, classes, torch.zeros_like(classes))
    matched = torch.gather(boxes, 1, best_box[..., None].expand(-1, -1, 4))
    return encode_boxes(matched, anchors.expand(n, -1, 4)), classes


def detect_boxes(offsets: torch.Tensor, scores: torch.Tensor, anchors: torch.Tensor,
                 score_threshold: float = SCORE_THRESHOLD, iou: float = NMS_IOU,
                 max_detections: int = MAX_DETECTIONS) -> list:
    """Decoded detections of one batch: per image ``(boxes (K, 4), scores (K,), classes (K,))``, NMS'd
    per class, the ``max_detections`` best (classes from 1; the background score is dropped)."""
    probs = scores.float().softmax(-1)
    boxes = decode_boxes(offsets.float(), anchors).clamp(0.0, 1.0)
    out = []
    for b, p in zip(boxes, probs):
        kept = []
        for c in range(1, p.shape[1]):
            idx = torch.nonzero(p[:, c] > score_threshold).flatten()
            if len(idx) == 0:
                continue
            idx = idx[p[idx, c].argsort(descending=True)[:4 * max_detections]]
            keep = idx[nms(b[idx], p[idx, c], iou)]
            kept.append((b[keep], p[keep, c], torch.full((len(keep),), c, dtype=torch.long)))
        if not kept:
            out.append((torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)))
            continue
        bx, sc, cl = (torch.cat(t) for t in zip(*kept))
        top = sc.argsort(descending=True)[:max_detections]
        out.append((bx[top], sc[top], cl[top]))
    return out


def average_precision(detections: list, boxes: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor,
                      num_classes: int, iou: float = MAP_IOU) -> list:
    """PASCAL VOC AP (all-point interpolation) of each class 1..num_classes at IoU >= ``iou``, as a
    fraction; a detection matches the unmatched ground-truth box of its class it overlaps most. A
    class without ground truth gets NaN."""
    aps = []
    for c in range(1, num_classes + 1):
        gts = [boxes[i, :int(counts[i])][labels[i, :int(counts[i])] == c] for i in range(len(counts))]
        total = sum(len(g) for g in gts)
        if total == 0:
            aps.append(float("nan"))
            continue
        found = []   # (score, true positive)
        for i, (bx, sc, cl) in enumerate(detections):
            sel = cl == c
            bx, sc = bx[sel], sc[sel]
            if len(sc) == 0:
                continue
            order = sc.argsort(descending=True)
            bx, sc = bx[order], sc[order]
            taken = np.zeros(len(gts[i]), dtype=bool)
            ious = box_iou(bx, gts[i]).numpy() if len(gts[i]) else np.zeros((len(sc), 0))
            for k in range(len(sc)):
                row = np.where(taken, -1.0, ious[k]) if len(gts[i]) else ious[k]
                j = int(row.argmax()) if len(row) else -1
                hit = j >= 0 and row[j] >= iou
                if hit:
                    taken[j] = True
                found.append((float(sc[k]), hit))
        if not found:
            aps.append(0.0)
            continue
        found.sort(key=lambda t: -t[0])   # stable: ties keep image order
        tp = np.cumsum([h for _, h in found])
        fp = np.cumsum([not h for _, h in found])
        recall = np.concatenate([[0.0], tp / total, [1.0]])
        precision = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1), [0.0]])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        step = np.nonzero(recall[1:] != recall[:-1])[0]
        aps.append(float(np.sum((recall[step + 1] - recall[step]) * precision[step + 1])))
    return aps


# ------------------------------------------------------------------------------------ segmentation
def confusion_matrix(logits: torch.Tensor, masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(classes, classes) pixel counts [true, predicted] of a batch of logits (N, C, h, w) against
    masks (N, H, W), the logits resized bilinearly to (H, W) first when they differ."""
    if logits.shape[2:] != masks.shape[1:]:
        logits = F.interpolate(logits, size=masks.shape[1:], mode="bilinear", align_corners=False)
    pred = logits.argmax(1)
    return torch.bincount((masks * num_classes + pred).flatten(), minlength=num_classes ** 2) \
        .reshape(num_classes, num_classes)


def class_iou(conf: torch.Tensor) -> list:
    """IoU of each class from a confusion matrix (NaN for a class absent from truth and prediction)."""
    conf = conf.double()
    inter = conf.diag()
    union = conf.sum(0) + conf.sum(1) - inter
    return [float(i / u) if u > 0 else float("nan") for i, u in zip(inter, union)]


# ------------------------------------------------------------------------------------ training
def _head_classes(out) -> int:
    return int(out[1].shape[-1]) if isinstance(out, (tuple, list)) else int(out.shape[1])


def _prepare(model: nn.Module, task: str, opts: dict, device) -> tuple:
    """Check the model's output against the task; ``(num_classes, anchors or None)``."""
    res = opts["resolution"]
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, res, res, device=device))
    kind = output_kind(out, f"train_task {task}")
    want = {"detection": "detector", "segmentation": "dense"}[task]
    if kind != want:
        raise CodesignError(f"train_task: task {task}: expected a model with "
                            f"{'an ssdlite' if task == 'detection' else 'a segmentation'} head, got one whose output "
                            f"is {'logits (N, classes)' if kind == 'logits' else kind}")
    classes = _head_classes(out)
    num_classes = opts["num_classes"] if opts["num_classes"] is not None else classes - 1
    if not 1 <= num_classes <= len(SHAPES) or classes != num_classes + 1:
        raise CodesignError(f"train_task: the head predicts {classes} classes; synthetic_shapes with "
                            f"{num_classes} object classes needs {num_classes + 1} (background included, 2.."
                            f"{len(SHAPES) + 1}); see task_genome")
    anchors = None
    if task == "detection":
        sizes, per_map = detector_layout(model, res)
        anchors = ssd_anchors(sizes, per_map)
        if len(anchors) != out[1].shape[1]:
            raise CodesignError(f"train_task: detection: {len(anchors)} anchors for {out[1].shape[1]} predictions")
    return num_classes, anchors


def prior_init(model: nn.Module, prior: float = FOREGROUND_PRIOR) -> None:
    """Set the class predictors' biases of the SSDLite head in ``model`` so that every anchor starts at
    foreground probability ``prior`` (background first, the object classes equal): without it the
    first steps of a short run are spent learning that most anchors are background."""
    head = next(m for m in model.modules() if isinstance(m, SSDLiteHead))
    with torch.no_grad():
        for cls in head.cls:
            bias = cls[-1].bias.view(-1, head.num_classes)
            bias.zero_()
            bias[:, 0] = math.log((head.num_classes - 1) * (1 - prior) / prior)


def _targets(task: str, data: dict, anchors):
    if task == "segmentation":
        return data["masks"].long()
    return match_anchors(anchors, data["boxes"], data["labels"], data["counts"])


def _evaluate(model: nn.Module, task: str, val: dict, anchors, num_classes: int, batch_size: int, device) -> tuple:
    """(score in %, per-class scores in %) on the held-out images."""
    model.eval()
    n = len(val["images"])
    conf = torch.zeros(num_classes + 1, num_classes + 1, dtype=torch.long)
    detections = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            out = model(val["images"][i:i + batch_size].to(device))
            if task == "segmentation":
                conf += confusion_matrix(out.float().cpu(), val["masks"][i:i + batch_size].long(), num_classes + 1)
            else:
                detections += detect_boxes(out[0].cpu(), out[1].cpu(), anchors)
    if task == "segmentation":
        per_class = class_iou(conf)
    else:
        per_class = average_precision(detections, val["boxes"], val["labels"], val["counts"], num_classes)
    present = [v for v in per_class if not math.isnan(v)]
    return 100.0 * (sum(present) / len(present) if present else 0.0), [100.0 * v for v in per_class]


def train_task(model: nn.Module, task: str, *, data: str = "synthetic_shapes", resolution: "int | None" = None,
               num_classes: "int | None" = None, epochs: int = 6, batch_size: int = 16, lr: float = 4e-3,
               weight_decay: float = 1e-4, n_train: int = 512, n_val: int = 128, seed: int = 0,
               threads: "int | None" = None, max_minutes: "float | None" = None, device=None) -> dict:
    """Train ``model`` (a genome twin with an ssdlite head for ``detection``, an lraspp or deeplabv3 head
    for ``segmentation``) on ``synthetic_shapes`` and score it on held-out images.

    The options, their defaults and ranges are ``TASK_OPTIONS`` (:func:`task_options` checks a mapping
    of them): by default 6 epochs of 512 new images each at batch 16, AdamW at lr 4e-3 with warm-up and
    cosine decay, scored on 128 held-out images. The head must predict ``num_classes + 1`` classes
    (:func:`task_genome`). The model ends with its trained weights
    (a detector's class biases reset first, :func:`prior_init`), on its original device; with
    ``epochs=0`` it is only scored, unchanged.

    Returns ``{"task", "metric" ("mAP@0.5" or "mIoU"), "score" (%), "per_class" (% per class; for mIoU
    background first), "num_classes", "resolution", "epochs_run", "stopped" ("epochs", "time" or
    "diverged"), "seconds", "train_seconds", "eval_seconds", "device", "history"}``; ``history`` has one
    dict per epoch with ``epoch``, ``train_loss`` and ``seconds``.
    """
    if not isinstance(model, nn.Module):
        raise CodesignError(f"train_task: model: expected a torch.nn.Module, got {type(model).__name__}")
    _check_choice("train_task", "task", task, TASKS)
    opts = task_options(data=data, resolution=resolution, num_classes=num_classes, epochs=epochs,
                        batch_size=batch_size, lr=lr, weight_decay=weight_decay, n_train=n_train, n_val=n_val,
                        seed=seed, threads=threads, max_minutes=max_minutes, device=device)
    if opts["resolution"] is None:
        shape = getattr(model, "input_shape", None)
        opts["resolution"] = int(shape[-1]) if shape else 96
    device = opts["device"] or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    home, _ = _model_device_dtype(model)
    start = time.perf_counter()
    history, stopped = [], "epochs"
    try:
        with torch_threads(opts["threads"]), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(opts["seed"])
            model.to(device)
            num_classes, anchors = _prepare(model, task, opts, device)
            epochs, bs, n = opts["epochs"], opts["batch_size"], opts["n_train"]
            steps_per_epoch = -(-n // bs)
            total = epochs * steps_per_epoch
            warmup = max(1, total // 10)
            opt = torch.optim.AdamW(model.parameters(), lr=opts["lr"], weight_decay=opts["weight_decay"])
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, 0.5 * (
                1 + math.cos(math.pi * min(max(s + 1 - warmup, 0) / max(total - warmup, 1), 1.0)))))
            gen = torch.Generator().manual_seed(opts["seed"])
            if task == "detection" and epochs > 0:
                prior_init(model)
            deadline = start + 60.0 * opts["max_minutes"] if opts["max_minutes"] is not None else None
            for epoch in range(1, epochs + 1):
                train = _split(opts, num_classes, "train", epoch)   # fresh images every epoch
                targets = _targets(task, train, anchors)
                model.train()
                loss_sum, seen, out_of_time = 0.0, 0, False
                for idx in torch.randperm(n, generator=gen).split(bs):
                    out = model(train["images"][idx].to(device))
                    target = targets[idx].to(device) if task == "segmentation" else \
                        (targets[0][idx].to(device), targets[1][idx].to(device))
                    loss = task_loss(out, target, f"train_task {task}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    loss_sum += float(loss.detach()) * len(idx)
                    seen += len(idx)
                    if deadline is not None and time.perf_counter() > deadline:
                        out_of_time = True
                        break
                train_loss = loss_sum / max(seen, 1)
                history.append({"epoch": epoch, "train_loss": train_loss, "seconds": time.perf_counter() - start})
                if not math.isfinite(train_loss):
                    stopped = "diverged"
                    break
                if out_of_time:
                    stopped = "time"
                    break
            trained = time.perf_counter()
            if stopped == "diverged":
                score, per_class = 0.0, [0.0] * (num_classes + (task == "segmentation"))
            else:
                val = _split(opts, num_classes, "val")
                score, per_class = _evaluate(model, task, val, anchors, num_classes, max(bs, 32), device)
    finally:
        model.to(home)
    end = time.perf_counter()
    return {"task": task, "metric": TASK_METRICS[task], "score": score, "per_class": per_class,
            "num_classes": num_classes, "resolution": opts["resolution"], "epochs_run": len(history),
            "stopped": stopped, "seconds": end - start, "train_seconds": trained - start,
            "eval_seconds": end - trained, "device": str(device), "history": history}


def proxy_batch(model: nn.Module, task: str, batch: int = 16, resolution: "int | None" = None, seed: int = 0,
                num_classes: "int | None" = None) -> tuple:
    """``(inputs (batch, 3, R, R), targets)`` of synthetic_shapes for a zero-shot proxy of a detector or
    segmenter (``codesign.accuracy.proxies.score``): targets are the class masks (batch, R, R) for
    segmentation, the per-anchor ``(offsets, classes)`` of ``model``'s head for detection. The images
    are drawn from ``seed`` apart from any training or held-out split of :func:`train_task`."""
    _check_choice("proxy_batch", "task", task, TASKS)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise CodesignError(f"proxy_batch: batch: expected a whole number >= 1, got {batch!r}")
    opts = {**task_options(resolution=resolution, num_classes=num_classes, seed=seed), "n_train": int(batch)}
    if opts["resolution"] is None:
        shape = getattr(model, "input_shape", None)
        opts["resolution"] = int(shape[-1]) if shape else 96
    device, _ = _model_device_dtype(model)
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            num_classes, anchors = _prepare(model, task, opts, device)
        finally:
            model.train(was_training)
    data = _split(opts, num_classes, "proxy")
    return data["images"].clone(), _targets(task, data, anchors)
