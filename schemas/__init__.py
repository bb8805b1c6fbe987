"""JSON Schemas of the record after each stage, shipped inside the package so Beam
workers find them without the source tree."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

STAGES = ("source", "rewrite", "split", "interleave", "record")


@cache
def load(name: str) -> dict:
    """The schema document ``NAME.schema.json``."""
    return json.loads(files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8"))


@cache
def validator(stage: str) -> Draft202012Validator:
    """A validator for the record after ``stage`` (one of ``STAGES``)."""
    registry = Registry().with_resources(
        (f"{name}.schema.json", Resource.from_contents(load(name))) for name in ("fields", *STAGES)
    )
    return Draft202012Validator(load(stage), registry=registry)


def first_error(stage: str, record: dict) -> str | None:
    """A readable description of the first way ``record`` breaks its schema, or None."""
    error = next(iter(validator(stage).iter_errors(record)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "record"
    return f"{where}: {error.message[:300]}"
