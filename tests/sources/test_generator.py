from pipeline.sources.generator import TEMPLATES, generate_problem
from pipeline.stages.split_rules import verify_notes
from pipeline.text.arithmetic import parse_number


def test_same_seed_and_index_give_the_same_problem():
    assert generate_problem(3, 17) == generate_problem(3, 17)
    assert generate_problem(3, 17) != generate_problem(4, 17)


def test_every_template_appears_and_its_notes_are_right():
    problems = [generate_problem(0, i) for i in range(600)]
    assert {p.template for p in problems} == set(TEMPLATES)
    for problem in problems:
        assert len(problem.steps) >= 2
        assert verify_notes(problem.solution) == parse_number(str(problem.answer))
        assert problem.solution.endswith(f"#### {problem.answer}")
        assert problem.answer >= 0
