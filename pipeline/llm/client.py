"""A JSON-returning chat call through the ``openai`` client, for any compatible endpoint.

Every way a call can fail becomes a ``Reject`` with a distinct reason, so a run with a
flaky or wrong endpoint ends with rejects to read, never with a crash. The API key is
read from the environment and never written anywhere.
"""

from __future__ import annotations

import json
import os
import re

import jsonschema
import openai

import prompts
from pipeline.reject import Reject

_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
# Transport failures: the client has already retried these with backoff.
_NOT_RETRIED = ("llm_timeout", "llm_unreachable", "llm_http_error")


class LLMClient:
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_retries: int = 2) -> None:
        self.model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "none",
                                     timeout=timeout, max_retries=max_retries)

    def _chat(self, stage: str, messages: list[dict]) -> str:
        try:
            reply = self._client.chat.completions.create(model=self.model, messages=messages,
                                                         temperature=0)
        except openai.APITimeoutError:
            raise Reject(stage, "llm_timeout", "the endpoint did not answer in time") from None
        except openai.APIConnectionError as error:
            raise Reject(stage, "llm_unreachable", type(error).__name__) from None
        except openai.APIStatusError as error:
            raise Reject(stage, "llm_http_error", f"HTTP {error.status_code}") from None
        choice = reply.choices[0] if reply.choices else None
        if choice is None or getattr(choice.message, "refusal", None) or not choice.message.content:
            raise Reject(stage, "llm_refusal", "the model gave no content")
        return choice.message.content

    @staticmethod
    def parse(stage: str, content: str, schema: dict) -> dict:
        """The reply as JSON (code fences allowed), validated against ``schema``."""
        match = _FENCE_RE.match(content.strip())
        try:
            value = json.loads(match.group(1) if match else content)
        except json.JSONDecodeError as error:
            raise Reject(stage, "llm_invalid_json", f"{error.msg} at column {error.colno}") from None
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as error:
            raise Reject(stage, "llm_schema", error.message[:300]) from None
        return value

    def _checked(self, stage: str, content: str, schema: dict, check) -> dict:
        value = self.parse(stage, content, schema)
        check(value)
        return value

    def ask(self, stage: str, prompt: prompts.Prompt, schema: dict, check, **values: str) -> dict:
        """Ask, parse, validate and ``check`` the reply. On a failed check, ask once more
        with the failure fed back; the second failure is the reject."""
        messages = prompt.messages(**values)
        content = ""
        try:
            content = self._chat(stage, messages)
            return self._checked(stage, content, schema, check)
        except Reject as reject:
            if reject.reason in _NOT_RETRIED:
                raise
            feedback = (f"That reply failed a check ({reject.reason}: {reject.detail}). "
                        "Reply again with corrected JSON only.")
        messages = [*messages, {"role": "assistant", "content": content},
                    {"role": "user", "content": feedback}]
        return self._checked(stage, self._chat(stage, messages), schema, check)


def client_for(config) -> LLMClient:
    """The client a worker opens in ``setup`` for the endpoint ``config`` names."""
    if not config.llm_base_url or not config.llm_model:
        raise ValueError("--llm openai needs --base_url and --model")
    return LLMClient(config.llm_base_url, config.llm_model, config.llm_api_key_env, config.llm_timeout)
