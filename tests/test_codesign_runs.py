"""Search problems, run configs and the search / show / sweep commands."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.config import hardware_to_dict, load_hardware
from codesign.spaces import nb201
from codesign.search import problems as P
from codesign.errors import CodesignError
from codesign.cli import main
from codesign.search.runconfig import parse_run_config
from codesign.search.algorithms import SearchResult, random_genome, run_search
from codesign.spaces.space import HardwareSpace, NetworkSpace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "search"


# ------------------------------------------------------------------------------------ NB201 IR
@pytest.mark.parametrize("ops", [
    ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect"),
    ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "none", "none"),   # zero output node
    ("nor_conv_1x1", "none", "none", "none", "none", "nor_conv_3x3"),
])
def test_nb201_direct_build_equals_the_traced_torch_model(ops):
    pytest.importorskip("torch")
    from accelsim.workload import torch_zoo, zoo
    from accelsim.workload.torch_import import from_torch
    arch = nb201.arch_str(ops)
    traced = from_torch(torch_zoo.NB201Net(arch), (3, 32, 32), prune=False)
    assert nb201.network(arch).layers == traced.layers
    # pruned, both sides go through the one graph pass: the importer's default equals the zoo model's
    assert nb201.network(arch, prune=True).layers == from_torch(torch_zoo.NB201Net(arch), (3, 32, 32)).layers \
        == zoo.nb201(arch).layers
    assert nb201.ops_of(arch) == ops


def test_nb201_arch_round_trip_and_bad_arch():
    g = dict(zip(nb201.EDGE_KEYS, ("skip_connect",) * 6))
    assert nb201.genome_arch(g) == "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    with pytest.raises(Exception, match="op 'conv'"):
        nb201.arch_str(["conv"] * 6)
    with pytest.raises(Exception, match="six ops"):
        nb201.arch_str(["none"] * 5)
    assert nb201.op_indices(nb201.arch_str([3, 3, 4, 1, 3, 1])) == (3, 3, 4, 1, 3, 1)
    with pytest.raises(CodesignError, match=re.escape("expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'")):
        nb201.network("|conv~0|+|")
    assert len(nb201.all_archs()) == 5 ** 6


# ------------------------------------------------------------------------------------ problems
@pytest.fixture(scope="module")
def ne():
    return load_hardware("neural_engine")


def test_metrics_equal_the_engine_and_constraint_excess_is_relative(ne):
    prob = P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), ("latency_ms", "edp"),
                           constraints=(P.Constraint("latency_ms", max=0.05),))
    g = dict(zip(nb201.EDGE_KEYS, ("nor_conv_3x3",) * 6))
    m = prob.evaluate([g])[0]
    r = accelsim.simulate(nb201.network(nb201.genome_arch(g)), ne)
    assert m["latency_ms"] == pytest.approx(r.latency_ms, rel=1e-12)
    assert m["energy_mj"] == pytest.approx(r.energy_mj, rel=1e-12)
    assert m["edp"] == pytest.approx(r.latency_ms * r.energy_mj, rel=1e-12)
    assert m["power_mw"] == pytest.approx(r.energy_mj / r.latency_ms * 1e3, rel=1e-12)
    assert m["area_mm2"] == pytest.approx(ne.area_mm2)
    assert m["memory_mb"] == pytest.approx(r.memory_bytes / 2 ** 20)
    assert m["latency_ms"] > 0.05
    assert m["violation"] == pytest.approx((m["latency_ms"] - 0.05) / 0.05)


def test_unsupported_precision_is_a_mapping_failure_never_on_the_front(ne):
    space = NetworkSpace(resolutions=(96,), stage_precisions=("int8", "int4"), depths=(1,))
    prob = P.SearchProblem(P.MobileAxis(space), P.FixedHardware(ne), ("latency_ms", "params_m"))
    rng = np.random.default_rng(0)
    gs = [random_genome(prob.choices, rng) for _ in range(40)]
    ms = prob.evaluate(gs)
    for g, m in zip(gs, ms):
        uses_int4 = any(g[f"s{i}.precision"] == "int4" for i in range(len(space.strides)))
        assert (m["violation"] > 0) == uses_int4   # neural_engine has no int4
        assert np.isfinite(m["latency_ms"]) != uses_int4
    r = run_search(prob, "evolution", 320, 0, batch_size=20, options={"population": 16, "sample_size": 8})
    assert r.front() and all(r.metrics[i]["violation"] == 0 for i in r.front())


def test_hardware_axis_rebuilds_a_config_that_costs_the_same(ne):
    axis = P.HardwareAxis(HardwareSpace(), ne)
    g = P.hardware_genome_of(ne)
    hw = axis.build(g)
    net = accelsim.load_model("mobilenet_v2")
    assert accelsim.simulate(net, hw).total_cycles == accelsim.simulate(net, ne).total_cycles
    assert hw.area_mm2 == pytest.approx(ne.area_mm2)


def test_hardware_axis_key_ignores_separate_sizes_under_a_unified_buffer(ne):
    """The key is the genes in choices order, the separate buffers' sizes read 0 under a unified
    buffer (they build the same config), as they are when the genes themselves say 0."""
    axis = P.HardwareAxis(HardwareSpace(), ne)
    g = {k: v[0] for k, v in axis.choices.items()}
    sizes = ("hw.ifmap_kb", "hw.filter_kb", "hw.ofmap_kb")
    unified = {**g, "hw.unified_kb": 512.0}
    other = {**unified, **{k: 1024.0 for k in sizes}}
    assert axis.key(unified) == axis.key(other) == tuple(0.0 if k in sizes else unified[k] for k in axis.choices)
    assert axis.build(unified) == axis.build(other)
    separate = {**g, "hw.unified_kb": 0.0}
    assert axis.key(separate) == tuple(separate[k] for k in axis.choices)
    assert axis.key(separate) != axis.key({**separate, "hw.filter_kb": 1024.0})


def test_static_area_constraint_is_respected_by_random_and_evolution(ne):
    prob = P.SearchProblem(P.FixedNetwork(accelsim.load_model("mobilenet_v2", resolution=96)),
                           P.HardwareAxis(HardwareSpace(), ne), ("latency_ms", "energy_mj"),
                           constraints=(P.Constraint("area_mm2", max=4.0),))
    for algo in ("random", "evolution"):
        r = run_search(prob, algo, 120, 1, batch_size=30)
        assert max(m["area_mm2"] for m in r.metrics) <= 4.0   # every draw and mutation met the limit


def test_joint_front_respects_hard_constraints(ne):
    prob = P.SearchProblem(P.NB201Axis(), P.HardwareAxis(HardwareSpace(rows=(8, 16, 32), cols=(8, 16, 32)), ne),
                           ("latency_ms", "energy_mj"),
                           constraints=(P.Constraint("latency_ms", max=0.3), P.Constraint("memory_mb", budget=True)))
    r = run_search(prob, "nsga2", 192, 3, batch_size=32)
    assert (~r.feasible).any()    # the limit binds
    for i in r.front():
        assert r.metrics[i]["latency_ms"] <= 0.3 and r.metrics[i]["memory_mb"] <= r.metrics[i]["budget_mb"]


def test_accuracy_lookup_is_the_nb201_table(ne):
    prob = P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), ("latency_ms", "accuracy"),
                           accuracy=P.AccuracySource("nb201", dataset="cifar10"))
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    g = dict(zip(nb201.EDGE_KEYS, nb201.ops_of(arch)))
    m = prob.evaluate([g])[0]
    assert m["accuracy"] == pytest.approx(93.66, abs=0.01)    # NAS-Bench-201 index 1, CIFAR-10 test
    assert m["neg_accuracy"] == -m["accuracy"]
    assert prob.objectives == ("latency_ms", "neg_accuracy")


def _covered(front: np.ndarray, point: np.ndarray) -> bool:
    """Some front point is at least as good as ``point`` in every objective (all minimised)."""
    return bool(np.any(np.all(front <= point, axis=1)))


def _dominates(point: np.ndarray, front: np.ndarray) -> bool:
    """``point`` is at least as good as some front point everywhere and better somewhere."""
    return bool(np.any(np.all(point <= front, axis=1) & np.any(point < front, axis=1)))


@pytest.mark.parametrize("algorithm", ["random", "evolution", "nsga2"])
def test_joint_front_is_never_dominated_by_the_fixed_hardware_baseline(ne, algorithm):
    """The fixed-hardware search's first batch (the same algorithm and seed over the cells, on the base
    neural_engine) is where a joint search starts, so no design of it beats the joint front; without
    those seeds, 24 evaluations in this space (the base's int8+int16+fp16 is not among its formats, and
    the area limit is the base's) leave fronts that the baseline dominates."""
    space = HardwareSpace(rows=(8, 16, 24, 32, 48, 64), cols=(8, 16, 24, 32, 48, 64), dataflows=("os", "ws", "is"),
                          vector_lanes=(16, 32, 64), sram_kb=(64, 128, 256, 512), unified_kb=(512, 1024, 1536),
                          dram_gb_per_s=(12.8, 25.6), precision_sets=(("int8",), ("int8", "int16")))
    constraints = (P.Constraint("area_mm2", max=ne.area_mm2), P.Constraint("memory_mb", budget=True))
    acc = P.AccuracySource("nb201", dataset="cifar10")
    joint = P.SearchProblem(P.NB201Axis(), P.HardwareAxis(space, ne), ("edp", "accuracy"), constraints, acc)
    fixed = P.SearchProblem(P.NB201Axis(), P.FixedHardware(ne), ("edp", "accuracy"), constraints, acc)
    options = {} if algorithm == "random" else {"population": 8}
    beaten = 0
    for seed in (0, 1):
        start = run_search(fixed, algorithm, 8, seed, batch_size=8, options=options)
        baseline = start.objective_matrix()[start.feasible]
        assert len(baseline) >= 6
        r = run_search(joint, algorithm, 24, seed, batch_size=8, options=options)
        assert [g for g in r.genomes[:8]] == [{**g, **P.hardware_genome_of(ne)} for g in start.genomes]
        assert r.metrics[:8] == start.metrics          # the base config itself, not a rebuild
        front = r.objective_matrix()[r.front()]
        for point in baseline:
            assert _covered(front, point) and not _dominates(point, front)
        bare = run_search(joint, algorithm, 24, seed, batch_size=8, options=options, seeds=[])
        bare_front = bare.objective_matrix()[bare.front()]
        beaten += sum(_dominates(point, bare_front) for point in baseline)
    assert beaten >= 1


def test_mobile_network_description_names_stem_and_head_channels():
    axis = P.MobileAxis(NetworkSpace(resolutions=(96,), depths=(1,), stem_channels=(24,), head_channels=(640,)))
    g = random_genome(axis.choices, np.random.default_rng(0))
    assert axis.describe(g) == "r96 stem24 dm1.25 F5e3x1c8 I3e1x1c16 F5e6x1c32 F7e4x1c72 F5e6x1c72 F7e1x1c144 " \
                               "F5e1x1c408 head640"


# ------------------------------------------------------------------------------------ configs
BASE_RUN = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
            "accuracy": {"source": "nb201"}, "budget": 64, "batch_size": 16}


