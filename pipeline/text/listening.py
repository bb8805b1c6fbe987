"""What a listener would hear as wrong in a spoken response, whatever wrote it.

Checked on the words as they are said, so the rules backend, an LLM's reply and a finished
row are judged alike (the split stage rejects them, ``make report`` counts them):
- ``bare_reason``: a reason that lost its content ("... because 48.");
- ``half_equation``: a calculation with its result cut off, which says something false
  ("2 miles times 7 miles.");
- ``no_explanation``: nothing between the opener and "So the answer is ...".

And in any spoken text, the question included (``spoken_defects``):
- ``doubled_unit``: "40 cents cents per mile";
- ``dash_as_minus``: a range or a hyphenated word said as subtraction ("grades 4 minus 7",
  "1 p.m. minus 6 p.m.", "t minus shirts");
- ``confusable_letters``: a Cyrillic or Greek letter that looks Latin ("А" in "Аlice");
- ``unspoken_markup``: LaTeX, braces, backticks or carets left in the words;
- ``ordinal_division``: a whole number said as a fraction ("fifty fifths", "four halves"; "five
  thirds" is how 5/3 is said);
- ``ordinal_exponent``: "n to the power of th".
A row also has ``sign_mismatch`` (the response's answer has the other sign than gold) and
``long_response`` (longer than its reasoning, or than the seconds a response may take).
"""

from __future__ import annotations

import re
from functools import cache

from num2words import num2words

_NUMBER = (r"(?:\$?\d[\d.,]*%?|(?:a|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
           r"(?:halves|half|thirds?|quarters?|fourths?|fifths?|sixths?|eighths?|tenths?))")
_UNIT = r"\s+(?!(?:equals|is|are|makes|gives|and|or)\b)[a-z]{2,}"
_BARE_REASON_RE = re.compile(rf"\b(?:because|since)\s+{_NUMBER}(?:{_UNIT}){{0,3}}\s*[.!?]?$")
# both sides with a unit and no result: "2 miles times 7 miles." ("16 minus 4 c" is algebra)
_MEASURE = rf"{_NUMBER}(?:{_UNIT}){{1,3}}"
_HALF_EQUATION_RE = re.compile(rf"(?:^|[:,]\s|\b(?:is|are|was|were)\s){_MEASURE}"
                               rf"\s+(?:times|plus|minus|divided by)\s+{_MEASURE}\s*[.!?]?$")
ANSWER_LEAD = "So the answer is"
DEFECTS = ("bare_reason", "half_equation", "no_explanation", "doubled_unit", "dash_as_minus",
           "confusable_letters", "unspoken_markup", "ordinal_division", "ordinal_exponent",
           "sign_mismatch", "long_response")

_UNITS = ("cents?|dollars?|euros?|pounds?|percent|miles?|kilometers?|meters?|feet|foot|inches|inch|"
          "hours?|minutes?|seconds?|days?|weeks?|years?|grams?|kilograms?|liters?|gallons?")
_DOUBLED_UNIT_RE = re.compile(rf"\b({_UNITS})\s+\1\b", re.I)
# what may follow "x minus" in algebra ("x minus the floor of x", "a minus one half")
_MATH_WORDS = ("(?:the|one|two|three|four|five|six|seven|eight|nine|ten|twice|half|log|sine|cosine|tangent|"
               "square|cube|negative|pi|infinity|floor|ceiling|absolute|fraction|sum|product)")
_DASH_AS_MINUS_RE = re.compile(
    r"\b(?:grades?|ages?|pages?|chapters?|rooms?|aisles?|levels?|from|between)\s+\d+\s+minus\s+\d"
    r"|(?:[ap]\.m\.|[AP]M|o'clock)\s+minus\s+\d"
    rf"|(?<![\w-])[a-zA-Z]\s+minus\s+(?!{_MATH_WORDS}\b)[a-z]{{3,}}")
_CONFUSABLE_RE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_MARKUP_RE = re.compile(r"[\\{}^`]")
_ORDINAL_EXPONENT_RE = re.compile(r"\bpower of (?:th|st|nd|rd)\b")


@cache
def _said_fraction_re() -> tuple[re.Pattern, dict[str, int], dict[str, int]]:
    cardinals = {num2words(n): n for n in range(1, 100)}
    ordinals = {num2words(n, to="ordinal") + "s": n for n in range(3, 101)}  # "seconds" is time
    ordinals["halves"] = 2
    pattern = re.compile(rf"\b({'|'.join(sorted(cardinals, key=len, reverse=True))}) "
                         rf"({'|'.join(sorted(ordinals, key=len, reverse=True))})\b")
    return pattern, cardinals, ordinals


def spoken_defects(text: str) -> list[str]:
    """What is wrong in any spoken text, a question or a response sentence."""
    found = []
    if _DOUBLED_UNIT_RE.search(text):
        found.append("doubled_unit")
    if _DASH_AS_MINUS_RE.search(text):
        found.append("dash_as_minus")
    if _CONFUSABLE_RE.search(text):
        found.append("confusable_letters")
    if _MARKUP_RE.search(text):
        found.append("unspoken_markup")
    pattern, cardinals, ordinals = _said_fraction_re()
    if any(cardinals[m.group(1)] % ordinals[m.group(2)] == 0 for m in pattern.finditer(text.lower())):
        found.append("ordinal_division")
    if _ORDINAL_EXPONENT_RE.search(text):
        found.append("ordinal_exponent")
    return found


def sentence_defects(sentence: str) -> list[str]:
    found = []
    if _BARE_REASON_RE.search(sentence):
        found.append("bare_reason")
    if _HALF_EQUATION_RE.search(sentence):
        found.append("half_equation")
    return found


def response_defects(sentences: list[str]) -> list[str]:
    """The defects of a response (its opener first), each named once."""
    found = {defect for sentence in sentences
             for defect in (*sentence_defects(sentence), *spoken_defects(sentence))}
    if sentences and not [s for s in sentences[1:] if not s.startswith(ANSWER_LEAD)]:
        found.add("no_explanation")
    return sorted(found)
