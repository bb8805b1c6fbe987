"""The LLM stage inside Beam against a bare ``AsyncOpenAI`` loop, and that loop against
the wire (a bare aiohttp loop), same endpoint, same requests: a local OpenAI-compatible
server (its own process) answering after 50 ms.

The bare loop sends the stage's first request for each record (the rewrite prompt) with
at most CONCURRENCY in flight, through the client as the stage calls it. The Beam run is
the rewrite stage with the LLM backend (``ApplyStage`` with the same cap, reply cache off)
over the same records on the DirectRunner. Its time is charged two ways: the pipeline's
wall time minus that of the same pipeline without the stage (everything the stage does is
charged: Beam's per-element work, the reply's parsing, the speakability and quantity
checks, schema validation), and minus that of the same pipeline with the rules backend
(only what the LLM calls add). Each is measured ROUNDS times, alternating, and the medians
are compared: this machine is noisy.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace

import aiohttp
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import prompts
from benchmarks.report import machine, write_section
from benchmarks.run import source_records
from pipeline.beam.stage import ApplyStage
from pipeline.config import BuildConfig
from pipeline.remote import openai_client
from pipeline.stages import rewrite

LATENCY = 0.05
CONCURRENCY = 64
RECORDS = 4000
SERIAL_RECORDS = 100
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _bare(base_url: str, records: list[dict], concurrency: int, models: bool = False) -> float:
    """The client as the stage calls it (``client.post``, the reply's JSON as it came), or,
    with ``models``, through ``chat.completions.create`` (request and reply models)."""
    client = openai_client(base_url, "none", 60.0, 0, asynchronous=True)
    slots = asyncio.Semaphore(concurrency)

    async def one(record: dict) -> None:
        async with slots:
            messages = prompts.load("rewrite").messages(problem=record["problem"])
            if models:
                await client.chat.completions.create(model="m", messages=messages, temperature=0)
            else:
                body = {"model": "m", "messages": messages, "temperature": 0}
                (await client.post("/chat/completions", body=body, cast_to=object))["choices"][0]

    start = time.perf_counter()
    await asyncio.gather(*(one(record) for record in records))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


async def _bare_aiohttp(base_url: str, records: list[dict], concurrency: int) -> float:
    """The wire limit: the same requests as plain JSON over one aiohttp session, the reply's
    text read from the parsed JSON, no SDK."""
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(record: dict) -> None:
            async with slots:
                body = {"model": "m", "temperature": 0,
                        "messages": prompts.load("rewrite").messages(problem=record["problem"])}
                async with session.post(f"{base_url}/chat/completions", json=body,
                                        headers={"Authorization": "Bearer none"}) as reply:
                    (await reply.json())["choices"][0]["message"]["content"]

        start = time.perf_counter()
        await asyncio.gather(*(one(record) for record in records))
        return time.perf_counter() - start


def _beam(records: list[dict], config: BuildConfig | None, workers: int = 1) -> float:
    """Wall time of Create -> the rewrite stage (none when ``config`` is None) -> Count."""
    options = PipelineOptions(runner="DirectRunner")
    if workers > 1:
        options = PipelineOptions(runner="DirectRunner", direct_running_mode="multi_processing",
                                  direct_num_workers=workers)
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        records = pipeline | beam.Create(records)
        if config is not None:
            records, _ = records | ApplyStage(rewrite.REWRITE, config)
        _ = records | beam.combiners.Count.Globally()
    return time.perf_counter() - start


def main() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port),
                               "--latency", str(LATENCY)], stdout=subprocess.PIPE)
    server.stdout.readline()
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        label, records = source_records()
        records = records[:RECORDS]
        llm = BuildConfig(llm="openai", llm_base_url=base_url, llm_model="m", llm_concurrency=CONCURRENCY)
        times: dict[str, list[float]] = {"bare": [], "empty": [], "rules": [], "llm": [], "wire": [],
                                         "models": []}
        for _ in range(ROUNDS):
            times["wire"].append(asyncio.run(_bare_aiohttp(base_url, records, CONCURRENCY)))
            times["bare"].append(asyncio.run(_bare(base_url, records, CONCURRENCY)))
            times["models"].append(asyncio.run(_bare(base_url, records, CONCURRENCY, models=True)))
            times["empty"].append(_beam(records, None))
            times["rules"].append(_beam(records, BuildConfig()))
            times["llm"].append(_beam(records, llm))
        half = CONCURRENCY // 2
        empty_two = _beam(records, None, workers=2)
        llm_two = _beam(records, replace(llm, llm_concurrency=half), workers=2)
        serial_bare = asyncio.run(_bare(base_url, records[:SERIAL_RECORDS], 1))
        serial_rules = _beam(records[:SERIAL_RECORDS], BuildConfig())
        serial_llm = _beam(records[:SERIAL_RECORDS], replace(llm, llm_concurrency=1))
    finally:
        server.terminate()
        server.wait()
    bare, empty, rules, with_llm, wire, models = (statistics.median(times[kind]) for kind in times)
    wire_rate = len(records) / wire
    bare_rate = len(records) / bare
    full_rate = len(records) / (with_llm - empty)
    calls_rate = len(records) / (with_llm - rules)
    two_rate = len(records) / (llm_two - empty_two)
    overhead_ms = ((serial_llm - serial_rules) - serial_bare) / SERIAL_RECORDS * 1000

    def runs(kind: str) -> str:
        return ", ".join(f"{t:.1f}" for t in times[kind])

    lines = [
        "## LLM stage against a bare AsyncOpenAI loop",
        "",
        f"`python -m benchmarks.llm` on {machine()}: {len(records)} {label} rewrite requests to a local "
        f"OpenAI-compatible server in its own process answering after {LATENCY * 1000:.0f} ms, "
        f"{CONCURRENCY} requests in flight. Each time is the median of {ROUNDS} runs made alternately in "
        "one invocation (seconds of each run in brackets). The stage is charged in full: pipeline wall "
        "time with the LLM stage minus the same pipeline without the stage (Beam start-up and reading "
        "the records); the line below charges only what the LLM calls add (minus the same pipeline "
        "with the rules backend, which runs the same checks).",
        "",
        "| what | figure |",
        "|---|---|",
        f"| bare aiohttp loop (the wire: plain JSON, no SDK), {CONCURRENCY} in flight | "
        f"{wire_rate:,.0f} requests/s ({runs('wire')}) |",
        f"| bare `AsyncOpenAI` loop as the stage calls it (aiohttp transport; `client.post` of the "
        f"request, the reply's JSON read as it came), {CONCURRENCY} in flight | {bare_rate:,.0f} "
        f"requests/s ({runs('bare')}): {wire_rate / bare_rate:.2f}x the wire's time (goal <= 1.3x) |",
        f"| the same loop through `chat.completions.create` (request and reply models), for reference | "
        f"{len(records) / models:,.0f} requests/s ({runs('models')}): {models / wire:.2f}x the wire's time |",
        f"| rewrite stage in Beam (DirectRunner, 1 worker), charged in full | {full_rate:,.0f} records/s "
        f"({runs('llm')} minus {runs('empty')}) |",
        f"| **Beam / bare, one worker, stage charged in full** | **{full_rate / bare_rate:.0%}** "
        "(goal >= 97%) |",
        f"| Beam / bare, one worker, LLM calls only | {calls_rate / bare_rate:.0%} "
        f"(minus the rules pipeline: {runs('rules')}) |",
        f"| rewrite stage in Beam, 2 worker processes, {half} in flight each, charged in full | "
        f"{two_rate:,.0f} records/s ({llm_two:.1f} minus {empty_two:.1f}), "
        f"{two_rate / bare_rate:.0%} of bare |",
        f"| per-request overhead at concurrency 1 ({SERIAL_RECORDS} requests, LLM calls only) | "
        f"{overhead_ms:.1f} ms over the bare loop's {serial_bare / SERIAL_RECORDS * 1000:.1f} ms |",
    ]
    write_section("llm-stage", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
