"""Is this the gold answer? Numbers are compared exactly with fractions; anything else
(LaTeX fractions, radicals, tuples, intervals) with ``math-verify``."""

from __future__ import annotations

import logging
from fractions import Fraction
from functools import lru_cache

from pipeline.deadline import Isolated
from pipeline.text.arithmetic import NumberTooLarge, parse_number, same_number
from pipeline.text.latex import canonical

logging.getLogger("math_verify").setLevel(logging.ERROR)
MATH_VERIFY_SECONDS = 0.8  # one comparison; real answers take tens of milliseconds


@lru_cache(maxsize=4096)
def numeric(answer: str) -> Fraction | None:
    """The answer as an exact number, or None when it is not one ("\\\\frac{\\\\pi}{2}").
    Cached: stage 2 asks about the same gold answer several times a record."""
    try:
        return parse_number(canonical(answer).replace("\\$", "").replace("\\%", "%"))
    except NumberTooLarge:
        raise
    except (ValueError, ZeroDivisionError):
        return None


def _as_math(text: str) -> str:
    return text if "$" in text or "\\boxed" in text else f"${text}$"


def _math_verify_equal(gold: str, candidate: str) -> bool:
    """math-verify's verdict; runs in ``_MATH_VERIFY``'s child process (only there is
    math-verify, with sympy, imported: a second of start-up that numeric answers never need)."""
    from math_verify import parse, verify

    expected = parse(_as_math(gold), parsing_timeout=None)
    found = parse(_as_math(candidate), parsing_timeout=None)
    return bool(expected and found and verify(expected, found, timeout_seconds=None))


# math-verify's own timeout needs signals on the main thread, which Beam's workers are not;
# sympy can spend minutes in one C call ("9^{9^{9}}"), so it runs where it can be killed.
_MATH_VERIFY = Isolated(f"{__name__}:_math_verify_equal", MATH_VERIFY_SECONDS,
                        warm_up=("\\frac{1}{2}", "x^2"))


class AnswerCheckTimeout(Exception):
    reject_reason = "answer_check_timeout"


@lru_cache(maxsize=4096)
def _symbolic_equal(gold: str, candidate: str) -> bool:
    try:
        return _MATH_VERIFY(gold, candidate)
    except TimeoutError:
        raise AnswerCheckTimeout(f"math-verify took over {MATH_VERIFY_SECONDS} s comparing "
                                 f"{gold[:80]!r} with {candidate[:80]!r}") from None


def same_answer(gold: str, candidate: str) -> bool:
    """Whether ``candidate`` (an answer, or a step whose final expression is the result)
    equals ``gold``."""
    if gold.strip() == candidate.strip():
        return True
    exact, other = numeric(gold), numeric(candidate)
    if exact is not None and other is not None:
        return same_number(exact, other)
    return _symbolic_equal(gold, candidate)
