"""``--llm_batch``: stages 1-2 (and the judge) through the OpenAI Batch API, at half the price.

A run becomes passes. In each pass the pipeline runs with the client in *collect* mode:
a request whose reply is in neither the reply cache nor the downloaded batch replies is
written to ``pending/`` (one file per request, named by its cache key, so a request is
recorded once however many workers meet it) and its record waits as the reject
``llm_batch_pending``. Between passes the pending requests are sent as batch files
(``/v1/files``, then ``/v1/batches``), polled, and their results downloaded into
``replies/``; the next pass finds them there. Rewrite replies come back in the first
batch, split replies in the second, the judge's in the third; the pass with nothing
pending is the build. A request a batch could not answer (the batch failed or expired,
or its line came back with an error) is recorded in ``failed/`` with the error the
service gave, is never sent again, and its record is the reject ``llm_batch_failed``
naming that error. Nothing is asked live unless ``--llm_batch_fallback live`` says so:
then those requests, and the few still missing once records have come through (a repair
after a failed check), are asked live in a last pass, at the live price.

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
from typing import TYPE_CHECKING

from apache_beam.io.filesystems import FileSystems

from pipeline.llm.cache import ReplyCache
from pipeline.remote import redact

if TYPE_CHECKING:
    import openai

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000  # the Batch API's limit of requests per batch
TERMINAL = ("completed", "failed", "expired", "cancelled")
PENDING_REASON = "llm_batch_pending"
FAILED_REASON = "llm_batch_failed"
MAX_PASSES = 4  # rewrite, split, judge, and one for retried lines


def pending_folder(folder: str) -> str:
    return FileSystems.join(folder, "pending")


def replies_folder(folder: str) -> str:
    return FileSystems.join(folder, "replies")


def failures_folder(folder: str) -> str:
    return FileSystems.join(folder, "failed")


def _line_error(line: dict) -> str:
    """What a batch's output or error line says went wrong with its request."""
    error = line.get("error") or {}
    response = line.get("response") or {}
    body = response.get("body") if isinstance(response.get("body"), dict) else {}
    said = error.get("message") or (body.get("error") or {}).get("message") or ""
    return f"HTTP {response.get('status_code', '?')}: {said}"[:300] if response else str(said)[:300]


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
        self._failures = ReplyCache(failures_folder(folder))
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
        """Poll every batch not yet stored until it ends, then store its replies, record
        what it could not answer in ``failed/`` with the service's error, and clear the
        pending requests. Returns counts: replies stored, requests failed."""
        state = self._state()
        counts = {"stored": 0, "failed": 0}
        problems, failed, polled = [], set(), False
        for entry in state:
            if entry["stored"]:
                continue
            polled = True
            batch = self._client.batches.retrieve(entry["id"])
            while batch.status not in TERMINAL:
                time.sleep(self._poll)
                batch = self._client.batches.retrieve(entry["id"])
            entry["status"] = batch.status
            for file_id in (batch.output_file_id, batch.error_file_id):
                text = self._client.files.content(file_id).text if file_id else ""
                for line in (json.loads(line) for line in text.splitlines() if line.strip()):
                    if self._store(line):
                        counts["stored"] += 1
                    else:
                        failed.add(self._failed(line["custom_id"], _line_error(line)))
            if batch.status != "completed":
                errors = batch.errors.data if batch.errors and batch.errors.data else []
                said = redact("; ".join(error.message or "" for error in errors), self._client.api_key)
                problems.append(f"batch {batch.id} {batch.status}" + (f": {said}" if said else ""))
                print(f"llm batch: {problems[-1]}", file=sys.stderr, flush=True)
            entry["stored"] = True
            self._save(state)
        pattern = FileSystems.join(pending_folder(self._folder), "*.json")
        pending = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        for path in pending if polled else ():  # sent (every pending request was), yet unanswered
            key = path.rsplit("/", 1)[-1].removesuffix(".json")
            if self._replies.get(key) is None and self._failures.get(key) is None:
                failed.add(self._failed(key, "; ".join(problems) or "no line of its batch answered it"))
        counts["failed"] = len(failed)
        if pending:
            FileSystems.delete(pending)
        return counts

    def _failed(self, key: str, error: str) -> str:
        """Record why a request has no reply (it is not sent again); returns its key."""
        self._failures.put(key, {"error": redact(error, self._client.api_key)})
        return key

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
    live = config.llm_batch_fallback == "live"
    for _ in range(MAX_PASSES):
        reset()
        summary, result = build(replace(config, llm_batch_collect=True))
        requests = pending_requests(config.llm_batch_dir)
        if not requests:
            return summary, result
        if summary["outputs"] and live:
            break  # only stragglers are left: ask them live rather than run every stage again
        print(f"llm batch: sending {len(requests):,} requests", file=sys.stderr, flush=True)
        runner.submit(requests)
        counts = runner.finish()
        print(f"llm batch: {counts['stored']:,} replies, {counts['failed']:,} requests failed",
              file=sys.stderr, flush=True)
    reset()
    # the last pass: what no batch answered is asked live, or stays pending for a rerun
    return build(config if live else replace(config, llm_batch_collect=True))