@pytest.mark.parametrize("change, message", [
    ({"spaec": {}}, "spaec: unknown key"),
    ({"objectives": ["speed"]}, "objectives: expected metrics"),
    ({"constraints": {"latency_ms": {"below": 1}}}, "constraints.latency_ms.below: unknown key; expected one of max, min"),
    ({"constraints": {"latency_ms": {"max": -1}}}, "constraints.latency_ms.max: expected a positive number"),
    ({"constraints": {"area_mm2": "budget"}}, "constraints.area_mm2"),
    ({"algorithm": "annealing"}, "algorithm: expected one of"),
    ({"budget": 0}, "budget: expected a whole number >= 1"),
    ({"space": {"network": {"type": "mobile", "kernels": [3, -5]}}}, "space.network.kernels: expected positive"),
    ({"space": {"network": {"type": "mobile", "widths": [1]}}}, "space.network.widths: unknown key"),
    ({"space": {"network": {"type": "darts"}}}, "space.network.type: expected mobile, nb201 or from_model"),
    ({"space": {}}, "nothing to search"),
    ({"hardware": "no_such_chip"}, "hardware"),
    ({"accuracy": {"source": "oracle"}}, "accuracy.source"),
    ({"accuracy": None}, "accuracy needs an accuracy source"),
    ({"runner": {"name": "ray", "nodes": 3}}, "runner.nodes: unknown key"),
    ({"reference": {"latency_ms": 1}}, "reference: expected a value for each objective"),
])
def test_bad_run_configs_fail_with_the_key_named(change, message):
    data = {**BASE_RUN, **change}
    if change.get("accuracy", "") is None:
        data.pop("accuracy")
    with pytest.raises(Exception, match=message) as info:
        parse_run_config(data, "run.yaml")
    assert str(info.value).startswith("run.yaml:")
    assert "\n" not in str(info.value)


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace: {network: {type: nb201}\n")
    assert main(["search", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codesign: error:") and "bad.yaml" in err and "malformed YAML" in err and "\n" not in err
    bad.write_text(yaml.safe_dump({**BASE_RUN, "budget": -3}))
    assert main(["search", "--config", str(bad)]) == 2
    assert "budget" in capsys.readouterr().err


def test_shipped_example_configs_parse():
    for path in sorted(set(EXAMPLES.glob("*.yaml")) - set(EXAMPLES.glob("sweep_*.yaml"))):
        data = yaml.safe_load(path.read_text())
        cfg = parse_run_config(data, str(path))
        assert cfg.budget > 0 and cfg.build_problem().choices


# ------------------------------------------------------------------------------------ runs
def _write(tmp_path, **changes) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump({**BASE_RUN, **changes}))
    return p


def _front(folder: Path) -> list:
    with open(folder / "pareto.csv") as fh:
        return list(csv.reader(fh))


def test_search_writes_outputs_and_same_seed_gives_same_front(tmp_path, capsys):
    cfg = _write(tmp_path, budget=96, algorithm={"name": "evolution", "population": 16})
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    for name in ("pareto.csv", "pareto.json", "hypervolume.csv", "pareto.png", "summary.json", "journal.jsonl"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert _front(tmp_path / "a") == _front(tmp_path / "b")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["evaluations"] == 96 and summary["hypervolume"] > 0
    hv = np.loadtxt(tmp_path / "a" / "hypervolume.csv", delimiter=",", skiprows=1)
    assert len(hv) == 96 and np.all(np.diff(hv[:, 1]) >= 0)          # never decreases
    rows = json.loads((tmp_path / "a" / "pareto.json").read_text())
    accs = [r["accuracy"] for r in rows]
    lats = [r["latency_ms"] for r in rows]
    assert lats == sorted(lats) and accs == sorted(accs)                 # a front: slower means more accurate
    # a rerun resumes: nothing new is evaluated
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert "0 evaluated, 96 replayed" in capsys.readouterr().out
    # a different seed in the same folder is refused, not mixed in
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "a"), "--seed", "5", "--quiet"]) == 2


