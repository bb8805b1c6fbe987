"""What every call to a remote service shares (chat, speech, transcription): the
``openai`` client for an endpoint, the wait before a retry, and the name of a failure.

A failure's reason is ``SERVICE_KIND`` (``llm_timeout``, ``tts_throttled``,
``asr_unreachable``...), the same kinds for every service, so a reject says what went
wrong in the same words whichever call it was.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    import openai

MAX_BACKOFF_SECONDS = 30.0
# The kinds of failure that say the service, not the record, was at fault.
SERVICE_KINDS = ("timeout", "unreachable", "throttled")
# A chat reply can be slow and still come (``llm_timeout``); a speech or transcription
# endpoint that does not answer in time counts as down, and stops a worker asking.
TIMEOUT_KIND = {"llm": "timeout", "tts": "unreachable", "asr": "unreachable"}


def openai_client(base_url: str, api_key: str, timeout: float, retries: int,
                  asynchronous: bool = False) -> openai.OpenAI | openai.AsyncOpenAI:
    """The ``openai`` client of one endpoint; ``retries`` is how often it retries 429,
    5xx and dropped connections itself (0 where the caller retries). The asynchronous
    client sends through aiohttp (``DefaultAioHttpClient``), which costs about a quarter less
    CPU a request than the default transport; it is made per event loop by its caller."""
    import openai  # here, not at the top: a run with no remote service never loads it (0.4 s)

    if asynchronous:
        return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout,
                                  max_retries=retries, http_client=openai.DefaultAioHttpClient())
    http_client = openai.DefaultHttpx2Client(transport=DeadlineTransport(timeout))
    return openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=retries,
                         http_client=http_client)


class DeadlineTransport(httpx2.BaseTransport):
    """Bounds a request until the last byte of its reply's body by ``seconds``: httpx2's
    read timeout restarts with every byte, so a server trickling its body would hold a
    worker for ever. (The asynchronous chat call bounds its request with ``asyncio.timeout``.)"""

    def __init__(self, seconds: float) -> None:
        self._inner, self._seconds = httpx2.HTTPTransport(), seconds

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        give_up = time.monotonic() + self._seconds
        response = self._inner.handle_request(request)
        response.stream = _BoundedStream(response.stream, give_up, request)
        return response

    def close(self) -> None:
        self._inner.close()


class _BoundedStream(httpx2.SyncByteStream):
    def __init__(self, stream: httpx2.SyncByteStream, give_up: float, request: httpx2.Request) -> None:
        self._stream, self._give_up, self._request = stream, give_up, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._give_up:
                raise httpx2.ReadTimeout("the reply did not arrive in time", request=self._request)
            yield chunk

    def close(self) -> None:
        self._stream.close()


REDACTED = "[redacted]"
SHORTEST_SECRET = 8  # shorter "keys" ("none", "x") are placeholders, and common words


def redact(text: str, *secrets: str) -> str:
    """``text`` with every secret of ours in it replaced: a server may echo the key it was
    sent (in an error body, or in a model's reply), and nothing we write may hold it."""
    for secret in secrets:
        if secret and len(secret) >= SHORTEST_SECRET:
            text = text.replace(secret, REDACTED)
    return text


def retry_after(error: Exception) -> float | None:
    """The seconds a ``Retry-After`` header asks for, when the error carries a finite,
    non-negative one (``inf`` or ``nan`` would hold a worker forever)."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def backoff_seconds(attempt: int, base: float = 0.5, asked: float | None = None) -> float:
    """The wait before retry ``attempt`` (0-based): what the service asked for, else
    exponential backoff with jitter; either capped at ``MAX_BACKOFF_SECONDS``."""
    if asked is not None:
        return min(asked, MAX_BACKOFF_SECONDS)
    return min(MAX_BACKOFF_SECONDS, base * 2**attempt) * random.uniform(0.5, 1)


def _refused(error: BaseException) -> bool:
    """Whether a "timeout" was a refused or dropped connection: aiohttp's transport reports
    every connection error as a connect timeout, keeping the real one as its cause."""
    import aiohttp

    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False


def openai_failure(service: str, error: Exception) -> tuple[str, str, bool]:
    """(reason, detail, transient) for an error of the ``openai`` client calling ``service``
    (``llm``, ``tts`` or ``asr``)."""
    import openai

    if isinstance(error, TimeoutError) or isinstance(error, openai.APITimeoutError) and not _refused(error):
        return f"{service}_{TIMEOUT_KIND[service]}", "the endpoint did not answer in time", True
    if isinstance(error, openai.APIConnectionError):
        return f"{service}_unreachable", f"the endpoint is unreachable: {type(error).__name__}", True
    if isinstance(error, openai.RateLimitError):
        return f"{service}_throttled", "HTTP 429, still throttled after retries", True
    if isinstance(error, openai.APIStatusError):
        transient = error.status_code >= 500
        return f"{service}_http_error", f"the endpoint answered HTTP {error.status_code}", transient
    return f"{service}_invalid_response", f"{type(error).__name__}: {str(error)[:200]}", True
