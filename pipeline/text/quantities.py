"""Find the quantities a text mentions, whether written in digits or in words.

Drift checks and the quantity-preservation check compare texts by the numbers they
mention, so "24", "$24", "twenty-four" and "24 dollars" must all read as 24, and
"50 cents" as both 50 and 0.5. Each mention keeps its span so token-level checks can
locate where it completes.
"""

from __future__ import annotations

import calendar
import re
from fractions import Fraction
from functools import cache, lru_cache
from typing import NamedTuple

from num2words import num2words


def _values(numbers) -> frozenset:
    """Integral values as ints: they compare and hash like the equal Fraction, much faster."""
    return frozenset(n if type(n) is int or n.denominator != 1 else n.numerator for n in numbers)


class Quantity(NamedTuple):
    """One mention of a quantity: its text, its span, the values it may stand for, and
    the numbers written inside it (the 3 and 4 of "3/4")."""

    text: str
    start: int
    end: int
    values: frozenset[Fraction | int]
    parts: frozenset[Fraction | int] = frozenset()
    approximate: bool = False

    def rounds(self, value: Fraction | int) -> bool:
        """An approximate mention ("about twenty") stands for any value that rounds to it
        at the precision it shows: 20 covers 15 to 25, 7 covers 6.5 to 7.5."""
        if not self.approximate:
            return value in self.values
        return any(abs(value - said) <= _rounding(said) for said in self.values)

    def known_in(self, known) -> bool:
        """Whether ``known`` (values already derived) holds what this mention says."""
        if not self.values.isdisjoint(known):
            return True
        return self.approximate and any(self.rounds(value) for value in known)


def _rounding(value: Fraction | int) -> Fraction:
    if value == 0 or Fraction(value).denominator != 1:
        return Fraction(1, 2)
    zeros, number = 0, abs(int(value))
    while number % 10 == 0:
        number //= 10
        zeros += 1
    return Fraction(10**zeros, 2)


_APPROXIMATE = ("about", "around", "roughly", "approximately", "almost", "nearly", "close to", "some")
_APPROXIMATE_WORDS = rf"\b(?:{'|'.join(_APPROXIMATE)})\s+"
_APPROXIMATELY_RE = re.compile(_APPROXIMATE_WORDS + "$", re.I)
_APPROXIMATE_WORD_RE = re.compile(_APPROXIMATE_WORDS, re.I)  # in the text at all


@cache
def _word_values() -> tuple[dict[str, int], dict[str, int], dict[str, Fraction]]:
    """Number words, scale words and fraction denominators, spelled by num2words."""
    small = {num2words(n): n for n in range(20)}
    small.update({num2words(n): n for n in range(20, 100, 10)})
    scales = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
    denominators: dict[str, Fraction] = {"half": Fraction(1, 2), "halves": Fraction(1, 2)}
    denominators.update({"quarter": Fraction(1, 4), "quarters": Fraction(1, 4)})
    for n in (*range(3, 101), 1000):
        ordinal = num2words(n, to="ordinal").removeprefix("one ")
        denominators[ordinal] = denominators[ordinal + "s"] = Fraction(1, n)
    return small, scales, denominators


_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_DIGIT_RE = re.compile(
    rf"(?<![\w.])(?P<sign>-|(?:negative|minus) )?(?P<num>{_DIGITS})"
    r"(?:(?:\s*/\s*|\s+over\s+)(?P<den>\d+)(?![\d/]))?(?P<tail>\s*(?:%|percent\b))?"
)
_MONEY_RE = re.compile(r"(?P<dollars>\d+) dollars? and (?P<cents>\d+) cents?\b")
_CENTS_RE = re.compile(r"(?<![\w.])(?P<cents>\d+(?:\.\d+)?) cents?\b")
_CLOCK_RE = re.compile(r"(?<![\d:])(?P<hour>\d{1,2}):00\b")
# Every number word starts with one of these roots; a candidate run is a sequence of such
# words, possibly joined by "and". Only candidate runs are parsed word by word.
_ROOTS = (r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twen|thir|fif|"
          r"fort|ninth|twelf|hundred|thousand|million|billion|half|halves|quarter|fourth)[a-z-]*")
