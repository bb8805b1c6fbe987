"""Stage 2's checks, the same for every split whichever backend made it (the rules or an
LLM): the reasoning reaches the gold answer, the last sentence states it, every sentence is
speakable and waits for the step it depends on (no anticipation drift), and the response fits
its budget of tokens and seconds."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from pipeline.config import BuildConfig
from pipeline.dataset.splits import category
from pipeline.reject import Reject
from pipeline.sources.final_answers import boxed_answer
from pipeline.sources.records import writes_latex
from pipeline.stages.interleave import REASONING_SEPARATOR, RESPONSE_SEPARATOR
from pipeline.text.answers import numeric, same_answer
from pipeline.text.arithmetic import same_number
from pipeline.text.latex import Unsayable, say, spoken_values
from pipeline.text.listening import ANSWER_LEAD, sentence_defects
from pipeline.text.quantities import find_quantities, quantity_values, signed_values
from pipeline.text.verbalize import plain_words, spoken_word_count, unspeakable_characters
from pipeline.tokenizers import load_tokenizer

STAGE = "split"


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


def sentence_costs(texts: list[str], config: BuildConfig) -> list[tuple[int, float]]:
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
    ends = [response[0]["text"], response[-1]["text"]]
    (opener_tokens, _), (answer_tokens, _) = sentence_costs(ends, config)
    if response[0]["after_step"] or len(response) == 1:
        opener_tokens = 0  # no opener
    tokens = opener_tokens + max(config.max_response_ratio * reasoning_tokens, answer_tokens)
    return min(tokens, max(reasoning_tokens, opener_tokens + answer_tokens)), config.max_response_seconds


def over_budget(reasoning: list[str], response: list[dict], config: BuildConfig,
                 longest: bool = False) -> str | None:
    """Why ``response`` is too long, or None; ``longest``: only when it is longer than the
    reasoning itself."""
    tokens_allowed, seconds_allowed = response_budget(reasoning, response, config)
    if longest:
        tokens_allowed = _tokens(REASONING_SEPARATOR.join(reasoning), config.tokenizer)
    costs = sentence_costs([s["text"] for s in response], config)
    tokens, seconds = sum(t for t, _ in costs), sum(s for _, s in costs)
    if tokens > tokens_allowed or seconds > seconds_allowed:
        return (f"{tokens} tokens, about {seconds:.0f} s (limits {tokens_allowed:.0f} tokens: "
                f"{config.max_response_ratio:g} of the reasoning's; {seconds_allowed:g} s)")
    return None


def answer_sentence(record: dict, steps: int) -> dict:
    try:
        answer = spoken_answer(record)
    except Unsayable as error:
        raise Reject(STAGE, f"answer_{error.reason}", error.detail) from None
    return {"text": f"{ANSWER_LEAD} {answer.rstrip('.')}.", "after_step": steps}


def spoken_answer(record: dict) -> str:
    """The gold answer as it is said; a LaTeX source's answer is math without ``$``."""
    latex = writes_latex(record)
    return say(f"${record['answer']}$" if latex else record["answer"], latex)


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
    too_long = over_budget(reasoning, response, config)
    if too_long:
        raise Reject(STAGE, "response_too_long", too_long)


def checked(record: dict, reasoning: list[str], response: list[dict], config: BuildConfig,
             last_note: Fraction | None = None) -> dict:
    validate_split(record, reasoning, response, config, last_note)
    checks = {"answer_verified": True, "quantity_drift": "pass", "judge": "off", "judge_reason": ""}
    kind = category(record["problem"], record["source"], record["metadata"], len(reasoning))
    return {**record, "reasoning": reasoning, "response": response, "checks": checks, "category": kind}
