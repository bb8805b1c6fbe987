import hashlib
import json

from eval.endpoint_report import main
from pipeline.dataset.shards import read_rows, shard_files
from tests.fakes.openai_server import OpenAIServer

COLUMNS = ["id", "question", "answer", "response", "question_audio"]


def _student(server: OpenAIServer, dataset, wrong: int) -> list[dict]:
    """The server answers every question with its gold spoken response, but the first
    ``wrong`` with a wrong final number."""
    rows = list(read_rows(shard_files(str(dataset)), COLUMNS))
    for index, row in enumerate(rows):
        reply = " ".join(s["text"] for s in row["response"])
        wrong_reply = f"Let me see. The answer is {int(row['answer']) + 1000}."
        server.student[row["question"]] = wrong_reply if index < wrong else reply
        server.heard[hashlib.sha256(row["question_audio"]["bytes"]).hexdigest()] = row["question"]
    return rows


def test_endpoint_scores_text_and_audio_questions_with_streamed_latency(small_dataset, tmp_path):
    with OpenAIServer(latency=0.05) as server:
        server.chunk_seconds = 0.01
        rows = _student(server, small_dataset, wrong=2)[:16]
        for given in ("text", "audio"):
            report = main(["--base_url", server.base_url, "--model", "student", "--data", str(small_dataset),
                           "--input", given, "--limit", str(len(rows)), "--out", str(tmp_path / given)])
            assert report["items"] == len(rows)
            assert report["accuracy"] == (len(rows) - 2) / len(rows)
            assert report["accuracy_95"][0] <= report["accuracy"] <= report["accuracy_95"][1]
            assert [item["correct"] for item in report["items_detail"]][:2] == [False, False]
            # latency comes from the stream: the server waits 50 ms, then 10 ms per word
            assert 0.05 <= report["first_token_seconds"] < report["answer_seconds"]
            assert report["format_errors"]["missing_answer"] == 0
            assert report["drift_rate"] is None  # no reasoning stream to check
            saved = json.loads((tmp_path / given / "endpoint_report.json").read_text())
            assert saved["input"] == given and saved["items"] == len(rows)
        assert server.audio_questions == len(rows)


def test_an_unreachable_endpoint_is_a_failed_item_not_a_crash(small_dataset):
    report = main(["--base_url", "http://127.0.0.1:9/v1", "--model", "student", "--data", str(small_dataset),
                   "--limit", "2", "--timeout", "2", "--retries", "0"])
    assert report["items"] == 2 and report["accuracy"] == 0.0
    assert report["format_errors"]["request_failed"] == 2


def test_a_misbehaving_stream_fails_its_item_and_the_key_is_never_written(small_dataset, tmp_path,
                                                                          monkeypatch):
    """A malformed event, a stream that never ends, and a 401 or a reply that echoes the
    key: each is one item's failure or a scored reply, the report is written, and the key
    is in nothing it holds. An event with a null delta is skipped."""
    key = "sk-canary-endpoint-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with OpenAIServer() as server:
        server.chunk_seconds = 0.01
        rows = _student(server, small_dataset, wrong=0)[:5]
        faults = ["malformed", "null_delta", "endless", "http_401_echo", "echo_key"]
        server.stream_faults = {row["question"]: fault for row, fault in zip(rows, faults, strict=True)}
        report = main(["--base_url", server.base_url, "--model", "student", "--data", str(small_dataset),
                       "--limit", "5", "--timeout", "2", "--retries", "0", "--out", str(tmp_path)])
        assert f"Bearer {key}" in server.authorizations  # the key was sent
    by_id = {item["id"]: item for item in report["items_detail"]}
    outcome = {fault: by_id[row["id"]] for row, fault in zip(rows, faults, strict=True)}
    assert [fault for fault, item in outcome.items() if "request_failed" in item["format_errors"]] == [
        "malformed", "endless", "http_401_echo"]
    assert outcome["null_delta"]["correct"] and outcome["echo_key"]["correct"]
    assert "[redacted]" in outcome["echo_key"]["reply"]
    assert "timed out" in outcome["endless"]["error"] or "did not end" in outcome["endless"]["error"]
    assert key not in (tmp_path / "endpoint_report.json").read_text()
