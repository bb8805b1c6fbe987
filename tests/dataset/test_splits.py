"""Output splits by id hash, and Spoken-MQA categories."""

import collections

import pytest

from pipeline.dataset.splits import category, parse_splits, split_fractions, split_of

METADATA = {"type": "", "level": "", "origin": ""}


def test_a_split_spec_is_checked_and_written_canonically():
    assert parse_splits("train=0.98, validation=0.01,test=0.01") == "train=0.98,validation=0.01,test=0.01"
    for bad, said in [("train=0.9", "add up to 0.9"), ("train=0.5,train=0.5", "named twice"),
                      ("Train=1", "lower case"), ("train=x", "not a number"), ("train=0,test=1", "above 0")]:
        with pytest.raises(ValueError, match=said):
            parse_splits(bad)


def test_shares_are_kept_and_a_record_never_changes_split():
    fractions = split_fractions("train=0.8,validation=0.1,test=0.1")
    counts = collections.Counter(split_of(f"record-{i}", fractions) for i in range(20_000))
    assert counts["train"] / 20_000 == pytest.approx(0.8, abs=0.01)
    assert counts["test"] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert split_of("abc", fractions) == split_of("abc", split_fractions("train=0.8,validation=0.1,test=0.1"))


@pytest.mark.parametrize("problem, source, metadata, steps, expected", [
    ("What is 12 + 7?", "generic", METADATA, 1, "arithmetic_short"),
    ("Compute 3 * (4 + 5) - 6 / 2.", "generic", METADATA, 3, "arithmetic_long"),
    ("Tom has 3 apples and buys 4 more. How many does he have?", "gsm8k", METADATA, 1,
     "contextual_single_step"),
    ("Tom has 3 apples and buys 4 more, then eats 2. How many are left?", "gsm8k", METADATA, 2,
     "contextual_multi_step"),
    ("Find all real x with x^2 = 4.", "math", {**METADATA, "level": "Level 2"}, 2, "knowledge"),
    ("What is the sum of the roots of x^2 - 5x + 6?", "metamath", {**METADATA, "type": "MATH_AnsAug"}, 2,
     "knowledge"),
])
def test_categories_follow_spoken_mqa(problem, source, metadata, steps, expected):
    assert category(problem, source, metadata, steps) == expected
