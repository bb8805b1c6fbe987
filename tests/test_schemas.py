"""A stage's output is checked on what the stage set; a source record is checked whole."""

from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert schemas.record_check("source")(source)
    assert schemas.first_error("source", source) is None
    assert schemas.first_error("source", {**source, "source_index": "0"}) == (
        "source_index: '0' is not of type 'integer'")


def test_token_arrays_are_checked_in_one_pass_with_the_same_verdicts():
    from pipeline.stages.interleave import interleave
    from pipeline.stages.split import split

    before = split(rewrite(generated_record(1, 0), BuildConfig()), BuildConfig())
    out = interleave(before, "qwen2.5", 2, 8, 50.0)
    fast = set(schemas.fast_checks())
    assert {"question_ids", "interleaved_ids", "interleaved_streams", "interleave_stats"} <= fast
    assert schemas.first_error("interleave", out, before=before) is None
    streams = out["interleaved_streams"]
    wrong = {**out, "interleaved_streams": [*streams[:-1], 5]}
    assert schemas.first_error("interleave", wrong, before=before) == (
        f"interleaved_streams/{len(streams) - 1}: 5 is greater than the maximum of 4")
    for label, message in ((-1, "-1 is less than the minimum of 0"), (True, "True is not of type 'integer'")):
        labels = {**out, "interleaved_streams": [0, label]}
        assert schemas.first_error("interleave", labels, before=before) == f"interleaved_streams/1: {message}"
    assert schemas.first_error("interleave", {**out, "interleaved_ids": [1, "2"]}, before=before) == (
        "interleaved_ids/1: '2' is not of type 'integer'")
    assert schemas.first_error("interleave", {**out, "interleaved_ids": [True]}, before=before) == (
        "interleaved_ids/0: True is not of type 'integer'")
    # what the one-pass check does not take, jsonschema still decides: 1.0 is an integer to it
    assert schemas.first_error("interleave", {**out, "question_ids": [1.0]}, before=before) is None
    stats = out["interleave_stats"]
    assert schemas.first_error("interleave", {**out, "interleave_stats": {**stats, "cycles": "9"}},
                               before=before) == "interleave_stats/cycles: '9' is not of type 'integer'"
    assert "extra" in schemas.first_error("interleave", {**out, "interleave_stats": {**stats, "extra": 1}},
                                          before=before)
    assert schemas.first_error("interleave", {**out, "interleave_stats": {**stats, "cycles": 9.0}},
                               before=before) is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=5)
    | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["text", "after_step", "start", "end", "bytes", "path", "type", "level", "origin",
                         "length", "seed", "other"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(schemas.fast_checks())), value=JSON_VALUES)
def test_a_plain_python_check_never_passes_what_jsonschema_refuses(name, value):
    if schemas.fast_checks()[name](value):
        assert schemas.field_validators()[name].is_valid(value), (name, value)


@settings(max_examples=300, deadline=None)
@given(stage=st.sampled_from(schemas.STAGES), name=st.sampled_from([*schemas.fast_checks(), "other"]),
       value=JSON_VALUES | st.just(None), drop=st.booleans())
def test_a_whole_record_check_never_passes_what_jsonschema_refuses(stage, name, value, drop):
    record = generated_record(1, 0)
    if drop:
        record.pop(name, None)
    else:
        record[name] = value
    if schemas.record_check(stage)(record):
        assert schemas.validator(stage).is_valid(record), (stage, name, value)
