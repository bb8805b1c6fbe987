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
from pipeline.stage import Stage, StageFunction
from pipeline.text.latex import spoken_values
from pipeline.text.quantities import joined_quantities
from pipeline.tokenizers import SpecialTokens, Tokenizer, load_tokenizer

STAGE = "interleave"

RESPONSE, REASONING, RESPONSE_PAD, REASONING_PAD, EOS = range(5)
STREAM_NAMES = ("response", "reasoning", "response_pad", "reasoning_pad", "eos")
REASONING_SEPARATOR, RESPONSE_SEPARATOR = "\n", " "


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
        ready = 0
        while ready < p and r + ready < total_r and needs[r + ready] <= s:
            ready += 1
        if ready:
            response_positions.extend(range(len(ids), len(ids) + ready))
            ids += flat_response[r:r + ready]
            streams += [RESPONSE] * ready
            r += ready
        if ready < p and r == total_r and s == total_s:
            ids.append(eos)
            streams.append(EOS)
            return Interleaving(ids, streams, response_positions, reasoning_positions)
        if ready < p:
            ids += [response_pad] * (p - ready)
            streams += [RESPONSE_PAD] * (p - ready)
        chunk = flat_reasoning[s:s + q]
        reasoning_positions.extend(range(len(ids), len(ids) + len(chunk)))
        ids += chunk
        streams += [REASONING] * len(chunk)
        s += len(chunk)
        if len(chunk) < q:
            ids += [reasoning_pad] * (q - len(chunk))
            streams += [REASONING_PAD] * (q - len(chunk))


@dataclass(frozen=True)
class Stream:
    """One tokenized stream: its text, its pieces' token lists, for every token how many
    characters of the text are complete once it is emitted, and the pieces' texts and
    what joins them into the text."""

    text: str
    pieces: list[list[int]]
    ends: list[int]
    texts: tuple[str, ...]
    separator: str = ""

    @property
    def ids(self) -> list[int]:
        return [t for piece in self.pieces for t in piece]


def tokenize_stream(tokenizer: Tokenizer, pieces: list[str], separator: str) -> Stream:
    """Tokenize each piece on its own (with the separator in front of all but the first),
    so the stream's tokens are exactly the pieces' tokens, in order."""
    token_lists, ends, offset = [], [], 0
    for i, piece in enumerate(pieces):
        text = (separator if i else "") + piece
        ids, piece_ends = tokenizer.encode_with_ends(text)
        token_lists.append(ids)
        ends += [offset + e for e in piece_ends]
        offset += len(text)
    return Stream(separator.join(pieces), token_lists, ends, tuple(pieces), separator)


def completions(stream: Stream, positions: list[int]):
    """Yield (quantity, interleaved position at which its last character is emitted)."""
    for quantity in joined_quantities(stream.texts, stream.separator):
        token = bisect.bisect_left(stream.ends, quantity.end)
        yield quantity, positions[min(token, len(positions) - 1)]


def find_token_drift(question: str, reasoning: Stream, response: Stream,
                     layout: Interleaving) -> tuple[int, str] | None:
    """The first response quantity said before the question or the emitted reasoning
    holds it, as (position, text); None when there is none. A value is emitted with the
    token that completes its mention, or, when only the step as said holds it (LaTeX,
    "x squared"), with the step's last token: what stage 2 checked per step, stage 3
    checks per token, with the same reading of each step (``spoken_values``)."""
    known_from_start: set[Fraction] = spoken_values(question)
    first_seen: dict[Fraction, int] = {}
    if layout.reasoning_positions:
        for quantity, position in completions(reasoning, layout.reasoning_positions):
            for value in quantity.values | quantity.parts:
                first_seen[value] = min(position, first_seen.get(value, position))
        end = 0
        for text, piece in zip(reasoning.texts, reasoning.pieces, strict=True):
            end += len(piece)
            if end:
                position = layout.reasoning_positions[end - 1]
                for value in spoken_values(text):
                    first_seen[value] = min(position, first_seen.get(value, position))
    for quantity, position in completions(response, layout.response_positions):
        if quantity.known_in(known_from_start):
            continue
        if quantity.approximate:
            said = any(seen < position and quantity.rounds(v) for v, seen in first_seen.items())
        else:
            said = any(first_seen.get(v, position) < position for v in quantity.values)
        if not said:
            return position, quantity.text
    return None


def interleave(record: dict, tokenizer_name: str, p: int, q: int, decode_rate: float) -> dict:
    """Add the interleaved sequence, its stream labels and delay statistics to a record."""
    tokenizer = load_tokenizer(tokenizer_name)
    special = tokenizer.special
    reasoning = tokenize_stream(tokenizer, record["reasoning"], REASONING_SEPARATOR)
    response = tokenize_stream(tokenizer, [s["text"] for s in record["response"]], RESPONSE_SEPARATOR)
    after_steps = [s["after_step"] for s in record["response"]]
    layout = schedule(response.pieces, after_steps, reasoning.pieces, p, q,
                      special.response_pad, special.reasoning_pad, special.eos)
    reasoning_ids, response_ids = reasoning.ids, response.ids
    drift = find_token_drift(record["question"] + " " + record["problem"], reasoning, response, layout)
    if drift:
        raise Reject(STAGE, "token_drift", f"{drift[1]!r} spoken at position {drift[0]} "
                     "before the reasoning derives it")

    opener_tokens = sum(len(t) for t, a in zip(response.pieces, after_steps, strict=True) if a == 0)
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
        "tokenizer": tokenizer.name,
        "tokenizer_version": tokenizer.version,
        "p": p,
        "q": q,
        "question_ids": tokenizer.encode(record["question"]),
        "interleaved_ids": layout.ids,
        "interleaved_streams": layout.streams,
        "interleave_stats": stats,
        "checks": {**record["checks"], "token_drift": "pass"},
    }


