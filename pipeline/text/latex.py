"""Say LaTeX mathematics in words, the way a teacher reads a problem aloud.

``pylatexenc`` parses the markup; this module walks its nodes and writes plain text
("the square root of x squared plus 1") with numbers kept as digits and the
dollar and percent signs kept for ``verbalize`` to say. What cannot be said clearly
(matrices, tables, multi-line layouts, unknown macros) raises ``Unsayable`` with a
specific reason, so a stage can reject the item instead of speaking nonsense.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexSpecialsNode,
    LatexWalker,
    LatexWalkerError,
    get_default_latex_context_db,
)

from pipeline.text.quantities import quantity_values
from pipeline.text.verbalize import GLUED_UNITS, UNITS, fraction_words, verbalize


class Unsayable(ValueError):
    """Markup that has no clear spoken form; ``reason`` names the kind."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


_WORDS = {
    "cdot": "times", "times": "times", "div": "divided by", "pm": "plus or minus",
    "mp": "minus or plus", "le": "is less than or equal to", "leq": "is less than or equal to",
    "ge": "is greater than or equal to", "geq": "is greater than or equal to",
    "lt": "is less than", "gt": "is greater than", "ne": "is not equal to",
    "neq": "is not equal to", "approx": "is approximately", "equiv": "is congruent to",
    "cong": "is congruent to", "sim": "is similar to", "parallel": "is parallel to",
    "perp": "is perpendicular to", "mid": "divides", "nmid": "does not divide",
    "in": "in", "notin": "not in", "cup": "union", "cap": "intersection",
    "subset": "is a subset of", "subseteq": "is a subset of", "emptyset": "the empty set",
    "varnothing": "the empty set", "to": "to", "rightarrow": "to", "Rightarrow": "so", "Longrightarrow": "so",
    "iff": "if and only if", "Leftrightarrow": "if and only if", "therefore": "so", "implies": "implies",
    "infty": "infinity", "angle": "angle", "triangle": "triangle", "bigtriangleup": "triangle",
    "square": "square", "circ": "composed with", "prime": "prime", "ell": "l",
    "lfloor": "the floor of", "rfloor": "", "lceil": "the ceiling of", "rceil": "",
    "ldots": "dot dot dot", "cdots": "dot dot dot", "dots": "dot dot dot",
    "dotsb": "dot dot dot", "dotsm": "dot dot dot", "dotsc": "dot dot dot",
    "gcd": "the greatest common divisor of", "lcm": "the least common multiple of",
    "sin": "sine", "cos": "cosine", "tan": "tangent", "cot": "cotangent", "sec": "secant",
    "csc": "cosecant", "arcsin": "arc sine", "arccos": "arc cosine", "arctan": "arc tangent",
    "log": "log", "ln": "the natural log of", "exp": "e to the", "max": "the maximum of",
    "min": "the minimum of", "det": "the determinant of", "deg": "degrees", "bmod": "mod",
    "mod": "mod", "%": "%", "$": "$", "&": "and", "#": "number", "{": "", "}": "", "_": "blank",
    "|": "the absolute value of", "vert": "", "star": "star", "bullet": "bullet",
    "clubsuit": "club", "spadesuit": "spade", "heartsuit": "heart", "diamondsuit": "diamond",
    "surd": "the square root of", "cdotp": "times",
}
_TRIGONOMETRIC = frozenset({"sin", "cos", "tan", "cot", "sec", "csc"})
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
          "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
          "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega")
_WORDS.update({name: name.removeprefix("var").lower() for name in _GREEK})
_SILENT = {"left", "right", "displaystyle", "textstyle", "limits", "big", "Big", "bigg", "Bigg",
           "bigl", "bigr", "Bigl", "Bigr", ",", ";", ":", "!", " ", "quad", "qquad", "allowbreak",
           "nonumber", "rm", "bf", "it", "cal", "large", "Large", "small", "notag"}
_TEXT = {"boxed", "text", "textbf", "textit", "textrm", "textsf", "mbox", "emph", "mathrm", "mathbf",
         "mathit", "mathsf", "bold", "boldsymbol", "operatorname", "mathop", "underline", "fbox"}
_LETTERS = {"mathbb": {"R": "the real numbers", "Z": "the integers", "N": "the natural numbers",
                       "Q": "the rational numbers", "C": "the complex numbers"}}
