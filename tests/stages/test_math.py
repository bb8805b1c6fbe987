"""MATH-style problems through stages 1 and 2: LaTeX said in words, solutions split into
sentences, answers checked with math-verify."""

import collections
import json
import re

import pytest

from pipeline.reject import Reject
from pipeline.sources.formats import parse_line
from pipeline.stages.rewrite import rewrite
from pipeline.stages.split import split
from pipeline.stages.split_rules import prose_steps
from pipeline.text.verbalize import unspeakable_characters

LEFTOVER_LATEX = re.compile(r"\\|[{}$^_]|\b(?:frac|dfrac|sqrt|cdot|mathbf|dfrac|boxed)\b")


def _math_records(path, count=None):
    lines = path.read_bytes().splitlines()[:count]
    return [parse_line("math", "math", "train", i, raw, 8000) for i, raw in enumerate(lines)]


@pytest.fixture(scope="module")
def rewritten(math_path, config):
    passed, reasons, by_type = [], collections.Counter(), collections.Counter()
    records = _math_records(math_path)
    for record in records:
        try:
            passed.append(rewrite(record, config))
            by_type[record["metadata"]["type"]] += 1
        except Reject as reject:
            reasons[reject.reason] += 1
    return records, passed, reasons, by_type


def test_most_of_the_math_sample_can_be_said_aloud(rewritten):
    records, passed, reasons, by_type = rewritten
    assert len(passed) / len(records) >= 0.60
    assert len(by_type) == 7  # every MATH subject keeps some problems
    assert {"diagram", "matrix", "table", "multiple_choice"} <= set(reasons)
    assert "unexpected_error" not in reasons


def test_no_passed_question_keeps_latex_or_symbols(rewritten):
    _, passed, _, _ = rewritten
    for record in passed:
        assert not LEFTOVER_LATEX.search(record["question"]), record["question"]
        assert unspeakable_characters(record["question"]) == []


def test_math_solutions_split_with_verified_answers(rewritten, config):
    _, passed, _, _ = rewritten
    split_records, reasons = [], collections.Counter()
    for record in passed[:400]:
        try:
            split_records.append(split(record, config))
        except Reject as reject:
            reasons[reject.reason] += 1
    assert len(split_records) >= 0.8 * 400, reasons
    assert "unexpected_error" not in reasons
    for record in split_records:
        assert record["checks"]["answer_verified"]
        steps = [sentence["after_step"] for sentence in record["response"]]
        assert steps == sorted(steps)
        assert record["response"][-1]["after_step"] == len(record["reasoning"])
        for sentence in record["response"]:
            assert unspeakable_characters(sentence["text"]) == []


def test_sentences_are_never_cut_inside_math():
    solution = (r"We have $x = 1. Y$ here. Then \[a = 2. B\] so \begin{align*} c &= 3. \\ D &= 4 "
                r"\end{align*} Done. It costs \$5. So $\boxed{5}$. Note: an afterthought.")
    assert prose_steps(solution) == [
        "We have $x = 1. Y$ here.",
        r"Then \[a = 2. B\] so \begin{align*} c &= 3. \\ D &= 4 \end{align*} Done.",
        r"It costs \$5.",
        r"So $\boxed{5}$.",  # steps after the boxed answer are commentary, not reasoning
    ]


def _record(problem, solution, answer, config):
    raw = json.dumps({"problem": problem, "solution": solution, "type": "Algebra", "level": "Level 1"})
    record = parse_line("math", "math", "train", 0, raw.encode(), 8000)
    return rewrite({**record, "answer": answer}, config)


def test_latex_answers_are_compared_by_value(config):
    record = _record(r"Find $x$ if $7x = 9$.", r"Dividing, $x = \boxed{\dfrac{9}{7}}$.", r"\frac{9}{7}",
                     config)
    result = split(record, config)
    assert result["response"][-1]["text"].endswith("nine sevenths.")


def test_a_wrong_boxed_answer_is_a_reject_with_both_values(config):
    record = _record(r"Find $x$ if $7x = 9$.", r"Dividing, $x = \boxed{\dfrac{9}{8}}$.", r"\frac{9}{7}",
                     config)
    with pytest.raises(Reject) as rejected:
        split(record, config)
    assert rejected.value.reason == "answer_mismatch"
    assert "9}{8}" in rejected.value.detail and "9}{7}" in rejected.value.detail


def test_a_step_that_cannot_be_said_rejects_with_its_reason(config):
    solution = r"Multiply: $\begin{pmatrix} 1 \\ 2 \end{pmatrix} \weird 2$. So $\boxed{3}$."
    record = _record("What is $1+2$?", solution, "3", config)
    with pytest.raises(Reject) as rejected:
        split(record, config)
    assert rejected.value.reason in {"solution_matrix", "step_unsupported_latex"}
