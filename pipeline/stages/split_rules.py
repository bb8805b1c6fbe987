"""Stage 2's rules backend: GSM8K-style solutions split line by line (their ``<<a=b>>``
notes recomputed exactly), written solutions (MATH, Orca-Math, MetaMathQA) sentence by
sentence; the response opens, says the steps that fit its budget and ends on the answer."""

from __future__ import annotations

import re
from fractions import Fraction

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.seeding import seeded_bytes
from pipeline.sources.records import writes_latex
from pipeline.stages.rewrite import unsuitable
from pipeline.stages.split_checks import (
    STAGE,
    answer_sentence,
    checked,
    over_budget,
    reaches_answer,
    response_budget,
    sentence_costs,
    states_answer,
)
from pipeline.text.answers import numeric
from pipeline.text.arithmetic import (
    NotArithmetic,
    NumberTooLarge,
    evaluate,
    parse_number,
    same_number,
    written,
)
from pipeline.text.latex import Unsayable, say, spoken_values
from pipeline.text.quantities import quantity_values
from pipeline.text.verbalize import normalize_space, unspeakable_characters, verbalize

OPENERS = (
    "Okay, let me work this out.",
    "Alright, let's figure this out step by step.",
    "Let me think this through.",
    "Sure, let's work it out together.",
    "Good question, let me see.",
)


_NOTE_RE = re.compile(r"<<(?P<expr>[^=<>]*)=(?P<result>[^<>]*)>>")


# One side of a written calculation: numbers, each with up to three unit words ("2 miles",
# "22 years old"), joined by operators, then "=". Removing it leaves the result the
# sentence is about ("so he is 22 years old - 2 years = 20 years old" -> "so he is 20 years old").
_UNIT = (r"(?:\s+(?!(?:because|since|so|and|or|then|which|that|is|are|was|were|x)\b)"
         r"[A-Za-z’']+(?:/[A-Za-z]+)*){0,3}?")


_OPERAND = (rf"\(*\$?(?:\d[\d,]*(?:\.\d+)?(?:\s+(?:and\s+)?\d+/\d+)?|\.\d+)(?:[A-Za-z]{{1,3}}\b)?%?\)*"
            rf"{_UNIT}")


_EQUATION_RE = re.compile(rf"{_OPERAND}(?:\s*[-+*/x×÷–]\s*{_OPERAND})+\s*=\s*")


# "..., because 48." once "because 12 x 4 = 48" lost its calculation: the reason is gone.
_BARE_REASON_RE = re.compile(r"\s*,?\s*\b(?:because|since|as)\s+"
                             r"(?P<tail>\$?[\d.,/]+%?(?:\s+[A-Za-z’']+){0,3})\s*[.!?]?$")


_LABEL_RE = re.compile(r"^[\w ]{1,24}:\S")


_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")


def verify_notes(solution: str) -> Fraction | None:
    """Re-compute every ``<<expr=result>>`` note exactly; return the last result."""
    last = None
    for note in _NOTE_RE.finditer(solution):
        try:
            computed = evaluate(note["expr"])
            written = parse_number(note["result"])
        except NumberTooLarge as error:
            raise Reject(STAGE, "number_too_large", f"<<{note.group(0)[2:-2]}>>: {error}"[:300]) from None
        except (NotArithmetic, ValueError, ZeroDivisionError):
            raise Reject(STAGE, "solution_note_unparseable", f"<<{note.group(0)[2:-2]}>>") from None
        if not same_number(computed, written):
            raise Reject(STAGE, "solution_arithmetic",
                         f"<<{note['expr']}={note['result']}>> but {note['expr']} = {computed}")
        last = written
    return last


# (a unit the last step may end in, how many of the answer's unit make one, the answer's unit)
_CONVERSIONS = (
    (re.compile(r"\$|\bdollars?\b"), 100, "cents"), (re.compile(r"\bcents?\b"), Fraction(1, 100), "dollars"),
    (re.compile(r"\bhours?\b"), 60, "minutes"), (re.compile(r"\bminutes?\b"), Fraction(1, 60), "hours"),
    (re.compile(r"\bminutes?\b"), 60, "seconds"), (re.compile(r"\bfeet\b|\bfoot\b"), 12, "inches"),
    (re.compile(r"\bkilograms?\b"), 1000, "grams"), (re.compile(r"\bkilometers?\b"), 1000, "meters"),
    (re.compile(r"\bmeters?\b"), 100, "centimeters"), (re.compile(r"\bweeks?\b"), 7, "days"),
    (re.compile(r"\bdays?\b"), 24, "hours"),
)