_FRACTIONS = {"frac", "dfrac", "tfrac", "cfrac"}
_PROPER_FRACTION_RE = re.compile(r"\\[dt]?frac\s*\{(\d)\}\s*\{(\d\d?)\}")
_ORDINAL_SUFFIXES = ("t h", "s t", "n d", "r d", "th", "st", "nd", "rd")
_BINOMIALS = {"binom", "dbinom", "tbinom"}
_ROWS = {"align": ", and ", "align*": ", and ", "aligned": ", and ", "eqnarray": ", and ",
         "eqnarray*": ", and ", "gather": ", and ", "gather*": ", and ", "split": ", and ",
         "multline": " ", "multline*": " ", "cases": "; "}
_LAYOUTS = {"pmatrix": "matrix", "bmatrix": "matrix", "vmatrix": "matrix", "matrix": "matrix",
            "Bmatrix": "matrix", "smallmatrix": "matrix", "array": "table", "tabular": "table"}
# A square bracket of math, held apart until the span is said: "[a, b]" is a closed interval.
_OPEN, _CLOSE = "\x01", "\x02"
_OPERATORS = {"+": " plus ", "=": " equals ", "<": " is less than ", ">": " is greater than ",
              "*": " times ", "/": " over ", "!": " factorial ", "'": " prime ", ":": " to ",
              "[": f" {_OPEN} ", "]": f" {_CLOSE} ", "(": " (", ")": ") ", ",": ", ", ".": ". ", ";": "; ",
              "?": "? ", "~": " "}
# A number with thousands commas; right after a bracket, "(12,102)" is a pair and "(1,000)" a number.
_TOKEN_RE = re.compile(r"(?<![(\[])\d{1,3}(?:,\d{3})+(?![\d,])|\d{1,3}(?:,0\d\d)+(?![\d,])"
                       r"|\d+(?:\.\d+)?|\.\d+|[A-Za-z]|\s+|.")
_FUNCTIONS = frozenset("fghpqPQGH")
_LIMITS = {"sum": "the sum", "prod": "the product", "lim": "the limit", "int": "the integral"}


