"""Source records: one raw input (a JSONL line or a generated problem) becomes one record.

Whatever is wrong with an input (bytes that are not UTF-8, a line that is not JSON, a
missing or mistyped field, an empty or enormous problem) becomes a ``Reject`` with a
reason, never an exception that stops the run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pipeline.reject import Reject
from pipeline.sources.generator import generate_problem

STAGE = "source"


def record_id(source: str, split: str, index: int, text: str) -> str:
    """Stable id: the same input at the same place always gets the same id."""
    key = "\x1f".join((source, split, str(index), text))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def new_record(source: str, split: str, index: int, problem: str, solution: str, answer: str,
               metadata: dict | None = None) -> dict:
    return {
        "id": record_id(source, split, index, problem),
        "source": source,
        "split": split,
        "source_index": index,
        "problem": problem,
        "solution": solution,
        "answer": answer,
        "metadata": {"type": "", "level": "", **(metadata or {})},
    }


def generated_record(seed: int, index: int) -> dict:
    problem = generate_problem(seed, index)
    return new_record("generated", "train", index, problem.question, problem.solution,
                      str(problem.answer), {"type": problem.template})


def _text_field(row: dict, name: str, max_chars: int) -> str:
    if name not in row:
        raise Reject(STAGE, "missing_field", f"no {name!r} field")
    value = row[name]
    if not isinstance(value, str):
        raise Reject(STAGE, "wrong_type", f"{name!r} is {type(value).__name__}, not a string")
    if not value.strip():
        raise Reject(STAGE, "empty_text", f"{name!r} is empty")
    if len(value) > max_chars:
        raise Reject(STAGE, "too_long", f"{name!r} has {len(value)} characters (limit {max_chars})")
    return value


def gsm8k_fields(row: dict, max_chars: int) -> tuple[str, str, str, dict]:
    """GSM8K: ``question``; ``answer`` holds the solution, ending in ``#### N``."""
    question = _text_field(row, "question", max_chars)
    solution = _text_field(row, "answer", max_chars)
    _, marker, final = solution.rpartition("####")
    if not marker or not final.strip():
        raise Reject(STAGE, "missing_final_answer", "solution has no '#### answer' line")
    return question, solution, final.strip().replace(",", ""), {}


FORMATS: dict[str, Callable[[dict, int], tuple[str, str, str, dict]]] = {"gsm8k": gsm8k_fields}


def raw_text(raw: bytes) -> str:
    """A raw line as text for ids and rejects, whatever its encoding."""
    return raw.decode("utf-8", "backslashreplace")


def parse_line(fmt: str, source: str, split: str, index: int, raw: bytes, max_chars: int) -> dict:
    """One JSONL line of a source in format ``fmt`` -> a source record."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Reject(STAGE, "invalid_utf8", f"byte {error.start}: {error.reason}") from None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise Reject(STAGE, "malformed_json", f"{error.msg} at column {error.colno}") from None
    if not isinstance(row, dict):
        raise Reject(STAGE, "wrong_type", f"line is a JSON {type(row).__name__}, not an object")
    problem, solution, answer, metadata = FORMATS[fmt](row, max_chars)
    return new_record(source, split, index, problem, solution, answer, metadata)
