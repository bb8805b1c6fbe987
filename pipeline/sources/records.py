"""Source records: one raw input (a JSONL line or a generated problem) becomes one record.

Whatever is wrong with an input (bytes that are not UTF-8, a line that is not JSON, a
missing or mistyped field, an empty or enormous problem) becomes a ``Reject`` with a
reason, never an exception that stops the run.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from pipeline.reject import Reject
from pipeline.sources.equations import worked_solution
from pipeline.sources.generator import generate_problem
from pipeline.sources.rows import BINARY_MARKER
from pipeline.text.arithmetic import NotArithmetic, parse_number

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


def generated_record(seed: int, index: int) -> dict:
    problem = generate_problem(seed, index)
    return new_record("generated", "train", index, problem.question, problem.solution,
                      str(problem.answer), {"type": problem.template, "origin": f"generator:{seed}"})


def _text_field(row: dict, name: str, max_chars: int) -> str:
    if name not in row:
        raise Reject(STAGE, "missing_field", f"no {name!r} field")
    value = row[name]
    if isinstance(value, dict) and BINARY_MARKER in value:
        raise Reject(STAGE, "wrong_type", f"{name!r} is {value[BINARY_MARKER]} bytes that are not UTF-8 text")
    if not isinstance(value, str):
        raise Reject(STAGE, "wrong_type", f"{name!r} is {type(value).__name__}, not a string")
    if _SURROGATE_RE.search(value):
        raise Reject(STAGE, "invalid_unicode", f"{name!r} holds a lone surrogate, which is not text")
    if not value.strip():
        raise Reject(STAGE, "empty_text", f"{name!r} is empty")
    if len(value) > max_chars:
        raise Reject(STAGE, "too_long", f"{name!r} has {len(value)} characters (limit {max_chars})")
    return value


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _answer_field(row: dict, name: str, max_chars: int) -> str:
    """A gold answer: text, or a JSON number as many public sets store it (12, 0.5)."""
    value = row.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return str(int(value)) if value.is_integer() else repr(value)
    return _text_field(row, name, max_chars).strip()


def _label_field(row: dict, name: str) -> str:
    """An optional label (type, level): absent or null is empty, numbers become text."""
    value = row.get(name) if name else None
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise Reject(STAGE, "wrong_type", f"{name!r} is {type(value).__name__}, not a label")
    if isinstance(value, str) and _SURROGATE_RE.search(value):
        raise Reject(STAGE, "invalid_unicode", f"{name!r} holds a lone surrogate, which is not text")
    return str(value)


def boxed_answer(solution: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched."""
    start = max(solution.rfind("\\boxed"), solution.rfind("\\fbox"))
    if start < 0:
        return None
    opening = solution.find("{", start)
    if opening < 0:
        return None
    depth = 0
    for at in range(opening, len(solution)):
        depth += {"{": 1, "}": -1}.get(solution[at], 0)
        if depth == 0:
            return solution[opening + 1:at].strip()
    return None


_ANSWER_IS_RE = re.compile(r"answer is:?\s*\$?(?P<answer>[^\n]+?)\$?\s*\.?\s*$", re.I)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def final_answer(solution: str, last_number: bool = False) -> str | None:
    """The solution's stated final answer: ``#### N`` (GSM8K), ``\\boxed{}`` (MATH), "The
    answer is: N" (MetaMathQA), or, where allowed, the last number written."""
    _, marker, final = solution.rpartition("####")
    if marker:
        return final.strip().replace(",", "") or None
    boxed = boxed_answer(solution)
    if boxed:
        return boxed
    stated = _ANSWER_IS_RE.search(solution.strip())
    if stated:
        answer = stated["answer"].strip()
        return answer.replace(",", "") if _NUMBER_RE.fullmatch(answer) else answer
    numbers = _NUMBER_RE.findall(solution) if last_number else []
    return numbers[-1].replace(",", "") if numbers else None


_OPTION_RE = re.compile(r"^\s*\(?(?P<letter>[A-Ea-e])\s*[).:]\s*(?P<value>.*?)\s*$", re.S)
_LETTER_LINE_RE = re.compile(r"\n?\s*(?:the\s+)?(?:correct\s+)?(?:answer|option)\s*(?:is)?\s*[:\-]?\s*"
                             r"\(?[A-E]\)?\s*\.?\s*$", re.I)


# a variable next to a number or an operator ("2x", "x+1"), or no value at all ("None of these")
_NOT_A_NUMBER_RE = re.compile(r"\d\s*[a-z]\b|\b[a-z]\s*[-+*^]|[-+*^]\s*[a-z]\b|\b(?:none|all|cannot|both)\b",
                              re.I)


