"""Constraint bounds relative to a baseline design: parsing, resolution, outputs and resume identity."""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml

import accelsim
from accelsim.config import load_hardware
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.search import problems as P
from codesign.search.runconfig import baseline_factor, parse_run_config
from codesign.spaces import nb201

# conv3x3 on the first three edges, skip on the last three
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
OTHER = "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
RUN = {"name": "rel", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
       "accuracy": {"source": "nb201"}, "budget": 48, "batch_size": 16, "algorithm": "random", "baseline": ARCH}


def _parse(**changes):
    return parse_run_config({**RUN, **changes}, "run.yaml")


@pytest.mark.parametrize("bound, factor", [
    ("baseline", 1.0), ("0.5 baseline", 0.5), ("0.5*baseline", 0.5), ("0.5 * baseline", 0.5),
    ("0.5 x baseline", 0.5), ("0.5x baseline", 0.5), (" 2 baseline ", 2.0), ("1e-1 baseline", 0.1), (3.0, None)])
def test_every_bound_form_parses(bound, factor):
    assert baseline_factor(bound) == factor
    c, = _parse(constraints={"params_m": {"max": bound}}).constraints
    assert (c.max_baseline, c.min_baseline) == (factor, None)
    assert c.max == (bound if factor is None else None)
    # the shorthand (= max) takes the relative forms too
    c, = _parse(constraints={"params_m": bound}).constraints
    assert c.max_baseline == factor


@pytest.mark.parametrize("change, message", [
    ({"constraints": {"params_m": {"max": "half baseline"}}},
     "run.yaml: constraints.params_m.max: expected a number, 'baseline' or 'F baseline' (F times the baseline "
     "design's value), got 'half baseline'"),
    ({"constraints": {"params_m": {"max": "0.5baseline"}}}, "run.yaml: constraints.params_m.max: expected a number"),
    ({"constraints": {"params_m": {"max": "-1 baseline"}}}, "run.yaml: constraints.params_m.max: expected a number"),
    ({"constraints": {"accuracy": {"min": "baseline / 2"}}}, "run.yaml: constraints.accuracy.min: expected a number"),
    ({"constraints": {"params_m": {"max": "0 baseline"}}},
     "run.yaml: constraints.params_m.max: expected a positive factor of baseline ('0.5 baseline'), got '0 baseline'"),
    ({"constraints": {"latency_ms": "fast"}},
     "run.yaml: constraints.latency_ms: expected {max: X}, {min: X}, a number (= max), 'F baseline' (= max) or "
     "'budget', got 'fast'"),
    ({"baseline": None, "constraints": {"params_m": {"max": "baseline"}}},
     "run.yaml: constraints.params_m.max: 'baseline' needs a baseline design; give baseline: ARCH"),
    ({"baseline": "|conv~0|+|"}, "run.yaml: baseline: NAS-Bench-201 arch '|conv~0|+|': expected"),
    ({"baseline": {"model": "mobilenet_v2"}},
     "run.yaml: baseline: expected a NAS-Bench-201 arch string (space.network.type nb201), got"),
    ({"baseline": 3}, "run.yaml: baseline: expected a zoo model name, an .onnx path or {model: NAME, ...options}"),
])
def test_bad_bounds_and_baselines_are_one_line_errors(change, message):
    with pytest.raises(CodesignError) as exc:
        _parse(**change)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_a_searched_mobile_network_needs_a_baseline_and_accuracy_a_source_that_scores_it():
    mobile = {"name": "m", "space": {"network": {"type": "mobile", "depths": [1]}},
              "objectives": ["latency_ms", "params_m"]}
    with pytest.raises(CodesignError, match=re.escape(
            "run.yaml: constraints.params_m.max: 'baseline' needs a baseline design; give baseline: NETWORK")):
        parse_run_config({**mobile, "constraints": {"params_m": {"max": "baseline"}}}, "run.yaml")
    with pytest.raises(CodesignError, match=re.escape(
            "run.yaml: constraints.accuracy.min: a bound relative to the baseline needs an accuracy source that can "
            "score the baseline (nb201 for an arch string, params or macs for any network), got synflow")):
        parse_run_config({**mobile, "baseline": "mobilenet_v2", "accuracy": "synflow",
                          "constraints": {"accuracy": {"min": "baseline"}}}, "run.yaml")
    # params proxy: log10 of MobileNetV2's 3,487,816 parameters
    cfg = parse_run_config({**mobile, "baseline": "mobilenet_v2", "accuracy": "params",
                            "constraints": {"accuracy": {"min": "baseline"}, "params_m": {"max": "0.5 baseline"}}},
                           "run.yaml")
    acc, params = cfg.build_problem().constraints
    assert acc.min == pytest.approx(6.542553565626221, rel=1e-12)      # log10(3487816)
    assert params.max == pytest.approx(0.5 * 3.487816, rel=1e-12)


def test_fixed_network_is_the_default_baseline():
    cfg = parse_run_config({"name": "h", "space": {"hardware": {"rows": [16, 32]}}, "network": "mobilenet_v2",
                            "objectives": ["latency_ms", "area_mm2"],
                            "constraints": {"latency_ms": {"max": "0.9 x baseline"}}}, "run.yaml")
    ne = load_hardware("neural_engine")
    r = accelsim.simulate(accelsim.load_model("mobilenet_v2"), ne)
    c, = cfg.build_problem().constraints
    assert c.max == pytest.approx(0.9 * r.latency_ms, rel=1e-12)
    # no baseline and no relative bound: none is scored (the run's outputs stay as they were)
    plain = parse_run_config({"name": "h", "space": {"hardware": {"rows": [16, 32]}}, "network": "mobilenet_v2",
                              "objectives": ["latency_ms", "area_mm2"]}, "run.yaml")
    assert plain.build_problem().baseline_metrics is None and "baseline" not in plain.identity()