class _Math:
    """Turns the node list of one math span into words."""

    def __init__(self, nodes: list, row_break: str | None = None) -> None:
        self.items = _items(nodes)
        self.at = 0
        self.bars = 0
        self.row_break = row_break

    def say(self) -> str:
        words = []
        while self.at < len(self.items):
            words.append(self.one(words))
        return "".join(words)

    def next_item(self):
        """The next argument: a group, a macro or a single token."""
        while self.at < len(self.items) and isinstance(self.items[self.at], str) and \
                self.items[self.at].isspace():
            self.at += 1
        if self.at >= len(self.items):
            raise Unsayable("unsupported_latex", "an operator without an argument")
        item = self.items[self.at]
        self.at += 1
        return item

    def argument(self) -> str:
        item = self.next_item()
        if isinstance(item, LatexGroupNode):
            spoken = _say_math(item.nodelist)
        elif isinstance(item, str):
            spoken = _token(item, True)
        else:
            spoken = _Math([item]).say()
        return " ".join(spoken.split())

    def one(self, said: list[str]) -> str:
        item = self.items[self.at]
        self.at += 1
        if isinstance(item, str):
            return self.token(item, said)
        if isinstance(item, LatexGroupNode):
            return " " + _say_math(item.nodelist) + " "
        if isinstance(item, LatexMacroNode):
            spoken = self.macro(item)
            if item.macroname in _FRACTIONS and "".join(said).rstrip()[-1:].isdigit() \
                    and _PROPER_FRACTION_RE.fullmatch(item.latex_verbatim()):
                spoken = "and " + spoken  # 2\frac{1}{6}: two and one sixth, a mixed number
            if item.macroname == "overline" and spoken.startswith("with") and said \
                    and said[-1].rstrip().endswith("."):
                # 0.\overline{36}: "0 point 36 repeating", not "0." and a pause
                said[-1] = said[-1].rstrip().removesuffix(".")
                whole = "".join(said).rstrip()[-1:].isdigit()
                spoken = ("point " if whole else "0 point ") + spoken.removeprefix("with ")
            return " " + spoken + " "
        if isinstance(item, LatexEnvironmentNode) and item.environmentname in _ROWS:
            return " " + _Math(item.nodelist, _ROWS[item.environmentname]).say() + " "
        if isinstance(item, LatexEnvironmentNode):
            raise Unsayable(_LAYOUTS.get(item.environmentname, "multiline_math"),
                            f"\\begin{{{item.environmentname}}}")
        if isinstance(item, LatexMathNode):
            return " " + _say_math(item.nodelist) + " "
        if isinstance(item, LatexCommentNode):
            return " "
        raise Unsayable("unsupported_latex", type(item).__name__)

    def token(self, token: str, said: list[str]) -> str:
        if token == "^":
            return self.power()
        if token == "_":
            return " sub " + self.argument() + " "
        if token == "-":
            previous = "".join(said).rstrip()
            starts = not previous or previous.endswith(("(", _OPEN, "equals", "than", "to", "plus", "minus",
                                                        "times", "over", "by", ","))
            if self.at >= len(self.items) or "".join(map(str, self.items[self.at:])).isspace():
                return " "  # "$xy-$plane": a hyphen, with nothing to subtract
            return " negative " if starts else " minus "
        if token == "|":
            self.bars += 1
            return " the absolute value of " if self.bars % 2 else " "
        if token == "&" and self.row_break is not None:
            return " "
        if token == "&" or token == "\\":
            raise Unsayable("multiline_math", "an aligned layout")
        if token in _FUNCTIONS and self.peek("^") and self._inverse():
            applied = f"of {self.simple_argument()}" if self.peek("(") else ""
            return f" {token} inverse {applied} "
        if token in _FUNCTIONS and self.peek("("):
            return f" {token} of {self.simple_argument()} "
        if token == "/" and "".join(said).rstrip()[-1:].isdigit() and self.peek_digits():
            return " / "
        return _token(token, True)

    def _inverse(self) -> bool:
        """Whether the power that follows is ``^{-1}``, taken if so: "g^{-1}(x)" is "g inverse of x"."""
        power = self.items[self.at + 1] if self.at + 1 < len(self.items) else None
        if isinstance(power, LatexGroupNode) and power.latex_verbatim().replace(" ", "") == "{-1}":
            self.at += 2
            return True
        return False

    def simple_argument(self) -> str:
        """A function's argument of one number or letter, taken with its parentheses: "f(3)"
        is said "f of 3", as a listener hears no brackets; a longer one stays for the rest."""
        items = self.items[self.at:self.at + 3]
        if len(items) == 3 and all(isinstance(item, str) for item in items) and items[2] == ")" \
                and (items[1].isdigit() or (len(items[1]) == 1 and items[1].isalpha())):
            self.at += 3
            return _token(items[1], True)
        return ""

    def peek_digits(self) -> bool:
        following = self.items[self.at] if self.at < len(self.items) else None
        return isinstance(following, str) and following.isdigit()

    def power(self) -> str:
        spoken = self.argument()
        if spoken == _WORDS["circ"]:
            return " degrees "
        if spoken in ("prime", "prime prime"):
            return " prime " if spoken == "prime" else " double prime "
        if spoken in _ORDINAL_SUFFIXES:  # n^{th}: the n-th
            return f"-{spoken.replace(' ', '')} "
        return {"2": " squared ", "3": " cubed "}.get(spoken, f" to the power of {spoken} ")

    def macro(self, node: LatexMacroNode) -> str:
        name = node.macroname
        args = [a for a in (node.nodeargd.argnlist if node.nodeargd else []) if a is not None]
        if name in _SILENT:
            return ""
        if name in ("hspace", "vspace", "phantom"):
            self.arguments(args, 1)
            return ""
        if name == "\\" and self.row_break is not None:
            return self.row_break
        if name == "\\":
            raise Unsayable("multiline_math", "a line break inside math")
        if name in _FRACTIONS:
            top, bottom = self.arguments(args, 2)
            if top.isdigit() and bottom.isdigit() and int(top) < 100 and 1 < int(bottom) <= 100:
                return fraction_words(int(top), int(bottom))
            return f"{top} over {bottom}" if _simple(top) and _simple(bottom) else \
                f"the fraction {top}, over {bottom},"
        if name == "sqrt":
            index = _say_math(args[0].nodelist).strip() if len(args) == 2 else ""
            radicand = self.arguments(args[-1:], 1)[0]
            root = {"": "square", "2": "square", "3": "cube"}.get(index, f"{index}th")
            return f"the {root} root of {radicand}"
        if name in _BINOMIALS:
            top, bottom = self.arguments(args, 2)
            return f"{top} choose {bottom}"
        if name in ("cancel", "bcancel", "xcancel", "cancelto"):  # a struck-out term is still read
            return self.arguments(args, len(args) or 1)[-1]
        if name == "pmod":
            return f"modulo {self.arguments(args, 1)[0]}"
        if name == "overline":
            over = self.arguments(args, 1)[0]
            return f"with {over} repeating" if over.isdigit() else f"segment {over}"
        if name in ("overrightarrow", "vec"):
            return f"vector {self.arguments(args, 1)[0]}"
        if name in _TEXT:
            item = args[0] if args else self.next_item()
            nodes = item.nodelist if isinstance(item, LatexGroupNode) else [item]
            return _say_text(nodes) if name.startswith(("text", "mbox", "emph")) else _say_math(nodes)
        if name in _LETTERS:
            letter = self.arguments(args, 1)[0]
            return _LETTERS[name].get(letter, letter)
        if name in _LIMITS:
            return self.limits(_LIMITS[name])
        if name in _TRIGONOMETRIC and self.peek("^") and self._inverse():
            return f"inverse {_WORDS[name]}"  # "\\tan^{-1} x": not "tangent to the power of negative 1"
        if name == "log" and self.peek("_"):
            self.at += 1
            return f"log base {self.argument()} of"
        if name in _WORDS:
            return _WORDS[name]
        raise Unsayable("unsupported_latex", f"\\{name}")

    def peek(self, token: str) -> bool:
        return self.at < len(self.items) and isinstance(self.items[self.at], str) \
            and self.items[self.at] == token

    def limits(self, words: str) -> str:
        lower = upper = ""
        for _ in range(2):
            if self.peek("_"):
                self.at += 1
                lower = self.argument()
            elif self.peek("^"):
                self.at += 1
                upper = self.argument()
        if lower and upper:
            return f"{words} from {lower} to {upper} of"
        return f"{words} over {lower} of" if lower else f"{words} of"

    def arguments(self, parsed: list, count: int) -> list[str]:
        """Macro arguments as words: parsed by pylatexenc, or read from what follows."""
        if len(parsed) >= count:
            return [_say_math(a.nodelist if isinstance(a, LatexGroupNode) else [a]).strip()
                    for a in parsed[:count]]
        return [self.argument() for _ in range(count)]


