"""LLM usage (requests, retries, cache hits, tokens, failures by kind), counted where the
calls happen, on any thread.

Beam counters only count on the thread that runs the DoFn, while LLM calls run on a
pool of threads; so calls add to this process-wide tally and the DoFn moves it into Beam
counters (namespace ``llm``) from its own thread.
"""

from __future__ import annotations

import threading
from collections import Counter


class Usage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def drain(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


USAGE = Usage()
