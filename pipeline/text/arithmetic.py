"""Exact evaluation of the arithmetic in GSM8K-style calculator notes (``<<48/2=24>>``).

Notes are re-computed with fractions, never floats, so "0.1+0.2=0.3" holds and a
wrong note is caught for certain. Only numbers, + - * / ** % and parentheses are
accepted: a note is data, never code.
"""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction
from functools import lru_cache

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_MAX_EXPONENT = 64
# No quantity in a math word problem needs more: a bound checked before computing, so a
# row such as ``<<(((9**64)**64)**64)**64=5>>`` or ``#### 1e10000000`` costs microseconds.
MAX_BITS = 4096
_SCIENTIFIC_RE = re.compile(r"[eE]([+-]?\d+)$")


class NotArithmetic(ValueError):
    """The expression is not plain arithmetic or cannot be computed exactly."""


class NumberTooLarge(NotArithmetic):
    """A number past ``MAX_BITS``: refused before it is computed."""

    reject_reason = "number_too_large"


def _bits(value: Fraction) -> int:
    return max(value.numerator.bit_length(), value.denominator.bit_length())


@lru_cache(maxsize=65536)
def parse_number(text: str) -> Fraction:
    """'1,250.50' -> 1250.5; '$3' -> 3; '25%' -> 25. Raises ValueError when not a number,
    ``NumberTooLarge`` when it has more than about 1,200 digits. Cached, as ``evaluate``."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    scientific = _SCIENTIFIC_RE.search(cleaned)
    if len(cleaned) > MAX_BITS // 3 or (scientific and abs(int(scientific[1])) > MAX_BITS // 4):
        raise NumberTooLarge(f"{cleaned[:40]}... has too many digits to check")
    return Fraction(cleaned)


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(repr(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if _bits(left) + _bits(right) > MAX_BITS:
            raise NumberTooLarge(f"a product past {MAX_BITS} bits")
        try:
            return Fraction(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as error:
            raise NotArithmetic("division by zero") from error
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = _evaluate(node.left), _evaluate(node.right)
        if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT:
            raise NotArithmetic(f"unsupported exponent {exponent}")
        if _bits(base) * abs(int(exponent)) > MAX_BITS:
            raise NumberTooLarge(f"a power past {MAX_BITS} bits")
        return base ** int(exponent)
    raise NotArithmetic(f"not arithmetic: {ast.dump(node)[:60]}")


@lru_cache(maxsize=65536)
def evaluate(expression: str) -> Fraction:
    """Exact value of a calculator expression such as ``100-50-30-15`` or ``12/60``.
    Cached: half of GSM8K's notes repeat one another's ("2*3", "12/60")."""
    cleaned = expression.replace(",", "").replace("$", "").replace("x", "*").replace("×", "*")
    cleaned = cleaned.replace("÷", "/").replace("^", "**").strip()
    if not cleaned or len(cleaned) > 200:
        raise NotArithmetic("empty or oversized expression")
    try:
        tree = ast.parse(cleaned, mode="eval")
    except SyntaxError as error:
        raise NotArithmetic(f"cannot parse {expression!r}") from error
    return _evaluate(tree)


def same_number(a: Fraction, b: Fraction, rel_tol: Fraction = Fraction(1, 10**6)) -> bool:
    """Equal, allowing for notes that round a result (``10/3=3.33``)."""
    if a == b:
        return True
    if a.denominator == 1 and b.denominator == 1:
        # whole numbers never round to one another: only the tolerance can hold, in ints
        a, b = a.numerator, b.numerator
        return abs(a - b) * rel_tol.denominator <= max(abs(a), abs(b), 1) * rel_tol.numerator
    scale = max(abs(a), abs(b), Fraction(1))
    return abs(a - b) <= scale * rel_tol or _rounds_to(a, b) or _rounds_to(b, a)


def _rounds_to(exact: Fraction, written: Fraction) -> bool:
    """``written`` is ``exact`` rounded to as many decimals as ``written`` shows."""
    decimals = 0
    while written.denominator != 1 and decimals < 6:
        written_scaled = written * 10 ** (decimals + 1)
        decimals += 1
        if written_scaled.denominator == 1:
            break
    step = Fraction(1, 10**decimals)
    return abs(exact - written) <= step / 2


def written(value: Fraction) -> str:
    """45 for 45.0; a decimal when it ends, else rounded to hundredths (as GSM8K notes round)."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    while denominator % 2 == 0:
        denominator //= 2
    while denominator % 5 == 0:
        denominator //= 5
    text = f"{float(value):.10f}" if denominator == 1 else f"{float(value):.2f}"
    return text.rstrip("0").rstrip(".")
