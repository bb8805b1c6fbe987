from dataclasses import replace

import pytest

import schemas
from pipeline.reject import Reject
from pipeline.sources.records import new_record
from pipeline.stages.interleave import (
    EOS,
    REASONING,
    REASONING_PAD,
    RESPONSE,
    RESPONSE_PAD,
    interleave,
    schedule,
)
from pipeline.stages.rewrite import rewrite
from pipeline.stages.split import split
from pipeline.tokenizers import load_tokenizer
from tests.records import NATALIA

PADS = dict(response_pad=-1, reasoning_pad=-2, eos=-3)


def test_schedule_waits_for_the_step_a_sentence_needs():
    layout = schedule([[1, 2], [3, 4]], [0, 1], [[10, 11, 12]], p=2, q=2, **PADS)
    assert layout.ids == [1, 2, 10, 11, -1, -1, 12, -2, 3, 4, -2, -2, -3]
    assert layout.streams == [RESPONSE, RESPONSE, REASONING, REASONING, RESPONSE_PAD,
                              RESPONSE_PAD, REASONING, REASONING_PAD, RESPONSE, RESPONSE,
                              REASONING_PAD, REASONING_PAD, EOS]


def test_response_that_ends_early_waits_for_the_reasoning_before_eos():
    layout = schedule([[1]], [0], [[10, 11, 12]], p=1, q=1, **PADS)
    assert layout.ids == [1, 10, -1, 11, -1, 12, -3]


def test_bad_ratio_is_refused():
    with pytest.raises(ValueError):
        schedule([[1]], [0], [[2]], p=0, q=8, **PADS)


def test_interleave_record(config):
    config = replace(config, max_response_ratio=1.0)  # both sentences said: speech starts early
    record = split(rewrite(NATALIA, config), config)
    out = interleave(record, "qwen2.5", 2, 8, 50.0)
    tokenizer = load_tokenizer("qwen2.5")
    streams, ids = out["interleaved_streams"], out["interleaved_ids"]
    response = [i for i, s in zip(ids, streams, strict=True) if s == RESPONSE]
    reasoning = [i for i, s in zip(ids, streams, strict=True) if s == REASONING]
    assert tokenizer.decode(response) == " ".join(s["text"] for s in record["response"])
    assert tokenizer.decode(reasoning) == "\n".join(record["reasoning"])
    assert streams[-1] == EOS and ids[-1] == tokenizer.special.eos
    for position, stream in enumerate(streams[:-1]):
        assert (stream in (RESPONSE, RESPONSE_PAD)) == (position % 10 < 2)
    stats = out["interleave_stats"]
    assert stats["first_substantive_position"] < stats["before_speaking_position"]
    assert stats["first_substantive_seconds"] == stats["first_substantive_position"] / 50
    assert out["checks"]["token_drift"] == "pass"
    assert schemas.first_error("interleave", out) is None


def test_token_drift_is_caught(config):
    record = split(rewrite(NATALIA, config), config)
    early = record | {"response": [{"text": "It is 72 in all.", "after_step": 0}]}
    with pytest.raises(Reject) as caught:
        interleave(early, "qwen2.5", 2, 8, 50.0)
    assert caught.value.reason == "token_drift"
    assert "'72'" in caught.value.detail


@pytest.mark.parametrize("name", ["qwen2.5", "cl100k", "hf"])
def test_gsm8k_streams_detokenize_exactly(name, gsm8k_path, config, hf_tokenizer_file):
    from pipeline.sources.formats import parse_line

    tokenizer_name = f"hf:{hf_tokenizer_file}" if name == "hf" else name
    tokenizer = load_tokenizer(tokenizer_name)
    checked = 0
    for index, raw in enumerate(gsm8k_path.read_bytes().splitlines()[:300]):
        try:
            record = split(rewrite(parse_line("gsm8k", "gsm8k", "train", index, raw, 8000), config),
                           config)
            out = interleave(record, tokenizer_name, 2, 8, 50.0)
        except Reject:
            continue
        pairs = list(zip(out["interleaved_ids"], out["interleaved_streams"], strict=True))
        said = tokenizer.decode([i for i, s in pairs if s == RESPONSE])
        thought = tokenizer.decode([i for i, s in pairs if s == REASONING])
        assert said == " ".join(s["text"] for s in record["response"])
        assert thought == "\n".join(record["reasoning"])
        assert out["tokenizer"] == tokenizer_name
        checked += 1
    assert checked >= 280


def test_a_value_only_the_spoken_latex_holds_is_no_drift_and_a_planted_one_is(config):
    record = new_record("math", "test", 0, "What is $\\frac{1}{2}+\\frac{1}{10}$?",
                        "Over tenths the sum is $\\frac{5}{10}+\\frac{1}{10}=\\frac{6}{10}$. In lowest "
                        "terms that is $\\boxed{\\frac{3}{5}}$.", "\\frac{3}{5}")
    roomy = replace(config, max_response_ratio=1.0)
    record = split(rewrite(record, roomy), roomy)
    assert any("three fifths" in s["text"] for s in record["response"])  # said, never written
    assert interleave(record, "qwen2.5", 2, 8, 50.0)["checks"]["token_drift"] == "pass"
    answer = record["response"][-1]["text"]  # planted: the answer said first, before any reasoning
    early = {**record, "response": [{"text": answer, "after_step": 0}, *record["response"][1:]]}
    with pytest.raises(Reject) as caught:
        interleave(early, "qwen2.5", 2, 8, 50.0)
    assert caught.value.reason == "token_drift"
