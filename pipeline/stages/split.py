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
from functools import lru_cache

import prompts
from pipeline.config import BuildConfig
from pipeline.dataset.splits import category
from pipeline.llm.client import LLMClient, client_for
from pipeline.reject import Reject
from pipeline.sources.records import boxed_answer, writes_latex
from pipeline.stages.interleave import REASONING_SEPARATOR, RESPONSE_SEPARATOR
from pipeline.stages.rewrite import unsuitable
from pipeline.text.answers import numeric, same_answer
from pipeline.text.arithmetic import (
    NotArithmetic,
    NumberTooLarge,
    evaluate,
    parse_number,
    same_number,
    written,
)
from pipeline.text.latex import Unsayable, say, spoken_values
from pipeline.text.listening import ANSWER_LEAD, sentence_defects
from pipeline.text.quantities import find_quantities, quantity_values, signed_values
from pipeline.text.verbalize import (
    normalize_space,
    plain_words,
    spoken_word_count,
    unspeakable_characters,
    verbalize,
)
from pipeline.tokenizers import load_tokenizer

STAGE = "split"

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


def reaches_answer(steps: list[str], last_note: Fraction | None, gold: str) -> bool:
    """The reasoning ends at the gold answer: its last calculator note, a number its last
    step writes, or (for answers that are not plain numbers) the final expression of its
    last step, compared with math-verify."""
    number = numeric(gold)
    if number is not None:
        candidates = quantity_values(steps[-1]) | ({last_note} if last_note is not None else set())
        if any(same_number(value, number) for value in candidates):
            return True
    boxed = boxed_answer(steps[-1])
    return same_answer(gold, boxed) if boxed else same_answer(gold, steps[-1])


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
    text = step
    while _EQUATION_RE.search(text):
        text = _EQUATION_RE.sub("", text)
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
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return OPENERS[digest[0] % len(OPENERS)]


def drifting_quantities(sentence: str, known: set[Fraction]) -> list[str]:
    """Quantities ``sentence`` mentions that are not in ``known``."""
    return [q.text for q in find_quantities(sentence) if not q.known_in(known)]


def check_drift(question: str, reasoning: list[str], response: list[dict]) -> None:
    """Each sentence may mention only quantities of the question or of the reasoning
    steps up to its ``after_step``."""
    known_after = [spoken_values(question)]
    for step in reasoning:
        known_after.append(known_after[-1] | spoken_values(step))
    for sentence in response:
        early = drifting_quantities(sentence["text"], known_after[sentence["after_step"]])
        if early:
            raise Reject(STAGE, "anticipation_drift",
                         f"{', '.join(early)} said after step {sentence['after_step']}: "
                         f"{sentence['text']!r}")


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
    return _checked(record, reasoning, response, config, last_note)


def _costs(texts: list[str], config: BuildConfig) -> list[tuple[int, float]]:
    """(tokens, seconds) of each response sentence as stage 3 lays it out (the first
    without the separator) and as it is spoken at ``config.speaking_rate``."""
    return [_cost(text, bool(i), config.tokenizer, config.speaking_rate) for i, text in enumerate(texts)]


@lru_cache(maxsize=65536)
def _cost(text: str, separated: bool, tokenizer: str, speaking_rate: float) -> tuple[int, float]:
    tokens = len(load_tokenizer(tokenizer).encode((RESPONSE_SEPARATOR if separated else "") + text))
    return tokens, spoken_word_count(text) / speaking_rate


@lru_cache(maxsize=4096)
def _tokens(text: str, tokenizer: str) -> int:
    return len(load_tokenizer(tokenizer).encode(text))


def response_budget(reasoning: list[str], response: list[dict], config: BuildConfig) -> tuple[float, float]:
    """(tokens, seconds) a response may take: its opener (said while the reasoning starts)
    and ``max_response_ratio`` of the reasoning's tokens, or the answer alone when that is
    longer, but never more than the reasoning itself unless opener and answer need it;
    at most ``max_response_seconds``."""
    reasoning_tokens = _tokens(REASONING_SEPARATOR.join(reasoning), config.tokenizer)
    (opener_tokens, _), (answer_tokens, _) = _costs([response[0]["text"], response[-1]["text"]], config)
    if response[0]["after_step"] or len(response) == 1:
        opener_tokens = 0  # no opener
    tokens = opener_tokens + max(config.max_response_ratio * reasoning_tokens, answer_tokens)
    return min(tokens, max(reasoning_tokens, opener_tokens + answer_tokens)), config.max_response_seconds


