"""A small dataset built once per test session by the real pipeline, for tests of its readers."""

from pathlib import Path

from pipeline.cli import run


def build_small_dataset(folder: Path, count: int = 48) -> Path:
    run(["--source", f"generate:{count}", "--output", str(folder), "--num_shards", "2"])
    return folder
