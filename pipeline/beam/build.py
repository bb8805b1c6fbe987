"""Assemble the whole pipeline: read, four stages, shards, rejects, summary and card."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.beam.dedup import DropDuplicates
from pipeline.beam.progress import Progress
from pipeline.beam.sink import WriteShards, fill_missing_shards, shard_count, write_json, write_text
from pipeline.beam.source import ReadSource, count_inputs
from pipeline.beam.stage import ApplyStage
from pipeline.config import BuildConfig
from pipeline.dataset.arrow import REJECT_SCHEMA, record_schema
from pipeline.dataset.card import dataset_card
from pipeline.dataset.summary import build_summary, quantiles_by_name, record_stats, record_totals
from pipeline.sources import SourceSpec, contamination
from pipeline.sources.records import SourceFormat
from pipeline.stages import interleave, rewrite, speech, split
from pipeline.tokenizers import load_tokenizer

STAGES = (
    ("rewrite", rewrite.make, "rewrite"),
    ("split", split.make, "split"),
    ("interleave", interleave.make, "interleave"),
    ("speech", speech.make, "record"),
)
REJECT_SHARD_ROWS = 50_000
# Mean bytes of one finished row (two WAV clips and the texts), measured on the first 300
# GSM8K train problems with espeak: 237.6 MB of shards for 299 rows. Turns --shard_bytes
# into a row count.
ESTIMATED_ROW_BYTES = 795_000
TEMP_DIR = "_parts"


def _finalize(_, output: str, source: str, config: BuildConfig, inputs: int, outputs: int,
              rejects: int, reasons: dict, histogram: list, totals: dict, shards: int,
              written: list[int], reject_shards: int, rejects_written: list[int]) -> dict:
    """Runs once, after every shard: fill empty shards, write summary and card."""
    schema = record_schema()
    fill_missing_shards(FileSystems.join(output, "data"), "train", schema, shards, written)
    fill_missing_shards(FileSystems.join(output, "rejects"), "rejects", REJECT_SCHEMA,
                        reject_shards, rejects_written)
    special = load_tokenizer(config.tokenizer).special.as_dict()
    summary = build_summary(source, config.as_dict(), inputs, outputs, rejects, reasons,
                            quantiles_by_name(histogram), totals, shards, special)
    write_json(FileSystems.join(output, "summary.json"), summary)
    write_text(FileSystems.join(output, "README.md"), dataset_card(summary, schema))
    temp = FileSystems.join(output, TEMP_DIR)
    if FileSystems.exists(temp):
        FileSystems.delete([temp])
    return summary


def build_pipeline(pipeline: beam.Pipeline, specs: list[SourceSpec], source_label: str, output: str,
                   config: BuildConfig, limit: int | None = None, shard_rows: int = 250,
                   num_shards: int = 0, generic: SourceFormat | None = None, shard_bytes: int = 0,
                   progress: bool = False):
    """Add every step to ``pipeline``; returns the finished records and all rejects."""
    raws, sourced, rejects = [], [], []
    for number, spec in enumerate(specs):
        raw, records, source_rejects = pipeline | f"Read{number}" >> ReadSource(spec, config, limit, generic)
        raws.append(raw)
        sourced.append(records)
        rejects.append(source_rejects)
    raw = raws | "AllInputs" >> beam.Flatten()
    records = sourced | "AllSources" >> beam.Flatten()
    if config.decontaminate:
        records, contaminated = records | ApplyStage("decontaminate", contamination.make, config, "source")
        rejects.append(contaminated)
    records, duplicates = records | "Deduplicate" >> DropDuplicates()
    rejects.append(duplicates)
    for stage, make, schema in STAGES:
        records, stage_rejects = records | ApplyStage(stage, make, config, schema)
        rejects.append(stage_rejects)
    rejects = rejects | "AllRejects" >> beam.Flatten()

    inputs = raw | "CountInputs" >> beam.combiners.Count.Globally()
    expected_inputs = sum(count_inputs(spec, limit, config.seed) for spec in specs)
    if shard_bytes:
        shard_rows = max(1, shard_bytes // ESTIMATED_ROW_BYTES)
    shards = shard_count(expected_inputs, shard_rows, num_shards)
    if progress:
        _ = records | "Progress" >> Progress(expected_inputs)
    reject_shards = shard_count(expected_inputs, REJECT_SHARD_ROWS, 0)
    temp = FileSystems.join(output, TEMP_DIR)
    written = records | "WriteRecords" >> WriteShards(
        FileSystems.join(output, "data"), "train", record_schema(), FileSystems.join(temp, "data"), shards)
    rejects_written = rejects | "WriteRejects" >> WriteShards(
        FileSystems.join(output, "rejects"), "rejects", REJECT_SCHEMA, FileSystems.join(temp, "rejects"),
        reject_shards)
    outputs = records | "CountOutputs" >> beam.combiners.Count.Globally()
    reject_count = rejects | "CountRejects" >> beam.combiners.Count.Globally()
    reasons = (rejects | "Reason" >> beam.Map(lambda r: f"{r['stage']}/{r['reason']}")
               | "CountReasons" >> beam.combiners.Count.PerElement())
    histogram = (records | "Stats" >> beam.FlatMap(record_stats)
                 | "Histogram" >> beam.combiners.Count.PerElement())
    totals = (records | "Totals" >> beam.FlatMap(record_totals)
              | "SumTotals" >> beam.CombinePerKey(sum))

    side = beam.pvalue
    _ = (pipeline | "Once" >> beam.Create([None])
         | "Finalize" >> beam.Map(
             _finalize, output, source_label, config,
             inputs=side.AsSingleton(inputs), outputs=side.AsSingleton(outputs),
             rejects=side.AsSingleton(reject_count), reasons=side.AsDict(reasons),
             histogram=side.AsList(histogram), totals=side.AsDict(totals),
             shards=shards, written=side.AsList(written), reject_shards=reject_shards,
             rejects_written=side.AsList(rejects_written)))
    return records, rejects