def _over_budget(reasoning: list[str], response: list[dict], config: BuildConfig,
                 longest: bool = False) -> str | None:
    """Why ``response`` is too long, or None; ``longest``: only when it is longer than the
    reasoning itself."""
    tokens_allowed, seconds_allowed = response_budget(reasoning, response, config)
    if longest:
        tokens_allowed = _tokens(REASONING_SEPARATOR.join(reasoning), config.tokenizer)
    costs = _costs([s["text"] for s in response], config)
    tokens, seconds = sum(t for t, _ in costs), sum(s for _, s in costs)
    if tokens > tokens_allowed or seconds > seconds_allowed:
        return (f"{tokens} tokens, about {seconds:.0f} s (limits {tokens_allowed:.0f} tokens: "
                f"{config.max_response_ratio:g} of the reasoning's; {seconds_allowed:g} s)")
    return None


def within_budget(record: dict, reasoning: list[str], response: list[dict],
                  config: BuildConfig) -> list[dict]:
    """A short spoken summary: the opener, the answer, and of the sentences between them
    those that fit the budget, the ones saying a result the step derives first, earlier
    ones before later (so speech starts early), kept in order."""
    if _over_budget(reasoning, [response[0], response[-1]], config):
        # the last step said in full is too long: the answer is said on its own instead
        response = [*response[:-1], _answer_sentence(record, len(reasoning))]
    if _over_budget(reasoning, [response[0], response[-1]], config, longest=True):
        # a reasoning shorter than opener and answer: the answer alone, as short as it is said
        answer = _answer_sentence(record, len(reasoning))
        shorter = min((response[-1], answer), key=lambda s: _costs([s["text"]], config)[0][0])
        if _over_budget(reasoning, [shorter], config, longest=True):
            raise Reject(STAGE, "response_too_long", f"even the answer, {shorter['text']!r}, is "
                         "longer than the reasoning")
        return [shorter]
    # the budget of the response as it now ends (the answer alone may have replaced a long step)
    tokens_allowed, seconds_allowed = response_budget(reasoning, response, config)
    costs = _costs([s["text"] for s in response], config)
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
    return response + [_answer_sentence(record, len(reasoning))]


def _answer_sentence(record: dict, steps: int) -> dict:
    try:
        answer = spoken_answer(record)
    except Unsayable as error:
        raise Reject(STAGE, f"answer_{error.reason}", error.detail) from None
    return {"text": f"{ANSWER_LEAD} {answer.rstrip('.')}.", "after_step": steps}


def spoken_answer(record: dict) -> str:
    """The gold answer as it is said; a LaTeX source's answer is math without ``$``."""
    latex = writes_latex(record)
    return say(f"${record['answer']}$" if latex else record["answer"], latex)


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
    return _checked(record, reasoning, response, config)


_ANSWER_WORDS = frozenset({"the", "answer", "is", "so", "boxed", "final"})


def works_something_out(record: dict) -> bool:
    """Whether the solution holds more than its final answer (an answer-only source's
    "solution" is the answer again: nothing for the rules to split)."""
    said = set(plain_words(record["solution"].replace("####", " "))) - _ANSWER_WORDS
    return len(said - set(plain_words(record["answer"]))) >= 2


def split(record: dict, config: BuildConfig) -> dict:
    """Rules backend: line-by-line GSM8K solutions, or sentence-by-sentence prose."""
    if not works_something_out(record):
        raise Reject(STAGE, "no_solution", "the solution only states the answer; with --llm openai "
                     "the split prompt writes the reasoning")
    if "####" in record["solution"]:
        return split_lines(record, config)
    return split_prose(record, config)


def states_answer(sentence: str, record: dict) -> bool:
    """The sentence says the gold answer: as a number, or word for word as it is said."""
    number = numeric(record["answer"])
    if number is not None and any(same_number(value, number) for value in signed_values(sentence)):
        return True  # sign and all: "negative 11" does not state 11
    try:
        said = plain_words(spoken_answer(record))
    except Unsayable:
        return False
    heard = plain_words(sentence)
    signed = (["negative"], ["minus"])
    return bool(said) and any(heard[i:i + len(said)] == said and heard[i - 1:i] not in signed
                              for i in range(len(heard) - len(said) + 1))


