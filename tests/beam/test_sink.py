"""A shard's bytes depend on its rows only, never on how the runner's bundles cut them."""

import random

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.beam.sink import merge_parts, write_parquet, write_part

SCHEMA = pa.schema([("id", pa.string()), ("source_index", pa.int64()),
                    ("ids", pa.list_(pa.int32())), ("question_audio", pa.binary())])


def _rows(count: int) -> list[dict]:
    draw = random.Random(7)
    return [{"id": f"{draw.getrandbits(64):016x}", "source_index": n,
             "ids": [draw.randrange(150_000) for _ in range(draw.randrange(1, 900))],
             "question_audio": draw.randbytes(draw.randrange(1, 1_500_000))} for n in range(count)]


def test_parts_cut_anywhere_merge_into_the_same_shard_bytes(tmp_path):
    rows = _rows(230)  # three row groups; audio values from a byte to past a page
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