def _simple(words: str) -> bool:
    return len(words.split()) == 1


def _token(token: str, math: bool) -> str:
    if token[0].isdigit() or token[0] == ".":
        return " " + token + " "
    if token.isalpha():
        return " " + token + " "
    if token.isspace():
        return " "
    return _OPERATORS.get(token, " " + token + " ") if math else token


def _items(nodes: list) -> list:
    """Nodes with their character runs cut into tokens (numbers, letters, symbols)."""
    items: list = []
    for node in nodes:
        if isinstance(node, LatexCharsNode):
            items += _TOKEN_RE.findall(node.chars)
        elif isinstance(node, LatexSpecialsNode):
            items.append(node.specials_chars)
        else:
            items.append(node)
    return items


_INFIX = {"over": "over", "choose": "choose"}  # TeX's infix forms of \frac and \binom


def _say_math(nodes: list) -> str:
    for at, node in enumerate(nodes):
        if isinstance(node, LatexMacroNode) and node.macroname in _INFIX:
            before, after = _say_math(nodes[:at]).strip(), _say_math(nodes[at + 1:]).strip()
            return f"{before} {_INFIX[node.macroname]} {after}"
    return _Math(nodes).say()


def _say_text(nodes: list) -> str:
    """Text mode: characters pass through, math spans and macros are said."""
    out = []
    for node in nodes:
        if isinstance(node, LatexCharsNode):
            out.append(node.chars)
        elif isinstance(node, LatexMathNode):
            out.append(" " + _say_math(node.nodelist) + " ")
        elif isinstance(node, LatexGroupNode):
            out.append(_say_text(node.nodelist))
        elif isinstance(node, LatexSpecialsNode):
            out.append(" " if node.specials_chars == "~" else node.specials_chars)
        elif isinstance(node, LatexCommentNode) or (
                isinstance(node, LatexMacroNode) and node.macroname == "\\"):
            out.append(" ")
        else:
            out.append(_Math([node]).say())
    return "".join(out)


