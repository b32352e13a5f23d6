"""accelsim calibrate: recover known parameters from latencies the engine produced, the report's
numbers, the calibrated YAML, and bad input (one line naming file, row and column)."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.calibration import accuracy, choose_samples, default_fit, latency_ms, parameters
from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.workload.nb201 import nb201_network

OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none")
KEYS = ["array.clock_mhz", "dram.bandwidth_gb_per_s", "dram.latency_ns"]
TRUTH = {"array__clock_mhz": 700.0, "dram__bandwidth_gb_per_s": 12.0, "dram__latency_ns": 300.0}


def _archs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        o = [OPS[i] for i in rng.integers(0, len(OPS), 6)]
        out.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
    return out


@pytest.fixture(scope="module")
def synthetic():
    archs = _archs(40)
    nets = [nb201_network(a, form="compiled") for a in archs]   # the graph the table reader builds
    truth = accelsim.load_hardware("neural_engine").replace(**TRUTH)
    return {"archs": archs, "nets": nets, "truth": truth, "y": latency_ms(truth, nets)}


def test_fit_recovers_the_parameters_the_latencies_came_from(synthetic):
    nets, y = synthetic["nets"], synthetic["y"]
    hw, rep = accelsim.calibrate("neural_engine", nets[:20], y[:20], fit=KEYS)   # 4 starts: 2 can stop short
    assert rep.keys == tuple(KEYS)
    assert rep.base_values == (1000.0, 25.6, 100.0)
    for key, want in zip(KEYS, (700.0, 12.0, 300.0)):
        assert rep.values[KEYS.index(key)] == pytest.approx(want, rel=1e-3)
    assert hw.array.clock_mhz == pytest.approx(700.0, rel=1e-3)
    assert hw.name == "neural_engine_calibrated"
    # the uncalibrated config is far off; the calibrated one predicts the 20 networks it never saw
    assert rep.train_before["mape_pct"] > 20
    assert rep.train["mape_pct"] < 0.1
    held = accuracy(latency_ms(hw, nets[20:]), y[20:])
    assert held["mape_pct"] < 0.1 and held["spearman"] > 0.999 and held["within_10_pct"] == 100.0
    # one batched engine call per trial: every call simulated several configs at once
    assert rep.evaluations > rep.engine_calls > 0


def test_roofline_default_keys_recover_a_device(synthetic):
    """The default keys of a roofline config are those the networks can tell apart (NB201 has no
    depthwise layer, so no depthwise rate or overhead); latencies of a config with other rates,
    bandwidth, overheads and efficiency curve give those numbers back."""
    from accelsim.workload.precision_policy import uniform
    nets = [uniform(n, "fp32") for n in synthetic["nets"]]
    base = accelsim.load_hardware("mobile_cpu_like")
    keys = default_fit(base, nets)
    assert keys == ("roofline.throughput.fp32.dense_gops", "roofline.throughput.fp32.elementwise_gops",
                    "dram.bandwidth_gb_per_s", "roofline.layer_overhead_us", "calibration.overhead_us.dense",
                    "roofline.half_outputs")
    truth = base.replace(roofline__throughput__fp32__dense_gops=20.0, roofline__throughput__fp32__elementwise_gops=3.0,
                         dram__bandwidth_gb_per_s=9.0, roofline__layer_overhead_us=40.0,
                         calibration__overhead_us__dense=25.0, roofline__half_outputs=2000.0)
    y = latency_ms(truth, nets)
    hw, rep = accelsim.calibrate(base, nets[:20], y[:20])
    # NB201's layers are alike in size, so rates, bandwidth and overheads trade off against each other:
    # the latencies come back (within 0.3 % on networks never seen) though not every key does
    assert rep.train["mape_pct"] < 0.1 and rep.train_before["mape_pct"] > 50
    assert accuracy(latency_ms(hw, nets[20:]), y[20:])["mape_pct"] < 0.3
    assert hw.calibration.overhead_us.dense == rep.values[4] > 0


def test_class_overheads_come_back_exactly(synthetic):
    """Overheads are linear in the latency: a per-layer 2 us and 5 us more per dense layer are found."""
    nets = synthetic["nets"]
    truth = synthetic["truth"].replace(calibration__layer_overhead_us=2.0, calibration__overhead_us__dense=5.0)
    y = latency_ms(truth, nets)
    keys = ["calibration.layer_overhead_us", "calibration.overhead_us.dense"]
    hw, rep = accelsim.calibrate(synthetic["truth"], nets[:10], y[:10], fit=keys, starts=1)
    assert rep.values == pytest.approx((2.0, 5.0), rel=1e-4) and rep.base_values == (0.0, 0.0)
    assert accuracy(latency_ms(hw, nets[10:]), y[10:])["mape_pct"] < 1e-3


def test_same_inputs_and_seed_give_the_same_fit(synthetic):
    nets, y = synthetic["nets"][:8], synthetic["y"][:8] * np.linspace(0.9, 1.1, 8)
    a = accelsim.calibrate("neural_engine", nets, y, fit=KEYS, starts=2, seed=3)[1]
    b = accelsim.calibrate("neural_engine", nets, y, fit=KEYS, starts=2, seed=3)[1]
    assert a.values == b.values


def test_accuracy_numbers_by_hand():
    m = accuracy(np.array([1.0, 2.2, 2.7, 5.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert m["mape_pct"] == pytest.approx(100 * (0 + 0.1 + 0.1 + 0.25) / 4)
    assert m["within_10_pct"] == 75.0   # 0, 10 % and 10 % are within; 25 % is not
    assert m["spearman"] == pytest.approx(1.0) and m["kendall"] == pytest.approx(1.0)


def test_sample_rules():
    macs = np.arange(100, 0, -1) * 1e6
    idx = choose_samples(100, 5, "flops", 0, macs)
    # evenly spread over the MAC ranks: the largest and the smallest network are both in
    assert len(idx) == 5 and 0 in idx and 99 in idx
    r = choose_samples(100, 10, "random", 1)
    assert len(set(r)) == 10 and np.array_equal(r, choose_samples(100, 10, "random", 1))
    assert not np.array_equal(r, choose_samples(100, 10, "random", 2))
    with pytest.raises(ConfigError, match="expected 1 to 100"):
        choose_samples(100, 101)


@pytest.mark.parametrize("keys, match", [
    (["array.dataflow"], "array.dataflow: not a numeric field"),
    (["array.nosuch"], "array.nosuch: no such numeric key"),
    (["dram.bandwidth_gb_per_s", "dram.bandwidth_gb_per_s"], "given twice"),
])
def test_bad_fit_keys_are_one_line(keys, match):
    with pytest.raises(ConfigError, match=match) as e:
        parameters(accelsim.load_hardware("neural_engine"), keys)
    assert "\n" not in str(e.value)


def test_bad_latencies_are_one_line(synthetic):
    nets = synthetic["nets"][:3]
    with pytest.raises(ConfigError, match=r"latency 1 .* is -1.0; expected a positive number of ms"):
        accelsim.calibrate("neural_engine", nets, [1.0, -1.0, 2.0], fit=KEYS)
    with pytest.raises(ConfigError, match="3 networks but 2 latencies"):
        accelsim.calibrate("neural_engine", nets, [1.0, 2.0], fit=KEYS)


# ------------------------------------------------------------------------------------------ command
def _table(path, synthetic, rows=30, bad=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "dev"])
        for i, (a, v) in enumerate(itertools.islice(zip(synthetic["archs"], synthetic["y"]), rows)):
            if bad == "ARCH" and i == 4:
                w.writerow(["|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", f"{v:.9g}"])
            else:
                w.writerow([a, bad if (bad is not None and i == 4) else f"{v:.9g}"])
    return path


def test_a_terminal_sees_each_step_and_stdout_stays_the_same(tmp_path, synthetic, capsys, monkeypatch):
    """A whole table takes minutes: on a terminal a line on stderr names each step; --quiet drops it;
    stdout is the same either way."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    table = _table(tmp_path / "t.csv", synthetic)
    args = ["calibrate", "--hw", "neural_engine", "--measured", str(table), "--target", "dev", "--samples", "5",
            "--fit", *KEYS, "--no-estimator", "--seed", "1"]
    outs = []
    for quiet in ([], ["--quiet"]):
        terminal = Terminal()
        with monkeypatch.context() as m:
            m.setattr(sys, "stderr", terminal)
            assert main(args + quiet) == 0
        outs.append(capsys.readouterr().out)
        shown = "calibrate: step" in terminal.getvalue()
        assert shown == (not quiet)
        if shown:
            assert "reading t.csv and building its networks" in terminal.getvalue()
    import re
    same = [re.sub(r"engine calls, [0-9.]+ s", "engine calls, (time)", o) for o in outs]   # the fit's own time
    assert same[0] == same[1] and "| 5 | calibrated |" in outs[0]


