"""Detection and segmentation on synthetic_shapes: the dataset, the SSD box machinery (anchors, matching,
NMS, VOC AP) and mIoU checked by hand, train_task's determinism and learning, and the zero-shot proxies
on detector and segmenter genomes."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codesign.accuracy import genome_module, seeded  # noqa: E402
from codesign.accuracy import proxies as P  # noqa: E402
from codesign.accuracy import tasks as T  # noqa: E402
from codesign.accuracy.synthetic import SHAPES, make_shapes  # noqa: E402
from codesign.errors import CodesignError  # noqa: E402
from codesign.spaces.space import HeadGene, NetworkGenome, StageGene  # noqa: E402

# a small backbone: stride 16 at stage 3 (SSDLite's first map) and an output-stride-8 stage (LR-ASPP's low map)
TINY = NetworkGenome(resolution=64, stem_channels=8, head_channels=64, depth_multiplier=1.0,
                     stages=(StageGene("ibn", 3, 1, 1, 8, 1), StageGene("ibn", 3, 3, 1, 16, 2),
                             StageGene("fused_ibn", 3, 3, 1, 24, 2), StageGene("ibn", 3, 3, 1, 32, 2),
                             StageGene("ibn", 3, 3, 1, 48, 2)))


def _model(task: str, kind: "str | None" = None, seed: int = 0, genome: NetworkGenome = TINY):
    g = T.task_genome(genome, task, 3, kind=kind)
    with seeded(seed):
        return genome_module(g)


# ------------------------------------------------------------------------------------ dataset
def test_make_shapes_is_byte_identical_and_a_prefix_of_a_longer_draw():
    a, b = make_shapes(12, 48, seed=5), make_shapes(12, 48, seed=5)
    assert set(a) == {"images", "masks", "boxes", "labels", "counts"}
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    longer = make_shapes(20, 48, seed=5)
    assert all(np.array_equal(longer[k][:12], a[k]) for k in a)
    other = make_shapes(12, 48, seed=6)
    assert not np.array_equal(other["images"], a["images"])


def test_make_shapes_arrays_agree_with_each_other():
    d = make_shapes(64, 64, seed=1, num_classes=6, max_objects=4)
    n, r = 64, 64
    assert d["images"].shape == (n, 3, r, r) and d["images"].dtype == np.float32
    assert d["masks"].shape == (n, r, r) and d["masks"].dtype == np.int64
    assert d["boxes"].shape == (n, 4, 4) and d["boxes"].dtype == np.float32
    assert d["labels"].shape == (n, 4) and d["labels"].dtype == np.int64
    assert ((d["counts"] >= 1) & (d["counts"] <= 4)).all()
    # pixel values in [0, 1] before normalisation
    raw = d["images"] * 0.25 + 0.5
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    assert set(np.unique(d["masks"])) <= set(range(len(SHAPES) + 1))
    for i in range(n):
        k = d["counts"][i]
        boxes, labels = d["boxes"][i, :k], d["labels"][i, :k]
        assert (labels >= 1).all() and (labels <= 6).all() and (d["labels"][i, k:] == 0).all()
        assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
        assert boxes.min() >= 0 and boxes.max() <= 1 and (d["boxes"][i, k:] == 0).all()
        # every pixel of a class lies inside a box of that class (boxes are whole pixels)
        for c in np.unique(d["masks"][i]):
            if c == 0:
                continue
            ys, xs = np.nonzero(d["masks"][i] == c)
            inside = np.zeros(len(ys), dtype=bool)
            for (x1, y1, x2, y2), lab in zip(boxes * r, labels):
                if lab == c:
                    inside |= (xs >= round(x1)) & (xs < round(x2)) & (ys >= round(y1)) & (ys < round(y2))
            assert inside.all(), (i, c)
    # all six classes are drawn, and the background covers most pixels
    assert set(np.unique(d["labels"])) == set(range(7))
    assert 0.5 < (d["masks"] == 0).mean() < 0.95


def test_make_shapes_uses_only_the_first_num_classes_shapes():
    d = make_shapes(40, 48, seed=2, num_classes=2, max_objects=2)
    assert set(np.unique(d["masks"])) == {0, 1, 2}
    assert d["counts"].max() <= 2


@pytest.mark.parametrize("kwargs, key", [
    (dict(n=0), "n"), (dict(n=2.0), "n"), (dict(resolution=16), "resolution"), (dict(num_classes=0), "num_classes"),
    (dict(num_classes=7), "num_classes"), (dict(max_objects=0), "max_objects"), (dict(seed=-1), "seed"),
    (dict(n=True), "n"),
])
def test_make_shapes_bad_arguments(kwargs, key):
    args = {"n": 2, "resolution": 48, "seed": 0, **kwargs}
    with pytest.raises(CodesignError, match=f"make_shapes: {key}: expected"):
        make_shapes(**args)


# ------------------------------------------------------------------------------------ boxes
def test_box_iou_and_nms_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
    iou = T.box_iou(a, a)
    assert iou[0, 1].item() == pytest.approx(1 / 7)   # overlap 1, union 4 + 4 - 1
    assert iou[0, 2].item() == 0 and torch.allclose(iou.diag(), torch.ones(3))
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.9], [0.0, 0.0, 0.5, 1.0], [2.0, 2.0, 3.0, 3.0]])
    scores = torch.tensor([0.5, 0.9, 0.8, 0.1])
    # box 1 (best) suppresses box 0 (IoU 0.9); box 2 overlaps box 1 by 0.45 / 0.95 < 0.5 and stays
    assert T.nms(boxes, scores, 0.5).tolist() == [1, 2, 3]


def test_encode_decode_round_trip_and_anchor_layout():
    anchors = T.ssd_anchors(((2, 3), (1, 1)), (3, 6))
    assert anchors.shape == (2 * 3 * 3 + 6, 4)
    # map 0, row 0, column 1, anchors (0.1, 1:1), (0.2, 2:1), (0.2, 1:2); scales 0.2 then 0.95
    cx, cy = 1.5 / 3, 0.5 / 2
    s2 = math.sqrt(2)
    expected = [[cx, cy, 0.1, 0.1], [cx, cy, 0.2 * s2, 0.2 / s2], [cx, cy, 0.2 / s2, 0.2 * s2]]
    assert torch.allclose(anchors[3:6], torch.tensor(expected))
    last = anchors[-1]   # the extra 1:1 anchor of the last map: sqrt(0.95 * 1)
    assert torch.allclose(last, torch.tensor([0.5, 0.5, math.sqrt(0.95), math.sqrt(0.95)]))
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.6]]).expand(len(anchors), 4)
    assert torch.allclose(T.decode_boxes(T.encode_boxes(boxes, anchors), anchors), boxes, atol=1e-6)


def test_match_by_hand():
    anchors = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.3, 0.3, 0.5, 0.5],
                            [0.75, 0.25, 0.2, 0.2]])
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.7, 0.1, 0.8, 0.2], [0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[2, 3, 0]])
    offsets, classes = T.match_anchors(anchors, boxes, labels, torch.tensor([2]))
    # anchor 0 is box 0 exactly; anchor 2 overlaps box 0 by 0.2025 / 0.2975 >= 0.5; anchor 1 overlaps
    # nothing; anchor 3 is box 1's best (IoU 0.25), positive although below 0.5; the padded box is ignored
    assert classes.tolist() == [[2, 0, 2, 3]]
    assert torch.allclose(offsets[0, 0], torch.zeros(4), atol=1e-6)
    assert torch.allclose(T.decode_boxes(offsets[0, 3], anchors[3]), boxes[0, 1], atol=1e-6)


def test_average_precision_by_hand():
    gt = torch.tensor([[[0.0, 0.0, 0.5, 0.5]], [[0.5, 0.5, 1.0, 1.0]]])
    labels, counts = torch.tensor([[1], [1]]), torch.tensor([1, 1])
    one = torch.ones(1, dtype=torch.long)
    detections = [(gt[0], torch.tensor([0.9]), one),                                           # true positive
                  (torch.tensor([[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 1.0, 1.0]]),
                   torch.tensor([0.8, 0.7, 0.6]), torch.ones(3, dtype=torch.long))]             # FP, TP, duplicate
    # ranked: TP (P 1, R .5), FP (P .5), TP (P 2/3, R 1), FP: all-point AP = .5 * 1 + .5 * 2/3
    ap = T.average_precision(detections, gt, labels, counts, num_classes=2)
    assert ap[0] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert math.isnan(ap[1])   # no ground truth of class 2
    assert T.average_precision([(gt[0][:0], torch.zeros(0), one[:0])] * 2, gt, labels, counts, 1) == [0.0]


def test_confusion_and_class_iou_by_hand():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 1, 0, :] = 1   # predicts class 1 on the top row, 0 below
    masks = torch.tensor([[[1, 0], [0, 0]]])
    conf = T.confusion_matrix(logits, masks, 3)
    assert conf.tolist() == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]
    iou = T.class_iou(conf)
    assert iou[0] == pytest.approx(2 / 3) and iou[1] == pytest.approx(1 / 2) and math.isnan(iou[2])


# ------------------------------------------------------------------------------------ losses
def test_detection_loss_by_hand():
    torch.manual_seed(0)
    boxes, scores = torch.randn(2, 3, 4), torch.randn(2, 3, 3)
    box_t = torch.randn(2, 3, 4)
    classes = torch.tensor([[0, 2, 0], [1, 0, 0]])
    p = scores.softmax(-1)
    total = 0.0
    for i in range(2):
        for j in range(3):
            pt = float(p[i, j, classes[i, j]])
            total += -(1 - pt) ** 2 * math.log(pt)   # focal loss, gamma 2, every anchor
            if classes[i, j] > 0:                   # smooth-L1 (beta 1) on the positives' offsets
                d = (boxes[i, j] - box_t[i, j]).abs()
                total += float(torch.where(d < 1, 0.5 * d * d, d - 0.5).sum())
    loss = P.detection_loss(boxes, scores, box_t, classes)
    assert loss.item() == pytest.approx(total / 2, rel=1e-5)   # over the 2 positives


def test_task_loss_rejects_targets_that_do_not_fit():
    logits, dense = torch.zeros(2, 4), torch.zeros(2, 4, 8, 8)
    det = (torch.zeros(2, 5, 4), torch.zeros(2, 5, 4))
    with pytest.raises(CodesignError, match=r"a segmenter's output needs a class mask \(N, H, W\)"):
        P.task_loss(dense, torch.zeros(2, dtype=torch.long))
    with pytest.raises(CodesignError, match=r"a detector's output needs per-anchor targets"):
        P.task_loss(det, torch.zeros(2, dtype=torch.long))
    with pytest.raises(CodesignError, match=r"a classifier's output needs class labels"):
        P.task_loss(logits, torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(CodesignError, match=r"classes must lie in 0..3"):
        P.task_loss(dense, torch.full((2, 8, 8), 4))
    with pytest.raises(CodesignError, match=r"model output \(2, 4, 8\) is not supported"):
        P.task_loss(torch.zeros(2, 4, 8), torch.zeros(2, dtype=torch.long))
    # a mask larger than the logits: the logits are resized to it
    assert P.task_loss(dense, torch.zeros(2, 16, 16, dtype=torch.long)).item() == pytest.approx(math.log(4))


# ------------------------------------------------------------------------------------ genomes
def test_task_genome_sets_the_classes_background_included():
    det = T.task_genome(TINY, "detection", 3)
    assert det.head == HeadGene("ssdlite", 4, 0)
    seg = T.task_genome(dataclasses.replace(TINY, head=HeadGene("deeplabv3", 21, 8)), "segmentation", 5)
    assert seg.head == HeadGene("deeplabv3", 6, 8)
    assert T.task_of(seg) == "segmentation" and T.task_of(det) == "detection"
    with pytest.raises(CodesignError, match="ssdlite head is for detection, not segmentation"):
        T.task_genome(det, "segmentation", 3)
    with pytest.raises(CodesignError, match="task: expected detection or segmentation"):
        T.task_genome(TINY, "classification", 3)
    with pytest.raises(CodesignError, match="kind: expected a detection head"):
        T.task_genome(TINY, "detection", 3, kind="lraspp")


# ------------------------------------------------------------------------------------ train_task
FAST = dict(resolution=64, n_train=48, n_val=24, batch_size=16, threads=1, device="cpu")


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_train_task_repeats_bit_for_bit_and_leaves_the_rng_alone(task):
    before = torch.random.get_rng_state()
    a = T.train_task(_model(task), task, epochs=1, **FAST)
    b = T.train_task(_model(task), task, epochs=1, **FAST)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a["score"] == b["score"] and a["history"][0]["train_loss"] == b["history"][0]["train_loss"]
    assert a["metric"] == T.TASK_METRICS[task] and a["stopped"] == "epochs" and a["epochs_run"] == 1
    assert len(a["per_class"]) == (3 if task == "detection" else 4)
    c = T.train_task(_model(task), task, epochs=1, **{**FAST, "seed": 1})
    assert c["history"][0]["train_loss"] != a["history"][0]["train_loss"]


def test_train_task_with_no_epochs_scores_the_model_as_it_is():
    model = _model("segmentation")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = T.train_task(model, "segmentation", epochs=0, **FAST)
    assert r["epochs_run"] == 0 and 0 <= r["score"] <= 100
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("options, match", [
    (dict(epochs=-1), "epochs: expected a whole number in 0..1000"),
    (dict(lr=0), r"lr: expected a number in \(0"),
    (dict(batch_size=2.5), "batch_size: expected a whole number"),
    (dict(data="coco"), "data: expected synthetic_shapes"),
    (dict(n_val=0), "n_val: expected"),
    (dict(num_classes=2), "the head predicts 4 classes; synthetic_shapes with 2 object classes needs 3"),
])
def test_train_task_bad_options(options, match):
    with pytest.raises(CodesignError, match=match):
        T.train_task(_model("segmentation"), "segmentation", **{**FAST, **options})


def test_task_options_are_train_tasks_keywords_with_their_defaults():
    params = inspect.signature(T.train_task).parameters
    assert {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY} == \
        {k: v[0] for k, v in T.TASK_OPTIONS.items()}
    assert T.task_options(epochs=2)["epochs"] == 2 and T.task_options()["lr"] == 4e-3
    with pytest.raises(CodesignError, match="train_task: unknown option 'colour'; expected data, resolution"):
        T.task_options(colour=True)


def test_train_task_needs_a_head_for_its_task():
    with pytest.raises(CodesignError, match="task detection: expected a model with an ssdlite head"):
        T.train_task(_model("segmentation"), "detection", epochs=0, **FAST)
    with seeded(0):
        classifier = genome_module(TINY)
    with pytest.raises(CodesignError, match=r"output is logits \(N, classes\)"):
        T.train_task(classifier, "segmentation", epochs=0, **FAST)
    with pytest.raises(CodesignError, match="task: expected detection or segmentation"):
        T.train_task(classifier, "pose")


# Measured (threads 1, seed 0): TINY's segmentation mIoU 1.3 % untrained, 34.4 % after 8 epochs of 256 images
# (object classes 12.9 / 17.9 / 19.6 %; predicting background everywhere scores about 21 %); SMALL's
# one-class detection mAP@0.5 0.4 % untrained, 14.0 % after 8 epochs (14.9 % from seed 1). The
# thresholds leave a wide margin.
def test_train_task_segmentation_learns_more_than_the_background():
    model = _model("segmentation")
    untrained = T.train_task(model, "segmentation", epochs=0, **FAST)["score"]
    trained = T.train_task(model, "segmentation", epochs=8, **{**FAST, "n_train": 256})
    assert trained["score"] > untrained + 15, (untrained, trained["score"])
    assert np.mean(trained["per_class"][1:]) > 5, trained["per_class"]   # the shapes, not only background
    assert trained["history"][-1]["train_loss"] < 0.7 * trained["history"][0]["train_loss"]


SMALL = NetworkGenome(resolution=96, stem_channels=16, head_channels=256, depth_multiplier=1.0,
                      stages=(StageGene("ibn", 3, 1, 1, 16, 1), StageGene("ibn", 3, 4, 1, 24, 2),
                              StageGene("ibn", 3, 4, 1, 32, 2), StageGene("ibn", 3, 4, 1, 48, 2),
                              StageGene("ibn", 3, 4, 1, 64, 2)))


@pytest.mark.slow
def test_train_task_detection_learns_the_easy_task():
    g = T.task_genome(SMALL, "detection", 1)   # one shape class: rectangles
    with seeded(0):
        model = genome_module(g)
    options = {**FAST, "resolution": 96, "n_train": 256, "n_val": 64}
    untrained = T.train_task(model, "detection", epochs=0, **options)["score"]
    trained = T.train_task(model, "detection", epochs=8, **options)
    assert untrained < 2 and trained["score"] > 7, (untrained, trained["score"])


# ------------------------------------------------------------------------------------ proxies
@pytest.mark.parametrize("task, kind", [("detection", "ssdlite"), ("segmentation", "lraspp"),
                                        ("segmentation", "deeplabv3")])
def test_proxies_score_headed_genomes_with_task_targets(task, kind):
    model = _model(task, kind)
    x, targets = T.proxy_batch(model, task, batch=4)
    assert x.shape == (4, 3, 64, 64)
    if task == "segmentation":
        assert targets.shape == (4, 64, 64) and targets.dtype == torch.long
    else:
        assert targets[0].shape[:2] == targets[1].shape and (targets[1] > 0).any()
    scores = P.score_all(model, x, targets, seed=0)
    assert all(math.isfinite(v) for v in scores.values()), scores
    assert P.score_all(model, x, targets, seed=0) == scores   # deterministic
    # the task's loss, not random labels
    assert scores["grad_norm"] != P.score(model, "grad_norm", x, None, seed=0)
    # NASWOT reads the backbone; with the head's units it is another number
    assert P.naswot(model, x) != P.naswot(model, x, include_head=True)


def test_proxies_on_headed_genomes_reject_classifier_labels():
    model = _model("segmentation")
    x = torch.randn(4, 3, 64, 64)
    with pytest.raises(CodesignError, match=r"grad_norm: targets: a segmenter's output needs a class mask"):
        P.score(model, "grad_norm", x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(CodesignError, match=r"grad_norm: targets: a detector's output needs per-anchor targets"):
        P.score(_model("detection"), "grad_norm", x, torch.zeros(4, dtype=torch.long))


def test_proxies_reject_an_unsupported_output():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return {"a": self.conv(x).flatten(2)}

    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(CodesignError, match=r"grad_norm: model output dict is not supported: expected logits"):
        P.score(Odd(), "grad_norm", x)
    assert math.isfinite(P.score(Odd(), "synflow", x))   # synflow sums whatever tensors come out
