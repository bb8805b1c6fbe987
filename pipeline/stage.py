"""What a stage is, for the Beam layer that runs it.

A ``Stage`` names a step over one record, the schema its output meets, whether a build runs
it, and ``setup(config)``: what a worker does once (load a tokenizer, open an engine or a
client) before it returns the function it applies to each record. Every stage, source and
check has this one shape, so the Beam layer runs them all the same way.

A stage function that awaits remote calls (an LLM, an online voice, a transcriber) is a
coroutine over one record, wrapped in ``AwaitingStage``: it can be called like any stage
function (it runs the thread's loop until the record is done), or run as a coroutine, many
records in flight at once (the Beam layer's ``StageFn``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

StageFunction = Callable[[dict], dict]


def always(_config: Any) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline. ``name`` is the stage rejects and counters carry; ``schema``
    the record schema its output is checked against (None: not checked); ``setup(config)``
    runs once per worker and returns the function over one record (an ``AwaitingStage`` when
    it awaits remote calls); ``runs(config)`` says whether a build with that config has it."""

    name: str
    schema: str | None
    setup: Callable[[Any], StageFunction]
    runs: Callable[[Any], bool] = always


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
    requests in flight per worker thread (how many records the Beam layer keeps going) and,
    when it holds connections, the coroutine function that closes them once the worker is
    done."""

    def __init__(self, coroutine_function, concurrency: int, close=None) -> None:
        self.coroutine, self.concurrency, self.close = coroutine_function, concurrency, close

    def __call__(self, record: dict) -> dict:
        return worker_loop().run_until_complete(self.coroutine(record))
