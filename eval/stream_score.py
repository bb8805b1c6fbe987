"""Score one generated stream: answer, drift, format errors, latency and playback stalls.

A pure function over the ids a model generated for a row, so a test can plant each kind
of error in a stream and see it found. Everything is read with the pipeline's own parts:
``demultiplex`` for the streams, ``find_token_drift`` for drift, ``same_answer`` (with
math-verify for non-numbers) for the answer.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from fractions import Fraction

from pipeline.stages.interleave import (
    EOS,
    REASONING,
    REASONING_PAD,
    RESPONSE,
    RESPONSE_PAD,
    Interleaving,
    Stream,
    completions,
    demultiplex,
    find_token_drift,
)
from pipeline.text.answers import AnswerCheckTimeout, numeric, same_answer
from pipeline.tokenizers import Tokenizer

FORMAT_ERRORS = ("pad_in_wrong_slot", "missing_eos", "tokens_after_eos", "missing_answer")


@dataclass
class StreamScore:
    correct: bool
    drift: str | None                 # the quantity said before the reasoning had it
    format_errors: list[str] = field(default_factory=list)
    response: str = ""
    reasoning: str = ""
    response_words: int = 0
    first_spoken: int | None = None   # positions in the generated stream
    first_substantive: int | None = None
    answer_at: int | None = None
    stalls: int = 0
    first_substantive_heard: float | None = None  # seconds, as a listener hears them (heard_times)
    answer_heard: float | None = None
    equations: int = 0                # binary equations in the reasoning (score_equations)
    operands_copied: int = 0
    results_right: int = 0


def _stream(tokenizer: Tokenizer, ids: list[int]) -> Stream:
    """A generated stream's text, with where each token's characters end."""
    ends = [len(tokenizer.decode(ids[:i + 1])) for i in range(len(ids))]
    text = tokenizer.decode(ids)
    return Stream(text, [ids], ends, (text,))


EQUATION = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)\s*=\s*\$?\s*(-?\d+(?:\.\d+)?)")
OPERATIONS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def score_equations(reasoning: str, question: str) -> tuple[int, int, int]:
    """(equations, with both operands copied, with the result right) over the reasoning's
    ``a op b = c`` equations: an operand is copied when the question or an earlier result
    holds it, the result is right when ``a op b`` is ``c``. The two tell a model that
    cannot read the question's numbers from one that cannot compute."""
    known = {Fraction(n) for n in re.findall(r"\d+(?:\.\d+)?", question.replace(",", ""))}
    found = copied = right = 0
    for left, sign, other, result in EQUATION.findall(reasoning):
        a, b, c = Fraction(left), Fraction(other), Fraction(result)
        found += 1
        copied += a in known and b in known
        right += not (sign == "/" and b == 0) and OPERATIONS[sign](a, b) == c
        known.add(c)
    return found, copied, right


def heard_times(response_positions: list[int], decode_rate: float, speaking_rate: float) -> list[float]:
    """When each response token starts to be heard: it cannot play before it is generated
    (position + 1 tokens at ``decode_rate``) nor before the token before it has finished
    playing (``speaking_rate`` tokens a second)."""
    starts, free_at = [], 0.0
    for position in response_positions:
        start = max((position + 1) / decode_rate, free_at)
        starts.append(start)
        free_at = start + 1 / speaking_rate
    return starts


def playback_stalls(response_positions: list[int], decode_rate: float, speaking_rate: float) -> int:
    """Times the spoken response runs dry: a token is not generated yet when the previous
    one has finished playing (tokens play at ``speaking_rate`` per second once ready)."""
    ready = [(position + 1) / decode_rate for position in response_positions]
    return playback_stalls_at(ready, speaking_rate)


def playback_stalls_at(ready_seconds: list[float], speaking_rate: float) -> int:
    """``playback_stalls`` for tokens that became ready at these times (a measured stream)."""
    stalls, playing_until = 0, None
    for ready in ready_seconds:
        if playing_until is not None and ready > playing_until + 1e-9:
            stalls += 1
        playing_until = max(ready, playing_until or 0.0) + 1 / speaking_rate
    return stalls


def score_stream(ids: list[int], row: dict, tokenizer: Tokenizer, layout: str, p: int, q: int,
                 decode_rate: float = 50.0, speaking_rate: float = 3.0) -> StreamScore:
    """Score generated tokenizer ids (pads and EOS included) for a dataset row."""
    special = tokenizer.special
    labels = demultiplex(ids, layout, p, q, special)
    errors = []
    if layout == "tis":
        wrong = any((s == RESPONSE_PAD and i % (p + q) >= p) or (s == REASONING_PAD and i % (p + q) < p)
                    for i, s in enumerate(labels))
        if wrong:
            errors.append("pad_in_wrong_slot")
    if EOS not in labels:
        errors.append("missing_eos")
        end = len(ids)
    else:
        end = labels.index(EOS)
        if end < len(ids) - 1:
            errors.append("tokens_after_eos")
    response_positions = [i for i in range(end) if labels[i] == RESPONSE]
    reasoning_positions = [i for i in range(end) if labels[i] == REASONING]
    response = _stream(tokenizer, [ids[i] for i in response_positions])
    reasoning = _stream(tokenizer, [ids[i] for i in reasoning_positions])
    score = StreamScore(False, None, errors, response.text, reasoning.text, len(response.text.split()))
    equations = score_equations(reasoning.text, row["question"])
    score.equations, score.operands_copied, score.results_right = equations
    if not response_positions:
        errors.append("missing_answer")
        return score
    score.first_spoken = response_positions[0]
    mentions = list(completions(response, response_positions))
    if not mentions:
        errors.append("missing_answer")
    else:
        quantity, score.answer_at = mentions[-1]
        first_start = mentions[0][0].start
        token = next(i for i, e in enumerate(response.ends) if e > first_start)
        score.first_substantive = response_positions[token]
        score.correct = answered(row["answer"], quantity.values, response.text)
        heard = heard_times(response_positions, decode_rate, speaking_rate)
        score.first_substantive_heard = heard[token]
        score.answer_heard = heard[response_positions.index(score.answer_at)] + 1 / speaking_rate
    question = row["question"] + " " + row.get("problem", "")
    drift = find_token_drift(question, reasoning, response,
                             Interleaving(ids[:end], labels[:end], response_positions, reasoning_positions))
    score.drift = None if drift is None else drift[1]
    score.stalls = playback_stalls(response_positions, decode_rate, speaking_rate)
    return score


def answered(gold: str, last_values, response: str) -> bool:
    """The response's final quantity equals the gold answer; a non-numeric gold is checked
    against the last sentence with math-verify."""
    try:
        if numeric(gold) is not None:
            return any(same_answer(gold, str(value)) for value in last_values)
        sentences = [s for s in response.split(". ") if s.strip()]
        return bool(sentences) and same_answer(gold, sentences[-1])
    except AnswerCheckTimeout:
        return False


def category(row: dict) -> str:
    """Spoken-MQA's breakdown: arithmetic (short/long) or contextual reasoning (single-/multi-step)."""
    steps = len(row["reasoning"])
    kind = (row.get("metadata") or {}).get("type") or ""
    if row.get("source") == "equation" or "arithmetic" in kind:
        return "arithmetic_short" if steps <= 2 else "arithmetic_long"
    return "contextual_single_step" if steps <= 1 else "contextual_multi_step"
