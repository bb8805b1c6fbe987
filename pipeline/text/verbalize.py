"""Turn text written for the eye into text written for the ear.

The output keeps numbers as digits (every TTS engine reads digits well and quantity
checks stay exact) but says every symbol a TTS engine could misread: currency,
percentages, fractions, operators, ranges, clock times and unit abbreviations.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from decimal import Decimal
from functools import lru_cache

from num2words import num2words

_QUOTES = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": ", ", "−": "-", "⁄": "/"}
)

_POWERS = str.maketrans({"²": "^2", "³": "^3"})
UNITS = {
    "km/h": "kilometers per hour", "kph": "kilometers per hour", "mph": "miles per hour",
    "m/s": "meters per second", "ft/s": "feet per second", "lbs": "pounds", "lb": "pounds",
    "oz": "ounces", "kg": "kilograms", "mg": "milligrams", "km": "kilometers",
    "cm": "centimeters", "mm": "millimeters", "ft": "feet", "mi": "miles", "yd": "yards",
    "hrs": "hours", "hr": "hours", "min": "minutes", "mins": "minutes", "sec": "seconds",
    "secs": "seconds", "ml": "milliliters", "gal": "gallons", "qt": "quarts",
}
# Abbreviations that are also English words count only when glued to a number ("5in").
GLUED_UNITS = {"in": "inches", "m": "meters", "g": "grams", "l": "liters"}


def _unit(m: re.Match) -> str:
    """A unit after "per" is singular: "2 dollars per pound", "60 miles per hour"."""
    words = UNITS[m.group(1)]
    if m.string[: m.start()].endswith("per "):
        last = words.rsplit(" ", 1)[-1]
        singular = {"feet": "foot", "inches": "inch"}.get(last, last.removesuffix("s"))
        words = words.removesuffix(last) + singular
    return words if m.string[: m.start()].endswith(("per ", "/")) else " " + words


def _alternation(words: dict[str, str]) -> str:
    return "|".join(re.escape(u) for u in sorted(words, key=len, reverse=True))


_UNIT_RE = re.compile(rf"(?:(?<=\d)\s?|(?<=\bper )|(?<=/))({_alternation(UNITS)})\b(?!')")
_GLUED_UNIT_RE = re.compile(rf"(?<=\d)({_alternation(GLUED_UNITS)})\b")
_PER_RE = re.compile(
    r"\s?/\s?(?=(?:hour|day|week|month|year|minute|second|person|pound|item|piece|box|unit|"
    rf"gallon|mile|dozen|{_alternation(UNITS)})s?\b)"
)
_SYMBOL_WORDS = {
    "&": " and ", "@": " at ", "#": " number ", "°": " degrees", "€": " euros",
    "£": " pounds", "+": " plus ", "×": " times ", "÷": " divided by ", "=": " equals ",
    "*": " times ", "<": " less than ", ">": " greater than ",
    "π": " pi ", "θ": " theta ", "α": " alpha ", "β": " beta ", "Δ": " delta ",
}

_NUM = r"\d+(?:\.\d+)?"


# What a sum of money names rather than counts: "a $20 bill" is "a 20 dollar bill".
_PRICED_THING_RE = re.compile(r"\s?(?:bills?|notes?|coins?|gift cards?|checks?|cheques?|vouchers?)\b")


def _money(m: re.Match) -> str:
    words = _money_words(m)
    if words.endswith(" dollars") and _PRICED_THING_RE.match(m.string, m.end()):
        words = words.removesuffix("s")
    return f" {words} "


def _money_words(m: re.Match) -> str:
    dollars, _, cents = m["amount"].replace(",", "").partition(".")
    dollars = dollars or "0"
    if len(cents) > 2:
        return f"{dollars}.{cents} dollars"
    cents = (cents + "00")[:2] if cents else ""
    unit = "dollar" if dollars == "1" else "dollars"
    if cents and int(cents):
        cent_unit = "cent" if cents.lstrip("0") == "1" else "cents"
        if int(dollars) == 0:
            return f"{int(cents)} {cent_unit}"
        return f"{dollars} {unit} and {int(cents)} {cent_unit}"
    return f"{dollars} {unit}"


def fraction_words(numerator: int, denominator: int) -> str:
    """'3/4' -> 'three quarters': the way a teacher reads a fraction aloud; a division
    ('50/5', 'fifty fifths' to no one; '6/6', 'six sixths') is read '50 over 5'."""
    if (numerator >= 10 and numerator >= denominator) or (denominator and numerator % denominator == 0):
        return f"{numerator} over {denominator}"
    if denominator == 2:
        name = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        name = "quarter" if numerator == 1 else "quarters"
    else:
        ordinal = num2words(denominator, to="ordinal").removeprefix("one ")
        name = ordinal + ("" if numerator == 1 else "s")
    return f"{num2words(numerator)} {name}"


def _fraction(m: re.Match) -> str:
    numerator, denominator = int(m["num"]), int(m["den"])
    if denominator == 0 or denominator > 100:
        return f"{numerator} over {denominator}"
    words = fraction_words(numerator, denominator)
    return f"{m['whole']} and {words}" if m["whole"] else words


def _clock(m: re.Match) -> str:
    hour, minute = m["hour"], m["minute"]
    spoken = f"{hour} o'clock" if minute == "00" else f"{hour} {minute}"
    if m["half"]:
        spoken += " " + m["half"][0].lower() + ".m."
    return spoken


def _date(m: re.Match) -> str:
    """US order, as GSM8K and MATH write dates: 12/25/2023 is December 25, 2023."""
    month, day, year = int(m["month"]), int(m["day"]), m["year"]
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{calendar.month_name[month]} {day}, {year}"


_LENGTH_WORDS = "feet|foot|inches|inch|yards?|meters?|centimeters?|millimeters?|kilometers?|miles?"
_DAYS_AND_MONTHS = "|".join([*calendar.day_name, *calendar.month_name[1:]])


def _ratio(m: re.Match) -> str:
    return " to ".join(m.group(0).split(":"))


# (pattern, replacement, what the text must hold for the pattern to match): a rule is
# tried only when its text is there, so the passes that cannot match cost a substring test.
_RULES: list[tuple[re.Pattern, object, tuple[str, ...]]] = [
    (re.compile(r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}|\d{2})\b"), _date, ("/",)),
    (re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})\b"), _date, ("-",)),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), "", (",",)),
    (re.compile(r"(?<![\d.])\.(?=\d)"), "0.", (".",)),
    (re.compile(r"\$\s?(?P<amount>\d[\d,]*(?:\.\d+)?)"), _money, ("$",)),
    (re.compile(r"(?P<amount>\d[\d,]*(?:\.\d+)?)\s?\$"), _money, ("$",)),
    (re.compile(r"¢\s?(\d+)|(\d+)\s?¢"), r" \1\2 cents ", ("¢",)),
    (re.compile(r"(dollars?|cents?|euros|pounds) ?/ ?(?=[a-z])"), r"\1 per ", ("/",)),
    (re.compile(r"(?<=\d)!(?=\s*[/(*×)])"), " factorial", ("!",)),  # "6!/(2!)(1!)", not "he won 5!"
    (re.compile(r"\^\s?2\b"), " squared", ("^",)),
    (re.compile(r"\^\s?3\b"), " cubed", ("^",)),
    (re.compile(r"£\s?(\d[\d,]*(?:\.\d+)?)"), r" \1 pounds ", ("£",)),
    (re.compile(r"\bRs\.?\s?(\d[\d,]*(?:\.\d+)?)"), r" \1 rupees ", ("Rs",)),
    (re.compile(r"\s*(?:==+>|=>|⇒)\s*"), ", so ", ("=>", "⇒")),  # AQuA's "... = 750 ==> x = 245"
    (re.compile(r"\bapprox\b(?:\.(?=\s+[a-z\d]))?"), "approximately", ("approx",)),
    (re.compile(r"€\s?(\d[\d,]*(?:\.\d+)?)"), r" \1 euros ", ("€",)),
    (re.compile(r"(?:(?<=ratio )|(?<=ratio of ))\d+(?::\d+)+|\d+:\d+(?::\d+)+|\d+:\d(?!\d)"),
     _ratio, (":",)),
    (re.compile(r"(?P<hour>\d{1,2}):(?P<minute>[0-5]\d)(?:\s?(?P<half>[ap]\.?m\b\.?))?", re.I),
     _clock, (":",)),
    (re.compile(r"(?<=[\w)])\s?%"), " percent", ("%",)),
    (re.compile(r"(?:(?P<whole>\d+)\s+)?(?<![\d.])(?P<num>\d+)/(?P<den>\d+)(?![\d/])"
                r"(?:(?:st|nd|rd|th)s?|s)?\b"), _fraction, ("/",)),
    # a dash before a number that leads to "=" is a subtraction: "31-27=4", "$260 - $200 = $60"
    (re.compile(rf"(?<=\w)\s*-\s*(?=\$?{_NUM}(?:\s+[A-Za-z][a-z'-]*){{0,4}}\s*=)"), " minus ", ("-",)),
    (re.compile(rf"(?<=\d)-(?={_NUM}\b)"), " to ", ("-",)),
    (re.compile(rf"(?<![\w.])-(?={_NUM})"), "negative ", ("-",)),
    # a dimension, "10 x 8 feet": 10 by 8 feet
    (re.compile(rf"(?<=\d)\s?[x×*]\s?(?={_NUM}\s?(?:{_LENGTH_WORDS})\b)"), " by ", ("x", "×", "*")),
    (re.compile(rf"(?<=\d)\s?[x×]\s?(?=\$?{_NUM})"), " times ", ("x", "×")),
    (re.compile(rf"(?<=\d)\s?/\s?(?={_NUM})"), " divided by ", ("/",)),
    # a written division of quantities, "10 miles / 2", "6/(one third)", "cookies / bags"
    (re.compile(r"(?<=[\w)])\s*/\s*(?=\(|\$?\d)"), " divided by ", ("/",)),
    (re.compile(r"(?<=[a-z])\s+/\s+(?=[a-z])"), " per ", ("/",)),
    (re.compile(r"(?<=[ap]\.m\.)\s+-\s+(?=\d)"), " to ", ("-",)),  # 1:00 PM - 6:00 PM
    # between algebra terms, "6x - y = 24": 6x minus y
    (re.compile(r"(?<![\w-])(\d*[a-z])\s+-\s+(?=\d*[a-z]\b(?!-)|\d)"), r"\1 minus ", ("-",)),
    (re.compile(r"(?<![\w-])([A-Za-z])\s+-\s+(?=[a-z])"), r"\1-", ("-",)),  # "t - shirts"
    (re.compile(r"(?:(?<=[\d)])|(?<=squared)|(?<=cubed))\s+-\s+(?=[\d($(])"), " minus ", ("-",)),
    # a range of days or months, "Monday-Wednesday": Monday to Wednesday
    (re.compile(rf"\b({_DAYS_AND_MONTHS})\s?-\s?(?={_DAYS_AND_MONTHS})"), r"\1 to ", ("-",)),
    (re.compile(r"(?<![\w-])([A-Z])\s+-\s+(?=\d)"), r"\1 minus ", ("-",)),  # "X - 2 years old"
    (re.compile(r"\s+-\s+"), ", ", ("-",)),  # a dash between words is a pause
    # "$0.40 cents": 40 cents, once
    (re.compile(r"\b(dollars?|cents?|percent)\s+\1\b"), r"\1", ("dollar", "cent", "percent")),
    (re.compile(r"(?<=\w)\s+-(?=(?:th|st|nd|rd)\b)"), "-", ("-",)),  # the n-th term
    (re.compile(r"(?<=\w)/(?=\w)"), " or ", ("/",)),
]


def verbalize(text: str) -> str:
    """Say every symbol in ``text`` in words, keeping digits as they are."""
    text = unicodedata.normalize("NFKC", text.translate(_POWERS)).translate(_QUOTES)
    if not text.isascii():  # ASCII holds neither look-alike letters nor format characters
        if _CONFUSABLE_RE.search(text):
            text = _MIXED_WORD_RE.sub(_latin, text)
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.replace("and/or", "or").replace("``", '"').replace("''", '"')
    text = _PER_RE.sub(" per ", text)
    text = _UNIT_RE.sub(_unit, text)
    text = _GLUED_UNIT_RE.sub(lambda m: " " + GLUED_UNITS[m.group(1)], text)
    for pattern, replacement, needs in _RULES:
        if needs[0] in text or (len(needs) > 1 and any(part in text for part in needs[1:])):
            text = pattern.sub(replacement, text)
    for symbol, words in _SYMBOL_WORDS.items():
        text = text.replace(symbol, words)
    return normalize_space(text)


_SPACE_BEFORE_PUNCTUATION_RE = re.compile(r"\s+([.,?!;:])(?!\d)")


def normalize_space(text: str) -> str:
    """NFC, runs of whitespace collapsed, no space before punctuation."""
    text = " ".join(unicodedata.normalize("NFC", text).split())  # splits where \s matches
    return _SPACE_BEFORE_PUNCTUATION_RE.sub(r"\1", text)


# a letter of another script (what an English voice cannot read) is unspeakable too
_UNSPEAKABLE_RE = re.compile(r"[^\w\s.,?!'\";:()\-]|_|\d:\d|(?<!\w)-\d|[^\W\d_\u0000-\u024F]")
# Cyrillic and Greek letters drawn like Latin ones ("Аlice" with a Cyrillic А), as Unicode's
# confusables list pairs them; read as the Latin letter inside a Latin word.
_LOOKALIKES = "АВЕКМНОРСТХаеорсухіјѕΑΒΕΖΗΙΚΜΝΟΡΤΥΧο"
_CONFUSABLES = str.maketrans(_LOOKALIKES, "ABEKMHOPCTXaeopcyxijsABEZHIKMNOPTYXo")
_CONFUSABLE_RE = re.compile(f"[{_LOOKALIKES}]")
_MIXED_WORD_RE = re.compile(r"\w*[A-Za-z]\w*")


def _latin(m: re.Match) -> str:
    return m.group(0).translate(_CONFUSABLES)


def unspeakable_characters(text: str) -> list[str]:
    """What in ``text`` a TTS engine could misread: anything but words, digits and
    plain punctuation."""
    return sorted({m.group(0) for m in _UNSPEAKABLE_RE.finditer(text)})


_WORD_RE = re.compile(r"[a-z0-9]+")


def plain_words(text: str) -> list[str]:
    """Lower-case words and numbers: what survives reformatting, punctuation and markup."""
    return _WORD_RE.findall(text.lower())


def spoken_word_count(text: str) -> int:
    """How many words ``text`` takes to say: a number counts as the words it is read with
    ("1963" is four), so a response heavy with numbers is not taken for a short one."""
    return sum(_said_length(word) if word[0].isdigit() else 1 for word in plain_words(text))


@lru_cache(maxsize=65536)
def _said_length(number: str) -> int:
    try:
        return len(num2words(Decimal(number)).replace("-", " ").split())
    except (ArithmeticError, ValueError, OverflowError):
        return max(1, len(number) // 2)
