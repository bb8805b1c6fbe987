"""Measure every speed goal of the pipeline on this machine; write BENCHMARKS.md.

Each row is measured in this one run, with the goal it is held to beside it:
- the text stages as plain loops on one core over GSM8K train and the MATH sample (from
  ../shared/data; the built-in generator stands in for GSM8K when it is absent), in records
  per CPU-second: the first pass (cold: what a worker pays, each text seen once, and the
  figure judged) and the best of REPEATS passes (warm: the stages' caches hold every text);
- the check of stage 3's output against its schema, as a share of stage 3's own time;
- the text chain inside Beam (``--tts none`` builds), CPU of the whole process tree
  beyond a one-item build's (Beam's fixed start-up);
- speech against espeak alone on the same utterances, and on two worker processes
  against one (a bare process pool, and Beam's multi-processing runner end to end);
- part files written and merged into shards; FLAC against WAV; ``make dataset``'s build.
The LLM client's rows are ``python -m benchmarks.llm``; peak memory ``make bench-memory``.
"""

from __future__ import annotations

import contextlib
import gc
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import schemas
from benchmarks.report import machine, write_section
from pipeline.beam.sink import merge_shard, write_part
from pipeline.config import BuildConfig
from pipeline.dataset.arrow import record_schema
from pipeline.reject import Reject
from pipeline.sources.formats import parse_line
from pipeline.sources.records import generated_record
from pipeline.stages import interleave, rewrite, speech, split
from pipeline.stages.interleave import layout_description
from pipeline.stages.speech import _clip_requests
from pipeline.tts import make_engine
from pipeline.tts.espeak_helper import Library

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GSM8K = SHARED / "gsm8k" / "train.jsonl"
MATH = SHARED / "math" / "sample.jsonl"
REPEATS = 3
SPEECH_RECORDS = 300
BUILD_ITEMS = 600


def read_records(kind: str, path: Path) -> list[dict]:
    lines = path.read_bytes().splitlines()
    return [parse_line(kind, kind, "train", i, raw, 8000) for i, raw in enumerate(lines)]


def source_records() -> tuple[str, list[dict]]:
    if GSM8K.exists():
        return "GSM8K train", read_records("gsm8k", GSM8K)
    return "generated", [generated_record(0, i) for i in range(5000)]


def timed(fn: Callable[[dict], dict], records: list[dict]) -> tuple[tuple[float, float], list[dict]]:
    """(records per CPU-second of the first pass, best over REPEATS passes), and the records
    that passed.

    The benchmark holds every record of every stage in memory, which a Beam worker never
    does; the garbage collector would keep re-scanning them. They are frozen first so the
    figure is the stage's cost, not the cost of the benchmark's own lists.
    """
    rates, passed = [], []
    gc.collect()
    gc.freeze()
    for _ in range(REPEATS):
        out = []
        start = time.process_time()
        for record in records:
            with contextlib.suppress(Reject):
                out.append(fn(record))
        rates.append(len(records) / (time.process_time() - start))
        passed = out
    gc.unfreeze()
    return (rates[0], max(rates)), passed


def text_stages(records: list[dict], config: BuildConfig) -> dict:
    """Each text stage fed what the previous one passed, and stage 3's output check."""
    results = {}
    results["rewrite"], rewritten = timed(rewrite.setup(config), records)
    results["split"], split_records = timed(split.setup(config), rewritten)
    results["interleave"], interleaved = timed(interleave.setup(config), split_records)
    received = {record["id"]: record for record in split_records}
    start = time.process_time()
    for record in interleaved:
        schemas.first_error("interleave", record, received[record["id"]])
    results["validation_us"] = (time.process_time() - start) / len(interleaved) * 1e6
    results["interleaved"] = interleaved
    return results


def build_cpu(source: str, output: str, *flags: str) -> tuple[float, float]:
    """(CPU seconds of the build's whole process tree, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "--source", source, "--output", output,
                    "--no_progress", *flags], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def text_chain_in_beam(sources: dict[str, tuple[str, int]]) -> dict[str, tuple[float, float]]:
    """Per source: (records per CPU-second, ms of CPU per record) of a ``--tts none`` build
    beyond a one-item build's CPU."""
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (source, count) in sources.items():
            fixed, _ = build_cpu(source, f"{scratch}/{name}-one", "--tts", "none", "--limit", "1")
            whole, _ = build_cpu(source, f"{scratch}/{name}", "--tts", "none")
            beyond = max(whole - fixed, 1e-9)
            results[name] = (count / beyond, beyond / count * 1000)
    return results


def speech_against_espeak(records: list[dict], config: BuildConfig) -> dict[str, float]:
    """Seconds per record, on one core, of espeak alone (the library in this process, no
    fork, no audio processing), of the engine (a pristine forked child per utterance) and
    of the whole stage (engine, resampling, trimming, loudness, encoding, checks), over the
    same utterances."""
    utterances = [wanted for record in records for wanted in _clip_requests(record, config)[2]]
    library = Library()
    start = time.perf_counter()
    for text, voice in utterances:
        library.samples(text, voice.name, voice.rate, voice.pitch)
    alone = time.perf_counter() - start
    engine = make_engine(config)
    speak = speech.setup(config)
    speak(records[0])
    start = time.perf_counter()
    for text, voice in utterances:
        engine.synthesize(text, voice)
    engine_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for record in records:
        with contextlib.suppress(Reject):
            speak(record)
    stage = time.perf_counter() - start
    count = len(records)
    return {"alone": alone / count, "engine": engine_seconds / count, "stage": stage / count,
            "utterances": len(utterances) / count}


