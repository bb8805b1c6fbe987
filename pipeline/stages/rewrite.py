"""Stage 1: rewrite a problem written for the eye into a question written for the ear."""

from __future__ import annotations

from fractions import Fraction

import prompts
from pipeline.config import BuildConfig
from pipeline.llm.client import LLMClient, client_for
from pipeline.reject import Reject
from pipeline.text.quantities import find_quantities, quantity_values
from pipeline.text.verbalize import normalize_space, unspeakable_characters, verbalize

STAGE = "rewrite"


def lost_quantities(original: str, spoken: str) -> list[str]:
    """Quantities of ``original`` that ``spoken`` no longer mentions, in digits or words."""
    kept: set[Fraction] = quantity_values(spoken)
    return [q.text for q in find_quantities(original) if not q.values & kept]


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
    """Rules backend: verbalize every symbol, keep numbers as digits."""
    spoken = verbalize(record["problem"])
    check_spoken_question(record["problem"], spoken)
    return {**record, "question": spoken, "provenance": config.provenance()}


REPLY_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string", "minLength": 1}},
    "required": ["question"],
}


def rewrite_with_llm(record: dict, config: BuildConfig, client: LLMClient) -> dict:
    """LLM backend: the model rewrites, the same checks as the rules backend judge it."""
    reply = client.ask(
        STAGE, prompts.load("rewrite"), REPLY_SCHEMA,
        lambda value: check_spoken_question(record["problem"], normalize_space(value["question"])),
        problem=record["problem"],
    )
    return {**record, "question": normalize_space(reply["question"]), "provenance": config.provenance()}


def make(config: BuildConfig):
    """The per-record function a Beam worker runs, built once per worker."""
    if config.llm == "openai":
        client = client_for(config)
        return lambda record: rewrite_with_llm(record, config, client)
    return lambda record: rewrite(record, config)
