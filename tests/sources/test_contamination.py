"""Problems that share 13 words in a row with a benchmark question are rejected."""

import json

import pytest

from pipeline.reject import Reject
from pipeline.sources.contamination import check_clean, load_index

BENCHMARK = [
    {"question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning "
                 "and bakes muffins for her friends every day with four.", "id": "gsm8k-test-0"},
    {"problem": "What is the smallest positive integer that is divisible by each of the first "
                "ten positive integers?"},
]


@pytest.fixture
def index(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in BENCHMARK))
    return load_index((str(path),), 13)


def test_a_reworded_copy_is_caught_with_the_benchmark_id(index):
    copied = {"problem": "JANET's ducks lay 16 eggs per day! She eats three for breakfast every "
                         "morning, and sells the rest."}
    with pytest.raises(Reject) as rejected:
        check_clean(copied, index)
    assert rejected.value.reason == "contaminated"
    assert "test.jsonl:gsm8k-test-0" in rejected.value.detail
    with pytest.raises(Reject) as rejected:
        check_clean({"problem": BENCHMARK[1]["problem"]}, index)
    assert "test.jsonl:1" in rejected.value.detail


def test_a_shorter_overlap_is_not_contamination(index):
    clean = {"problem": "Janet's ducks lay 16 eggs per day. How many eggs in a week?"}
    assert check_clean(clean, index) is clean


def test_missing_benchmark_files_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index((str(tmp_path / "nothing*.jsonl"),), 13)
