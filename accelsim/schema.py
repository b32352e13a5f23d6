"""One schema language for every config file: JSON Schema (draft 2020-12), checked by ``jsonschema``.

Each config type is declared once as a JSON Schema: the hardware config and the search spaces from the
metadata of their dataclass fields (:func:`dataclass_schema`: unit, meaning, bounds and the documented
sane range sit beside the field they type), the scenario, run-config, sweep and supernet schemas as
schema documents built with the helpers below. One function checks an instance against a schema
(:func:`check`) and turns the first violation into today's one-line error::

    hw_configs/edge.yaml: memory.sram.ifmap_kb: expected a positive number, got -4

(file, key path, what was expected, the value as written), and one function renders a schema as the
README's config reference (:func:`reference_markdown`). ``accelsim schema NAME`` and ``codesign schema
NAME`` print a schema, for an editor's YAML completion and checking.

Keywords besides the standard ones (JSON Schema allows extra keywords; validators ignore unknown ones):

- ``x-unit``: the unit shown in the reference;
- ``x-expected``: the words an error uses for what was expected (``a positive number``);
- ``x-finite``: the number must be finite (JSON Schema has no NaN or infinity, YAML does);
- ``x-range``: the documented range as the reference shows it (``(0, 1e6]``);
- ``x-pattern-words``: how an unknown-key error names the keys ``patternProperties`` admits (``s<i>``);
- ``x-reference-note``: words added to the meaning of every key of one form of a choice of forms;
- ``x-reference-skip``: a form the reference leaves out (it has a table of its own).

Types follow Python: ``integer`` admits any integral number but not a bool (numpy integers from search
code included) and a float with an integral value (``4.0``); ``number`` admits any real but a bool;
``array`` admits a list or a tuple; ``object`` any mapping.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, one_line, quote
from .extras import require

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MISSING = dataclasses.MISSING


# ------------------------------------------------------------------------------------ building blocks
def number_text(v) -> str:
    """A range end as the reference writes it: 65536, 0.001, 1e6, 2^30."""
    if float(v).is_integer() and abs(v) < 1e5:
        return str(int(v))
    if float(v).is_integer() and int(v) & (int(v) - 1) == 0:
        return f"2^{int(v).bit_length() - 1}"
    return f"{v:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def range_text(*, integer: bool, minimum=None, strict: bool = True, low=None, high=None) -> str:
    """The documented range: ``(0, 1e6]``, ``[1, 65536]``, ``[0, ∞)``; empty when unbounded."""
    if low is None and minimum is None:
        return ""
    if low is not None:
        left = f"[{number_text(low)}"
    elif strict:
        left = f"[{number_text(minimum + 1)}" if integer else f"({number_text(minimum)}"
    else:
        left = f"[{number_text(minimum)}"
    return f"{left}, {number_text(high)}]" if high is not None else f"{left}, ∞)"


def scalar(kind: str, unit: str = "-", help: str = "", *, minimum: "float | None" = None, strict: bool = True,
           low: "float | None" = None, high: "float | None" = None, choices: "tuple | None" = None,
           expected: "str | None" = None, default: Any = _MISSING) -> dict:
    """A schema for one scalar: ``kind`` is integer, number, string or boolean.

    ``minimum`` is the sign bound (strict: value > minimum; else value >= minimum) and its error says
    "a positive number" / "a number >= 0"; ``low``/``high`` is the sane range beyond it, whose error
    names the range. ``expected`` overrides the words of every error for this key.
    """
    node: dict = {"type": kind, "description": help, "x-unit": unit}
    if choices is not None:
        node["enum"] = list(choices)
        node["x-range"] = ", ".join(map(str, choices))
    if kind == "boolean":
        node["x-range"] = "true/false"
    if kind in ("integer", "number"):
        node["x-finite"] = True
        if minimum is not None:
            node["exclusiveMinimum" if strict else "minimum"] = minimum
        if low is not None:   # the sane range is checked after the sign, so a sign error reads as one
            if strict or minimum is None:
                node["minimum"] = low
            else:
                node["minimum"] = max(low, minimum)
        if high is not None:
            node["maximum"] = high
        text = range_text(integer=kind == "integer", minimum=minimum, strict=strict, low=low, high=high)
        if text:
            node["x-range"] = text
            node["x-bounds"] = {"minimum": minimum, "strict": strict, "low": low, "high": high}
    if expected is not None:
        node["x-expected"] = expected
    if default is not _MISSING:
        node["default"] = default
    return node


def obj(properties: dict, *, required: tuple = (), help: str = "", expected: "str | None" = None,
        sorted_keys: bool = False, missing_words: "dict | None" = None) -> dict:
    """A mapping with exactly these keys (an unknown key is an error naming the known ones)."""
    node: dict = {"type": "object", "description": help}
    if expected is not None:
        node["x-expected"] = expected
    node["additionalProperties"] = False
    if required:
        node["required"] = list(required)
    if sorted_keys:
        node["x-sorted-keys"] = True
    if missing_words:
        node["x-missing"] = dict(missing_words)
    node["properties"] = properties
    return node


# ------------------------------------------------------------------------------------ from dataclasses
def field(unit: str, help: str, *, minimum: "float | None" = 0.0, strict: bool = True,
          choices: "tuple | None" = None, default: Any = _MISSING, low: "float | None" = None,
          high: "float | None" = None, expected: "str | None" = None):
    """Declare a config dataclass field: unit, meaning, sign bound and sane range (see :func:`scalar`);
    :func:`dataclass_schema` turns the fields into the schema."""
    meta = {"unit": unit, "help": help, "minimum": minimum, "strict": strict, "choices": choices,
            "low": low, "high": high, "expected": expected}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_KINDS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
          int: "integer", float: "number", str: "string", bool: "boolean"}


def field_schema(f: dataclasses.Field, kind: "str | None" = None) -> dict:
    """The schema of one scalar dataclass field declared with :func:`field` (``kind`` for a field
    whose Python type is a container of such scalars)."""
    meta = f.metadata
    kind = kind or _KINDS[f.type]
    minimum = meta.get("minimum") if kind in ("integer", "number") else None
    return scalar(kind, meta["unit"], meta["help"], minimum=minimum, strict=meta.get("strict", True),
                  low=meta.get("low"), high=meta.get("high"), choices=meta.get("choices"),
                  expected=meta.get("expected"))


def dataclass_schema(cls, *, skip: tuple = (), nested: "dict | None" = None, help: str = "") -> dict:
    """The object schema of a dataclass of scalar fields; ``nested`` gives the schema of non-scalar
    fields by name. A field without a default is required."""
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        props[f.name] = (nested or {}).get(f.name) or field_schema(f)
        if f.default is _MISSING and f.default_factory is _MISSING:
            required.append(f.name)
    return obj(props, required=tuple(required), help=help or (cls.__doc__ or "").strip().split("\n")[0])


# ------------------------------------------------------------------------------------ checking
_VALIDATORS: dict = {}


def _validator_class():
    if "cls" not in _VALIDATORS:
        jsonschema = require("jsonschema", "", "accelsim.schema")
        from jsonschema import validators

        def is_integer(_, x):
            if isinstance(x, bool):
                return False
            return isinstance(x, numbers.Integral) or (isinstance(x, float) and x.is_integer())

        def is_number(_, x):
            return not isinstance(x, bool) and isinstance(x, numbers.Real)

        checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({
            "integer": is_integer, "number": is_number,
            "array": lambda _, x: isinstance(x, (list, tuple)),
            "object": lambda _, x: isinstance(x, Mapping)})

        def finite(validator, value, instance, schema):
            if not value or isinstance(instance, bool):
                return
            if isinstance(instance, numbers.Integral):
                ok = schema.get("type") == "integer" or abs(instance) < 2 ** 1023   # float() of it works
            else:
                ok = not isinstance(instance, numbers.Real) or math.isfinite(float(instance))
            if not ok:
                yield jsonschema.ValidationError("not finite", validator="x-finite")

        _VALIDATORS["cls"] = validators.extend(jsonschema.Draft202012Validator, {"x-finite": finite},
                                               type_checker=checker)
    return _VALIDATORS["cls"]


def validator(schema: dict):
    """A compiled validator for ``schema`` (kept per schema object: build schemas once, at import)."""
    key = id(schema)
    hit = _VALIDATORS.get(key)
    if hit is None or hit[0] is not schema:
        hit = _VALIDATORS[key] = (schema, _validator_class()(schema))
    return hit[1]


def key_text(key) -> str:
    """A key as an error message names it (a key can be anything YAML allows: cut it short)."""
    return one_line(key, 60) if isinstance(key, str) else quote(key)


def path_text(path) -> str:
    """``memory.sram.ifmap_kb``, ``stages[2].kernel``: a key path as errors write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + key_text(part))
    return out