def setup(config) -> StageFunction:
    """Load the tokenizer once per worker, then interleave record by record."""
    load_tokenizer(config.tokenizer)
    return lambda record: interleave(record, config.tokenizer, config.p, config.q, config.decode_rate)


INTERLEAVE = Stage(STAGE, "interleave", setup)

RULES = (
    "The sequence is cycles of p response slots followed by q reasoning slots.",
    "Reasoning steps are tokenized one at a time, every step but the first with a leading newline; "
    "response sentences likewise, every sentence but the first with a leading space.",
    "A response slot takes the next response token once every token of the reasoning step its sentence "
    "waits for (after_step; 0: none) has been emitted; otherwise that slot and the cycle's remaining "
    "response slots hold the response pad.",
    "A reasoning slot takes the next reasoning token; once the reasoning is done, the reasoning pad.",
    "Once every reasoning token and every response token is out, EOS takes the next free response slot "
    "and ends the sequence.",
)


def layout_description(tokenizer_name: str, p: int, q: int) -> dict:
    """What a reader needs to re-interleave or take apart a sequence without this code:
    tokenizer, p:q, special token ids, stream codes and the rules above."""
    tokenizer = load_tokenizer(tokenizer_name)
    return {"tokenizer": tokenizer.name, "tokenizer_version": tokenizer.version, "p": p, "q": q,
            "special_tokens": tokenizer.special.as_dict(),
            "stream_codes": {name: code for code, name in enumerate(STREAM_NAMES)},
            "rules": list(RULES)}


LAYOUTS = ("tis", "tbs", "direct")


def think_then_speak(response: list[list[int]], reasoning: list[list[int]], reasoning_pad: int,
                     eos: int) -> Interleaving:
    """Thinking before speaking: every reasoning token, one reasoning pad (as in the p:q
    layout, it says the reasoning is done), the whole response, then EOS."""
    flat_reasoning = [t for step in reasoning for t in step]
    flat_response = [t for sentence in response for t in sentence]
    boundary = [reasoning_pad] if flat_reasoning else []
    start = len(flat_reasoning) + len(boundary)
    return Interleaving(flat_reasoning + boundary + flat_response + [eos],
                        [REASONING] * len(flat_reasoning) + [REASONING_PAD] * len(boundary)
                        + [RESPONSE] * len(flat_response) + [EOS],
                        list(range(start, start + len(flat_response))), list(range(len(flat_reasoning))))


def arrange(record: dict, tokenizer_name: str, layout: str, p: int, q: int) -> tuple[Interleaving, Stream]:
    """A record's streams in one of three layouts, from the same tokenization: ``tis``
    (the p:q schedule), ``tbs`` (all reasoning, then the response) or ``direct`` (the
    response only). Returns the layout and the tokenized response, whose pieces map each
    response position back to its sentence."""
    tokenizer = load_tokenizer(tokenizer_name)
    special = tokenizer.special
    reasoning = tokenize_stream(tokenizer, record["reasoning"], REASONING_SEPARATOR)
    response = tokenize_stream(tokenizer, [s["text"] for s in record["response"]], RESPONSE_SEPARATOR)
    if layout == "tis":
        after_steps = [s["after_step"] for s in record["response"]]
        return schedule(response.pieces, after_steps, reasoning.pieces, p, q, special.response_pad,
                        special.reasoning_pad, special.eos), response
    if layout == "tbs":
        layout_ids = think_then_speak(response.pieces, reasoning.pieces, special.reasoning_pad, special.eos)
        return layout_ids, response
    if layout == "direct":
        return think_then_speak(response.pieces, [], special.reasoning_pad, special.eos), response
    raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")


def demultiplex(ids: list[int], layout: str, p: int, q: int, special: SpecialTokens) -> list[int]:
    """Stream labels of a generated sequence, the inverse of ``arrange``: in ``tis`` a
    token's slot in its cycle says its stream, in ``tbs`` the first reasoning pad ends the
    reasoning, in ``direct`` all is response; pads and EOS are labelled as such wherever
    they fall, so a pad in the wrong slot can be found by comparing with the slot."""
    labels, thinking = [], layout == "tbs"
    for position, token in enumerate(ids):
        if token == special.eos:
            labels.append(EOS)
        elif token == special.response_pad:
            labels.append(RESPONSE_PAD)
        elif token == special.reasoning_pad:
            labels.append(REASONING_PAD)
            thinking = False
        elif layout == "tis":
            labels.append(RESPONSE if position % (p + q) < p else REASONING)
        else:
            labels.append(REASONING if thinking else RESPONSE)
    return labels