def _hand_baseline():
    """The baseline's metrics from a direct simulate call and the NAS-Bench-201 table."""
    from codesign.accuracy.tables import NB201Table
    ne = load_hardware("neural_engine")
    net = nb201.network(ARCH)
    r = accelsim.simulate(net, ne)
    return r, net, NB201Table.load(None).accuracy(ARCH, "cifar10")


def test_relative_bounds_resolve_against_the_baseline():
    r, net, acc = _hand_baseline()
    cfg = _parse(constraints={"params_m": {"max": "baseline"}, "latency_ms": {"max": "0.5 baseline"},
                              "accuracy": {"min": "0.9*baseline"}, "memory_mb": "budget"})
    prob = cfg.build_problem()
    m = prob.baseline_metrics
    assert m["latency_ms"] == pytest.approx(r.latency_ms, rel=1e-12)
    assert m["energy_mj"] == pytest.approx(r.energy_mj, rel=1e-12)
    assert m["params_m"] == net.params / 1e6 == 0.80041        # the table's 0.80 M parameters of this cell
    assert m["accuracy"] == pytest.approx(93.46499633789062, rel=1e-12) and m["accuracy"] == pytest.approx(acc)
    params, lat, accuracy, memory = prob.constraints
    assert params.max == 0.80041 and params.max_baseline == 1.0
    assert lat.max == pytest.approx(0.5 * r.latency_ms, rel=1e-12)
    assert accuracy.min == pytest.approx(0.9 * 93.46499633789062, rel=1e-12)
    assert memory.budget and memory.max is None
    # the baseline itself: within params and accuracy, twice the latency bound -> excess 1.0
    g = prob.baseline_genome()
    cand = prob.evaluate([g])[0]
    assert cand["latency_ms"] == m["latency_ms"]
    assert cand["violation"] == pytest.approx(1.0, rel=1e-9)


def _csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_run_honours_resolved_bounds_and_writes_the_baseline(tmp_path):
    r, _, _ = _hand_baseline()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**RUN, "constraints": {"params_m": {"max": "baseline"},
                                                          "latency_ms": {"max": "0.8 baseline"}}}))
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    rows = _csv(out / "pareto.csv")
    ratio_cols = [f"{m} / baseline" for m in ("latency_ms", "accuracy")]
    assert list(rows[0])[-4:] == ["genome", "kind"] + ratio_cols
    front, base = rows[:-1], rows[-1]
    assert front and all(row["kind"] == "front" for row in front)
    assert [base[c] for c in ratio_cols] == ["1.000", "1.000"]
    for row in front:   # each objective as a ratio to the baseline's, to 3 decimals
        assert float(row[ratio_cols[0]]) == pytest.approx(float(row["latency_ms"]) / r.latency_ms, abs=6e-4)
    assert base["kind"] == "baseline" and base["evaluation"] == "baseline" and base["network"] == ARCH
    assert base["hardware"] == "neural_engine" and float(base["latency_ms"]) == pytest.approx(r.latency_ms, rel=1e-5)
    assert json.loads(base["genome"]) == dict(zip(nb201.EDGE_KEYS, nb201.ops_of(ARCH)))
    for row in front:
        assert float(row["latency_ms"]) <= 0.8 * r.latency_ms and float(row["params_m"]) <= 0.80041
    s = json.loads((out / "summary.json").read_text())
    assert s["baseline"]["latency_ms"] == pytest.approx(r.latency_ms, rel=1e-12)
    assert s["baseline"]["accuracy"] == pytest.approx(93.46499633789062, rel=1e-12)
    assert s["constraints"]["params_m"] == {"max": 0.80041, "max_baseline": 1.0}
    assert s["constraints"]["latency_ms"]["max"] == pytest.approx(0.8 * r.latency_ms, rel=1e-12)
    assert s["constraints"]["latency_ms"]["max_baseline"] == 0.8
    # pareto.json keeps the front only
    assert len(json.loads((out / "pareto.json").read_text())) == len(front)
    # same seed, same bytes
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert (out / "pareto.csv").read_bytes() == (tmp_path / "again" / "pareto.csv").read_bytes()


def test_a_run_without_a_baseline_keeps_its_columns(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({k: v for k, v in RUN.items() if k != "baseline"}))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--budget", "16", "--quiet"]) == 0
    with open(tmp_path / "r" / "pareto.csv") as fh:
        head = next(csv.reader(fh))
    assert head == ["evaluation", "network", "hardware", "latency_ms", "energy_mj", "edp", "area_mm2", "power_mw",
                    "memory_mb", "macs_m", "params_m", "accuracy", "genome"]
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert "baseline" not in s and "constraints" not in s


def test_a_resume_with_another_baseline_is_refused(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**RUN, "budget": 16, "constraints": {"latency_ms": {"max": "baseline"}}}))
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert "baseline" in json.loads((out / "identity.json").read_text())
    capsys.readouterr()
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0     # same baseline: resumes
    assert "0 evaluated, 16 replayed" in capsys.readouterr().out
    cfg.write_text(yaml.safe_dump({**RUN, "budget": 16, "baseline": OTHER,
                                   "constraints": {"latency_ms": {"max": "baseline"}}}))
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was made from other inputs" in err[0] and "baseline" in err[0]


def test_show_names_the_resolved_bounds(tmp_path, capsys):
    r, _, _ = _hand_baseline()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**RUN, "budget": 16, "constraints": {"latency_ms": {"max": "0.5 baseline"}}}))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp_path / "r")]) == 0
    assert f"latency_ms <= {0.5 * r.latency_ms:g} (0.5 x baseline)" in capsys.readouterr().out
