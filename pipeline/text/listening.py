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
- ``ordinal_exponent``: "n to the power of th";
- ``function_parenthesis``: "f of (x)";
- ``bullet_said``: a list mark read aloud ("bullet" opening a sentence or a clause);
- ``mixed_number``: "2 one sixth" for two and one sixth;
- ``stray_parenthesis``: an opening or closing parenthesis without its pair;
- ``dimension_as_times``: "10 times 8 feet" for 10 by 8 feet.

And against the written problem and the reasoning (``row_defects``):
- ``dash_as_comma``: a hyphen joining two words of the problem said as a comma
  ("Monday-Wednesday" as "Monday, Wednesday"); a dash with spaces around it sets off an aside
  ("the mother of Becky - Irene - is"), which a comma says right;
- ``pair_as_number``: a pair "(12,102)" said as one number, "12102";
- ``interval_brackets``: a closed interval "[0,25]" said as the open "(0, 25)";
- ``cut_algebra``: a sentence that says only the right side of its step's equation in a
  variable ("we get 100." for "4x + 60 = 100"), which states something false.
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
           "function_parenthesis", "bullet_said", "mixed_number", "stray_parenthesis", "dimension_as_times",
           "dash_as_comma", "pair_as_number", "interval_brackets", "cut_algebra",
           "sign_mismatch", "long_response")

_UNITS = ("cents?|dollars?|euros?|pounds?|percent|miles?|kilometers?|meters?|feet|foot|inches|inch|"
          "hours?|minutes?|seconds?|days?|weeks?|years?|grams?|kilograms?|liters?|gallons?")
_DOUBLED_UNIT_RE = re.compile(rf"\b({_UNITS})\s+\1\b", re.I)
# what may follow "x minus" in algebra ("x minus the floor of x", "a minus one half")
_MATH_WORDS = ("(?:the|one|two|three|four|five|six|seven|eight|nine|ten|twice|half|log|sine|cosine|tangent|"
               "square|cube|negative|pi|infinity|floor|ceiling|absolute|fraction|sum|product|inverse|arc)")
_DASH_AS_MINUS_RE = re.compile(
    r"\b(?:grades?|ages?|pages?|chapters?|rooms?|aisles?|levels?|from|between)\s+\d+\s+minus\s+\d"
    r"|(?:[ap]\.m\.|[AP]M|o'clock)\s+minus\s+\d"
    rf"|(?<![\w-])[a-zA-Z]\s+minus\s+(?!{_MATH_WORDS}\b)[a-z]{{3,}}")
_CONFUSABLE_RE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_MARKUP_RE = re.compile(r"[\\{}^`]")
_ORDINAL_EXPONENT_RE = re.compile(r"\bpower of (?:th|st|nd|rd)\b")
_FUNCTION_PARENTHESIS_RE = re.compile(r"\b[a-zA-Z] of \(")
_BULLET_RE = re.compile(r"(?:^|[.:;!?]\s+)bullet\b", re.I)
_SMALL = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_PARTS = "halves|half|thirds?|quarters?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?|twelfths?"
_MIXED_NUMBER_RE = re.compile(rf"\b\d+ (?:{_SMALL}) (?:{_PARTS})\b", re.I)
_LENGTHS = "feet|foot|inches|inch|yards?|meters?|centimeters?|millimeters?|kilometers?|miles?"
_DIMENSION_RE = re.compile(rf"\b\d+(?:\.\d+)? times \d+(?:\.\d+)? (?:{_LENGTHS})\b"
                           r"(?!\s*(?:equals|is|gives|makes|=))")  # "2 times 4 inches equals 8" is arithmetic
_DASHED_RE = re.compile(r"\b(\w+)[-\u2013](\w+)\b")
_PAIR_RE = re.compile(r"\((-?\d+), ?(-?\d+)\)")
_CLOSED_INTERVAL_RE = re.compile(r"\[(-?\d+), ?(-?\d+)\]")
# a term in a variable: "4x", "x + 60", "2(y" ("a total" is no variable)
_VARIABLE_TERM_RE = re.compile(r"\d[a-z](?![a-zA-Z])|(?<![a-zA-Z])[a-z](?![a-zA-Z])\s*[-+*/^]"
                               r"|[-+*/^(]\s*[a-z](?![a-zA-Z])")
_SAID_RESULT_RE = re.compile(r"\b(?:get|gets|gives?|giving)\s+(-?\d[\d,]*(?:\.\d+)?)\s*[.!?]?$")
_SINGLE_LETTER_RE = re.compile(r"(?<![\w'])(?![aAI]\b)[a-zA-Z](?![\w'])")


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
    for kind, pattern in (("function_parenthesis", _FUNCTION_PARENTHESIS_RE), ("bullet_said", _BULLET_RE),
                          ("mixed_number", _MIXED_NUMBER_RE), ("dimension_as_times", _DIMENSION_RE)):
        if pattern.search(text):
            found.append(kind)
    if text.count("(") != text.count(")"):
        found.append("stray_parenthesis")
    return found


def row_defects(problem: str, spoken: list[str], reasoning: list[str], response: list[dict]) -> list[str]:
    """What the spoken texts lost of the written problem, and sentences that say the right
    side of an equation in a variable as if it were the result."""
    found = []
    said = " ".join(spoken)
    if any(f"{a}, {b}" in said and f"{a}, {b}" not in problem and not (a.isdigit() and b.isdigit())
           and len(a) > 1 and len(b) > 1 for a, b in _DASHED_RE.findall(problem)):  # "a - b" is algebra
        found.append("dash_as_comma")
    if any(f"{a}, {b}" not in said and re.search(rf"(?<![\d,]){a}{b}(?![\d,])", said)
           for a, b in _PAIR_RE.findall(problem)):
        found.append("pair_as_number")
    if any(f"({a}, {b})" in said for a, b in _CLOSED_INTERVAL_RE.findall(problem)):
        found.append("interval_brackets")
    for sentence in response:
        if _SINGLE_LETTER_RE.search(sentence["text"]):
            continue  # it says the variables too: "3 k minus s ... equals 56"
        result = _SAID_RESULT_RE.search(sentence["text"])
        step = reasoning[sentence["after_step"] - 1] if 0 < sentence["after_step"] <= len(reasoning) else ""
        side = re.search(rf"([^=]*)=\s*{re.escape(result[1])}(?!\d|\.\d)", step) if result else None
        if side and _VARIABLE_TERM_RE.search(side[1]):
            found.append("cut_algebra")
            break
    return found


def sentence_defects(sentence: str) -> list[str]:
    found = []
    if _BARE_REASON_RE.search(sentence):
        found.append("bare_reason")
    if _HALF_EQUATION_RE.search(sentence):
        found.append("half_equation")
    return found


def answer_only(sentences: list[str], opener: bool = True) -> bool:
    """Nothing said but the opener (``opener``: the first sentence is one) and the answer."""
    said = sentences[1 if opener else 0:]
    return bool(sentences) and all(sentence.startswith(ANSWER_LEAD) for sentence in said)


def response_defects(sentences: list[str], opener: bool = True) -> list[str]:
    """The defects of a response (``opener``: its first sentence is an opener, said before
    any step), each named once."""
    found = {defect for sentence in sentences
             for defect in (*sentence_defects(sentence), *spoken_defects(sentence))}
    if answer_only(sentences, opener):
        found.add("no_explanation")
    return sorted(found)
