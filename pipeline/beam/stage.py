"""Run a per-record stage function as a Beam DoFn with a dead-letter output.

A record that a stage rejects, or that makes it fail unexpectedly, leaves through the
``rejects`` output with the stage, a reason and the record, so a run never loses a
record silently and never dies of one bad record.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

import schemas
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
        self._rejected = Metrics.counter(self._stage, "records_rejected")

    def _reject(self, element: dict, reject: Reject):
        self._rejected.inc()
        Metrics.counter(self._stage, f"rejected_{reject.reason}").inc()
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(element, reject))

    def process(self, element: dict):
        self._in.inc()
        try:
            record = self._apply(element)
        except Reject as reject:
            yield self._reject(element, reject)
            return
        except Exception as error:  # a bug or a broken input must not end the run
            detail = f"{type(error).__name__}: {error}"
            yield self._reject(element, Reject(self._stage, "unexpected_error", detail))
            return
        problem = self._schema and schemas.first_error(self._schema, record)
        if problem:
            yield self._reject(element, Reject(self._stage, "schema_violation", problem))
            return
        self._out.inc()
        yield record


class ApplyStage(beam.PTransform):
    """``records | ApplyStage(...)`` -> (records that passed, rejects)."""

    def __init__(self, stage: str, make: Callable, config, schema: str | None = None) -> None:
        super().__init__(label=stage)
        self._fn = StageFn(stage, make, config, schema)

    def expand(self, records):
        result = records | beam.ParDo(self._fn).with_outputs(REJECTS, main="records")
        return result.records, result[REJECTS]