def _kind_words(kind) -> str:
    return {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
            "array": "a list", "object": "a mapping of keys"}.get(kind, str(kind))


def expected_words(error) -> str:
    """What the failing schema node expected, in words."""
    s = error.schema if isinstance(error.schema, dict) else {}
    v = error.validator
    if "x-expected" in s:
        return s["x-expected"]
    if v == "enum":
        return "one of " + ", ".join(map(str, error.validator_value))
    if v == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return " or ".join(_kind_words(k) for k in kinds)
    if v == "x-finite":
        return "a finite number"
    bounds = s.get("x-bounds") or {}
    sign = bounds.get("minimum")
    if v == "exclusiveMinimum" and sign is not None and error.validator_value == sign:
        return "a positive number" if sign == 0 else f"a number > {sign:g}"
    if v == "minimum" and sign is not None and not bounds.get("strict") and bounds.get("low") is None:
        return f"a number >= {sign:g}"
    if v in ("exclusiveMinimum", "minimum", "maximum"):
        if "x-range" in s:
            return f"{_kind_words(s.get('type'))} in {s['x-range']}"
        op = {"exclusiveMinimum": ">", "minimum": ">=", "maximum": "<="}[v]
        return f"{_kind_words(s.get('type'))} {op} {number_text(error.validator_value)}"
    if v in ("minItems", "maxItems"):
        what = "at least" if v == "minItems" else "at most"
        return f"a list of {what} {error.validator_value} item{'s' if error.validator_value != 1 else ''}"
    return s.get("description") or error.message


