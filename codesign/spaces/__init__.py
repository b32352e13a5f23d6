"""The search spaces every layer above shares: network and hardware spaces, their genomes and the
builders that turn a genome into an accelsim network or hardware config (``space``), and the
NAS-Bench-201 cell space (``nb201``), model transforms on genomes (``transforms``), the zoo models as
genomes (``zoo_genomes``) and the space of a product model's axes (``model_space``). Imports nothing
else from codesign but ``errors``."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "model_space": ("AXES", "Gene", "MODEL_SPACE_SCHEMA", "ModelSpace", "ROUNDING", "SEARCH_SCHEMA", "genome_path", "load_genome_file",
        "model_space_from_dict"),
    "nb201": ("EDGES", "EDGE_KEYS", "OPS", "all_archs", "arch_str", "compiled_network", "genome_arch",
        "live_edges", "network", "network_rows", "network_rows_many", "op_indices", "ops_of", "parse_cell",),
    "space": ("ACTIVATIONS", "BLOCKS", "CHANNEL_MODES", "DEFAULT_ACTIVATION", "DatasetHardwareSpace", "FORMAT_DEFAULTS", "HARDWARE_SPACE_SCHEMA", "HEAD_KINDS", "HardwareGenome",
        "HardwareSpace", "HeadGene", "NETWORK_SPACE_SCHEMA", "NetworkGenome", "NetworkSpace", "SE_KINDS", "StageGene",
        "build_hardware", "build_network", "clear_caches", "hardware_changes", "hardware_key", "hardware_name", "hardware_pool", "head_taps", "packed_network", "packed_networks",
        "squeeze_excite", "stable_hash",),
    "transforms": ("fuse_ibn", "round_channels", "scale_depth", "scale_width", "unfuse"),
    "zoo_genomes": ("ZOO_GENOMES", "zoo_genome"),
})
