"""Measure an external model behind an OpenAI-compatible chat API on a dataset's questions.

    python -m eval endpoint --base_url http://127.0.0.1:8000/v1 --model NAME --data build/dataset
    python -m eval endpoint ... --input audio      (the question WAV as an input_audio part)

Each question goes out as a streamed chat request; the reply is scored like a model's
spoken response (``eval.stream_score``: the pipeline's answer checker, response words,
missing answer), and its latency is measured from the stream itself: seconds to the first
content token, to the final answer, and playback stalls when the reply's tokens, spoken at
``--speaking_rate`` as they arrive, run dry. A ``reasoning_content`` stream, where the
server sends one, is scored for drift with the pipeline's token-level checker.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import openai

from eval.model_report import bootstrap, median
from eval.stream_score import FORMAT_ERRORS, category, playback_stalls_at, score_stream
from pipeline.config import NON_NEGATIVE, POSITIVE_RATE
from pipeline.dataset.shards import read_rows, shard_files
from pipeline.remote import openai_client, redact
from pipeline.tokenizers import Tokenizer, load_tokenizer
from training.data import is_holdout

SYSTEM = ("You are a voice assistant. Answer the spoken math question aloud, in short plain sentences "
          "a listener can follow, and end with the final answer.")
COLUMNS = ["id", "source", "metadata", "question", "problem", "answer", "reasoning", "response", "tokenizer",
           "p", "q"]
CHARACTERS_PER_TOKEN = 16  # far above any tokenizer's: a reply longer than this many per token never ends


@dataclass
class Reply:
    text: str = ""
    reasoning: str = ""
    chunks: list[tuple[float, str]] = field(default_factory=list)  # (seconds after sending, text)
    first_token_seconds: float | None = None
    seconds: float = 0.0


def _wav(audio: dict) -> bytes:
    """The question audio as WAV bytes (a FLAC column is re-encoded; the API takes WAV)."""
    data = audio["bytes"]
    if data[:4] == b"RIFF":
        return data
    import soundfile

    wave, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def messages_for(row: dict, given: str) -> list[dict]:
    if given == "text":
        content: str | list = row["question"]
    else:
        content = [{"type": "input_audio", "input_audio": {
            "data": base64.b64encode(_wav(row["question_audio"])).decode(), "format": "wav"}}]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


class ReplyCut(Exception):
    """A streamed reply that went past the item's time or length: the server never ended it."""


def ask(client: openai.OpenAI, model: str, messages: list[dict], max_tokens: int, seconds: float) -> Reply:
    """One streamed request; every content chunk is timed as it arrives. A stream that runs
    past ``seconds`` or far past ``max_tokens`` is cut (``ReplyCut``); an event without a
    delta is skipped."""
    reply = Reply()
    start = time.perf_counter()
    stream = client.chat.completions.create(model=model, messages=messages, stream=True,
                                            max_tokens=max_tokens, temperature=0)
    for chunk in stream:
        if time.perf_counter() - start > seconds:
            stream.close()
            raise ReplyCut(f"the reply did not end within {seconds:g} s")
        if len(reply.text) + len(reply.reasoning) > CHARACTERS_PER_TOKEN * max_tokens:
            stream.close()
            raise ReplyCut(f"the reply went on past {max_tokens} tokens")
        delta = chunk.choices[0].delta if getattr(chunk, "choices", None) else None
        if delta is None:
            continue
        reply.reasoning += getattr(delta, "reasoning_content", None) or ""
        if isinstance(delta.content, str) and delta.content:
            at = time.perf_counter() - start
            if reply.first_token_seconds is None:
                reply.first_token_seconds = at
            reply.chunks.append((at, delta.content))
            reply.text += delta.content
    reply.seconds = time.perf_counter() - start
    return reply


def _ready_times(reply: Reply, tokenizer: Tokenizer) -> list[float]:
    """When each token of the reply arrived (a chunk's tokens all arrive with it)."""
    return [at for at, text in reply.chunks for _ in tokenizer.encode(text)]


def score_reply(reply: Reply, row: dict, tokenizer: Tokenizer, speaking_rate: float) -> dict:
    special = tokenizer.special
    response = tokenizer.encode(reply.text)
    if reply.reasoning:
        reasoning = tokenizer.encode(reply.reasoning)
        ids, layout = [*reasoning, special.reasoning_pad, *response, special.eos], "tbs"
    else:
        ids, layout = [*response, special.eos], "direct"
    score = score_stream(ids, row, tokenizer, layout, row["p"], row["q"])
    ready = _ready_times(reply, tokenizer)
    answer_token = None if score.answer_at is None else score.answer_at - (len(ids) - len(response) - 1)
    return {"id": row["id"], "category": category(row), "correct": score.correct,
            "reasoned": bool(reply.reasoning), "drift": score.drift if reply.reasoning else None,
            "format_errors": score.format_errors,
            "response_words": score.response_words, "first_token_seconds": reply.first_token_seconds,
            "answer_seconds": ready[answer_token] if answer_token is not None and answer_token < len(ready)
            else None,
            "seconds": reply.seconds, "stalls": playback_stalls_at(ready, speaking_rate), "reply": reply.text}


