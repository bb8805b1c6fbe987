"""The online engines against real endpoints: a local OpenAI-compatible speech server,
and unreachable services. No failure loses a record or leaves an empty clip."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import wave

import pyarrow.parquet as pq
import pytest

from pipeline.cli import run
from pipeline.config import BuildConfig
from pipeline.tts import make_engine
from pipeline.tts.voice import TTSError, Voice
from tests.fakes.openai_server import OpenAIServer


def _openai_config(base_url: str, retries: int = 2, timeout: float = 10) -> BuildConfig:
    return BuildConfig(tts="openai", tts_base_url=base_url, tts_model="tts-test", tts_retries=retries,
                       tts_timeout=timeout)


def test_openai_speech_returns_samples_and_retries_throttling():
    with OpenAIServer({"Natalia": "tts_429_once"}) as server:
        engine = make_engine(_openai_config(server.base_url))
        samples = engine.synthesize("Natalia sold 48 clips.", Voice("alloy", engine="openai"))
        assert samples.size > engine.sample_rate * 0.5
        assert server.spoken["Natalia sold 48 clips."] == 2  # a 429, then the clip


@pytest.mark.parametrize(("fault", "reason"), [("tts_500", "tts_http_error"),
                                               ("tts_garbage", "tts_bad_audio"),
                                               ("tts_rate_zero", "tts_bad_audio")])
def test_openai_speech_failures_have_reasons(fault, reason):
    with OpenAIServer({"Natalia": fault}) as server:
        engine = make_engine(_openai_config(server.base_url, retries=1))
        with pytest.raises(TTSError) as failed:
            engine.synthesize("Natalia sold 48 clips.", Voice("alloy", engine="openai"))
        assert failed.value.reason == reason


def test_unreachable_services_are_a_clear_reason():
    closed = "http://127.0.0.1:9/v1"
    with pytest.raises(TTSError) as failed:
        make_engine(_openai_config(closed, retries=0)).synthesize("Hello.", Voice("alloy", engine="openai"))
    assert failed.value.reason == "tts_unreachable"
    edge = make_engine(BuildConfig(tts="edge", tts_retries=1, tts_timeout=5, tts_proxy="http://127.0.0.1:9"))
    with pytest.raises(TTSError) as failed:
        edge.synthesize("Hello.", Voice("en-US-AriaNeural", engine="edge"))
    assert failed.value.reason == "tts_unreachable"


def test_a_build_with_speech_faults_loses_nothing(tmp_path, gsm8k_path):
    lines = gsm8k_path.read_bytes().splitlines()[:8]
    problems = [json.loads(line)["question"] for line in lines]
    names = [problem.split()[0] for problem in problems]  # Weng, Betty, Julie...
    faults = {names[1]: "tts_garbage", names[2]: "tts_500", names[3]: "tts_429_once"}
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    with OpenAIServer(faults) as server:
        summary = run(["--source", f"gsm8k:{source}", "--output", str(tmp_path / "out"), "--tts", "openai",
                       "--tts_base_url", server.base_url, "--tts_model", "tts-test",
                       "--tts_retries", "1", "--voices", "alloy,echo"])
    assert summary["inputs"] == 8 == summary["outputs"] + summary["rejects"]
    assert summary["rejects_by_reason"] == {"speech/tts_bad_audio": 1, "speech/tts_http_error": 1}
    details = pq.read_table(tmp_path / "out" / "rejects", columns=["detail"])["detail"].to_pylist()
    assert not any("object at 0x" in detail for detail in details)  # rejects repeat exactly between runs
    rows = [row for path in (tmp_path / "out" / "data").glob("*.parquet")
            for row in pq.read_table(path).to_pylist()]
    assert len(rows) == 6
    for row in rows:
        assert row["question_voice"].split()[0] in {"openai:alloy", "openai:echo"}
        for column in ("question_audio", "response_audio"):
            with wave.open(io.BytesIO(row[column]["bytes"])) as clip:
                assert clip.getnframes() > 0


def test_asr_round_trip_passes_faithful_clips_and_rejects_the_rest(config):
    from pipeline.asr import OpenAITranscriber
    from pipeline.reject import Reject
    from pipeline.stages.speech import speak
    from pipeline.tts.espeak import EspeakSpeech
    from tests.records import NATALIA, interleaved

    record = interleaved(NATALIA, config)
    response = " ".join(sentence["text"] for sentence in record["response"])
    engine = EspeakSpeech()
    with OpenAIServer() as server:
        transcriber = OpenAITranscriber(server.base_url, "asr-test", "NO_KEY", 10, 0)
        server.transcripts = {f"{record['id']}-question.wav": record["question"].upper(),
                              f"{record['id']}-response.wav": response.replace(".", "")}
        heard = speak(record, config, engine, transcriber)
        assert heard["checks"]["asr_wer"] == 0.0
        assert server.heard_seconds == pytest.approx([heard["question_duration"], heard["response_duration"]])
        server.transcripts[f"{record['id']}-response.wav"] = "something else entirely was said here"
        with pytest.raises(Reject) as rejected:
            speak(record, config, engine, transcriber)
        assert rejected.value.reason == "asr_mismatch"
    closed = OpenAITranscriber("http://127.0.0.1:9/v1", "asr-test", "NO_KEY", 5, 0)
    with pytest.raises(Reject) as rejected:
        speak(record, config, engine, closed)
    assert rejected.value.reason == "asr_unreachable"
    engine.close()


@pytest.fixture
def edge_endpoint(monkeypatch):
    """edge-tts's own client, pointed at the local Edge-protocol server instead of Bing."""
    import edge_tts.communicate

    from tests.fakes.edge_server import EdgeServer

    def serve(**faults):
        server = EdgeServer(**faults)
        server.__enter__()
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", server.url)
        started.append(server)
        return server

    started = []
    yield serve
    for server in started:
        server.__exit__()


