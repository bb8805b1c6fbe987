"""A JSON-returning chat call through the ``openai`` client, for any compatible endpoint.

Transient failures (429, 5xx, timeouts, dropped connections, truncated bodies) are
retried with exponential backoff and jitter, honouring ``Retry-After``; what still fails
becomes a ``Reject`` with a distinct reason, so a run with a flaky or wrong endpoint ends
with rejects to read, never with a crash. Replies are cached by content (``ReplyCache``).
Requests, retries, cache hits, tokens and failures by kind are counted (``pipeline.tally``,
namespace ``llm``). The API key is read from the environment and never written anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import time
import weakref
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import jsonschema
from apache_beam.io.filesystems import FileSystems

import prompts
from pipeline.deadline import deadline
from pipeline.llm.batch import (
    FAILED_REASON,
    PENDING_REASON,
    chat_reply,
    failures_folder,
    record_request,
    replies_folder,
)
from pipeline.llm.cache import ReplyCache, reply_key
from pipeline.llm.limits import Budget, SharedLimit, Throttle
from pipeline.reject import Reject
from pipeline.remote import backoff_seconds, openai_client, openai_failure, redact, retry_after
from pipeline.stage import AwaitingStage
from pipeline.tally import TALLY

if TYPE_CHECKING:
    import openai

_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
# Transport failures: the client has already retried these with backoff.
_NOT_RETRIED = ("llm_timeout", "llm_unreachable", "llm_http_error", "llm_throttled")
SAMPLING = {"temperature": 0}
CHARACTERS_PER_TOKEN = 4  # for the tokens-per-minute budget, before the server counts them
# The slots of each worker thread's loop by their number, shared by every stage's client of
# a run on it (a thread's loop outlives a run: a later run with another cap has its own).
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())


@functools.lru_cache(maxsize=64)
def _validator(schema: str) -> jsonschema.protocols.Validator:
    """A validator per reply schema, built once: building one checks the schema itself,
    which costs more than validating a reply."""
    loaded = json.loads(schema)
    validator = jsonschema.validators.validator_for(loaded)
    validator.check_schema(loaded)
    return validator(loaded)


class LLMClient:
    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 60.0,
                 retries: int = 4, cache: ReplyCache | None = None, backoff_seconds: float = 0.5,
                 requests_per_minute: float = 0, tokens_per_minute: float = 0,
                 structured_output: bool = False, max_in_flight: int = 64,
                 shared_limit: SharedLimit | None = None, check_seconds: float = 10.0,
                 batch_dir: str = "", collect: bool = False, batch_fallback: str = "none") -> None:
        self.model = model
        self._endpoint = urlsplit(base_url).netloc
        self._retries, self._cache, self._backoff = retries, cache, backoff_seconds
        self._structured = structured_output
        self._throttle = Throttle()
        self._requests, self._tokens = Budget(requests_per_minute), Budget(tokens_per_minute)
        self._shared_limit = shared_limit
        self._timeout, self._key = timeout, api_key
        self._settings = {"base_url": base_url, "api_key": api_key, "timeout": timeout, "retries": 0,
                          "asynchronous": True}
        self._max_in_flight = max_in_flight
        self._check_seconds = check_seconds
        self._clients: dict[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = {}
        self._batch_dir, self._collect = batch_dir, collect
        self._batch_replies = ReplyCache(replies_folder(batch_dir)) if batch_dir else None
        self._batch_failures = ReplyCache(failures_folder(batch_dir)) if batch_dir else None
        self._batch_fallback = batch_fallback

    def stage(self, coroutine_function) -> AwaitingStage:
        """A stage function that awaits this client's replies, as many in flight as it allows."""
        return AwaitingStage(coroutine_function, self._max_in_flight, close=self.close)

    async def close(self) -> None:
        """Close the connections of the running loop's client."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _client(self) -> openai.AsyncOpenAI:
        """The ``AsyncOpenAI`` client of the running loop (its connections belong to that loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = openai_client(**self._settings)
        return client

    def _slots(self) -> asyncio.Semaphore:
        """The running loop's slots: a reply holds one from its request until it is stored
        in the cache or rejected, so a killed run loses at most this many replies."""
        by_size = _SLOTS.setdefault(asyncio.get_running_loop(), {})
        if self._max_in_flight not in by_size:
            by_size[self._max_in_flight] = asyncio.Semaphore(self._max_in_flight)
        return by_size[self._max_in_flight]

    def _body(self, stage: str, messages: list[dict], schema: dict) -> dict:
        """The chat completion request, as sent and as a batch line carries it."""
        structured = {"response_format": {"type": "json_schema", "json_schema": {
            "name": f"{stage}_reply", "schema": schema}}} if self._structured else {}
        return {"model": self.model, "messages": messages, **SAMPLING, **structured}

    async def _request(self, stage: str, messages: list[dict], schema: dict) -> dict:
        """One reply as ``{content, tokens_in, tokens_out}``, retried while the failure is
        transient; the last failure is the reject. Every attempt and every wait between them
        fits in ``timeout`` a try: no server can extend it by trickling its reply or asking
        for a long ``Retry-After``. The client is made (``openai`` imported) before any limit
        is asked: a request the limits let through is sent at once."""
        import openai

        client = self._client()
        body = self._body(stage, messages, schema)
        give_up = time.monotonic() + self._timeout * (self._retries + 1)
        for attempt in range(self._retries + 1):
            if attempt:
                TALLY.add("llm", "retries")
            else:  # a new request; a retry already waited its backoff
                await self._throttle.wait()
            tokens = sum(len(m["content"]) for m in messages) // CHARACTERS_PER_TOKEN
            await self._requests.take(1)
            await self._tokens.take(tokens)
            if self._shared_limit:
                try:
                    await self._shared_limit.take(tokens)
                except ConnectionError as error:
                    raise Reject(stage, "llm_rate_limiter_unreachable", str(error)) from None
            try:
                TALLY.add("llm", "requests")
                # the documented call for any endpoint: the client's transport, timeouts and
                # errors, without building request and reply models (half the CPU a request)
                async with asyncio.timeout(max(0.0, min(self._timeout, give_up - time.monotonic()))):
                    answer = await client.post("/chat/completions", body=body, cast_to=object)
                reply = chat_reply(answer)
                if reply is None:  # a proxy's HTML page
                    shown = redact(str(answer), self._key)[:120]
                    raise ValueError(f"HTTP 200 but no chat completion: {shown!r}")
            # ValueError: a body cut short or not a reply; TimeoutError: the try's time is up
            except (openai.APIError, ValueError, TimeoutError) as error:
                reason, detail, transient = openai_failure("llm", error)
                self._throttle.ended(succeeded=not transient)  # only overload is a failure here
                TALLY.add("llm", f"failed_{reason}")
                wait = backoff_seconds(attempt, self._backoff, retry_after(error))
                if not transient or attempt == self._retries or time.monotonic() + wait >= give_up:
                    raise Reject(stage, reason, detail) from None
                await asyncio.sleep(wait)
                continue
            self._throttle.ended(succeeded=True)
            return reply
        raise AssertionError("unreachable")

    async def _chat(self, stage: str, messages: list[dict], schema: dict) -> tuple[str, tuple | None]:
        """The reply's content, and what to cache once it has passed every check (``None``
        when it came from the cache): a reply that fails is never cached, so a rerun asks again.
        With ``--llm_batch``, a reply a batch brought back is used like a fresh one; in a
        collect pass, a request no batch has answered yet is recorded for the next batch."""
        sampling = {**SAMPLING, "structured_output": self._structured}
        key = reply_key(self.model, self._endpoint, sampling, messages)
        if self._cache:
            reply = await asyncio.to_thread(self._cache.get, key)
            if reply is not None:
                TALLY.add("llm", "cache_hits")
                return reply["content"], None
        reply = None
        if self._batch_replies:
            reply = await asyncio.to_thread(self._batch_replies.get, key)
            failure = None if reply is not None else await asyncio.to_thread(self._batch_failures.get, key)
            if failure is not None and self._batch_fallback != "live":
                raise Reject(stage, FAILED_REASON, failure["error"])
            if reply is None and failure is None and self._collect:
                request = self._body(stage, messages, schema)
                await asyncio.to_thread(record_request, self._batch_dir, key, request)
                TALLY.add("llm", "batch_requests")
                raise Reject(stage, PENDING_REASON, "waits for its reply from a batch")
            if reply is not None:
                TALLY.add("llm", "batch_replies")
        if reply is None:
            reply = await self._request(stage, messages, schema)
        TALLY.add("llm", "tokens_in", reply["tokens_in"])
        TALLY.add("llm", "tokens_out", reply["tokens_out"])
        if reply["refusal"] or not reply["content"]:
            raise Reject(stage, "llm_refusal", "the model gave no content")
        reply = {**reply, "content": redact(reply["content"], self._key)}  # a server may echo the key
        return reply["content"], (key, reply) if self._cache else None

    async def _remember(self, *fresh: tuple | None) -> None:
        for entry in fresh:
            if entry is not None:
                await asyncio.to_thread(self._cache.put, *entry)

    @staticmethod
    def parse(stage: str, content: str, schema: dict) -> dict:
        """The reply as JSON (code fences allowed), validated against ``schema``."""
        match = _FENCE_RE.match(content.strip())
        try:
            value = json.loads(match.group(1) if match else content)
        except json.JSONDecodeError as error:
            raise Reject(stage, "llm_invalid_json", f"{error.msg} at column {error.colno}") from None
        errors = _validator(json.dumps(schema, sort_keys=True)).iter_errors(value)
        error = jsonschema.exceptions.best_match(errors)
        if error is not None:
            raise Reject(stage, "llm_schema", error.message[:300])
        return value

    def _checked(self, stage: str, content: str, schema: dict, check) -> dict:
        """The parsed reply, checked within the time limit of a record's work (the check runs
        on the loop's thread, between awaits, so a stuck check would stop every record)."""
        with deadline(self._check_seconds):
            value = self.parse(stage, content, schema)
            check(value)
        return value

    async def ask(self, stage: str, prompt: prompts.Prompt, schema: dict, check, **values: str) -> dict:
        """Ask, parse, validate and ``check`` the reply. On a failed check, ask once more
        with the failure fed back; the second failure is the reject."""
        async with self._slots():
            return await self._ask(stage, prompt.messages(**values), schema, check)

    async def _ask(self, stage: str, messages: list[dict], schema: dict, check) -> dict:
        content, first = "", None
        try:
            content, first = await self._chat(stage, messages, schema)
            value = self._checked(stage, content, schema, check)
            await self._remember(first)
            return value
        except Reject as reject:
            if reject.reason in (*_NOT_RETRIED, PENDING_REASON, FAILED_REASON):
                raise
            feedback = (f"That reply failed a check ({reject.reason}: {reject.detail}). "
                        "Reply again with corrected JSON only.")
        messages = [*messages, {"role": "assistant", "content": content},
                    {"role": "user", "content": feedback}]
        content, second = await self._chat(stage, messages, schema)
        value = self._checked(stage, content, schema, check)
        # the failed first reply is cached with the repair that fixed it: a rerun replays both
        await self._remember(first, second)
        return value


def client_for(config) -> LLMClient:
    """The client a worker opens in ``setup`` for the endpoint ``config`` names."""
    if not config.llm_base_url or not config.llm_model:
        raise ValueError("--llm openai needs --base_url and --model")
    cache = ReplyCache(config.llm_cache_dir) if config.llm_cache_dir else None
    return LLMClient(config.llm_base_url, config.llm_model, api_key(config), config.llm_timeout,
                     config.llm_retries, cache, requests_per_minute=config.llm_rpm,
                     tokens_per_minute=config.llm_tpm, structured_output=config.llm_structured_output,
                     max_in_flight=config.llm_concurrency,
                     shared_limit=SharedLimit(config.llm_rate_limiter, config.llm_rate_limit_domain)
                     if config.llm_rate_limiter else None, check_seconds=config.record_timeout,
                     batch_dir=config.llm_batch_dir, collect=config.llm_batch_collect,
                     batch_fallback=config.llm_batch_fallback)


def batch_client(config) -> openai.OpenAI:
    """The client that uploads, creates and polls batches (``--llm_batch``), on the driver."""
    return openai_client(config.llm_base_url, api_key(config), config.llm_timeout, config.llm_retries)


def api_key(config) -> str:
    """The key from ``--api_key_file`` or the ``--api_key_env`` variable; read on the worker,
    never stored in the config, the records or the logs."""
    if config.llm_api_key_file:
        with FileSystems.open(config.llm_api_key_file) as handle:
            return handle.read().decode().strip()
    return os.environ.get(config.llm_api_key_env, "")
