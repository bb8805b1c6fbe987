"""Exact duplicate removal across sources: one record per normalized problem text."""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.beam.stage import REJECTS, reject_row
from pipeline.reject import Reject
from pipeline.text.verbalize import plain_words


def problem_key(record: dict) -> str:
    return hashlib.sha256(" ".join(plain_words(record["problem"])).encode()).hexdigest()


class _KeepFirst(beam.DoFn):
    """Keeps the record with the smallest id, so every runner keeps the same one."""

    def setup(self) -> None:
        self._duplicates = Metrics.counter("source", "rejected_duplicate")

    def process(self, keyed):
        _, group = keyed
        kept, *others = sorted(group, key=lambda record: record["id"])
        yield kept
        for record in others:
            self._duplicates.inc()
            detail = (f"same problem as {kept['id']} ({kept['source']} row {kept['source_index']})")
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(record, Reject("source", "duplicate",
                                                                            detail)))


class DropDuplicates(beam.PTransform):
    """``records | DropDuplicates()`` -> (unique records, duplicate rejects)."""

    def expand(self, records):
        result = (records | "Key" >> beam.Map(lambda record: (problem_key(record), record))
                  | "Group" >> beam.GroupByKey()
                  | "KeepFirst" >> beam.ParDo(_KeepFirst()).with_outputs(REJECTS, main="records"))
        return result.records, result[REJECTS]
