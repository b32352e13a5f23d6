"""Searching from a product model: space.network.type from_model (codesign.spaces.model_space)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from accelsim.workload import load_model
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.search import problems as P
from codesign.search.algorithms import run_search
from codesign.search.runconfig import parse_run_config
from codesign.spaces.model_space import ModelSpace, model_space_from_dict
from codesign.spaces.space import build_network
from codesign.spaces.zoo_genomes import zoo_genome


def space(search, model="mobilenet_v2", **settings):
    return model_space_from_dict({"type": "from_model", "model": model, "search": search, **settings}, "run.yaml")


def layers(genome):
    return {layer.name: layer for layer in build_network(genome).layers}


def test_every_axis_at_its_baseline_value_builds_the_model_itself():
    sp = space({"block": {"each": ["ibn", "fused_ibn"]}, "width_multiplier": [0.75, 1.0], "depth_multiplier": [1.0],
                "kernel": {"s3": [3, 5]}, "resolution": [160, 224], "channel_multiple": [1, 32]})
    assert sp.baseline_reachable() is None
    genes = sp.baseline_genes()
    assert genes["s0.block"] == "ibn" and genes["width_multiplier"] == 1.0 and genes["resolution"] == 224
    assert genes["channel_multiple"] == 1 and genes["s3.kernel"] == 3
    net, zoo_net = build_network(sp.genome(genes)), load_model("mobilenet_v2")
    assert (net.macs, net.params) == (zoo_net.macs, zoo_net.params) == (300774272, 3487816)
    assert sp.genome({}) == sp.genome(genes) == sp.baseline


def test_a_list_is_one_global_gene_a_mapping_one_gene_per_named_stage():
    sp = space({"block": {"s1": ["ibn", "fused_ibn"], "s2": ["fused_ibn"]}, "kernel": [3, 5],
                "width_multiplier": {"all": [1.0, 0.5], "s6": [1.0, 2.0]}, "precision": {"each": ["int8", "int4"]}})
    keys = list(sp.choices)
    assert keys[:4] == ["s1.block", "s2.block", "kernel", "width_multiplier"]
    assert keys[4] == "s6.width_multiplier" and keys[5:] == [f"s{i}.precision" for i in range(7)]
    assert sp.choices["s2.block"] == ("fused_ibn",)
    # a baseline whose stages all use 3x3 kernels: the global kernel gene reproduces it
    assert sp.baseline_genes()["kernel"] == 3
    # the global and the stage's width multiply: 320 * 0.5 * 2.0 = 320
    g = sp.genome({"width_multiplier": 0.5, "s6.width_multiplier": 2.0})
    assert [s.channels for s in g.stages] == [8, 16, 16, 32, 48, 80, 320]


def test_the_width_multiplier_scales_channels_as_mobilenets_width_does():
    """width 0.75 of the model equals the zoo's MobileNetV2 at width 0.75: every conv's channels times
    0.75 by make_divisible(8) (16 -> 16; 24 -> 18 -> 24, as 16 would drop more than 10 %; 32 -> 24;
    160 -> 120), the 1280-channel conv kept."""
    g = space({"width_multiplier": [0.75]}).genome({"width_multiplier": 0.75})
    assert [s.channels for s in g.stages] == [16, 24, 24, 48, 72, 120, 240]
    assert (g.stem_channels, g.head_channels) == (24, 1280)
    net, zoo_net = build_network(g), load_model("mobilenet_v2", width=0.75)
    assert (net.macs, net.params) == (zoo_net.macs, zoo_net.params)
    # rounding up to 32 (the array width): 24 * 0.75 = 18 -> 32, 160 * 0.75 = 120 -> 128
    up = space({"width_multiplier": [0.75]}, channel_multiple=32, rounding="up").genome({"width_multiplier": 0.75})
    assert [s.channels for s in up.stages] == [32, 32, 32, 64, 96, 128, 256]
    assert (up.stem_channels, up.head_channels) == (32, 1280)


def test_a_channel_multiple_gene_rounds_every_channel_count():
    g = space({"channel_multiple": [1, 32]}).genome({"channel_multiple": 32})
    # nearest multiple of 32, never below 32: 16 -> 32, 24 -> 32, 96 -> 96, 160 -> 160, 320 -> 320
    assert [s.channels for s in g.stages] == [32, 32, 32, 64, 96, 160, 320]
    assert (g.stem_channels, g.head_channels) == (32, 1280)


def test_depth_genes_count_blocks_and_multipliers_scale_them():
    sp = space({"depth_multiplier": {"all": [1.0, 1.25], "s3": [0.5, 1.0]}, "depth": {"s6": [1, 2]}})
    g = sp.genome({"depth_multiplier": 1.25})
    # MobileNetV2's 1, 2, 3, 4, 3, 3, 1 blocks times 1.25, rounded half up, at least 1
    assert g.stage_depths() == (1, 3, 4, 5, 4, 4, 1)
    assert sp.genome({"s3.depth_multiplier": 0.5, "s6.depth": 2}).stage_depths() == (1, 2, 3, 2, 3, 3, 2)
    assert sum(1 for n in layers(g) if n.endswith(".project")) == 22


def test_fusing_one_stage_replaces_its_depthwise_convs_only():
    sp = space({"block": {"s2": ["ibn", "fused_ibn"]}})
    base, fused = layers(sp.genome({})), layers(sp.genome({"s2.block": "fused_ibn"}))
    assert {n for n in base if n.startswith("s2.") and n.endswith(".dw")} == {"s2.b0.dw", "s2.b1.dw", "s2.b2.dw"}
    assert not any(n.startswith("s2.") and n.endswith(".dw") for n in fused)
    assert fused["s2.b0.expand"].kernel == (3, 3) and fused["s2.b0.expand"].stride == (2, 2)
    assert {n: l for n, l in fused.items() if not n.startswith("s2.")}.keys() == \
        {n for n in base if not n.startswith("s2.")}


def test_a_detector_keeps_its_head_and_the_resolution_gene_resizes_it():
    sp = space({"resolution": [256, 320], "block": {"s3": ["ibn", "fused_ibn"]}}, model="ssdlite_mobilenet_v2")
    base = build_network(sp.genome({}))
    zoo_net = load_model("ssdlite_mobilenet_v2")
    assert (base.macs, base.params) == (zoo_net.macs, zoo_net.params)
    small = build_network(sp.genome({"resolution": 256}))
    assert small.params == base.params and small.macs < base.macs
    assert small.input_shape == (256, 256, 3)


def test_output_stride_applies_to_a_segmenter_only():
    sp = space({"output_stride": [8, 16]}, model="deeplabv3_mobilenet_v2")
    assert sp.genome({"output_stride": 8}).head.output_stride == 8
    assert build_network(sp.genome({"output_stride": 8})).macs > build_network(sp.genome({"output_stride": 16})).macs
    with pytest.raises(CodesignError, match=r"^run.yaml: space.network.search.output_stride: ssdlite_mobilenet_v2 "
                                             r"is a ssdlite detector; only a segmenter"):
        model_space_from_dict({"type": "from_model", "model": "ssdlite_mobilenet_v2",
                               "search": {"output_stride": [8, 16]}}, "run.yaml", "space.network")


RUN = {"name": "m", "hardware": "neural_engine", "objectives": ["latency_ms", "params_m"], "algorithm": "random",
       "budget": 6, "batch_size": 3,
       "space": {"network": {"type": "from_model", "model": "mobilenet_v2",
                             "search": {"width_multiplier": [0.5, 0.75, 1.0], "block": {"s1": ["ibn", "fused_ibn"]}}}}}


@pytest.mark.parametrize("change, message", [
    ({"search": {"block": {"s9": ["ibn"]}}},
     "space.network.search.block.s9: unknown stage; mobilenet_v2 has stages s0-s6"),
    ({"search": {"block": {"s1": ["ibn"], "top": ["ibn"]}}},
     "space.network.search.block.top: unknown key; expected one of a stage name (s0, s1, ...), each, all"),
    ({"search": {"block": "ibn"}}, "space.network.search.block: expected a list of choices (global) or a mapping"),
    ({"search": {"kernel": {"s2": [3, 0]}}}, "space.network.search.kernel.s2: expected positive whole numbers"),
    ({"search": {"colour": [1]}}, "space.network.search.colour: unknown key; expected one of block, kernel"),
    ({"search": {"resolution": {"s1": [224]}}}, "space.network.search.resolution: expected a non-empty list"),
    ({"search": {"kernel": [0]}}, "space.network.search.kernel: expected positive whole numbers in the list"),
    ({"search": {"block": ["ibn", "conv"]}}, "space.network.search.block: expected one of ibn, fused_ibn"),
    ({"search": {"output_stride": [8]}}, "space.network.search.output_stride: mobilenet_v2 is a classifier"),
    ({"model": "mobilenet_v9"}, "space.network.model: unknown model 'mobilenet_v9'"),
    ({"model": "no/such/genome.json"}, "space.network.model: expected a zoo model name or an existing genome file"),
    ({"search": {}}, "space.network.search: expected a mapping of axes to choices"),
])
def test_a_bad_model_space_is_one_line_naming_the_key(change, message):
    network = {**RUN["space"]["network"], **change}
    with pytest.raises(CodesignError) as info:
        parse_run_config({**RUN, "space": {"network": network}}, "run.yaml")
    text = str(info.value)
    assert text.startswith(f"run.yaml: {message}") and "\n" not in text, text


def test_a_from_model_run_refuses_a_second_baseline():
    with pytest.raises(CodesignError, match=r"^run.yaml: baseline: a from_model space's baseline is its model"):
        parse_run_config({**RUN, "baseline": "mobilenet_v3_large"}, "run.yaml")


def test_a_genome_file_is_a_baseline_too(tmp_path):
    g = zoo_genome("mobilenet_v2")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(g.to_dict()))
    sp = space({"width_multiplier": [1.0]}, model=str(path), resolution=160)
    assert sp.baseline.resolution == 160 and sp.baseline.stages == g.stages
    path.write_text("{not json")
    with pytest.raises(CodesignError, match=r"^run.yaml: space.network.model: .*mine.json: not a genome file \("):
        space({"width_multiplier": [1.0]}, model=str(path))


def test_a_search_holding_the_baseline_never_returns_a_front_the_baseline_dominates():
    """Kernels 5 and 7 cost latency and memory in every stage, so the model (3x3 everywhere) dominates
    every other design of this space; a random search that did not start from it would return a front
    of designs it dominates."""
    cfg = parse_run_config({**RUN, "objectives": ["latency_ms", "memory_mb"], "budget": 5,
                            "space": {"network": {"type": "from_model", "model": "mobilenet_v2",
                                                  "search": {"kernel": {"each": [3, 5, 7]}}}}}, "run.yaml")
    problem = cfg.build_problem()
    base = [problem.baseline_metrics[k] for k in ("latency_ms", "memory_mb")]
    for seed in (0, 1, 2):
        result = run_search(problem, "random", 5, seed, batch_size=5)
        assert result.genomes[0] == problem.net_axis.baseline_genes()
        front = [result.metrics[i] for i in result.front()]
        for m in front:
            point = [m["latency_ms"], m["memory_mb"]]
            assert not (all(b <= p for b, p in zip(base, point)) and base != point)
        assert any(m["latency_ms"] == base[0] for m in front)
    # without the model as its start the same search returns only designs the model dominates
    unseeded = run_search(problem, "random", 5, 0, batch_size=5, seeds=[])
    assert all(m["latency_ms"] > base[0] and m["memory_mb"] >= base[1] for m in unseeded.metrics)


def test_a_run_writes_the_model_as_its_baseline_with_ratios(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**RUN, "constraints": {"params_m": {"max": "baseline"}}}))
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    with open(out / "pareto.csv") as fh:
        rows = list(csv.DictReader(fh))
    base = rows[-1]
    zoo_net = load_model("mobilenet_v2")
    assert base["kind"] == "baseline" and float(base["params_m"]) == pytest.approx(zoo_net.params / 1e6, rel=1e-5)
    assert base["latency_ms / baseline"] == "1.000"
    for row in rows[:-1]:
        assert float(row["params_m"]) <= zoo_net.params / 1e6 * (1 + 1e-5)
        assert float(row["latency_ms / baseline"]) == pytest.approx(float(row["latency_ms"]) / float(base["latency_ms"]),
                                                                    abs=6e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["constraints"]["params_m"]["max"] == pytest.approx(zoo_net.params / 1e6)
    assert "r224 stem32" in summary["baseline"]["network"]


def test_the_model_axis_key_is_the_network_genome_whatever_the_genes():
    axis = P.ModelAxis(space({"width_multiplier": [0.5, 1.0], "block": {"s1": ["ibn", "fused_ibn"]}}))
    assert axis.key({}) == axis.key({"width_multiplier": 1.0, "s1.block": "ibn"}) == (zoo_genome("mobilenet_v2").key(),)
    assert axis.key({"width_multiplier": 0.5}) != axis.key({})
    # the same network in another space has the same key (and so the same proxy score)
    other = P.ModelAxis(space({"kernel": {"s2": [3, 5]}}))
    assert other.key({"s2.kernel": 3}) == axis.key({})


def test_a_model_space_made_directly_checks_its_stage_names():
    with pytest.raises(CodesignError, match=r"search.block.s7: unknown stage"):
        ModelSpace(zoo_genome("mobilenet_v2"), {"block": {"s7": ["ibn"]}}, model="mobilenet_v2")


def test_codesign_genome_writes_a_zoo_model_or_a_searched_design_as_a_genome_file(tmp_path, capsys):
    path = tmp_path / "det.json"
    assert main(["genome", "ssdlite_mobilenet_v2", "--resolution", "256", "--out", str(path)]) == 0
    g = json.loads(path.read_text())
    assert g["resolution"] == 256 and g["head"]["kind"] == "ssdlite" and len(g["stages"]) == 7
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**RUN, "space": {"network": {"type": "from_model", "model": "det.json",
                                                                "search": {"width_multiplier": [0.5, 1.0]}}}}))
    out = tmp_path / "r"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["genome", "--run", str(out), "--evaluation", "1"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["resolution"] == 256 and second["stem_channels"] == 16   # the width-0.5 design
    assert main(["genome", "--run", str(out), "--evaluation", "7"]) == 2
    assert capsys.readouterr().err.strip() == "codesign: error: --evaluation: expected 0-1 (the run's evaluations), got 7"
    assert main(["genome", "no_such_model"]) == 2
    assert "unknown" in capsys.readouterr().err


TASK_RUN = {"name": "t", "objectives": ["latency_ms", "accuracy"], "algorithm": "random", "budget": 2,
            "batch_size": 2, "space": {"network": {"type": "from_model", "model": "lraspp_mobilenet_v3",
                                                   "resolution": 64, "search": {"width_multiplier": [0.35, 0.5]}}},
            "accuracy": {"source": "train", "task": "segmentation", "epochs": 1, "n_train": 16, "n_val": 8,
                         "batch_size": 8}}


def test_a_segmenter_search_trains_each_design_on_synthetic_shapes_and_scores_its_miou():
    pytest.importorskip("torch")
    from codesign.accuracy.proxies import genome_seed, seeded
    from codesign.accuracy.tasks import task_genome, train_task
    from codesign.accuracy.torch_models import genome_module
    cfg = parse_run_config(TASK_RUN, "run.yaml")
    problem = cfg.build_problem()
    base = problem.baseline_metrics["accuracy"]
    assert 0 < base < 100
    # the same as training the baseline's genome, re-headed for 3 shapes + background, by hand
    axis = problem.net_axis
    with seeded(genome_seed(axis.key({}), 0), threads=1):
        model = genome_module(task_genome(axis.genome({}), "segmentation", num_classes=3))
    direct = train_task(model, "segmentation", epochs=1, n_train=16, n_val=8, batch_size=8, seed=0, threads=1,
                        device="cpu")
    assert direct["metric"] == "mIoU" and direct["score"] == base
    scores = [m["accuracy"] for m in problem.evaluate([{"width_multiplier": 0.35}, {"width_multiplier": 0.5}])]
    assert scores == [m["accuracy"] for m in problem.evaluate([{"width_multiplier": 0.35}, {"width_multiplier": 0.5}])]


@pytest.mark.parametrize("change, message", [
    ({"task": "detection"}, "accuracy.task detection: the designs' lraspp head is for segmentation"),
    ({"patience": 2}, "accuracy.patience: expected an option of training on an .npz (task classification)"),
    ({"data": "mine.npz"}, "accuracy.data: expected synthetic_shapes (the data of task segmentation)"),
    ({"num_classes": 7}, "accuracy.num_classes: expected a whole number in 1..6"),
    ({"source": "synflow"}, "accuracy.task: expected no task unless source is train"),
])
def test_a_bad_training_task_is_one_line_naming_the_key(change, message):
    with pytest.raises(CodesignError) as info:
        parse_run_config({**TASK_RUN, "accuracy": {**TASK_RUN["accuracy"], **change}}, "run.yaml")
    assert str(info.value).startswith(f"run.yaml: {message}"), str(info.value)


@pytest.mark.parametrize("source", ["synflow", "naswot", "grad_norm"])
def test_every_zero_shot_proxy_scores_a_detector_on_synthetic_shapes(source):
    """A detector's proxy is computed on the design re-headed for the shapes' classes, with a batch of
    them (grad_norm: SSD's loss on their boxes), as experiments/task_proxies.py measures it."""
    pytest.importorskip("torch")
    from codesign.accuracy import score
    from codesign.accuracy.proxies import genome_seed, seeded
    from codesign.accuracy.tasks import proxy_batch, task_genome
    from codesign.accuracy.torch_models import genome_module
    run = {**TASK_RUN, "accuracy": {"source": source, "batch": 4, "num_classes": 2},
           "space": {"network": {"type": "from_model", "model": "ssdlite_mobilenet_v2", "resolution": 96,
                                 "search": {"width_multiplier": [0.35, 0.5]}}}}
    problem = parse_run_config(run, "run.yaml").build_problem()
    axis = problem.net_axis
    with seeded(genome_seed(axis.key({}), 0), threads=1):
        model = genome_module(task_genome(axis.genome({}), "detection", num_classes=2))
        x, y = proxy_batch(model, "detection", batch=4, resolution=96, seed=0)
        direct = score(model, source, x, y, seed=0)
    assert problem.baseline_metrics["accuracy"] == direct and direct == direct   # finite, not NaN