def test_edge_speech_is_decoded_and_retries_throttling(edge_endpoint):
    server = edge_endpoint(throttled=1)
    engine = make_engine(BuildConfig(tts="edge", tts_retries=2, tts_timeout=10))
    samples = engine.synthesize("Natalia sold 48 clips.", Voice("en-US-AriaNeural", engine="edge"))
    assert samples.size > engine.sample_rate * 0.5
    assert server.connections == 2  # a 429, then the clip


def test_edge_endless_throttling_is_a_reject(edge_endpoint):
    edge_endpoint(throttled=99)
    engine = make_engine(BuildConfig(tts="edge", tts_retries=1, tts_timeout=10))
    with pytest.raises(TTSError) as failed:
        engine.synthesize("Weng earns 12 dollars.", Voice("en-US-AriaNeural", engine="edge"))
    assert failed.value.reason == "tts_throttled"


def test_edge_audio_that_is_not_mp3_is_a_reject(edge_endpoint):
    edge_endpoint(garbage_words=("Natalia",))
    engine = make_engine(BuildConfig(tts="edge", tts_retries=1, tts_timeout=10))
    with pytest.raises(TTSError) as failed:
        engine.synthesize("Natalia sold 48 clips.", Voice("en-US-AriaNeural", engine="edge"))
    assert failed.value.reason == "tts_bad_audio"


def _speak_with(server: OpenAIServer, output, count: int, *extra: str) -> dict:
    return run(["--source", f"generate:{count}", "--output", str(output), "--tts", "openai",
                "--tts_base_url", server.base_url, "--tts_model", "tts-test", "--no_progress", *extra])


def test_tts_concurrency_holds_that_many_requests_in_flight(tmp_path):
    with OpenAIServer(speech_latency=0.2) as server:
        summary = _speak_with(server, tmp_path / "out", 12, "--tts_concurrency", "6")
    assert summary["inputs"] == 12 == summary["outputs"] + summary["rejects"]
    assert server.most_speaking == 6


def test_a_stalled_speech_endpoint_fails_fast_and_the_run_says_so(tmp_path):
    with OpenAIServer(speech_latency=3) as server:
        started = time.perf_counter()
        with pytest.raises(SystemExit) as failed:
            _speak_with(server, tmp_path / "out", 40, "--tts_timeout", "0.5", "--tts_retries", "0")
        elapsed = time.perf_counter() - started
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"] == 40 == summary["rejects"] + summary["outputs"]
    assert summary["rejects_by_reason"].get("speech/tts_unreachable", 0) == summary["rejects"] - sum(
        n for reason, n in summary["rejects_by_reason"].items() if reason.startswith("source/"))
    assert "speech/tts_unreachable" in str(failed.value) and "\n" not in str(failed.value)
    # after UNREACHABLE_LIMIT clips in a row timed out, the rest were not asked for at all
    asked = sum(n for path, n in server.requests.items() if path.endswith("/audio/speech"))
    assert asked < 40 and elapsed < 40


def test_a_speech_reply_trickled_byte_by_byte_ends_at_the_timeout():
    with OpenAIServer({"Natalia": "tts_trickle"}) as server:
        engine = make_engine(_openai_config(server.base_url, retries=0, timeout=1))
        started = time.monotonic()
        with pytest.raises(TTSError) as failed:
            engine.synthesize("Natalia sold 48 clips.", Voice("alloy", engine="openai"))
    assert failed.value.reason == "tts_unreachable" and time.monotonic() - started < 3


def test_a_killed_speech_run_asks_again_only_for_clips_it_had_not_received(tmp_path):
    """The speech cache: killed with SIGKILL midway, the rerun asks the remote engine only
    for the clips that were in flight (at most --tts_concurrency), and the summary counts
    what it read from the cache."""
    output = tmp_path / "out"
    flags = ["--source", "generate:30", "--output", str(output), "--tts", "openai", "--tts_model", "t",
             "--no_progress", "--tts_concurrency", "4"]
    with OpenAIServer(speech_latency=0.02) as server:
        flags += ["--tts_base_url", server.base_url]
        first = subprocess.Popen([sys.executable, "-m", "pipeline", *flags], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        while sum(server.spoken.values()) < 60:
            time.sleep(0.005)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        before = dict(server.spoken)
        summary = run(flags)
    asked_again = [text for text, times in before.items() if server.spoken[text] > times]
    assert len(asked_again) <= 4, asked_again
    assert summary["tts_cache"]["cache_hits"] >= 50 and summary["outputs"] + summary["rejects"] == 30
