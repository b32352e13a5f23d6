"""accelsim.schema: one JSON Schema per config type, one checker, one error form.

The schema documents are standard JSON Schema (an editor or any validator can use them), the compiled
accept test (fastjsonschema) and the explaining validator (jsonschema) agree on what is valid, and the
checker's Python type rules and one-line messages hold for every kind of bad value.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from accelsim import schema
from accelsim.cli import SCHEMAS, main
from accelsim.config import HARDWARE_SCHEMA, available_hardware, hardware_to_dict, load_hardware
from accelsim.errors import ConfigError
from accelsim.io import read_yaml

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SMALL = schema.obj({"n": schema.scalar("integer", "PEs", "a count", minimum=0, high=64),
                    "x": schema.scalar("number", "ms", "a time", minimum=0, strict=False),
                    "k": schema.scalar("string", choices=("a", "b")),
                    "on": schema.scalar("boolean")},
                   required=("n",))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_schema_is_a_valid_json_schema_document(name):
    doc = json.loads(schema.show(name, SCHEMAS))
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == schema.DIALECT and doc["type"] == "object"


def test_shipped_hardware_configs_satisfy_the_printed_schema_under_a_plain_validator(capsys):
    assert main(["schema", "hardware"]) == 0
    doc = json.loads(capsys.readouterr().out)
    plain = jsonschema.Draft202012Validator(doc)   # no project type rules: what an editor would run
    files = [p for p in available_hardware().values() if p.suffix == ".yaml"]
    assert len(files) >= 3
    for path in files:
        errors = [e.message for e in plain.iter_errors(schema.without_nulls(read_yaml(path)))]
        assert not errors, f"{path.name}: {errors[:2]}"


@pytest.mark.parametrize("value, message", [
    ({"n": -1}, "f: n: expected a positive number, got -1"),
    ({"n": 65}, "f: n: expected an integer in [1, 64], got 65"),
    ({"n": True}, "f: n: expected an integer, got True"),
    ({"n": 2.5}, "f: n: expected an integer, got 2.5"),
    ({"n": "3"}, "f: n: expected an integer, got '3'"),
    ({"n": 10 ** 400}, "f: n: expected an integer in [1, 64], got "),
    ({"n": 1, "x": -0.5}, "f: x: expected a number >= 0, got -0.5"),
    ({"n": 1, "x": math.nan}, "f: x: expected a finite number, got nan"),
    ({"n": 1, "x": math.inf}, "f: x: expected a finite number, got inf"),
    ({"n": 1, "x": 10 ** 400}, "f: x: expected a finite number, got "),
    ({"n": 1, "k": "c"}, "f: k: expected one of a, b, got 'c'"),
    ({"n": 1, "on": "yes"}, "f: on: expected true or false, got 'yes'"),
    ({"n": 1, "bogus": 1}, "f: bogus: unknown key; expected one of n, x, k, on"),
    ({"x": 1}, "f: n: missing required key (a count)"),
    ([1], "f: expected a mapping of keys, got [1]"),
])
def test_every_kind_of_bad_value_is_one_line_naming_key_expectation_and_value(value, message):
    with pytest.raises(ConfigError) as exc:
        schema.check(value, SMALL, "f")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_python_numbers_are_taken_as_written_and_null_means_absent():
    assert schema.check({"n": np.int64(3), "x": np.float32(0.5), "k": None}, SMALL, "f") == {"n": 3, "x": 0.5}
    assert schema.check({"n": 4.0}, SMALL, "f") == {"n": 4.0}   # an integral float is an integer
    with pytest.raises(ConfigError, match="n: missing required key"):
        schema.check({"n": None}, SMALL, "f")


def _mutations():
    """Hardware dicts with one value replaced by something plausible or wrong, each key in turn."""
    base = hardware_to_dict(load_hardware("neural_engine"))
    values = [-1, 0, 1, 0.5, 3.0, 70000, 1e300, "x", True, [1], {}, {"int8": 1}]

    def paths(d, pre=()):
        for k, v in d.items():
            yield pre + (k,)
            if isinstance(v, dict):
                yield from paths(v, pre + (k,))

    for path in paths(base):
        for v in values:
            d = copy.deepcopy(base)
            node = d
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = v
            yield d


def test_the_compiled_accept_test_and_the_explaining_validator_agree():
    fast, slow = schema._fast(HARDWARE_SCHEMA), schema.validator(HARDWARE_SCHEMA)
    n_valid = n = 0
    for d in _mutations():
        plain = schema.without_nulls(d)
        try:
            fast(plain)
            fast_ok = True
        except Exception:
            fast_ok = False
        assert fast_ok == slow.is_valid(plain), json.dumps(plain)[:300]
        n, n_valid = n + 1, n_valid + fast_ok
    assert n > 400 and 0 < n_valid < n


def test_the_cli_prints_the_reference_the_readme_shows():
    out = subprocess.run([sys.executable, "-m", "accelsim.cli", "schema", "hardware", "--markdown"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_config_without_vector_lanes_needs_no_vector_ops_and_round_trips():
    hw = load_hardware("neural_engine").replace(vector__lanes=0)
    assert hw.vector.ops_per_lane_per_cycle == () and hardware_to_dict(hw)["vector"]["ops_per_lane_per_cycle"] == {}
    assert hw.replace(array__rows=8).vector == hw.vector
    with pytest.raises(ConfigError, match="vector.ops_per_lane_per_cycle: expected a non-empty mapping"):
        load_hardware("neural_engine").replace(vector__ops_per_lane_per_cycle={})


def test_the_compiled_test_is_kept_in_the_cache_and_a_bad_cache_file_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELSIM_CACHE_DIR", str(tmp_path))
    doc = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    first = schema._compiled_test(doc)
    files = list(tmp_path.glob("schema-*.marshal"))
    assert len(files) == 1
    again = schema._compiled_test(doc)   # read from the file
    for test in (first, again):
        assert test({"n": 3}) == {"n": 3}
        with pytest.raises(Exception):
            test({"n": 0})
    files[0].write_bytes(b"not marshal data")
    assert schema._compiled_test(doc)({"n": 2}) == {"n": 2}
    monkeypatch.setenv("ACCELSIM_CACHE_DIR", str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file where the folder would be")   # unwritable: compiled here
    assert schema._compiled_test(doc)({"n": 5}) == {"n": 5}