def unit_conversion(step: str, last_note: Fraction | None, gold: str) -> str | None:
    """A closing step for an answer asked in another unit than the last step gives ("$0.50"
    when the question asks for cents, gold 50): "That is 0.5 * 100 = 50 cents.", so the
    reasoning reaches the answer and the response never says a number it did not derive."""
    number = numeric(gold)
    if number is None:
        return None
    values = quantity_values(step) | ({last_note} if last_note is not None else set())
    for unit, factor, target in _CONVERSIONS:
        if not unit.search(step):
            continue
        for value in sorted(v for v in values if v):
            if same_number(Fraction(value) * factor, number):
                shown = written(Fraction(value))
                operation = f"{shown} * {factor}" if factor >= 1 else f"{shown} / {written(1 / factor)}"
                return f"That is {operation} = {written(number)} {target}."
    return None


def _numbers(text: str) -> set[str]:
    return {number.replace(",", "").lstrip("0") for number in _NUMBER_RE.findall(text)}


def spoken_sentence(step: str) -> str | None:
    """The narrative of a step with each calculation replaced by its result, said in words;
    a reason left with no more than the result it explains is dropped, as it says nothing.
    None when the step cannot be said cleanly."""
    text, removed = _EQUATION_RE.subn("", step)
    while removed:
        text, removed = _EQUATION_RE.subn("", text)
    if "=" in text:
        return None
    if _LABEL_RE.match(text) or len(text.split()) < 3:
        return None  # "Total:65 books", "42 pages": a note, not a sentence
    reason = _BARE_REASON_RE.search(text)
    if reason:
        if not _numbers(reason["tail"]) <= _numbers(text[:reason.start()]):
            return None  # "He is ready because 48": no sentence a person would say
        text = text[:reason.start()]
    text = verbalize(text)
    if not text or unspeakable_characters(text) or not re.search(r"[a-zA-Z]", text):
        return None
    return text if text[-1] in ".!?" else text + "."


def spoken_highlights(reasoning: list[str]) -> list[dict]:
    """Sentences for every other step that can be said, and for the last one: the response
    stays about half as long as the reasoning, as a spoken answer should, and a step that
    cannot be said gives its turn to the next one."""
    sayable = [(n, text) for n, step in enumerate(reasoning, start=1) if (text := spoken_sentence(step))]
    return [{"text": text, "after_step": n} for rank, (n, text) in enumerate(sayable)
            if rank % 2 == 0 or rank == len(sayable) - 1]


def opener(record_id: str, seed: int) -> str:
    return OPENERS[seeded_bytes(seed, record_id)[0] % len(OPENERS)]


def split_lines(record: dict, config: BuildConfig) -> dict:
    """GSM8K-style solutions: one step per line, ``<<a=b>>`` notes, ``#### answer``."""
    body = record["solution"].rpartition("####")[0]
    lines = [normalize_space(line) for line in body.splitlines() if line.strip()]
    if not lines:
        raise Reject(STAGE, "no_steps", "the solution has no reasoning lines")
    last_note = verify_notes(body)
    reasoning = [normalize_space(_NOTE_RE.sub("", line)) for line in lines]
    if not reaches_answer(reasoning, last_note, record["answer"]):
        converted = unit_conversion(reasoning[-1], last_note, record["answer"])
        if converted:
            reasoning.append(converted)
            last_note = numeric(record["answer"])
    response = [{"text": opener(record["id"], config.seed), "after_step": 0}]
    response += spoken_highlights(reasoning)
    response = within_budget(record, reasoning, _with_answer(record, reasoning, response), config)
    return checked(record, reasoning, response, config, last_note)


