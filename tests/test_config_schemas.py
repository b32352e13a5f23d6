"""The search run config, the sweep file and the two search spaces are each declared once as JSON
Schema (``RUN_CONFIG_SCHEMA``, ``SWEEP_SCHEMA``, ``NETWORK_SPACE_SCHEMA``, ``HARDWARE_SPACE_SCHEMA``):
every key kind's bad value is one line naming the key, the schemas are valid JSON Schema documents
that accept the shipped examples, and they agree with the dataclasses they describe."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from accelsim import schema
from codesign.errors import CodesignError
from codesign.search import problems as P
from codesign.search.runconfig import (LIST_ELEMENTS, RUN_CONFIG_SCHEMA, TOP_KEYS, parse_run_config,
                                       reference_markdown)
from codesign.search.runs import SWEEP_KEYS, SWEEP_SCHEMA, sweep
from codesign.spaces.space import HARDWARE_SPACE_SCHEMA, NETWORK_SPACE_SCHEMA, HardwareSpace, NetworkSpace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "search"
SCHEMAS = {"run": RUN_CONFIG_SCHEMA, "sweep": SWEEP_SCHEMA, "network-space": NETWORK_SPACE_SCHEMA,
           "hardware-space": HARDWARE_SPACE_SCHEMA}
BASE_RUN = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
            "accuracy": {"source": "nb201"}, "budget": 8, "batch_size": 4}
METRICS = ", ".join(P.METRICS)
SOURCES = ", ".join(P.AccuracySource.SOURCES)
FORMATS = "int4, int8, int16, fp16, bf16, fp32"


# ------------------------------------------------------------------------------------ messages
@pytest.mark.parametrize("change, message", [
    # name: a string
    ({"name": "a/b"}, "name: expected a non-empty string without '/', got 'a/b'"),
    ({"name": 5}, "name: expected a non-empty string without '/', got 5"),
    # mappings: unknown and missing keys
    ({"spaec": {}}, "spaec: unknown key; expected one of name, space, network, hardware, objectives"),
    ({"space": {"nets": {}}}, "space.nets: unknown key; expected one of network, hardware"),
    ({"space": 5}, "space: expected a mapping with network and/or hardware, got 5"),
    ({"space": {}}, "space: nothing to search; give space.network and/or space.hardware"),
    ({"space": None}, "space: nothing to search; give space.network and/or space.hardware"),
    ({"space": {"network": [1]}}, "space.network: expected a mapping of space settings, got [1]"),
    ({"space": {"network": {"type": "darts"}}}, "space.network.type: expected mobile, nb201 or from_model, got 'darts'"),
    ({"space": {"network": {"type": "nb201", "depth": 2}}},
     "space.network.depth: unknown key; expected one of type, channels, cells, num_classes, resolution, precision"),
    ({"space": {"network": {"type": "nb201", "cells": 0}}},
     "space.network.cells: expected a positive whole number, got 0"),
    ({"space": {"network": {"type": "nb201", "precision": "int3"}}},
     f"space.network.precision: expected one of {FORMATS}, got 'int3'"),
    # network space: lists of whole numbers, numbers, names; scalars; rules between settings
    ({"space": {"network": {"kernels": 3}}},
     "space.network.kernels: expected a non-empty list of positive whole numbers, got 3"),
    ({"space": {"network": {"kernels": []}}},
     "space.network.kernels: expected a non-empty list of positive whole numbers, got []"),
    ({"space": {"network": {"kernels": [3, -5]}}},
     "space.network.kernels: expected positive whole numbers in the list, got -5"),
    ({"space": {"network": {"expansions": [3, "6"]}}},
     "space.network.expansions: expected positive numbers in the list, got '6'"),
    ({"space": {"network": {"depth_multipliers": [float("inf")]}}},
     "space.network.depth_multipliers: expected positive numbers in the list, got inf"),
    ({"space": {"network": {"blocks": ["ibn", "mbconv"]}}},
     "space.network.blocks: expected ibn or fused_ibn, got 'mbconv'"),
    ({"space": {"network": {"stage_precisions": ["int3"]}}},
     f"space.network.stage_precisions: expected one of {FORMATS}, got 'int3'"),
    ({"space": {"network": {"width_range": [0.5]}}},
     "space.network.width_range: expected [low, high] with low <= high, got [0.5]"),
    ({"space": {"network": {"width_range": [1.5, 0.5]}}},
     "space.network.width_range: expected [low, high] with low <= high, got [1.5, 0.5]"),
    ({"space": {"network": {"strides": [1, 2]}}}, "space.network: strides and base_channels need one entry per stage"),
    ({"space": {"network": {"channel_mode": "any"}}},
     "space.network.channel_mode: expected curated or free, got 'any'"),
    ({"space": {"network": {"num_classes": True}}},
     "space.network.num_classes: expected a positive whole number, got True"),
    ({"space": {"network": {"precision": "fp8"}}}, f"space.network.precision: expected one of {FORMATS}, got 'fp8'"),
    # hardware space
    ({"space": {"hardware": {"cols": [8, 0]}}},
     "space.hardware.cols: expected positive whole numbers in the list, got 0"),
    ({"space": {"hardware": {"dataflows": ["rs"]}}}, "space.hardware.dataflows: expected one of os, ws, is, got 'rs'"),
    ({"space": {"hardware": {"precision_sets": ["int8"]}}},
     "space.hardware.precision_sets: expected lists of names (strings) in the list, got 'int8'"),
    ({"space": {"hardware": {"precision_sets": [["int8"], []]}}},
     "space.hardware.precision_sets: expected lists of names (strings) in the list, got []"),
    ({"space": {"hardware": {"precision_sets": [["int8", "int3"]]}}},
     f"space.hardware.precision_sets: expected one of {FORMATS}, got 'int3'"),
    ({"space": {"hardware": {"unified_probability": 1.5}}},
     "space.hardware.unified_probability: expected a number in [0, 1], got 1.5"),
    ({"space": {"hardware": {"sram_kb": [64, float("nan")]}}},
     "space.hardware.sram_kb: expected positive numbers in the list"),
    # the fixed network and hardware
    ({"network": 5}, "network: expected a zoo model name, an .onnx path or {model: NAME, ...options}, got 5"),
    ({"network": {"width": 2}}, "network.model: missing; expected a zoo model name or an .onnx path"),
    ({"hardware": ["neural_engine"]}, "hardware: expected a hardware config name or path, got ['neural_engine']"),
    # objectives: a list of metrics or one metric
    ({"objectives": ["speed"]}, f"objectives: expected metrics from {METRICS}, got 'speed'"),
    ({"objectives": "speed"}, f"objectives: expected metrics from {METRICS}, got 'speed'"),
    ({"objectives": []}, f"objectives: expected a list of metrics from {METRICS}, got []"),
    ({"objectives": ["edp", "edp"]}, "objectives: expected distinct metrics, got ['edp', 'edp']"),
    # constraints: a mapping, a number or budget
    ({"constraints": [1]}, "constraints: expected a mapping metric -> {max: X} / {min: X} / budget, got [1]"),
    ({"constraints": {"speed": 1}}, f"constraints.speed: unknown metric; expected one of {METRICS}"),
    ({"constraints": {"latency_ms": {"below": 1}}},
     "constraints.latency_ms.below: unknown key; expected one of max, min"),
    ({"constraints": {"latency_ms": {}}},
     "constraints.latency_ms: expected {max: X}, {min: X}, a number (= max), 'F baseline' (= max) or 'budget', got {}"),
    ({"constraints": {"latency_ms": {"max": -1}}}, "constraints.latency_ms.max: expected a positive number, got -1"),
    ({"constraints": {"latency_ms": -1}}, "constraints.latency_ms: expected a positive number, got -1"),
    ({"constraints": {"latency_ms": {"min": "a"}}}, "constraints.latency_ms.min: expected a number, 'baseline' or 'F baseline' (F times the baseline design's value), got 'a'"),
    ({"constraints": {"area_mm2": "budget"}},
     "constraints.area_mm2: expected {max: X} or {min: X} ('budget' applies to memory_mb only), got 'budget'"),
    ({"constraints": {"memory_mb": "all"}},
     "constraints.memory_mb: expected {max: X}, {min: X}, a number (= max), 'F baseline' (= max) or 'budget', got 'all'"),
    # accuracy: a mapping with source, or a source alone
    ({"accuracy": 5}, f"accuracy: expected a mapping with source ({SOURCES}), got 5"),
    ({"accuracy": "oracle"}, f"accuracy: expected one of {SOURCES}, got 'oracle'"),
    ({"accuracy": {"source": "oracle"}}, f"accuracy.source: expected one of {SOURCES}, got 'oracle'"),
    ({"accuracy": {"dataset": "cifar10"}}, f"accuracy.source: missing; expected one of {SOURCES}"),
    ({"accuracy": {"source": "nb201", "split": "test"}},
     "accuracy.split: unknown key; expected one of batch, batch_size"),
    ({"accuracy": {"source": "nb201", "dataset": "mnist"}},
     "accuracy.dataset: expected one of cifar10, cifar100, imagenet16_120, got 'mnist'"),
    ({"accuracy": {"source": "synflow", "batch": 0}}, "accuracy.batch: expected a positive whole number, got 0"),
    ({"accuracy": {"source": "train", "val_fraction": 1}}, "accuracy.val_fraction: expected a number in (0, 1), got 1"),
    ({"accuracy": {"source": "train", "data": "missing.npz"}},
     "accuracy.data: expected an existing .npz file, got 'missing.npz'"),
    # scorer, algorithm, runner: a name or a mapping
    ({"scorer": "oracle"}, "scorer: expected engine or {estimator: PATH, fallback: engine, prefer: auto}, got 'oracle'"),
    ({"scorer": {"model": "e.pt"}}, "scorer.model: unknown key; expected one of estimator"),
    ({"scorer": {"estimator": "missing.pt"}},
     "scorer.estimator: expected an existing estimator checkpoint, got 'missing.pt'"),
    ({"algorithm": "annealing"},
     "algorithm: expected one of random, evolution, nsga2 or {name: ..., options}, got 'annealing'"),
    ({"algorithm": {"name": "annealing"}}, "algorithm.name: expected one of random, evolution, nsga2, got 'annealing'"),
    ({"algorithm": {"population": 8}}, "algorithm.name: missing; expected one of random, evolution, nsga2"),
    ({"algorithm": {"name": "evolution", "population": 0}}, "algorithm.population: expected an integer >= 1, got 0"),
    ({"runner": "spark"}, "runner: expected one of serial, processes, ray or {name: ..., workers: N, address: ...}, "
                          "got 'spark'"),
    ({"runner": {"name": "ray", "nodes": 3}}, "runner.nodes: unknown key; expected one of name, workers, address"),
    ({"runner": {"name": "processes", "workers": 0}},
     "runner.workers: expected an integer >= 1 (leave it out for all cores), got 0"),
    ({"runner": {"name": "ray", "address": ""}},
     "runner.address: expected a Ray address (auto, ray://host:port), got ''"),
    # whole numbers
    ({"budget": 0}, "budget: expected a whole number >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size: expected a whole number >= 1, got 2.5"),
    ({"seed": -1}, "seed: expected a whole number >= 0, got -1"),
    ({"seed": "0"}, "seed: expected a whole number >= 0, got '0'"),
    ({"threads": 5000}, "threads: expected an integer in [1, 1024] (CPU threads of torch scoring; leave it out for 1), "
                        "got 5000"),
    # reference: a number per objective
    ({"reference": [1, 2]}, "reference: expected a mapping objective -> value, got [1, 2]"),
    ({"reference": {"latency_ms": "far", "accuracy": 0}}, "reference.latency_ms: expected a number, got 'far'"),
    ({"reference": {"latency_ms": 1}}, "reference: expected a value for each objective (latency_ms, accuracy), "
                                       "got {'latency_ms': 1}"),
])
def test_a_bad_run_config_value_is_one_line_naming_the_key(change, message):
    data = {**BASE_RUN, **change}
    with pytest.raises(CodesignError) as info:
        parse_run_config(data, "run.yaml")
    text = str(info.value)
    assert text.startswith(f"run.yaml: {message}"), text
    assert "\n" not in text


def test_a_run_config_that_is_not_a_mapping():
    with pytest.raises(CodesignError,
                       match=r"^run.yaml: expected a mapping of run settings at the top level, got \[1\]$"):
        parse_run_config([1], "run.yaml")


@pytest.mark.parametrize("settings, message", [
    ({"channel_mode": "any"}, "network space: channel_mode: expected curated or free, got 'any'"),
    ({"kernels": (3, 4.5)}, "network space: kernels: expected positive whole numbers in the list, got 4.5"),
    ({"blocks": ("ibn", "conv")}, "network space: blocks: expected ibn or fused_ibn, got 'conv'"),
    ({"stage_precisions": ("int3",)}, f"network space: stage_precisions: expected one of {FORMATS}, got 'int3'"),
    ({"strides": (1, 2)}, "network space: strides and base_channels need one entry per stage"),
    ({"width_range": (2.0, 1.0)}, "network space: width_range: expected [low, high] with low <= high, got [2.0, 1.0]"),
])
def test_a_network_space_made_directly_goes_through_its_schema(settings, message):
    with pytest.raises(CodesignError) as info:
        NetworkSpace(**settings)
    assert str(info.value) == message


@pytest.mark.parametrize("settings, message", [
    ({"precision_sets": (("int8", "int3"),)}, f"hardware space: precision_sets: expected one of {FORMATS}, got 'int3'"),
    ({"rows": (8, 0)}, "hardware space: rows: expected positive whole numbers in the list, got 0"),
    ({"unified_probability": -0.5}, "hardware space: unified_probability: expected a number in [0, 1], got -0.5"),
    ({"base": 5}, "hardware space: base: expected a string, got 5"),
])
def test_a_hardware_space_made_directly_goes_through_its_schema(settings, message):
    with pytest.raises(CodesignError) as info:
        HardwareSpace(**settings)
    assert str(info.value) == message


def test_from_dict_names_the_source_and_key_path():
    with pytest.raises(CodesignError,
                       match=r"^s.yaml: a.b.kernels: expected positive whole numbers in the list, got 0$"):
        NetworkSpace.from_dict({"kernels": [0]}, "s.yaml", "a.b")
    with pytest.raises(CodesignError, match=r"^hardware space: clocks: unknown key; expected one of base, rows"):
        HardwareSpace.from_dict({"clocks": [1]})


SWEEP_RUN = {"run": BASE_RUN, "sweep": {"key": "hardware", "values": ["neural_engine"]}}


@pytest.mark.parametrize("spec, message", [
    ([1], "expected a mapping with run, sweep and pick, got [1]"),
    ({**SWEEP_RUN, "plot": True}, "plot: unknown key; expected one of run, sweep, pick"),
    ({"sweep": SWEEP_RUN["sweep"]}, "run: missing; expected a run config path or mapping"),
    ({**SWEEP_RUN, "run": 5}, "run: expected a run config path or mapping, got 5"),
    ({**SWEEP_RUN, "run": "list.yaml"}, "run: expected a run config path or mapping, got [1]"),
    ({**SWEEP_RUN, "run": {**BASE_RUN, "budget": 0}}, "run.budget: expected a whole number >= 1, got 0"),
    ({**SWEEP_RUN, "sweep": 5}, "sweep: expected {key: hardware | constraints.METRIC.max, values: [...]}, got 5"),
    ({**SWEEP_RUN, "sweep": {"key": "seed", "values": [1]}},
     "sweep.key: expected hardware or constraints.METRIC.max/min, got 'seed'"),
    ({**SWEEP_RUN, "sweep": {"key": "hardware", "values": []}},
     "sweep.values: expected a non-empty list of values, got []"),
    ({**SWEEP_RUN, "sweep": {"key": "hardware"}}, "sweep.values: missing required key"),
    ({**SWEEP_RUN, "pick": {"max": "speed"}}, f"pick.max: expected one of {METRICS}, got 'speed'"),
    ({**SWEEP_RUN, "pick": {"max": "accuracy", "min": "edp"}},
     "pick: expected {max: METRIC} or {min: METRIC}, got {'max': 'accuracy', 'min': 'edp'}"),
    ({**SWEEP_RUN, "pick": {"best": "edp"}}, "pick.best: unknown key; expected one of max, min"),
])
def test_a_bad_sweep_file_is_one_line_naming_the_key(tmp_path, spec, message):
    (tmp_path / "list.yaml").write_text("[1]\n")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(CodesignError) as info:
        sweep(path, tmp_path / "out", progress=False, log=None)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ documents
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_schema_is_a_valid_json_schema_document(name):
    document = schema.document(SCHEMAS[name], f"{name} config")
    jsonschema.Draft202012Validator.check_schema(document)
    assert json.loads(json.dumps(document)) == document


def test_the_shipped_examples_and_the_shorthands_satisfy_the_standalone_schema():
    """An editor or any other validator (plain jsonschema, no codesign code) accepts what codesign accepts."""
    run = jsonschema.Draft202012Validator(schema.document(RUN_CONFIG_SCHEMA, "run config"))
    for path in sorted(set(EXAMPLES.glob("*.yaml")) - set(EXAMPLES.glob("sweep_*.yaml"))):
        run.validate(yaml.safe_load(path.read_text()))
    sweep_validator = jsonschema.Draft202012Validator(schema.document(SWEEP_SCHEMA, "sweep config"))
    sweep_validator.validate(yaml.safe_load((EXAMPLES / "sweep_hardware.yaml").read_text()))
    short = {**BASE_RUN, "objectives": "latency_ms", "accuracy": "params", "algorithm": "random", "runner": "serial",
             "scorer": "engine", "constraints": {"memory_mb": "budget", "latency_ms": 2, "area_mm2": {"max": 6}}}
    run.validate(short)
    cfg = parse_run_config(short, "run.yaml")
    assert cfg.objectives == ("latency_ms",) and cfg.accuracy == {"source": "params"}
    assert (cfg.algorithm, cfg.runner, cfg.estimator) == ("random", "serial", None)
    assert [(c.metric, c.max, c.budget) for c in cfg.constraints] == \
        [("memory_mb", None, True), ("latency_ms", 2, False), ("area_mm2", 6, False)]
    assert not run.is_valid({**BASE_RUN, "constraints": {"area_mm2": "budget"}})


def test_the_reference_covers_every_key():
    text = reference_markdown()
    for key in TOP_KEYS:
        assert f"| `{key}" in text
    for f in dataclasses.fields(NetworkSpace):
        assert f"| `space.network.{f.name}` |" in text
    for f in dataclasses.fields(HardwareSpace):
        assert f"| `space.hardware.{f.name}` |" in text
    assert "| `space.network.cells` |" in text and "(type nb201)" in text


# ------------------------------------------------------------------------------------ agreement
@pytest.mark.parametrize("cls, node", [(NetworkSpace, NETWORK_SPACE_SCHEMA), (HardwareSpace, HARDWARE_SPACE_SCHEMA)])
def test_a_space_schema_and_its_dataclass_agree(cls, node):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert list(node["properties"]) == list(fields) and not node.get("required")
    for name, f in fields.items():
        sub = node["properties"][name]
        assert sub["description"] and sub["x-unit"]
        if isinstance(f.default, tuple):
            assert sub["type"] == "array" and f.metadata["items"] == LIST_ELEMENTS[name]
            assert sub.get("minItems", 0) == (2 if name == "width_range" else 1 if f.default else 0)
        else:
            assert sub["type"] == {int: "integer", float: "number", str: "string"}[type(f.default)]
        # every default satisfies its own key's schema
        schema.check({name: f.default}, node, "defaults", CodesignError)
    default = cls()
    assert cls.from_dict(json.loads(json.dumps(dataclasses.asdict(default)))) == default


def test_the_run_config_schema_reuses_the_space_schemas():
    space = RUN_CONFIG_SCHEMA["properties"]["space"]["properties"]
    assert space["hardware"] is HARDWARE_SPACE_SCHEMA
    mobile = space["network"]["then"]["properties"]
    assert list(mobile) == ["type"] + list(NETWORK_SPACE_SCHEMA["properties"])
    assert all(mobile[k] is v for k, v in NETWORK_SPACE_SCHEMA["properties"].items())
    assert TOP_KEYS == ("name", "space", "network", "hardware", "objectives", "constraints", "accuracy", "scorer",
                        "algorithm", "budget", "batch_size", "seed", "runner", "threads", "reference", "baseline")
    assert SWEEP_KEYS == ("run", "sweep", "pick")
    assert set(RUN_CONFIG_SCHEMA["properties"]["constraints"]["properties"]) == set(P.METRICS)


def test_a_space_from_a_mapping_is_the_space_built_directly():
    """Lists become tuples, whole numbers written as 4.0 ints, and every other value stays as written
    (so a run's identity, which holds the space, does not change)."""
    space = NetworkSpace.from_dict({"kernels": [3.0, 5], "expansions": [3, 6.0], "width_range": [1, 1.25],
                                    "channel_multiple": 16.0, "stage_precisions": ["int8"]})
    assert space == NetworkSpace(kernels=(3, 5), expansions=(3, 6.0), width_range=(1, 1.25), channel_multiple=16,
                                 stage_precisions=("int8",))
    assert [type(k) for k in space.kernels] == [int, int] and type(space.channel_multiple) is int
    assert [type(e) for e in space.expansions] == [int, float]
    hw = HardwareSpace.from_dict({"precision_sets": [["int8"], ["int8", "fp16"]], "unified_probability": 0,
                                  "clocks_mhz": []})
    assert hw.precision_sets == (("int8",), ("int8", "fp16")) and hw.unified_probability == 0 and hw.clocks_mhz == ()


def test_the_readme_shows_the_run_config_and_sweep_references_the_schemas_give():
    from accelsim.schema import reference_markdown as render
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference_markdown() in readme, "regenerate with: codesign schema run --markdown"
    assert render(SWEEP_SCHEMA) in readme, "regenerate with: codesign schema sweep --markdown"
    from codesign.spaces.model_space import MODEL_SPACE_SCHEMA
    assert render(MODEL_SPACE_SCHEMA) in readme, "regenerate with: codesign schema model-space --markdown"


@pytest.mark.parametrize("name", ["run", "sweep", "supernet", "network-space", "model-space", "hardware-space"])
def test_codesign_schema_prints_a_valid_json_schema_document(name, capsys):
    import json

    import jsonschema

    from codesign.cli import SCHEMAS, main
    assert main(["schema", name]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["title"] == f"{name} config" and name in SCHEMAS
    assert main(["schema", name, "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| key | unit | range | meaning |")
