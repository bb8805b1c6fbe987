"""Assemble the whole pipeline: read, four stages, shards, rejects, summary and card."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.beam.dedup import DropDuplicates
from pipeline.beam.progress import Progress
from pipeline.beam.sink import (
    WriteShards,
    fill_missing_shards,
    shard_count,
    shard_sizes,
    write_json,
    write_text,
)
from pipeline.beam.source import ReadSource, count_inputs
from pipeline.beam.stage import ApplyStage
from pipeline.config import TEXT_ONLY, BuildConfig
from pipeline.dataset.arrow import INTERLEAVING_KEY, REJECT_SCHEMA, record_schema
from pipeline.dataset.card import dataset_card
from pipeline.dataset.publish import check_free_space
from pipeline.dataset.splits import DEFAULT_SPLITS, split_fractions, split_of
from pipeline.dataset.summary import build_summary, quantiles_by_name, record_stats, record_totals
from pipeline.sources import SourceSpec
from pipeline.sources.contamination import DECONTAMINATE
from pipeline.sources.formats import SourceFormat
from pipeline.stages.interleave import INTERLEAVE, layout_description
from pipeline.stages.rewrite import REWRITE
from pipeline.stages.speech import SPEECH
from pipeline.stages.split import SPLIT

# The steps over one record, in order, before and after duplicates are dropped; each runs
# when the config asks for it (``Stage.runs``).
CHECKS = (DECONTAMINATE,)
STAGES = (REWRITE, SPLIT, INTERLEAVE, SPEECH)
REJECT_SHARD_ROWS = 50_000
# Mean bytes of one finished row (two clips and the texts), measured on GSM8K train problems
# with espeak: 271.0 MB of shards for 300 rows as WAV (stored without a codec), 57.2 MB for
# 100 as FLAC, 466 kB for 300 without speech. Turns --shard_bytes into a row count, and a
# build into the disk space it needs.
ESTIMATED_ROW_BYTES = 903_000
ROW_BYTES = {"wav": ESTIMATED_ROW_BYTES, "flac": 572_000, "none": 1_600}


def row_bytes(config: BuildConfig) -> int:
    return ROW_BYTES["none" if config.tts == "none" else config.audio_format]
TEMP_DIR = "_parts"


def _finalize(_, output: str, source: str, config: BuildConfig, schema, inputs: int, outputs: int,
              rejects: int, reasons: dict, histogram: list, totals: dict, shards: dict[str, int],
              written: list[tuple[str, int]], split_counts: dict[str, int], reject_shards: int,
              rejects_written: list[int], license_ids: list[str]) -> dict:
    """Runs once, after every shard: fill empty shards, write summary and card."""
    data = FileSystems.join(output, "data")
    for part, count in shards.items():
        fill_missing_shards(data, part, schema, count, [i for name, i in written if name == part])
    fill_missing_shards(FileSystems.join(output, "rejects"), "rejects", REJECT_SCHEMA,
                        reject_shards, rejects_written)
    splits = {part: {"num_examples": split_counts.get(part, 0), "shards": count,
                     **shard_sizes(output, f"data/{part}-*.parquet")} for part, count in shards.items()}
    splits_rejects = {"num_examples": rejects, "shards": reject_shards,
                      **shard_sizes(output, "rejects/rejects-*.parquet")}
    special = json.loads(schema.metadata[INTERLEAVING_KEY.encode()])["special_tokens"]
    summary = build_summary(source, config.as_dict(), inputs, outputs, rejects, reasons,
                            quantiles_by_name(histogram), totals, sum(shards.values()), special,
                            splits, splits_rejects, license_ids)
    write_json(FileSystems.join(output, "summary.json"), summary)
    write_text(FileSystems.join(output, "README.md"), dataset_card(summary, schema))
    temp = FileSystems.join(output, TEMP_DIR)
    if FileSystems.exists(temp):
        FileSystems.delete([temp])
    return summary


def _applied(records, stages, config: BuildConfig, rejects: list):
    """``records`` through each of ``stages`` the config runs; their rejects join ``rejects``."""
    for stage in stages:
        if stage.runs(config):
            records, stage_rejects = records | ApplyStage(stage, config)
            rejects.append(stage_rejects)
    return records


def build_pipeline(pipeline: beam.Pipeline, specs: list[SourceSpec], source_label: str, output: str,
                   config: BuildConfig, limit: int | None = None, shard_rows: int = 0,
                   num_shards: int = 0, generic: SourceFormat | None = None, shard_bytes: int = 500_000_000,
                   progress: bool = False, splits: str = DEFAULT_SPLITS,
                   license_ids: list[str] | None = None):
    """Add every step to ``pipeline``; returns the finished records and all rejects."""
    raws, sourced, rejects = [], [], []
    for number, spec in enumerate(specs):
        raw, records, source_rejects = pipeline | f"Read{number}" >> ReadSource(spec, config, limit, generic)
        raws.append(raw)
        sourced.append(records)
        rejects.append(source_rejects)
    raw = raws | "AllInputs" >> beam.Flatten()
    records = sourced | "AllSources" >> beam.Flatten()
    records = _applied(records, CHECKS, config, rejects)
    records, duplicates = records | "Deduplicate" >> DropDuplicates()
    rejects.append(duplicates)
    records = _applied(records, STAGES, config, rejects)
    rejects_by_step = list(rejects)
    rejects = rejects | "AllRejects" >> beam.Flatten()

    inputs = raw | "CountInputs" >> beam.combiners.Count.Globally()
    expected_inputs = sum(count_inputs(spec, limit, config.seed) for spec in specs)
    if progress:
        _ = (records, *rejects_by_step) | "Progress" >> Progress(expected_inputs)
    check_free_space(output, expected_inputs * row_bytes(config))
    if not shard_rows:
        shard_rows = max(1, shard_bytes // row_bytes(config))
    fractions = split_fractions(splits)
    shards = {name: shard_count(round(expected_inputs * fraction), shard_rows, num_shards)
              for name, fraction in fractions}
    reject_shards = shard_count(expected_inputs, REJECT_SHARD_ROWS, 0)
    temp = FileSystems.join(output, TEMP_DIR)
    schema = record_schema(
        {"question_audio": config.question_sampling_rate, "response_audio": config.response_sampling_rate},
        layout_description(config.tokenizer, config.p, config.q), text_only=config.tts == TEXT_ONLY)
    names = [name for name, _ in fractions]
    by_split = records | "Split" >> beam.Partition(
        lambda record, _: names.index(split_of(record["id"], fractions)), len(names))
    written = [
        part | f"Write{name.title()}" >> WriteShards(
            FileSystems.join(output, "data"), name, schema, FileSystems.join(temp, "data", name),
            shards[name])
        | f"Tag{name.title()}" >> beam.Map(lambda index, name=name: (name, index))
        for (name, _), part in zip(fractions, by_split, strict=True)
    ] | "AllWritten" >> beam.Flatten()
    split_counts = (records | "SplitOf" >> beam.Map(lambda record: split_of(record["id"], fractions))
                    | "CountSplits" >> beam.combiners.Count.PerElement())
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
             _finalize, output, source_label, config, schema,
             inputs=side.AsSingleton(inputs), outputs=side.AsSingleton(outputs),
             rejects=side.AsSingleton(reject_count), reasons=side.AsDict(reasons),
             histogram=side.AsList(histogram), totals=side.AsDict(totals),
             shards=shards, written=side.AsList(written), split_counts=side.AsDict(split_counts),
             reject_shards=reject_shards, rejects_written=side.AsList(rejects_written),
             license_ids=license_ids or []))
    return records, rejects
