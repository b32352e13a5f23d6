"""The scenario schema (accelsim.system.scenario.SCENARIO_SCHEMA): one bad value of every kind of key
gives one line naming the key, the schema is valid JSON Schema, and it agrees with the dataclasses
the scenario is built into and with the reference table rendered from it.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from accelsim import schema
from accelsim.errors import ConfigError
from accelsim.system import (ArrivalSpec, BatchSpec, HostSpec, Scenario, SchedulerSpec, StreamSpec, parse_duration,
                             reference_markdown, scenario_from_dict)
from accelsim.system.scenario import SCENARIO_SCHEMA

BASE = {"name": "t", "streams": {"cam": {"model": "ibn_block", "options": {"resolution": 16},
                                         "arrival": {"process": "periodic", "rate": "100fps"}, "deadline": "10ms"}}}
CAM = ("streams", "cam")
DELETE = object()
DURATION = "expected a duration with a unit, as a string like '33ms', '10s', got"


def edited(path: tuple, value) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def build(data):
    return scenario_from_dict(data, source="s.yaml")


# (key path, bad value, the whole message after "s.yaml: ")
BAD = [
    ((), None, "expected a mapping at the top level, got None"),
    (("nmae",), "t", "nmae: unknown key; expected one of name, description, duration, seed, scheduler, host, "
                     "background_dram_gb_per_s, streams"),
    (("name",), DELETE, "name: missing required key"),
    (("name",), 1, "name: expected a string, got 1"),
    (("description",), 0, "description: expected a string, got 0"),
    (("duration",), 10, f"duration: {DURATION} 10"),
    (("duration",), "1" * 200, f"duration: {DURATION} '{'1' * 27}...{'1' * 28}'"),
    (("duration",), "10 parsecs", "duration: expected a duration with a unit (one of ns, us, µs, ms, s, min; "
                                  "e.g. '33ms', '10s'), got '10 parsecs'"),
    (("duration",), "0s", "duration: expected a positive duration, got '0s'"),
    (("duration",), "2d", "duration: expected a duration with a unit (one of ns, us, µs, ms, s, min; "
                          "e.g. '33ms', '10s'), got '2d'"),
    (("seed",), -1, "seed: expected an integer >= 0, got -1"),
    (("seed",), 1.5, "seed: expected an integer, got 1.5"),
    (("seed",), True, "seed: expected an integer, got True"),
    (("scheduler",), [], "scheduler: expected a mapping of keys, got []"),
    (("scheduler", "x"), 1, "scheduler.x: unknown key; expected one of policy, preemption"),
    (("scheduler", "policy"), "lifo", "scheduler.policy: expected one of fifo, priority, edf, got 'lifo'"),
    (("scheduler", "policy"), 1, "scheduler.policy: expected one of fifo, priority, edf, got 1"),
    (("scheduler", "preemption"), "yes", "scheduler.preemption: expected true or false, got 'yes'"),
    (("host", "gops"), 0, "host.gops: expected a positive number, got 0"),
    (("host", "gops"), "fast", "host.gops: expected a number, got 'fast'"),
    (("host", "gops"), float("nan"), "host.gops: expected a finite number, got nan"),
    (("host", "cores"), 0, "host.cores: expected an integer >= 1, got 0"),
    (("host", "cores"), 2.5, "host.cores: expected an integer, got 2.5"),
    (("host", "dram_gb_per_s"), -1, "host.dram_gb_per_s: expected a positive number, got -1"),
    (("host", "handoff"), "-1us", "host.handoff: expected a non-negative duration, got '-1us'"),
    (("host", "handoff"), 5, f"host.handoff: {DURATION} 5"),
    (("background_dram_gb_per_s",), -1, "background_dram_gb_per_s: expected a number >= 0, got -1"),
    (("streams",), {}, "streams: expected a non-empty mapping of stream name -> stream, got {}"),
    (("streams",), DELETE, "streams: missing required key"),
    (("streams", 1), BASE["streams"]["cam"], "streams: expected a stream name (a non-empty string), got 1"),
    (("streams", ""), BASE["streams"]["cam"], "streams: expected a stream name (a non-empty string), got ''"),
    (CAM, 5, "streams.cam: expected a mapping of keys, got 5"),
    (CAM + ("deadlne",), "1ms", "streams.cam.deadlne: unknown key; expected one of model, options, precision, "
                                "arrival, deadline, priority, batch, host_ops"),
    (CAM + ("model",), DELETE, "streams.cam.model: missing required key"),
    (CAM + ("model",), 1, "streams.cam.model: expected a string, got 1"),
    (CAM + ("model",), "resnet9000", "streams.cam.model: unknown model 'resnet9000'; known models: "),
    (CAM + ("options",), [], "streams.cam.options: expected a mapping of builder options, got []"),
    (CAM + ("options", "depth"), 3, "streams.cam.options: unknown option 'depth' for model ibn_block"),
    (CAM + ("options", "resolution"), 0, "streams.cam.options.resolution: expected an integer in [1, 2048]"),
    (CAM + ("precision",), "int3", "streams.cam.precision: expected one of int4, int8, int16, fp16, bf16, fp32, "
                                   "got 'int3'"),
    (CAM + ("arrival",), DELETE, "streams.cam.arrival: missing required key"),
    (CAM + ("arrival",), "15fps", "streams.cam.arrival: expected a mapping of keys, got '15fps'"),
    (CAM + ("arrival", "process"), DELETE, "streams.cam.arrival.process: missing required key"),
    (CAM + ("arrival", "process"), "burst", "streams.cam.arrival.process: expected one of periodic, poisson, "
                                            "got 'burst'"),
    (CAM + ("arrival", "rate"), 30, "streams.cam.arrival.rate: expected a rate with a unit, as a string like "
                                    "'15fps', '50Hz', got 30"),
    (CAM + ("arrival", "rate"), "-30fps", "streams.cam.arrival.rate: expected a positive rate, got '-30fps'"),
    (CAM + ("arrival", "rate"), DELETE, "streams.cam.arrival: give exactly one of rate (e.g. '15fps') and period "
                                        "(e.g. '66ms')"),
    (CAM + ("arrival", "period"), "10ms", "streams.cam.arrival: give exactly one of rate"),
    (CAM + ("arrival", "jitter"), "10ms", "streams.cam.arrival.jitter: expected less than the period (10ms), "
                                          "got '10ms'"),
    (CAM + ("arrival", "jitter"), 1, f"streams.cam.arrival.jitter: {DURATION} 1"),
    (CAM + ("arrival", "offset"), "-1ms", "streams.cam.arrival.offset: expected a non-negative duration, got '-1ms'"),
    (CAM + ("deadline",), DELETE, "streams.cam.deadline: missing required key"),
    (CAM + ("deadline",), 33, f"streams.cam.deadline: {DURATION} 33"),
    (CAM + ("deadline",), "0ms", "streams.cam.deadline: expected a positive duration, got '0ms'"),
    (CAM + ("priority",), 1.5, "streams.cam.priority: expected an integer, got 1.5"),
    (CAM + ("batch",), 0, "streams.cam.batch: expected an integer >= 1, got 0"),
    (CAM + ("batch",), "x", "streams.cam.batch: expected an integer >= 1 or a mapping with size and wait, got 'x'"),
    (CAM + ("batch",), True, "streams.cam.batch: expected an integer >= 1 or a mapping with size and wait, got True"),
    (CAM + ("batch",), {"size": 0}, "streams.cam.batch.size: expected an integer >= 1, got 0"),
    (CAM + ("batch",), {"wait": "1ms"}, "streams.cam.batch.size: missing required key"),
    (CAM + ("batch",), {"size": 2, "x": 1}, "streams.cam.batch.x: unknown key; expected one of size, wait"),
    (CAM + ("batch",), {"size": 2, "wait": "-1ms"}, "streams.cam.batch.wait: expected a non-negative duration, "
                                                    "got '-1ms'"),
    (CAM + ("host_ops",), "conv", "streams.cam.host_ops: expected a list of op kinds or layer-name globs, got 'conv'"),
    (CAM + ("host_ops",), ["conv", ""], "streams.cam.host_ops[1]: expected an op kind or layer-name glob "
                                        "(a non-empty string), got ''"),
]


@pytest.mark.parametrize("path, value, message", BAD, ids=[f"{'.'.join(map(str, p))}={v!r}"[:60] for p, v, _ in BAD])
def test_a_bad_value_of_every_kind_of_key_is_one_line_naming_it(path, value, message):
    data = value if path == () else edited(path, value)
    with pytest.raises(ConfigError) as info:
        build(data)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"s.yaml: {message}"), text


def test_a_line_names_the_first_bad_key_in_file_order():
    data = edited(CAM + ("deadline",), 33)
    data["seed"] = -1
    with pytest.raises(ConfigError, match=r"^s.yaml: seed: "):
        build(data)


def test_the_same_scenario_in_every_spelling_builds_the_same_object():
    plain = build(edited(CAM + ("batch",), {"size": 4}))
    assert build(edited(CAM + ("batch",), 4)) == plain
    assert build(edited(CAM + ("batch",), 4.0)) == plain
    assert build(edited(CAM + ("batch",), np.int64(4))) == plain
    assert type(build(edited(CAM + ("batch",), np.int64(4))).streams[0].batch.size) is int
    full = {**BASE, "description": None, "seed": None, "scheduler": None, "host": None}
    assert build(full) == build(BASE)                   # key: null means the key is absent
    sc = build({**BASE, "seed": np.int64(3), "host": {"cores": 2.0, "gops": 5}})
    assert (sc.seed, sc.host.cores, sc.host.gops) == (3, 2, 5.0)
    assert (type(sc.seed), type(sc.host.cores), type(sc.host.gops)) == (int, int, float)


def test_defaults_are_the_dataclass_defaults():
    sc = build(BASE)
    assert sc == Scenario(name="t", streams=sc.streams, source="s.yaml")
    s = sc.streams[0]
    assert s == StreamSpec(name="cam", model="ibn_block", options=(("resolution", 16),),
                           arrival=ArrivalSpec("periodic", 100.0), deadline_s=0.01)


def test_schema_is_valid_json_schema_and_serialisable():
    jsonschema = pytest.importorskip("jsonschema")
    doc = schema.document(SCENARIO_SCHEMA, "scenario config")
    jsonschema.Draft202012Validator.check_schema(doc)
    assert json.loads(json.dumps(doc)) == doc


def _node(path: str) -> dict:
    """The schema node of a reference key path (``streams.<name>.batch.size``)."""
    node = SCENARIO_SCHEMA
    for part in path.split("."):
        node = node["then"] if "then" in node else node
        node = node["additionalProperties"] if part.startswith("<") else node["properties"][part]
    return node


def _field_name(key: str, node: dict) -> str:
    """The dataclass field a YAML key fills: a time in seconds ends in _s, a rate in Hz in _hz."""
    return key + {"time": "_s", "rate": "_hz"}.get(node.get("x-unit"), "")


@pytest.mark.parametrize("path, cls, skip", [
    ("", Scenario, {"source"}),
    ("scheduler", SchedulerSpec, set()),
    ("host", HostSpec, set()),
    ("streams.<name>", StreamSpec, {"name"}),
    ("streams.<name>.arrival", ArrivalSpec, set()),
    ("streams.<name>.batch", BatchSpec, set()),
])
def test_schema_agrees_with_the_dataclasses(path, cls, skip):
    node = _node(path) if path else SCENARIO_SCHEMA
    node = node.get("then", node)
    keys = {_field_name(k, sub): (k, sub) for k, sub in node["properties"].items() if k != "period"}
    assert set(keys) == {f.name for f in dataclasses.fields(cls)} - skip
    for f in dataclasses.fields(cls):
        if f.name in skip or "default" not in keys[f.name][1]:
            continue
        default = keys[f.name][1]["default"]
        value = parse_duration(default, "d", positive=False) if keys[f.name][1].get("x-unit") == "time" else default
        assert value == f.default and type(value) is type(f.default), f.name


def test_reference_table_is_rendered_from_the_schema():
    rows = [line.split(" | ") for line in reference_markdown().splitlines()[2:]]
    assert [r[0].strip("| `") for r in rows][:3] == ["name", "description", "duration"]
    for key, unit, rng, meaning in rows:
        node = _node(key.strip("| `"))
        assert unit == node.get("x-unit", "-") and meaning.rstrip(" |") == node["description"]
        assert rng == (node.get("x-range") or "-")
    keys = {r[0].strip("| `") for r in rows}
    assert {"streams.<name>.batch.size", "streams.<name>.batch.wait", "streams.<name>.arrival.rate",
            "host.handoff"} <= keys


def test_shipped_scenarios_pass_a_plain_json_schema_validator():
    """The printed schema (``accelsim schema scenario``) accepts the shipped files in any validator."""
    jsonschema = pytest.importorskip("jsonschema")
    from accelsim.io import read_yaml
    from accelsim.system import available_scenarios
    validator = jsonschema.Draft202012Validator(json.loads(json.dumps(schema.document(SCENARIO_SCHEMA, "t"))))
    assert available_scenarios()
    for path in available_scenarios().values():
        assert not list(validator.iter_errors(read_yaml(path))), path
    assert not list(validator.iter_errors(edited(CAM + ("batch",), 4)))


def test_the_readme_shows_the_scenario_reference_the_schema_gives():
    from pathlib import Path

    from accelsim.system import reference_markdown
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert reference_markdown() in readme, "regenerate the README table with accelsim schema scenario --markdown"
