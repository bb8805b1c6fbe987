"""Run a per-record stage function as a Beam DoFn with a dead-letter output.

A record that a stage rejects, or that makes it fail unexpectedly, leaves through the
``rejects`` output with the stage, a reason and the record, so a run never loses a
record silently and never dies of one bad record.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import time
from collections import deque

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

import schemas
from pipeline.deadline import deadline
from pipeline.reject import Reject
from pipeline.sources.records import raw_text, record_id
from pipeline.stage import AwaitingStage, Stage, worker_loop
from pipeline.tally import TALLY

REJECTS = "rejects"
MAX_REJECT_RECORD_CHARS = 100_000
# LLM requests are sent and replies read only while the loop runs. A concurrent stage runs
# it when all its slots are taken, and otherwise when an element comes in or goes out and
# the loop has not run for this long.
LOOP_SECONDS = 0.01


def _json_default(value):
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    raise TypeError(type(value).__name__)


def reject_row(element: dict, reject: Reject) -> dict:
    """The row a rejected element leaves in ``rejects/``."""
    if "id" in element:
        rid = element["id"]
        record = json.dumps(element, ensure_ascii=False, default=_json_default)
    else:
        text = raw_text(element.get("raw", b""))
        rid = record_id(element["source"], element["split"], element["source_index"], text)
        record = text
    if len(record) > MAX_REJECT_RECORD_CHARS:
        record = record[:MAX_REJECT_RECORD_CHARS] + f"... [{len(record)} characters in all]"
    return {
        "id": rid,
        "source": element["source"],
        "source_index": element["source_index"],
        "stage": reject.stage,
        "reason": reject.reason,
        "detail": reject.detail[:2000],
        "record": record,
    }


class StageFn(beam.DoFn):
    """Applies a ``Stage`` to each element: ``stage.setup(config)`` once per worker, then
    the function it returns element by element.

    A stage function that awaits remote calls (``AwaitingStage``) gets many elements in
    flight as coroutines on the thread's event loop (``worker_loop``), which runs while this
    DoFn waits for a free slot: twice the stage's cap on requests in flight, so a request
    slot that frees up always has an element waiting for it. Finished elements leave as they
    finish, in the window they came in; the rest at the end of the bundle. Any other stage
    function runs one element at a time, within ``config.record_timeout``.
    """

    def __init__(self, stage: Stage, config) -> None:
        self._stage, self._setup, self._config, self._schema = stage.name, stage.setup, config, stage.schema

    def setup(self) -> None:
        self._apply = self._setup(self._config)
        self._awaiting = isinstance(self._apply, AwaitingStage)
        self._in = Metrics.counter(self._stage, "records_in")
        self._out = Metrics.counter(self._stage, "records_out")
        self._counters: dict[tuple[str, str], Metrics.DelegatingCounter] = {}
        if self._awaiting:
            self._slots = 2 * self._apply.concurrency
            if self._apply.close is not None:
                # the local runner's worker processes exit without a teardown: their
                # connections are closed at exit, not reported as leaked
                atexit.register(self.teardown)
        # What is alive now (modules, sympy, Beam's worker, loaded tables) lives as long as
        # the worker. Stages make many objects that outlive a young collection (replies, the
        # caches of quantities and costs), so full collections come back; frozen objects are
        # not walked again each time (measured: a third of the collector's time with LLM
        # replies, a tenth of a text-only build's CPU).
        gc.collect()
        gc.freeze()

    def teardown(self) -> None:
        atexit.unregister(self.teardown)
        close = getattr(getattr(self, "_apply", None), "close", None)
        loop = getattr(self, "_loop", None)  # the loop its bundles ran on, which holds the connections
        if close is not None and loop is not None and not loop.is_closed():
            loop.run_until_complete(close())

    def _counter(self, namespace: str, name: str):
        counter = self._counters.get((namespace, name))
        if counter is None:
            counter = self._counters[namespace, name] = Metrics.counter(namespace, name)
        return counter

    def _outcome(self, element: dict) -> tuple[dict, Reject | None]:
        """(record, None) or (element, why it is rejected), within the time limit of one
        record."""
        try:
            with deadline(self._config.record_timeout):
                record = self._apply(element)
            return self._validated(element, record)
        except Exception as error:
            return element, self._rejection(error)

    async def _outcome_async(self, element: dict) -> tuple[dict, Reject | None]:
        """The same for a stage that awaits remote calls, on its event loop."""
        try:
            return self._validated(element, await self._apply.coroutine(element))
        except Exception as error:
            return element, self._rejection(error)

    def _rejection(self, error: Exception) -> Reject:
        if isinstance(error, Reject):
            return error
        # an error that names its own reason (a number too large to check), or a bug or a
        # broken input: neither may end the run
        reason = getattr(error, "reject_reason", "unexpected_error")
        if isinstance(error, RecursionError):  # e.g. fractions nested hundreds deep
            reason = "too_deeply_nested"
        detail = str(error) if reason != "unexpected_error" else f"{type(error).__name__}: {error}"
        return Reject(self._stage, reason, detail[:2000])

    def _validated(self, element: dict, record: dict) -> tuple[dict, Reject | None]:
        # records fresh from a source are checked whole; later stages check what they set
        before = None if self._schema == schemas.STAGES[0] else element
        problem = self._schema and schemas.first_error(self._schema, record, before)
        if problem:
            return element, Reject(self._stage, "schema_violation", problem)
        return record, None

    def _emit(self, outcome: tuple[dict, Reject | None]):
        """The output for an outcome, counted; on the DoFn's own thread."""
        for (namespace, name), amount in TALLY.drain().items():
            self._counter(namespace, name).inc(amount)
        value, reject = outcome
        if reject is None:
            self._out.inc()
            return value
        self._counter(self._stage, "records_rejected").inc()
        self._counter(self._stage, f"rejected_{reject.reason}").inc()
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(value, reject))

    def start_bundle(self) -> None:
        if self._awaiting:
            self._loop = worker_loop()
            self._tasks: set[asyncio.Task] = set()  # the loop keeps only weak references
            self._unfinished = 0
            self._finished: deque = deque()
            self._waiter: asyncio.Future | None = None
            self._ran = time.monotonic()

    def process(self, element: dict, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self._in.inc()
        if not self._awaiting:
            yield self._emit(self._outcome(element))
            return
        task = self._loop.create_task(self._run(element, timestamp, window))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._unfinished += 1
        yield from self._outputs(full=self._unfinished >= self._slots)

    def finish_bundle(self):
        while self._awaiting and (self._unfinished or self._finished):
            yield from self._outputs(full=True)

    async def _run(self, element: dict, timestamp, window) -> None:
        outcome = await self._outcome_async(element)
        self._unfinished -= 1
        self._finished.append((outcome, timestamp, window))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _outputs(self, full: bool):
        """Emits what finished, running the loop first: until an element finishes when all
        slots are taken, else for one round if it has not run for ``LOOP_SECONDS`` (to send
        new requests); new elements wait for the next run, as with a semaphore."""
        if full and not self._finished:
            self._waiter = self._loop.create_future()
            self._loop.run_until_complete(self._waiter)
            self._ran = time.monotonic()
        elif full or time.monotonic() - self._ran > LOOP_SECONDS:
            self._one_round()
        while self._finished:
            outcome, timestamp, window = self._finished.popleft()
            output = self._emit(outcome)
            if isinstance(output, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(output.tag, WindowedValue(output.value, timestamp, [window]))
            else:
                yield WindowedValue(output, timestamp, [window])
            if time.monotonic() - self._ran > LOOP_SECONDS:  # later stages took a while: read replies
                self._one_round()

    def _one_round(self) -> None:
        self._loop.stop()  # stopped before it runs: one round over what is ready, no waiting
        self._loop.run_forever()
        self._ran = time.monotonic()


class ApplyStage(beam.PTransform):
    """``records | ApplyStage(...)`` -> (records that passed, rejects)."""

    def __init__(self, stage: Stage, config) -> None:
        super().__init__(label=stage.name)
        self._fn = StageFn(stage, config)

    def expand(self, records):
        result = records | beam.ParDo(self._fn).with_outputs(REJECTS, main="records")
        return result.records, result[REJECTS]
