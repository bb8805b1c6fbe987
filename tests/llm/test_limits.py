"""Requests in flight, Beam's adaptive throttling, and a rate limit shared by all workers."""

import asyncio
import json
import subprocess
import sys

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipeline.beam.stage import ApplyStage
from pipeline.config import BuildConfig
from pipeline.llm.limits import Throttle
from pipeline.sources.records import generated_record
from pipeline.stages import rewrite
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.rate_limit_server import RateLimitServer


def test_a_stage_keeps_exactly_its_cap_of_requests_in_flight():
    records = [generated_record(1, i) for i in range(60)]
    with OpenAIServer(latency=0.2) as server:  # long enough for all 8 to overlap on a busy machine
        config = BuildConfig(llm="openai", llm_base_url=server.base_url, llm_model="m", llm_concurrency=8)
        with beam.Pipeline() as pipeline:
            passed, rejected = (pipeline | beam.Create(records)
                                | ApplyStage(rewrite.REWRITE, config))
            assert_that(passed | beam.Map(lambda r: r["id"]), equal_to([r["id"] for r in records]))
            assert_that(rejected, equal_to([]), label="no rejects")
    assert server.most_in_flight == 8
    assert sum(server.seen.values()) == len(records)


def test_the_first_wave_of_requests_is_not_throttled():
    throttle = Throttle()

    async def wave():  # a throttled request would wait a whole second
        await asyncio.wait_for(asyncio.gather(*(throttle.wait() for _ in range(64))), 0.5)
        for _ in range(64):
            throttle.ended(succeeded=True)

    asyncio.run(wave())


def test_requests_are_throttled_while_most_recent_ones_failed():
    throttle = Throttle()
    for _ in range(100):
        throttle.ended(succeeded=False)

    async def held_back() -> bool:
        try:
            await asyncio.wait_for(throttle.wait(), 0.01)
        except TimeoutError:
            return True
        return False

    assert sum(asyncio.run(held_back()) for _ in range(50)) >= 40


def test_a_rate_limit_service_limits_requests_over_all_workers(tmp_path):
    per_window = 10  # a window of half a second
    with OpenAIServer() as server, RateLimitServer({"requests": per_window}, window=0.5) as limiter:
        run = subprocess.run(
            [sys.executable, "-m", "pipeline", "--source", "generate:40", "--output", str(tmp_path / "out"),
             "--llm", "openai", "--base_url", server.base_url, "--model", "m", "--no_progress",
             "--no_cache", "--tts", "none", "--llm_rate_limiter", limiter.address, "--direct_running_mode",
             "multi_processing", "--direct_num_workers", "2"],
            capture_output=True, text=True, check=True)
    assert "Unclosed" not in run.stderr  # each worker process closed its connections as it exited
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    requests = len(server.arrivals)
    assert summary["inputs"] == summary["outputs"] + summary["rejects"] == 40
    assert set(summary["rejects_by_reason"]) <= {"source/duplicate"}
    assert requests >= 2 * summary["outputs"]  # rewrite and split each asked
    assert limiter.over_limit > 0
    windows = [hits for (value, _), hits in limiter.allowed.items() if value == "requests"]
    # one limit for both workers: every request took its hit from the one service, at most
    # per_window in a window, so they needed requests / per_window windows
    assert sum(windows) == requests and max(windows) <= per_window
    assert len(windows) >= requests / per_window
    # and each left when it was allowed: when every request arrives within half a second of
    # its grant, the k-th arrival comes at most that long after the k-th grant (measured:
    # 0.08-0.18 s with three busy loops beside the run; requests that waited for a helper
    # thread after their grant arrived 1.1 to 1.5 s late)
    granted = sorted(when for when, value in limiter.granted if value == "requests")
    lags = [arrived - allowed for arrived, allowed in zip(sorted(server.arrivals), granted, strict=True)]
    assert max(lags) < 0.5, lags


def test_a_retry_after_is_capped_and_inf_or_nan_is_ignored():
    from types import SimpleNamespace

    from pipeline.remote import MAX_BACKOFF_SECONDS, backoff_seconds, retry_after

    def throttled(value: str) -> Exception:  # what retry_after reads of the client's error
        error = RuntimeError("HTTP 429")
        error.response = SimpleNamespace(headers={"retry-after": value})
        return error

    assert retry_after(throttled("2.5")) == 2.5
    assert retry_after(throttled("inf")) is None and retry_after(throttled("nan")) is None
    assert retry_after(throttled("-1")) is None
    assert backoff_seconds(0, asked=100.0) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(0, asked=retry_after(throttled("inf"))) <= MAX_BACKOFF_SECONDS


def test_infinite_timeouts_are_refused_as_flags(tmp_path):
    for flag in ("--llm_timeout", "--tts_timeout"):
        for value in ("inf", "nan"):
            result = subprocess.run([sys.executable, "-m", "pipeline", "--output", str(tmp_path), flag,
                                     value], capture_output=True, text=True, timeout=120)
            assert result.returncode != 0 and "Traceback" not in result.stderr and flag in result.stderr
