import json

import pytest

from pipeline.reject import Reject
from pipeline.sources import parse_source
from pipeline.sources.formats import parse_line
from pipeline.sources.records import record_id


def line(**row) -> bytes:
    return json.dumps(row).encode()


def test_gsm8k_line_becomes_a_record():
    raw = line(question="Tom has 3 apples. How many?", answer="He has 3.\n#### 3")
    record = parse_line("gsm8k", "gsm8k", "train", 7, raw, 8000)
    assert record["problem"] == "Tom has 3 apples. How many?"
    assert record["answer"] == "3"
    assert record["source_index"] == 7
    assert record["id"] == record_id("gsm8k", "train", 7, "Tom has 3 apples. How many?")


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"question": "x", "answer": ', "malformed_json"),
    (b'{"question": "caf\xe9", "answer": "#### 1"}', "invalid_utf8"),
    (line(answer="#### 1"), "missing_field"),
    (line(question=5, answer="#### 1"), "wrong_type"),
    (line(question="   ", answer="#### 1"), "empty_text"),
    (line(question="a" * 1_000_000, answer="#### 1"), "too_long"),
    (line(question="How many?", answer="no final line"), "missing_final_answer"),
    (b"[1, 2]", "wrong_type"),
])
def test_bad_lines_become_rejects_with_reasons(raw, reason):
    with pytest.raises(Reject) as caught:
        parse_line("gsm8k", "gsm8k", "train", 0, raw, 8000)
    assert caught.value.stage == "source"
    assert caught.value.reason == reason


def test_source_specs():
    assert parse_source("generate:5").count == 5
    assert parse_source("gsm8k:/data/train.jsonl").path == "/data/train.jsonl"
    for bad in ("generate:0", "generate:x", "nope:path", "gsm8k"):
        with pytest.raises(ValueError):
            parse_source(bad)
