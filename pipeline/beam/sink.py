"""Write records and rejects as Parquet shards in the Hub layout, then the summary and
the dataset card, once, after every shard is written.

Shard ``i`` of ``n`` holds the records whose id hashes to ``i``, sorted by id, so the
same inputs give byte-identical shards whatever the runner, its parallelism or the
order in which records arrive.
"""

from __future__ import annotations

import hashlib
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

ROW_GROUP_SIZE = 100


def shard_count(rows: int, shard_rows: int, num_shards: int) -> int:
    """A fixed count when given, else enough shards of at most ``shard_rows`` rows."""
    return num_shards or max(1, -(-rows // shard_rows))


def shard_of(record_id: str, shards: int) -> int:
    return int(hashlib.sha256(record_id.encode()).hexdigest()[:12], 16) % shards


def shard_path(directory: str, prefix: str, index: int, shards: int) -> str:
    return FileSystems.join(directory, f"{prefix}-{index:05d}-of-{shards:05d}.parquet")


def write_table(rows: list[dict], schema: pa.Schema, path: str) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with FileSystems.create(path) as handle:
        pq.write_table(table, handle, row_group_size=ROW_GROUP_SIZE, compression="zstd")


def _write_shard(item, directory: str, prefix: str, schema: pa.Schema) -> int:
    (index, shards), rows = item
    rows = sorted(rows, key=lambda r: (r["id"], r["source_index"], r.get("stage", "")))
    write_table(rows, schema, shard_path(directory, prefix, index, shards))
    return index


class WriteShards(beam.PTransform):
    """rows -> the indices of the shards written, plus the shard count (side input)."""

    def __init__(self, directory: str, prefix: str, schema: pa.Schema, shard_rows: int,
                 num_shards: int = 0) -> None:
        super().__init__()
        self._directory, self._prefix, self._schema = directory, prefix, schema
        self._shard_rows, self._num_shards = shard_rows, num_shards

    def expand(self, rows):
        count = rows | "Count" >> beam.combiners.Count.Globally()
        shards = count | "Shards" >> beam.Map(shard_count, self._shard_rows, self._num_shards)
        keyed = rows | "Key" >> beam.Map(
            lambda row, n: ((shard_of(row["id"], n), n), row), n=beam.pvalue.AsSingleton(shards)
        )
        written = (keyed | "Group" >> beam.GroupByKey()
                   | "Write" >> beam.Map(_write_shard, self._directory, self._prefix, self._schema))
        return written, shards, count


def fill_missing_shards(directory: str, prefix: str, schema: pa.Schema, shards: int,
                        written: list[int]) -> None:
    """Write empty shards where no row hashed, so every ``i-of-n`` file exists."""
    for index in sorted(set(range(shards)) - set(written)):
        write_table([], schema, shard_path(directory, prefix, index, shards))


def write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(text.encode("utf-8"))


def write_json(path: str, value: dict) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
