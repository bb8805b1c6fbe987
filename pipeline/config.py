"""Settings of one dataset build, shared by every stage and picklable for Beam workers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import Field, asdict, dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

import prompts
from pipeline import __version__
from pipeline.dataset.splits import DEFAULT_SPLITS, parse_splits
from pipeline.sources import KINDS
from pipeline.tts import ENGINES

LLM_PROMPTS = ("rewrite", "split")
TEXT_ONLY = "none"  # --tts none: no speech stage, no audio columns


@dataclass(frozen=True)
class Option:
    """How a setting is given: its flag (the field's name unless it says otherwise), help,
    parser and choices, and the group of ``--help`` it is listed in. The CLI and the YAML
    build recipe are both made from these, so a setting is written once, here."""

    help: str
    group: str
    flag: str = ""
    parse: Callable[[str], object] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    many: str = ""  # a list: "+" (``--flag a b``) or "append" (``--flag a --flag b``); YAML: a list


def option(default, help: str, group: str, **how) -> object:
    return field(default=default, metadata={"option": Option(help, group, **how)})


def options(cls) -> list[tuple[Field, Option]]:
    """The settings of a dataclass that have an ``Option``, in their order."""
    return [(f, f.metadata["option"]) for f in fields(cls) if "option" in f.metadata]


def _at_least(low: float, kind: type = int) -> Callable[[str], object]:
    """A parser of a number of ``kind`` no smaller than ``low``, refused with a one-line
    message (``--llm_concurrency 0`` would wait forever, ``--p 0`` would never speak)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a {kind.__name__}") from None
        if not math.isfinite(value):
            raise ValueError(f"{text} is not a finite number")
        if not value >= low:
            raise ValueError(f"{text} is below the smallest allowed value, {low}")
        return value
    parse.__name__ = f"{kind.__name__} >= {low}"
    return parse


POSITIVE, NON_NEGATIVE = _at_least(1), _at_least(0)
POSITIVE_RATE, NON_NEGATIVE_FLOAT = _at_least(1e-9, float), _at_least(0.0, float)
SAMPLING_RATE = _at_least(8000)


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def byte_size(text: str) -> int:
    """'500MB' -> 500_000_000."""
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


DEFAULT_SOURCE = "generate:600"


@dataclass(frozen=True)
class RunOptions:
    """Where problems come from, where the dataset goes, and how it is cut into shards."""

    source: tuple[str, ...] = option(
        (DEFAULT_SOURCE,), "where problems come from, repeatable: generate:N (built-in generator), "
        "FORMAT:PATH for JSONL or Parquet files (globs, gs://, s3:// work) with FORMAT one of "
        f"{', '.join(KINDS[1:])}, or FORMAT:hub:NAME for a Hugging Face dataset; options after '?': "
        "limit=N, weight=F, config=, split=",
        "sources", many="append")
    field: tuple[str, ...] = option((), "for generic and equation sources: which column holds the question, "
                                    "solution (for equation: the expression), and optionally answer, type, "
                                    "level (e.g. --field question=prompt)", "sources", many="append",
                                    metavar="NAME=COLUMN")
    limit: int | None = option(None, "read at most N rows of each source file", "sources", parse=POSITIVE)
    output: str = option("", "output folder (local, gs://, s3://); required", "output")
    shard_rows: int = option(0, "at most about this many rows a shard (ceil(inputs / shard_rows) shards) "
                             "instead of --shard_bytes; 0: from --shard_bytes", "output", parse=NON_NEGATIVE)
    shard_bytes: int = option(500_000_000, "target shard size, the Hub's convention (rows a shard from the "
                              "mean row size measured on GSM8K: with WAV, FLAC or no speech)", "output",
                              parse=byte_size, metavar="SIZE")
    num_shards: int = option(0, "a fixed number of output shards instead of --shard_rows", "output",
                             parse=NON_NEGATIVE)
    splits: str = option(DEFAULT_SPLITS, "output splits and their shares, chosen by a hash of each record's "
                         "id (stable across runs and sources), e.g. train=0.98,validation=0.01,test=0.01",
                         "output", parse=parse_splits, metavar="NAME=FRACTION,...")
    license: str = option("", "the dataset's license as the Hub names it (e.g. cc-by-4.0); default: the "
                          "sources' own (MIT for GSM8K and MATH), unknown for other files", "output")
    no_progress: bool = option(False, "do not print the progress line (local runners print one every 5 s)",
                               "output")
    replace_on_failure: bool = option(False, "replace the dataset in --output even when no record came "
                                      "through because a service failed (by default it is kept, and the "
                                      "run's rejects go to OUTPUT.failed)", "output")
    cache_dir: str = option("", "where LLM replies (and, under speech/, a remote engine's clips) are "
                            "cached by content (local, gs://, s3://); default OUTPUT/llm_cache and "
                            "OUTPUT/tts_cache, kept across runs so a rerun pays for no reply or clip twice",
                            "llm")
    no_cache: bool = option(False, "do not read or write the LLM reply cache or the speech cache", "llm")
    price_in: float = option(0.0, "price per million input tokens, for the cost estimate in the summary",
                             "llm", parse=NON_NEGATIVE_FLOAT)
    price_out: float = option(0.0, "price per million output tokens, for the cost estimate in the summary",
                              "llm", parse=NON_NEGATIVE_FLOAT)
    price_tts: float = option(0.0, "price per million characters of speech, for the cost estimate",
                              "speech", parse=NON_NEGATIVE_FLOAT)
    price_core_hour: float = option(0.0, "price of one CPU core-hour, for the --dry_run estimate", "build",
                                    parse=NON_NEGATIVE_FLOAT)
    dry_run: bool = option(False, "build nothing: run a sample of the sources through the pipeline (rules "
                           "and local speech, no paid calls) and print the whole run's projected rows, LLM "
                           "tokens, speech characters, audio hours, core-hours, output bytes and cost",
                           "build")


@dataclass(frozen=True)
class BuildConfig:
    """The settings every stage and worker reads: what decides the content (seed, backends,
    tokenizer, limits, audio), and how remote services are called (timeouts, retries,
    concurrency, rates). Where the data comes from and goes is ``RunOptions``."""

    seed: int = option(0, "seed of the generator, openers and voices; same seed, same bytes", "build",
                       parse=int)
    llm: str = option("rules", "backend for rewriting and splitting: the embedded rules, or an "
                      "OpenAI-compatible chat endpoint (needs --base_url and --model)", "llm",
                      choices=("rules", "openai"))
    llm_base_url: str = option("", "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM)", "llm",
                               flag="base_url")
    llm_model: str = option("", "model name at the endpoint", "llm", flag="model")
    llm_api_key_env: str = option("OPENAI_API_KEY", "environment variable holding the API key; the key "
                                  "itself is never written anywhere", "llm", flag="api_key_env")
    llm_timeout: float = option(60.0, "seconds to wait for one LLM reply", "llm", parse=POSITIVE_RATE)
    llm_retries: int = option(4, "retries of a request on 429, 5xx, timeouts and dropped connections, with "
                              "exponential backoff and jitter, honouring Retry-After", "llm",
                              parse=NON_NEGATIVE)
    llm_concurrency: int = option(64, "LLM requests in flight on each worker thread, all stages together "
                                  "(a killed run asks again at most these)", "llm", parse=POSITIVE)
    llm_cache_dir: str = ""  # from --cache_dir and --no_cache (``RunOptions``)
    tts_cache_dir: str = ""  # the same, for a remote speech engine's clips
    llm_batch: bool = option(False, "send stages 1-2 and the judge through the Batch API (/v1/files, "
                             "/v1/batches; OpenAI, or vLLM's run_batch format) at half the price: the run "
                             "waits for each batch, and a killed run resumes its batches by id", "llm")
    llm_batch_poll: float = option(30.0, "seconds between polls of a running batch", "llm",
                                   parse=POSITIVE_RATE)
    llm_batch_fallback: str = option("none", "what a request no batch could answer becomes: none (the reject "
                                     "llm_batch_failed, with the service's error) or live (asked live, at "
                                     "the live price)", "llm", choices=("none", "live"))
    llm_batch_dir: str = ""  # OUTPUT/llm_batch: batches submitted, requests pending, replies
    llm_batch_collect: bool = False  # set by the CLI on the passes that gather a batch
    llm_api_key_file: str = option("", "a file holding the API key instead of --api_key_env (local, gs://...)",
                                   "llm", flag="api_key_file")
    llm_rpm: float = option(0.0, "requests per minute per worker (0: no limit); for one limit over all "
                            "workers see --llm_rate_limiter", "llm", parse=NON_NEGATIVE_FLOAT)
    llm_tpm: float = option(0.0, "prompt tokens per minute per worker, estimated at 4 characters a token "
                            "(0: no limit)", "llm", parse=NON_NEGATIVE_FLOAT)
    llm_rate_limiter: str = option("", "an Envoy rate-limit service (gRPC) that every worker asks before "
                                   "each LLM request, for a limit over the whole run: one hit of descriptor "
                                   "llm=requests and the prompt's estimated tokens as hits of llm=tokens",
                                   "llm", metavar="HOST:PORT")
    llm_rate_limit_domain: str = option("spoken-math", "the rate-limit service's domain for these limits",
                                        "llm")
    llm_structured_output: bool = option(False, "send each reply's JSON Schema as response_format, for "
                                         "servers that enforce it (vLLM, OpenAI); replies are validated "
                                         "with jsonschema either way", "llm", flag="structured_output")
    judge: str = option("off", "ask the LLM endpoint whether each split drifts or sounds written; a "
                        "failing verdict rejects the item (needs --base_url and --model)", "split",
                        choices=("off", "openai"))
    response_ratio: str = option("a third to a half", "how long the LLM is asked to make the response, "
                                 "in words of the split prompt", "split")
    tts: str = option("espeak", "speech engine: espeak (embedded, offline), openai (any OpenAI-compatible "
                      "/v1/audio/speech endpoint: --tts_base_url, --tts_model), edge (Microsoft Edge online "
                      "voices through edge-tts), piper (local .onnx voices given with --voices; pip "
                      "install 'spoken-math[piper]'), or none: a text-only build, every column but the "
                      "audio", "speech", choices=(*ENGINES, TEXT_ONLY))
    tokenizer: str = option("qwen2.5", "target tokenizer of the interleaved sequence: qwen2.5 (offline), "
                            "cl100k (offline), or hf:NAME_OR_PATH (a Hugging Face tokenizer by hub name or "
                            "local tokenizer.json)", "interleave")
    p: int = option(2, "response tokens per cycle", "interleave", parse=POSITIVE)
    q: int = option(8, "reasoning tokens per cycle", "interleave", parse=POSITIVE)
    decode_rate: float = option(50.0, "tokens per second used to turn positions into delays", "interleave",
                                parse=POSITIVE_RATE)
    max_problem_chars: int = option(8000, "longest problem or solution text read; longer is the reject "
                                    "too_long", "sources", parse=POSITIVE)
    record_timeout: float = option(10.0, "seconds one record may spend in a stage that makes no remote "
                                   "calls; past it the record is rejected as record_timeout", "build",
                                   parse=POSITIVE_RATE)
    decontaminate: tuple[str, ...] = option((), "benchmark JSONL or Parquet files; a problem sharing --ngram "
                                            "words in a row with any of their questions is rejected as "
                                            "contaminated", "sources", metavar="FILE", many="+")
    ngram: int = option(13, "words in a row that count as contamination", "sources", parse=POSITIVE)
    max_question_words: int = option(150, "most words a spoken question may take to say", "rewrite",
                                     parse=POSITIVE)
    max_question_seconds: float = option(60.0, "longest spoken question, at --speaking_rate", "rewrite",
                                         parse=POSITIVE_RATE)
    speaking_rate: float = option(2.5, "words a second that lengths are estimated at", "rewrite",
                                  parse=POSITIVE_RATE)
    max_response_ratio: float = option(0.5, "response tokens after the opener, as a share of the reasoning's "
                                       "tokens; the rules keep the sentences with the results that fit",
                                       "split", parse=POSITIVE_RATE)
    max_response_seconds: float = option(20.0, "longest spoken response, at --speaking_rate", "split",
                                         parse=POSITIVE_RATE)
    question_voices: tuple[str, ...] = option((), "comma-separated question voice pool in the engine's "
                                              "names (default: the engine's pool); one is chosen per record "
                                              "from its id and the seed", "speech", flag="voices",
                                              parse=comma_list)
    question_rate_jitter: int = option(30, "question voices speak at 160 words a minute plus 0 to this many "
                                       "more, drawn per record from its id and the seed (0: all at 160)",
                                       "speech", parse=NON_NEGATIVE)
    response_voice: str = option("", "the assistant's voice (default: the engine's)", "speech")
    tts_base_url: str = option("", "speech endpoint for --tts openai", "speech")
    tts_model: str = option("", "speech model for --tts openai", "speech")
    tts_api_key_env: str = option("OPENAI_API_KEY", "environment variable holding the speech endpoint's key",
                                  "speech")
    tts_timeout: float = option(30.0, "seconds to wait for one clip from an online engine", "speech",
                                parse=POSITIVE_RATE)
    tts_retries: int = option(4, "retries on throttling, server errors and dropped connections", "speech",
                              parse=NON_NEGATIVE)
    tts_concurrency: int = option(4, "speech requests in flight per worker thread (online engines; espeak "
                                  "runs one helper process per request, at most one per core)", "speech",
                                  parse=POSITIVE)
    tts_proxy: str = option("", "an HTTP proxy for --tts edge", "speech")
    asr: str = option("off", "hear every clip back through an OpenAI-compatible /v1/audio/transcriptions "
                      "endpoint (--asr_base_url, --asr_model) and reject clips whose word error rate "
                      "exceeds --max_wer", "speech", choices=("off", "openai"))
    asr_base_url: str = option("", "transcription endpoint for --asr openai", "speech")
    asr_model: str = option("", "transcription model for --asr openai", "speech")
    max_wer: float = option(0.3, "word error rate limit", "speech", parse=NON_NEGATIVE_FLOAT)
    question_sampling_rate: int = option(16000, "question audio Hz", "speech", flag="question_rate",
                                         parse=SAMPLING_RATE)
    response_sampling_rate: int = option(24000, "response audio Hz", "speech", flag="response_rate",
                                         parse=SAMPLING_RATE)
    loudness_dbfs: float = option(-20.0, "loudness every clip is normalized to (dBFS)", "speech", parse=float)
    sentence_pause_ms: int = option(250, "silence between the response's sentences", "speech",
                                    parse=NON_NEGATIVE)
    audio_format: str = option("wav", "PCM16 WAV or FLAC (lossless, about a quarter smaller)", "speech",
                               choices=("wav", "flac"))
    min_words_per_second: float = option(1.2, "slowest speech a clip may have; slower is tts_bad_audio",
                                         "speech", parse=POSITIVE_RATE)
    max_words_per_second: float = option(5.0, "fastest speech a clip may have", "speech", parse=POSITIVE_RATE)

    def provenance(self) -> dict:
        """What a record says about how it was made."""
        used = (LLM_PROMPTS if self.llm == "openai" else ()) + (("judge",) if self.judge == "openai" else ())
        return {
            "pipeline_version": __version__,
            "llm": self.llm,
            "llm_model": self.llm_model,
            "prompts": ",".join(f"{name}:{prompts.load(name).sha256}" for name in used),
            "tts": self.tts,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
        }

    def as_dict(self) -> dict:
        """The settings as ``summary.json`` records them: no URL keeps a password or a query."""
        return {name: without_credentials(value) if isinstance(value, str) else value
                for name, value in asdict(self).items()}


def without_credentials(text: str) -> str:
    """``scheme://user:pass@host/path?key=...`` as ``scheme://host/path``; other text as it is."""
    if "://" not in text:
        return text
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
