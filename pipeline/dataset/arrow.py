"""The Arrow schema of an output shard, derived from ``schemas/fields.schema.json``.

One source of truth: the JSON Schema names the columns, their order and their types
(``x-arrow`` narrows a type, ``x-hf`` names a Hugging Face feature); the Arrow schema
and the ``huggingface`` metadata that ``datasets`` reads are computed from it.
"""

from __future__ import annotations

import json

import pyarrow as pa

import schemas

_HINTS = {"int8": pa.int8(), "int32": pa.int32(), "int64": pa.int64(), "binary": pa.binary()}
_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def arrow_type(prop: dict, text_only: bool = False) -> pa.DataType:
    """The Arrow type of a property; ``text_only`` leaves out what the speech stage adds
    inside a struct (``x-stage: speech``, the audio checks)."""
    if "x-arrow" in prop:
        return _HINTS[prop["x-arrow"]]
    if prop["type"] == "array":
        return pa.list_(arrow_type(prop["items"], text_only))
    if prop["type"] == "object":
        return pa.struct([(name, arrow_type(p, text_only)) for name, p in prop["properties"].items()
                          if not (text_only and p.get("x-stage") == "speech")])
    return _TYPES[prop["type"]]


def _hf_feature(prop: dict, sampling_rate: int | None, text_only: bool):
    """The ``datasets`` feature for a column, as its serialized dict."""
    import datasets

    if prop.get("x-hf") == "Audio":
        return datasets.Features({"c": datasets.Audio(sampling_rate=sampling_rate)}).to_dict()["c"]
    column = pa.schema([("c", arrow_type(prop, text_only))])
    return datasets.Features.from_arrow_schema(column).to_dict()["c"]


INTERLEAVING_KEY = "spoken_math"


def audio_columns() -> set[str]:
    """The columns the speech stage adds: a text-only build (``--tts none``) has all but these."""
    return set(schemas.load("record")["required"]) - set(schemas.load("interleave")["required"])


def has_audio(columns) -> bool:
    """Whether a row or schema with these column names comes from a build with speech: it
    has any of the speech stage's columns (a text-only build has none of them)."""
    return not audio_columns().isdisjoint(columns)


def record_schema(sampling_rates: dict[str, int] | None = None, interleaving: dict | None = None,
                  text_only: bool = False) -> pa.Schema:
    """Arrow schema of an output row, with the ``huggingface`` metadata ``datasets`` reads
    (each audio column's sampling rate in its feature) and, under ``spoken_math``, what a
    reader needs to take the interleaved sequence apart: special tokens, stream codes, p:q."""
    props = schemas.load("fields")["properties"]
    if text_only:
        props = {name: prop for name, prop in props.items() if name not in audio_columns()}
    rates = sampling_rates or {}
    features = {name: _hf_feature(prop, rates.get(name), text_only) for name, prop in props.items()}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    if interleaving:
        metadata[INTERLEAVING_KEY] = json.dumps(interleaving, sort_keys=True)
    return pa.schema([(name, arrow_type(prop, text_only)) for name, prop in props.items()], metadata=metadata)


REJECT_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("source_index", pa.int64()),
    ("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
    ("record", pa.string()),
])
