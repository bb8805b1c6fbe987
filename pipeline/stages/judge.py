"""The paper's LLM check on a finished split: is there anticipation drift, is the response
colloquial?"""

from __future__ import annotations

import prompts
from pipeline.llm.client import LLMClient
from pipeline.reject import Reject
from pipeline.stages.split_checks import STAGE

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"drift": {"type": "boolean"}, "colloquial": {"type": "boolean"},
                   "reason": {"type": "string"}},
    "required": ["drift", "colloquial"],
}


def prompt_values(record: dict) -> dict[str, str]:
    """What the judge prompt is filled with (the dry run counts the same prompt): the steps
    numbered, each sentence with the step it waits for."""
    reasoning = "\n".join(f"{n}. {step}" for n, step in enumerate(record["reasoning"], start=1))
    response = "\n".join(f"[after step {s['after_step']}] {s['text']}" for s in record["response"])
    return {"question": record["question"], "reasoning": reasoning, "response": response}


async def judge(record: dict, client: LLMClient) -> dict:
    """The paper's LLM check: is there anticipation drift, is the response colloquial?
    A failing verdict rejects; a passing one is kept in ``checks`` with its reason."""
    verdict = await client.ask(STAGE, prompts.load("judge"), JUDGE_SCHEMA, lambda value: None,
                               **prompt_values(record))
    reason = verdict.get("reason", "")
    if verdict["drift"]:
        raise Reject(STAGE, "judge_drift", reason)
    if not verdict["colloquial"]:
        raise Reject(STAGE, "judge_not_colloquial", reason)
    return {**record, "checks": {**record["checks"], "judge": "pass", "judge_reason": reason}}
