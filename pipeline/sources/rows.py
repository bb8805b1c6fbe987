"""Rows of a JSONL or Parquet file as JSON bytes, so one parser serves both."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pyarrow.parquet as pq

PARQUET_BATCH_ROWS = 1024
BINARY_MARKER = "$binary_bytes"


def _json_value(value):
    """Binary cells are UTF-8 text where they decode; other bytes stay bytes, a marker the
    parser rejects as ``wrong_type``, never the text "b'...'" spoken aloud."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {BINARY_MARKER: len(value)}
    return str(value)


def json_rows(rows: Iterable[dict]) -> Iterator[bytes]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, default=_json_value).encode("utf-8")


def file_rows(path: str, handle) -> Iterable[bytes]:
    """The rows of an open file: its lines, or a Parquet file's rows as JSON."""
    if not path.endswith(".parquet"):
        return handle
    return (row for batch in pq.ParquetFile(handle).iter_batches(batch_size=PARQUET_BATCH_ROWS)
            for row in json_rows(batch.to_pylist()))