def describe(error, source: str, at: tuple = ()) -> str:
    """One line for a jsonschema error: ``source: key.path: expected ..., got VALUE``. ``at`` is a key
    path put before the error's own (where the checked mapping sits in a larger file); an error in a
    list entry whose node says ``x-in-list`` is named by the list's key, not the entry's index."""
    where = f"{source}: "
    s = error.schema if isinstance(error.schema, dict) else {}
    keys = list(at) + list(error.absolute_path)
    if s.get("x-in-list"):
        while keys and isinstance(keys[-1], int):
            keys.pop()
    path = path_text(keys)
    if error.validator == "additionalProperties":
        known = list(s.get("properties", {}))
        if s.get("x-sorted-keys"):
            known = sorted(known)
        patterns = list(s.get("patternProperties", {}))   # keys matching one are known too
        extra = [k for k in error.instance if k not in s.get("properties", {})
                 and not any(re.search(p, str(k)) for p in patterns)]
        key = path_text(keys + [extra[0]])
        if s.get("x-pattern-words"):
            known = [s["x-pattern-words"]] + known
        return f"{where}{key}: unknown key; expected one of {', '.join(known)}"
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        key = path_text(keys + [error.instance])
        return f"{where}{key}: unknown {s.get('x-unknown', 'key')}; expected one of {', '.join(map(str, s.get('enum', ())))}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance][0]
        key = path_text(keys + [missing])
        words = s.get("x-missing", {}).get(missing)
        if words is None:
            help = s.get("properties", {}).get(missing, {}).get("description")
            words = f"missing required key ({help})" if help else "missing required key"
        return f"{where}{key}: {words}"
    return f"{where}{path + ': ' if path else ''}expected {expected_words(error)}, got {quote(error.instance)}"


def _first(errors):
    """The error to report: the first one met walking the schema in order, so a node's unknown and
    missing keys (``additionalProperties`` and ``required`` precede ``properties``) come before its
    values, and keys in the order the schema declares them."""
    return next(iter(errors), None)


def without_nulls(value):
    """``value`` with every mapping entry whose value is None left out, at any depth: ``key: null`` in
    YAML means the key is absent (its default applies)."""
    return _plain(value)[0]


