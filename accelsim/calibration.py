"""Calibrate a hardware config to a device you can measure.

A handful of networks with measured latencies fixes a few numeric fields of a config (clock, DRAM
bandwidth and latency, per-layer overhead, per-op-class efficiency, or any other number the YAML
holds); the calibrated config is then an ordinary config, used by ``simulate``, ``compare``,
searches and the system model alike::

    hw, report = accelsim.calibrate("neural_engine", networks, latencies_ms)
    print(report.table())

The fit minimises the squared error of log latency (relative error, the same weight for a 1 ms and a
100 ms network) with scipy's trust-region least squares over the chosen keys, each in log space when
it is positive-only and in linear space when it may be 0. The Jacobian is a forward difference with
one step per key, every column in one batched :func:`~accelsim.engine.simulate_many` call (networks x
the perturbed configs), so a trial costs one engine call. The cost is piecewise smooth (a layer turns
from compute- to memory-bound), so the fit starts from the base config and from ``starts - 1`` points
drawn (``seed``) in the search box, and keeps the best.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .config import (OP_CLASSES, CalibrationConfig, EfficiencyConfig, Hardware, OverheadConfig, hardware_to_dict,
                     load_hardware)
from .console import QUIET_HELP, Steps
from .errors import ConfigError
from .extras import require
from .workload.ir import Network

# Keys fitted when none are given, per hardware kind (see :func:`default_fit`): the device's speed, its
# memory, a fixed cost per layer (dispatch), and how the op classes the networks use compare.
DEFAULT_FIT = {
    "systolic": ("array.clock_mhz", "dram.bandwidth_gb_per_s", "dram.latency_ns", "calibration.layer_overhead_us",
                 "calibration.overhead_us.<class>", "calibration.efficiency.<class>"),
    "roofline": ("roofline.throughput.<format>.<class>_gops", "dram.bandwidth_gb_per_s",
                 "roofline.layer_overhead_us", "calibration.overhead_us.<class>", "roofline.half_outputs"),
}

# The calibration section's keys, absent from a config's YAML at their defaults: those defaults (a fit
# may start from them) and the upper bounds their meaning sets (an efficiency is a share of the peak
# rate), read from the config's own dataclasses.
ABSENT_DEFAULTS = {"calibration.layer_overhead_us": CalibrationConfig().layer_overhead_us,
                   **{f"calibration.efficiency.{c}": EfficiencyConfig().of(c) for c in OP_CLASSES},
                   **{f"calibration.overhead_us.{c}": OverheadConfig().of(c) for c in OP_CLASSES}}
KEY_MAX = {f"calibration.efficiency.{f.name}": f.metadata["high"] for f in dataclasses.fields(EfficiencyConfig)}
LINEAR_KEYS = ("calibration.layer_overhead_us", "roofline.layer_overhead_us", "dram.latency_ns",   # may be 0
               *(f"calibration.overhead_us.{c}" for c in OP_CLASSES))
SPAN = 1000.0           # a positive key may move to base / SPAN .. base x SPAN
LINEAR_SPAN_US = 1e4    # a key that may be 0 moves in [0, max(10 x base, this)] (us, ns: its own unit)
FAILED_RESIDUAL = 10.0  # log error charged to a network the trial config cannot run (e^10 off)
SAMPLE_RULES = ("random", "flops")


def default_fit(hw: Hardware, networks: Sequence[Network]) -> tuple:
    """The keys fitted when none are given, only those the networks can tell apart.

    systolic: clock (every compute rate), DRAM bandwidth and latency, per-layer overhead, and for the
    dense and depthwise classes the networks have, the extra overhead of a layer of that class (a
    runtime dispatches a conv at a different cost from an element-wise op; the per-layer overhead is
    the element-wise one); and the efficiency of the depthwise and element-wise classes the networks
    have (dense stays 1: the clock carries it). roofline: the peak rate of each (format, class) the
    networks' layers use, DRAM bandwidth, per-layer overhead, the same per-class extra overheads, and
    the efficiency curve's half point."""
    from .engine.reference import op_class
    used = {}
    for net in networks:
        for layer in net.layers:
            if layer.op == "concat":
                continue
            cls = op_class(layer)
            fmts = {layer.act_precision} if cls == "elementwise" else {layer.weight_precision, layer.act_precision}
            used.setdefault(cls, set()).update(fmts)
    kind = hw.kind
    extra = tuple(f"calibration.overhead_us.{c}" for c in OP_CLASSES if c != "elementwise" and c in used)
    if kind == "systolic":
        return ("array.clock_mhz", "dram.bandwidth_gb_per_s", "dram.latency_ns", "calibration.layer_overhead_us") \
            + extra + tuple(f"calibration.efficiency.{c}" for c in OP_CLASSES if c != "dense" and c in used)
    if kind == "roofline":
        have = set(hw.precision_names)
        rates = tuple(f"roofline.throughput.{f}.{c}_gops" for c in OP_CLASSES for f in sorted(used.get(c, ()))
                      if f in have)
        return rates + ("dram.bandwidth_gb_per_s", "roofline.layer_overhead_us") + extra + ("roofline.half_outputs",)
    raise ConfigError(f"calibrate: no default --fit keys for hardware kind {kind!r}; name the keys to fit")


