"""What a listener would hear as wrong in a spoken response, whatever wrote it.

Checked on the words as they are said, so the rules backend, an LLM's reply and a finished
row are judged alike (the split stage rejects them, ``make report`` counts them):
- ``bare_reason``: a reason that lost its content ("... because 48.");
- ``half_equation``: a calculation with its result cut off, which says something false
  ("2 miles times 7 miles.");
- ``no_explanation``: nothing between the opener and "So the answer is ...".
"""

from __future__ import annotations

import re

_NUMBER = (r"(?:\$?\d[\d.,]*%?|(?:a|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
           r"(?:halves|half|thirds?|quarters?|fourths?|fifths?|sixths?|eighths?|tenths?))")
_UNIT = r"\s+(?!(?:equals|is|are|makes|gives|and|or)\b)[a-z]{2,}"
_BARE_REASON_RE = re.compile(rf"\b(?:because|since)\s+{_NUMBER}(?:{_UNIT}){{0,3}}\s*[.!?]?$")
# both sides with a unit and no result: "2 miles times 7 miles." ("16 minus 4 c" is algebra)
_MEASURE = rf"{_NUMBER}(?:{_UNIT}){{1,3}}"
_HALF_EQUATION_RE = re.compile(rf"(?:^|[:,]\s|\b(?:is|are|was|were)\s){_MEASURE}"
                               rf"\s+(?:times|plus|minus|divided by)\s+{_MEASURE}\s*[.!?]?$")
ANSWER_LEAD = "So the answer is"
DEFECTS = ("bare_reason", "half_equation", "no_explanation")


def sentence_defects(sentence: str) -> list[str]:
    found = []
    if _BARE_REASON_RE.search(sentence):
        found.append("bare_reason")
    if _HALF_EQUATION_RE.search(sentence):
        found.append("half_equation")
    return found


def response_defects(sentences: list[str]) -> list[str]:
    """The defects of a response (its opener first), each named once."""
    found = {defect for sentence in sentences for defect in sentence_defects(sentence)}
    if sentences and not [s for s in sentences[1:] if not s.startswith(ANSWER_LEAD)]:
        found.add("no_explanation")
    return sorted(found)