def test_command_writes_a_calibrated_config_that_loads(tmp_path, synthetic, capsys):
    table = _table(tmp_path / "t.csv", synthetic)
    out, js = tmp_path / "cal.yaml", tmp_path / "cal.json"
    rc = main(["calibrate", "--hw", "neural_engine", "--measured", str(table), "--target", "dev", "--samples", "5",
               "10", "--fit", *KEYS, "--no-estimator", "--out", str(out), "--json", str(js)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| 10 | calibrated |" in text and "| 10 | FLOPs |" in text
    head = out.read_text()
    assert head.startswith("# Calibrated from neural_engine by accelsim calibrate on t.csv column dev.")
    assert "#   array.clock_mhz: 1000 -> 700" in head
    hw = accelsim.load_hardware(out)
    assert hw.dram.bandwidth_gb_per_s == pytest.approx(12.0, rel=1e-3)
    # the calibrated config is an ordinary config: compare and a search take it as they take any other
    assert main(["compare", "--hw", str(out), "neural_engine", "--model", "mobilenet_v2"]) == 0
    assert capsys.readouterr().out.count("\nneural_engine") == 2   # the calibrated row and the base row
    from codesign.cli import main as codesign_main
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({
        "name": "on_calibrated", "hardware": str(out), "objectives": ["latency_ms", "macs_m"],
        "space": {"network": {"type": "mobile", "resolutions": [128], "depths": [1], "expansions": [3]}},
        "algorithm": {"name": "random"}, "budget": 4, "batch_size": 4, "seed": 0}))
    assert codesign_main(["search", "--config", str(run), "--out", str(tmp_path / "run")]) == 0
    assert "neural_engine_calibrated" in capsys.readouterr().out
    data = yaml.safe_load(js.read_text())
    assert [r["samples"] for r in data["results"]] == [5, 10]
    assert data["results"][1]["held_out"]["calibrated"]["mape_pct"] < 0.5
    assert data["results"][1]["test_rows"] == 20


@pytest.mark.parametrize("args, bad, match", [
    (["--target", "nosuch"], None, "no latency column 'nosuch'"),
    (["--target", "dev"], "-2", r"row 6: column 'dev'"),
    (["--target", "dev"], "ARCH", r"row 6: column 'arch_str': expected a NAS-Bench-201 arch string"),
    (["--target", "dev", "--samples", "30"], None, "30 usable rows; --samples 30 leaves none to test on"),
    (["--target", "dev", "--fit", "array.dataflow"], None, "array.dataflow: not a numeric field"),
    (["--target", "dev", "--out", "nodir/cal.yaml"], None, "--out: folder nodir does not exist"),
])
def test_command_bad_input_is_one_line_before_any_fit(tmp_path, synthetic, capsys, monkeypatch, args, bad, match):
    monkeypatch.chdir(tmp_path)
    table = _table(tmp_path / "t.csv", synthetic, bad=bad)
    rc = main(["calibrate", "--hw", "neural_engine", "--measured", str(table), "--no-estimator", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("accelsim: error:")
    assert match in err, err


def test_graph_auto_keeps_the_graph_the_latencies_came_from(tmp_path, synthetic, capsys):
    """Latencies made on the eager graph (with a per-layer overhead, as an eager framework's dispatch):
    --graph auto calibrates the compiled, pruned and eager graphs and keeps the eager one, whose fit is
    exact; the JSON says which and how close each came."""
    truth = synthetic["truth"].replace(calibration__layer_overhead_us=3.0)
    y = latency_ms(truth, [nb201_network(a, form="eager") for a in synthetic["archs"]])
    table = tmp_path / "t.csv"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows([["arch_str", "dev"]] + [[a, f"{v:.9g}"] for a, v in zip(synthetic["archs"], y)])
    js = tmp_path / "cal.json"
    keys = ["array.clock_mhz", "dram.bandwidth_gb_per_s", "dram.latency_ns", "calibration.layer_overhead_us"]
    assert main(["calibrate", "--hw", "neural_engine", "--measured", str(table), "--target", "dev", "--samples", "12",
                 "--graph", "auto", "--fit", *keys, "--no-estimator", "--json", str(js)]) == 0
    assert "(graph eager, the closest fit of compiled, pruned, eager)" in capsys.readouterr().out
    res = yaml.safe_load(js.read_text())["results"][0]
    assert res["graph"] == "eager" and res["graph_rms_log_error"]["eager"] < 1e-3
    assert min(res["graph_rms_log_error"]["compiled"], res["graph_rms_log_error"]["pruned"]) > 0.01
    assert res["held_out"]["calibrated"]["mape_pct"] < 0.1


def test_graph_other_than_compiled_needs_an_nb201_table(tmp_path, capsys):
    table = tmp_path / "z.csv"
    table.write_text("model,dev\nmobilenet_v2,1.5\nresnet18,3.0\nds_cnn,1.0\n")
    rc = main(["calibrate", "--hw", "neural_engine", "--measured", str(table), "--target", "dev", "--samples", "1",
               "--graph", "eager", "--no-estimator"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "--graph eager: only for NAS-Bench-201 tables (an arch_str column)" in err, err
