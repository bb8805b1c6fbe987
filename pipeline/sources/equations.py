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
_NAMED_RE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s+([a-z]+(?:-[a-z]+)*)(?:\s+([a-z]+(?:-[a-z]+)*))?")
# Words after a number that name nothing it counts: function words, pronouns, verbs.
_NOT_NAMES = frozenset({
    "and", "or", "of", "in", "on", "at", "to", "for", "each", "every", "more", "less", "fewer", "than",
    "the", "a", "an", "is", "are", "was", "were", "be", "been", "times", "per", "with", "from", "by",
    "he", "she", "it", "they", "we", "you", "i", "him", "her", "them", "us", "his", "its", "their", "our",
    "your", "my", "this", "that", "these", "those", "has", "had", "have", "does", "did", "do", "will",
    "can", "could", "would", "should", "may", "might", "must", "got", "gets", "get", "left", "over",
    "into", "out", "up", "down", "as", "if", "so", "but", "then", "all", "other", "others", "same",
    "only", "just", "about", "after", "before", "most", "many", "much", "some", "any"})
# Plurals without a final s, and words ending in s that are no plural.
_IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "feet", "teeth", "mice", "geese",
                                "sheep", "fish", "deer", "cattle", "dice", "police"})
_NOT_PLURALS = frozenset({"is", "was", "has", "does", "this", "his", "its", "us", "as", "plus", "minus",
                          "less", "unless", "across", "thus", "always", "news", "glass", "class", "grass",
                          "bus", "gas"})
MAX_OPERATIONS = 12
# Operations written out as steps are + - * /; these are named when an equation holds them.
_UNSUPPORTED = {ast.Mod: "a remainder (%)", ast.FloorDiv: "a whole-number division (//)",
                ast.Pow: "a power (**)"}


def _plural(word: str) -> bool:
    last = word.rsplit("-", 1)[-1]
    return last in _IRREGULAR_PLURALS or (last.endswith("s") and not last.endswith("ss")
                                          and last not in _NOT_PLURALS)


def _counted(value: Fraction, first: str, second: str) -> str:
    """What a number counts, from the words after it ('' when they do not say): a word that
    agrees with it ("12 apples", "1 apple", "3 push-ups"), or a noun after a modifier ("46
    school buses"); never a pronoun, a verb or a word that disagrees ("3 he", "46 school")."""
    if first in _NOT_NAMES:
        return ""
    if value == 1:
        return first if not _plural(first) else ""
    if _plural(first):
        return first
    if second and second not in _NOT_NAMES and _plural(second):
        return f"{first} {second}"
    return ""


def _names(question: str) -> dict[Fraction, str]:
    """Each number of the question with what it counts, where the words after it say so."""
    names = {}
    for number, first, second in _NAMED_RE.findall(question.lower()):
        value = Fraction(number.replace(",", ""))
        counted = _counted(value, first, second)
        if counted:
            names.setdefault(value, f"{written(value)} {counted}")
    return names


def worked_solution(question: str, expression: str) -> tuple[str, str, Fraction]:
    """(a solution of one step per operation ending in ``#### answer``, the answer as
    written, its exact value)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        if ":" in expression:
            raise Reject(STAGE, "equation_unsupported", f"a ratio (:) in {expression[:200]}") from None
        if re.search(r"\d\s*[a-zA-Z]", expression):
            raise Reject(STAGE, "equation_unsupported", f"a unit or a word in {expression[:200]}") from None
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
        if isinstance(node, ast.BinOp) and type(node.op) in _UNSUPPORTED:
            named = _UNSUPPORTED[type(node.op)]
            raise Reject(STAGE, "equation_unsupported", f"{named} in {expression[:200]}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):  # gcd(12, 18), lcm(4, 6)
            raise Reject(STAGE, "equation_unsupported", f"{node.func.id}(...) in {expression[:200]}")
        raise Reject(STAGE, "equation_unparseable", f"{ast.dump(node)[:120]} in {expression[:200]}")

    answer, _ = value_of(tree.body)
    if not steps:
        raise Reject(STAGE, "no_solution", f"the equation {expression[:200]!r} computes nothing")
    return "\n".join(steps) + f"\n#### {written(answer)}", written(answer), answer
