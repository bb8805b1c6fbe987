"""Keeping an endpoint healthy: Beam's adaptive client-side throttling, request and token
budgets per minute per worker, and limits over the whole run through a rate-limit service.

``AdaptiveThrottler`` (Beam's, from the SRE book) delays new requests while too many
recent ones failed; the time spent waiting is reported as ``cumulativeThrottlingSeconds``,
the counter Dataflow's autoscaler reads. ``Budget`` counts one worker's requests;
``SharedLimit`` asks an Envoy rate-limit service, which every worker shares.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler
from apache_beam.io.components.rate_limiter import EnvoyRateLimiter

from pipeline.tally import TALLY

THROTTLE_DELAY_SECONDS = 1.0


class _EndedRequestsThrottler(AdaptiveThrottler):
    """Beam's throttler, counting a request when it ends rather than when it is sent: with
    many requests in flight, counting them at the start would throttle the first wave of
    every run, before any of them could succeed."""

    def throttled(self, now_ms: float) -> bool:
        throttled = self._random.uniform(0, 1) < self._throttling_probability(now_ms)
        if throttled:  # a request held back counts as attempted, as in Beam's
            self._all_requests.add(now_ms, 1)
        return throttled

    def ended(self, now_ms: float, succeeded: bool) -> None:
        self._all_requests.add(now_ms, 1)
        if succeeded:
            self._successful_requests.add(now_ms, 1)


class Throttle:
    """Thread-safe adaptive throttling: requests wait while too many recent ones failed."""

    def __init__(self, window_ms: int = 60_000, bucket_ms: int = 1_000, overload_ratio: float = 2.0) -> None:
        self._throttler = _EndedRequestsThrottler(window_ms, bucket_ms, overload_ratio)
        self._lock = threading.Lock()

    async def wait(self) -> None:
        while True:
            with self._lock:
                throttled = self._throttler.throttled(time.time() * 1000)
            if not throttled:
                return
            TALLY.add("llm", "cumulativeThrottlingSeconds", int(THROTTLE_DELAY_SECONDS))
            await asyncio.sleep(THROTTLE_DELAY_SECONDS)

    def ended(self, succeeded: bool) -> None:
        with self._lock:
            self._throttler.ended(time.time() * 1000, succeeded)


class Budget:
    """At most ``per_minute`` units in any minute, refilled continuously; 0 is no limit."""

    def __init__(self, per_minute: float) -> None:
        self._rate = per_minute / 60.0
        self._level = per_minute
        self._capacity = per_minute
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    async def take(self, units: float) -> None:
        if not self._rate:
            return
        units = min(units, self._capacity)
        while True:
            with self._lock:
                now = time.monotonic()
                self._level = min(self._capacity, self._level + (now - self._updated) * self._rate)
                self._updated = now
                if self._level >= units:
                    self._level -= units
                    return
                wait = (units - self._level) / self._rate
            await asyncio.sleep(wait)


class SharedLimit:
    """Limits over every worker of a run, kept by an Envoy rate-limit service (gRPC) through
    Beam's ``EnvoyRateLimiter``: each request takes one hit of descriptor ``llm=requests``
    and its estimated prompt tokens as hits of ``llm=tokens``; the service's configuration
    says how many of each a minute (or any unit) the domain allows. While over a limit,
    the request waits until the service's window resets."""

    def __init__(self, address: str, domain: str) -> None:
        self._requests = EnvoyRateLimiter(address, domain, [{"llm": "requests"}], namespace="llm")
        self._tokens = EnvoyRateLimiter(address, domain, [{"llm": "tokens"}], namespace="llm")
        self._asking = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rate-limit")

    def _allow(self, tokens: int) -> None:
        self._requests.allow(1)
        if tokens:
            self._tokens.allow(tokens)

    async def take(self, tokens: int) -> None:
        """Waits until the service allows the request; ConnectionError if it cannot be asked.

        The limiter sleeps while over the limit, so it runs on threads of its own: on the
        loop's default executor it took every thread, and aiohttp, which looks up netrc and
        proxy settings there for each request, sent permitted requests a window or two late
        (the server saw 30 in a second against a limit of 10). Both hits are asked on one
        thread, so the request leaves right after the service has counted it."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._asking, self._allow, tokens)
        except grpc.RpcError as error:
            raise ConnectionError(f"rate-limit service: {error.code().name}") from None
