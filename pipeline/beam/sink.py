"""Write records and rejects as Parquet shards in the Hub layout, then the summary and
the dataset card, once, after every shard is written.

Shard ``i`` of ``n`` holds the records whose id hashes to ``i``, sorted by id, so the
same inputs give byte-identical shards whatever the runner, its parallelism or the
order in which records arrive. Rows go first to small sorted part files (a worker buffers
at most ``flush_rows`` of them); only part paths are shuffled; each shard is then merged
from its parts. Memory stays bounded by one shard, not by the dataset.
"""

from __future__ import annotations

import heapq
import json
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.dataset.arrow import has_audio
from pipeline.seeding import seeded_bytes

ROW_GROUP_SIZE = 100
# Rows a worker buffers before it writes them as parts: about 90 MB either way (a row with
# its two WAV clips is about 900 kB, one without audio about 16 kB in memory). Every flush
# writes a part per shard it holds rows for, so text rows flushed 100 at a time made parts
# of a few rows each, most of the sink's time.
FLUSH_ROWS_WITH_AUDIO = 100
FLUSH_ROWS_WITHOUT_AUDIO = 5_000


def shard_count(rows: int, shard_rows: int, num_shards: int) -> int:
    """A fixed count when given, else enough shards of at most ``shard_rows`` rows."""
    return num_shards or max(1, -(-rows // shard_rows))


def shard_of(record_id: str, shards: int) -> int:
    return int.from_bytes(seeded_bytes(record_id)[:6], "big") % shards


def shard_path(directory: str, prefix: str, index: int, shards: int) -> str:
    return FileSystems.join(directory, f"{prefix}-{index:05d}-of-{shards:05d}.parquet")


def column_codecs(schema: pa.Schema) -> dict[str, str]:
    """zstd for every column but audio: PCM WAV shrinks only to about 0.81 with it and FLAC
    not at all, while compressing it costs more than the rest of the sink together."""
    return {field.name: "none" if field.name.endswith("_audio") else "zstd" for field in schema}


def flush_rows(schema: pa.Schema) -> int:
    return FLUSH_ROWS_WITH_AUDIO if has_audio(schema.names) else FLUSH_ROWS_WITHOUT_AUDIO


def write_parquet(table: pa.Table, path: str) -> None:
    """Row groups of ``ROW_GROUP_SIZE`` rows. The writer checks whether to end a page after
    every value (``write_batch_size=1``), so the bytes do not depend on how a column is cut
    into chunks (the chunks of a merged shard follow the runner's bundles) and an audio
    page holds about a megabyte, not a whole row group; no copy makes the columns
    contiguous first. An empty table is written with no row group at all: ``datasets``
    cannot read a row group of 0 rows (it takes the first group's size as its batch size)."""
    with FileSystems.create(path) as handle, pq.ParquetWriter(
            handle, table.schema, compression=column_codecs(table.schema), write_batch_size=1) as writer:
        for start in range(0, table.num_rows, ROW_GROUP_SIZE):
            writer.write_table(table.slice(start, ROW_GROUP_SIZE), row_group_size=ROW_GROUP_SIZE)


def write_table(rows: list[dict], schema: pa.Schema, path: str) -> None:
    write_parquet(pa.Table.from_pylist(rows, schema=schema), path)


def _order(row: dict) -> tuple[str, int]:
    return row["id"], row["source_index"]


def write_part(rows: list[dict], schema: pa.Schema, path: str) -> None:
    """Rows of one shard, sorted, as an Arrow IPC stream: read back once by the merge, so
    neither compressed nor encoded."""
    table = pa.Table.from_pylist(sorted(rows, key=_order), schema=schema)
    with FileSystems.create(path) as handle, pa.ipc.new_stream(handle, schema) as stream:
        stream.write_table(table)


def merge_parts(paths: list[str]) -> pa.Table:
    """The rows of sorted parts in one sorted table, made of slices of the parts: the audio
    is never copied to be reordered."""
    parts = []
    for path in sorted(paths):
        with FileSystems.open(path) as handle:
            parts.append(pa.ipc.open_stream(handle).read_all())
    keys = [list(zip(part["id"].to_pylist(), part["source_index"].to_pylist(), strict=True))
            for part in parts]
    merged = heapq.merge(*([(key, number, row) for row, key in enumerate(part_keys)]
                           for number, part_keys in enumerate(keys)))
    runs: list[list[int]] = []  # [part, first row, rows]
    for _, number, row in merged:
        if runs and runs[-1][0] == number and runs[-1][1] + runs[-1][2] == row:
            runs[-1][2] += 1
        else:
            runs.append([number, row, 1])
    return pa.concat_tables([parts[number].slice(first, count) for number, first, count in runs])


class _WriteParts(beam.DoFn):
    """Buffers rows by shard and writes them to part files every ``flush_rows`` rows, so
    a worker never holds more than that many rows, however large the bundle. Emits
    ((shard, shards), part path) for each part written."""

    def __init__(self, temp_dir: str, schema: pa.Schema, shards: int, flush_rows: int) -> None:
        self._temp_dir, self._schema = temp_dir, schema
        self._shards, self._flush_rows = shards, flush_rows

    def start_bundle(self) -> None:
        self._buffers: dict[tuple[int, int], list[dict]] = {}
        self._buffered = 0

    def _flush(self):
        for key, rows in sorted(self._buffers.items()):
            path = FileSystems.join(self._temp_dir, f"shard-{key[0]:05d}", f"{uuid.uuid4().hex}.arrows")
            write_part(rows, self._schema, path)
            yield key, path
        self._buffers, self._buffered = {}, 0

    def process(self, row: dict):
        key = (shard_of(row["id"], self._shards), self._shards)
        self._buffers.setdefault(key, []).append(row)
        self._buffered += 1
        if self._buffered >= self._flush_rows:
            yield from self._flush()

    def finish_bundle(self):
        for item in self._flush():
            yield WindowedValue(item, MIN_TIMESTAMP, [GlobalWindow()])


def merge_shard(item, directory: str, prefix: str, schema: pa.Schema) -> int:
    """Merge a shard's sorted parts and write the shard; one shard in memory at a time."""
    (index, shards), paths = item
    write_parquet(merge_parts(paths).replace_schema_metadata(schema.metadata),
                  shard_path(directory, prefix, index, shards))
    return index


class WriteShards(beam.PTransform):
    """rows -> indices of the shards written.

    The shard count is fixed when the pipeline is built, not read from a side input: on
    the local runners a side input on this step would stop it from fusing with the
    stages before it, and every finished row (audio included) would be held in memory.
    """

    def __init__(self, directory: str, prefix: str, schema: pa.Schema, temp_dir: str, shards: int) -> None:
        super().__init__()
        self._directory, self._prefix, self._schema = directory, prefix, schema
        self._temp_dir, self._shards = temp_dir, shards

    def expand(self, rows):
        parts = rows | "WriteParts" >> beam.ParDo(
            _WriteParts(self._temp_dir, self._schema, self._shards, flush_rows(self._schema)))
        return (parts | "GroupParts" >> beam.GroupByKey()
                | "Merge" >> beam.Map(merge_shard, self._directory, self._prefix, self._schema))


def fill_missing_shards(directory: str, prefix: str, schema: pa.Schema, shards: int,
                        written: list[int]) -> None:
    """Write empty shards where no row hashed, so every ``i-of-n`` file exists."""
    for index in sorted(set(range(shards)) - set(written)):
        write_table([], schema, shard_path(directory, prefix, index, shards))


def shard_sizes(output: str, pattern: str) -> dict[str, int]:
    """The bytes of the shards matching ``pattern`` under ``output``: ``num_bytes`` as the
    Hub counts them (uncompressed, as Arrow holds them) and ``file_bytes`` on disk."""
    num_bytes = file_bytes = 0
    for match in FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list:
        file_bytes += match.size_in_bytes
        with FileSystems.open(match.path) as handle:
            metadata = pq.ParquetFile(handle).metadata
        num_bytes += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    return {"num_bytes": num_bytes, "file_bytes": file_bytes}


def write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(text.encode("utf-8"))


def write_json(path: str, value: dict) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