def _get(data: dict, key: str):
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ABSENT_DEFAULTS.get(key)
        node = node[part]
    return node


def _apply(base: Hardware, keys: Sequence[str], values: Sequence[float], integer: Sequence[bool]) -> Hardware:
    changes = {}
    for k, v, is_int in zip(keys, values, integer):
        changes[k.replace(".", "__")] = int(round(v)) if is_int else float(v)
    return base.replace(**changes)


@dataclass
class Parameter:
    """One fitted key: its base value, bounds (in its own unit) and how the optimiser sees it."""
    key: str
    base: float
    lower: float
    upper: float
    log: bool        # optimised as log(value) (positive-only keys) or as the value (keys that may be 0)
    integer: bool

    def to_x(self, v: float) -> float:
        return math.log(v) if self.log else float(v)

    def from_x(self, x: float) -> float:
        v = math.exp(x) if self.log else float(x)
        return min(max(v, self.lower), self.upper)

    @property
    def x_bounds(self) -> tuple:
        return (self.to_x(self.lower), self.to_x(self.upper))


def parameters(base: Hardware, keys: Sequence[str]) -> list[Parameter]:
    """The fit's parameters, each checked: a numeric field of ``base`` (or of its calibration section)
    that ``Hardware.replace`` accepts. One ConfigError line per problem."""
    data = hardware_to_dict(base)
    out, seen = [], set()
    for key in keys:
        if key in seen:
            raise ConfigError(f"calibrate: --fit {key}: given twice")
        seen.add(key)
        value = _get(data, key)
        if value is None:
            raise ConfigError(f"calibrate: --fit {key}: no such numeric key in {base.name} (a YAML key path "
                              "joined by dots, e.g. dram.bandwidth_gb_per_s)")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"calibrate: --fit {key}: not a numeric field of {base.name} (its value is "
                              f"{value!r}); expected a number to fit")
        integer = isinstance(value, int)
        try:
            _apply(base, [key], [value], [integer])
        except ConfigError as exc:
            raise ConfigError(f"calibrate: --fit {key}: {str(exc).splitlines()[0]}") from None
        v = float(value)
        if v > 0 and key not in LINEAR_KEYS:
            lo, hi = v / SPAN, min(v * SPAN, KEY_MAX.get(key, math.inf))
            if integer:
                lo = max(1.0, lo)
            log = True
        else:
            lo, hi, log = 0.0, max(10 * v, LINEAR_SPAN_US), False
        lo, hi = _valid(base, key, v, lo, integer), _valid(base, key, v, hi, integer)
        out.append(Parameter(key, v, lo, hi, log, integer))
    return out


def _valid(base: Hardware, key: str, v: float, bound: float, integer: bool) -> float:
    """``bound``, or the value nearest it towards ``v`` that the config's schema accepts (halving the
    distance, in log terms for positive values), so the search box never leaves the valid range."""
    for _ in range(60):
        try:
            _apply(base, [key], [bound], [integer])
            return bound
        except ConfigError:
            bound = math.sqrt(bound * v) if bound > 0 and v > 0 else (bound + v) / 2
    return v


