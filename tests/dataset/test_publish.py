"""A rerun that fails or is killed leaves the previous dataset byte for byte as it was;
a finished rerun replaces only the files the previous run wrote."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import run


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kept") / "dataset"
    run(["--source", "generate:8", "--output", str(out), "--no_progress"])
    (out / "notes.txt").write_text("the user's own file")
    return out


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("point", ["reading", "writing_shards", "finalizing"])
def test_a_killed_rerun_leaves_the_previous_dataset_as_it_was(previous, point):
    before = _snapshot(previous)
    staging = Path(str(previous) + ".partial")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "--source", "generate:60",
                                "--output", str(previous), "--no_progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if point == "reading":
            assert _wait_for(staging.exists, 120) or process.poll() is None
        elif point == "writing_shards":
            assert _wait_for(lambda: any(staging.glob("_parts/data/*/*/*.arrows")), 120)
        else:
            assert _wait_for(lambda: (staging / "data").exists(), 120)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert _snapshot(previous) == before


def test_a_finished_rerun_replaces_only_what_the_previous_run_wrote(tmp_path):
    out = tmp_path / "dataset"
    run(["--source", "generate:8", "--output", str(out), "--num_shards", "3", "--no_progress"])
    (out / "notes.txt").write_text("keep me")
    (out / "data" / "mine.parquet").write_bytes(b"the user's")
    run(["--source", "generate:8", "--output", str(out), "--num_shards", "2", "--no_progress"])
    names = sorted(p.name for p in (out / "data").iterdir())
    assert names == ["mine.parquet", "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert (out / "notes.txt").read_text() == "keep me"
    assert not Path(str(out) + ".partial").exists()


def test_a_source_inside_the_output_or_an_output_that_is_a_file_is_refused(previous, tmp_path):
    shard = next((previous / "data").glob("*.parquet"))
    before = _snapshot(previous)
    for argv, message in (
        (["--source", f"generic:{shard}", "--field", "question=question", "--field", "solution=solution",
          "--output", str(previous)], "lies inside --output"),
        (["--output", str(previous / "notes.txt")], "is a file"),
    ):
        result = subprocess.run([sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert _snapshot(previous) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_is_refused(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    result = subprocess.run([sys.executable, "-m", "pipeline", "--output", str(out)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "not writable" in result.stderr


HOSTILE = '{"files": ["../victim/x", "/ABS/y", "data/../../victim/x", "data/.."]}'


@pytest.mark.parametrize("manifest", [HOSTILE, "", '{"files": [', '{"files": 3}', "[1, 2]"])
def test_a_hostile_or_broken_manifest_deletes_nothing_outside_the_dataset(tmp_path, manifest):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "x").write_text("the user's")
    (victim / "y").write_text("the user's")
    out = tmp_path / "dataset"
    run(["--source", "generate:4", "--output", str(out), "--no_progress"])
    (out / "_manifest.json").write_text(manifest.replace("/ABS/y", str(victim / "y")))
    result = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:4", "--output", str(out),
                             "--no_progress"], capture_output=True, text=True)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "warning:" in result.stderr and "_manifest.json" in result.stderr
    assert (victim / "x").read_text() == "the user's" and (victim / "y").read_text() == "the user's"
    assert len(list((out / "data").glob("*.parquet"))) >= 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("service", ["refuses the key", "is down"])
def test_a_run_that_failed_on_its_service_keeps_the_good_dataset(tmp_path, service):
    from tests.fakes.openai_server import OpenAIServer

    out = tmp_path / "dataset"
    run(["--source", "generate:4", "--output", str(out), "--no_progress", "--tts", "none"])
    before = _snapshot(out)
    with OpenAIServer({"How": "http_401"}) as server:
        base_url = server.base_url if service == "refuses the key" else f"http://127.0.0.1:{_free_port()}/v1"
        result = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:4", "--output",
                                 str(out), "--no_progress", "--tts", "none", "--llm", "openai", "--base_url",
                                 base_url, "--model", "m", "--llm_retries", "0", "--llm_timeout", "5"],
                                capture_output=True, text=True, timeout=300,
                                env={**os.environ, "OPENAI_API_KEY": "k"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "kept as it was" in message and "--replace_on_failure" in message
    assert _snapshot(out) == before
    failed = Path(str(out) + ".failed")
    assert list((failed / "rejects").glob("*.parquet")) and (failed / "summary.json").exists()


def test_two_runs_on_one_output_the_second_is_refused(tmp_path):
    out = tmp_path / "dataset"
    first = subprocess.Popen([sys.executable, "-m", "pipeline", "--source", "generate:3000", "--output",
                              str(out), "--no_progress"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(Path(str(out) + ".partial").exists, 120)
        second = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:2", "--output",
                                 str(out), "--no_progress"], capture_output=True, text=True, timeout=120)
        assert second.returncode != 0 and "another run" in second.stderr and "Traceback" not in second.stderr
        assert second.stderr.strip().count("\n") == 0
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    run(["--source", "generate:2", "--output", str(out), "--no_progress", "--tts", "none"])  # no lock left
    assert (out / "summary.json").exists()
