"""Stage functions that await remote calls (an LLM, an online voice, a transcriber).

Such a stage is a coroutine over one record, wrapped in ``AwaitingStage``: it can be called
like any stage function (it runs the thread's loop until the record is done), or run as a
coroutine, many records in flight at once (the Beam layer's ``StageFn``).
"""

from __future__ import annotations

import asyncio
import threading

_THREAD = threading.local()


def worker_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's event loop. It runs only while that thread waits for replies,
    so no second thread contends for the GIL, and every awaiting stage on the thread shares
    it: while one stage waits, the replies of all of them are read."""
    loop = getattr(_THREAD, "loop", None)
    if loop is None:
        loop = _THREAD.loop = asyncio.new_event_loop()
    return loop


class AwaitingStage:
    """A stage function over one record that awaits remote calls, with the cap on its
    requests in flight per worker thread (how many records the Beam layer keeps going)."""

    def __init__(self, coroutine_function, concurrency: int) -> None:
        self.coroutine, self.concurrency = coroutine_function, concurrency

    def __call__(self, record: dict) -> dict:
        return worker_loop().run_until_complete(self.coroutine(record))