_speak = None


def _start_worker(config: BuildConfig) -> None:
    global _speak
    _speak = speech.setup(config)


def _audio_seconds(record: dict) -> float:
    try:
        out = _speak(record)
    except Reject:
        return 0.0
    return out["question_duration"] + out["response_duration"]


def speech_pool(records: list[dict], config: BuildConfig, workers: int) -> tuple[float, float]:
    """(records/s, real-time factor: wall seconds per second of audio) of stage 4 on
    ``workers`` processes of a bare pool, each with its own engine, started before the clock."""
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(config,)) as pool:
        list(pool.map(_audio_seconds, records[:workers]))
        start = time.perf_counter()
        audio = sum(pool.map(_audio_seconds, records, chunksize=5))
        elapsed = time.perf_counter() - start
    return len(records) / elapsed, elapsed / audio


def beam_workers(count: int) -> dict[int, tuple[float, float]]:
    """Per worker count (1 and 2): wall seconds of a ``generate:count`` build with speech on
    Beam's multi-processing runner, each worker speaking one utterance at a time
    (``--tts_concurrency 1``), end to end and beyond a one-item build with the same flags
    (the runner's and the workers' start-up): how Beam's workers scale."""
    walls = {}
    with tempfile.TemporaryDirectory() as scratch:
        for workers in (1, 2):
            flags = ("--tts_concurrency", "1", "--direct_running_mode=multi_processing",
                     f"--direct_num_workers={workers}")
            _, start_up = build_cpu("generate:1", f"{scratch}/{workers}-one", *flags)
            _, wall = build_cpu(f"generate:{count}", f"{scratch}/{workers}", *flags)
            walls[workers] = (wall, wall - start_up)
    return walls


def helpers_in_one_worker(count: int) -> tuple[float, float]:
    """Wall seconds of a ``generate:count`` build with speech in one worker (DirectRunner)
    speaking one utterance at a time, and with the default helpers (one per core)."""
    with tempfile.TemporaryDirectory() as scratch:
        _, one = build_cpu(f"generate:{count}", f"{scratch}/one", "--tts_concurrency", "1")
        _, default = build_cpu(f"generate:{count}", f"{scratch}/default")
    return one, default


def part_files(records: list[dict], config: BuildConfig) -> tuple[float, float]:
    """ms per row of what the sink adds: rows to sorted part files of 100, read back, merged
    and written as one shard; the first pass (judged) and the best of ``REPEATS`` (a worker
    writing shard after shard reuses its memory)."""
    speak = speech.setup(config)
    rows = []
    for record in records:
        with contextlib.suppress(Reject):
            rows.append(speak(record))
    schema = record_schema({"question_audio": config.question_sampling_rate,
                            "response_audio": config.response_sampling_rate},
                           layout_description(config.tokenizer, config.p, config.q))
    passes = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            paths = []
            for first in range(0, len(rows), 100):
                paths.append(f"{scratch}/part-{first}.arrows")
                write_part(rows[first:first + 100], schema, paths[-1])
            merge_shard(((0, 1), paths), scratch, "train", schema)
            passes.append((time.perf_counter() - start) / len(rows) * 1000)
    return passes[0], min(passes)


