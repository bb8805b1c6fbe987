"""``python -m pipeline``: build a spoken-math dataset.

The app's own flags are parsed here; every other flag (``--runner``,
``--num_workers``, ``--direct_num_workers``, ...) goes to Beam untouched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from pipeline.beam.build import build_pipeline
from pipeline.beam.loopback import serve_on_loopback
from pipeline.beam.sink import write_json
from pipeline.config import BuildConfig
from pipeline.dataset.publish import check_writable, publish, start_staging
from pipeline.dataset.summary import format_summary
from pipeline.sources import EQUATION, GENERIC, KINDS, check_sources, parse_source
from pipeline.sources.contamination import load_index
from pipeline.sources.records import generic_format
from pipeline.tokenizers import load_tokenizer
from pipeline.tts import ENGINES

DEFAULT_SOURCE = "generate:600"
# Rejects that say a service was down, not that the record was bad.
SERVICE_REASONS = ("llm_unreachable", "llm_timeout", "llm_throttled", "llm_rate_limiter_unreachable",
                   "tts_unreachable", "tts_throttled", "asr_unreachable")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Turn written math problems into thinking-in-speaking training data "
                    "(spoken question, silent reasoning, interleaved response, speech). "
                    "Flags not listed here are Beam pipeline options (--runner, ...).",
    )
    ap.add_argument("--source", action="append",
                    help="where problems come from, repeatable: generate:N (built-in generator), "
                         "FORMAT:PATH for JSONL or Parquet files (globs, gs://, s3:// work) with "
                         f"FORMAT one of {', '.join(KINDS[1:])}, or FORMAT:hub:NAME for a Hugging "
                         "Face dataset; options after '?': limit=N, weight=F, config=, split=. "
                         f"Default {DEFAULT_SOURCE}")
    ap.add_argument("--field", action="append", default=[], metavar="NAME=COLUMN",
                    help="for generic and equation sources: which column holds the question, "
                         "solution (for equation: the expression), and "
                         "optionally answer, type, level (e.g. --field question=prompt)")
    ap.add_argument("--decontaminate", nargs="+", default=[], metavar="FILE",
                    help="benchmark JSONL or Parquet files; a problem sharing --ngram words in a "
                         "row with any of their questions is rejected as contaminated")
    ap.add_argument("--ngram", type=POSITIVE, default=13,
                    help="words in a row that count as contamination (default 13)")
    ap.add_argument("--output", required=True, help="output folder (local, gs://, s3://)")
    ap.add_argument("--limit", type=POSITIVE, default=None, help="read at most N rows of each source file")
    ap.add_argument("--llm", choices=["rules", "openai"], default="rules",
                    help="backend for rewriting and splitting: the embedded rules (default), or "
                         "an OpenAI-compatible chat endpoint (needs --base_url and --model)")
    ap.add_argument("--judge", choices=["off", "openai"], default="off",
                    help="ask the LLM endpoint whether each split drifts or sounds written; "
                         "a failing verdict rejects the item (needs --base_url and --model)")
    ap.add_argument("--base_url", default="",
                    help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM)")
    ap.add_argument("--model", default="", help="model name at the endpoint")
    ap.add_argument("--api_key_env", default="OPENAI_API_KEY",
                    help="environment variable holding the API key (default OPENAI_API_KEY); "
                         "the key itself is never written anywhere")
    ap.add_argument("--llm_retries", type=NON_NEGATIVE, default=4,
                    help="retries of a request on 429, 5xx, timeouts and dropped connections, with "
                         "exponential backoff and jitter, honouring Retry-After (default 4)")
    ap.add_argument("--api_key_file", default="",
                    help="a file holding the API key instead of --api_key_env (local, gs://...)")
    ap.add_argument("--llm_rpm", type=NON_NEGATIVE_FLOAT, default=0,
                    help="requests per minute per worker (0: no limit); for one limit over all "
                         "workers see --llm_rate_limiter")
    ap.add_argument("--llm_tpm", type=NON_NEGATIVE_FLOAT, default=0,
                    help="prompt tokens per minute per worker, estimated at 4 characters a token "
                         "(0: no limit)")
    ap.add_argument("--llm_rate_limiter", default="", metavar="HOST:PORT",
                    help="an Envoy rate-limit service (gRPC) that every worker asks before each LLM "
                         "request, for a limit over the whole run: one hit of descriptor "
                         "llm=requests and the prompt's estimated tokens as hits of llm=tokens")
    ap.add_argument("--llm_rate_limit_domain", default="spoken-math",
                    help="the rate-limit service's domain for these limits (default spoken-math)")
    ap.add_argument("--structured_output", action="store_true",
                    help="send each reply's JSON Schema as response_format, for servers that enforce it "
                         "(vLLM, OpenAI); replies are validated with jsonschema either way")
    ap.add_argument("--llm_concurrency", type=POSITIVE, default=64,
                    help="LLM requests in flight per stage on each worker thread (default 64)")
    ap.add_argument("--cache_dir", default="",
                    help="where LLM replies are cached by content (local, gs://, s3://); default "
                         "OUTPUT/llm_cache, kept across runs so a rerun pays for no reply twice")
    ap.add_argument("--no_cache", action="store_true", help="do not read or write the LLM reply cache")
    ap.add_argument("--price_in", type=NON_NEGATIVE_FLOAT, default=0.0,
                    help="price per million input tokens, for the cost estimate in the summary")
    ap.add_argument("--price_out", type=NON_NEGATIVE_FLOAT, default=0.0,
                    help="price per million output tokens, for the cost estimate in the summary")
    ap.add_argument("--llm_timeout", type=POSITIVE_RATE, default=60.0,
                    help="seconds to wait for one LLM reply (default 60)")
    ap.add_argument("--tts", choices=list(ENGINES), default="espeak",
                    help="speech engine: espeak (embedded, offline, default), openai (any "
                         "OpenAI-compatible /v1/audio/speech endpoint: --tts_base_url, --tts_model) "
                         "edge (Microsoft Edge online voices through edge-tts) or piper (local "
                         ".onnx voices given with --voices; pip install 'spoken-math[piper]')")
    ap.add_argument("--voices", default="",
                    help="comma-separated question voice pool in the engine's names (default: the "
                         "engine's pool); one is chosen per record from its id and the seed")
    ap.add_argument("--response_voice", default="", help="the assistant's voice (default: the engine's)")
    ap.add_argument("--tts_base_url", default="", help="speech endpoint for --tts openai")
    ap.add_argument("--tts_model", default="", help="speech model for --tts openai")
    ap.add_argument("--tts_api_key_env", default="OPENAI_API_KEY",
                    help="environment variable holding the speech endpoint's key")
    ap.add_argument("--tts_retries", type=NON_NEGATIVE, default=4,
                    help="retries on throttling, server errors and dropped connections (default 4)")
    ap.add_argument("--tts_concurrency", type=POSITIVE, default=4,
                    help="speech requests in flight per worker thread for online engines (default 4)")
    ap.add_argument("--tts_timeout", type=POSITIVE_RATE, default=30.0,
                    help="seconds to wait for one clip from an online engine (default 30)")
    ap.add_argument("--max_response_ratio", type=POSITIVE_RATE, default=0.5,
                    help="response tokens after the opener, as a share of the reasoning's tokens "
                         "(default 0.5); the rules keep the sentences with the results that fit")
    ap.add_argument("--max_response_seconds", type=POSITIVE_RATE, default=20.0,
                    help="longest spoken response, estimated at 2.5 words a second (default 20)")
    ap.add_argument("--record_timeout", type=POSITIVE_RATE, default=10.0,
                    help="seconds one record may spend in a stage that makes no remote calls; "
                         "past it the record is rejected as record_timeout (default 10)")
    ap.add_argument("--asr", choices=["off", "openai"], default="off",
                    help="hear every clip back through an OpenAI-compatible /v1/audio/transcriptions "
                         "endpoint (--asr_base_url, --asr_model) and reject clips whose word error "
                         "rate exceeds --max_wer")
    ap.add_argument("--asr_base_url", default="", help="transcription endpoint for --asr openai")
    ap.add_argument("--asr_model", default="", help="transcription model for --asr openai")
    ap.add_argument("--max_wer", type=NON_NEGATIVE_FLOAT, default=0.3,
                    help="word error rate limit (default 0.3)")
    ap.add_argument("--audio_format", choices=["wav", "flac"], default="wav",
                    help="PCM16 WAV (default) or FLAC (lossless, about a quarter smaller)")
    ap.add_argument("--question_rate", type=_at_least(8000), default=16000,
                    help="question audio Hz (default 16000)")
    ap.add_argument("--response_rate", type=_at_least(8000), default=24000,
                    help="response audio Hz (default 24000)")
    ap.add_argument("--tokenizer", default="qwen2.5",
                    help="target tokenizer of the interleaved sequence: qwen2.5 (default, "
                         "offline), cl100k (offline), or hf:NAME_OR_PATH (a Hugging Face "
                         "tokenizer by hub name or local tokenizer.json)")
    ap.add_argument("--p", type=POSITIVE, default=2, help="response tokens per cycle (default 2)")
    ap.add_argument("--q", type=POSITIVE, default=8, help="reasoning tokens per cycle (default 8)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the generator, openers and voices; same seed, same bytes")
    ap.add_argument("--shard_rows", type=POSITIVE, default=250,
                    help="shard size: ceil(inputs / shard_rows) shards, so at most about this "
                         "many rows each (default 250)")
    ap.add_argument("--shard_bytes", type=_size, default=0, metavar="SIZE",
                    help="target shard size instead of --shard_rows, e.g. 500MB (estimated from "
                         "the mean row size measured on GSM8K with espeak)")
    ap.add_argument("--num_shards", type=NON_NEGATIVE, default=0,
                    help="a fixed number of output shards instead of --shard_rows")
    ap.add_argument("--no_progress", action="store_true",
                    help="do not print the progress line (local runners print one every 5 s)")
    ap.add_argument("--decode_rate", type=POSITIVE_RATE, default=50.0,
                    help="tokens per second used to turn positions into delays (default 50)")
    return ap


def _at_least(low: float, kind=int):
    """An argparse type: a number of ``kind`` no smaller than ``low``, refused at parse time
    with a one-line message (``--llm_concurrency 0`` would wait forever, ``--shard_rows 0``
    would divide by zero)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"{text} is below the smallest allowed value, {low}")
        return value
    parse.__name__ = f"{kind.__name__} >= {low}"
    return parse


