"""Accuracy signals for the joint search, cheapest first: the NAS-Bench-201 lookup table (``tables``,
no torch needed), zero-shot proxies (``proxies``), short training on a user's dataset (``training``)
or, for detector and segmenter genomes, on a task (``tasks``, on the ``synthetic`` shapes dataset), and
the torch twin of a network genome (``torch_models``)."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "proxies": ("BASELINES", "FOCAL_GAMMA", "PROXIES", "ZERO_SHOT", "detection_loss", "flop_count", "genome_seed",
        "grad_norm", "naswot", "output_kind", "param_count", "reset_parameters", "score", "score_all", "seeded",
        "synflow", "task_loss", "torch_threads",),
    "synthetic": ("MAX_BOX_OVERLAP", "PIXEL_MEAN", "PIXEL_STD", "SHAPES", "SHAPE_SIZE_RANGE", "make_shapes",),
    "tables": ("DATASETS", "arch_str", "op_indices", "DEFAULT_TABLE", "NB201Table", "NB201_SIZE", "TABLE_FORMAT", "read_npz",),
    "torch_models": ("GenomeNet", "HeadedGenomeNet", "genome_module",),
    "tasks": ("ANCHOR_SCALES", "BOX_VARIANCES", "DATA_SPLITS", "DEFAULT_HEADS", "FOREGROUND_PRIOR", "HEAD_TASKS",
        "MAP_IOU", "MATCH_IOU", "MAX_DETECTIONS", "NMS_IOU", "SCORE_THRESHOLD", "TASKS", "TASK_DATA", "TASK_METRICS",
        "TASK_OPTIONS", "average_precision", "box_iou", "class_iou", "confusion_matrix", "decode_boxes",
        "detect_boxes", "detector_layout", "encode_boxes", "match_anchors", "nms", "prior_init", "proxy_batch",
        "split_seed", "ssd_anchors", "task_genome", "task_of", "task_options", "train_task",),
    "training": ("load_training_npz", "train_short",),
})
