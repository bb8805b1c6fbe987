"""A shard's bytes depend on its rows only, never on how the runner's bundles cut them."""

import random

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.beam.sink import _WriteParts, flush_rows, merge_parts, write_parquet, write_part

SCHEMA = pa.schema([("id", pa.string()), ("source_index", pa.int64()),
                    ("ids", pa.list_(pa.int32())), ("question_audio", pa.binary())])


def _rows(count: int) -> list[dict]:
    draw = random.Random(7)
    return [{"id": f"{draw.getrandbits(64):016x}", "source_index": n,
             "ids": [draw.randrange(150_000) for _ in range(draw.randrange(1, 900))],
             "question_audio": draw.randbytes(draw.randrange(1, 1_500_000 if n % 10 == 0 else 50_000))}
            for n in range(count)]


def test_parts_cut_anywhere_merge_into_the_same_shard_bytes(tmp_path):
    rows = _rows(230)  # three row groups; audio values from a byte to past a page (one in ten)
    shards = []
    for layout, size in enumerate((230, 1, 37, 100)):
        folder = tmp_path / str(layout)
        folder.mkdir()
        shuffled = random.Random(layout).sample(rows, len(rows))
        parts = []
        for first in range(0, len(rows), size):
            parts.append(str(folder / f"{first:05d}.arrows"))
            write_part(shuffled[first:first + size], SCHEMA, parts[-1])
        merged = merge_parts(parts)
        assert (merged["question_audio"].num_chunks > 1) == (len(parts) > 1)
        write_parquet(merged, str(folder / "shard.parquet"))
        shards.append((folder / "shard.parquet").read_bytes())
    assert all(shard == shards[0] for shard in shards)
    table = pq.read_table(tmp_path / "0" / "shard.parquet")
    assert table.to_pylist() == sorted(rows, key=lambda row: (row["id"], row["source_index"]))
    metadata = pq.ParquetFile(tmp_path / "0" / "shard.parquet").metadata
    assert [metadata.row_group(n).num_rows for n in range(metadata.num_row_groups)] == [100, 100, 30]


def _parts_written(rows: list[dict], schema: pa.Schema, folder) -> int:
    """Rows through the part writer as one bundle over three shards: how many parts."""
    writer = _WriteParts(str(folder), schema, 3, flush_rows(schema))
    writer.start_bundle()
    parts = [part for row in rows for part in writer.process(row)]
    parts += [value.value for value in writer.finish_bundle()]
    assert sum(pa.ipc.open_stream(path).read_all().num_rows for _, path in parts) == len(rows)
    return len(parts)


def test_a_worker_buffers_rows_by_their_weight_text_rows_make_few_parts(tmp_path):
    rows = _rows(250)
    text_schema = pa.schema([field for field in SCHEMA if field.name != "question_audio"])
    text_rows = [{key: value for key, value in row.items() if key != "question_audio"} for row in rows]
    assert _parts_written(rows, SCHEMA, tmp_path / "audio") == 9  # at 100 and 200 rows, and at the end
    assert _parts_written(text_rows, text_schema, tmp_path / "text") == 3  # once, at the end