_SCALARS = (str, int, float, bool)
_BIG = 2 ** 1023


def _plain(value) -> tuple:
    """``(value as plain JSON data, all numbers finite)``: mappings as dicts without null entries,
    tuples as lists, numpy and other integral/real numbers as int/float."""
    t = type(value)
    if t in _SCALARS:   # an int beyond float range is sent to the validator too (finite for an integer key)
        return value, (math.isfinite(value) if t is float else t is not int or -_BIG < value < _BIG)
    if isinstance(value, Mapping):
        out, finite = {}, True
        for k, v in value.items():
            if v is not None:
                out[k], ok = _plain(v)
                finite = finite and ok
        return out, finite
    if isinstance(value, (list, tuple)):
        out, finite = [], True
        for v in value:
            v, ok = _plain(v)
            out.append(v)
            finite = finite and ok
        return out, finite
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), True
    if isinstance(value, numbers.Real):
        try:
            value = float(value)
        except OverflowError:
            return value, False
        return value, math.isfinite(value)
    return value, True


_SCALAR_TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,)}
_SCALAR_WORDS = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "description"}
_SCALAR_NOTES = {"x-finite", "x-unit", "x-range", "x-bounds"}   # x- keywords a scalar test may ignore or applies


def scalar_test(entry: dict):
    """A plain accept test of the scalar schema ``entry`` (``type``, ``enum``, bounds, ``x-finite``):
    a function of a value giving True when it satisfies ``entry`` (the answer :func:`check` gives
    for that key, in a fraction of its time), False when it does not, None when the test cannot tell
    (a value of another Python type: the caller then checks the whole config). None instead of a
    function when ``entry`` holds a keyword the test does not read."""
    kind = entry.get("type")
    if kind not in _SCALAR_TYPES or any(not (k in _SCALAR_WORDS or k in _SCALAR_NOTES) for k in entry):
        return None
    types, boolean = _SCALAR_TYPES[kind], kind == "boolean"
    enum = entry.get("enum")
    lo, hi = entry.get("minimum"), entry.get("maximum")
    xlo, xhi = entry.get("exclusiveMinimum"), entry.get("exclusiveMaximum")

    def test(value) -> "bool | None":
        t = type(value)
        if t not in types or (t is bool) != boolean:
            return None
        if enum is not None and value not in enum:
            return False
        if t is float and not math.isfinite(value):
            return False
        return not ((lo is not None and value < lo) or (hi is not None and value > hi)
                    or (xlo is not None and value <= xlo) or (xhi is not None and value >= xhi))
    return test


def _fast(schema: dict):
    """The compiled accept-test of ``schema`` (fastjsonschema): about 20x faster than walking it,
    so configs built in a search's inner loop (``Hardware.replace``) cost microseconds. It only says
    yes or no; a no is explained by the jsonschema validator, which reports in schema order."""
    key = ("fast", id(schema))
    hit = _VALIDATORS.get(key)
    if hit is None or hit[0] is not schema:
        hit = _VALIDATORS[key] = (schema, _compiled_test(document(schema, "")))
    return hit[1]


def cache_dir() -> str:
    """Where accelsim keeps what it can rebuild (compiled schema tests): ``$ACCELSIM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/accelsim``, else ``~/.cache/accelsim``."""
    import os
    return os.environ.get("ACCELSIM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "accelsim")


def _compiled_test(doc: dict):
    """fastjsonschema's test of ``doc``. Generating and compiling it costs ~0.13 s, a sixth of a whole
    ``accelsim simulate`` command, so the compiled code is kept in :func:`cache_dir`, keyed by the
    schema, the fastjsonschema version and the interpreter's bytecode magic; a cache that cannot be
    read or written is skipped (the test is then compiled here, as without one)."""
    import hashlib
    import importlib.util
    import json
    import marshal
    import os
    fastjsonschema = require("fastjsonschema", "", "accelsim.schema")
    text = json.dumps(doc, sort_keys=True)
    digest = hashlib.sha256("\n".join((text, fastjsonschema.VERSION, importlib.util.MAGIC_NUMBER.hex()))
                            .encode()).hexdigest()[:24]
    path = os.path.join(cache_dir(), f"schema-{digest}.marshal")
    code = None
    try:
        with open(path, "rb") as f:
            code = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        pass
    if code is None:
        code = compile(fastjsonschema.compile_to_code(json.loads(text)), "<accelsim schema test>", "exec")
        try:
            from .io import write_atomic
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, marshal.dumps(code))
        except OSError:
            pass
    namespace: dict = {}
    exec(code, namespace)
    return namespace["validate"]


