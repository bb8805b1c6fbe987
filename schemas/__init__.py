"""JSON Schemas of the record after each stage, shipped inside the package so Beam
workers find them without the source tree."""

from __future__ import annotations

import json
import math
from functools import cache
from importlib.resources import files

from jsonschema import Draft202012Validator

STAGES = ("source", "rewrite", "split", "interleave", "record")
STAGE_KEYS = {"$schema", "$id", "title", "description", "$ref", "required"}


@cache
def load(name: str) -> dict:
    """The schema document ``NAME.schema.json``."""
    return json.loads(files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8"))


@cache
def validator(stage: str) -> Draft202012Validator:
    """A validator for the record after ``stage`` (one of ``STAGES``).

    Each stage schema is ``fields.schema.json`` (its ``$ref``) plus the fields it requires;
    the validator checks the merged document, which gives the same answers without
    resolving a reference for every record."""
    schema = load(stage)
    if schema.get("$ref") != "fields.schema.json" or set(schema) - STAGE_KEYS:
        raise ValueError(f"{stage}.schema.json must be fields.schema.json plus a required list")
    merged = {**load("fields"), "$id": schema["$id"], "required": schema.get("required", [])}
    Draft202012Validator.check_schema(merged)
    return Draft202012Validator(merged)


@cache
def field_validators() -> dict[str, Draft202012Validator]:
    """A validator per field of ``fields.schema.json``."""
    return {name: Draft202012Validator(field) for name, field in load("fields")["properties"].items()}


_SCALARS = {"integer": lambda v: type(v) is int, "number": lambda v: type(v) in (int, float),
            "string": lambda v: type(v) is str, "boolean": lambda v: type(v) is bool}
_CONTAINERS = {"array": list, "object": dict}
_INT = {int}
_ANNOTATIONS = {"description", "title", "x-arrow", "x-stage", "x-hf"}
_BOUNDS = {"minimum": (lambda v, n: v >= n, ("integer", "number")),
           "maximum": (lambda v, n: v <= n, ("integer", "number")),
           "minLength": (lambda v, n: len(v) >= n, ("string",)),
           "minItems": (lambda v, n: len(v) >= n, ("array",))}


def _int_items(items: dict):
    """For an array of integers (token ids, stream labels): one pass at C speed, since
    jsonschema spends about 5 us on every integer."""
    if not set(items) - _ANNOTATIONS <= {"type", "minimum", "maximum"} or items.get("type") != "integer":
        return None
    low, high = items.get("minimum"), items.get("maximum")
    if low is not None and high is not None and high - low < 256:
        # a few labels (stream kinds): looking each up in the set of them is twice as fast
        in_bounds = frozenset(range(math.ceil(low), math.floor(high) + 1)).issuperset
    else:
        def in_bounds(value: list) -> bool:
            return (low is None or min(value) >= low) and (high is None or max(value) <= high)
    return lambda value: not value or (set(map(type, value)) == _INT and in_bounds(value))


def _compiled(schema: dict):
    """A check of a value against ``schema`` in plain Python, for the keywords the record
    schema uses (type, enum, bounds, items, properties, required, additionalProperties):
    True means valid; False means "ask jsonschema", which then decides and words the error.
    None for a schema with any other keyword. jsonschema spends microseconds on every
    keyword of every value, more than some stages' own work."""
    rest = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
    kind = rest.pop("type", None)
    if kind in _SCALARS:
        tests = [_SCALARS[kind]]
    elif kind in _CONTAINERS:
        tests = [lambda v, cls=_CONTAINERS[kind]: type(v) is cls]
    elif kind is None:
        tests = []
    else:
        return None
    if "enum" in rest:
        allowed = tuple(rest.pop("enum"))
        if not all(type(choice) is str for choice in allowed):
            return None
        tests.append(lambda v: type(v) is str and v in allowed)
    for key in sorted(set(_BOUNDS) & set(rest)):
        test, kinds = _BOUNDS[key]
        if kind not in kinds:  # a bound on a value of unchecked type: jsonschema decides
            return None
        limit = rest.pop(key)
        tests.append(lambda v, test=test, limit=limit: test(v, limit))
    if "items" in rest:
        items = rest.pop("items")
        each = _int_items(items)
        if each is None:
            item = _compiled(items)
            if item is None:
                return None
            each = _all_items(item)
        tests.append(each)
    if "properties" in rest:
        properties = {name: _compiled(field) for name, field in rest.pop("properties").items()}
        if any(check is None for check in properties.values()):
            return None
        required = frozenset(rest.pop("required", ()))
        closed = rest.pop("additionalProperties", True) is False
        tests.append(_object_check(properties, required, closed))
    if rest:
        return None
    return _all_of(tests) if tests else (lambda _: True)


def _all_items(item):
    return lambda value: all(map(item, value))


def _object_check(properties: dict, required: frozenset, closed: bool):
    def check(value: dict) -> bool:
        if not required <= value.keys() or (closed and not value.keys() <= properties.keys()):
            return False
        for name, item in value.items():
            test = properties.get(name)
            if test is not None and not test(item):
                return False
        return True
    return check


def _all_of(tests: list):
    """``tests`` in order, the first failure ending the check (the type test comes first)."""
    first, *others = tests
    if not others:
        return first
    rest = _all_of(others)
    return lambda value: first(value) and rest(value)


@cache
def record_check(stage: str):
    """The plain-Python check (``_compiled``) of a whole record after ``stage``, or None."""
    schema = validator(stage).schema
    return _compiled({key: value for key, value in schema.items() if not key.startswith("$")})


@cache
def fast_checks() -> dict:
    """The plain-Python checks (``_compiled``) of the fields that have one."""
    found = {name: _compiled(field) for name, field in load("fields")["properties"].items()}
    return {name: check for name, check in found.items() if check is not None}


def _described(error, *where: str) -> str:
    path = "/".join([*where, *(str(p) for p in error.absolute_path)]) or "record"
    return f"{path}: {error.message[:300]}"


def first_error(stage: str, record: dict, before: dict | None = None) -> str | None:
    """A readable description of the first way ``record`` breaks its schema, or None.

    With ``before``, the record as a stage received it (already valid), only the fields the
    stage set are checked, plus the required and allowed names: checking the whole record
    again after every stage cost more than some stages' own work."""
    if before is None:
        whole = record_check(stage)
        if whole is not None and whole(record):
            return None
        error = next(iter(validator(stage).iter_errors(record)), None)
        return None if error is None else _described(error)
    fields, fast = field_validators(), fast_checks()
    for name in validator(stage).schema["required"]:
        if name not in record:
            return f"record: {name!r} is a required property"
    for name, value in record.items():
        if name not in fields:
            return f"record: {name!r} is not a field of the record schema"
        if before.get(name, _UNSET) is not value:
            if name in fast and fast[name](value):
                continue
            error = next(iter(fields[name].iter_errors(value)), None)
            if error is not None:
                return _described(error, name)
    return None


_UNSET = object()