POSITIVE, NON_NEGATIVE = _at_least(1), _at_least(0)
POSITIVE_RATE, NON_NEGATIVE_FLOAT = _at_least(1e-9, float), _at_least(0.0, float)
GLOB_CHARACTERS = "*?[]{}"


def _size(text: str) -> int:
    """'500MB' -> 500_000_000."""
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


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
    args, beam_args = parser().parse_known_args(argv)
    if any(character in args.output for character in GLOB_CHARACTERS):
        raise SystemExit(f"--output {args.output!r} has a glob character ({GLOB_CHARACTERS}): "
                         "name one folder")
    sources = args.source or [DEFAULT_SOURCE]
    try:
        specs = [parse_source(source) for source in sources]
        mapping = dict(field.split("=", 1) for field in args.field if "=" in field)
        generic = generic_format(mapping) if any(s.kind == GENERIC for s in specs) or (
            mapping and any(s.kind == EQUATION for s in specs)) else None
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if len(mapping) != len(args.field):
        raise SystemExit("--field takes NAME=COLUMN")
    try:
        check_sources(specs)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if args.api_key_file and not FileSystems.exists(args.api_key_file):
        raise SystemExit(f"--api_key_file {args.api_key_file}: no such file")
    try:
        load_index(tuple(args.decontaminate), args.ngram)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read --decontaminate files: {error}") from None
    if args.asr == "openai" and not (args.asr_base_url and args.asr_model):
        raise SystemExit("--asr openai needs --asr_base_url and --asr_model")
    if args.tts == "piper" and not args.voices:
        raise SystemExit("--tts piper needs --voices PATH.onnx[,PATH.onnx...]")
    if args.tts == "openai" and not (args.tts_base_url and args.tts_model):
        raise SystemExit("--tts openai needs --tts_base_url and --tts_model")
    if "openai" in (args.llm, args.judge) and not (args.base_url and args.model):
        raise SystemExit("--llm openai and --judge openai need --base_url and --model")
    try:
        load_tokenizer(args.tokenizer)
    except Exception as error:  # a bad name, a missing file, an unreachable hub
        raise SystemExit(f"cannot load tokenizer {args.tokenizer!r}: {error}") from None
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args.append("--runner=DirectRunner")
    config = BuildConfig(seed=args.seed, llm=args.llm, llm_base_url=args.base_url,
                         llm_model=args.model, llm_api_key_env=args.api_key_env,
                         llm_timeout=args.llm_timeout, judge=args.judge, tts=args.tts,
                         llm_retries=args.llm_retries, llm_concurrency=args.llm_concurrency,
                         llm_api_key_file=args.api_key_file, llm_rpm=args.llm_rpm, llm_tpm=args.llm_tpm,
                         llm_rate_limiter=args.llm_rate_limiter,
                         llm_rate_limit_domain=args.llm_rate_limit_domain,
                         llm_structured_output=args.structured_output,
                         llm_cache_dir="" if args.no_cache or "openai" not in (args.llm, args.judge)
                         else args.cache_dir or FileSystems.join(args.output, "llm_cache"),
                         tokenizer=args.tokenizer, p=args.p, q=args.q, decode_rate=args.decode_rate,
                         decontaminate=tuple(args.decontaminate), ngram=args.ngram,
                         question_voices=tuple(v for v in args.voices.split(",") if v),
                         response_voice=args.response_voice, tts_base_url=args.tts_base_url,
                         tts_model=args.tts_model, tts_api_key_env=args.tts_api_key_env,
                         tts_retries=args.tts_retries, tts_concurrency=args.tts_concurrency,
                         tts_timeout=args.tts_timeout, record_timeout=args.record_timeout,
                         max_response_ratio=args.max_response_ratio,
                         max_response_seconds=args.max_response_seconds,
                         question_sampling_rate=args.question_rate,
                         response_sampling_rate=args.response_rate, asr=args.asr,
                         asr_base_url=args.asr_base_url, asr_model=args.asr_model, max_wer=args.max_wer,
                         audio_format=args.audio_format)
    try:
        check_writable(args.output, [m.path for s in specs if s.path and not s.hub
                                     for m in FileSystems.match([s.path])[0].metadata_list])
    except ValueError as error:
        raise SystemExit(str(error)) from None
    staging = start_staging(args.output)
    if _all_on_this_machine(beam_args):
        serve_on_loopback()
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build_pipeline(pipeline, specs, " + ".join(sources), staging, config, args.limit,
                   args.shard_rows, args.num_shards, generic, args.shard_bytes,
                   progress=not args.no_progress and _local(beam_args))
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started
    with FileSystems.open(FileSystems.join(staging, "summary.json")) as handle:
        summary = json.loads(handle.read())
    print(format_summary(summary))
    if "openai" in (args.llm, args.judge):
        usage = llm_usage(result, args.price_in, args.price_out)
        write_json(FileSystems.join(staging, "llm_usage.json"), usage)
        print("llm: " + ", ".join(f"{name} {value:,}" for name, value in usage.items()))
    publish(staging, args.output)
    print(f"wrote {args.output} in {elapsed:.1f} s")
    failure = service_failure(summary)
    if failure:
        raise SystemExit(f"{failure}; is the service up? (the rejects are in {args.output}/rejects)")
    return summary


def service_failure(summary: dict) -> str | None:
    """What to say when no record came through because a service could not be reached:
    every reject after the sources has a reason in ``SERVICE_REASONS``."""
    later = {name: count for name, count in summary["rejects_by_reason"].items()
             if not name.startswith("source/")}
    if summary["outputs"] or not later or any(name.split("/")[1] not in SERVICE_REASONS for name in later):
        return None
    said = ", ".join(f"{count} rejected as {name}" for name, count in later.items())
    return f"no record came through: {said}"


def llm_usage(result, price_in: float, price_out: float) -> dict:
    """The ``llm`` counters of a finished run, summed over the steps that count them, with
    the cost at the given prices."""
    usage: dict[str, float] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("llm"))["counters"]:
        usage[counter.key.metric.name] = usage.get(counter.key.metric.name, 0) + counter.committed
    if price_in or price_out:
        cost = (usage.get("tokens_in", 0) * price_in + usage.get("tokens_out", 0) * price_out) / 1e6
        usage["estimated_cost"] = round(cost, 4)
    return dict(sorted(usage.items()))


def main() -> None:
    summary = run(sys.argv[1:])
    sys.exit(0 if summary["balanced"] else 1)
