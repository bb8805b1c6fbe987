"""Equation-only sources (SVAMP, MAWPS, ASDiv style) written out as worked, named steps."""

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import run
from pipeline.reject import Reject
from pipeline.sources.equations import worked_solution

EXAMPLES = Path(__file__).parents[2] / "examples" / "equation_problems.jsonl"


def test_an_expression_becomes_one_named_step_per_operation():
    question = ("A baker has 45 cookies and puts them equally in 9 boxes. He eats 2 cookies "
                "from one box. How many cookies are left in that box?")
    solution, answer, exact = worked_solution(question, "( 45.0 / 9.0 ) - 2.0")
    assert solution.splitlines() == ["Dividing 45 cookies by 9 boxes gives 45 / 9 = <<45/9=5>>5.",
                                     "Taking 2 cookies from 5 gives 5 - 2 = <<5-2=3>>3.", "#### 3"]
    assert answer == "3" and exact == 3


@pytest.mark.parametrize(("expression", "value"), [("12.0 + 0.0", 12), ("12.0 - 0", 12), ("12.0 * 0.0", 0),
                                                   ("( 1.0 / 3.0 ) * 3.0", 1), ("0.1 + 0.2", 0.3),
                                                   ("3.14159265358979 * 2.0", 6.28318530717958)])
def test_a_zero_or_a_long_decimal_is_arithmetic_not_an_error(expression, value):
    """An operand 0 never divides anything it is not dividing (no ZeroDivisionError)."""
    _, _, exact = worked_solution("Tom has 12 apples.", expression)
    assert abs(float(exact) - value) < 1e-12


@pytest.mark.parametrize(("expression", "reason"), [("( 45.0 / 0.0 )", "equation_unparseable"),
                                                    ("45 +", "equation_unparseable"),
                                                    ("__import__('os')", "equation_unsupported"),
                                                    ("45.0", "no_solution"),
                                                    ("gcd(12.0, 18.0)", "equation_unsupported"),
                                                    ("17.0 % 5.0", "equation_unsupported"),
                                                    ("3.0 : 4.0", "equation_unsupported"),
                                                    ("5.0 m + 2.0 m", "equation_unsupported")])
def test_what_is_no_arithmetic_is_a_reject(expression, reason):
    with pytest.raises(Reject) as caught:
        worked_solution("Tom has 45 apples.", expression)
    assert caught.value.reason == reason


def test_the_built_in_equation_problems_pass_with_named_steps(tmp_path):
    rows = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    wrong = tmp_path / "wrong.jsonl"
    rounded = {"question": "Ann shares 10 pens among 3 friends. How many pens does each get?",
               "equation": "10.0 / 3.0", "answer": "3.3333333"}  # a rounded gold answer is the same value
    wrong.write_text(json.dumps({**rows[0], "answer": "4"}) + "\n" + json.dumps(rounded) + "\n")
    summary = run(["--source", f"equation:{EXAMPLES}", "--source", f"equation:{wrong}",
                   "--output", str(tmp_path / "out"), "--no_progress"])
    assert summary["inputs"] == len(rows) + 2 == summary["outputs"] + summary["rejects"]
    assert summary["outputs"] >= 0.95 * len(rows)
    assert summary["rejects_by_reason"].get("source/answer_mismatch") == 1
    table = pq.read_table(next((tmp_path / "out" / "data").glob("*.parquet")),
                          columns=["problem", "reasoning", "response"]).to_pylist()
    for row in table:
        # the response says a step, not only the answer: a one-step problem is its step said
        # ("Taking 37 birds from 95 birds gives 58."), without an opener its reasoning is too short for
        said = [s["text"] for s in row["response"] if s["after_step"]]
        assert [text for text in said if not text.startswith("So the answer is")], row["response"]
        named = {" ".join(pair) for pair in re.findall(r"(\d+) ([a-z]+)", row["problem"])}
        # every step names a quantity of the question ("45 cookies"), as the question writes it
        assert all(any(name in step for name in named) for step in row["reasoning"]), row
        assert not any(".0" in step for step in row["reasoning"])


def _problems() -> list[tuple[str, str, str]]:
    """200 equation problems whose numbers are followed by pronouns, hyphenated nouns,
    modifiers and words that disagree with them: (question, expression, the step it must give)."""
    names = ["Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jia"]
    problems = []
    for index in range(40):
        name, a, b = names[index % 10], 20 + index, 2 + index % 9
        problems += [
            (f"{name} had {a} pencils. Then {b} he gave away. How many pencils are left?", f"{a}.0 - {b}.0",
             f"Taking {b} from {a} pencils"),
            (f"{name} did {a} sit-ups and {b} push-ups. How many in all?", f"{a}.0 + {b}.0",
             f"Adding {a} sit-ups and {b} push-ups"),
            (f"There are {a * b} students and {b} school buses. How many students ride each bus?",
             f"{a * b}.0 / {b}.0", f"Dividing {a * b} students by {b} school buses"),
            (f"{name} packs {a} boxes of {b} each. How many things are packed?", f"{a}.0 * {b}.0",
             f"Multiplying {a} boxes by {b}"),
            (f"The {a} school trip costs {b} dollars a child. How much for the class?", f"{a}.0 * {b}.0",
             f"Multiplying {a} by {b} dollars"),
        ]
    return problems


def test_a_quantity_is_named_by_what_it_counts_or_plainly_never_by_a_wrong_word():
    problems = _problems()
    assert len(problems) == 200
    wrong = [(expected, solution.splitlines()[0]) for question, expression, expected in problems
             if not (solution := worked_solution(question, expression)[0]).startswith(expected + " gives")]
    assert wrong == []