def latency_ms(hw: "Hardware | Sequence[Hardware]", networks: Sequence[Network]) -> np.ndarray:
    """Simulated latency (ms) of each network on ``hw`` (``[network]``), or on each config of a list
    (``[network, config]``) in one batched engine call; inf where a network cannot run."""
    many = not isinstance(hw, (Hardware, str))
    hws = list(hw) if many else [hw]
    from .engine.simulate import simulate_many   # here, so that the command's input errors never load numba
    lat = simulate_many(list(networks), hws).latency_ms
    return lat if many else lat[:, 0]


@dataclass
class FitReport:
    """What a calibration did: keys, values before and after, the fit's error on its samples, and cost."""
    keys: tuple
    base: str
    base_values: tuple
    values: tuple
    samples: int
    train: dict                      # accuracy() on the calibration samples, after the fit
    train_before: dict               # ... with the base config
    starts: int
    evaluations: int                 # configs simulated (each on every sample network)
    engine_calls: int                # batched simulate_many calls
    seconds: float
    bounded: tuple = field(default=())   # keys that ended on a bound of their box
    rms_log_error: float = math.nan       # root mean square of log(simulated / measured) on the samples, after

    def table(self) -> str:
        rows = ["| key | base | calibrated | ratio |", "|---|---:|---:|---:|"]
        for k, b, v in zip(self.keys, self.base_values, self.values):
            ratio = f"{v / b:.3g}" if b else "-"
            rows.append(f"| {k} | {b:.6g} | {v:.6g} | {ratio} |")
        return "\n".join(rows)

    def summary(self) -> str:
        return (f"calibrated {len(self.keys)} keys of {self.base} on {self.samples} networks: MAPE "
                f"{self.train_before['mape_pct']:.1f} % -> {self.train['mape_pct']:.1f} % on them; {self.starts} "
                f"starts, {self.evaluations} configs in {self.engine_calls} engine calls, {self.seconds:.1f} s")

    def comment(self, source: str) -> str:
        """The comment block a calibrated YAML starts with: what was fitted from what."""
        lines = [f"Calibrated from {self.base} by accelsim calibrate on {source}.",
                 f"{self.samples} networks; log-latency least squares over {len(self.keys)} keys "
                 f"({self.starts} starts, {self.evaluations} configs simulated).",
                 f"On those networks: MAPE {self.train_before['mape_pct']:.2f} % before, "
                 f"{self.train['mape_pct']:.2f} % after; Spearman {self.train['spearman']:.3f}.",
                 "Fitted (base -> calibrated):"]
        lines += [f"  {k}: {b:.6g} -> {v:.6g}" + (" (at a bound of the search box)" if k in self.bounded else "")
                  for k, b, v in zip(self.keys, self.base_values, self.values)]
        lines.append("Every other number is the base config's.")
        return "".join(f"# {line}\n" for line in lines)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def accuracy(pred: np.ndarray, measured: np.ndarray) -> dict:
    """MAPE, share within +-10 %, Spearman and Kendall tau-b of predictions against measurements."""
    stats = require("scipy.stats", "codesign", "accelsim calibrate's rank correlations")
    pred, measured = np.asarray(pred, dtype=float), np.asarray(measured, dtype=float)
    ok = np.isfinite(pred)
    err = np.where(ok, np.abs(pred / measured - 1), np.inf)
    out = {"n": int(len(measured)), "mape_pct": float(100 * np.mean(np.minimum(err, 1e6))),
           "within_10_pct": float(100 * np.mean(err <= 0.10 + 1e-12)), "spearman": float("nan"),
           "kendall": float("nan"),
           "failed": int((~ok).sum())}
    if len(measured) >= 3 and ok.sum() >= 3 and np.ptp(pred[ok]) > 0:
        out["spearman"] = float(stats.spearmanr(pred[ok], measured[ok]).statistic)
        out["kendall"] = float(stats.kendalltau(pred[ok], measured[ok]).statistic)
    return out