def check(instance, schema: dict, source: str, error: type = ConfigError, at: str = ""):
    """``instance`` as plain data without null entries (:func:`without_nulls`) when it satisfies
    ``schema``; else ``error``, one line, for the first violation in schema order (``at``: the key
    path of ``instance`` in its file, ``space.network``, put before the error's key path)."""
    plain, finite = _plain(instance)
    if finite:
        try:
            _fast(schema)(plain)
            return plain
        except Exception:   # fastjsonschema's JsonSchemaValueException: explained below
            pass
    v = validator(schema)
    errors = v.iter_errors(plain)
    first = _first(errors)
    if first is None:   # the compiled test and the validator disagree (an integral float, say): valid
        return plain
    raise error(describe(first, source, tuple(at.split(".")) if at else ()))


# ------------------------------------------------------------------------------------ reference
def reference_rows(schema: dict, prefix: str = "", rows: "list | None" = None) -> list:
    """``(key, unit, range, meaning)`` for every scalar key of ``schema``, depth first in schema order;
    a mapping of names (``additionalProperties`` a schema) shows its key as ``<name>``, and a key with
    a choice of forms (``if``/``then``) its mapping form."""
    rows = [] if rows is None else rows
    if schema.get("x-reference-skip"):   # a form documented in a table of its own
        return rows
    if "if" in schema and "properties" not in schema and isinstance(schema.get("then"), dict) \
            and ("properties" in schema["then"] or "if" in schema["then"]):
        # a choice of forms: the first form's keys, then the keys only the others have (each with its note)
        start = len(rows)
        reference_rows(schema["then"], prefix, rows)
        note = schema["then"].get("x-reference-note", "")
        rows[start:] = [(k, u, r, m + note) for k, u, r, m in rows[start:]]
        other = schema.get("else")
        if isinstance(other, dict) and ("properties" in other or "if" in other):
            known = {r[0] for r in rows}
            note = other.get("x-reference-note", "")
            rows += [(k, u, r, m + note) for k, u, r, m in reference_rows(other, prefix) if k not in known]
        return rows
    if schema.get("type") == "object" and "x-unit" not in schema and \
            ("properties" in schema or isinstance(schema.get("additionalProperties"), dict)):
        for name, sub in schema.get("properties", {}).items():
            reference_rows(sub, f"{prefix}{name}.", rows)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            reference_rows(extra, f"{prefix}{schema.get('x-key-name', '<name>')}.", rows)
        return rows
    key = prefix[:-1]
    rows.append((key, schema.get("x-unit", "-"), schema.get("x-range", "") or "-", schema.get("description", "")))
    return rows


def reference_markdown(schema: dict, skip: tuple = ()) -> str:
    """The reference table of a schema for the README."""
    out = ["| key | unit | range | meaning |", "|---|---|---|---|"]
    out += [f"| `{k}` | {u} | {r} | {m} |" for k, u, r, m in reference_rows(schema) if k not in skip]
    return "\n".join(out)


def document(schema: dict, title: str) -> dict:
    """``schema`` as a standalone JSON Schema document (``$schema`` and title added)."""
    return {"$schema": DIALECT, "title": title, **schema}


def resolve(spec: str) -> dict:
    """The schema named ``module:ATTRIBUTE``."""
    import importlib
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def show(name: str, registry: dict, markdown: bool = False) -> str:
    """The text ``accelsim schema`` / ``codesign schema`` print: the JSON Schema document of config type
    ``name`` (``registry``: name -> ``module:ATTRIBUTE``), or with ``markdown`` its reference table."""
    import json
    node = resolve(registry[name])
    if markdown:
        return reference_markdown(node)
    return json.dumps(document(node, f"{name} config"), indent=1, ensure_ascii=False)
