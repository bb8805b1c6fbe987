"""Stage 2: split a solution into a silent reasoning stream and a short spoken response.

Every response sentence names the reasoning step after which it may be said
(``after_step``; 0 for an opener that only restates the task). The stage then checks,
at quantity level, that no sentence mentions a number the reasoning has not reached
yet: that is anticipation drift, the failure the data must never teach.
"""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.text.arithmetic import NotArithmetic, evaluate, parse_number, same_number
from pipeline.text.quantities import find_quantities, quantity_values
from pipeline.text.verbalize import normalize_space, unspeakable_characters, verbalize

STAGE = "split"

OPENERS = (
    "Okay, let me work this out.",
    "Alright, let's figure this out step by step.",
    "Let me think this through.",
    "Sure, let's work it out together.",
    "Good question, let me see.",
)

_NOTE_RE = re.compile(r"<<(?P<expr>[^=<>]*)=(?P<result>[^<>]*)>>")
_OPERAND = r"\(*\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)%?\)*"
_EQUATION_RE = re.compile(rf"{_OPERAND}(?:\s*[-+*/x×÷]\s*{_OPERAND})+\s*=\s*")


def verify_notes(solution: str) -> Fraction | None:
    """Re-compute every ``<<expr=result>>`` note exactly; return the last result."""
    last = None
    for note in _NOTE_RE.finditer(solution):
        try:
            computed = evaluate(note["expr"])
            written = parse_number(note["result"])
        except (NotArithmetic, ValueError, ZeroDivisionError):
            raise Reject(STAGE, "solution_note_unparseable", f"<<{note.group(0)[2:-2]}>>") from None
        if not same_number(computed, written):
            raise Reject(STAGE, "solution_arithmetic",
                         f"<<{note['expr']}={note['result']}>> but {note['expr']} = {computed}")
        last = written
    return last


def reaches_answer(steps: list[str], last_note: Fraction | None, gold: Fraction) -> bool:
    """The reasoning ends at the gold answer: its last calculator note, or a number its
    last step writes, equals it."""
    candidates = quantity_values(steps[-1]) | ({last_note} if last_note is not None else set())
    return any(same_number(value, gold) for value in candidates)


def spoken_sentence(step: str) -> str | None:
    """The narrative of a step with its equation removed, said in words; None when it
    cannot be said cleanly."""
    text = step
    while _EQUATION_RE.search(text):
        text = _EQUATION_RE.sub("", text)
    if "=" in text:
        return None
    text = verbalize(text)
    if not text or unspeakable_characters(text) or not re.search(r"[a-zA-Z]", text):
        return None
    return text if text[-1] in ".!?" else text + "."


def spoken_highlights(reasoning: list[str]) -> list[dict]:
    """Sentences for every other step and for the last one: the response stays about
    half as long as the reasoning, as a spoken answer should."""
    last = len(reasoning)
    chosen = [n for n in range(1, last + 1) if n == last or n % 2 == 1]
    sentences = [(n, spoken_sentence(reasoning[n - 1])) for n in chosen]
    return [{"text": text, "after_step": n} for n, text in sentences if text]


def opener(record_id: str, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return OPENERS[digest[0] % len(OPENERS)]


def drifting_quantities(sentence: str, known: set[Fraction]) -> list[str]:
    """Quantities ``sentence`` mentions that are not in ``known``."""
    return [q.text for q in find_quantities(sentence) if not q.values & known]


def check_drift(question: str, reasoning: list[str], response: list[dict]) -> None:
    """Each sentence may mention only quantities of the question or of the reasoning
    steps up to its ``after_step``."""
    known_after = [quantity_values(question)]
    for step in reasoning:
        known_after.append(known_after[-1] | quantity_values(step))
    for sentence in response:
        early = drifting_quantities(sentence["text"], known_after[sentence["after_step"]])
        if early:
            raise Reject(STAGE, "anticipation_drift",
                         f"{', '.join(early)} said after step {sentence['after_step']}: "
                         f"{sentence['text']!r}")


def split(record: dict, config: BuildConfig) -> dict:
    """Rules backend for GSM8K-style solutions (one step per line, ``#### answer``)."""
    body = record["solution"].rpartition("####")[0]
    lines = [normalize_space(line) for line in body.splitlines() if line.strip()]
    if not lines:
        raise Reject(STAGE, "no_steps", "the solution has no reasoning lines")
    last_note = verify_notes(body)
    reasoning = [normalize_space(_NOTE_RE.sub("", line)) for line in lines]
    try:
        gold = parse_number(record["answer"])
    except ValueError:
        raise Reject(STAGE, "answer_not_numeric", f"gold answer {record['answer']!r}") from None
    if not reaches_answer(reasoning, last_note, gold):
        raise Reject(STAGE, "answer_mismatch",
                     f"the last step {reasoning[-1]!r} does not reach the gold answer {gold}")
    response = [{"text": opener(record["id"], config.seed), "after_step": 0}]
    response += spoken_highlights(reasoning)
    if not any(same_number(v, gold) for v in quantity_values(response[-1]["text"])):
        response.append({"text": f"So the answer is {verbalize(record['answer'])}.",
                         "after_step": len(reasoning)})
    check_drift(record["question"] + " " + record["problem"], reasoning, response)
    checks = {"answer_verified": True, "quantity_drift": "pass"}
    return {**record, "reasoning": reasoning, "response": response, "checks": checks}


def make(config: BuildConfig):
    return lambda record: split(record, config)
