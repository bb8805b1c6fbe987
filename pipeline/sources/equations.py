"""Equation-only solutions (SVAMP, MAWPS, ASDiv: a question and an expression such as
``( 45.0 / 9.0 ) - 2.0``) written out as worked steps the rules can split.

One step per operation, in evaluation order, in the GSM8K layout the rules already read
(``<<a/b=c>>`` notes, ``#### answer``); each number is named by the word that follows it
in the question ("45 cookies") and written as the question writes it (45, not 45.0).
"""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction

from pipeline.reject import Reject
from pipeline.text.arithmetic import written

STAGE = "source"
_VERBS = {ast.Add: ("+", operator.add, "Adding {a} and {b}"),
          ast.Sub: ("-", operator.sub, "Taking {b} from {a}"),
          ast.Mult: ("*", operator.mul, "Multiplying {a} by {b}"),
          ast.Div: ("/", operator.truediv, "Dividing {a} by {b}")}
_NAMED_RE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s+([a-z]+)")
_NOT_NAMES = frozenset({"and", "or", "of", "in", "on", "at", "to", "for", "each", "every", "more",
                        "less", "than", "the", "a", "an", "is", "are", "was", "were", "times", "per",
                        "with", "from", "by"})
MAX_OPERATIONS = 12


def _names(question: str) -> dict[Fraction, str]:
    """Each number of the question with the word after it, when that word names a thing."""
    names = {}
    for number, word in _NAMED_RE.findall(question):
        value = Fraction(number.replace(",", ""))
        if word not in _NOT_NAMES:
            names.setdefault(value, f"{written(value)} {word}")
    return names


def worked_solution(question: str, expression: str) -> tuple[str, str, Fraction]:
    """(a solution of one step per operation ending in ``#### answer``, the answer as
    written, its exact value)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise Reject(STAGE, "equation_unparseable", expression[:200]) from None
    names, steps = _names(question), []

    def value_of(node: ast.AST) -> tuple[Fraction, str]:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value = Fraction(str(node.value))
            return value, names.get(value, written(value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value, _ = value_of(node.operand)
            return -value, written(-value)
        if isinstance(node, ast.BinOp) and type(node.op) in _VERBS and len(steps) < MAX_OPERATIONS:
            (a, said_a), (b, said_b) = value_of(node.left), value_of(node.right)
            symbol, apply, verb = _VERBS[type(node.op)]
            if symbol == "/" and b == 0:
                raise Reject(STAGE, "equation_unparseable", f"division by zero in {expression[:200]}")
            result = apply(a, b)
            left, right, total = written(a), written(b), written(result)
            steps.append(f"{verb.format(a=said_a, b=said_b)} gives {left} {symbol} {right} = "
                         f"<<{left}{symbol}{right}={total}>>{total}.")
            return result, total
        raise Reject(STAGE, "equation_unparseable", f"{ast.dump(node)[:120]} in {expression[:200]}")

    answer, _ = value_of(tree.body)
    if not steps:
        raise Reject(STAGE, "no_solution", f"the equation {expression[:200]!r} computes nothing")
    return "\n".join(steps) + f"\n#### {written(answer)}", written(answer), answer
