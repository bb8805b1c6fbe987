"""``--llm_batch``: stages 1-2 (and the judge) through the OpenAI Batch API, at half the price.

A run becomes passes. In each pass the pipeline runs with the client in *collect* mode:
a request whose reply is in neither the reply cache nor the downloaded batch replies is
written to ``pending/`` (one file per request, named by its cache key, so a request is
recorded once however many workers meet it) and its record waits as the reject
``llm_batch_pending``. Between passes the pending requests are sent as batch files
(``/v1/files``, then ``/v1/batches``), polled, and their results downloaded into
``replies/``; the next pass finds them there. Rewrite replies come back in the first
batch, split replies in the second, the judge's in the third; the pass with nothing
pending is the build. Requests still missing once records have come through (a repair
after a failed check, a failed batch line) are asked live in a last pass, as without
``--llm_batch``.

Every submitted batch is written to ``batches.json`` before it is polled: a run killed
while polling resumes those batches by id and sends none of their requests again.
vLLM's ``run_batch`` reads and writes the same line format.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import openai
from apache_beam.io.filesystems import FileSystems

from pipeline.llm.cache import ReplyCache
from pipeline.remote import redact

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000  # the Batch API's limit of requests per batch
TERMINAL = ("completed", "failed", "expired", "cancelled")
PENDING_REASON = "llm_batch_pending"
MAX_PASSES = 4  # rewrite, split, judge, and one for retried lines


def pending_folder(folder: str) -> str:
    return FileSystems.join(folder, "pending")


def replies_folder(folder: str) -> str:
    return FileSystems.join(folder, "replies")


def record_request(folder: str, key: str, body: dict) -> None:
    """Write one request of the next batch (idempotent: the name is its cache key)."""
    path = FileSystems.join(pending_folder(folder), f"{key}.json")
    if FileSystems.exists(path):
        return
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body},
                                sort_keys=True, ensure_ascii=False).encode())
    FileSystems.rename([temporary], [path])


def _read_json(path: str):
    with FileSystems.open(path) as handle:
        return json.loads(handle.read())


def pending_requests(folder: str) -> list[dict]:
    """The recorded requests, in key order."""
    pattern = FileSystems.join(pending_folder(folder), "*.json")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    return [_read_json(path) for path in paths]


def chat_reply(body: object) -> dict | None:
    """A chat completion's JSON body in the shape the client uses and caches
    (``content``, ``refusal``, ``tokens_in``, ``tokens_out``); None when the body is no
    chat completion (a proxy's page, a reply of another shape)."""
    try:
        message = body["choices"][0]["message"]
        usage = body.get("usage") or {}
        reply = {"content": message.get("content"), "refusal": bool(message.get("refusal")),
                 "tokens_in": int(usage.get("prompt_tokens") or 0),
                 "tokens_out": int(usage.get("completion_tokens") or 0)}
    except (TypeError, KeyError, IndexError, AttributeError, ValueError):
        return None
    return reply if reply["content"] is None or isinstance(reply["content"], str) else None


class BatchRunner:
    """Sends pending requests as batches and stores their replies; ``batches.json`` keeps
    every batch submitted, so a rerun resumes instead of sending them again."""

    def __init__(self, folder: str, client: openai.OpenAI, poll_seconds: float = 10.0) -> None:
        self._folder, self._client, self._poll = folder, client, poll_seconds
        self._replies = ReplyCache(replies_folder(folder))
        self._state_path = FileSystems.join(folder, "batches.json")

    def _state(self) -> list[dict]:
        return _read_json(self._state_path) if FileSystems.exists(self._state_path) else []

    def _save(self, state: list[dict]) -> None:
        with FileSystems.create(self._state_path) as handle:
            handle.write(json.dumps(state, indent=2).encode())

    def submit(self, requests: list[dict]) -> None:
        """Upload and create one batch per ``MAX_LINES`` requests, recording each at once."""
        state = self._state()
        for start in range(0, len(requests), MAX_LINES):
            chunk = requests[start:start + MAX_LINES]
            lines = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in chunk)
            upload = self._client.files.create(file=("requests.jsonl", lines.encode()), purpose="batch")
            batch = self._client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT,
                                                completion_window="24h")
            state.append({"id": batch.id, "requests": len(chunk), "status": batch.status, "stored": False})
            self._save(state)

    def finish(self) -> dict[str, int]:
        """Poll every batch not yet stored until it ends, then store its replies and clear
        their pending requests. Returns counts: replies stored, lines failed."""
        state = self._state()
        counts = {"stored": 0, "failed": 0}
        for entry in state:
            if entry["stored"]:
                continue
            batch = self._client.batches.retrieve(entry["id"])
            while batch.status not in TERMINAL:
                time.sleep(self._poll)
                batch = self._client.batches.retrieve(entry["id"])
            entry["status"] = batch.status
            if batch.output_file_id:
                text = self._client.files.content(batch.output_file_id).text
                for line in text.splitlines():
                    stored = self._store(json.loads(line)) if line.strip() else False
                    counts["stored" if stored else "failed"] += 1
            entry["stored"] = True
            self._save(state)
        pattern = FileSystems.join(pending_folder(self._folder), "*.json")
        answered = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if answered:
            FileSystems.delete(answered)
        return counts

    def _store(self, line: dict) -> bool:
        """One result line into the replies, in the shape the client caches."""
        response = line.get("response") or {}
        reply = chat_reply(response.get("body"))
        if response.get("status_code") != 200 or reply is None:
            return False
        if reply["content"]:  # a server may echo the key it was sent
            reply["content"] = redact(reply["content"], self._client.api_key)
        self._replies.put(line["custom_id"], reply)
        return True


def build_in_batches(build: Callable, config, client: openai.OpenAI, reset: Callable[[], None]):
    """Run ``build(config)`` as collect passes with batches between them (module docstring);
    ``reset()`` clears the staging folder before each pass. Returns the last pass's result."""
    runner = BatchRunner(config.llm_batch_dir, client, config.llm_batch_poll)
    runner.finish()  # the batches of a killed run, resumed by id
    for _ in range(MAX_PASSES):
        reset()
        summary, result = build(replace(config, llm_batch_collect=True))
        requests = pending_requests(config.llm_batch_dir)
        if not requests:
            return summary, result
        if summary["outputs"]:
            break  # only stragglers are left: ask them live rather than run every stage again
        print(f"llm batch: sending {len(requests):,} requests", file=sys.stderr, flush=True)
        runner.submit(requests)
        counts = runner.finish()
        print(f"llm batch: {counts['stored']:,} replies, {counts['failed']:,} failed lines",
              file=sys.stderr, flush=True)
    reset()
    return build(config)