def choose_samples(n_rows: int, n: int, rule: str = "random", seed: int = 0, macs=None) -> np.ndarray:
    """Indices of ``n`` calibration rows out of ``n_rows``: ``random`` (a seeded draw) or ``flops``
    (spread over the networks' MACs: the rows at evenly spaced MAC ranks, a seeded draw among ties)."""
    if rule not in SAMPLE_RULES:
        raise ConfigError(f"calibrate: sample rule {rule!r}: expected one of {', '.join(SAMPLE_RULES)}")
    if not 1 <= n <= n_rows:
        raise ConfigError(f"calibrate: {n} samples asked of a table with {n_rows} usable rows; expected 1 to {n_rows}")
    rng = np.random.default_rng(seed)
    if rule == "random":
        return np.sort(rng.choice(n_rows, size=n, replace=False))
    if macs is None or len(macs) != n_rows:
        raise ConfigError("calibrate: the flops rule needs each row's MACs")
    order = np.lexsort((rng.random(n_rows), np.asarray(macs, dtype=float)))
    ranks = np.unique(np.round(np.linspace(0, n_rows - 1, n)).astype(np.int64))
    return np.sort(order[ranks])


def calibrate(base: "Hardware | str", networks: Sequence[Network], latencies_ms, fit: Sequence[str] | None = None,
              *, starts: int = 4, seed: int = 0, max_evaluations: int = 400) -> tuple[Hardware, FitReport]:
    """Fit ``fit`` (YAML key paths, dots: ``dram.bandwidth_gb_per_s``; default :data:`DEFAULT_FIT` for
    the config's kind) of ``base`` so the simulated latencies of ``networks`` match ``latencies_ms``.

    Returns the calibrated config (named ``<base>_calibrated``, described by where it came from) and a
    :class:`FitReport`. ``starts``: fits from the base and from ``starts - 1`` seeded points of the box;
    ``max_evaluations``: configs simulated per start at most. Same inputs and seed, same result.
    """
    optimize = require("scipy.optimize", "codesign", "accelsim calibrate")
    t0 = time.perf_counter()
    hw0 = load_hardware(base)
    nets = list(networks)
    y = np.asarray(latencies_ms, dtype=float)
    if not nets:
        raise ConfigError("calibrate: no networks to calibrate on")
    if y.shape != (len(nets),):
        raise ConfigError(f"calibrate: {len(nets)} networks but {y.size} latencies")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        i = int(np.nonzero(~(np.isfinite(y) & (y > 0)))[0][0])
        raise ConfigError(f"calibrate: latency {i} ({nets[i].name}) is {float(y[i])}; expected a positive number of ms")
    if starts < 1:
        raise ConfigError(f"calibrate: starts must be at least 1, got {starts}")
    keys = tuple(fit) if fit else default_fit(hw0, nets)
    params = parameters(hw0, keys)
    integer = [p.integer for p in params]
    log_y = np.log(y)
    counter = {"configs": 0, "calls": 0}
    cache: dict = {}

    def configs(X):
        return [_apply(hw0, keys, [p.from_x(x) for p, x in zip(params, row)], integer) for row in X]

    def residuals_of(lat):
        r = np.log(np.where(np.isfinite(lat) & (lat > 0), lat, 1.0)) - log_y[:, None]
        return np.where(np.isfinite(lat), r, FAILED_RESIDUAL)

    def evaluate(X):
        """Residual columns for each parameter vector of X (rows), one engine call."""
        X = np.atleast_2d(X)
        todo = [i for i, row in enumerate(X) if row.tobytes() not in cache]
        if todo:
            lat = latency_ms(configs(X[todo]), nets)
            counter["configs"] += len(todo)
            counter["calls"] += 1
            for j, i in enumerate(todo):
                cache[X[i].tobytes()] = residuals_of(lat[:, j:j + 1])[:, 0]
        return np.stack([cache[row.tobytes()] for row in X], axis=1)

    lo = np.array([p.x_bounds[0] for p in params])
    hi = np.array([p.x_bounds[1] for p in params])
    # a difference step of 1/1000 of the box; an integer key steps by at least one unit
    step = np.array([max(1e-3 * (h - l), (math.log1p(1 / p.base) if p.log else 1.0) if p.integer else 0.0)
                     for p, l, h in zip(params, lo, hi)])

    def jac_points(x):
        pts = [x]
        for j in range(len(x)):
            xj = x.copy()
            xj[j] = x[j] + step[j] if x[j] + step[j] <= hi[j] else x[j] - step[j]
            pts.append(xj)
        return np.array(pts)

    def fun(x):
        return evaluate(jac_points(np.asarray(x, dtype=float)))[:, 0]

    def jac(x):
        x = np.asarray(x, dtype=float)
        pts = jac_points(x)
        R = evaluate(pts)
        return (R[:, 1:] - R[:, :1]) / (pts[1:].diagonal() - x)[None, :]

    # a key at a bound of its box (an overhead of 0) starts one difference step inside it: least
    # squares started on a bound may take steps too small to leave it
    x_base = np.clip(np.array([p.to_x(p.base) for p in params]), lo, hi)
    x0 = np.clip(x_base, lo + step, hi - step)
    rng = np.random.default_rng(seed)
    inits = [x0] + [lo + rng.random(len(params)) * (hi - lo) for _ in range(starts - 1)]
    before = evaluate(x_base[None, :])[:, 0]
    best_x, best_cost = x_base, float(np.sum(before ** 2))
    per_start = max(2, max_evaluations // (len(params) + 1))
    for x_init in inits:
        res = optimize.least_squares(fun, x_init, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac",
                                     max_nfev=per_start, xtol=1e-6, ftol=1e-8)
        cost = float(np.sum(evaluate(res.x[None, :])[:, 0] ** 2))
        if cost < best_cost * (1 - 1e-12):
            best_x, best_cost = res.x, cost
    values = [p.from_x(x) for p, x in zip(params, best_x)]
    values = [float(int(round(v))) if p.integer else v for p, v in zip(params, values)]
    hw = _apply(hw0, keys, values, integer)
    hw = hw.replace(name=f"{hw0.name}_calibrated",
                    description=f"{hw0.name} calibrated on {len(nets)} measured networks (keys: {', '.join(keys)})")
    r_after = evaluate(best_x[None, :])[:, 0]
    bounded = tuple(p.key for p, v in zip(params, values)
                    if math.isclose(v, p.lower, rel_tol=1e-6, abs_tol=1e-12) or math.isclose(v, p.upper, rel_tol=1e-6))
    report = FitReport(keys=keys, base=hw0.name, base_values=tuple(p.base for p in params), values=tuple(values),
                       samples=len(nets), train=accuracy(y * np.exp(r_after), y),
                       train_before=accuracy(y * np.exp(before), y), starts=len(inits),
                       evaluations=counter["configs"], engine_calls=counter["calls"],
                       seconds=time.perf_counter() - t0, bounded=bounded,
                       rms_log_error=float(np.sqrt(np.mean(r_after ** 2))))
    return hw, report


# ------------------------------------------------------------------------------------------ command
def _scaled_baseline(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """A proxy (MACs, parameters) times the one constant that fits the calibration rows best in log terms."""
    x_train, x_test = np.maximum(x_train, 1.0), np.maximum(x_test, 1.0)
    return x_test * float(np.exp(np.median(np.log(y_train / x_train))))


def _markdown_table(results: list) -> str:
    from .console import Blanks
    blanks = Blanks()
    undefined = "rank correlation undefined: fewer than 3 held-out rows, or all predictions equal"
    lines = ["| samples | predictor | MAPE | within ±10 % | Spearman | Kendall |", "|---:|---|---:|---:|---:|---:|"]
    for r in results:
        for name, m in r["held_out"].items():
            lines.append(f"| {r['samples']} | {name} | {m['mape_pct']:.1f} % | {m['within_10_pct']:.1f} % | "
                         f"{blanks.cell(m['spearman'], '.3f', undefined)} | {blanks.cell(m['kendall'], '.3f', undefined)} |")
    return "\n".join(lines + blanks.notes())


def _plot(path, results: list, measured: np.ndarray, test_pred: dict, target: str) -> None:
    from .plots import log_ticks, pyplot, save_figure
    plt = pyplot()
    curve = len(results) > 1
    fig, axes = plt.subplots(1, 2 if curve else 1, figsize=(10 if curve else 5, 4.5), squeeze=False)
    ax = axes[0, 0]
    for k, (name, pred) in enumerate(test_pred.items()):   # the first (the calibrated config) on top
        ax.scatter(measured, pred, s=4, alpha=0.4, label=name, zorder=2 + len(test_pred) - k)
    lo, hi = float(np.min(measured)), float(np.max(measured))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="predicted = measured", zorder=10)
    ax.set_xscale("log")
    ax.set_yscale("log")
    both = (min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1]))
    ax.set_xlim(both)   # the same range on both axes: the diagonal at 45 degrees
    ax.set_ylim(both)
    log_ticks(ax.xaxis)
    log_ticks(ax.yaxis)
    ax.set_xlabel(f"measured {target} (ms)")
    ax.set_ylabel("predicted (ms)")
    ax.set_title(f"held-out networks, {results[-1]['samples']} calibration samples", fontsize=9)
    ax.legend(fontsize=7, markerscale=3, loc="best")
    if curve:
        ax = axes[0, 1]
        ns = [r["samples"] for r in results]
        # a marker, size and line style each: predictors that rank alike (FLOPs and parameter counts often
        # do) draw on top of each other, and the later one must not hide the earlier
        styles = [("o", 8, "-"), ("s", 6.5, "--"), ("^", 5, "-."), ("D", 3.5, ":")]
        for k, name in enumerate(results[-1]["held_out"]):
            marker, size, line = styles[k % len(styles)]
            ax.plot(ns, [r["held_out"].get(name, {}).get("spearman", np.nan) for r in results], marker=marker,
                    ms=size, ls=line, label=name)
        ax.set_xscale("log")
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel("calibration samples")
        ax.set_ylabel("Spearman on held-out networks")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def held_out_fit(table, nets, hw0: Hardware, keys, n: int, base_all: np.ndarray | None, *, rule: str = "random",
                 seed: int = 0, starts: int = 4, learned: bool = True, measured=None, test_rows: int | None = None):
    """Calibrate ``hw0`` on ``n`` rows of a measured table (``codesign.estimator.measured.NetworkTable``)
    chosen by ``rule``, and score it on the other rows (``test_rows`` of them, a seeded draw, when given)
    beside the base config, FLOPs and parameter counts scaled on the same rows and, with ``learned``,
    the measured-mode estimator trained on the same rows.

    ``nets``: the table's networks as simulated, or ``{graph: networks}`` (the same rows built as
    several graphs, see :func:`table_graphs`): then each graph is calibrated on the same rows and the
    one whose fit is closest on those rows (RMS log error) is kept. ``keys``: the keys to fit, or None
    for :func:`default_fit` of each graph. ``base_all``: the latencies of every row on ``hw0``, or None.
    Returns (result dict, calibrated config, FitReport, predictions on the test rows by predictor,
    test row indices)."""
    y = table.latency
    graphs = nets if isinstance(nets, dict) else {"": nets}
    first = next(iter(graphs.values()))
    n_rows = len(first)
    macs = np.array([m.macs for m in first], dtype=float)
    params = np.array([m.params for m in first], dtype=float)
    idx = choose_samples(n_rows, n, rule, seed, macs)
    test = np.setdiff1d(np.arange(n_rows), idx)
    if test_rows is not None and test_rows < len(test):
        test = np.sort(np.random.default_rng(seed + 1).choice(test, size=test_rows, replace=False))
    fits = {}
    for graph, gnets in graphs.items():
        train_nets = [gnets[i] for i in idx]
        fits[graph] = calibrate(hw0, train_nets, y[idx], keys or default_fit(hw0, train_nets), starts=starts,
                                seed=seed)
    graph = min(fits, key=lambda g: fits[g][1].rms_log_error)
    hw, rep = fits[graph]
    pred = {"calibrated": latency_ms(hw, [graphs[graph][i] for i in test])}
    if base_all is not None:
        pred[f"base ({hw0.name})"] = base_all[test]
    pred["FLOPs"] = _scaled_baseline(macs[idx], y[idx], macs[test])
    pred["params"] = _scaled_baseline(params[idx], y[idx], params[test])
    if learned and n >= 2:
        est = measured.fit_networks(table.networks, y, idx, sums=table.layer_sums(), seed=seed)
        v = "pruned" if est.metadata["pruned"] else "as_written"
        pred["learned estimator"] = measured.predict_table(est, table.layer_sums()[v], test)
    held = {name: accuracy(p, y[test]) for name, p in pred.items()}
    res = {"samples": int(n), "rows": [int(table.lines[i]) for i in idx], "fit": rep.to_dict(), "held_out": held,
           "test_rows": int(len(test))}
    if graph:
        res["graph"] = graph
        res["graph_rms_log_error"] = {g: f[1].rms_log_error for g, f in fits.items()}
    return res, hw, rep, pred, test


