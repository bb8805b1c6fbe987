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


def test_a_sentence_ends_inside_math_or_at_a_line_end():
    """MATH ends sentences inside math ("$x=3.$ Therefore", ".\\]We want"); AQuA writes one
    calculation a line, with no period. A line that runs on ("so", "=") ends nothing."""
    solution = (r"The vertex is at $x=3.$ Therefore we square: \[x^2-6x+12=(x-3)^2+3.\]We want "
                r"$f(f(x))=x,$ so \begin{align*} a &= b. \end{align*}Seeking a way, we get $\boxed{1}$.")
    assert prose_steps(solution) == [
        "The vertex is at $x=3.$", r"Therefore we square: \[x^2-6x+12=(x-3)^2+3.\]",
        r"We want $f(f(x))=x,$ so \begin{align*} a &= b. \end{align*}", r"Seeking a way, we get $\boxed{1}$."]
    rationale = "Each car has 4 tires + 1 spare = 5 tires\nIf there are 30 cars, the total is\n30*5 = 150"
    assert prose_steps(rationale) == ["Each car has 4 tires + 1 spare = 5 tires",
                                      "If there are 30 cars, the total is 30*5 = 150"]


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


@pytest.mark.parametrize(("said", "brief"), [
    ("We have the fraction 1 cubed plus 3 squared plus 5, over 1 plus 3 squared plus 5 cubed, equals the "
     "fraction 1 plus 9 plus 5, over 1 plus 9 plus 125, equals 15 over 135 equals one ninth.",
     "So this comes to 15 over 135, which is one ninth."),
    ("Reducing each number modulo 17, we get 33818 squared plus 33819 squared plus 33820 squared, and is "
     "congruent to 5 squared plus 6 squared plus 7 squared, and is congruent to 110, and is congruent to 8 "
     "modulo 17.", "So this is congruent to 110, which is congruent to 8 modulo 17."),
    ("From the formula for the distance from a point to a plane, the distance is the fraction the absolute "
     "value of 2 plus 5, over the square root of 9, equals 7 over 3.", "So the distance is 7 over 3."),
])
def test_a_chain_with_a_long_first_side_is_said_by_its_last_link(said, brief):
    assert key_results(said)[0] == brief


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
    chain = (r"We have $$\frac{1^3 + 3^2 + 5}{1 + 3^2 + 5^3} = \frac{1 + 9 + 5}{1 + 9 + 125} "
             r"= \frac{15}{135} = \boxed{\frac{1}{9}}.$$")
    record = _record(r"Compute $\frac{1^3 + 3^2 + 5}{1 + 3^2 + 5^3}$.", chain, r"\frac{1}{9}", config)
    said = split(record, config)["response"][-1]["text"]
    assert said == "So this comes to 15 over 135, which is one ninth."
