"""Searches over networks and hardware jointly: the problems (``problems``: what is searched and how a
candidate is scored), the algorithms (``algorithms``: random, evolution, NSGA-II), the journal a run
appends to (``journal``), Pareto fronts and hypervolume (``pareto``), run configs (``runconfig``)
and running, resuming and showing runs and sweeps (``runs``)."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "algorithms": ("ALGORITHMS", "ALGORITHM_OPTIONS", "AgingEvolution", "BUDGET_SPENT", "NSGA2", "Problem",
        "REPEAT_LIMIT", "RandomSearch", "STATIC_TRIES", "SearchError", "SearchResult", "baseline_genomes",
        "check_options", "genome_key", "mutate", "random_genome", "run_hash", "run_search",),
    "explorer": ("BREAKDOWNS", "HW_FIELDS", "LoadedRun", "MAX_BREAKDOWN_ROWS", "check_inputs", "explorer_data",
        "explorer_page", "write_explorer", "write_runs_page",),
    "journal": ("Journal", "JournalError", "read_journal",),
    "pareto": ("HypervolumeTracker", "SMALL_SET", "dominance", "hypervolume", "hypervolume_exact",
        "hypervolume_trace", "non_dominated",),
    "problems": ("AccuracySource", "Constraint", "FixedHardware", "FixedNetwork", "HardwareAxis",
        "MAPPING_FAILURE", "METRICS", "MIB", "MobileAxis", "ModelAxis", "NB201Axis", "PROXY_LABELS", "SCORER_FALLBACKS",
        "SCORER_PREFER", "SearchProblem",
        "describe_genome",
        "hardware_genome_of", "metric_label", "objective_key",),
    "runconfig": ("BASELINE_PATTERN", "LIST_ELEMENTS", "MAX_THREADS", "RUN_CONFIG_SCHEMA", "RunConfig", "TOP_KEYS",
        "TRAIN_TASKS",
        "baseline_factor", "load_run_config", "parse_run_config", "reference_markdown",),
    "runs": ("IDENTITY", "JOURNAL", "OUTPUTS", "RUN_FILE", "Run", "SWEEP_KEYS", "SWEEP_SCHEMA", "baseline_row", "describe", "design_genome",
        "execute", "front_rows", "load_run", "md_cell", "plot_front", "reference_point", "show", "sweep",
        "write_outputs",),
})
