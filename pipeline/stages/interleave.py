"""Stage 3: interleave the spoken response and the silent reasoning at token level.

Cycles of ``p`` response slots then ``q`` reasoning slots. A response slot takes the
next response token only once the reasoning step its sentence depends on has been
fully emitted, else a response pad; a reasoning slot takes the next reasoning token,
or a reasoning pad once reasoning is done; EOS follows the last response token (once
reasoning is complete). Then every quantity the response says is checked against
what the question and the reasoning emitted *before that position* contain.

This module imports no Beam: the trainer re-interleaves with it for its own
tokenizer or ratio.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

from pipeline.reject import Reject
from pipeline.text.quantities import find_quantities, quantity_values
from pipeline.tokenizers import Tokenizer, load_tokenizer

STAGE = "interleave"

RESPONSE, REASONING, RESPONSE_PAD, REASONING_PAD, EOS = range(5)
STREAM_NAMES = ("response", "reasoning", "response_pad", "reasoning_pad", "eos")


@dataclass(frozen=True)
class Interleaving:
    ids: list[int]
    streams: list[int]
    response_positions: list[int]
    reasoning_positions: list[int]


def schedule(response: list[list[int]], after_steps: list[int], reasoning: list[list[int]],
             p: int, q: int, response_pad: int, reasoning_pad: int, eos: int) -> Interleaving:
    """Lay out tokenized response sentences and reasoning steps in p:q cycles."""
    if p < 1 or q < 1:
        raise ValueError(f"p and q must be positive, got {p}:{q}")
    step_ends = [0]
    for step in reasoning:
        step_ends.append(step_ends[-1] + len(step))
    flat_reasoning = [t for step in reasoning for t in step]
    flat_response, needs = [], []
    for sentence, after in zip(response, after_steps, strict=True):
        flat_response += sentence
        needs += [step_ends[min(after, len(reasoning))]] * len(sentence)

    ids: list[int] = []
    streams: list[int] = []
    response_positions: list[int] = []
    reasoning_positions: list[int] = []
    r = s = 0
    total_r, total_s = len(flat_response), len(flat_reasoning)
    while True:
        for _ in range(p):
            if r < total_r and s >= needs[r]:
                response_positions.append(len(ids))
                ids.append(flat_response[r])
                streams.append(RESPONSE)
                r += 1
            elif r == total_r and s == total_s:
                ids.append(eos)
                streams.append(EOS)
                return Interleaving(ids, streams, response_positions, reasoning_positions)
            else:
                ids.append(response_pad)
                streams.append(RESPONSE_PAD)
        for _ in range(q):
            if s < total_s:
                reasoning_positions.append(len(ids))
                ids.append(flat_reasoning[s])
                streams.append(REASONING)
                s += 1
            else:
                ids.append(reasoning_pad)
                streams.append(REASONING_PAD)


def _char_ends(tokenizer: Tokenizer, text: str, ids: list[int]) -> list[int]:
    """For each token, how many characters of ``text`` are complete once it is emitted."""
    char_byte_ends = []
    total = 0
    for char in text:
        total += len(char.encode("utf-8"))
        char_byte_ends.append(total)
    ends, emitted = [], 0
    for token in ids:
        emitted += len(tokenizer.token_bytes(token))
        ends.append(bisect.bisect_right(char_byte_ends, emitted))
    return ends


def _completion_positions(tokenizer: Tokenizer, text: str, ids: list[int],
                          positions: list[int]):
    """Yield (quantity, interleaved position at which its last character is emitted)."""
    ends = _char_ends(tokenizer, text, ids)
    for quantity in find_quantities(text):
        token = bisect.bisect_left(ends, quantity.end)
        yield quantity, positions[min(token, len(positions) - 1)]


def find_token_drift(tokenizer: Tokenizer, question: str, reasoning_text: str,
                     reasoning_ids: list[int], response_text: str, response_ids: list[int],
                     layout: Interleaving) -> tuple[int, str] | None:
    """The first response quantity said before the question or the emitted reasoning
    holds it, as (position, text); None when there is none."""
    known_from_start: set[Fraction] = quantity_values(question)
    first_seen: dict[Fraction, int] = {}
    if reasoning_ids:
        for quantity, position in _completion_positions(
            tokenizer, reasoning_text, reasoning_ids, layout.reasoning_positions
        ):
            for value in quantity.values | quantity.parts:
                first_seen[value] = min(position, first_seen.get(value, position))
    for quantity, position in _completion_positions(
        tokenizer, response_text, response_ids, layout.response_positions
    ):
        if not any(v in known_from_start or first_seen.get(v, position) < position
                   for v in quantity.values):
            return position, quantity.text
    return None


def tokenize_streams(tokenizer: Tokenizer, reasoning: list[str], response: list[dict]):
    """Token lists per reasoning step (joined by newlines) and per response sentence
    (joined by spaces), so the streams detokenize to exactly those texts."""
    steps = [tokenizer.encode(step + ("\n" if i < len(reasoning) - 1 else ""))
             for i, step in enumerate(reasoning)]
    sentences = [tokenizer.encode((" " if i else "") + s["text"]) for i, s in enumerate(response)]
    return steps, sentences


def interleave(record: dict, tokenizer_name: str, p: int, q: int, decode_rate: float) -> dict:
    """Add the interleaved sequence, its stream labels and delay statistics to a record."""
    tokenizer = load_tokenizer(tokenizer_name)
    special = tokenizer.special
    steps, sentences = tokenize_streams(tokenizer, record["reasoning"], record["response"])
    after_steps = [s["after_step"] for s in record["response"]]
    layout = schedule(sentences, after_steps, steps, p, q,
                      special.response_pad, special.reasoning_pad, special.eos)
    reasoning_ids = [t for step in steps for t in step]
    response_ids = [t for sentence in sentences for t in sentence]
    drift = find_token_drift(
        tokenizer, record["question"], "\n".join(record["reasoning"]), reasoning_ids,
        " ".join(s["text"] for s in record["response"]), response_ids, layout,
    )
    if drift:
        raise Reject(STAGE, "token_drift", f"{drift[1]!r} spoken at position {drift[0]} "
                     "before the reasoning derives it")

    opener_tokens = sum(len(t) for t, a in zip(sentences, after_steps, strict=True) if a == 0)
    substantive = opener_tokens if opener_tokens < len(response_ids) else 0
    first_substantive = layout.response_positions[substantive]
    before_speaking = len(reasoning_ids) + substantive
    stats = {
        "length": len(layout.ids),
        "cycles": -(-len(layout.ids) // (p + q)),
        "response_tokens": len(response_ids),
        "reasoning_tokens": len(reasoning_ids),
        "response_pads": layout.streams.count(RESPONSE_PAD),
        "reasoning_pads": layout.streams.count(REASONING_PAD),
        "first_substantive_position": first_substantive,
        "first_substantive_seconds": first_substantive / decode_rate,
        "before_speaking_position": before_speaking,
        "before_speaking_seconds": before_speaking / decode_rate,
    }
    return {
        **record,
        "tokenizer": f"{tokenizer.name} ({tokenizer.version})",
        "p": p,
        "q": q,
        "question_ids": tokenizer.encode(record["question"]),
        "interleaved_ids": layout.ids,
        "interleaved_streams": layout.streams,
        "interleave_stats": stats,
        "checks": {**record["checks"], "token_drift": "pass"},
    }


def make(config):
    """Load the tokenizer once per worker, then interleave record by record."""
    load_tokenizer(config.tokenizer)
    return lambda record: interleave(record, config.tokenizer, config.p, config.q, config.decode_rate)
