"""Counts made where the work happens, on any thread (an LLM client's requests, retries,
cache hits and tokens), moved into Beam counters by whichever stage emits next.

A Beam counter counts for the step whose DoFn is running, while a worker thread's event
loop advances the calls of every awaiting stage on that thread at once; so calls add to
this process-wide tally, by namespace, and each DoFn drains it into Beam counters of the
same namespace as it emits. The Beam layer knows only namespaces, not who counts.
"""

from __future__ import annotations

import threading
from collections import Counter


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()

    def add(self, namespace: str, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[namespace, name] += amount

    def drain(self) -> dict[tuple[str, str], int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


TALLY = Tally()
