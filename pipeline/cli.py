"""``python -m pipeline``: build a spoken-math dataset.

The app's own flags are parsed here; every other flag (``--runner``,
``--num_workers``, ``--direct_num_workers``, ...) goes to Beam untouched.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from pipeline.beam.build import build_pipeline
from pipeline.beam.loopback import serve_on_loopback
from pipeline.beam.progress import close_progress
from pipeline.beam.sink import write_json, write_text
from pipeline.config import BuildConfig, RunOptions
from pipeline.dataset.publish import (
    NoSpace,
    check_writable,
    has_dataset,
    incomplete,
    keep_failed,
    no_space,
    output_lock,
    publish,
    remove_leftovers,
    start_staging,
)
from pipeline.dataset.summary import format_summary
from pipeline.dry_run import format_projection, project
from pipeline.flags import RECIPE, resolve, resolved_recipe
from pipeline.llm.batch import build_in_batches
from pipeline.llm.client import batch_client
from pipeline.remote import SERVICE_KINDS
from pipeline.sources import EQUATION, GENERIC, check_sources, parse_source, source_licenses
from pipeline.sources.contamination import load_index
from pipeline.sources.formats import generic_format
from pipeline.tokenizers import load_tokenizer

# Rejects that say a service was down, not that the record was bad.
# A run whose every record failed with these (an endpoint down, throttled, refusing the key)
# failed on a service, not on its data.
SERVICE_REASONS = {f"{service}_{kind}" for service in ("llm", "tts", "asr")
                   for kind in (*SERVICE_KINDS, "http_error")} | {
    "llm_rate_limiter_unreachable", "llm_batch_failed", "llm_batch_pending"}
GLOB_CHARACTERS = "*?[]{}"


def _all_on_this_machine(beam_args: list[str]) -> bool:
    """Whether the runner and all its workers live here (so nothing must reach us from outside)."""
    options = PipelineOptions(beam_args)
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    endpoint = options.view_as(PortableOptions).job_endpoint or "embed"
    return runner in ("DirectRunner", "PrismRunner") or (
        runner == "PortableRunner" and endpoint.rpartition(":")[0] in ("", "localhost", "127.0.0.1", "[::1]"))


def _local(beam_args: list[str]) -> bool:
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner or "DirectRunner"
    return runner in ("DirectRunner", "PrismRunner", "PortableRunner")


def run(argv: list[str] | None = None) -> dict:
    return build_dataset(*resolve(argv))


def build_dataset(run_options: RunOptions, config: BuildConfig, beam_args: list[str]) -> dict:
    """Check the sources and services, build into the staging folder, then publish."""
    output = run_options.output
    if any(character in output for character in GLOB_CHARACTERS):
        raise SystemExit(f"--output {output!r} has a glob character ({GLOB_CHARACTERS}): name one folder")
    sources = list(run_options.source)
    try:
        specs = [parse_source(source) for source in sources]
        mapping = dict(field.split("=", 1) for field in run_options.field if "=" in field)
        generic = generic_format(mapping) if any(s.kind == GENERIC for s in specs) or (
            mapping and any(s.kind == EQUATION for s in specs)) else None
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if len(mapping) != len(run_options.field):
        raise SystemExit("--field takes NAME=COLUMN")
    try:
        check_sources(specs)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    check_services(config)
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args.append("--runner=DirectRunner")
    try:
        check_writable(output, [m.path for s in specs if s.path and not s.hub
                                for m in FileSystems.match([s.path])[0].metadata_list])
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if _all_on_this_machine(beam_args):
        serve_on_loopback()
    progress = not run_options.no_progress and _local(beam_args)

    def build(run_specs, folder: str, run_config: BuildConfig, show_progress: bool = False):
        pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
        build_pipeline(pipeline, run_specs, " + ".join(sources), folder, run_config, run_options.limit,
                       run_options.shard_rows, run_options.num_shards, generic, run_options.shard_bytes,
                       progress=show_progress, splits=run_options.splits,
                       license_ids=source_licenses(specs, run_options.license))
        result = pipeline.run()
        result.wait_until_finish()
        close_progress()
        with FileSystems.open(FileSystems.join(folder, "summary.json")) as handle:
            return json.loads(handle.read()), result

    if run_options.dry_run:
        projected = project(specs, run_options, config, lambda *args: build(*args)[0])
        print(format_projection(projected))
        return projected
    # Beam logs a failing step's traceback and then raises it: the raise alone tells it (in
    # one line where the failure is the user's to fix, such as a full disk)
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    with output_lock(output):
        remove_leftovers(output)
        staging = start_staging(output)
        try:
            started = time.perf_counter()
            if config.llm_batch_dir:
                summary, result = build_in_batches(
                    lambda pass_config: build(specs, staging, pass_config, progress), config,
                    batch_client(config), lambda: start_staging(output))
            else:
                summary, result = build(specs, staging, config, progress)
            elapsed = time.perf_counter() - started
            if config.tts_cache_dir:  # what the rerun of a killed or re-tuned build did not pay for
                summary["tts_cache"] = speech_cache_counts(result)
                write_json(FileSystems.join(staging, "summary.json"), summary)
            if run_options.price_tts:
                summary["totals"]["tts_estimated_cost"] = round(
                    summary["totals"].get("tts_characters", 0) * run_options.price_tts / 1e6, 4)
                write_json(FileSystems.join(staging, "summary.json"), summary)
            write_text(FileSystems.join(staging, RECIPE), resolved_recipe(run_options, config))
            print(format_summary(summary))
            if "openai" in (config.llm, config.judge):
                usage = llm_usage(result, run_options.price_in, run_options.price_out)
                write_json(FileSystems.join(staging, "llm_usage.json"), usage)
                print("llm: " + ", ".join(f"{name} {value:,}" for name, value in usage.items()))
            problem = incomplete(staging, summary)
            if problem:
                failed = keep_failed(staging, output)
                raise SystemExit(f"{problem}; {output} is kept as it was, this run's files are in {failed}")
            failure = service_failure(summary)
            if failure and has_dataset(output) and not run_options.replace_on_failure:
                failed = keep_failed(staging, output)
                raise SystemExit(f"{failure}; is the service up? {output} is kept as it was; this run's "
                                 f"rejects are in {failed}/rejects (--replace_on_failure replaces the "
                                 "dataset anyway)")
            publish(staging, output)
        except Exception as error:
            if not no_space(error):
                raise
            if FileSystems.exists(staging):
                FileSystems.delete([staging])
            remove_leftovers(output)
            why = error if isinstance(error, NoSpace) else "its disk filled up during the build"
            raise SystemExit(f"--output {output}: {why}; nothing in it was changed") from None
    print(f"wrote {output} in {elapsed:.1f} s")
    if failure:
        raise SystemExit(f"{failure}; is the service up? (the rejects are in {output}/rejects)")
    return summary


def check_services(config: BuildConfig) -> None:
    """One-line errors, before anything runs, for settings that cannot work together or
    files that cannot be read."""
    used = (("--base_url", config.llm_base_url, "openai" in (config.llm, config.judge)),
            ("--tts_base_url", config.tts_base_url, config.tts == "openai"),
            ("--asr_base_url", config.asr_base_url, config.asr == "openai"))
    for flag, url, calls in used:
        if calls and "@" in urlsplit(url).netloc:
            raise SystemExit(f"{flag}: a user or password in the URL is not sent as the API key; name the "
                             "host alone and pass the key with --api_key_env or --api_key_file")
    if config.llm_api_key_file and not FileSystems.exists(config.llm_api_key_file):
        raise SystemExit(f"--api_key_file {config.llm_api_key_file}: no such file")
    try:
        load_index(config.decontaminate, config.ngram)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read --decontaminate files: {error}") from None
    if config.asr == "openai" and not (config.asr_base_url and config.asr_model):
        raise SystemExit("--asr openai needs --asr_base_url and --asr_model")
    if config.tts == "piper" and not config.question_voices:
        raise SystemExit("--tts piper needs --voices PATH.onnx[,PATH.onnx...]")
    if config.tts == "openai" and not (config.tts_base_url and config.tts_model):
        raise SystemExit("--tts openai needs --tts_base_url and --tts_model")
    if "openai" in (config.llm, config.judge) and not (config.llm_base_url and config.llm_model):
        raise SystemExit("--llm openai and --judge openai need --base_url and --model")
    try:
        load_tokenizer(config.tokenizer)
    except Exception as error:  # a bad name, a missing file, an unreachable hub
        raise SystemExit(f"cannot load tokenizer {config.tokenizer!r}: {error}") from None


def service_failure(summary: dict) -> str | None:
    """What to say when no record came through because a service could not be reached:
    every reject after the sources has a reason in ``SERVICE_REASONS``."""
    later = {name: count for name, count in summary["rejects_by_reason"].items()
             if not name.startswith("source/")}
    if summary["outputs"] or not later or any(name.split("/")[1] not in SERVICE_REASONS for name in later):
        return None
    said = ", ".join(f"{count} rejected as {name}" for name, count in later.items())
    return f"no record came through: {said}"


def counters(result, namespace: str) -> dict[str, int]:
    """The counters of ``namespace`` of a finished run, summed over the steps that count them."""
    counts: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]:
        counts[counter.key.metric.name] = counts.get(counter.key.metric.name, 0) + counter.committed
    return counts


def speech_cache_counts(result) -> dict[str, int]:
    """Clips a remote engine was asked for, and clips read from the speech cache instead."""
    return {"cache_hits": 0, "clips_asked": 0, **counters(result, "tts")}


def llm_usage(result, price_in: float, price_out: float) -> dict:
    """The ``llm`` counters of a finished run, with the cost at the given prices."""
    usage: dict[str, float] = dict(counters(result, "llm"))
    if price_in or price_out:
        cost = (usage.get("tokens_in", 0) * price_in + usage.get("tokens_out", 0) * price_out) / 1e6
        usage["estimated_cost"] = round(cost, 4)
    return dict(sorted(usage.items()))


