"""LLM usage (requests, retries, cache hits, tokens, failures by kind), counted where the
calls happen, on any thread.

A Beam counter counts for the step whose DoFn is running, while a worker thread's event
loop advances the calls of every LLM stage on that thread at once; so calls add to this
process-wide tally and each DoFn moves it into Beam counters (namespace ``llm``) as it emits.
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