GRAPHS = ("compiled", "pruned", "eager")   # how a NAS-Bench-201 row is built (see table_graphs)


def table_graphs(table, rows: list, graphs: Sequence[str]) -> dict:
    """The networks of a measured table's rows built as each of ``graphs``: ``compiled`` (as written,
    the graph an inference compiler runs before pruning), ``pruned`` (dead edges removed, constant cells
    folded) or ``eager`` (every module call an eager framework dispatches: batch norms, a multiply per
    'none' edge, one add per edge; :func:`accelsim.workload.nb201.nb201_network`). Only NAS-Bench-201
    rows have more than one; any other table is ``compiled`` alone. ``rows``: the CSV's rows."""
    from .workload.nb201 import nb201_network
    out = {}
    for g in graphs:
        if g not in GRAPHS:
            raise ConfigError(f"--graph {g}: expected one of {', '.join(GRAPHS)} or auto")
        if g != "compiled" and table.format != "nb201":
            raise ConfigError(f"--graph {g}: only for NAS-Bench-201 tables (an arch_str column); {table.path} has "
                              f"a {table.column} column")
        if g == "eager":
            out[g] = [nb201_network(rows[line - 2][table.column].strip(), form="eager") for line in table.lines]
        else:
            out[g] = list(table.networks["pruned" if g == "pruned" else "as_written"])
    return out