_TIDY = (
    (re.compile(r"\s+"), " "),
    (re.compile(r",\s*$"), ""),
    (re.compile(r"(?<![\d.])(\d+)\s+/\s+(\d+)(?![\d.])"), r"\1/\2"),
    (re.compile(r",(?:\s*,)+"), ","),
    (re.compile(r",\s*(?=[.?!;])"), ""),
    (re.compile(r"\$\s+(?=[\d.])"), "$"),
    (re.compile(r"(?<=\d)\s+%"), "%"),
    (re.compile(rf"{_OPEN}\s*([^{_OPEN}{_CLOSE}(),]+?)\s*,\s+([^{_OPEN}{_CLOSE}(),]+?)\s*{_CLOSE}"),
     r" the closed interval from \1 to \2 "),
    (re.compile(rf"{_OPEN}\s*([^{_OPEN}{_CLOSE}(),]+?)\s*,\s+([^{_OPEN}{_CLOSE}(),]+?)\s*\)"),
     r" the interval from \1 inclusive to \2 exclusive "),
    (re.compile(rf"\(\s*([^{_OPEN}{_CLOSE}(),]+?)\s*,\s+([^{_OPEN}{_CLOSE}(),]+?)\s*{_CLOSE}"),
     r" the interval from \1 exclusive to \2 inclusive "),
    (re.compile(_OPEN), " ("),
    (re.compile(_CLOSE), ") "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"\(\s+"), "("),
    (re.compile(r"\s+\)"), ")"),
    # "65(3)" is a product: "65 (3)" is heard as one number, 653
    (re.compile(r"(?<=\d) ?\(((?:negative )?\d+(?:\.\d+)?)\)"), r" times \1"),
)
_SHORT_ARGUMENTS_RE = re.compile(r"\\([dt]?frac|binom|dbinom)\s*(\d)(\d)")
# a math span holding only a bullet (and spacing) marks a list item
_LIST_MARK_RE = re.compile(r"\$\s*\\bullet(?:\s|~|\\[ ,;:!]|\\q?quad\b)*\$\s*")
# "\text{ ft.}^2": the unit squared is "square feet", not "feet. squared"
_UNIT_POWER_RE = re.compile(r"\\(text|mbox|mathrm)\s*\{\s*(ft|feet|in|inches|yd|yards|mi|miles|mm|cm|m|km"
                            r"|meters|units)\.?\s*\}\s*\^\s*(?:\{\s*([23])\s*\}|([23]))")
_UNIT_POWERS = {"2": "square", "3": "cubic"}


def canonical(text: str) -> str:
    """``\\frac25`` written out as ``\\frac{2}{5}`` and ``10{,}000`` or ``10,\\!000`` as
    ``10,000``, so digits read as the numbers they are; a bullet marking a list item is
    dropped (it is not read aloud); ``\text{ ft}^2`` is ``\text{ square ft}``."""
    text = _LIST_MARK_RE.sub("", text.replace("{,}", ",").replace(",\\!", ","))
    text = _UNIT_POWER_RE.sub(lambda m: f"\\{m[1]}{{ {_UNIT_POWERS[m[3] or m[4]]} {_unit_name(m[2])}}}", text)
    return _SHORT_ARGUMENTS_RE.sub(r"\\\1{\2}{\3}", text)


def _unit_name(unit: str) -> str:
    return UNITS.get(unit) or GLUED_UNITS.get(unit) or unit


@lru_cache(maxsize=1)
def _latex_context():
    """pylatexenc's macros, environments and specials, built once: the walker only reads
    them, and building them took a tenth of each parse. The walker asks at every character
    whether a special (``~``, ``--``, ``` `` ```...) starts there, trying each one in turn
    (a third of a parse); a character no special starts with is answered at once."""
    context = get_default_latex_context_db()
    starts = frozenset(chars[0] for category in context.category_list
                       for chars in context.d[category]["specials"])
    every_special = context.test_for_specials

    def test_for_specials(s: str, pos: int, parsing_state=None):
        if s[pos:pos + 1] not in starts:
            return None
        return every_special(s, pos, parsing_state)

    context.test_for_specials = test_for_specials
    return context


@lru_cache(maxsize=16384)
def latex_to_words(text: str) -> str:
    """Plain text for ``text`` with every math span said in words. Cached: a step of a
    written solution is said for the response and again for the drift checks' values, and
    parsing LaTeX is most of stage 2's time on MATH."""
    try:
        nodes, _, _ = LatexWalker(canonical(text), latex_context=_latex_context(),
                                  tolerant_parsing=False).get_latex_nodes()
    except LatexWalkerError as error:
        raise Unsayable("malformed_latex", str(error).splitlines()[0][:120]) from None
    except IndexError:
        raise Unsayable("malformed_latex", "unbalanced markup") from None
    spoken = _say_text(nodes)
    for pattern, replacement in _TIDY:
        spoken = pattern.sub(replacement, spoken)
    return spoken


