"""Stage 2: split a solution into a silent reasoning stream and a short spoken response.

Every response sentence names the reasoning step after which it may be said
(``after_step``; 0 for an opener that only restates the task). The stage then checks,
at quantity level, that no sentence mentions a number the reasoning has not reached
yet: that is anticipation drift, the failure the data must never teach.

Two backends write the split: the rules (``split_rules``) or an LLM (``split_with_llm``);
the same checks (``split_checks``) judge both, and the LLM judge (``judge``) may look again.
"""

from __future__ import annotations

import prompts
from pipeline.config import BuildConfig
from pipeline.llm.client import LLMClient, client_for
from pipeline.reject import Reject
from pipeline.stage import Stage, StageFunction
from pipeline.stages.judge import judge
from pipeline.stages.split_checks import STAGE, checked, validate_split
from pipeline.stages.split_rules import split_lines, split_prose
from pipeline.text.verbalize import normalize_space, plain_words
from pipeline.tokenizers import load_tokenizer

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


def prompt_values(record: dict, config: BuildConfig) -> dict[str, object]:
    """What the split prompt is filled with (the dry run counts the same prompt)."""
    return {"problem": record["problem"], "question": record["question"],
            "solution": record["solution"], "answer": record["answer"], "ratio": config.response_ratio}


async def split_with_llm(record: dict, config: BuildConfig, client: LLMClient) -> dict:
    """LLM backend: the paper's prompt (front-load reasoning, defer spoken content), then
    the same checks as the rules backend."""
    reply = await client.ask(
        STAGE, prompts.load("split"), REPLY_SCHEMA,
        lambda value: validate_split(record, *_clean_reply(value), config),
        **prompt_values(record, config),
    )
    return checked(record, *_clean_reply(reply), config)


def setup(config: BuildConfig) -> StageFunction:
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


SPLIT = Stage(STAGE, "split", setup)
