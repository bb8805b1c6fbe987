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
from pipeline.stages.split_rules import key_results, prose_steps
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


@pytest.mark.parametrize(("said", "briefest"), [
    ("Setting x equals 4, we get 14 p of 8 equals 0, so p of x has a factor of x minus 8.",
     "So p of x has a factor of x minus 8."),
    ("We have that 852 sub 9 equals 8 (81) plus 5 (9) plus 2 (1) equals 648 plus 45 plus 2 equals 695.",
     "So 852 sub 9 equals 695."),
    ("180 equals 2 squared times 5 and 450 equals 2 times 5 squared, so their GCF is 2 times 5 equals 10.",
     "So their GCF is 10."),
    ("Since cosine t minus sine t is greater than 0, cosine t minus sine t equals two fifths.",
     "So cosine t minus sine t equals two fifths."),
    ("We can write 2 x plus 4 equals 2 (x plus 1) plus 2, and equals 2 (x plus 2).",  # an aligned chain
     "So 2 x plus 4 equals 2 (x plus 2)."),
])
def test_a_long_step_is_said_by_the_result_it_ends_on(said, briefest):
    assert key_results(said)[0] == briefest


def test_a_brief_form_never_joins_the_ends_of_two_statements():
    """ "the ratio is ... equals 101 over 200, and m plus n equals 301" is no chain: saying
    "the ratio is 301" would be false."""
    said = ("Thus the desired ratio is 1 over 2 times 101 pi over 100 squared pi equals 101 over 200, "
            "and m plus n equals 301.")
    forms = key_results(said)
    assert "So m plus n equals 301." in forms and not any("ratio is 301" in form for form in forms)
    assert "So 0 equals 5." not in key_results("Then (0, 0) is a point, and 0 equals 23.31 equals 5.")
    bounded = key_results("Then the sum from n equals 1 to 9 of n equals 45 equals 9 times 5.")
    assert not any(form.startswith("So the sum from n equals 9") for form in bounded)


def test_a_one_step_solution_ends_on_its_result_not_on_the_answer_alone(config):
    """MATH's one-sentence solutions used to be said as an opener and "So the answer is 18.":
    a model trained on them learns to skip the explanation."""
    solution = (r"Setting $x = 1$ in the equation $(x + 4) P(x) = 5x^3 + 85$ for the coefficients, "
                r"we get $(1 + 4) P(1) = 5 \cdot 1^3 + 85 = 90$, so $P(1) = \boxed{18}$.")
    record = _record(r"If $(x + 4) P(x) = 5x^3 + 85$, find the sum of the coefficients of $P$.",
                     solution, "18", config)
    result = split(record, config)
    assert result["response"][-1]["text"] == "So P of 1 equals 18."
    assert not any(s["text"].startswith("So the answer is") for s in result["response"])
