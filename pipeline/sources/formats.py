"""Source formats: which fields of a row hold the problem, its solution and its labels, and
how one raw row becomes a source record (``parse_line``).

Whatever is wrong with an input (bytes that are not UTF-8, a line that is not JSON, a
missing or mistyped field, an empty or enormous problem) becomes a ``Reject`` with a
reason, never an exception that stops the run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction

from pipeline.reject import Reject
from pipeline.sources.equations import worked_solution
from pipeline.sources.final_answers import NUMBER_RE, final_answer
from pipeline.sources.records import STAGE, new_record
from pipeline.sources.rows import BINARY_MARKER
from pipeline.text.arithmetic import NotArithmetic, parse_number


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
ANSWER_TOLERANCE = Fraction(1, 1_000_000)  # of an equation's value, for a gold answer rounded


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


_OPTION_RE = re.compile(r"^\s*\(?(?P<letter>[A-Ea-e])\s*[).:]\s*(?P<value>.*?)\s*$", re.S)


_LETTER_LINE_RE = re.compile(r"\n?\s*(?:the\s+)?(?:correct\s+)?(?:answer|option)\s*(?:is)?\s*[:\-]?\s*"
                             r"(?:option\s*)?\(?[A-E]\)?\s*\.?\s*$", re.I)


# a number and its unit, nothing else ("245 m", "Rs. 1200", "12.5 km/hr"): a unit of one letter
# is no variable when the option holds nothing but the amount
_MEASURE_RE = re.compile(r"\s*(?:Rs\.?|\$)?\s*\d[\d,]*(?:\.\d+)?\s*"
                         r"(?:%|[A-Za-z.]{1,6}(?:\s*/\s*[A-Za-z.]{1,5})?)?\s*")
# a variable next to a number or an operator ("2x", "x+1"), or no value at all ("None of these")
_NOT_ANUMBER_RE = re.compile(r"\d\s*[a-z]\b|\b[a-z]\s*[-+*^]|[-+*^]\s*[a-z]\b|\b(?:none|all|cannot|both)\b",
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
    numbers = NUMBER_RE.findall(chosen)
    if len(numbers) != 1 or (_NOT_ANUMBER_RE.search(chosen) and not _MEASURE_RE.fullmatch(chosen)):
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
            solution, computed, exact = worked_solution(problem, solution)
            given = _answer_field(row, self.answer, max_chars) if self.answer else computed
            if not _same_value(given, computed, exact):
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


def _same_value(given: str, computed: str, exact: Fraction) -> bool:
    """Whether a gold answer is the equation's value: equal, or within a millionth of it
    (sets round their answers, 0.3333 for a third, or store 1e-10 for 0)."""
    try:
        value = parse_number(given)
    except (NotArithmetic, ValueError, ZeroDivisionError):
        return given.strip() == computed
    return abs(value - exact) <= ANSWER_TOLERANCE * max(1, abs(exact))


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