def test_killed_search_resumes_with_nothing_lost_or_repeated(tmp_path):
    cfg = _write(tmp_path, budget=400, batch_size=4, algorithm={"name": "evolution", "population": 16})
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "codesign.cli", "search", "--config", str(cfg), "--out", str(run_dir), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = run_dir / "journal.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = journal.read_text().count("\n") - 1
    assert 0 < done < 400, "the run must be killed part way"
    assert main(["search", "--config", str(cfg), "--out", str(run_dir), "--quiet"]) == 0
    records = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [r["i"] for r in records] == list(range(400))                # each evaluation exactly once
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    assert _front(run_dir) == _front(tmp_path / "whole")


def test_show_reports_an_unfinished_run(tmp_path, capsys):
    cfg = _write(tmp_path, budget=32)
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    lines = (tmp_path / "r" / "journal.jsonl").read_text().splitlines()
    (tmp_path / "r" / "journal.jsonl").write_text("\n".join(lines[:11]) + "\n" + lines[11][:20])   # torn
    capsys.readouterr()
    assert main(["show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "10 of 32 evaluations" in out and "unfinished" in out
    assert main(["show", str(tmp_path / "nothing")]) == 2


def test_a_smaller_budget_never_shrinks_a_run(tmp_path, capsys):
    """--budget 16 on a folder holding 32 evaluations is refused in one line and leaves every output
    as it was (it used to rewrite them for the first 16)."""
    cfg = _write(tmp_path, budget=32)
    r = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(r), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in r.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["search", "--config", str(cfg), "--out", str(r), "--budget", "16", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds 32 evaluations, more than the budget of 16" in err[0]
    assert {p.name: p.read_bytes() for p in r.iterdir() if p.is_file()} == before
    assert main(["search", "--config", str(cfg), "--out", str(r), "--budget", "32", "--quiet"]) == 0


def test_sweep_tabulates_each_hardware_winner(tmp_path):
    run = {**BASE_RUN, "budget": 48, "constraints": {"latency_ms": {"max": 10.0}}}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"run": run, "sweep": {"key": "hardware", "values": ["neural_engine", "eyeriss_like"]},
                                     "pick": {"max": "accuracy"}}))
    assert main(["sweep", "--config", str(sweep), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    with open(tmp_path / "s" / "winners.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["hardware"] for r in rows] == ["neural_engine", "eyeriss_like"]
    for r, hw in zip(rows, ("neural_engine", "eyeriss_like")):
        front = json.loads((tmp_path / "s" / hw / "pareto.json").read_text())
        assert float(r["accuracy"]) == pytest.approx(max(f["accuracy"] for f in front), abs=1e-4)
        assert float(r["latency_ms"]) <= 10.0 and r["design_hardware"] == hw


@pytest.mark.skipif(os.environ.get("CODESIGN_SKIP_RAY") == "1", reason="Ray tests switched off")
def test_ray_runner_on_a_local_cluster_gives_the_serial_front(tmp_path):
    pytest.importorskip("ray")
    cfg = _write(tmp_path, budget=64)
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "serial"), "--quiet"]) == 0
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "ray"), "--runner", "ray", "--workers", "2",
                 "--quiet"]) == 0
    assert _front(tmp_path / "serial") == _front(tmp_path / "ray")


