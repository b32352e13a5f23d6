"""Accuracy signals for the joint search, cheapest first: the NAS-Bench-201 lookup table (``tables``,
no torch needed), zero-shot proxies (``proxies``), short training on a user's dataset (``training``),
and the torch twin of a network genome (``torch_models``)."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "proxies": ("BASELINES", "PROXIES", "ZERO_SHOT", "flop_count", "genome_seed", "grad_norm", "naswot",
        "param_count", "reset_parameters", "score", "score_all", "seeded", "synflow", "torch_threads",),
    "tables": ("DATASETS", "arch_str", "op_indices", "DEFAULT_TABLE", "NB201Table", "NB201_SIZE", "TABLE_FORMAT", "read_npz",),
    "torch_models": ("GenomeNet", "HeadedGenomeNet", "genome_module",),
    "training": ("load_training_npz", "train_short",),
})
