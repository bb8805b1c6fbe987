"""Property-based tests of the interleaver over random streams, tokenizers and ratios."""

import re

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from pipeline.stages.interleave import (
    EOS,
    REASONING,
    RESPONSE,
    RESPONSE_PAD,
    find_token_drift,
    schedule,
    tokenize_stream,
)
from pipeline.tokenizers import load_tokenizer

WORDS = st.sampled_from(["so", "we", "get", "the", "total", "then", "café", "apples", "is", "and",
                         "naïve", "→", "left", "each", "more"])
PHRASES = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)


@st.composite
def streams(draw):
    """Steps that each derive a number of their own, and sentences that say some of them."""
    count = draw(st.integers(1, 6))
    numbers = draw(st.lists(st.integers(100, 99999), min_size=count, max_size=count, unique=True))
    steps = [f"{draw(PHRASES)} {n} {draw(PHRASES)}" for n in numbers]
    sentences = [{"text": draw(PHRASES), "after_step": 0}]
    for _ in range(draw(st.integers(0, 4))):
        step = draw(st.integers(1, count))
        after = draw(st.integers(step, count))
        sentences.append({"text": f"{draw(PHRASES)} {numbers[step - 1]}", "after_step": after,
                          "needs": step})
    sentences.sort(key=lambda s: s["after_step"])
    p, q = draw(st.integers(1, 4)), draw(st.integers(1, 10))
    return steps, sentences, p, q


def lay_out(tokenizer, steps, sentences, p, q):
    reasoning = tokenize_stream(tokenizer, steps, "\n")
    response = tokenize_stream(tokenizer, [s["text"] for s in sentences], " ")
    special = tokenizer.special
    layout = schedule(response.pieces, [s["after_step"] for s in sentences], reasoning.pieces, p, q,
                      special.response_pad, special.reasoning_pad, special.eos)
    return reasoning, response, layout


@pytest.fixture(scope="module", params=["qwen2.5", "cl100k", "hf"])
def tokenizer(request, hf_tokenizer_file):
    return load_tokenizer(f"hf:{hf_tokenizer_file}" if request.param == "hf" else request.param)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(streams())
def test_labels_follow_the_cycle_and_streams_read_back(tokenizer, case):
    steps, sentences, p, q = case
    reasoning, response, layout = lay_out(tokenizer, steps, sentences, p, q)
    assert layout.streams[-1] == EOS and layout.streams.count(EOS) == 1
    for position, stream in enumerate(layout.streams[:-1]):
        assert (stream in (RESPONSE, RESPONSE_PAD)) == (position % (p + q) < p)
    said = [i for i, s in zip(layout.ids, layout.streams, strict=True) if s == RESPONSE]
    thought = [i for i, s in zip(layout.ids, layout.streams, strict=True) if s == REASONING]
    assert said == response.ids and thought == reasoning.ids
    assert tokenizer.decode(said) == " ".join(s["text"] for s in sentences)
    assert tokenizer.decode(thought) == "\n".join(steps)


@SETTINGS
@given(streams())
def test_a_sentence_waits_for_its_step(tokenizer, case):
    steps, sentences, p, q = case
    reasoning, response, layout = lay_out(tokenizer, steps, sentences, p, q)
    step_ends = [sum(len(piece) for piece in reasoning.pieces[:k]) for k in range(len(steps) + 1)]
    token = 0
    for sentence, piece in zip(sentences, response.pieces, strict=True):
        needed = step_ends[sentence["after_step"]]
        for _ in piece:
            position = layout.response_positions[token]
            assert sum(1 for r in layout.reasoning_positions if r < position) >= needed
            token += 1


@SETTINGS
@given(streams())
def test_no_drift_when_dependencies_are_honoured(tokenizer, case):
    steps, sentences, p, q = case
    reasoning, response, layout = lay_out(tokenizer, steps, sentences, p, q)
    assert find_token_drift("How much is it?", reasoning, response, layout) is None


def completes_at(tokenizer, text: str, tokens: list[int], positions: list[int], number: int) -> int:
    """Oracle: the position at which ``number`` is first fully said in a stream, found by
    decoding ever longer prefixes (independent of the interleaver's own offsets)."""
    end = re.search(rf"(?<!\d){number}(?!\d)", text).end()
    for count, position in enumerate(positions, start=1):
        if len(tokenizer.decode(tokens[:count]).rstrip("\ufffd")) >= end:
            return position
    raise AssertionError("never completed")


@SETTINGS
@given(streams())
def test_drift_when_a_sentence_is_moved_before_its_step(tokenizer, case):
    """Lowering a sentence's after_step below the step that derives its number is drift
    exactly when the number is then said before the reasoning has emitted it."""
    steps, sentences, p, q = case
    early = [s for s in sentences if "needs" in s]
    assume(early)
    moved = early[0] | {"after_step": early[0]["needs"] - 1}
    reordered = sorted([moved, *(s for s in sentences if s is not early[0])],
                       key=lambda s: s["after_step"])
    reasoning, response, layout = lay_out(tokenizer, steps, reordered, p, q)
    number = int(moved["text"].rsplit(" ", 1)[1])
    said = completes_at(tokenizer, response.text, response.ids, layout.response_positions, number)
    thought = completes_at(tokenizer, reasoning.text, reasoning.ids, layout.reasoning_positions, number)
    drift = find_token_drift("How much is it?", reasoning, response, layout)
    event("drift" if drift else "no drift")
    assert (drift is not None) == (said < thought)
    if drift:
        assert drift[1] == str(number)