def validate_split(record: dict, reasoning: list[str], response: list[dict], config: BuildConfig,
                   last_note: Fraction | None = None) -> None:
    """What every split must satisfy, whichever backend made it: the reasoning reaches
    the gold answer, the last sentence states it, every sentence is speakable and
    depends on an existing step, and nothing is said before it is derived."""
    gold = record["answer"]
    if not reaches_answer(reasoning, last_note, gold):
        raise Reject(STAGE, "answer_mismatch",
                     f"the last step {reasoning[-1]!r} does not reach the gold answer {gold}")
    if not states_answer(response[-1]["text"], record):
        raise Reject(STAGE, "answer_not_stated",
                     f"the last sentence {response[-1]['text']!r} does not say {gold}")
    for sentence in response:
        if not 0 <= sentence["after_step"] <= len(reasoning):
            raise Reject(STAGE, "bad_after_step", f"after_step {sentence['after_step']} of "
                         f"{len(reasoning)} steps")
        bad = unspeakable_characters(sentence["text"])
        if bad:
            raise Reject(STAGE, "unspeakable_response", f"{' '.join(bad)!r} in {sentence['text']!r}")
        heard = sentence_defects(sentence["text"])
        if heard:
            raise Reject(STAGE, f"response_{heard[0]}", sentence["text"][:300])
    if response[-1]["after_step"] != len(reasoning):
        raise Reject(STAGE, "answer_before_reasoning_ends",
                     f"the answer is said after step {response[-1]['after_step']} of {len(reasoning)}")
    check_drift(record["question"] + " " + record["problem"], reasoning, response)
    too_long = _over_budget(reasoning, response, config)
    if too_long:
        raise Reject(STAGE, "response_too_long", too_long)


def _checked(record: dict, reasoning: list[str], response: list[dict], config: BuildConfig,
             last_note: Fraction | None = None) -> dict:
    validate_split(record, reasoning, response, config, last_note)
    checks = {"answer_verified": True, "quantity_drift": "pass", "judge": "off", "judge_reason": ""}
    kind = category(record["problem"], record["source"], record["metadata"], len(reasoning))
    return {**record, "reasoning": reasoning, "response": response, "checks": checks, "category": kind}


REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "response": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1},
                           "after_step": {"type": "integer", "minimum": 0}},
            "required": ["text", "after_step"],
        }},
    },
    "required": ["reasoning", "response"],
}


def _clean_reply(reply: dict) -> tuple[list[str], list[dict]]:
    reasoning = [normalize_space(step) for step in reply["reasoning"]]
    response = [{"text": normalize_space(s["text"]), "after_step": s["after_step"]}
                for s in reply["response"]]
    return reasoning, response


async def split_with_llm(record: dict, config: BuildConfig, client: LLMClient) -> dict:
    """LLM backend: the paper's prompt (front-load reasoning, defer spoken content), then
    the same checks as the rules backend."""
    reply = await client.ask(
        STAGE, prompts.load("split"), REPLY_SCHEMA,
        lambda value: validate_split(record, *_clean_reply(value), config),
        problem=record["problem"], question=record["question"], solution=record["solution"],
        answer=record["answer"], ratio=config.response_ratio,
    )
    return _checked(record, *_clean_reply(reply), config)


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"drift": {"type": "boolean"}, "colloquial": {"type": "boolean"},
                   "reason": {"type": "string"}},
    "required": ["drift", "colloquial"],
}


async def judge(record: dict, client: LLMClient) -> dict:
    """The paper's LLM check: is there anticipation drift, is the response colloquial?
    A failing verdict rejects; a passing one is kept in ``checks`` with its reason."""
    reasoning = "\n".join(f"{n}. {step}" for n, step in enumerate(record["reasoning"], start=1))
    response = "\n".join(f"[after step {s['after_step']}] {s['text']}" for s in record["response"])
    verdict = await client.ask(STAGE, prompts.load("judge"), JUDGE_SCHEMA, lambda value: None,
                         question=record["question"], reasoning=reasoning, response=response)
    reason = verdict.get("reason", "")
    if verdict["drift"]:
        raise Reject(STAGE, "judge_drift", reason)
    if not verdict["colloquial"]:
        raise Reject(STAGE, "judge_not_colloquial", reason)
    return {**record, "checks": {**record["checks"], "judge": "pass", "judge_reason": reason}}


def make(config: BuildConfig):
    """Load the tokenizer the response budget counts with once per worker (not on the
    first reply, while a stage's requests wait on its loop)."""
    load_tokenizer(config.tokenizer)
    if "openai" not in (config.llm, config.judge):
        return lambda record: split(record, config)
    client = client_for(config)

    async def split_and_judge(record: dict) -> dict:
        if config.llm == "openai":
            done = await split_with_llm(record, config, client)
        else:
            done = split(record, config)
        return await judge(done, client) if config.judge == "openai" else done
    return client.stage(split_and_judge)
