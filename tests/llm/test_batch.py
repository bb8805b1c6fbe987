"""``--llm_batch`` against the local server's Batch API: the same shards as live calls,
and a run killed while it polls resumes its batches without sending a request twice."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import run
from tests.fakes.openai_server import OpenAIServer

SOURCE = "generate:16"


def _flags(server: OpenAIServer, output: Path, *extra: str) -> list[str]:
    return ["--source", SOURCE, "--output", str(output), "--llm", "openai", "--judge", "openai",
            "--base_url", server.base_url, "--model", "m", "--no_progress", "--num_shards", "2",
            "--tts", "none", *extra]


def _shards(output: Path) -> dict[str, bytes]:
    """Shards by name without the version suffix (a version hashes the run's settings)."""
    return {p.name.rsplit("-", 1)[0]: p.read_bytes() for p in sorted((output / "data").glob("*.parquet"))}


def test_a_batch_run_gives_the_shards_of_a_live_run(tmp_path):
    with OpenAIServer() as server:
        live = run(_flags(server, tmp_path / "live"))
        live_chats = server.requests["/v1/chat/completions"]
        batched = run(_flags(server, tmp_path / "batch", "--llm_batch", "--llm_batch_poll", "0.05"))
        assert server.requests["/v1/chat/completions"] == live_chats  # no live call in the batch run
    assert batched["outputs"] == live["outputs"] == 16 and batched["rejects"] == 0
    assert _shards(tmp_path / "batch") == _shards(tmp_path / "live")
    state = json.loads((tmp_path / "batch" / "llm_batch" / "batches.json").read_text())
    assert [entry["requests"] for entry in state] == [16, 16, 16]  # rewrite, split, judge
    assert all(entry["status"] == "completed" and entry["stored"] for entry in state)
    assert max(server.batched.values()) == 1 and sum(server.batched.values()) == 48


def test_a_run_killed_while_polling_resumes_its_batch(tmp_path):
    output = tmp_path / "out"
    with OpenAIServer() as server:
        server.batches_open.clear()  # batches stay in progress: the run polls
        process = subprocess.Popen([sys.executable, "-m", "pipeline",
                                    *_flags(server, output, "--llm_batch", "--llm_batch_poll", "0.05")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = output / "llm_batch" / "batches.json"
        deadline = time.monotonic() + 120
        while not state.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert state.exists()
        time.sleep(0.3)  # polling
        process.kill()
        process.wait()
        assert server.requests["/v1/batches"] == 1 and not server.batched
        server.batches_open.set()
        summary = run(_flags(server, output, "--llm_batch", "--llm_batch_poll", "0.05"))
        assert server.requests["/v1/batches"] == 3  # the killed run's batch was resumed, not sent again
        assert server.requests["/v1/chat/completions"] == 0
    assert summary["outputs"] == 16 and summary["rejects"] == 0
    assert max(server.batched.values()) == 1 and sum(server.batched.values()) == 48


def test_a_reply_is_read_the_same_way_live_or_from_a_batch_and_anything_else_is_none():
    from pipeline.llm.batch import chat_reply

    body = {"choices": [{"message": {"role": "assistant", "content": "{}"}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    assert chat_reply(body) == {"content": "{}", "refusal": False, "tokens_in": 12, "tokens_out": 3}
    assert chat_reply({"choices": [{"message": {"content": None, "refusal": "no"}}]}) == {
        "content": None, "refusal": True, "tokens_in": 0, "tokens_out": 0}
    for other in ("<html>Bad gateway</html>", None, {}, {"choices": []}, {"choices": [{}]},
                  {"choices": [{"message": {"content": 5}}]}, {**body, "usage": {"prompt_tokens": "x"}}):
        assert chat_reply(other) is None, other


@pytest.mark.parametrize(("fault", "error"), [
    ("failed", "Enqueued token limit reached"),
    ("lines", "model m is not available for batches"),
])
def test_a_failed_batch_is_named_never_resent_and_never_asked_live(tmp_path, fault, error):
    """Every batch fails (or every line of it): the run exits 1 with one line, each record is
    the reject llm_batch_failed with the service's error, nothing is sent twice and no
    request goes live (that takes --llm_batch_fallback live)."""
    with OpenAIServer() as server:
        server.batch_fault = fault
        result = subprocess.run([sys.executable, "-m", "pipeline",
                                 *_flags(server, tmp_path / "out", "--llm_batch", "--llm_batch_poll",
                                         "0.05")],
                                capture_output=True, text=True)
        assert server.requests["/v1/chat/completions"] == 0  # no live call
        assert server.requests["/v1/batches"] == 1, result.stderr  # one batch, not sent again
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no record came through" in result.stderr.strip().splitlines()[-1]
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    assert {r["reason"] for r in rejects} == {"llm_batch_failed"} and len(rejects) == 16
    assert all(error in r["detail"] for r in rejects)


def test_a_failed_batch_is_asked_live_only_when_the_flag_says_so(tmp_path):
    with OpenAIServer() as server:
        server.batch_fault = "failed"
        summary = run(_flags(server, tmp_path / "out", "--llm_batch", "--llm_batch_poll", "0.05",
                             "--llm_batch_fallback", "live"))
        assert server.requests["/v1/chat/completions"] > 0
    assert summary["outputs"] == 16 and summary["rejects"] == 0