def within_budget(record: dict, reasoning: list[str], response: list[dict],
                  config: BuildConfig) -> list[dict]:
    """A short spoken summary: the opener, the answer, and of the sentences between them
    those that fit the budget, the ones saying a result the step derives first, earlier
    ones before later (so speech starts early), kept in order."""
    if over_budget(reasoning, [response[0], response[-1]], config):
        # the last step said in full is too long: the answer is said on its own instead
        response = [*response[:-1], answer_sentence(record, len(reasoning))]
    if over_budget(reasoning, [response[0], response[-1]], config, longest=True):
        # a reasoning shorter than opener and answer: the answer alone, as short as it is said
        answer = answer_sentence(record, len(reasoning))
        shorter = min((response[-1], answer), key=lambda s: sentence_costs([s["text"]], config)[0][0])
        if over_budget(reasoning, [shorter], config, longest=True):
            raise Reject(STAGE, "response_too_long", f"even the answer, {shorter['text']!r}, is "
                         "longer than the reasoning")
        return [shorter]
    # the budget of the response as it now ends (the answer alone may have replaced a long step)
    tokens_allowed, seconds_allowed = response_budget(reasoning, response, config)
    costs = sentence_costs([s["text"] for s in response], config)
    first, last = costs[0], costs[-1]
    tokens, seconds = first[0] + last[0], first[1] + last[1]
    known = [spoken_values(record["question"] + " " + record["problem"])]
    for step in reasoning:
        known.append(known[-1] | spoken_values(step))

    def derives(sentence: dict) -> bool:
        step = sentence["after_step"]
        return bool(step and spoken_values(sentence["text"]) & (known[step] - known[step - 1]))

    middle = sorted(range(1, len(response) - 1),
                    key=lambda i: (not derives(response[i]), i))
    kept = {0, len(response) - 1}
    for i in middle:
        if tokens + costs[i][0] <= tokens_allowed and seconds + costs[i][1] <= seconds_allowed:
            kept.add(i)
            tokens, seconds = tokens + costs[i][0], seconds + costs[i][1]
    return [sentence for i, sentence in enumerate(response) if i in kept]


def _with_answer(record: dict, reasoning: list[str], response: list[dict]) -> list[dict]:
    """End on a sentence that states the answer once the reasoning is complete."""
    if states_answer(response[-1]["text"], record) and response[-1]["after_step"] == len(reasoning):
        return response
    return response + [answer_sentence(record, len(reasoning))]


_MATH_MARK_RE = re.compile(r"\\\\|\\\$|\$\$|\$|\\\[|\\\]|\\\(|\\\)|\\begin\{|\\end\{|[.!?](?=\s+[A-Z$\\(])")


def prose_steps(solution: str) -> list[str]:
    """Sentences of a written solution, never cut inside math (``$...$``, ``\\[...\\]``,
    environments)."""
    steps, start, inline, depth = [], 0, False, 0
    for mark in _MATH_MARK_RE.finditer(solution):
        token = mark.group(0)
        if token in ("$", "$$"):
            inline = not inline
        elif token in ("\\[", "\\(", "\\begin{"):
            depth += 1
        elif token in ("\\]", "\\)", "\\end{"):
            depth = max(depth - 1, 0)
        elif token in ".!?" and not inline and depth == 0:
            steps.append(solution[start:mark.end()])
            start = mark.end()
    steps.append(solution[start:])
    steps = [normalize_space(step) for step in steps if step.strip()]
    boxed = [n for n, step in enumerate(steps) if "\\boxed" in step]
    return steps[:boxed[-1] + 1] if boxed else steps


def _say_step(number: int, step: str, record: dict) -> str:
    try:
        spoken = say(step, latex=writes_latex(record))
    except Unsayable as error:
        raise Reject(STAGE, f"step_{error.reason}", f"step {number}: {error.detail}") from None
    bad = unspeakable_characters(spoken)
    if bad:
        raise Reject(STAGE, "step_unspeakable", f"step {number} leaves {' '.join(bad)!r}: {spoken[:160]}")
    return spoken


def split_prose(record: dict, config: BuildConfig) -> dict:
    """Written solutions (MATH, Orca-Math, MetaMathQA): a step per sentence, display
    math kept with its sentence; the spoken response exists only if every step can be
    said aloud, and says those of its steps that fit the budget (``within_budget``)."""
    found = unsuitable(record["solution"])
    if found:
        raise Reject(STAGE, f"solution_{found[0]}", f"{found[1]!r} in the solution")
    reasoning = prose_steps(record["solution"])
    spoken = [_say_step(n, step, record) for n, step in enumerate(reasoning, start=1)]
    response = [{"text": opener(record["id"], config.seed), "after_step": 0}]
    response += [{"text": text if text[-1] in ".!?" else text + ".", "after_step": n}
                 for n, text in enumerate(spoken, start=1)]
    response = within_budget(record, reasoning, _with_answer(record, reasoning, response), config)
    return checked(record, reasoning, response, config)
