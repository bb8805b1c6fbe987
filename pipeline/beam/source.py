"""Read each ``--source`` into raw inputs, then parse each into a record or a reject.

Raw inputs are JSON rows as bytes, whatever the container: a JSONL line, a Parquet row
or a Hub dataset row, so one parser (and one set of reject reasons) serves them all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import partial

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from pipeline.beam.stage import ApplyStage
from pipeline.seeding import seeded_bytes
from pipeline.sources import EQUATION, GENERIC, SourceSpec
from pipeline.sources.formats import FORMATS, SourceFormat, parse_line
from pipeline.sources.records import generated_record
from pipeline.sources.rows import file_rows, json_rows
from pipeline.stage import Stage, StageFunction

GENERATE_CHUNK = 1000
KNOWN_SPLITS = ("train", "test", "validation")


def _split_of(path: str) -> str:
    stem = posixpath.basename(path).split(".")[0].split("-")[0]
    return stem if stem in KNOWN_SPLITS else "train"


def _sampled(seed: int, origin: str, index: int, weight: float) -> bool:
    """A seeded coin per row: the same rows are chosen on every run and every runner."""
    digest = seeded_bytes(seed, origin, index)
    return int.from_bytes(digest[:8], "big") < weight * 2**64


def _selected(rows: Iterable[bytes], limit: int | None, weight: float, seed: int,
              origin: str) -> Iterator[tuple[int, bytes]]:
    """(0-based row number, bytes) of each non-blank row among the first ``limit``,
    sampled with ``weight``."""
    for index, row in enumerate(rows):
        if limit is not None and index >= limit:
            return
        raw = row.rstrip(b"\r\n")
        if raw.strip() and (weight >= 1 or _sampled(seed, origin, index, weight)):
            yield index, raw


def _hub_dataset(spec: SourceSpec):
    import datasets

    return datasets.load_dataset(spec.dataset, spec.config, split=spec.split)


def _limit(spec: SourceSpec, limit: int | None) -> int | None:
    limits = [n for n in (spec.limit, limit) if n is not None]
    return min(limits) if limits else None


def count_inputs(spec: SourceSpec, limit: int | None, seed: int) -> int:
    """How many raw inputs the source will yield, counted when the pipeline is built (a
    cheap pass over the rows) so shard counts are fixed before any work starts."""
    limit = _limit(spec, limit)
    if spec.kind == "generate":
        return min(spec.count, limit) if limit is not None else spec.count
    if spec.hub:
        rows = json_rows(_hub_dataset(spec))
        return sum(1 for _ in _selected(rows, limit, spec.weight, seed, spec.dataset))
    total = 0
    for match in FileSystems.match([spec.path])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            origin = posixpath.basename(match.path)
            rows = file_rows(match.path, handle)
            total += sum(1 for _ in _selected(rows, limit, spec.weight, seed, origin))
    return total


def _element(spec: SourceSpec, split: str, origin: str, index: int, raw: bytes) -> dict:
    return {"source": spec.name, "split": split, "source_index": index, "raw": raw, "origin": origin}


def _file_inputs(readable: fileio.ReadableFile, spec: SourceSpec, limit: int | None, seed: int):
    path = readable.metadata.path
    origin = posixpath.basename(path)
    with readable.open() as handle:
        for index, raw in _selected(file_rows(path, handle), limit, spec.weight, seed, origin):
            yield _element(spec, _split_of(path), origin, index, raw)


def _hub_inputs(spec: SourceSpec, limit: int | None, seed: int):
    rows = json_rows(_hub_dataset(spec))
    for index, raw in _selected(rows, limit, spec.weight, seed, spec.dataset):
        yield _element(spec, spec.split, spec.dataset, index, raw)


def _generated(start: int, stop: int):
    for index in range(start, stop):
        yield {"source": "generated", "split": "train", "source_index": index}


def line_parser_setup(config, fmt: str | SourceFormat) -> StageFunction:
    return lambda element: parse_line(fmt, element["source"], element["split"],
                                      element["source_index"], element["raw"],
                                      config.max_problem_chars, element["origin"])


def generator_setup(config, level: str) -> StageFunction:
    return lambda element: generated_record(config.seed, element["source_index"], level)


class ReadSource(beam.PTransform):
    """-> (raw inputs, records, rejects). Raw inputs are counted as the run's inputs."""

    def __init__(self, spec: SourceSpec, config, limit: int | None,
                 generic: SourceFormat | None = None) -> None:
        super().__init__()
        self._spec, self._config, self._limit = spec, config, _limit(spec, limit)
        self._format = generic if spec.kind == GENERIC else FORMATS.get(spec.kind)
        if spec.kind == EQUATION and generic:  # its columns named with --field
            self._format = replace(generic, equation=True)

    def expand(self, pbegin):
        spec, seed = self._spec, self._config.seed
        if spec.kind == "generate":
            total = min(spec.count, self._limit) if self._limit is not None else spec.count
            starts = [(s, min(s + GENERATE_CHUNK, total)) for s in range(0, total, GENERATE_CHUNK)]
            raw = (pbegin | "Chunks" >> beam.Create(starts)
                   | "Generate" >> beam.FlatMapTuple(_generated))
            parse = ApplyStage(Stage("source", "source", partial(generator_setup, level=spec.level)),
                               self._config)
        else:
            if spec.hub:
                raw = (pbegin | "Dataset" >> beam.Create([spec])
                       | "Rows" >> beam.FlatMap(_hub_inputs, self._limit, seed))
            else:
                raw = (pbegin | "Match" >> fileio.MatchFiles(spec.path)
                       | "Open" >> fileio.ReadMatches()
                       | "Rows" >> beam.FlatMap(_file_inputs, spec, self._limit, seed))
            parse = ApplyStage(Stage("source", "source", partial(line_parser_setup, fmt=self._format)),
                               self._config)
        raw = raw | "Spread" >> beam.Reshuffle()
        records, rejects = raw | parse
        return raw, records, rejects