def run_command(args) -> int:
    """``accelsim calibrate``: see :func:`add_arguments`. Every input and output path is checked, and
    the whole table read and built, before the first fit."""
    from pathlib import Path

    from .io import check_out_file
    for arg, path in (("--out", args.out), ("--json", args.json), ("--plot", args.plot)):
        if path:
            check_out_file(arg, path)
    hw0 = load_hardware(args.hw)
    if args.fit:
        parameters(hw0, args.fit)   # checked before the table is read
    samples = list(args.samples or [20])
    for n in samples:
        if n < 1:
            raise ConfigError(f"--samples: expected whole numbers >= 1, got {n}")
    if args.starts < 1:
        raise ConfigError(f"--starts: expected an integer >= 1, got {args.starts}")
    measured = require("codesign.estimator.measured", "codesign", "accelsim calibrate --measured")
    with Steps(args.quiet, "calibrate", 2 + len(samples)) as steps:
        steps.start(f"reading {Path(args.measured).name} and building its networks")
        return _run(args, hw0, samples, measured, steps)


def _run(args, hw0: Hardware, samples: list, measured, steps) -> int:
    """:func:`run_command` once its arguments are checked, naming each step on ``steps``."""
    from pathlib import Path

    from .io import write_atomic, write_json
    from .workload.precision_policy import uniform
    header, rows = measured.read_csv(args.measured)
    table = measured.read_network_table(args.measured, args.target, header, rows)
    graph = "pruned" if args.prune else args.graph
    by_graph = table_graphs(table, rows, GRAPHS if graph == "auto" else [graph])
    if args.precision:
        by_graph = {g: [uniform(n, args.precision) for n in gnets] for g, gnets in by_graph.items()}
    nets = by_graph[GRAPHS[0] if graph == "auto" else graph]
    keys = tuple(args.fit) if args.fit else None
    y = table.latency
    n_rows = len(nets)
    if max(samples) >= n_rows:
        raise ConfigError(f"{args.measured}: column {args.target!r} has {n_rows} usable rows; --samples "
                          f"{max(samples)} leaves none to test on (expected at most {n_rows - 1})")
    from .engine.warmup import say_if_cold
    say_if_cold()
    steps.start(f"simulating its {n_rows:,} networks on {hw0.name}")
    for gnets in by_graph.values():
        base_all = latency_ms(hw0, gnets)
        bad = np.nonzero(~np.isfinite(base_all))[0]
        if bad.size:
            i = int(bad[0])
            raise ConfigError(f"{args.measured}: row {table.lines[i]}: column {table.column!r}: network "
                              f"{gnets[i].name} cannot run on {hw0.name} (a format it lacks, or a layer no tiling "
                              "fits); try --precision with a format the config has")
    if len(by_graph) > 1:   # the base config's column is shown for a single graph only
        base_all = None
    results, last = [], None
    source = f"{Path(args.measured).name} column {args.target}"
    for n in samples:
        steps.start(f"{n} samples: fitting, scoring the other rows"
                    + ("" if args.no_estimator else ", training the learned estimator on them"))
        res, hw, rep, pred, test = held_out_fit(table, by_graph if graph == "auto" else nets, hw0, keys, n, base_all,
                                                rule=args.rule, seed=args.seed, starts=args.starts,
                                                learned=not args.no_estimator, measured=measured)
        results.append(res)
        chosen = f" (graph {res['graph']}, the closest fit of {', '.join(GRAPHS)})" if "graph" in res else ""
        print(f"{n:>5} samples: {rep.summary()}{chosen}")
        last = (hw, rep, pred, test)
    print()
    print(f"Held-out rows of {source} ({results[-1]['test_rows']} at the largest sample count; rule "
          f"{args.rule}, seed {args.seed}):")
    print(_markdown_table(results))
    hw, rep, pred, test = last
    print()
    print(rep.table())
    if args.out:
        import yaml
        text = rep.comment(source) + yaml.safe_dump(hardware_to_dict(hw), sort_keys=False)
        write_atomic(args.out, text)
        print(f"wrote {args.out}")
    if args.json:
        write_json(args.json, {"hardware": hw0.name, "table": Path(args.measured).name, "target": args.target,
                               "format": table.format, "graph": graph, "rule": args.rule, "seed": args.seed,
                               "keys": list(results[-1]["fit"]["keys"]), "results": results}, indent=1)
    if args.plot:
        _plot(args.plot, results, y[test], {k: pred[k] for k in pred if k in ("calibrated", f"base ({hw0.name})")},
              args.target)
    return 0


