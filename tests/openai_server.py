"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions API.

Its "model" answers with the rules backend, so a pipeline run against it produces real
records; ``faults`` maps a word of the problem to a misbehaviour, to test how the LLM
backend copes with invalid JSON, schema-breaking JSON, drifting answers and HTTP errors.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.sources.records import new_record
from pipeline.stages.split import split
from pipeline.text.verbalize import verbalize


def _section(text: str, title: str) -> str:
    match = re.search(rf"^{title}:\n(.*?)(?:\n\n[A-Z][a-z ]+:\n|\Z)", text, flags=re.S | re.M)
    return match.group(1).strip() if match else ""


def rules_model(messages: list[dict]) -> dict:
    """What a well-behaved model would answer, computed with the rules backend."""
    user = messages[1]["content"]
    if "Spoken sentences:" in user:
        return {"drift": False, "colloquial": True, "reason": "each sentence follows its step"}
    problem = _section(user, "Problem")
    if "Worked solution:" not in user:
        return {"question": verbalize(problem)}
    answer = re.search(r"^Final answer: (.*)$", user, flags=re.M).group(1)
    record = new_record("llm", "train", 0, problem, _section(user, "Worked solution"), answer)
    record["question"] = _section(user, "Spoken question")
    try:
        out = split(record, BuildConfig())
    except Reject:
        return {"reasoning": ["I cannot split this."], "response": [{"text": "Sorry.", "after_step": 1}]}
    return {"reasoning": out["reasoning"], "response": out["response"]}


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, faults: dict[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.faults = faults or {}
        self.requests = Counter()
        self.authorizations: set[str] = set()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def reply(self, messages: list[dict]) -> tuple[int, str]:
        """(HTTP status, assistant content) for a conversation."""
        fault = next((mode for word, mode in self.faults.items() if word in messages[1]["content"]), None)
        retried = len(messages) > 2
        if fault == "http_500":
            return 500, ""
        if fault == "invalid_json" or (fault == "invalid_json_once" and not retried):
            return 200, "Sure! Here is the JSON: {not json"
        if fault == "judge_drift" and "Spoken sentences:" in messages[1]["content"]:
            return 200, json.dumps({"drift": True, "colloquial": True, "reason": "says 72 too early"})
        if fault == "schema":
            return 200, json.dumps({"answer": 42})
        value = rules_model(messages)
        if fault == "drift" and "response" in value:
            value["response"][-1]["after_step"] = 0
        if fault == "fenced":
            return 200, "```json\n" + json.dumps(value) + "\n```"
        return 200, json.dumps(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: OpenAIServer = self.server
        server.requests[self.path] += 1
        server.authorizations.add(self.headers.get("Authorization", ""))
        status, content = server.reply(body["messages"])
        if status != 200:
            payload = json.dumps({"error": {"message": "injected failure", "type": "server_error"}})
        else:
            payload = json.dumps({
                "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            })
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
