"""An API key handed to every command never lands in anything they write, even from
services that echo it back: in a model's reply, in a 401's body, in a streamed answer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.fakes.openai_server import OpenAIServer

CANARY = "sk-canary-7f3a9c1e5b2d40680a"


def _command(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-m", *args], env=env, check=True, capture_output=True)


def _holding_the_key(folder: Path) -> list[str]:
    """Every file whose bytes, or a Parquet file's decoded values, hold the canary."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text += json.dumps(table.drop_columns([c for c in table.column_names if c.endswith("_audio")])
                               .to_pylist(), default=str).encode()
        if CANARY.encode() in text:
            found.append(str(path.relative_to(folder)))
    return found


def test_no_command_writes_the_key(tmp_path, gsm8k_path):
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"".join(gsm8k_path.read_bytes().splitlines(keepends=True)[:8]))
    env = {**os.environ, "OPENAI_API_KEY": CANARY}
    out = tmp_path / "written"
    with OpenAIServer({"Weng": "echo_key", "Betty": "http_401", "Julie": "html_page"}) as server:
        _command(env, "pipeline", "--source", f"gsm8k:{source}", "--output", str(out / "dataset"),
                 "--llm", "openai", "--judge", "openai", "--tts", "openai", "--base_url", server.base_url,
                 "--model", "m", "--tts_base_url", server.base_url, "--tts_model", "t", "--llm_retries", "0",
                 "--no_progress")
        questions = pq.read_table(out / "dataset" / "data", columns=["question"])["question"].to_pylist()
        server.stream_faults = dict.fromkeys(questions, "echo_key")
        server.stream_faults[questions[0]] = "http_401_echo"
        _command(env, "eval", "endpoint", "--base_url", server.base_url, "--model", "student", "--data",
                 str(out / "dataset"), "--retries", "0", "--out", str(out / "endpoint"))
        assert f"Bearer {CANARY}" in server.authorizations  # every service was sent the key
    _command(env, "eval", "--data", str(out / "dataset"), "--out", str(out / "report"))
    for name in ("llamafactory", "swift", "jsonl"):
        _command(env, "pipeline.export", str(out / "dataset"), str(out / name), "--format", name)
    # the echoes arrived: the rewrite that echoed it and the streamed answers hold them, redacted
    details = pq.read_table(out / "dataset" / "rejects", columns=["detail"])["detail"].to_pylist()
    assert any(detail.endswith("[redacted]") for detail in details)
    assert "[redacted]" in (out / "endpoint" / "endpoint_report.json").read_text()
    assert _holding_the_key(tmp_path) == []
