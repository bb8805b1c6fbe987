"""A rerun that fails or is killed leaves the previous dataset byte for byte as it was;
a finished rerun replaces only the files the previous run wrote."""

import contextlib
import hashlib
import json
import os
import re
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
    names = sorted(re.sub(r"-[0-9a-f]{12}\.parquet$", ".parquet", p.name) for p in (out / "data").iterdir())
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


@pytest.fixture(scope="module")
def text_only(tmp_path_factory) -> Path:
    """A finished text-only build, copied by each test that changes it (speech plays no part
    in what is deleted)."""
    out = tmp_path_factory.mktemp("text") / "dataset"
    run(["--source", "generate:4", "--output", str(out), "--no_progress", "--tts", "none"])
    return out


@pytest.mark.parametrize("manifest", [HOSTILE, "", '{"files": [', '{"files": 3}', "[1, 2]"])
def test_a_hostile_or_broken_manifest_deletes_nothing_outside_the_dataset(tmp_path, text_only, manifest):
    import shutil

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "x").write_text("the user's")
    (victim / "y").write_text("the user's")
    out = tmp_path / "dataset"
    shutil.copytree(text_only, out)
    (out / "_manifest.json").write_text(manifest.replace("/ABS/y", str(victim / "y")))
    result = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:4", "--output", str(out),
                             "--no_progress", "--tts", "none"], capture_output=True, text=True)
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
                             stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(19))  # it holds the lock
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


# Imports once, then forks a publisher per line it reads ("staging output"): each prints
# "ready PID", publishes and prints its time; "done" follows once it has ended or been killed.
PUBLISHERS = """
import os, sys, time
import datasets  # imported before the clock starts: the card needs it
from pipeline.dataset.publish import publish
for line in sys.stdin:
    staging, output = line.split()
    child = os.fork()
    if child == 0:
        print("ready", os.getpid(), flush=True)
        started = time.perf_counter()
        publish(staging, output)
        print(time.perf_counter() - started, flush=True)
        os._exit(0)
    os.waitpid(child, 0)
    print("done", flush=True)
"""


def _rows(folder: Path) -> int:
    import datasets

    loaded = datasets.load_dataset(str(folder), split="train", cache_dir=str(folder.parent / "hf-cache"))
    return loaded.num_rows


def test_a_publish_killed_at_any_instant_leaves_one_whole_dataset(tmp_path, monkeypatch):
    """Kill -9 at 20 random instants of publishing: the previous or the new dataset loads,
    with the row count of its summary; the next run removes what the kills left."""
    import random
    import shutil

    import pipeline.cli

    old, staged = tmp_path / "old", tmp_path / "staged"
    run(["--source", "generate:20", "--output", str(old), "--num_shards", "30", "--no_progress",
         "--tts", "none"])
    monkeypatch.setattr(pipeline.cli, "publish", lambda staging, _: shutil.copytree(staging, staged))
    run(["--source", "generate:26", "--output", str(tmp_path / "unused"), "--num_shards", "40",
         "--no_progress", "--tts", "none"])
    monkeypatch.undo()
    counts = {json_rows(old / "summary.json"), json_rows(staged / "summary.json")}
    out = tmp_path / "dataset"
    random.seed(7)
    spans, seen = [], []
    publishers = subprocess.Popen([sys.executable, "-c", PUBLISHERS], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
    for attempt in range(21):
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(str(out) + ".partial", ignore_errors=True)
        shutil.copytree(old, out)
        shutil.copytree(staged, str(out) + ".partial")
        publishers.stdin.write(f"{out}.partial {out}\n")
        publishers.stdin.flush()
        ready, pid = publishers.stdout.readline().split()
        assert ready == "ready"
        if attempt == 0:  # the first publish runs to its end, to time the others' kills
            spans.append(float(publishers.stdout.readline()))
            assert publishers.stdout.readline().strip() == "done"
            assert _rows(out) == json_rows(staged / "summary.json")
            continue
        time.sleep(random.uniform(0, spans[0]))
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.kill(int(pid), signal.SIGKILL)
        while publishers.stdout.readline().strip() != "done":  # its time, if it ended first
            pass
        seen.append(_rows(out))  # load_dataset checks the count against the card it read
    publishers.stdin.close()
    publishers.wait()
    assert set(seen) <= counts, seen
    run(["--source", "generate:26", "--output", str(out), "--num_shards", "40", "--no_progress",
         "--tts", "none"])
    listed = set(json.loads((out / "_manifest.json").read_text())["files"])
    assert {f"data/{p.name}" for p in (out / "data").iterdir()} <= listed
    assert _rows(out) == json_rows(out / "summary.json") == json_rows(staged / "summary.json")


def json_rows(path: Path) -> int:
    return json.loads(path.read_text())["outputs"]


def test_a_build_whose_shards_lost_rows_is_not_published(tmp_path, monkeypatch):
    """A runner that drops elements (Beam's DaskRunner loses what a DoFn emits as its bundle
    finishes) gives shards short of the rows counted: the run exits with one line, the
    previous dataset stays, and the build is set aside."""
    import pyarrow.parquet as pq

    import pipeline.beam.sink

    output = tmp_path / "out"
    run(["--source", "generate:12", "--output", str(output), "--no_progress", "--tts", "none"])
    before = _snapshot(output)
    write = pipeline.beam.sink.write_parquet
    monkeypatch.setattr(pipeline.beam.sink, "write_parquet",
                        lambda table, path: write(table.slice(0, 0) if "/data/" in path else table, path))
    with pytest.raises(SystemExit) as refused:
        run(["--source", "generate:20", "--output", str(output), "--no_progress", "--tts", "none"])
    assert "shards hold 0 rows where 20 came through" in str(refused.value)
    assert _snapshot(output) == before
    failed = tmp_path / "out.failed"
    assert sum(pq.read_metadata(p).num_rows for p in (failed / "data").glob("*.parquet")) == 0
