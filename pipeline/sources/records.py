"""Source records: one raw input (a JSONL line or a generated problem) becomes one record
with a stable id; which sources write their math in LaTeX."""

from __future__ import annotations

import hashlib

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
        "metadata": {"type": "", "level": "", "origin": "", **(metadata or {})},
    }


PLAIN_SOURCES = frozenset({"gsm8k", "orca", "generated"})


LATEX_SOURCES = frozenset({"math"})


def writes_latex(record: dict) -> bool | None:
    """Whether the record's source writes math in LaTeX: always (MATH, where money is
    ``\\$``), never (GSM8K, where ``$`` is money), or None: tell from the text."""
    if record["source"] in LATEX_SOURCES:
        return True
    return False if record["source"] in PLAIN_SOURCES else None


def generated_record(seed: int, index: int, level: str = "standard") -> dict:
    problem = generate_problem(seed, index, level)
    origin = f"generator:{seed}" if level == "standard" else f"generator:{level}:{seed}"
    return new_record("generated", "train", index, problem.question, problem.solution,
                      str(problem.answer), {"type": problem.template, "origin": origin})


def raw_text(raw: bytes) -> str:
    """A raw line as text for ids and rejects, whatever its encoding."""
    return raw.decode("utf-8", "backslashreplace")
