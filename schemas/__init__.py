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


def first_error(stage: str, record: dict) -> str | None:
    """A readable description of the first way ``record`` breaks its schema, or None."""
    error = next(iter(validator(stage).iter_errors(record)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "record"
    return f"{where}: {error.message[:300]}"