def open_question(options, letter: str, rationale: str) -> tuple[str, str]:
    """A multiple-choice problem (AQuA's options, letter and rationale) as an open question:
    a listener cannot see options, so the question is asked without them and the answer is
    the correct option's value, which the pipeline then checks against the rationale like
    any other answer. Only a plain number (units around it allowed) can stand alone; any
    other correct option is a reject. Returns (rationale without its "Answer: B", answer)."""
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise Reject(STAGE, "wrong_type", "the options field is not a list of strings")
    values = {}
    for option in options:
        match = _OPTION_RE.match(option)
        if match:
            values[match["letter"].upper()] = match["value"]
    chosen = values.get(letter.strip().strip("()").upper())
    if chosen is None:
        raise Reject(STAGE, "missing_final_answer", f"answer {letter!r} names none of the options {options}")
    numbers = _NUMBER_RE.findall(chosen)
    if len(numbers) != 1 or _NOT_A_NUMBER_RE.search(chosen):
        raise Reject(STAGE, "choice_not_a_number",
                     f"the correct option {letter}) {chosen!r} is not a number a listener could give")
    return _LETTER_LINE_RE.sub("", rationale).strip(), numbers[0].replace(",", "")


@dataclass(frozen=True)
class SourceFormat:
    """Which fields of a row hold the problem, its solution and its labels."""

    problem: str
    solution: str
    answer: str = ""
    type: str = ""
    level: str = ""
    last_number: bool = False
    equation: bool = False  # the solution is an expression to write out (``sources.equations``)
    choices: str = ""  # multiple choice: the options field; ``answer`` then holds a letter

    def fields(self, row: dict, max_chars: int) -> tuple[str, str, str, dict]:
        problem = _text_field(row, self.problem, max_chars)
        solution = _text_field(row, self.solution, max_chars)
        if self.choices:
            letter = _text_field(row, self.answer, max_chars)
            solution, answer = open_question(row.get(self.choices), letter, solution)
            return problem, solution, answer, {"type": _label_field(row, self.type),
                                               "level": _label_field(row, self.level)}
        if self.equation:
            solution, computed = worked_solution(problem, solution)
            given = _answer_field(row, self.answer, max_chars) if self.answer else computed
            if not _same_value(given, computed):
                raise Reject(STAGE, "answer_mismatch",
                             f"the equation gives {computed}, the answer is {given}")
            return problem, solution, computed, {"type": _label_field(row, self.type),
                                                 "level": _label_field(row, self.level)}
        answer = _answer_field(row, self.answer, max_chars) if self.answer else \
            final_answer(solution, self.last_number)
        if not answer:
            raise Reject(STAGE, "missing_final_answer",
                         "the solution states no final answer (#### N, \\boxed{}, 'The answer is')")
        return problem, solution, answer, {"type": _label_field(row, self.type),
                                           "level": _label_field(row, self.level)}


def _same_value(given: str, computed: str) -> bool:
    try:
        return parse_number(given) == parse_number(computed)
    except (NotArithmetic, ValueError, ZeroDivisionError):
        return given.strip() == computed


FORMATS: dict[str, SourceFormat] = {
    "gsm8k": SourceFormat("question", "answer"),
    "math": SourceFormat("problem", "solution", type="type", level="level"),
    "orca": SourceFormat("question", "answer", last_number=True),
    "metamath": SourceFormat("query", "response", type="type"),
    "equation": SourceFormat("question", "equation", answer="answer", equation=True),
    "aqua": SourceFormat("question", "rationale", answer="correct", choices="options"),
}
FIELD_NAMES = ("question", "solution", "answer", "type", "level")


def generic_format(mapping: dict[str, str]) -> SourceFormat:
    """``--field question=prompt --field solution=completion ...`` for any JSONL or Parquet."""
    unknown = set(mapping) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown --field {', '.join(sorted(unknown))}; known: {', '.join(FIELD_NAMES)}")
    if "question" not in mapping or "solution" not in mapping:
        raise ValueError("a generic source needs --field question=NAME and --field solution=NAME")
    return SourceFormat(mapping["question"], mapping["solution"], mapping.get("answer", ""),
                        mapping.get("type", ""), mapping.get("level", ""))


def raw_text(raw: bytes) -> str:
    """A raw line as text for ids and rejects, whatever its encoding."""
    return raw.decode("utf-8", "backslashreplace")


def parse_line(fmt: str | SourceFormat, source: str, split: str, index: int, raw: bytes,
               max_chars: int, origin: str = "") -> dict:
    """One JSON row of a source in format ``fmt`` (a name or a mapping) -> a source record."""
    try:
        line = raw.decode("utf-8-sig")  # a byte-order mark opening a file is not part of its row
    except UnicodeDecodeError as error:
        raise Reject(STAGE, "invalid_utf8", f"byte {error.start}: {error.reason}") from None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise Reject(STAGE, "malformed_json", f"{error.msg} at column {error.colno}") from None
    except RecursionError:
        raise Reject(STAGE, "too_deeply_nested", "JSON nested deeper than the parser allows") from None
    except ValueError as error:  # an integer past Python's limit on digits
        raise Reject(STAGE, "number_too_large", str(error)[:200]) from None
    if not isinstance(row, dict):
        raise Reject(STAGE, "wrong_type", f"line is a JSON {type(row).__name__}, not an object")
    fmt = FORMATS[fmt] if isinstance(fmt, str) else fmt
    problem, solution, answer, metadata = fmt.fields(row, max_chars)
    return new_record(source, split, index, problem, solution, answer, {**metadata, "origin": origin})
