"""Reading a built dataset's Parquet shards: the one reader the trainer and the evaluator share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import yaml

CONFIGS = {"data": "default", "rejects": "rejects"}


def card_globs(dataset: str | Path, part: str) -> list[tuple[str, str]] | None:
    """(split, glob) for each split of ``part`` as the folder's card names them, the files
    ``datasets.load_dataset`` reads; ``None`` for a folder without a card of ours."""
    card = Path(dataset, "README.md")
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        return None
    try:
        front = yaml.safe_load(text[4:text.index("\n---\n", 3)])
        configs = {config["config_name"]: config for config in front["configs"]}
    except (yaml.YAMLError, TypeError, KeyError):
        return None
    config = configs.get(CONFIGS[part], {"data_files": []})
    return [(files["split"], files["path"]) for files in config["data_files"]]


def shard_files(dataset: str | Path, part: str = "data", required: bool = True, split: str = "") -> list[str]:
    """The shards of ``part`` (``data`` or ``rejects``) of a dataset folder, in order; of
    one split (``train``, ``test``...) when ``split`` is given. A folder with a card gives
    the files its card names (an interrupted publish may have left others beside them)."""
    globs = card_globs(dataset, part)
    if globs is None:
        globs = [(split, f"{part}/{split}{'-' if split else ''}*.parquet")]
    files = sorted({str(p) for name, pattern in globs if not split or name == split
                    for p in Path(dataset).glob(pattern)})
    if required and not files:
        wanted = " or ".join(pattern for name, pattern in globs if not split or name == split)
        raise FileNotFoundError(f"no {wanted} shards under {dataset}" if wanted else
                                f"the card of {dataset} names no {part} {split} shards")
    return files


def read_rows(files: list[str], columns: list[str] | None = None, batch_rows: int = 256) -> Iterator[dict]:
    """Rows as dicts, a batch at a time (memory holds one batch, not the dataset); of the
    ``columns`` asked for, those the shards have (a text-only build has no audio)."""
    for path in files:  # shard by shard, not through pyarrow.dataset: it takes 0.3 s to import
        shard = pq.ParquetFile(path)
        wanted = None if columns is None else [name for name in columns if name in shard.schema_arrow.names]
        for batch in shard.iter_batches(batch_size=batch_rows, columns=wanted):
            yield from batch.to_pylist()


def dataset_rows(dataset: str | Path, part: str = "data", columns: list[str] | None = None) -> Iterator[dict]:
    """Every row of one part of a dataset folder; none when the part has no shards."""
    return read_rows(shard_files(dataset, part, required=False), columns)
