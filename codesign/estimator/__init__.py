"""The latency/energy/memory estimator and its data.

- ``features``: per-layer features of a network on a hardware config (the fold formulas come from
  ``accelsim.engine.folds``);
- ``baselines``: the analytic baselines an estimator is judged against;
- ``dataset``: training data sampled from the spaces and labelled by the simulator;
- ``model``: the estimator itself (``Estimator``, ``TrainConfig``, ``train_estimator``);
- ``measured``: estimators trained on measured latency tables;
- ``validate``: rank and error metrics and the validation report.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "baselines": ("BASELINES", "fit_constants", "layer_baselines", "pair_baselines",),
    "dataset": ("DATASET_VERSION", "Dataset", "DatasetRequest", "FORMATS", "GenerateResult", "KINDS",
        "PAIR_FLOAT_COLUMNS", "SHARD_SIZE", "TABLES", "code_version", "generate", "load_dataset",
        "remove_stale_temporaries", "run_shard", "sample_block", "sample_operator", "shard_name",
        "write_shard",),
    "features": ("FAMILIES", "FEATURE_NAMES", "FORMAT_COLUMNS", "FREE", "HW_COLUMNS", "HW_INFO_COLUMNS",
        "HW_TABLE_COLUMNS", "LAYER_COLUMNS", "LOG_NEGLIGIBLE", "NET_COLUMNS", "OUT_COLUMNS", "check_engine_tables", "check_estimable",
        "compose_energy", "engineered", "family_of", "hardware_table", "network_layer_table", "planned_traffic",
        "schema", "take_rows",),
    "measured": ("DATA_DIR", "DEFAULT_TRAIN_SHARE", "FBNET_BLOCKS", "FBNET_BLOCK_NAMES", "FBNET_CHANNELS", "FBNET_LAYERS",
        "LayerSums", "MEASURED_CONFIG", "MeasuredResult", "NETWORK_COLUMNS", "NETWORK_FORMATS", "NetworkTable",
        "PRIOR_MODELS", "detect_format", "evaluate_fbnet", "evaluate_nb201", "evaluate_networks", "evaluate_ops",
        "fbnet_network", "fbnet_tables", "fit_measured", "fit_networks", "layer_sums", "nb201_live_edges",
        "nb201_network", "network_column", "operator_network", "PACKAGED_TABLES", "packaged_rows", "packaged_table",
        "parse_share_or_count", "predict_table", "read_csv", "read_network_table", "read_packaged", "row_network",
        "split_size",),
    "model": ("CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "DISAGREEMENT", "Estimator", "EstimatorRangeWarning",
        "FamilyModel",
        "MLP", "MODES", "OUTPUTS", "RANGE_FLOOR", "RANGE_TOLERANCE", "TrainConfig", "new_family_model",
        "outside_message", "split_workloads", "train_estimator", "training_rows", "unique_rows", "warn_outside",),
    "validate": ("finite_ranks", "kendall_tau_b", "markdown", "metrics", "plots", "spearman", "spearman_interval",
        "write_report",),
})
