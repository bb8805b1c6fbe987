"""Hostile rows become rejects with their own reason, never a crashed run; bad paths and
flags are one-line errors before anything is written."""

import json
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import run
from pipeline.reject import Reject
from pipeline.sources.formats import generic_format, parse_line
from pipeline.stages.split_rules import verify_notes
from pipeline.text.answers import numeric
from pipeline.text.arithmetic import NumberTooLarge

GOOD = {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "answer": "He has 3+4=<<3+4=7>>7 apples.\n#### 7"}


def _reason(raw: bytes, fmt="gsm8k") -> str:
    try:
        parse_line(fmt, "gsm8k", "train", 0, raw, 8000)
    except Reject as reject:
        return reject.reason
    return "ok"


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"question": "\\ud800 apples", "answer": "#### 5"}', "invalid_unicode"),
    (b'\xef\xbb\xbf' + json.dumps(GOOD).encode(), "ok"),
    (b'{"question": "a", "answer": 1' + b"0" * 5000 + b"}", "number_too_large"),
    (b"[" * 100_000 + b"]" * 100_000, "too_deeply_nested"),
])
def test_hostile_rows_get_their_own_reason(raw, reason):
    assert _reason(raw) == reason


def test_numeric_answers_are_accepted():
    fmt = generic_format({"question": "q", "solution": "s", "answer": "a"})
    for answer, said in ((12, "12"), (12.0, "12"), (0.5, "0.5")):
        raw = json.dumps({"q": "What is 6 and 6?", "s": "6+6=12", "a": answer}).encode()
        assert parse_line(fmt, "generic", "train", 0, raw, 8000)["answer"] == said


def test_pathological_numbers_are_refused_before_they_are_computed():
    started = time.perf_counter()
    with pytest.raises(Reject) as caught:
        verify_notes("<<(((9**64)**64)**64)**64=5>>")
    assert caught.value.reason == "number_too_large"
    with pytest.raises(NumberTooLarge):
        numeric("1e10000000")
    assert time.perf_counter() - started < 1.0


def test_a_hostile_file_ends_in_rows_and_rejects(tmp_path):
    lines = [json.dumps(GOOD).encode(), b'{"question": "\\ud800", "answer": "#### 5"}',
             b'{"question": "Tom has 2 cats.", "answer": "<<(((9**64)**64)**64)**64=5>>5\\n#### 5"}',
             b'{"question": "Tom has 2 cats. How many?", "answer": "He has 2.\\n#### 1e10000000"}']
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    summary = run(["--source", f"gsm8k:{source}", "--output", str(tmp_path / "out"), "--no_progress"])
    assert summary["inputs"] == 4 == summary["outputs"] + summary["rejects"]
    assert summary["outputs"] == 1
    reasons = summary["rejects_by_reason"]
    assert reasons.get("source/invalid_unicode") == 1
    assert reasons.get("split/number_too_large") == 2


def test_binary_parquet_cells_are_text_or_wrong_type(tmp_path):
    source = tmp_path / "train.parquet"
    table = pa.table({"question": pa.array([GOOD["question"].encode(), b"\xff\xfe apples"], pa.binary()),
                      "answer": [GOOD["answer"], GOOD["answer"]]})
    pq.write_table(table, source)
    out = tmp_path / "out"
    summary = run(["--source", f"gsm8k:{source}", "--output", str(out), "--no_progress"])
    assert summary["outputs"] == 1 and summary["rejects_by_reason"] == {"source/wrong_type": 1}
    question = pq.read_table(next((out / "data").glob("*.parquet"))).column("question")[0].as_py()
    assert not question.startswith("b'")


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "gsm8k:{tmp}/missing.jsonl"], "no such file"),
    (["--source", "gsm8k:{tmp}"], "is a folder"),
    (["--source", "gsm8k:{tmp}/*.jsonl"], "nothing matches"),
    (["--source", "gsm8k:{tmp}/broken.parquet"], "not a readable Parquet file"),
    (["--output", "{tmp}/*"], "glob character"),
    (["--llm_concurrency", "0"], "smallest allowed value"),
    (["--shard_rows", "-1"], "smallest allowed value"),
    (["--num_shards", "-2"], "smallest allowed value"),
    (["--question_rate", "0"], "smallest allowed value"),
    (["--llm_retries", "-1"], "smallest allowed value"),
    (["--api_key_file", "{tmp}/no-key"], "no such file"),
])
def test_bad_paths_and_flags_are_one_line_errors_that_write_nothing(tmp_path, args, message):
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    out = tmp_path / "out"
    argv = ["--output", str(out), *[a.format(tmp=tmp_path) for a in args]]
    result = subprocess.run([sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_latex_nested_hundreds_deep_is_a_reject_with_its_own_reason(tmp_path):
    deep = "\\frac{1}{" * 500 + "2" + "}" * 500
    source = tmp_path / "deep.jsonl"
    source.write_text(json.dumps({"problem": f"Compute ${deep}$.", "solution": "It is $\\boxed{1}$.",
                                  "level": "Level 1", "type": "Algebra"}) + "\n")
    summary = run(["--source", f"math:{source}", "--output", str(tmp_path / "out"), "--tts", "none",
                   "--no_progress"])
    assert summary["rejects_by_reason"] == {"rewrite/too_deeply_nested": 1}
