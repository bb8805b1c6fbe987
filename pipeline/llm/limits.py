"""Keeping an endpoint healthy: Beam's adaptive client-side throttling, and request and
token budgets per minute.

``AdaptiveThrottler`` (Beam's, from the SRE book) delays new requests while too many
recent ones failed; the time spent waiting is reported as ``cumulativeThrottlingSeconds``,
the counter Dataflow's autoscaler reads. The budgets are per worker: for a global limit
of R requests per minute on W workers, give each R / W.
"""

from __future__ import annotations

import asyncio
import threading
import time

from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler

from pipeline.llm.usage import USAGE

THROTTLE_DELAY_SECONDS = 1.0


class Throttle:
    """Thread-safe wrapper of Beam's ``AdaptiveThrottler``."""

    def __init__(self, window_ms: int = 60_000, bucket_ms: int = 1_000, overload_ratio: float = 2.0) -> None:
        self._throttler = AdaptiveThrottler(window_ms, bucket_ms, overload_ratio)
        self._lock = threading.Lock()

    async def wait(self) -> None:
        while True:
            with self._lock:
                throttled = self._throttler.throttle_request(time.time() * 1000)
            if not throttled:
                return
            USAGE.add("cumulativeThrottlingSeconds", int(THROTTLE_DELAY_SECONDS))
            await asyncio.sleep(THROTTLE_DELAY_SECONDS)

    def succeeded(self, started: float) -> None:
        with self._lock:
            self._throttler.successful_request(started * 1000)


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
