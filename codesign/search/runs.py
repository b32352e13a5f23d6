"""A search run on disk: start or resume it from a run config, write its outputs, inspect it.

A run folder holds ``run.yaml`` (the config as run), ``identity.json`` (what its evaluations are made
from: :meth:`RunConfig.identity`), ``journal.jsonl`` (every evaluation, appended as it finishes) and,
once the budget is spent (or the run stopped early: see :func:`run_search`), ``pareto.csv`` /
``pareto.json`` (the feasible non-dominated designs with their genomes and metrics; a run with a
baseline design adds its row, a ``kind`` column and each objective as a ratio to the baseline's),
``hypervolume.csv`` (hypervolume after each evaluation), ``pareto.png`` and, written last,
``summary.json`` (with the proposals, the repeated ones redrawn without an evaluation and why the
run ended), which names the journal (records, size, sha256) and the config the outputs were made
from: ``show``, and a rerun that evaluates nothing new, read them instead of recomputing while both
are unchanged. Starting the same config on the same folder again resumes:
recorded evaluations are replayed, not repeated; a resume whose inputs differ (the
hardware file's contents, an estimator checkpoint or accuracy table, the engine model code...) is
refused with one line naming what changed, and ``force_new`` (``--force-new``) moves the old folder
aside to ``DIR.old-<time>`` and starts afresh. A process working in a run folder holds its lock
(``DIR/.lock``), so a second one on the same folder is refused at once. A sweep is a folder of runs
plus a ``winners.csv`` / ``winners.md`` table. Tables and plots name a metric by
:func:`~codesign.search.problems.metric_label`: accuracy from a proxy is labelled as the proxy's
score (``synflow score (proxy)``); the journal and pareto.json keep the metric's name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from accelsim import schema
from accelsim.console import AREA_UNKNOWN, Blanks
from accelsim.io import leftover_temporaries, write_atomic

from . import problems as P
from ..errors import CodesignError
from ..identity import FORCE_NEW_HINT, check_same, claim_folder, fingerprint
from .journal import JournalError, read_journal
from .pareto import hypervolume
from .runconfig import RUN_CONFIG_SCHEMA, RunConfig, load_run_config, parse_run_config
from .algorithms import BUDGET_SPENT, SearchResult, run_search, run_hash

RUN_FILE, JOURNAL, IDENTITY = "run.yaml", "journal.jsonl", "identity.json"
# what write_outputs writes, summary.json last: a summary naming the journal it was made from vouches for the rest
OUTPUTS = ("pareto.csv", "pareto.json", "hypervolume.csv", "pareto.png", "summary.json")


@dataclass
class Run:
    """A run's config, problem and evaluations so far, with its feasible front and hypervolume."""

    cfg: RunConfig
    problem: object
    result: SearchResult
    rows: list            # front_rows(): the feasible non-dominated designs, best first objective first
    hypervolume: float


def _problem_key(ident: dict) -> str:
    """What the journal's run hash is made of: the identity's fingerprint (so the journal header and
    ``identity.json`` agree on what the evaluations are made from)."""
    return fingerprint(ident)[:16]


def _run_hash(cfg: RunConfig, ident: dict) -> str:
    return run_hash(_problem_key(ident), cfg.algorithm, cfg.seed, cfg.algorithm_options, cfg.batch_size)


def _stored_identity(out: Path) -> "dict | None":
    path = out / IDENTITY
    if not path.exists():
        return None
    try:
        ident = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        raise CodesignError(f"{path}: unreadable or not valid JSON (damaged run folder); {FORCE_NEW_HINT}") from None
    if not isinstance(ident, dict):
        raise CodesignError(f"{path}: expected a JSON object (damaged run folder); {FORCE_NEW_HINT}")
    return ident


def _has_header(journal: Path) -> bool:
    """The journal exists and its header line is complete (a kill while it was written leaves none)."""
    try:
        with open(journal, "rb") as fh:
            return b"\n" in fh.read(1 << 16)
    except FileNotFoundError:
        return False


