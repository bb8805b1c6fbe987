"""Is this the gold answer? Numbers are compared exactly with fractions; anything else
(LaTeX fractions, radicals, tuples, intervals) with ``math-verify``."""

from __future__ import annotations

import logging
from fractions import Fraction
from functools import lru_cache

from math_verify import parse, verify

from pipeline.text.arithmetic import NumberTooLarge, parse_number, same_number
from pipeline.text.latex import canonical

logging.getLogger("math_verify").setLevel(logging.ERROR)


def numeric(answer: str) -> Fraction | None:
    """The answer as an exact number, or None when it is not one ("\\\\frac{\\\\pi}{2}")."""
    try:
        return parse_number(canonical(answer).replace("\\$", "").replace("\\%", "%"))
    except NumberTooLarge:
        raise
    except (ValueError, ZeroDivisionError):
        return None


def _as_math(text: str) -> str:
    return text if "$" in text or "\\boxed" in text else f"${text}$"


@lru_cache(maxsize=4096)
def _parsed(text: str):
    # Beam runs DoFns on threads, where math-verify's signal-based timeout cannot work;
    # inputs are bounded by the source's character limit instead.
    return parse(_as_math(text), parsing_timeout=None)


def same_answer(gold: str, candidate: str) -> bool:
    """Whether ``candidate`` (an answer, or a step whose final expression is the result)
    equals ``gold``."""
    exact, other = numeric(gold), numeric(candidate)
    if exact is not None and other is not None:
        return same_number(exact, other)
    expected, found = _parsed(gold), _parsed(candidate)
    return bool(expected and found and verify(expected, found, timeout_seconds=None))
