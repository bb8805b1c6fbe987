"""LLM calls under injected faults, and a run killed part-way and resumed from the cache."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.fakes.openai_server import OpenAIServer


def _build(output, server, count: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "--source", f"generate:{count}", "--output", str(output),
         "--llm", "openai", "--base_url", server.base_url, "--model", "m", "--llm_timeout", "1",
         "--llm_retries", "3", "--no_progress", "--tts", "none", *extra],
        capture_output=True, text=True, check=True)


def _ids(folder) -> list[str]:
    return sorted(row for path in folder.glob("*.parquet")
                  for row in pq.read_table(path, columns=["id"])["id"].to_pylist())


def _transient_fault_run(tmp_path, count: int) -> None:
    with OpenAIServer(fault_rate=0.2, hang_seconds=1.5) as server:
        _build(tmp_path / "out", server, count, "--no_cache")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    usage = json.loads((tmp_path / "out" / "llm_usage.json").read_text())
    ids = _ids(tmp_path / "out" / "data")
    assert summary["inputs"] == count == summary["outputs"] + summary["rejects"]
    # every item met only transient faults: all are in but the generator's own repeats
    assert set(summary["rejects_by_reason"]) <= {"source/duplicate"}
    assert len(ids) == len(set(ids)) == count - summary["rejects"]
    faulted = sum(1 for key, times in server.seen.items() if times > 1)
    assert faulted > 0.15 * len(server.seen) / 2 and usage["retries"] > 0
    assert usage["failed_llm_timeout"] > 0 and usage["failed_llm_throttled"] > 0
    # both LLM stages' requests are counted; under load a request can time out before the
    # server reads it, so the client sent it but the server never saw it
    never_arrived = usage["requests"] - sum(server.seen.values())
    assert 0 <= never_arrived <= usage["failed_llm_timeout"] + usage.get("failed_llm_unreachable", 0)


def test_transient_faults_lose_nothing(tmp_path):
    _transient_fault_run(tmp_path, 120)


@pytest.mark.slow
def test_transient_faults_lose_nothing_in_2000_items(tmp_path):
    _transient_fault_run(tmp_path, 2000)


def test_permanent_faults_are_rejects_with_their_reason(tmp_path, gsm8k_path):
    source = _eight_problems(tmp_path, gsm8k_path)
    faults = {"Weng": "http_500", "Betty": "schema", "Julie": "invalid_json"}
    with OpenAIServer(faults) as server:
        subprocess.run([sys.executable, "-m", "pipeline", "--source", f"gsm8k:{source}", "--output",
                        str(tmp_path / "out"), "--llm", "openai", "--base_url", server.base_url,
                        "--model", "m", "--llm_retries", "1", "--no_cache", "--no_progress", "--tts", "none"],
                       capture_output=True, check=True)
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    reasons = {name: r["reason"] for r in rejects for name in faults if name in r["record"]}
    assert reasons == {"Weng": "llm_http_error", "Betty": "llm_schema", "Julie": "llm_invalid_json"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"] == 8 == summary["outputs"] + summary["rejects"]


def _eight_problems(tmp_path, gsm8k_path):
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"".join(gsm8k_path.read_bytes().splitlines(keepends=True)[:8]))
    return source


def _run_eight(source, output, server, *extra: str) -> tuple[dict, dict, list[dict]]:
    subprocess.run([sys.executable, "-m", "pipeline", "--source", f"gsm8k:{source}", "--output",
                    str(output), "--llm", "openai", "--base_url", server.base_url, "--model", "m",
                    "--llm_retries", "1", "--no_progress", "--tts", "none", *extra],
                   capture_output=True, check=True)
    summary = json.loads((output / "summary.json").read_text())
    usage = json.loads((output / "llm_usage.json").read_text())
    rejects = pq.read_table(output / "rejects").to_pylist()
    assert summary["inputs"] == 8 == summary["outputs"] + summary["rejects"]
    return summary, usage, rejects


def test_a_200_that_is_no_chat_completion_is_retried_then_rejected(tmp_path, gsm8k_path):
    source = _eight_problems(tmp_path, gsm8k_path)
    faults = {"Weng": "html_page", "Betty": "html_page_once"}
    with OpenAIServer(faults) as server:
        summary, usage, rejects = _run_eight(source, tmp_path / "out", server, "--no_cache")
    assert [(r["reason"], "Weng" in r["record"]) for r in rejects] == [("llm_invalid_response", True)]
    assert "no chat completion" in rejects[0]["detail"] and summary["outputs"] == 7
    assert usage["failed_llm_invalid_response"] >= 3  # Weng twice, Betty once


def test_only_replies_that_passed_their_checks_are_cached(tmp_path, gsm8k_path):
    source, cache = _eight_problems(tmp_path, gsm8k_path), str(tmp_path / "cache")
    with OpenAIServer({"Julie": "invalid_json"}) as server:
        _, _, rejects = _run_eight(source, tmp_path / "first", server, "--cache_dir", cache)
        assert [r["reason"] for r in rejects] == ["llm_invalid_json"]
        server.faults, asked_before = {}, sum(server.seen.values())  # the endpoint is fixed
        summary, usage, rejects = _run_eight(source, tmp_path / "second", server, "--cache_dir", cache)
    assert rejects == [] and summary["outputs"] == 8
    # Julie's problem is asked again (its rewrite and its split); the other seven come from the cache
    assert usage["requests"] == sum(server.seen.values()) - asked_before == 2
    assert usage["cache_hits"] == 2 * 7


def test_a_killed_run_resumes_without_asking_again(tmp_path):
    cache = str(tmp_path / "cache")
    with OpenAIServer(latency=0.01) as server:
        first = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--source", "generate:60", "--output", str(tmp_path / "a"),
             "--llm", "openai", "--base_url", server.base_url, "--model", "m", "--cache_dir", cache,
             "--no_progress", "--tts", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while sum(server.answered.values()) < 50:
            time.sleep(0.02)
        server.open.clear()  # the endpoint stalls: what was answered gets cached, nothing more
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        answered_before = set(server.answered)
        server.open.set()
        _build(tmp_path / "a", server, 60, "--cache_dir", cache)
        asked_again = [key for key in answered_before if server.seen[key] > 1]
        assert asked_again == []
        assert len(server.answered) > len(answered_before)  # the rest was asked for
        _build(tmp_path / "b", server, 60, "--no_cache")  # an uninterrupted run
    resumed, whole = (sorted((tmp_path / name / "data").glob("train-00000-of-00001-*.parquet"))
                      for name in "ab")
    assert [p.read_bytes() for p in resumed] == [p.read_bytes() for p in whole] != []


def test_structured_output_key_file_and_budgets(tmp_path, monkeypatch):
    from pipeline.config import BuildConfig
    from pipeline.llm.client import client_for
    from pipeline.llm.limits import Budget
    from pipeline.sources.records import generated_record
    from pipeline.stages.rewrite import rewrite_with_llm

    key_file = tmp_path / "key.txt"
    key_file.write_text("sk-from-a-file-77\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with OpenAIServer() as server:
        config = BuildConfig(llm="openai", llm_base_url=server.base_url, llm_model="m",
                             llm_api_key_file=str(key_file), llm_structured_output=True)
        client = client_for(config)
        record = client.stage(lambda r: rewrite_with_llm(r, config, client))(generated_record(0, 1))
    assert record["question"]
    assert server.authorizations == {"Bearer sk-from-a-file-77"}
    assert server.response_formats[0]["type"] == "json_schema"
    assert server.response_formats[0]["json_schema"]["schema"]["required"] == ["question"]
    budget = Budget(per_minute=600)  # ten a second, a minute's worth at once

    async def spend() -> None:
        for _ in range(605):
            await budget.take(1)
    start = time.monotonic()
    asyncio.run(spend())
    assert time.monotonic() - start >= 0.4


@pytest.mark.parametrize("concurrency", [64, 8])
def test_a_run_killed_at_half_its_replies_asks_again_only_what_was_in_flight(tmp_path, concurrency):
    """120 replies (60 records, a rewrite and a split each): killed with SIGKILL once 60 are
    answered, the rerun asks again only for replies that were on their way when it died."""
    flags = ["--llm_concurrency", str(concurrency), "--judge", "off", "--cache_dir", str(tmp_path / "cache")]
    with OpenAIServer(latency=0.02) as server:
        first = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--source", "generate:60", "--output", str(tmp_path / "out"),
             "--llm", "openai", "--base_url", server.base_url, "--model", "m", "--no_progress",
             "--tts", "none", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while sum(server.answered.values()) < 60:
            time.sleep(0.002)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        answered_before = set(server.answered)
        _build(tmp_path / "out", server, 60, *flags)
    asked_again = [key for key in answered_before if server.seen[key] > 1]
    assert len(asked_again) <= concurrency, (len(asked_again), len(answered_before))


def test_a_reply_trickled_byte_by_byte_is_a_timeout_not_a_hang(tmp_path, gsm8k_path):
    """A body sent a byte every quarter second never trips a read timeout; the total
    deadline of a try (``--llm_timeout``, every retry included) ends it."""
    source = _eight_problems(tmp_path, gsm8k_path)
    with OpenAIServer({"Weng": "trickle"}) as server:
        started = time.monotonic()
        summary, _, rejects = _run_eight(source, tmp_path / "out", server, "--no_cache", "--llm_timeout", "1")
    assert [(r["reason"], "Weng" in r["record"]) for r in rejects] == [("llm_timeout", True)]
    assert summary["outputs"] == 7 and time.monotonic() - started < 30


def test_a_long_or_endless_retry_after_never_holds_the_run(tmp_path, gsm8k_path):
    """``Retry-After: 100`` and ``Retry-After: inf`` from a real server: the wait is capped and
    counted against the request's deadline, so both problems are throttled rejects in seconds."""
    source = _eight_problems(tmp_path, gsm8k_path)
    with OpenAIServer({"Weng": "retry_after_100", "Betty": "retry_after_inf"}) as server:
        started = time.monotonic()
        summary, _, rejects = _run_eight(source, tmp_path / "out", server, "--no_cache", "--llm_timeout", "2",
                                         "--llm_retries", "3")
    assert [r["reason"] for r in rejects] == ["llm_throttled", "llm_throttled"]
    assert all(any(name in r["record"] for r in rejects) for name in ("Weng", "Betty"))
    assert summary["outputs"] == 6 and time.monotonic() - started < 30