_MACRO_RE = re.compile(r"\\[a-zA-Z]+|\\[$%\[(]|\$\$")
_SPAN_RE = re.compile(r"(?<!\\)\$(?=\S)([^$\n]*?)(?<=[^\s\\])\$")
_MATHY_RE = re.compile(r"^[^\d]|[=^_{}+<>/|*!]|^[\d.,]+$")


_PRICE_RE = re.compile(r"\.?\d")


def looks_like_latex(text: str) -> bool:
    """Whether ``$`` in ``text`` delimits math rather than money: a macro, an escaped
    sign, or a ``$...$`` span that looks like math ("$x+1$", "$50$"), where "$5 and $10"
    or "($3 a loaf) ... ($" are prices."""
    if _MACRO_RE.search(text):
        return True
    if all(_PRICE_RE.match(text, sign.end()) for sign in re.finditer(r"\$", text)):
        return False  # "$10*2=$20", "$250-$20": each sign opens an amount, as no math's closing one does
    return any(_MATHY_RE.search(span) for span in _SPAN_RE.findall(text))


_APPLIED_RE = re.compile(r"\b([A-Za-z](?: inverse)?) of \(([^()]*)\)")
_OPERATION_RE = re.compile(r"\b(?:plus|minus|times|over|divided|equals|modulo)\b")


def _applied(match: re.Match) -> str:
    argument = match[2].strip()
    if not _OPERATION_RE.search(argument):
        *first, last = [part.strip() for part in argument.split(",")]
        return f"{match[1]} of {', '.join(first) + ' and ' if first else ''}{last}"
    return match[0] if "," in argument else f"{match[1]} of the quantity {argument}"


def unbracket_arguments(said: str) -> str:
    """A listener hears no brackets: "f of (negative 1)" is said "f of negative 1",
    "f of (x plus 1)" "f of the quantity x plus 1" and "f of (x, y)" "f of x and y",
    innermost first, so "g of (f of (2))" is "g of f of 2"."""
    while (unbracketed := _APPLIED_RE.sub(_applied, said)) != said:
        said = unbracketed
    return said


def paired(said: str) -> str:
    """``said`` without the parentheses that have no pair (a typo in the source, or a
    parenthetical cut in two by a sentence break): a listener cannot hear one alone."""
    if "(" not in said and ")" not in said:
        return said
    opened, unpaired = [], []
    for at, char in enumerate(said):
        if char == "(":
            opened.append(at)
        elif char == ")" and opened:
            opened.pop()
        elif char == ")":
            unpaired.append(at)
    unpaired += opened
    for at in sorted(unpaired, reverse=True):
        said = said[:at] + said[at + 1:]
    return " ".join(said.split()) if unpaired else said


_LIST_ITEM_RE = re.compile(r"([^\s.:;!?])?(\s*\n\s*)\(?\d{1,2}(?:\.\)|[.)])\s+(?=\S)")


def unlisted(text: str) -> str:
    """Numbered list items ("1.) X is a multiple of 17" on lines of their own) as the
    sentences they are: the mark dropped, the line before ended, so "17" and "2" are never
    heard as one run of numbers."""
    if "\n" not in text:
        return text
    return _LIST_ITEM_RE.sub(lambda m: f"{m[1] or ''}.{m[2]}" if m[1] else m[2], text)


def say(text: str, latex: bool | None = None) -> str:
    """Spoken text for ``text``: LaTeX said in words (``latex`` True, or None and the
    text looks like LaTeX), then every remaining symbol verbalized, unpaired parentheses
    dropped. Raises ``Unsayable``."""
    if latex is None:
        latex = looks_like_latex(text)
    text = unlisted(text)
    return paired(unbracket_arguments(verbalize(latex_to_words(text))) if latex else verbalize(text))


@lru_cache(maxsize=65536)
def spoken_values(text: str) -> frozenset:
    """The values a text holds as written and, for LaTeX, as it is said (``\\frac{3}{5}``
    is said "three fifths"): the one reading that both drift checks, per step in stage 2
    and per token in stage 3, give a step, so they never disagree. Cached: both stages and
    the response budget read the same steps."""
    values = quantity_values(text)
    if looks_like_latex(text):
        with contextlib.suppress(Unsayable):
            values |= quantity_values(say(text))
    return frozenset(values)