def evaluate_endpoint(client: openai.OpenAI, model: str, rows: list[dict], given: str, speaking_rate: float,
                      max_tokens: int, seconds: float = 120.0) -> dict:
    """Every row's question asked and scored; a request that fails in any way (refused,
    cut, a malformed event, a reply that is no chat chunk) is that item's failure."""
    tokenizers: dict[str, Tokenizer] = {}
    items = []
    for row in rows:
        tokenizer = tokenizers.setdefault(row["tokenizer"], load_tokenizer(row["tokenizer"]))
        try:
            reply = ask(client, model, messages_for(row, given), max_tokens, seconds)
        except Exception as error:  # whatever the server sent, one item fails, never the run
            detail = redact(f"{type(error).__name__}: {error}", client.api_key)[:500]
            items.append({"id": row["id"], "category": category(row), "correct": False, "reasoned": False,
                          "drift": None, "format_errors": ["request_failed"], "error": detail,
                          "first_token_seconds": None, "answer_seconds": None, "stalls": 0,
                          "response_words": 0, "seconds": None})
            continue
        reply.text = redact(reply.text, client.api_key)
        reply.reasoning = redact(reply.reasoning, client.api_key)
        items.append(score_reply(reply, row, tokenizer, speaking_rate))
    correct = [item["correct"] for item in items]
    errors = Counter(e for item in items for e in item["format_errors"])
    by_kind: dict[str, list[bool]] = {}
    for item in items:
        by_kind.setdefault(item["category"], []).append(item["correct"])
    reasoned = [item for item in items if item["reasoned"]]
    return {
        "model": model, "input": given, "items": len(items),
        "accuracy": sum(correct) / max(1, len(correct)), "accuracy_95": list(bootstrap(correct)),
        "by_category": {k: {"items": len(v), "accuracy": sum(v) / len(v)}
                        for k, v in sorted(by_kind.items())},
        "drift_rate": (sum(item["drift"] is not None for item in reasoned) / len(reasoned)
                       if reasoned else None),
        "format_errors": {name: errors[name] for name in (*FORMAT_ERRORS, "request_failed")},
        "response_words": median([item["response_words"] for item in items]),
        "first_token_seconds": median([item["first_token_seconds"] for item in items]),
        "answer_seconds": median([item["answer_seconds"] for item in items]),
        "stalled_items": sum(item["stalls"] > 0 for item in items),
        "items_detail": items,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m eval endpoint", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base_url", required=True, help="an OpenAI-compatible API, e.g. http://HOST/v1")
    ap.add_argument("--model", required=True)
    ap.add_argument("--api_key_env", default="OPENAI_API_KEY", help="the variable holding the API key")
    ap.add_argument("--data", required=True, help="a dataset folder written by the pipeline")
    ap.add_argument("--input", choices=["text", "audio"], default="text",
                    help="the spoken question as text, or its WAV as an input_audio content part")
    ap.add_argument("--holdout", type=float, default=1.0,
                    help="score only this id-hashed share of rows (0.1 matches a trainer's held-out rows)")
    ap.add_argument("--limit", type=int, help="at most this many rows")
    ap.add_argument("--speaking_rate", type=float, default=3.0, help="reply tokens spoken per second")
    ap.add_argument("--max_tokens", type=int, default=512)
    ap.add_argument("--timeout", type=POSITIVE_RATE, default=120.0,
                    help="seconds an item may take, its whole streamed reply included")
    ap.add_argument("--retries", type=NON_NEGATIVE, default=3,
                    help="retries of a failed request, with backoff")
    ap.add_argument("--out", help="write endpoint_report.json here")
    args = ap.parse_args(argv)
    columns = COLUMNS + (["question_audio"] if args.input == "audio" else [])
    rows = [r for r in read_rows(shard_files(args.data), columns) if is_holdout(r["id"], args.holdout)]
    rows = rows[:args.limit] if args.limit else rows
    client = openai_client(args.base_url, os.environ.get(args.api_key_env, ""), args.timeout, args.retries)
    report = evaluate_endpoint(client, args.model, rows, args.input, args.speaking_rate, args.max_tokens,
                               args.timeout)
    low, high = report["accuracy_95"]
    print(f"{args.model} ({args.input} input, {report['items']} items): accuracy {report['accuracy']:.1%} "
          f"[{low:.1%}, {high:.1%}], first token {report['first_token_seconds']} s, answer at "
          f"{report['answer_seconds']} s, stalled items {report['stalled_items']}, "
          f"format errors {report['format_errors']}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "endpoint_report.json").write_text(json.dumps(report, indent=2))
    return report
