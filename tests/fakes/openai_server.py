"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions and
audio-speech APIs.

Its "model" answers with the rules backend and its "voice" is espeak, so a pipeline run
against it produces real records and real WAV audio. ``faults`` maps a word of the
problem to a permanent misbehaviour (invalid JSON, schema-breaking JSON, drifting
answers, HTTP errors, throttling, bytes that are not audio, a body trickled byte by byte);
``fault_rate`` makes that share of chat requests fail once, transiently (429 with
Retry-After, 503, a hang past the client's timeout, a truncated body, invalid or
schema-breaking JSON), chosen by a hash
of the request so runs repeat; ``latency`` delays every chat reply; clearing ``open``
stalls every chat request until it is set again.

A streamed chat request (``stream: true``) is a model under evaluation: it is answered,
token by token as server-sent events ``chunk_seconds`` apart, with ``student[question]``;
a question sent as audio (an ``input_audio`` part) is recognized by ``heard[sha256 of
the WAV]``.

The Batch API is served too: ``/files`` takes and returns files, ``/batches`` creates a
batch of chat requests and answers its lines with the same model once ``batches_open``
is set (cleared: a batch stays ``in_progress``, for a run killed while it polls;
``batch_fault`` makes every batch fail, or every line of it come back as an error);
``batched`` counts every line answered by its ``custom_id``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import threading
import time
import wave
from collections import Counter
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.sources.records import new_record
from pipeline.stages.split import split
from pipeline.text.verbalize import verbalize
from pipeline.tokenizers import load_tokenizer
from pipeline.tts.espeak import EspeakSpeech
from pipeline.tts.voice import Voice


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