_CANDIDATE_RE = re.compile(rf"\b{_ROOTS}(?:\s+(?:and\s+)?{_ROOTS})*")


_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")


@cache
def _numberish_words() -> frozenset[str]:
    """Every word that can be part of a number said in words."""
    small, scales, denominators = _word_values()
    return frozenset({*small, *scales, *denominators, "and"})


def _is_numberish(word: str, vocabulary: frozenset[str]) -> bool:
    return word in vocabulary or ("-" in word and all(p in vocabulary for p in word.split("-")))


@cache
def _digits_value(text: str) -> Fraction | int:
    cleaned = text.replace(",", "")
    return int(cleaned) if cleaned.isdigit() else Fraction(cleaned)


def _digit_quantities(text: str) -> list[Quantity]:
    found = []
    for m in _MONEY_RE.finditer(text) if "cent" in text else ():
        total = Fraction(m["dollars"]) + Fraction(m["cents"]) / 100
        found.append(Quantity(m.group(0), m.start(), m.end(), _values({total})))
    for m in _CENTS_RE.finditer(text) if "cent" in text else ():
        if not any(q.start <= m.start() < q.end for q in found):
            cents = Fraction(m["cents"])
            found.append(Quantity(m.group(0), m.start(), m.end(), _values({cents, cents / 100})))
    for m in _CLOCK_RE.finditer(text) if ":" in text else ():
        found.append(Quantity(m.group(0), m.start(), m.end(), _values({Fraction(m["hour"])}),
                              _values({Fraction(0)})))
    money_spans = [(q.start, q.end) for q in found]
    for m in _DIGIT_RE.finditer(text):
        if money_spans and any(start <= m.start() < end for start, end in money_spans):
            continue
        values, parts = _number_values(m["num"], m["den"], bool(m["tail"]), bool(m["sign"]))
        found.append(Quantity(m.group(0).strip(), m.start(), m.end(), values, parts))
    return found


@lru_cache(maxsize=65536)
def _number_values(number: str, denominator: str | None, percent: bool, signed: bool
                   ) -> tuple[frozenset, frozenset]:
    """(values, parts) of a number written in digits: "3/4" is 3/4 made of 3 and 4, "5%"
    is 5 or 0.05, "-2" is -2 or 2 (a "-" may be a subtraction)."""
    value = _digits_value(number)
    if denominator and int(denominator):
        below = Fraction(denominator)
        return _values({value / below}), _values({value, below})
    values = {value, Fraction(value) / 100} if percent else {value}
    if signed:
        values |= {-v for v in values}
    return _values(values), frozenset()


def _word_quantities(text: str) -> list[Quantity]:
    """Parse runs of number words ("one hundred and five", "three quarters")."""
    lowered = text.lower()
    vocabulary = _numberish_words()
    found: list[Quantity] = []
    for candidate in _CANDIDATE_RE.finditer(lowered):
        run: list[re.Match] = []
        for match in _WORD_RE.finditer(lowered, candidate.start(), candidate.end()):
            if _is_numberish(match.group(0), vocabulary):
                run.append(match)
            elif run:
                found += _parse_run(text, run)
                run = []
        if run:
            found += _parse_run(text, run)
    return found


