"""Reading a built dataset's Parquet shards: the one reader the trainer and the evaluator share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds


def shard_files(dataset: str | Path, part: str = "data", required: bool = True, split: str = "") -> list[str]:
    """The shards of ``part`` (``data`` or ``rejects``) of a dataset folder, in order; of
    one split (``train``, ``test``...) when ``split`` is given."""
    files = sorted(str(p) for p in Path(dataset).glob(f"{part}/{split}{'-' if split else ''}*.parquet"))
    if required and not files:
        raise FileNotFoundError(f"no {part}/{split}{'-' if split else ''}*.parquet shards under {dataset}")
    return files


def read_rows(files: list[str], columns: list[str] | None = None, batch_rows: int = 256) -> Iterator[dict]:
    """Rows as dicts, a batch at a time (memory holds one batch, not the dataset); of the
    ``columns`` asked for, those the shards have (a text-only build has no audio)."""
    if not files:
        return
    dataset = ds.dataset(files, format="parquet")
    if columns is not None:
        columns = [name for name in columns if name in dataset.schema.names]
    for batch in dataset.to_batches(columns=columns, batch_size=batch_rows):
        yield from batch.to_pylist()


def dataset_rows(dataset: str | Path, part: str = "data", columns: list[str] | None = None) -> Iterator[dict]:
    """Every row of one part of a dataset folder; none when the part has no shards."""
    return read_rows(shard_files(dataset, part, required=False), columns)