# Transport faults, retried by the client; content faults (a reply that is not JSON or
# breaks the schema), repaired by asking again with the failure fed back.
TRANSIENT_FAULTS = ("http_429", "http_503", "hang", "truncated", "invalid_json", "schema")


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many clients connect at once

    def __init__(self, faults: dict[str, str] | None = None, latency: float = 0.0,
                 fault_rate: float = 0.0, hang_seconds: float = 0.0, port: int = 0,
                 speech_latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        load_tokenizer(BuildConfig().tokenizer)  # the rules it answers with count tokens
        self.faults = faults or {}
        self.latency, self.fault_rate, self.hang_seconds = latency, fault_rate, hang_seconds
        self.requests = Counter()
        self.seen: Counter = Counter()  # chat request bodies (hashed), every time one arrives
        self.response_formats: list = []
        self.answered: Counter = Counter()  # chat request bodies answered with 200
        self.in_flight = self.most_in_flight = 0  # chat requests being answered, and the peak
        self.arrivals: list[float] = []  # time.time() of every chat request
        self.open = threading.Event()  # cleared: requests wait (a "stalled" endpoint)
        self.open.set()
        self._seen_lock = threading.Lock()
        self.authorizations: set[str] = set()
        self.spoken: Counter = Counter()
        self.speech_latency = speech_latency
        self.speaking = self.most_speaking = 0  # speech requests being answered, and the peak
        self.transcripts: dict[str, str] = {}
        self.heard_seconds: list[float] = []
        self._engine = None
        self._speech_lock = threading.Lock()
        self.student: dict[str, str] = {}
        self.heard: dict[str, str] = {}
        self.chunk_seconds = 0.0
        self.stream_faults: dict[str, str] = {}  # question -> malformed, null_delta, endless, echo_key...
        self.audio_questions = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batched: Counter = Counter()
        self.batches_open = threading.Event()
        self.batches_open.set()
        self.batch_fault = ""  # "failed": every batch fails; "lines": every line comes back as an error
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def handle_error(self, request, client_address) -> None:
        """A client that gave up (a timeout on a hang) is expected here, not an error."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        if self._engine is not None:
            self._engine.close()

    def speech(self, body: dict) -> tuple[int, bytes, str, dict]:
        """(status, body, content type, headers) for /audio/speech: real speech as WAV,
        made with espeak after ``speech_latency`` seconds, unless a fault word is in the text."""
        with self._seen_lock:
            self.speaking += 1
            self.most_speaking = max(self.most_speaking, self.speaking)
        try:
            time.sleep(self.speech_latency)
            return self._speech(body)
        finally:
            with self._seen_lock:
                self.speaking -= 1

    def _speech(self, body: dict) -> tuple[int, bytes, str, dict]:
        text = body["input"]
        fault = next((mode for word, mode in self.faults.items() if word in text), None)
        self.spoken[text] += 1
        error = json.dumps({"error": {"message": "injected failure", "type": "server_error"}}).encode()
        if fault == "tts_429_once" and self.spoken[text] == 1:
            return 429, error, "application/json", {"Retry-After": "0"}
        if fault == "tts_500":
            return 500, error, "application/json", {}
        if fault == "tts_garbage":
            return 200, b"\x00\x01 definitely not audio" * 20, "audio/wav", {}
        if fault == "tts_rate_zero":  # a WAV header that says 0 samples per second
            wav = bytearray(self._speech({"input": "zero", "speed": 1.0})[1])
            wav[24:32] = bytes(8)
            return 200, bytes(wav), "audio/wav", {}
        with self._speech_lock:
            if self._engine is None:
                self._engine = EspeakSpeech()
            pcm = self._engine.synthesize(text, Voice("en-us", rate=int(175 * body.get("speed", 1.0))))
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self._engine.sample_rate)
            wav.writeframes(pcm.tobytes())
        return 200, buffer.getvalue(), "audio/wav", {}

    def transcription(self, content_type: str, body: bytes) -> tuple[int, bytes, str, dict]:
        """/audio/transcriptions: reads the uploaded WAV (it must be one) and "hears" the
        text ``transcripts`` holds for its file name."""
        form = BytesParser(policy=default).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        upload = next(part for part in form.iter_parts()
                      if part.get_param("name", header="content-disposition") == "file")
        with wave.open(io.BytesIO(upload.get_payload(decode=True))) as clip:
            self.heard_seconds.append(clip.getnframes() / clip.getframerate())
        text = self.transcripts.get(upload.get_filename(), "")
        return 200, json.dumps({"text": text}).encode(), "application/json", {}

    def transient_fault(self, key: str, attempt: int) -> str | None:
        """A seeded draw per request body: the first attempt of ``fault_rate`` of bodies
        fails in one of the transient ways; the retry goes through."""
        if attempt > 1 or not self.fault_rate:
            return None
        draw = int(key[:8], 16) / 16**8
        if draw >= self.fault_rate:
            return None
        return TRANSIENT_FAULTS[int(key[8:12], 16) % len(TRANSIENT_FAULTS)]

    def fault_of(self, messages: list[dict]) -> str | None:
        """The fault of the first fault word in the user's message."""
        return next((mode for word, mode in self.faults.items() if word in messages[1]["content"]), None)

    def reply(self, messages: list[dict]) -> tuple[int, str]:
        """(HTTP status, assistant content) for a conversation."""
        fault = self.fault_of(messages)
        retried = len(messages) > 2
        if fault in ("http_500", "http_401"):
            return int(fault[5:]), ""
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


    def upload(self, content_type: str, body: bytes) -> tuple[int, bytes, str, dict]:
        """POST /files: a multipart upload, kept in memory."""
        form = BytesParser(policy=default).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        upload = next(part for part in form.iter_parts()
                      if part.get_param("name", header="content-disposition") == "file")
        stored = self._add_file(upload.get_payload(decode=True), upload.get_filename())
        return 200, json.dumps(stored).encode(), "application/json", {}

    def _add_file(self, data: bytes, name: str) -> dict:
        with self._seen_lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0, "filename": name,
                "purpose": "batch", "status": "processed"}

    def create_batch(self, body: dict) -> tuple[int, bytes, str, dict]:
        with self._seen_lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "in_progress", "output_file_id": None, "error_file_id": None, "created_at": 0}
        return 200, json.dumps(self.batches[batch_id]).encode(), "application/json", {}

    def batch(self, batch_id: str) -> tuple[int, bytes, str, dict]:
        """GET /batches/ID: answers the batch's lines the first time it is asked while
        ``batches_open`` is set."""
        batch = self.batches[batch_id]
        if batch["status"] == "in_progress" and self.batches_open.is_set() and self.batch_fault == "failed":
            batch.update(status="failed", errors={"object": "list", "data": [
                {"code": "quota_exceeded", "message": "Enqueued token limit reached for this organization"}]})
        elif batch["status"] == "in_progress" and self.batch_fault == "lines":
            errors = [{"id": "response-0", "custom_id": json.loads(line)["custom_id"], "error": None,
                       "response": {"status_code": 400, "request_id": "r",
                                    "body": {"error": {"message": "model m is not available for batches"}}}}
                      for line in self.files[batch["input_file_id"]].decode().splitlines()]
            batch.update(status="completed", error_file_id=self._add_file(
                "".join(json.dumps(e) + "\n" for e in errors).encode(), "errors.jsonl")["id"])
        elif batch["status"] == "in_progress" and self.batches_open.is_set():
            results = []
            for line in self.files[batch["input_file_id"]].decode().splitlines():
                request = json.loads(line)
                status, content = self.reply(request["body"]["messages"])
                self.batched[request["custom_id"]] += 1
                completion = {"id": "chatcmpl-batch", "object": "chat.completion", "created": 0,
                              "model": request["body"]["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": content}}],
                              "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
                results.append({"id": f"response-{len(results)}", "custom_id": request["custom_id"],
                                "response": {"status_code": status, "request_id": "r", "body": completion},
                                "error": None})
            output = "".join(json.dumps(r) + "\n" for r in results).encode()
            batch.update(status="completed", output_file_id=self._add_file(output, "output.jsonl")["id"])
        return 200, json.dumps(batch).encode(), "application/json", {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        server: OpenAIServer = self.server
        server.requests[self.path] += 1
        parts = self.path.split("/")
        if "batches" in parts:
            self._send(*server.batch(parts[-1]))
        elif self.path.endswith("/content"):
            self._send(200, server.files[parts[-2]], "application/octet-stream")
        else:
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        server: OpenAIServer = self.server
        server.requests[self.path] += 1
        server.authorizations.add(self.headers.get("Authorization", ""))
        if self.path.endswith("/audio/transcriptions"):
            self._send(*server.transcription(self.headers["Content-Type"], raw))
            return
        if self.path.endswith("/files"):
            self._send(*server.upload(self.headers["Content-Type"], raw))
            return
        body = json.loads(raw)
        if self.path.endswith("/audio/speech"):
            if any(word in body["input"] for word, mode in server.faults.items() if mode == "tts_trickle"):
                self._trickle()
                return
            self._send(*server.speech(body))
            return
        if self.path.endswith("/batches"):
            self._send(*server.create_batch(body))
            return
        key = hashlib.sha256(raw).hexdigest()
        with server._seen_lock:
            server.response_formats.append(body.get("response_format"))
            server.seen[key] += 1
            attempt = server.seen[key]
            server.arrivals.append(time.time())
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        self._answering = True
        try:
            self._chat(server, body, key, attempt)
        finally:
            self._answered()

    def _answered(self) -> None:
        """A chat request stops counting as in flight before its reply is sent: the client
        may send the next one as soon as it reads the reply."""
        if getattr(self, "_answering", False):
            self._answering = False
            with self.server._seen_lock:
                self.server.in_flight -= 1

    def send_response(self, code: int, message: str | None = None) -> None:
        self._answered()
        super().send_response(code, message)

    def _chat(self, server: OpenAIServer, body: dict, key: str, attempt: int) -> None:
        server.open.wait()
        if server.latency:
            time.sleep(server.latency)
        if body.get("stream"):
            self._stream(server, body)
            return
        if server.fault_of(body["messages"]) == "trickle":
            self._trickle()
            return
        fault = server.transient_fault(key, attempt)
        if fault == "hang":
            time.sleep(server.hang_seconds)
        elif fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-test", "choi')
            self.close_connection = True
            return
        elif fault == "http_429":
            self._send(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}', "application/json",
                       {"Retry-After": "0.05"})
            return
        elif fault == "http_503":
            self._send(503, b'{"error": {"message": "busy", "type": "server_error"}}', "application/json")
            return
        word_fault = server.fault_of(body["messages"])
        if word_fault and word_fault.startswith("retry_after_"):  # a 429 asking for a long or endless wait
            self._send(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}', "application/json",
                       {"Retry-After": word_fault.removeprefix("retry_after_")})
            return
        if word_fault == "html_page" or (word_fault == "html_page_once" and attempt == 1):
            self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
            return
        status, content = server.reply(body["messages"])
        if word_fault == "echo_key" and status == 200:  # the key, inside the reply's first text
            value = json.loads(content)
            first = next(name for name, field in value.items() if isinstance(field, str))
            value[first] += f" {self._key()}"
            content = json.dumps(value)
        first_ask = len(body["messages"]) == 2  # a repair request is never broken on purpose
        if fault == "invalid_json" and first_ask:
            content = "Here you go: {not json"
        elif fault == "schema" and first_ask:
            content = json.dumps({"unexpected": True})
        if status == 200:
            with server._seen_lock:
                server.answered[key] += 1
        if status != 200:
            # a 401 echoes the key it refused, as some gateways do
            message = f"invalid key {self._key()}" if status == 401 else "injected failure"
            payload = json.dumps({"error": {"message": message, "type": "server_error"}})
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


    @staticmethod
    def _chunk(body: dict, delta: dict | None) -> dict:
        return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                "model": body["model"], "choices": [{"index": 0, "finish_reason": None, "delta": delta}]}

    def _key(self) -> str:
        """The key the client sent, for a server that echoes it."""
        return self.headers.get("Authorization", "").removeprefix("Bearer ")

    def _trickle(self) -> None:
        """A 200 whose body comes a byte every quarter second (each read well inside any
        read timeout), until the client hangs up or a minute has passed."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "4096")
        self.end_headers()
        self.close_connection = True
        try:
            for _ in range(240):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.25)
        except OSError:  # the client gave up
            return

    def _stream(self, server: OpenAIServer, body: dict) -> None:
        """The reply of the model under evaluation, as chat.completion.chunk events."""
        content = body["messages"][-1]["content"]
        if isinstance(content, list):
            audio = next(part["input_audio"] for part in content if part["type"] == "input_audio")
            server.audio_questions += 1
            content = server.heard.get(hashlib.sha256(base64.b64decode(audio["data"])).hexdigest(), "")
        reply = server.student.get(content, "I am not sure.")
        fault = server.stream_faults.get(content)
        if fault == "http_401_echo":
            self._send(401, json.dumps({"error": {"message": f"bad key {self._key()}"}}).encode(),
                       "application/json")
            return
        if fault == "echo_key":
            reply = f"{reply} (your key is {self._key()})"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        pieces = re.findall(r"\S+\s*", reply)
        if fault == "endless":
            pieces = [piece for _ in range(100_000) for piece in pieces]
        try:
            for index, piece in enumerate(pieces):
                if index:
                    time.sleep(server.chunk_seconds)
                if index == 1 and fault == "malformed":
                    self.wfile.write(b'data: {"choices": [{"delta": {"content": "un\n\n')
                if index == 1 and fault == "null_delta":
                    self.wfile.write(f"data: {json.dumps(self._chunk(body, None))}\n\n".encode())
                chunk = self._chunk(body, {"role": "assistant", "content": piece})
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
        except OSError:  # the client hung up on an endless stream
            return
        done = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]}
        self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


def main() -> None:
    """Run the server on its own, for benchmarks: ``python -m tests.fakes.openai_server --port N``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    server = OpenAIServer(latency=args.latency, port=args.port)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