def test_supernet_command_writes_a_simulated_derived_network(tmp_path, capsys):
    out = tmp_path / "sn"
    # with every tensor through DRAM the engine's cost is a sum over layers, so the table is exact
    hw = accelsim.load_hardware("neural_engine").replace(activation_policy="dram")
    (tmp_path / "ne_dram.yaml").write_text(yaml.safe_dump(hardware_to_dict(hw), sort_keys=False))
    args = ["supernet", "--steps", "6", "--warmup", "3", "--samples", "320", "--device", "cpu", "--out", str(out),
            "--hw", str(tmp_path / "ne_dram.yaml"), "--quiet"]
    assert main(args) == 0
    r = json.loads((out / "result.json").read_text())
    assert len(r["positions"]) == 7 and (out / "checkpoint.pt").exists()
    # the derived path's table latencies plus the fixed stem and head equal the simulated network
    assert r["path_latency_ms"] == pytest.approx(r["simulated_latency_ms"], rel=1e-9)
    assert main(["supernet", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "missing.npz" in capsys.readouterr().err


def test_train_accuracy_source_trains_each_cell_once(tmp_path, ne):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 96)
    x = rng.normal(size=(96, 3, 32, 32)).astype(np.float32) * 0.1
    x[:, 0] += (2.0 * y - 1.0)[:, None, None]            # class = sign of channel 0: easy to learn
    np.savez(tmp_path / "d.npz", x=x, y=y)
    src = P.AccuracySource("train", data=str(tmp_path / "d.npz"), epochs=2, batch_size=32, device="cpu")
    prob = P.SearchProblem(P.NB201Axis(cells=1), P.FixedHardware(ne), ("latency_ms", "accuracy"), accuracy=src)
    g = dict(zip(nb201.EDGE_KEYS, ("nor_conv_1x1", "skip_connect", "none", "skip_connect", "none", "none")))
    a, b = prob.evaluate([g, g])
    assert 50.0 < a["accuracy"] <= 100.0 and a["accuracy"] == b["accuracy"]
    assert len(src.cache) == 1


def test_sweep_over_a_constraint_bound_tightens_the_winner(tmp_path):
    run = {**BASE_RUN, "budget": 64, "constraints": {"memory_mb": "budget"}}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"run": run, "sweep": {"key": "constraints.latency_ms.max", "values": [0.2, 0.4]}}))
    assert main(["sweep", "--config", str(sweep), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    with open(tmp_path / "s" / "winners.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["constraints.latency_ms.max"]) for r in rows] == [0.2, 0.4]
    assert all(float(r["latency_ms"]) <= float(r["constraints.latency_ms.max"]) for r in rows)
    assert float(rows[0]["accuracy"]) <= float(rows[1]["accuracy"])    # a looser limit never loses accuracy here
    cfg = yaml.safe_load((tmp_path / "s" / "0.2" / "run.yaml").read_text())
    assert cfg["constraints"] == {"memory_mb": "budget", "latency_ms": {"max": 0.2}}


# ------------------------------------------------------------------------------------ stored outputs
def _timeless(path: Path) -> dict:
    d = json.loads(path.read_text())
    for k in ("seconds", "evaluations_per_second"):
        d.pop(k, None)
    return d


def _bare_copy(src: Path, dst: Path) -> Path:
    """The run folder without its outputs: config, identity and journal only."""
    dst.mkdir()
    for name in ("run.yaml", "identity.json", "journal.jsonl"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _shown(folder: Path) -> str:
    from codesign.search.runs import show
    return show(folder).replace(str(folder), "RUN")


def test_a_resumed_run_writes_the_outputs_of_an_uninterrupted_one(tmp_path, capsys):
    from codesign.search.pareto import hypervolume_exact, non_dominated
    cfg = _write(tmp_path, budget=96, algorithm={"name": "evolution", "population": 16})
    part, whole = tmp_path / "part", tmp_path / "whole"
    assert main(["search", "--config", str(cfg), "--out", str(part), "--budget", "48", "--quiet"]) == 0
    assert json.loads((part / "summary.json").read_text())["evaluations"] == 48
    assert main(["search", "--config", str(cfg), "--out", str(part), "--quiet"]) == 0
    assert "48 evaluated, 48 replayed" in capsys.readouterr().out
    assert main(["search", "--config", str(cfg), "--out", str(whole), "--quiet"]) == 0
    for name in ("pareto.csv", "pareto.json", "hypervolume.csv", "journal.jsonl"):
        assert (part / name).read_bytes() == (whole / name).read_bytes(), name
    assert _timeless(part / "summary.json") == _timeless(whole / "summary.json")
    # the trace is the front's hypervolume recomputed from scratch after every evaluation
    summary = json.loads((whole / "summary.json").read_text())
    ref = np.array(summary["reference"])
    records = [json.loads(line) for line in (whole / "journal.jsonl").read_text().splitlines()[1:]]
    objs = np.array([[r["metrics"]["latency_ms"], -r["metrics"]["accuracy"]] for r in records])
    feasible = np.array([r["metrics"].get("violation", 0) <= 0 for r in records])
    expected = [hypervolume_exact(objs[:i + 1][feasible[:i + 1]], ref) for i in range(len(objs))]
    trace = np.loadtxt(whole / "hypervolume.csv", delimiter=",", skiprows=1)[:, 1]
    assert len(trace) == 96 and expected[-1] > 0 and len(set(expected)) >= 4
    np.testing.assert_allclose(trace, expected, rtol=1e-7, atol=0)        # the csv keeps 8 digits
    front = objs[feasible][non_dominated(objs[feasible])]
    assert summary["hypervolume"] == pytest.approx(hypervolume_exact(front, ref), rel=1e-12)


def test_show_reads_current_outputs_and_recomputes_when_the_journal_grew(tmp_path, monkeypatch):
    from codesign.search import runs
    small = _write(tmp_path, budget=48, algorithm={"name": "evolution", "population": 16})
    run = tmp_path / "run"
    assert main(["search", "--config", str(small), "--out", str(run), "--quiet"]) == 0
    stored = json.loads((run / "summary.json").read_text())
    assert stored["source"]["journal"]["records"] == 48
    cached = _shown(run)
    assert cached == _shown(_bare_copy(run, tmp_path / "bare"))       # the same text, computed from the journal
    assert "48 of 48 evaluations" in cached and f"hypervolume {stored['hypervolume']:.6g}" in cached

    # the stored outputs are what show reads: it neither parses the journal nor rebuilds the front
    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although the stored outputs are current")
    with monkeypatch.context() as m:
        m.setattr(runs, "read_journal", refuse)
        m.setattr(runs, "front_rows", refuse)
        assert _shown(run) == cached
        with pytest.raises(AssertionError, match="recomputed"):
            _shown(tmp_path / "bare")

    # the journal grows (a resume to a larger budget, killed before its outputs): stale, recomputed
    big = tmp_path / "big"
    assert main(["search", "--config", str(small), "--out", str(big), "--budget", "96", "--quiet"]) == 0
    lines = (big / "journal.jsonl").read_bytes().splitlines(keepends=True)
    assert (run / "journal.jsonl").read_bytes() == b"".join(lines[:49])
    (run / "journal.jsonl").write_bytes(b"".join(lines))
    grown = _shown(run)
    assert grown != cached and "96 of 48 evaluations" in grown
    assert grown == _shown(_bare_copy(run, tmp_path / "bare96"))
    assert f"hypervolume {json.loads((big / 'summary.json').read_text())['hypervolume']:.6g}" in grown
    assert json.loads((run / "summary.json").read_text()) == stored    # show writes nothing

    # a torn last line changes the journal's bytes: recomputed, and the torn record is left out
    (run / "journal.jsonl").write_bytes(b"".join(lines[:49]) + lines[49][:30])
    assert _shown(run) == cached

    # as many records, one of them changed: recomputed (the record now dominates every other design)
    last = json.loads(lines[48])
    last["metrics"].update(latency_ms=1e-6, accuracy=99.99, neg_accuracy=-99.99, violation=0.0)
    (run / "journal.jsonl").write_bytes(b"".join(lines[:48]) + json.dumps(last).encode() + b"\n")
    edited = _shown(run)
    assert "front: 1 designs" in edited and "| 47 | 1e-06 | 99.99 |" in edited

    # the config changed (a reference point now): recomputed with it
    (run / "journal.jsonl").write_bytes(b"".join(lines[:49]))
    data = yaml.safe_load((run / "run.yaml").read_text())
    data["reference"] = {"latency_ms": 10.0, "accuracy": 0.0}
    (run / "run.yaml").write_text(yaml.safe_dump(data))
    rerefd = _shown(run)
    assert rerefd != cached and rerefd == _shown(_bare_copy(run, tmp_path / "bare-ref"))


def test_a_rerun_that_evaluates_nothing_keeps_the_current_outputs(tmp_path, monkeypatch, capsys):
    from codesign.search import runs
    cfg = _write(tmp_path, budget=32)
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    before = {n: (out / n).read_bytes() for n in runs.OUTPUTS}
    first = capsys.readouterr().out

    def refuse(*args, **kwargs):
        raise AssertionError("outputs rewritten although nothing changed")
    with monkeypatch.context() as m:
        m.setattr(runs, "plot_front", refuse)
        m.setattr(SearchResult, "hypervolume_trace", refuse)
        assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    again = capsys.readouterr().out
    assert again == first.replace("32 evaluated, 0 replayed", "0 evaluated, 32 replayed")
    assert {n: (out / n).read_bytes() for n in runs.OUTPUTS} == before
    # a deleted output is written again
    (out / "pareto.png").unlink()
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert (out / "pareto.png").read_bytes() == before["pareto.png"]
    # a new reference point (not part of the run's identity) rewrites them with it
    cfg2 = _write(tmp_path, budget=32, reference={"latency_ms": 10.0, "accuracy": 0.0})
    assert main(["search", "--config", str(cfg2), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == [10.0, 0.0]
    assert (out / "hypervolume.csv").read_bytes() != before["hypervolume.csv"]


def test_slow_post_processing_shows_progress_unless_quiet(tmp_path, monkeypatch, capsys):
    from codesign.search import runs
    from codesign.search.runconfig import load_run_config
    slow_trace = SearchResult.hypervolume_trace

    def slow(self, reference, progress=None):
        time.sleep(1.2)
        return slow_trace(self, reference, progress=progress)
    monkeypatch.setattr(SearchResult, "hypervolume_trace", slow)
    cfg = load_run_config(_write(tmp_path, budget=16))
    runs.execute(cfg, tmp_path / "loud", progress=True, log=None)
    err = capsys.readouterr().err
    assert "t: outputs" in err and "17/17" in err
    runs.execute(cfg, tmp_path / "quiet", progress=False, log=None)
    assert capsys.readouterr().err == ""


def test_proxy_accuracy_is_labelled_as_the_proxy_in_tables_and_plots(tmp_path, monkeypatch, capsys):
    import accelsim.plots
    from codesign.search.runs import show
    assert [P.metric_label("accuracy", s) for s in P.AccuracySource.SOURCES] == [
        "accuracy", "log10 params (proxy)", "log10 MACs (proxy)", "synflow score (proxy)", "naswot score (proxy)",
        "grad_norm score (proxy)", "accuracy"]
    assert P.metric_label("latency_ms", "synflow") == "latency_ms"
    figures = []
    monkeypatch.setattr(accelsim.plots, "save_figure", lambda fig, path, **kw: figures.append(fig))
    cfg = _write(tmp_path, space={"network": {"type": "mobile", "resolutions": [96], "depths": [1]}},
                 accuracy={"source": "params"}, constraints={"accuracy": {"min": 5.0}}, budget=16, batch_size=8,
                 algorithm="random")
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    header = _front(out)[0]
    assert header[-2:] == ["log10 params (proxy)", "genome"] and "accuracy" not in header
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objectives"] == ["latency_ms", "accuracy"]          # the metric keeps its name
    assert summary["objective_labels"] == ["latency_ms", "log10 params (proxy)"]
    rows = json.loads((out / "pareto.json").read_text())
    assert rows and all(r["accuracy"] == pytest.approx(np.log10(r["params_m"] * 1e6)) for r in rows)
    text = show(out).replace(str(out), "RUN")
    assert "objectives: latency_ms, log10 params (proxy); constraints: log10 params (proxy) >= 5" in text
    assert "| # | latency_ms | log10 params (proxy) | energy_mj |" in text and "accuracy" not in text
    ax = figures[-1].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latency_ms (ms)", "log10 params (proxy), higher is better")
    # a real accuracy keeps its name
    nb = _write(tmp_path, budget=16)
    assert main(["search", "--config", str(nb), "--out", str(tmp_path / "nb"), "--quiet"]) == 0
    assert "accuracy" in _front(tmp_path / "nb")[0] and figures[-1].axes[0].get_ylabel() == "accuracy (%)"


def test_a_run_whose_space_runs_out_stops_with_the_reason_recorded(tmp_path, capsys):
    """Two designs in the space plus the base config (outside it: a search starts from it): a budget of
    five stops after three evaluations and REPEAT_LIMIT redraws, and says so."""
    from codesign.search.algorithms import REPEAT_LIMIT
    from codesign.search.runs import show
    cfg = _write(tmp_path, space={"hardware": {"rows": [8, 16], "cols": [16], "dataflows": ["os"], "vector_lanes": [16],
                                               "sram_kb": [64], "unified_probability": 0, "dram_gb_per_s": [12.8],
                                               "precision_sets": [["int8"]]}},
                 network={"model": "mobilenet_v2", "resolution": 96}, objectives=["latency_ms", "energy_mj"],
                 budget=5, batch_size=2, algorithm="random")
    data = yaml.safe_load(cfg.read_text())
    del data["accuracy"]                 # latency and energy only
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    reason = f"stopped early: the last {REPEAT_LIMIT} proposals were all designs already evaluated " \
             "(the space may be exhausted)"
    log = capsys.readouterr().out
    assert "3 evaluated, 0 replayed from the journal" in log and reason in log
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["evaluations"], summary["stop_reason"]) == (3, reason)
    assert summary["proposals"] == 3 + summary["repeats"] and summary["repeats"] >= REPEAT_LIMIT
    records = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()[1:]]
    assert records[0]["genome"] == P.hardware_genome_of(load_hardware("neural_engine"))
    assert sorted(r["genome"]["hw.rows"] for r in records[1:]) == [8, 16]
    assert f"3 of 5 evaluations ({reason})" in show(out)
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0     # a rerun: the same end
    assert "0 evaluated, 3 replayed" in capsys.readouterr().out


def test_markdown_cells_escape_nb201_bars():
    from codesign.search.runs import md_cell
    cell = "|nor_conv_3x3~0|+|skip_connect~0|none~1|"
    row = f"| 1 | {md_cell(cell)} | x |"
    assert md_cell(cell) == cell.replace("|", "\\|")
    assert len([c for c in row.replace("\\|", "") .split("|")]) == 5   # the cell stays one cell
