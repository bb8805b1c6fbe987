"""Run a per-record stage function as a Beam DoFn with a dead-letter output.

A record that a stage rejects, or that makes it fail unexpectedly, leaves through the
``rejects`` output with the stage, a reason and the record, so a run never loses a
record silently and never dies of one bad record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

import schemas
from pipeline.llm.client import LLMStage
from pipeline.llm.usage import USAGE
from pipeline.reject import Reject
from pipeline.sources.records import raw_text, record_id

REJECTS = "rejects"
MAX_REJECT_RECORD_CHARS = 100_000


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
    """Applies ``make(config)`` (built once per worker in ``setup``) to each element."""

    def __init__(self, stage: str, make: Callable, config, schema: str | None) -> None:
        self._stage, self._make, self._config, self._schema = stage, make, config, schema

    def setup(self) -> None:
        self._apply = self._make(self._config)
        self._in = Metrics.counter(self._stage, "records_in")
        self._out = Metrics.counter(self._stage, "records_out")

    def _outcome(self, element: dict) -> tuple[dict, Reject | None]:
        """(record, None) or (element, why it is rejected); runs on any thread."""
        try:
            return self._validated(element, self._apply(element))
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
        # a bug or a broken input must not end the run
        return Reject(self._stage, "unexpected_error", f"{type(error).__name__}: {error}")

    def _validated(self, element: dict, record: dict) -> tuple[dict, Reject | None]:
        # records fresh from a source are checked whole; later stages check what they set
        before = None if self._schema == schemas.STAGES[0] else element
        problem = self._schema and schemas.first_error(self._schema, record, before)
        if problem:
            return element, Reject(self._stage, "schema_violation", problem)
        return record, None

    def _emit(self, outcome: tuple[dict, Reject | None]):
        """The output for an outcome, counted; on the DoFn's own thread."""
        for name, amount in USAGE.drain().items():
            Metrics.counter("llm", name).inc(amount)
        value, reject = outcome
        if reject is None:
            self._out.inc()
            return value
        Metrics.counter(self._stage, "records_rejected").inc()
        Metrics.counter(self._stage, f"rejected_{reject.reason}").inc()
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(value, reject))

    def process(self, element: dict):
        self._in.inc()
        yield self._emit(self._outcome(element))


class ConcurrentStageFn(StageFn):
    """The same, with up to ``concurrency`` elements in flight, for stages that wait on
    remote calls: as coroutines on the stage's event loop (``LLMStage``), else on a thread
    pool. Finished elements leave as they finish; the rest leave at the end of the bundle,
    in the window they came in."""

    def __init__(self, stage: str, make: Callable, config, schema: str | None, concurrency: int) -> None:
        super().__init__(stage, make, config, schema)
        self._concurrency = concurrency

    def setup(self) -> None:
        super().setup()
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix=self._stage)

    def start_bundle(self) -> None:
        self._pending: dict[Future, tuple] = {}

    def _finished(self, block: bool):
        if block:
            wait(self._pending, return_when=FIRST_COMPLETED)
        for future in [f for f in self._pending if f.done()]:
            timestamp, window = self._pending.pop(future)
            yield future.result(), timestamp, window

    def process(self, element: dict, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self._in.inc()
        if isinstance(self._apply, LLMStage):
            future = self._apply.loop.submit(self._outcome_async(element))
        else:
            future = self._pool.submit(self._outcome, element)
        self._pending[future] = (timestamp, window)
        for outcome, _, _ in self._finished(block=len(self._pending) >= self._concurrency):
            yield self._emit(outcome)

    def finish_bundle(self):
        while self._pending:
            for outcome, timestamp, window in self._finished(block=True):
                output = self._emit(outcome)
                if isinstance(output, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(output.tag,
                                                   WindowedValue(output.value, timestamp, [window]))
                else:
                    yield WindowedValue(output, timestamp, [window])

    def teardown(self) -> None:
        self._pool.shutdown(wait=True)


class ApplyStage(beam.PTransform):
    """``records | ApplyStage(...)`` -> (records that passed, rejects). ``concurrency``
    above 1 runs that many elements at once per worker (for remote calls)."""

    def __init__(self, stage: str, make: Callable, config, schema: str | None = None,
                 concurrency: int = 1) -> None:
        super().__init__(label=stage)
        self._fn = (ConcurrentStageFn(stage, make, config, schema, concurrency) if concurrency > 1
                    else StageFn(stage, make, config, schema))

    def expand(self, records):
        result = records | beam.ParDo(self._fn).with_outputs(REJECTS, main="records")
        return result.records, result[REJECTS]
