from fractions import Fraction as F

import pytest

from pipeline.text.arithmetic import NotArithmetic, evaluate, parse_number, same_number


@pytest.mark.parametrize(("expression", "value"), [
    ("48/2", F(24)), ("100-50-30-15", F(5)), ("0.1+0.2", F(3, 10)), ("12*2", F(12 * 2)),
    ("2**10", F(1024)), ("(3+4)*2", F(14)), ("$12 x 3", F(36)), ("1,000/4", F(250)),
])
def test_evaluate_is_exact(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os')", "a+1", "2**1000", "1/0", ""])
def test_evaluate_refuses_anything_but_arithmetic(expression):
    with pytest.raises(NotArithmetic):
        evaluate(expression)


def test_same_number_allows_written_rounding_only():
    assert same_number(F(10, 3), parse_number("3.33"))
    assert not same_number(F(10, 3), parse_number("3.5"))
    assert same_number(F(24), parse_number("24.00"))
    assert not same_number(F(24), F(25))


def test_whole_numbers_as_ints_or_fractions_compare_alike():
    cases = {(24, 25): False, (24, 24): True, (10**7, 10**7 + 1): True, (10**7, 10**7 + 11): False,
             (10**6, 10**6 + 2): False, (-3, 3): False, (0, 1): False}
    for (a, b), expected in cases.items():
        assert same_number(a, b) == same_number(F(a), b) == same_number(a, F(b)) == expected
    assert same_number(F(10**7), F(10**7) + F(1, 2)) and not same_number(F(3), F(3) + F(2, 3))
