"""Read a ``--source`` into raw inputs, then parse each into a record or a reject."""

from __future__ import annotations

import posixpath
from functools import partial

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from pipeline.beam.stage import ApplyStage
from pipeline.sources import SourceSpec
from pipeline.sources.records import generated_record, parse_line

GENERATE_CHUNK = 1000
KNOWN_SPLITS = ("train", "test", "validation")


def _split_of(path: str) -> str:
    stem = posixpath.basename(path).split(".")[0]
    return stem if stem in KNOWN_SPLITS else "train"


def _raw_lines(handle, limit: int | None):
    """(0-based line number, bytes) of each non-blank line among the first ``limit``."""
    for index, line in enumerate(handle):
        if limit is not None and index >= limit:
            return
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            yield index, raw


def _lines(readable: fileio.ReadableFile, source: str, limit: int | None):
    split = _split_of(readable.metadata.path)
    with readable.open() as handle:
        for index, raw in _raw_lines(handle, limit):
            yield {"source": source, "split": split, "source_index": index, "raw": raw}


def count_inputs(spec: SourceSpec, limit: int | None) -> int:
    """How many raw inputs the source will yield, counted when the pipeline is built (a
    cheap pass over the files' lines) so shard counts are fixed before any work starts."""
    if spec.kind == "generate":
        return min(spec.count, limit) if limit is not None else spec.count
    total = 0
    for match in FileSystems.match([spec.path])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            total += sum(1 for _ in _raw_lines(handle, limit))
    return total


def _generated(start: int, stop: int):
    for index in range(start, stop):
        yield {"source": "generated", "split": "train", "source_index": index}


def make_line_parser(config, fmt: str):
    return lambda element: parse_line(fmt, element["source"], element["split"],
                                      element["source_index"], element["raw"],
                                      config.max_problem_chars)


def make_generator(config):
    return lambda element: generated_record(config.seed, element["source_index"])


class ReadSource(beam.PTransform):
    """-> (raw inputs, records, rejects). Raw inputs are counted as the run's inputs."""

    def __init__(self, spec: SourceSpec, config, limit: int | None) -> None:
        super().__init__()
        self._spec, self._config, self._limit = spec, config, limit

    def expand(self, pbegin):
        spec = self._spec
        if spec.kind == "generate":
            total = min(spec.count, self._limit) if self._limit is not None else spec.count
            starts = [(s, min(s + GENERATE_CHUNK, total)) for s in range(0, total, GENERATE_CHUNK)]
            raw = (pbegin | "Chunks" >> beam.Create(starts)
                   | "Generate" >> beam.FlatMapTuple(_generated))
            parse = ApplyStage("source", make_generator, self._config, "source")
        else:
            raw = (pbegin | "Match" >> fileio.MatchFiles(spec.path)
                   | "Open" >> fileio.ReadMatches()
                   | "Lines" >> beam.FlatMap(_lines, spec.name, self._limit))
            parse = ApplyStage("source", partial(make_line_parser, fmt=spec.kind), self._config,
                               "source")
        raw = raw | "Spread" >> beam.Reshuffle()
        records, rejects = raw | parse
        return raw, records, rejects
