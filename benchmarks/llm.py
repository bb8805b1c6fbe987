"""The LLM stage inside Beam against a bare ``AsyncOpenAI`` loop, same endpoint, same
requests: a local OpenAI-compatible server (its own process) answering after 50 ms.

The bare loop sends the stage's first request for each record (the rewrite prompt) with
at most CONCURRENCY in flight. The Beam run is the rewrite stage with the LLM backend
(``ApplyStage`` with the same concurrency, reply cache off) over the same records on the
DirectRunner; its time is the pipeline's wall time minus that of the same pipeline with
the rules backend, so Beam's start-up is not charged to the LLM calls.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from dataclasses import replace

import apache_beam as beam
import openai
from apache_beam.options.pipeline_options import PipelineOptions

import prompts
from benchmarks.report import machine, write_section
from benchmarks.run import source_records
from pipeline.beam.stage import ApplyStage
from pipeline.config import BuildConfig
from pipeline.stages import rewrite

LATENCY = 0.05
CONCURRENCY = 64
RECORDS = 4000
SERIAL_RECORDS = 100


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _bare(base_url: str, records: list[dict], concurrency: int) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    slots = asyncio.Semaphore(concurrency)

    async def one(record: dict) -> None:
        async with slots:
            messages = prompts.load("rewrite").messages(problem=record["problem"])
            await client.chat.completions.create(model="m", messages=messages, temperature=0)

    start = time.perf_counter()
    await asyncio.gather(*(one(record) for record in records))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def _beam(records: list[dict], config: BuildConfig, concurrency: int, workers: int = 1) -> float:
    options = PipelineOptions(runner="DirectRunner")
    if workers > 1:
        options = PipelineOptions(runner="DirectRunner", direct_running_mode="multi_processing",
                                  direct_num_workers=workers)
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        passed, _ = pipeline | beam.Create(records) | ApplyStage("rewrite", rewrite.make, config, "rewrite",
                                                                   concurrency)
        _ = passed | beam.combiners.Count.Globally()
    return time.perf_counter() - start


def main() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--port", str(port),
                               "--latency", str(LATENCY)], stdout=subprocess.PIPE)
    server.stdout.readline()
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        label, records = source_records()
        records = records[:RECORDS]
        llm = BuildConfig(llm="openai", llm_base_url=base_url, llm_model="m", llm_concurrency=CONCURRENCY)
        bare = asyncio.run(_bare(base_url, records, CONCURRENCY))
        rules = _beam(records, BuildConfig(), 1)
        with_llm = _beam(records, llm, CONCURRENCY)
        rules_two = _beam(records, BuildConfig(), 1, workers=2)
        half = CONCURRENCY // 2
        with_llm_two = _beam(records, replace(llm, llm_concurrency=half), half, workers=2)
        serial_bare = asyncio.run(_bare(base_url, records[:SERIAL_RECORDS], 1))
        serial_rules = _beam(records[:SERIAL_RECORDS], BuildConfig(), 1)
        serial_llm = _beam(records[:SERIAL_RECORDS], replace(llm, llm_concurrency=1), 1)
    finally:
        server.terminate()
        server.wait()
    bare_rate = len(records) / bare
    beam_rate = len(records) / (with_llm - rules)
    two_rate = len(records) / (with_llm_two - rules_two)
    overhead_ms = ((serial_llm - serial_rules) - serial_bare) / SERIAL_RECORDS * 1000
    lines = [
        "## LLM stage against a bare AsyncOpenAI loop",
        "",
        f"`python -m benchmarks.llm` on {machine()}: {len(records)} {label} rewrite requests to a local "
        f"OpenAI-compatible server in its own process answering after {LATENCY * 1000:.0f} ms, "
        f"{CONCURRENCY} in flight. Beam time = pipeline wall time with the LLM backend minus the same "
        "pipeline with the rules backend (Beam start-up); measured in one run.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| bare `AsyncOpenAI` loop, concurrency {CONCURRENCY} | {bare_rate:,.0f} requests/s "
        f"({bare:.1f} s) |",
        f"| rewrite stage in Beam (DirectRunner), concurrency {CONCURRENCY} | {beam_rate:,.0f} records/s "
        f"({with_llm:.1f} s - {rules:.1f} s) |",
        f"| Beam / bare, one worker | {beam_rate / bare_rate:.0%} |",
        f"| rewrite stage in Beam, 2 worker processes, {CONCURRENCY // 2} in flight each | "
        f"{two_rate:,.0f} records/s ({with_llm_two:.1f} s - {rules_two:.1f} s) |",
        f"| Beam / bare, two workers | {two_rate / bare_rate:.0%} |",
        f"| per-request overhead at concurrency 1 ({SERIAL_RECORDS} requests) | {overhead_ms:.1f} ms "
        f"over the bare loop's {serial_bare / SERIAL_RECORDS * 1000:.1f} ms |",
    ]
    write_section("llm-stage", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
