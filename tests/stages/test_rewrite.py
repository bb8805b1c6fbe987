import pytest

import schemas
from pipeline.reject import Reject
from pipeline.sources.formats import parse_line
from pipeline.sources.records import generated_record
from pipeline.stages.rewrite import check_spoken_question, lost_quantities, rewrite
from pipeline.text.verbalize import unspeakable_characters


def test_rewrite_says_symbols_and_keeps_numbers(config):
    record = generated_record(0, 0) | {"problem": "A pen costs $3 plus a 25% tip. How much?"}
    out = rewrite(record, config)
    assert out["question"] == "A pen costs 3 dollars plus a 25 percent tip. How much?"
    assert schemas.first_error("rewrite", out) is None


def test_lost_quantity_is_rejected():
    assert lost_quantities("He has 12 and 5.", "He has 12.") == ["5"]
    with pytest.raises(Reject) as caught:
        check_spoken_question("He has 12 and 5.", "He has 12.")
    assert caught.value.reason == "quantity_lost"


def test_unspeakable_rewrite_is_rejected(config):
    record = generated_record(0, 0) | {"problem": "Solve x^2 + 3x = 4 when y_1 = 2."}
    with pytest.raises(Reject) as caught:
        rewrite(record, config)
    assert caught.value.reason == "unspeakable"


def test_gsm8k_rewrites_pass_and_are_speakable(gsm8k_path, config):
    passed = failed = 0
    with gsm8k_path.open("rb") as handle:
        for index, raw in enumerate(handle):
            if index >= 1500:
                break
            record = parse_line("gsm8k", "gsm8k", "train", index, raw, 8000)
            try:
                out = rewrite(record, config)
            except Reject:
                failed += 1
                continue
            passed += 1
            assert unspeakable_characters(out["question"]) == []
            assert lost_quantities(record["problem"], out["question"]) == []
    assert passed / (passed + failed) >= 0.97
