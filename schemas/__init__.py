"""JSON Schemas of the record after each stage, shipped inside the package so Beam
workers find them without the source tree."""

from __future__ import annotations

import json
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


def _int_array_check(field: dict):
    """For a field that is an array of integers (token ids, stream labels): a check in one
    pass at C speed, since jsonschema spends about 5 us on every integer. True means valid;
    False means "ask jsonschema", which then decides and words the error."""
    items = field.get("items", {})
    simple = (field.get("type") == "array" and items.get("type") == "integer"
              and set(field) <= {"type", "items", "description"}
              and set(items) <= {"type", "minimum", "maximum", "x-arrow", "description"})
    if not simple:
        return None
    low, high = items.get("minimum"), items.get("maximum")

    def check(value) -> bool:
        if type(value) is not list or not all(type(v) is int for v in value):
            return False
        return not value or ((low is None or min(value) >= low) and (high is None or max(value) <= high))

    return check


_SCALARS = {"integer": lambda v: type(v) is int, "number": lambda v: type(v) in (int, float),
            "string": lambda v: type(v) is str, "boolean": lambda v: type(v) is bool}
_PLAIN_KEYS = {"type", "description", "x-arrow", "x-stage"}


def _flat_object_check(field: dict):
    """For an object of plain scalars (``interleave_stats``): the same kind of one-pass check."""
    properties = field.get("properties", {})
    simple = (field.get("type") == "object" and field.get("additionalProperties") is False
              and set(field) <= {"type", "properties", "required", "additionalProperties", "description"}
              and all(set(p) <= _PLAIN_KEYS and p.get("type") in _SCALARS for p in properties.values()))
    if not simple:
        return None
    kinds = {name: _SCALARS[p["type"]] for name, p in properties.items()}
    required = set(field.get("required", []))

    def check(value) -> bool:
        return (type(value) is dict and required <= value.keys() <= kinds.keys()
                and all(kinds[name](item) for name, item in value.items()))

    return check


@cache
def fast_checks() -> dict:
    """The one-pass checks of the fields that have one (``_int_array_check``, ``_flat_object_check``)."""
    found = {name: _int_array_check(field) or _flat_object_check(field)
             for name, field in load("fields")["properties"].items()}
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