def _parse_run(text: str, words: list[re.Match]) -> list[Quantity]:
    """The quantities in a run of adjacent number-ish words."""
    small, scales, denominators = _word_values()
    found: list[Quantity] = []
    i = 0
    while i < len(words):
        total, current, j, last = 0, None, i, None
        while j < len(words):
            word = words[j].group(0)
            parts = word.split("-")
            if all(p in small for p in parts) and len(parts) <= 2:
                current = (current or 0) + sum(small[p] for p in parts)
            elif word in scales and current is not None:
                if scales[word] == 100:
                    current *= 100
                else:
                    total += current * scales[word]
                    current = 0
            elif not (word == "and" and current is not None and j + 1 < len(words)
                      and words[j + 1].group(0).split("-")[0] in small):
                break
            last = j
            j += 1
        if last is None:
            i += 1
            continue
        value = Fraction(total + (current or 0))
        start, end = words[i].start(), words[last].end()
        parts: frozenset = frozenset()
        if last + 1 < len(words) and words[last + 1].group(0) in denominators and value:
            share = denominators[words[last + 1].group(0)]
            parts = _values({value, 1 / share})
            value *= share
            end = words[last + 1].end()
            last += 1
        elif words[i].group(0) == "one" and last == i:
            i = last + 1
            continue  # a lone "one" is almost always a pronoun ("one of them")
        found.append(Quantity(text[start:end], start, end, _values({value}), parts))
        i = last + 1
    return found


def _approximate_word_in(text: str) -> bool:
    """Whether "about", "around"... is in ``text``; ASCII text (most) is first searched for
    the words as they are, lower-cased, much faster than the case-blind pattern."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in _APPROXIMATE):
            return False
    return bool(_APPROXIMATE_WORD_RE.search(text))


@lru_cache(maxsize=65536)
def find_quantities(text: str) -> tuple[Quantity, ...]:
    """Every quantity mentioned in ``text``, ordered by where it ends; a mention after
    "about", "around", "roughly"... is marked approximate. Cached: the stages ask again
    about the same steps and sentences (a third of the calls on GSM8K)."""
    found = sorted(_digit_quantities(text) + _word_quantities(text), key=lambda q: (q.end, q.start))
    if not found or not _approximate_word_in(text):
        return tuple(found)
    return tuple(q._replace(approximate=True) if _APPROXIMATELY_RE.search(text, max(0, q.start - 16), q.start)
                 else q for q in found)


# No mention goes on past a sentence's end: a number's decimal point needs a digit after it
# and no other pattern holds these characters.
_SENTENCE_ENDS = (".", "!", "?")


def joined_quantities(pieces: tuple[str, ...], separator: str) -> tuple[Quantity, ...]:
    """``find_quantities(separator.join(pieces))``, made of each piece's own (cached) mentions
    where no mention can run across a separator: it is whitespace and every piece but the
    last ends a sentence. Stage 3 asks about the joined steps and sentences stage 2 already
    read one by one."""
    if len(pieces) < 2 or not separator.isspace() or not all(
            piece.endswith(_SENTENCE_ENDS) for piece in pieces[:-1]):
        return find_quantities(separator.join(pieces))
    found, offset = [], 0
    for piece in pieces:
        found += [q._replace(start=q.start + offset, end=q.end + offset) for q in find_quantities(piece)]
        offset += len(piece) + len(separator)
    return tuple(found)


_IMPLIED = {"squared": 2, "cubed": 3, "square root": 2, "cube root": 3, "inverse": -1,
            **{calendar.month_name[month]: month for month in range(1, 13)}}
_IMPLIED_RE = re.compile(rf"\b({'|'.join(_IMPLIED)})\b")


def quantity_values(text: str) -> set[Fraction | int]:
    """All values the quantities in ``text`` may stand for, the numbers inside them, and
    the numbers that words imply ("x squared" writes x^2, "f inverse" f^{-1}, "December" 12/...)."""
    values = set()
    for quantity in find_quantities(text):
        values.update(quantity.values, quantity.parts)
    values.update(_IMPLIED[m.group(1)] for m in _IMPLIED_RE.finditer(text))
    return values


def signed_values(text: str) -> set[Fraction | int]:
    """The values ``text`` states, each mention with its sign: "negative 11" and "-11"
    are -11 only (``quantity_values`` keeps 11 too, since for drift a "-" may be a
    subtraction); for checking that a sentence states an answer."""
    values = set()
    for quantity in find_quantities(text):
        negative = {value for value in quantity.values if value < 0}
        values |= negative or set(quantity.values)
    return values