def execute(cfg: RunConfig, out: "str | Path", progress: bool = True, log=print, force_new: bool = False) -> Run:
    """Run (or resume) ``cfg`` in folder ``out`` and write its outputs.

    The folder is locked for the call. A folder holding evaluations made from other inputs (see
    :meth:`RunConfig.identity`), or from a codesign that stored none, is refused; ``force_new`` first
    moves a non-empty folder aside to ``out.old-<time>`` and starts afresh."""
    out = Path(out)
    cfg.require_extras()
    ident = cfg.identity()
    with claim_folder(out, force_new=force_new) as moved:
        if moved is not None and log:
            log(f"{out}: the old run folder was moved aside to {moved}")
        return _execute(cfg, out, ident, progress, log)


def _execute(cfg: RunConfig, out: Path, ident: dict, progress: bool, log) -> Run:
    journal = out / JOURNAL
    if _has_header(journal):
        check_same(_stored_identity(out), ident, str(out), "this run folder")
        try:
            header, records = read_journal(journal)
        except JournalError as exc:
            raise CodesignError(f"{exc}; {FORCE_NEW_HINT}") from None
        if header["run_hash"] != _run_hash(cfg, ident):
            raise CodesignError(f"{out}: holds a run of another configuration (see its {RUN_FILE}); "
                                f"change the config back or pick another --out")
        held = len(records)
        if held > cfg.budget:
            raise CodesignError(f"{out}: holds {held} evaluations, more than the budget of {cfg.budget}; a run "
                                f"never shrinks: give --budget {held} or more, or see it with codesign show {out}")
    _remove_temporaries(out)
    # the identity goes down before the journal's first record, so a journal never lacks one
    write_atomic(out / IDENTITY, json.dumps(ident, indent=1, ensure_ascii=False))
    write_atomic(out / RUN_FILE, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    problem = cfg.build_problem()
    from ..runners import make_runner
    runner = make_runner(cfg.runner, **cfg.runner_options)
    t0 = time.perf_counter()
    try:
        result = run_search(problem, cfg.algorithm, cfg.budget, cfg.seed, journal_path=journal,
                            batch_size=cfg.batch_size, options=cfg.algorithm_options, problem_id=_problem_key(ident),
                            progress=progress, runner=runner)
    finally:
        runner.close()
    seconds = time.perf_counter() - t0
    stored = _stored_outputs(out, cfg) if result.evaluated == 0 else None
    if stored is not None and stored["summary"].get("evaluations") == len(result.metrics) \
            and all((out / name).exists() for name in OUTPUTS):
        # nothing new since the outputs were written: keep them
        run = Run(cfg, problem, result, stored["rows"], float(stored["summary"]["hypervolume"]))
    else:
        run = write_outputs(cfg, problem, result, out, seconds, progress=progress)
    if log:
        log(f"{cfg.name}: {result.evaluated} evaluated, {result.replayed} replayed from the journal, "
            f"{result.repeats} repeated proposals redrawn, "
            f"{int(result.feasible.sum())} feasible, {len(run.rows)} on the front, "
            f"hypervolume {run.hypervolume:.6g} -> {out}"
            + ("" if result.stop_reason == BUDGET_SPENT else f"; {result.stop_reason}"))
    return run


def _remove_temporaries(out: Path) -> None:
    """Remove the half-written files a killed run left in ``out`` (see ``leftover_temporaries``). Only
    the process holding the folder's lock writes there, so none is in use."""
    for name in (IDENTITY, RUN_FILE) + OUTPUTS:
        for tmp in leftover_temporaries(out / name):
            tmp.unlink(missing_ok=True)


def reference_point(cfg: RunConfig, result: SearchResult) -> np.ndarray:
    """The hypervolume reference in minimised space: the config's, else the worst feasible value of
    each objective plus 10 % of its range (so every feasible point counts)."""
    if cfg.reference is not None:
        return np.array([(-1 if P.METRICS[m][0] == "max" else 1) * float(cfg.reference[m]) for m in cfg.objectives])
    objs = result.objective_matrix()
    ok = result.feasible & np.all(np.isfinite(objs), axis=1)
    if not ok.any():
        return np.ones(len(cfg.objectives))
    lo, hi = objs[ok].min(axis=0), objs[ok].max(axis=0)
    return hi + 0.1 * np.maximum(hi - lo, 1e-9 * np.maximum(np.abs(hi), 1.0))


def front_rows(cfg: RunConfig, problem, result: SearchResult) -> list[dict]:
    idx = result.front()
    idx.sort(key=lambda i: tuple(result.metrics[i][o] for o in problem.objectives))
    rows = []
    for i in idx:
        g, m = result.genomes[i], result.metrics[i]
        net, hw = problem.describe(g)
        row = {"evaluation": i, "network": net, "hardware": hw}
        row.update({k: m[k] for k in P.METRICS if k in m})
        row["genome"] = g
        rows.append(row)
    return rows


def baseline_row(problem) -> "dict | None":
    """The baseline design as a row of the front's shape (``evaluation`` reads ``baseline``; its
    ``genome``: the network genes of an arch-string baseline, else empty), or None without one."""
    m = problem.baseline_metrics
    if m is None:
        return None
    g = problem.baseline_genome()
    row = {"evaluation": "baseline", "network": problem.describe_baseline(),
           "hardware": problem.base_hardware().name}
    row.update({k: m[k] for k in P.METRICS if k in m})
    row["genome"] = g if g is not None else {}
    return row


def _run(cfg: RunConfig, problem, result: SearchResult) -> tuple[Run, np.ndarray]:
    """The Run (its hypervolume: that of the final front, computed afresh) and its reference point."""
    ref = reference_point(cfg, result)
    idx = result.front()
    hv = hypervolume(result.objective_matrix()[idx], ref) if idx else 0.0
    return Run(cfg, problem, result, front_rows(cfg, problem, result), hv), ref


class _Progress:
    """One tqdm bar over the post-processing steps (the trace's evaluations, then the plot), shown only
    once they have run for a second; nothing when ``enabled`` is false (``--quiet``)."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit="step", delay=1.0)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def phase(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _config_sha256(cfg: RunConfig) -> str:
    return _sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())


def _journal_key(path: Path) -> "dict | None":
    """Records (complete lines after the header), size and sha256 of a journal's bytes."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return {"records": max(data.count(b"\n") - 1, 0), "bytes": len(data), "sha256": _sha256(data)}


def _stored_outputs(out: Path, cfg: RunConfig) -> "dict | None":
    """``{"summary", "rows"}`` from summary.json and pareto.json when they were written from the
    journal now in ``out`` (same records, size and sha256) and from this config; else None."""
    try:
        summary = json.loads((out / "summary.json").read_bytes())
        source = summary.get("source") if isinstance(summary, dict) else None
        if not isinstance(source, dict) or source.get("journal") is None \
                or source.get("config_sha256") != _config_sha256(cfg) \
                or source["journal"] != _journal_key(out / JOURNAL):
            return None
        data = (out / "pareto.json").read_bytes()
        if source.get("pareto_json_sha256") != _sha256(data):
            return None
        rows = json.loads(data)
        if not (isinstance(rows, list) and isinstance(summary.get("hypervolume"), (int, float))
                and isinstance(summary.get("evaluations"), int) and isinstance(summary.get("feasible"), int)):
            return None
    except (OSError, ValueError):
        return None
    return {"summary": summary, "rows": rows}


def write_outputs(cfg: RunConfig, problem, result: SearchResult, out: Path, seconds: float | None = None,
                  progress: bool = False) -> Run:
    """Write pareto.csv / .json, hypervolume.csv, pareto.png and summary.json (last) for ``result``;
    ``progress`` shows a bar once this has taken a second."""
    run, ref = _run(cfg, problem, result)
    rows = run.rows
    bar = _Progress(progress, len(result.metrics) + 1, f"{cfg.name}: outputs")
    try:
        bar.phase("hypervolume trace")
        trace = result.hypervolume_trace(ref, progress=bar.update)
        base = baseline_row(problem)
        metric_cols = [k for k in P.METRICS if (rows and k in rows[0]) or (not rows and base and k in base)]
        buf = io.StringIO()
        w = csv.writer(buf)
        # a run with a baseline adds a last column, kind: front or baseline (one last row)
        # and each objective as a ratio to the baseline's (``latency_ms / baseline``: 0.64 is 36 % faster)
        kind = ["kind"] if base is not None else []
        ratios = [m for m in cfg.objectives if base is not None and m in base]
        w.writerow(["evaluation", "network", "hardware"] + [_label(cfg, k) for k in metric_cols] + ["genome"] + kind
                   + [f"{_label(cfg, m)} / baseline" for m in ratios])
        for r in rows + ([base] if base is not None else []):
            w.writerow([r["evaluation"], r["network"], r["hardware"]]
                       + [f"{r[k]:.6g}" if k in r else "" for k in metric_cols]
                       + [json.dumps(r["genome"], sort_keys=True)]
                       + (["baseline" if r is base else "front"] if kind else [])
                       + [_ratio_text(r.get(m), base[m]) for m in ratios])
        write_atomic(out / "pareto.csv", buf.getvalue())
        pareto_json = json.dumps(rows, indent=1, default=float).encode()
        write_atomic(out / "pareto.json", pareto_json)
        write_atomic(out / "hypervolume.csv", "evaluations,hypervolume\n"
                     + "".join(f"{i + 1},{v:.8g}\n" for i, v in enumerate(trace)))
        bar.phase("pareto.png")
        plot_front(cfg, problem, result, rows, out / "pareto.png")
        bar.update(1)
    finally:
        bar.close()
    journal = _journal_key(out / JOURNAL)
    summary = {"name": cfg.name, "algorithm": cfg.algorithm, "seed": cfg.seed, "budget": cfg.budget,
               "evaluations": len(result.metrics), "feasible": int(result.feasible.sum()),
               "objectives": list(cfg.objectives), "objective_labels": [_label(cfg, m) for m in cfg.objectives],
               "reference": [float(v) for v in ref],
               "hypervolume": run.hypervolume, "front": [r["evaluation"] for r in rows],
               "problem_id": cfg.problem_id(),
               # every proposal of the search (seeds included); repeats: those of a design already evaluated,
               # redrawn without an evaluation and not charged to the budget
               "proposals": result.proposals, "repeats": result.repeats, "stop_reason": result.stop_reason,
               # what these outputs were made from (show reads them while it is unchanged)
               "source": {"journal": journal if journal and journal["records"] == len(result.metrics) else None,
                          "config_sha256": _config_sha256(cfg), "pareto_json_sha256": _sha256(pareto_json)}}
    if base is not None:
        summary["baseline"] = {k: v for k, v in base.items() if k not in ("evaluation", "genome")}
        if base["genome"]:
            summary["baseline"]["genome"] = base["genome"]
        summary["constraints"] = {c.metric: _constraint_summary(c) for c in problem.constraints}
    if seconds is not None:
        summary["seconds"] = round(seconds, 3)
        if result.evaluated:
            summary["evaluations_per_second"] = round(result.evaluated / seconds, 1)
    write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    return run


def _constraint_summary(c) -> dict:
    """A constraint as summary.json records it: its bounds as numbers (relative ones resolved against
    the baseline, with their factor)."""
    if c.budget:
        return {"max": "budget"}
    out = {side: float(getattr(c, side)) for side in ("max", "min") if getattr(c, side) is not None}
    for side in c.relative_sides():
        out[f"{side}_baseline"] = float(getattr(c, f"{side}_baseline"))
    return out


def plot_front(cfg: RunConfig, problem, result: SearchResult, rows: list, path: Path) -> None:
    """Every feasible evaluation in grey, the front on top coloured by its hardware config, and the
    baseline design (if the run has one) as a black star."""
    from accelsim.plots import pyplot, save_figure
    plt = pyplot()
    metrics = list(cfg.objectives)
    x_m = metrics[0]
    y_m = metrics[1] if len(metrics) > 1 else None
    fig, ax = plt.subplots(figsize=(7, 5))
    feas = [m for m, ok in zip(result.metrics, result.feasible) if ok and np.isfinite(m.get(x_m, np.inf))]
    if y_m is None:
        ax.plot(np.arange(1, len(result.metrics) + 1), [m.get(x_m, np.nan) for m in result.metrics], ".",
                color="0.7", ms=3)
        ax.set_xlabel("evaluation")
        ax.set_ylabel(_axis_label(cfg, x_m))
    else:
        ax.scatter([m[x_m] for m in feas], [m[y_m] for m in feas], s=6, color="0.8", label="feasible evaluations")
        distinct = list(dict.fromkeys(r["hardware"] for r in rows))
        if len(distinct) <= 10:
            cmap = plt.get_cmap("tab10")
            for k, hw in enumerate(distinct):
                pts = [r for r in rows if r["hardware"] == hw]
                ax.plot([r[x_m] for r in pts], [r[y_m] for r in pts], "o", color=cmap(k), ms=6, label=hw)
        else:  # too many configs to name: colour by the hardware's area
            sc = ax.scatter([r[x_m] for r in rows], [r[y_m] for r in rows], c=[r["area_mm2"] for r in rows],
                            cmap="viridis", s=36, edgecolors="k", linewidths=0.3, label="front")
            fig.colorbar(sc, ax=ax, label="hardware area (mm²)")
            ax.set_title(f"front: {len(rows)} designs on {len(distinct)} hardware configs", fontsize=9)
        ax.set_xlabel(_axis_label(cfg, x_m))
        ax.set_ylabel(_axis_label(cfg, y_m))
        from accelsim.html_report import needs_log_axis   # a metric spanning more than a decade: log axis
        if needs_log_axis([m[x_m] for m in feas]):
            ax.set_xscale("log")
        if needs_log_axis([m[y_m] for m in feas]):
            ax.set_yscale("log")
    base = baseline_row(problem)
    if base is not None and np.isfinite(base.get(x_m, np.nan)):
        if y_m is None:
            ax.axhline(base[x_m], color="k", ls="--", lw=1, label="baseline")
        elif np.isfinite(base.get(y_m, np.nan)):
            ax.plot([base[x_m]], [base[y_m]], "*", color="k", ms=14, mfc="gold", label="baseline")
    if ax.get_legend_handles_labels()[0]:   # one legend for whatever was drawn: grey points, front, baseline
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{cfg.name}: {cfg.algorithm}, {len(result.metrics)} evaluations", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def _label(cfg: RunConfig, metric: str) -> str:
    """What the run's tables call ``metric`` (:func:`~codesign.search.problems.metric_label`)."""
    return P.metric_label(metric, cfg.accuracy["source"] if cfg.accuracy else None)


def _axis_label(cfg: RunConfig, metric: str) -> str:
    name = _label(cfg, metric)
    if name != metric:   # a proxy's score: no unit
        return f"{name}, higher is better"
    return f"{metric} ({P.METRICS[metric][1]})"


def load_run(folder: "str | Path") -> Run:
    """A run folder's config, problem and evaluations so far (finished or not)."""
    folder = Path(folder)
    return _load_run(folder, _load_config(folder))


def _load_config(folder: Path) -> RunConfig:
    if not (folder / RUN_FILE).exists():
        raise CodesignError(f"{folder}: not a run folder (no {RUN_FILE})")
    return load_run_config(folder / RUN_FILE)


def _load_run(folder: Path, cfg: RunConfig) -> Run:
    problem = cfg.build_problem()
    if (folder / JOURNAL).exists():
        _, records = read_journal(folder / JOURNAL)
    else:
        records = []
    result = SearchResult([r["genome"] for r in records], [r["metrics"] for r in records], problem.objectives)
    return _run(cfg, problem, result)[0]


def design_genome(folder: "str | Path", evaluation: int):
    """The network genome of evaluation ``evaluation`` of a run of a network space (type mobile or
    from_model), read from its journal."""
    folder = Path(folder)
    cfg = _load_config(folder)
    problem = cfg.build_problem()
    if not hasattr(problem.net_axis, "genome"):
        raise CodesignError(f"{folder}: its network is {problem.net_axis.kind}, not a space of genomes "
                            f"(type mobile or from_model)")
    records = read_journal(folder / JOURNAL)[1] if (folder / JOURNAL).exists() else []
    if not 0 <= evaluation < len(records):
        raise CodesignError(f"--evaluation: expected 0-{len(records) - 1} (the run's evaluations), got {evaluation}"
                            if records else f"{folder}: no evaluations yet")
    return problem.net_axis.genome(records[evaluation]["genome"])


def show(folder: "str | Path", top: int = 15) -> str:
    """A run folder as text: progress, constraints, hypervolume and the top of the front. Read from
    summary.json and pareto.json while they are current for the journal; else computed from the
    journal (the front and its hypervolume only: no trace, no plot, nothing written)."""
    folder = Path(folder)
    cfg = _load_config(folder)
    stored = _stored_outputs(folder, cfg)
    if stored is not None:
        s = stored["summary"]
        return _describe(cfg, s["evaluations"], s["feasible"], stored["rows"], float(s["hypervolume"]), folder, top,
                         s.get("stop_reason", BUDGET_SPENT))
    return describe(_load_run(folder, cfg), folder, top)


def describe(run: Run, folder: "str | Path", top: int = 15) -> str:
    return _describe(run.cfg, len(run.result.metrics), int(run.result.feasible.sum()), run.rows, run.hypervolume,
                     folder, top, run.result.stop_reason)


def _describe(cfg: RunConfig, evaluations: int, feasible: int, rows: list, hv: float, folder: "str | Path",
              top: int, stop_reason: str = BUDGET_SPENT) -> str:
    """``stop_reason``: why the run ended short of its budget (a run read from its journal alone
    cannot tell, and is shown as unfinished)."""
    if evaluations >= cfg.budget:
        state = ""
    elif stop_reason != BUDGET_SPENT:
        state = f" ({stop_reason})"
    else:
        state = " (unfinished; run the same command again to resume)"
    lines = [f"run {cfg.name} ({folder})",
             f"  {cfg.algorithm}, seed {cfg.seed}: {evaluations} of {cfg.budget} evaluations" + state,
             f"  objectives: {', '.join(_label(cfg, m) for m in cfg.objectives)}; constraints: "
             + (", ".join(_constraint_text(c, _label(cfg, c.metric)) for c in cfg.build_problem().constraints)
                or "none"),
             f"  feasible: {feasible}; front: {len(rows)} designs; hypervolume {hv:.6g}", ""]
    cols = list(cfg.objectives) + [k for k in ("latency_ms", "energy_mj", "area_mm2", "memory_mb") if k not in cfg.objectives]
    base = baseline_row(cfg.build_problem())
    # with a baseline: its row first, and each objective of a design as a ratio to the baseline's
    ratios = [m for m in cfg.objectives if base is not None and _ratio(1.0, base.get(m)) is not None]
    lines.append("| # | " + " | ".join(_label(cfg, c) for c in cols)
                 + "".join(f" | {_label(cfg, m)} / baseline" for m in ratios) + " | network | hardware |")
    lines.append("|---" * (len(cols) + len(ratios) + 3) + "|")
    blanks = Blanks()
    for r in ([base] if ratios else []) + rows[:top]:
        lines.append(f"| {r['evaluation']} | "
                     + " | ".join(blanks.cell(r.get(c), ".4g", _missing_reason(c, _label(cfg, c))) for c in cols)
                     + "".join(" | " + blanks.cell(_ratio(r.get(m), base[m]), ".3f", _missing_reason(m, _label(cfg, m)))
                               for m in ratios)
                     + f" | {md_cell(r['network'])} | {md_cell(r['hardware'])} |")
    if len(rows) > top:
        lines.append(f"... {len(rows) - top} more in pareto.csv")
    return "\n".join(lines + blanks.notes())


def _missing_reason(metric: str, name: str) -> str:
    """Why ``metric`` (called ``name`` in the table) of a design is missing (NaN) in a run's tables."""
    if metric == "area_mm2":
        return AREA_UNKNOWN
    if metric in ("energy_mj", "edp", "power_mw"):
        return f"{name}: no energy figure (an estimator trained on measured latencies gives latency only)"
    return f"{name}: not given for that design"


def _ratio(value, baseline) -> "float | None":
    """``value / baseline``, or None where that is not a finite number."""
    if value is None or baseline is None or not np.isfinite(value) or not np.isfinite(baseline) or baseline == 0:
        return None
    return float(value) / float(baseline)


def _ratio_text(value, baseline) -> str:
    r = _ratio(value, baseline)
    return "" if r is None else f"{r:.3f}"


def md_cell(value) -> str:
    """``value`` as one Markdown table cell: a ``|`` (NAS-Bench-201 cells are written with them) would
    end the cell, so it is escaped."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _constraint_text(c, name: str) -> str:
    if c.budget:
        return f"{name} <= budget"
    parts = []
    for side, op in (("max", "<="), ("min", ">=")):
        if getattr(c, side) is not None:
            factor = getattr(c, f"{side}_baseline")
            parts.append(f"{name} {op} {getattr(c, side):g}"
                         + ("" if factor is None else f" ({factor:g} x baseline)"))
    return " and ".join(parts)


# ------------------------------------------------------------------------------------- sweeps
def _sweep_schema() -> dict:
    metrics = list(P.METRICS)
    keys = ["hardware"] + [f"constraints.{m}.{b}" for m in metrics for b in ("max", "min")]
    pick_words = "{max: METRIC} or {min: METRIC}"
    metric = {"enum": metrics, "x-expected": f"one of {', '.join(metrics)}"}
    root = schema.obj({
        "run": {"description": "the run config: a path (relative to this file) or an inline mapping", "x-unit": "-",
                "if": {"type": "string"}, "then": {"minLength": 1, "x-expected": "a run config path or mapping"},
                "else": {**RUN_CONFIG_SCHEMA, "x-expected": "a run config path or mapping"}},
        "sweep": schema.obj({
            "key": {"type": "string", "enum": keys, "description": "the setting swept", "x-unit": "-",
                    "x-range": "hardware, constraints.METRIC.max/min",
                    "x-expected": "hardware or constraints.METRIC.max/min"},
            "values": {"type": "array", "minItems": 1, "description": "one run per value", "x-unit": "-",
                       "x-expected": "a non-empty list of values"}},
            required=("key", "values"), help="the swept setting and its values",
            expected="{key: hardware | constraints.METRIC.max, values: [...]}"),
        "pick": {"type": "object", "description": "the winner of each run: {max: METRIC} or {min: METRIC} "
                                                  "(default: max accuracy, else min of the first objective)",
                 "x-unit": "-", "x-expected": pick_words, "minProperties": 1, "maxProperties": 1,
                 "additionalProperties": False, "properties": {"max": metric, "min": metric}}},
        required=("run", "sweep"), help="One run per value of a swept setting, then the winners.",
        missing_words={"run": "missing; expected a run config path or mapping",
                       "sweep": "missing; expected {key: hardware | constraints.METRIC.max, values: [...]}"})
    root["x-expected"] = "a mapping with run, sweep and pick"
    return root


SWEEP_SCHEMA = _sweep_schema()
SWEEP_KEYS = tuple(SWEEP_SCHEMA["properties"])


def sweep(path: "str | Path", out: "str | Path", progress: bool = True, log=print,
          force_new: bool = False) -> list[dict]:
    """One run per value of a swept setting (``hardware`` or a constraint bound), then the winners.

    ::

        run: nn_search.yaml              # a run config (path relative to this file) or an inline mapping
        sweep: {key: hardware, values: [neural_engine, edge_tpu_like, eyeriss_like]}
        pick: {max: accuracy}            # the winner of each run: best accuracy on its feasible front

    ``key`` may be ``hardware`` or ``constraints.<metric>.max`` / ``.min``. The file is checked against
    :data:`SWEEP_SCHEMA` (an inline run against the run config's). Each run resumes as
    :func:`execute` does; ``force_new`` moves each earlier run folder aside first.
    """
    from accelsim.io import read_yaml
    path = Path(path)
    given = read_yaml(path)
    spec = schema.check(given, SWEEP_SCHEMA, str(path), CodesignError)
    base = given["run"]   # as written: each run's config keeps it so
    source = str(path)
    if isinstance(base, str):
        base_path = path.parent / base
        base = read_yaml(base_path)
        source = str(base_path)
        if not isinstance(base, dict):
            raise CodesignError(f"{path}: run: expected a run config path or mapping, got {base!r}")
    sw = given["sweep"]
    key = sw["key"]
    parts = key.split(".")
    pick = spec.get("pick", {"max": "accuracy"} if "accuracy" in base.get("objectives", []) else
                    {"min": (base.get("objectives") or ["latency_ms"])[0]})
    (direction, metric), = pick.items()
    out = Path(out)
    winners = []
    names = {}
    for value in sw["values"]:
        data = json.loads(json.dumps(base))
        if key == "hardware":
            data["hardware"] = value
        else:
            cons = data.setdefault("constraints", {})
            cur = cons.get(parts[1])
            cur = dict(cur) if isinstance(cur, dict) else ({"max": cur} if isinstance(cur, (int, float)) else {})
            cur[parts[2]] = value
            cons[parts[1]] = cur
        label = str(value).replace("/", "_")
        data["name"] = f"{data.get('name', path.stem)}-{label}"
        cfg = parse_run_config(data, source)
        run = execute(cfg, out / label, progress=progress, log=log, force_new=force_new)
        names = {m: _label(cfg, m) for m in P.METRICS}
        rows = run.rows
        best = None
        if rows and metric in rows[0]:
            best = (max if direction == "max" else min)(rows, key=lambda r: r[metric])
        winners.append({"value": value, "run": str(out / label), "front": len(rows), "best": best,
                        "hypervolume": run.hypervolume})
    _write_winners(out, key, metric, winners, names)
    return winners


def _write_winners(out: Path, key: str, metric: str, winners: list, names: dict) -> None:
    """``names``: the column name of each metric (see :func:`_label`)."""
    cols = [k for k in P.METRICS if any(w["best"] and k in w["best"] for w in winners)]
    heads = [names.get(k, k) for k in cols]
    buf = io.StringIO()
    wr = csv.writer(buf)
    # the winner's own hardware description is 'design_hardware': the swept key may itself be 'hardware'
    wr.writerow([key, "front_size"] + heads + ["network", "design_hardware"])
    md = [f"| {key} | front | " + " | ".join(heads) + " | network | design hardware |", "|---" * (len(cols) + 4) + "|"]
    blanks = Blanks()
    for w in winners:
        b = w["best"] or {}
        wr.writerow([w["value"], w["front"]] + [f"{b[c]:.6g}" if c in b else "" for c in cols]
                    + [b.get("network", ""), b.get("hardware", "")])
        md.append(f"| {md_cell(w['value'])} | {w['front']} | "
                  + " | ".join(blanks.cell(b.get(c), ".4g", _missing_reason(c, names.get(c, c)) if b else
                                           "no feasible design in that run") for c in cols)
                  + f" | {md_cell(b.get('network', 'no feasible design'))} | {md_cell(b.get('hardware', ''))} |")
    write_atomic(out / "winners.csv", buf.getvalue())
    write_atomic(out / "winners.md", "\n".join(md + ([""] + blanks.notes() if blanks.reasons else [])) + "\n")