def flac_against_wav(count: int) -> dict[str, float]:
    """Wall seconds and shard bytes of a ``generate:count`` build in WAV and in FLAC."""
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for audio_format in ("wav", "flac"):
            output = f"{scratch}/{audio_format}"
            _, results[audio_format] = build_cpu(f"generate:{count}", output, "--audio_format", audio_format)
            results[f"{audio_format}_bytes"] = sum(p.stat().st_size for p in Path(output, "data").iterdir())
    return results


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def main() -> None:
    config = BuildConfig()
    gsm_label, gsm = source_records()
    corpora = {gsm_label: gsm}
    if MATH.exists():
        corpora["MATH sample"] = read_records("math", MATH)
    goals = {"rewrite": (5000, 2500), "split": (5000, 1000), "interleave": (5000, 2500)}
    stage_rows, checks = [], []
    interleaved = {}
    for number, (name, records) in enumerate(corpora.items()):
        results = text_stages(records, config)
        interleaved[name] = results["interleaved"]
        for stage in ("rewrite", "split", "interleave"):
            cold, warm = results[stage]
            goal = goals[stage][number]
            stage_rows.append(f"| {stage}, pure, {name} ({len(records):,}) | {_rate(cold)} cold, "
                              f"{_rate(warm)} warm | >= {goal:,} | {_verdict(cold >= goal)} |")
        share = results["validation_us"] / (1e6 / results["interleave"][0])
        checks.append(f"| stage-output check after interleave, {name} | {results['validation_us']:,.0f} us a "
                      f"record, {share:.0%} of the stage | <= 10% | {_verdict(share <= 0.10)} |")

    chain_sources = {gsm_label: (f"gsm8k:{GSM8K}", len(gsm))} if GSM8K.exists() else {
        gsm_label: (f"generate:{len(gsm)}", len(gsm))}
    if MATH.exists():
        chain_sources["MATH sample"] = (f"math:{MATH}", len(corpora["MATH sample"]))
    chain = text_chain_in_beam(chain_sources)
    chain_goals = (2000, 500)
    chain_rows = [f"| text chain in Beam (`--tts none`), {name} | {_rate(rate)} records per CPU-second, "
                  f"{ms:.2f} ms each | >= {chain_goals[number]:,}/s; GSM8K <= 0.5 ms | "
                  f"{_verdict(rate >= chain_goals[number] and (number or ms <= 0.5))} |"
                  for number, (name, (rate, ms)) in enumerate(chain.items())]

    spoken = interleaved[gsm_label][:SPEECH_RECORDS]
    one_at_a_time = replace(config, tts_concurrency=1)  # one helper: one core, as espeak alone
    voice = speech_against_espeak(spoken, one_at_a_time)
    one_rate, one_rtf = speech_pool(spoken, one_at_a_time, 1)
    two_rate, two_rtf = speech_pool(spoken, one_at_a_time, 2)
    beam = beam_workers(SPEECH_RECORDS)
    serial, helpers = helpers_in_one_worker(SPEECH_RECORDS)
    part_ms, part_warm_ms = part_files(spoken, config)
    flac = flac_against_wav(SPEECH_RECORDS)
    with tempfile.TemporaryDirectory() as scratch:
        _, build = build_cpu(f"generate:{BUILD_ITEMS}", scratch)

    stage_ratio = voice["stage"] / voice["alone"]
    lines = [
        "## Speed goals",
        "",
        f"`make bench` (`python -m benchmarks.run`) on {machine()}. Every row is measured in this one "
        "run. Text stages: plain loops on one core, records per CPU-second, the first pass (cold, "
        f"judged) and the best of {REPEATS} (warm: caches hold every text); each stage fed what the "
        f"previous one passed. Speech: the first {len(spoken)} GSM8K records that passed stage 3, "
        f"{voice['utterances']:.1f} utterances a record.",
        "",
        "| what | measured | goal | |",
        "|---|---|---|---|",
        *stage_rows,
        *checks,
        *chain_rows,
        f"| speech stage against espeak alone, same utterances | espeak {voice['alone'] * 1000:.1f} ms a "
        f"record, engine (a pristine child per utterance) {voice['engine'] * 1000:.1f}, whole stage "
        f"{voice['stage'] * 1000:.1f}: {stage_ratio:.2f}x | <= 1.5x | {_verdict(stage_ratio <= 1.5)} |",
        f"| speech, bare process pool, 2 workers against 1 | {one_rate:.1f} and {two_rate:.1f} records/s "
        f"(real-time factors {one_rtf:.4f}, {two_rtf:.4f}): {two_rate / one_rate:.2f}x | >= 1.9x | "
        f"{_verdict(two_rate / one_rate >= 1.9)} |",
        f"| speech, Beam multi-processing, 2 workers against 1, `generate:{SPEECH_RECORDS}` | end to end "
        f"{beam[1][0]:.1f} s and {beam[2][0]:.1f} s: {beam[1][0] / beam[2][0]:.2f}x; beyond a one-item "
        f"build's start-up {beam[1][1]:.1f} s and {beam[2][1]:.1f} s: {beam[1][1] / beam[2][1]:.2f}x | "
        f">= 1.9x | {_verdict(beam[1][1] / beam[2][1] >= 1.9)} (beyond start-up) |",
        f"| speech, one worker, espeak helpers on every core (default) against one at a time "
        f"(`--tts_concurrency 1`), `generate:{SPEECH_RECORDS}` end to end | {serial:.1f} s and "
        f"{helpers:.1f} s: {serial / helpers:.2f}x | (no goal) | |",
        "| Parquet: sorted part files written, read back and merged into a shard (zstd on all but audio) | "
        f"{part_ms:.2f} ms a row first pass, {part_warm_ms:.2f} best of {REPEATS} | <= 1 ms | "
        f"{_verdict(part_ms <= 1)} |",
        f"| `--audio_format flac` against wav, `generate:{SPEECH_RECORDS}` | {flac['wav']:.1f} s and "
        f"{flac['flac']:.1f} s: {flac['flac'] / flac['wav']:.2f}x the time for "
        f"{flac['flac_bytes'] / flac['wav_bytes']:.0%} of the bytes | no extra time (<= 1.1x) | "
        f"{_verdict(flac['flac'] / flac['wav'] <= 1.1)} |",
        f"| `make dataset` build (`generate:{BUILD_ITEMS}`, speech, DirectRunner) | {build:.1f} s | "
        f"<= 25 s | {_verdict(build <= 25)} |",
    ]
    write_section("stages", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
