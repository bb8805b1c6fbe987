"""The built-in problem generator: seeded multi-step arithmetic word problems.

Each problem comes with a GSM8K-style solution (one line per step, ``<<a=b>>``
calculator notes, ``#### answer``) so it flows through the same split rules as
GSM8K itself. Problem ``i`` depends only on ``(seed, i)``, so any worker can make
any slice of the set and the same seed always gives the same problems.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

NAMES = ("Maya", "Liam", "Aisha", "Carlos", "Mei", "Noah", "Priya", "Omar", "Sofia", "Ethan",
         "Zara", "Lucas", "Hana", "Diego", "Amara", "Felix", "Nina", "Kofi", "Elena", "Raj")
ITEMS = (("notebook", "notebooks"), ("pencil", "pencils"), ("apple", "apples"),
         ("sticker", "stickers"), ("cupcake", "cupcakes"), ("marker", "markers"))
TREATS = ("cookies", "marbles", "stickers", "cards", "strawberries", "crayons")


@dataclass(frozen=True)
class Step:
    """One solution line: ``before expr = <<expr=result>>result after``."""

    before: str
    expr: str
    result: int
    after: str
    money: bool = False

    def line(self) -> str:
        dollar = "$" if self.money else ""
        return (f"{self.before} {self.expr} = {dollar}<<{self.expr}={self.result}>>"
                f"{self.result}{self.after}")


@dataclass(frozen=True)
class GeneratedProblem:
    template: str
    question: str
    steps: tuple[Step, ...]

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    @property
    def solution(self) -> str:
        return "\n".join(s.line() for s in self.steps) + f"\n#### {self.answer}"


def _shopping(rng: random.Random, name: str) -> GeneratedProblem:
    (one, many), (one2, many2) = rng.sample(ITEMS, 2)
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    price, price2 = rng.randint(1, 9), rng.randint(2, 12)
    first, second = a * price, b * price2
    total = first + second
    bill = next(x for x in (20, 50, 100, 200) if x > total)
    question = (f"{name} buys {a} {many} for ${price} each and {b} {many2} for ${price2} each. "
                f"{name} pays with a ${bill} bill. How much change does {name} get back?")
    return GeneratedProblem("shopping", question, (
        Step(f"The {many} cost", f"{a}*{price}", first, ".", money=True),
        Step(f"The {many2} cost", f"{b}*{price2}", second, ".", money=True),
        Step("Altogether that is", f"{first}+{second}", total, ".", money=True),
        Step(f"So {name} gets back", f"{bill}-{total}", bill - total, " in change.", money=True),
    ))


def _rates(rng: random.Random, name: str) -> GeneratedProblem:
    speed, hours = rng.randrange(30, 75, 5), rng.randint(2, 5)
    speed2, hours2 = rng.randrange(20, 60, 5), rng.randint(1, 4)
    first, second = speed * hours, speed2 * hours2
    question = (f"{name} drives at {speed} miles per hour for {hours} hours, then at {speed2} "
                f"miles per hour for {hours2} hours. How many miles does {name} drive in total?")
    return GeneratedProblem("rates", question, (
        Step("In the first part of the trip, the distance is", f"{speed}*{hours}", first, " miles."),
        Step("In the second part, the distance is", f"{speed2}*{hours2}", second, " miles."),
        Step(f"In total, {name} drives", f"{first}+{second}", first + second, " miles."),
    ))


def _sharing(rng: random.Random, name: str) -> GeneratedProblem:
    treat = rng.choice(TREATS)
    friends, each, kept = rng.randint(3, 8), rng.randint(2, 9), rng.randint(2, 12)
    total = kept + friends * each
    rest = total - kept
    question = (f"{name} has {total} {treat}. {name} keeps {kept} of them and shares the rest "
                f"equally among {friends} friends. How many {treat} does each friend get?")
    return GeneratedProblem("sharing", question, (
        Step(f"After keeping some, {name} has", f"{total}-{kept}", rest, f" {treat} to share."),
        Step("Each friend gets", f"{rest}/{friends}", each, f" {treat}."),
    ))


def _ages(rng: random.Random, name: str) -> GeneratedProblem:
    age, gap, factor, years = rng.randint(4, 12), rng.randint(2, 6), rng.randint(2, 3), rng.randint(3, 10)
    brother = age + gap
    mother = brother * factor
    question = (f"{name} is {age} years old. {name}'s brother is {gap} years older, and their "
                f"mother is {factor} times as old as the brother. How old will their mother be "
                f"in {years} years?")
    return GeneratedProblem("ages", question, (
        Step("The brother is", f"{age}+{gap}", brother, " years old."),
        Step("The mother is", f"{brother}*{factor}", mother, " years old."),
        Step(f"In {years} years, she will be", f"{mother}+{years}", mother + years, " years old."),
    ))


def _time(rng: random.Random, name: str) -> GeneratedProblem:
    while True:
        first, second, days = rng.randrange(15, 60, 5), rng.randrange(10, 50, 5), rng.randint(2, 12)
        if (first + second) * days % 60 == 0:
            break
    daily = first + second
    minutes = daily * days
    question = (f"Every day, {name} practices piano for {first} minutes and reads for {second} "
                f"minutes. How many hours does {name} spend on both in {days} days?")
    return GeneratedProblem("time", question, (
        Step("Each day takes", f"{first}+{second}", daily, " minutes."),
        Step(f"Over {days} days that is", f"{daily}*{days}", minutes, " minutes."),
        Step("In hours, that is", f"{minutes}/60", minutes // 60, " hours."),
    ))


def _percentages(rng: random.Random, name: str) -> GeneratedProblem:
    discount = rng.choice((10, 20, 25, 50))
    price = rng.randrange(20, 200, 20)
    shipping = rng.randint(3, 15)
    off = price * discount // 100
    sale = price - off
    question = (f"A jacket costs ${price}. The store gives a {discount}% discount, and {name} "
                f"pays ${shipping} for shipping. How much does {name} pay in total?")
    return GeneratedProblem("percentages", question, (
        Step("The discount is", f"{price}*{discount}/100", off, ".", money=True),
        Step("The jacket then costs", f"{price}-{off}", sale, ".", money=True),
        Step(f"With shipping, {name} pays", f"{sale}+{shipping}", sale + shipping, ".", money=True),
    ))


TEMPLATES: dict[str, Callable[[random.Random, str], GeneratedProblem]] = {
    "shopping": _shopping, "rates": _rates, "sharing": _sharing,
    "ages": _ages, "time": _time, "percentages": _percentages,
}


def generate_problem(seed: int, index: int) -> GeneratedProblem:
    """Problem ``index`` of the set made with ``seed``; independent of every other index."""
    rng = random.Random(f"spoken-math:{seed}:{index}")
    template = TEMPLATES[sorted(TEMPLATES)[index % len(TEMPLATES)]]
    return template(rng, rng.choice(NAMES))
