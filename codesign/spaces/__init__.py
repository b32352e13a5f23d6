"""The search spaces every layer above shares: network and hardware spaces, their genomes and the
builders that turn a genome into an accelsim network or hardware config (``space``), and the
NAS-Bench-201 cell space (``nb201``), and model transforms on genomes (``transforms``). Imports nothing
else from codesign but ``errors``."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nb201": ("EDGES", "EDGE_KEYS", "OPS", "all_archs", "arch_str", "compiled_network", "genome_arch",
        "live_edges", "network", "op_indices", "ops_of", "parse_cell",),
    "space": ("BLOCKS", "CHANNEL_MODES", "FORMAT_DEFAULTS", "HARDWARE_SPACE_SCHEMA", "HEAD_KINDS", "HardwareGenome",
        "HardwareSpace", "HeadGene", "NETWORK_SPACE_SCHEMA", "NetworkGenome", "NetworkSpace", "StageGene",
        "build_hardware", "build_network", "hardware_key", "hardware_pool", "head_taps", "stable_hash",),
    "transforms": ("fuse_ibn", "round_channels", "scale_depth", "scale_width", "unfuse"),
})