def add_arguments(sp) -> None:
    sp.add_argument("--hw", required=True, help="base hardware config (name or path)")
    sp.add_argument("--measured", required=True, metavar="TABLE.csv",
                    help="one network per row (a column arch_str: NAS-Bench-201, blocks: FBNet-style block list, "
                         "network/model: zoo name with options, onnx: path, genome: JSON) and measured latency "
                         "in ms per device column")
    sp.add_argument("--target", required=True, metavar="COLUMN", help="the device column to calibrate to")
    sp.add_argument("--fit", nargs="+", metavar="KEY",
                    help="YAML key paths to fit, e.g. dram.bandwidth_gb_per_s calibration.layer_overhead_us "
                         "(default, of the classes and formats the networks use: "
                         + "; ".join(f"{k}: {' '.join(v)}" for k, v in DEFAULT_FIT.items()) + ")")
    sp.add_argument("--samples", nargs="+", type=int, metavar="N",
                    help="calibration rows (several: the sample-efficiency curve, one fit each; default 20)")
    sp.add_argument("--rule", choices=SAMPLE_RULES, default="random",
                    help="how the samples are chosen: random (seeded) or flops (evenly spread over MACs)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the sample draw and of the fit's extra starts")
    sp.add_argument("--starts", type=int, default=4, help="fits from the base and starts-1 random points (default 4)")
    sp.add_argument("--precision", help="run every layer in this format (e.g. fp16 on a device without int8)")
    sp.add_argument("--graph", choices=GRAPHS + ("auto",), default="compiled",
                    help="NAS-Bench-201: how each cell is built -- compiled (as written, batch norms folded; the "
                         "default), pruned (dead edges removed, as a deployment compiler runs it), eager (every "
                         "module call an eager framework dispatches), or auto (calibrate each, keep the closest "
                         "fit on the calibration rows)")
    sp.add_argument("--prune", action="store_true", help="the same as --graph pruned")
    sp.add_argument("--no-estimator", action="store_true",
                    help="skip the learned estimator trained on the same rows (the slowest comparison)")
    sp.add_argument("--out", metavar="FILE.yaml", help="write the calibrated config (largest --samples)")
    sp.add_argument("--json", metavar="FILE", help="write every fit and held-out metric as JSON")
    sp.add_argument("--plot", metavar="FILE.png", help="predicted vs measured; with several --samples, the curve")
    sp.add_argument("--quiet", action="store_true",
                    help=QUIET_HELP + "; a terminal otherwise gets one line naming each step (a table of thousands "
                                      "of rows takes minutes)")
