"""A stage's output is checked on what the stage set; a source record is checked whole."""

import schemas
from pipeline.config import BuildConfig
from pipeline.sources.records import generated_record
from pipeline.stages.rewrite import rewrite


def test_a_stage_output_is_checked_on_the_fields_it_set():
    source = generated_record(1, 0)
    out = rewrite(source, BuildConfig())
    assert schemas.first_error("rewrite", out, before=source) is None
    assert schemas.first_error("rewrite", {**out, "question": 5}, before=source) == (
        "question: 5 is not of type 'string'")
    assert schemas.first_error("rewrite", {**out, "provenance": {**out["provenance"], "seed": "x"}},
                               before=source) == "provenance/seed: 'x' is not of type 'integer'"
    missing = {key: value for key, value in out.items() if key != "question"}
    assert schemas.first_error("rewrite", missing, before=source) == (
        "record: 'question' is a required property")
    assert schemas.first_error("rewrite", {**out, "extra": 1}, before=source) == (
        "record: 'extra' is not a field of the record schema")


def test_the_whole_record_is_checked_without_a_before():
    source = generated_record(1, 0)
    assert schemas.first_error("source", source) is None
    assert schemas.first_error("source", {**source, "source_index": "0"}) == (
        "source_index: '0' is not of type 'integer'")
