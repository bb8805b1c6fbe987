"""Decontamination: drop training problems that share a long word n-gram with a
benchmark question, so a model is never trained on the test it is scored on."""

from __future__ import annotations

import json
import posixpath

from apache_beam.io.filesystems import FileSystems

from pipeline.reject import Reject
from pipeline.sources.rows import file_rows
from pipeline.stage import Stage, StageFunction
from pipeline.text.verbalize import plain_words

STAGE = "source"
TEXT_FIELDS = ("question", "problem", "query", "prompt", "text")
ID_FIELDS = ("id", "idx", "unique_id", "problem_id")
def _grams(text: str, n: int):
    tokens = plain_words(text)
    return (" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


class BenchmarkIndex:
    """Every ``n``-word sequence of the benchmark questions, with the question it is from."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._owner: dict[str, str] = {}

    def add(self, benchmark_id: str, question: str) -> None:
        for gram in _grams(question, self.n):
            self._owner.setdefault(gram, benchmark_id)

    def __len__(self) -> int:
        return len(self._owner)

    def match(self, text: str) -> tuple[str, str] | None:
        """(benchmark id, shared n-gram) of the first overlap, or None."""
        for gram in _grams(text, self.n):
            if gram in self._owner:
                return self._owner[gram], gram
        return None


def _row_text(row: dict) -> str:
    for field in TEXT_FIELDS:
        if isinstance(row.get(field), str):
            return row[field]
    raise ValueError(f"a benchmark row has none of the fields {', '.join(TEXT_FIELDS)}")


def load_index(patterns: tuple[str, ...], n: int) -> BenchmarkIndex:
    """Read benchmark JSONL or Parquet files (globs, ``gs://``...) into an index."""
    index = BenchmarkIndex(n)
    for pattern in patterns:
        matches = FileSystems.match([pattern])[0].metadata_list
        if not matches:
            raise FileNotFoundError(f"no benchmark file matches {pattern!r}")
        for match in matches:
            name = posixpath.basename(match.path)
            with FileSystems.open(match.path) as handle:
                for line, raw in enumerate(file_rows(match.path, handle)):
                    if raw.strip():
                        row = json.loads(raw)
                        key = next((str(row[f]) for f in ID_FIELDS if f in row), str(line))
                        index.add(f"{name}:{key}", _row_text(row))
    return index


def check_clean(record: dict, index: BenchmarkIndex) -> dict:
    found = index.match(record["problem"])
    if found:
        benchmark_id, gram = found
        raise Reject(STAGE, "contaminated", f"shares {index.n} words with {benchmark_id}: {gram!r}")
    return record


def setup(config) -> StageFunction:
    index = load_index(config.decontaminate, config.ngram)
    return lambda record: check_clean(record, index)


def decontaminates(config) -> bool:
    return bool(config.decontaminate)


DECONTAMINATE = Stage("decontaminate", "source", setup, decontaminates)
