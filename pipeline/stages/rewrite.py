"""Stage 1: rewrite a problem written for the eye into a question written for the ear."""

from __future__ import annotations

import re
from fractions import Fraction

import prompts
from pipeline.config import BuildConfig
from pipeline.llm.client import LLMClient, client_for
from pipeline.reject import Reject
from pipeline.sources.records import writes_latex
from pipeline.stage import Stage, StageFunction
from pipeline.text.latex import Unsayable, canonical, say, unlisted
from pipeline.text.quantities import find_quantities, quantity_values
from pipeline.text.verbalize import normalize_space, spoken_word_count, unspeakable_characters

STAGE = "rewrite"

_UNSUITABLE = (
    ("diagram", re.compile(r"\[asy\]|\\begin\{(?:tikzpicture|picture)\}|\[img\]|!\[", re.I)),
    ("table", re.compile(r"\\begin\{(?:tabular|array)\}|^\s*\|.*\|\s*$", re.M)),
    ("matrix", re.compile(r"\\begin\{[pbvBV]?matrix\}")),
    ("multiple_choice", re.compile(r"\(A\).*\(B\).*\(C\)|^\s*[A-D][.)]\s.*\n\s*B[.)]\s"
                                   r"|\bA\)\s*\S.{0,80}?\bB\)\s*\S.{0,80}?\bC\)", re.S | re.M)),
)


def unsuitable(text: str) -> tuple[str, str] | None:
    """(reason, what was found) when ``text`` holds something that cannot be said aloud:
    a diagram, a table, a matrix, a multiple-choice layout."""
    for reason, pattern in _UNSUITABLE:
        found = pattern.search(text)
        if found:
            return reason, found.group(0)[:40]
    return None


def check_suitable(problem: str) -> None:
    """Reject problems that cannot be said aloud at all, whatever the backend."""
    found = unsuitable(problem)
    if found:
        raise Reject(STAGE, found[0], f"{found[1]!r} in: {problem[:120]}")


def check_length(spoken: str, config: BuildConfig) -> None:
    """A listener cannot hold a question much longer than a minute in mind; a number counts
    as the words it is said with ("1963" is four)."""
    words = spoken_word_count(spoken)
    seconds = words / config.speaking_rate
    if words > config.max_question_words or seconds > config.max_question_seconds:
        raise Reject(STAGE, "too_long_to_speak",
                     f"{words} words, about {seconds:.0f} s (limits {config.max_question_words} words, "
                     f"{config.max_question_seconds:.0f} s)")


def spoken_form(record: dict) -> str:
    """Rules backend: LaTeX said in words, then every remaining symbol verbalized."""
    try:
        return say(record["problem"], latex=writes_latex(record))
    except Unsayable as error:
        raise Reject(STAGE, error.reason, error.detail) from None


def lost_quantities(original: str, spoken: str) -> list[str]:
    """Quantities of ``original`` that ``spoken`` no longer mentions, in digits or words."""
    kept: set[Fraction] = quantity_values(spoken)
    return [q.text for q in find_quantities(unlisted(canonical(original)))
            if not q.values & kept and not (q.parts and q.parts <= kept)]


def check_spoken_question(original: str, spoken: str) -> None:
    """The checks every rewrite backend must pass: speakable, and the math unchanged."""
    if not spoken.strip():
        raise Reject(STAGE, "empty_rewrite", "the spoken question is empty")
    bad = unspeakable_characters(spoken)
    if bad:
        raise Reject(STAGE, "unspeakable", f"left {' '.join(bad)!r} in: {spoken[:200]}")
    lost = lost_quantities(original, spoken)
    if lost:
        raise Reject(STAGE, "quantity_lost", f"{', '.join(lost)} missing from: {spoken[:200]}")


def rewrite(record: dict, config: BuildConfig) -> dict:
    """Rules backend: say LaTeX and every symbol in words, keep numbers as digits."""
    check_suitable(record["problem"])
    spoken = spoken_form(record)
    check_spoken_question(record["problem"], spoken)
    check_length(spoken, config)
    return {**record, "question": spoken, "provenance": config.provenance()}


REPLY_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string", "minLength": 1}},
    "required": ["question"],
}


def prompt_values(record: dict) -> dict[str, str]:
    """What the rewrite prompt is filled with (the dry run counts the same prompt)."""
    return {"problem": record["problem"]}


async def rewrite_with_llm(record: dict, config: BuildConfig, client: LLMClient) -> dict:
    """LLM backend: the model rewrites, the same checks as the rules backend judge it."""
    check_suitable(record["problem"])
    reply = await client.ask(
        STAGE, prompts.load("rewrite"), REPLY_SCHEMA,
        lambda value: check_spoken_question(record["problem"], normalize_space(value["question"])),
        **prompt_values(record),
    )
    spoken = normalize_space(reply["question"])
    check_length(spoken, config)
    return {**record, "question": spoken, "provenance": config.provenance()}


def setup(config: BuildConfig) -> StageFunction:
    """The per-record function a Beam worker runs, built once per worker."""
    if config.llm == "openai":
        client = client_for(config)
        return client.stage(lambda record: rewrite_with_llm(record, config, client))
    return lambda record: rewrite(record, config)


REWRITE = Stage(STAGE, "rewrite", setup)
