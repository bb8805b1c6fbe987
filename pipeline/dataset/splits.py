"""Output splits (train, validation, test) chosen by a hash of the record id, and each
record's Spoken-MQA-style category.

A record's split depends on its id alone, so it is the same in every run, whatever the
other sources, the limit or the runner: a problem never moves from test to train when
the dataset grows.
"""

from __future__ import annotations

import re

from pipeline.seeding import seeded_bytes

DEFAULT_SPLITS = "train=1"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def parse_splits(text: str) -> str:
    """``train=0.98,validation=0.01,test=0.01`` checked and written canonically; a
    ``ValueError`` says what is wrong in one line."""
    pairs = []
    for item in text.split(","):
        name, equals, share = item.strip().partition("=")
        if not equals or not _NAME.fullmatch(name):
            raise ValueError(f"{item!r}: a split is NAME=FRACTION, NAME in lower case "
                             "(train, validation, test)")
        try:
            fraction = float(share)
        except ValueError:
            raise ValueError(f"{item!r}: {share!r} is not a number") from None
        if not 0 < fraction <= 1:
            raise ValueError(f"{item!r}: a fraction is above 0 and at most 1")
        pairs.append((name, fraction))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"{text!r}: a split is named twice")
    if abs(sum(f for _, f in pairs) - 1) > 1e-9:
        raise ValueError(f"{text!r}: the fractions add up to {sum(f for _, f in pairs):g}, not 1")
    return ",".join(f"{name}={fraction:g}" for name, fraction in pairs)


def split_fractions(spec: str) -> list[tuple[str, float]]:
    """The (name, fraction) pairs of a canonical spec, in the order given."""
    return [(name, float(share)) for name, _, share in (item.partition("=") for item in spec.split(","))]


def split_of(record_id: str, fractions: list[tuple[str, float]]) -> str:
    """The split a record belongs to: where a hash of its id falls in [0, 1)."""
    point = (int.from_bytes(seeded_bytes("split", record_id)[:7], "big") >> 4) / 2**52
    edge = 0.0
    for name, fraction in fractions:
        edge += fraction
        if point < edge:
            return name
    return fractions[-1][0]


CATEGORIES = ("arithmetic_short", "arithmetic_long", "contextual_single_step", "contextual_multi_step",
              "knowledge")
_ARITHMETIC = re.compile(r"(?i)^\s*(?:what\s+is|what's|compute|calculate|evaluate|find|work\s+out)?"
                         r"[\s\d.,+\-*/×÷^()=xX]*\??\s*$")
_OPERATOR = re.compile(r"(?<=[\d)\s])[+\-*/×÷^xX](?=[\s\d(])")
SHORT_OPERATIONS = 2


def category(problem: str, source: str, metadata: dict, steps: int) -> str:
    """Spoken-MQA's kinds of problem: a bare calculation (short: at most two operations),
    a word problem solved in one step or several, or a competition problem that needs
    mathematical knowledge (MATH, a source that grades by level, MetaMath's MATH types)."""
    if _ARITHMETIC.fullmatch(problem) and any(c.isdigit() for c in problem):
        operations = len(_OPERATOR.findall(problem))
        return "arithmetic_short" if operations <= SHORT_OPERATIONS else "arithmetic_long"
    if (source == "math" or metadata["level"].lower().startswith("level")
            or metadata["type"].upper().startswith("MATH")):
        return "knowledge"
    return "contextual_single_step" if steps <= 1 else "contextual_multi_step"
