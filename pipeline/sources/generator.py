"""The built-in problem generator: seeded arithmetic word problems of 2 to 5 steps.

Thirteen templates, forty names, a dozen kinds of item and wide number ranges, so a
model trained on a generated set cannot pass a generated test set by memorizing it. The
``easy`` level (``generate:N?level=easy``) keeps ten templates with small numbers.

Each problem comes with a GSM8K-style solution (one line per step, ``<<a=b>>``
calculator notes, ``#### answer``) so it flows through the same split rules as
GSM8K itself. Problem ``i`` depends only on ``(seed, i)``, so any worker can make
any slice of the set and the same seed always gives the same problems.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.seeding import seeded_random

NAMES = ("Maya", "Liam", "Aisha", "Carlos", "Mei", "Noah", "Priya", "Omar", "Sofia", "Ethan",
         "Zara", "Lucas", "Hana", "Diego", "Amara", "Felix", "Nina", "Kofi", "Elena", "Raj",
         "Yuki", "Mateo", "Leila", "Tomas", "Ingrid", "Kwame", "Chloe", "Arjun", "Fatima", "Oscar",
         "Ana", "Jonas", "Imani", "Marco", "Sana", "Theo", "Lina", "Bruno", "Ayla", "Samir")
ITEMS = (("notebook", "notebooks"), ("pencil", "pencils"), ("apple", "apples"),
         ("sticker", "stickers"), ("cupcake", "cupcakes"), ("marker", "markers"),
         ("eraser", "erasers"), ("banana", "bananas"), ("candle", "candles"), ("mug", "mugs"),
         ("puzzle", "puzzles"), ("sandwich", "sandwiches"), ("ball", "balls"), ("plant", "plants"))
TREATS = ("cookies", "marbles", "stickers", "cards", "strawberries", "crayons", "muffins",
          "beads", "shells", "stamps", "buttons", "grapes")
DISTANCES = ("miles", "kilometers")


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


def _shopping(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    (one, many), (one2, many2) = rng.sample(ITEMS, 2)
    a, b = rng.randint(2, 5 if easy else 12), rng.randint(2, 5 if easy else 12)
    price, price2 = rng.randint(1, 9 if easy else 15), rng.randint(2, 9 if easy else 20)
    first, second = a * price, b * price2
    total = first + second
    bill = next(x for x in (20, 50, 100, 200, 500) if x > total)
    question = (f"{name} buys {a} {many} for ${price} each and {b} {many2} for ${price2} each. "
                f"{name} pays with a ${bill} bill. How much change does {name} get back?")
    return GeneratedProblem("shopping", question, (
        Step(f"The {many} cost", f"{a}*{price}", first, ".", money=True),
        Step(f"The {many2} cost", f"{b}*{price2}", second, ".", money=True),
        Step("Altogether that is", f"{first}+{second}", total, ".", money=True),
        Step(f"So {name} gets back", f"{bill}-{total}", bill - total, " in change.", money=True),
    ))


def _rates(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    unit = rng.choice(DISTANCES)
    speed = rng.randint(2, 9) if easy else rng.randrange(30, 95, 5)
    hours = rng.randint(2, 6)
    speed2 = rng.randint(2, 9) if easy else rng.randrange(20, 70, 5)
    hours2 = rng.randint(1, 5)
    first, second = speed * hours, speed2 * hours2
    question = (f"{name} drives at {speed} {unit} per hour for {hours} hours, then at {speed2} "
                f"{unit} per hour for {hours2} hours. How many {unit} does {name} drive in total?")
    return GeneratedProblem("rates", question, (
        Step("In the first part of the trip, the distance is", f"{speed}*{hours}", first, f" {unit}."),
        Step("In the second part, the distance is", f"{speed2}*{hours2}", second, f" {unit}."),
        Step(f"In total, {name} drives", f"{first}+{second}", first + second, f" {unit}."),
    ))


def _sharing(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    treat = rng.choice(TREATS)
    friends, each = rng.randint(3, 5 if easy else 12), rng.randint(2, 9 if easy else 15)
    kept = rng.randint(2, 9 if easy else 20)
    total = kept + friends * each
    rest = total - kept
    question = (f"{name} has {total} {treat}. {name} keeps {kept} of them and shares the rest "
                f"equally among {friends} friends. How many {treat} does each friend get?")
    return GeneratedProblem("sharing", question, (
        Step(f"After keeping some, {name} has", f"{total}-{kept}", rest, f" {treat} to share."),
        Step("Each friend gets", f"{rest}/{friends}", each, f" {treat}."),
    ))


def _ages(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    age, gap = rng.randint(2 if easy else 4, 5 if easy else 12), rng.randint(2, 4 if easy else 6)
    factor, years = rng.randint(2, 3), rng.randint(3, 9 if easy else 10)
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


def _time(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
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


def _percentages(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
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


def _savings(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    weekly, weeks = rng.randint(3, 9 if easy else 25), rng.randint(3, 9 if easy else 12)
    saved = weekly * weeks
    spent, gift = rng.randint(2, saved - 1), rng.randint(5, 20 if easy else 40)
    (thing, _), = rng.sample(ITEMS, 1)
    question = (f"{name} saves ${weekly} every week for {weeks} weeks, then spends ${spent} on a "
                f"{thing}. Later, {name}'s aunt gives {name} ${gift}. How much money does {name} "
                f"have now?")
    return GeneratedProblem("savings", question, (
        Step(f"{name} saves", f"{weekly}*{weeks}", saved, ".", money=True),
        Step(f"After buying the {thing}, {name} has", f"{saved}-{spent}", saved - spent, " left.",
             money=True),
        Step(f"With the gift, {name} has", f"{saved - spent}+{gift}", saved - spent + gift, ".",
             money=True),
    ))


def _baking(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    treat = rng.choice(("muffins", "cookies", "cupcakes", "rolls"))
    trays, each = rng.randint(2, 5 if easy else 8), rng.randint(6, 9 if easy else 15)
    box = rng.randint(3, 5 if easy else 8)
    baked = trays * each
    extra = box - baked % box + box * rng.randint(0, 2)
    total = baked + extra
    question = (f"{name} bakes {trays} trays of {each} {treat} each. A neighbor brings {extra} more "
                f"{treat}. {name} packs all of them into boxes of {box}. How many boxes does "
                f"{name} fill?")
    return GeneratedProblem("baking", question, (
        Step(f"{name} bakes", f"{trays}*{each}", baked, f" {treat}."),
        Step("With the neighbor's, there are", f"{baked}+{extra}", total, f" {treat}."),
        Step(f"{name} fills", f"{total}/{box}", total // box, " boxes."),
    ))


def _garden(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    rows, per_row = rng.randint(3, 9 if easy else 15), rng.randint(4, 9 if easy else 20)
    planted = rows * per_row
    failed = rng.randint(1, planted // 3)
    plant = rng.choice(("tomato", "pepper", "bean", "lettuce", "carrot"))
    question = (f"{name} plants {rows} rows of {per_row} {plant} plants. {failed} of the plants do "
                f"not grow. How many {plant} plants grow?")
    return GeneratedProblem("garden", question, (
        Step(f"{name} plants", f"{rows}*{per_row}", planted, " plants."),
        Step("So the number of plants that grow is", f"{planted}-{failed}", planted - failed, "."),
    ))


def _tickets(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    adults, kids = rng.randint(2, 4 if easy else 6), rng.randint(2, 4 if easy else 8)
    adult_price = rng.randint(5 if easy else 8, 9 if easy else 30)
    kid_price = rng.randint(3, 9 if easy else 15)
    people = adults + kids
    adult_cost, kid_cost = adults * adult_price, kids * kid_price
    tickets = adult_cost + kid_cost
    fee = people - tickets % people + people * rng.randint(0, 1)
    total = tickets + fee
    question = (f"{name} buys museum tickets for {adults} adults at ${adult_price} each and {kids} "
                f"children at ${kid_price} each, and pays a ${fee} booking fee. The {people} people "
                f"share the whole cost equally. How much does each person pay?")
    return GeneratedProblem("tickets", question, (
        Step("The adult tickets cost", f"{adults}*{adult_price}", adult_cost, ".", money=True),
        Step("The children's tickets cost", f"{kids}*{kid_price}", kid_cost, ".", money=True),
        Step("The tickets come to", f"{adult_cost}+{kid_cost}", tickets, ".", money=True),
        Step("With the fee, the total is", f"{tickets}+{fee}", total, ".", money=True),
        Step("Each person pays", f"{total}/{people}", total // people, ".", money=True),
    ))


def _reading(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    daily, days = rng.randint(3 if easy else 8, 9 if easy else 40), rng.randint(3, 9)
    weekend = rng.randint(10, 20 if easy else 60)
    weekdays = daily * days
    read = weekdays + weekend
    pages = read + rng.randint(5, 30 if easy else 150)
    question = (f"A book has {pages} pages. {name} reads {daily} pages a day for {days} days, "
                f"then {weekend} pages over the weekend. How many pages does {name} have left "
                f"to read?")
    return GeneratedProblem("reading", question, (
        Step(f"On the weekdays, {name} reads", f"{daily}*{days}", weekdays, " pages."),
        Step("With the weekend, that is", f"{weekdays}+{weekend}", read, " pages."),
        Step("The pages left are", f"{pages}-{read}", pages - read, "."),
    ))


def _factory(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    hourly, hours = rng.randint(10, 60), rng.randint(4, 10)
    days, crate = rng.randint(2, 6), rng.randint(4, 12)
    daily = hourly * hours
    made = daily * days
    broken = made % crate + crate * rng.randint(0, 3) or crate  # never "0 of the toys come out broken"
    good = made - broken
    question = (f"A machine in {name}'s workshop makes {hourly} toys an hour. It runs {hours} hours "
                f"a day for {days} days, and {broken} of the toys come out broken. The good toys "
                f"are packed {crate} to a crate. How many crates are filled?")
    return GeneratedProblem("factory", question, (
        Step("Each day the machine makes", f"{hourly}*{hours}", daily, " toys."),
        Step(f"In {days} days it makes", f"{daily}*{days}", made, " toys."),
        Step("The good toys number", f"{made}-{broken}", good, "."),
        Step("They fill", f"{good}/{crate}", good // crate, " crates."),
    ))


def _collection(rng: random.Random, name: str, easy: bool) -> GeneratedProblem:
    thing = rng.choice(("stamps", "shells", "cards", "beads", "coins", "buttons"))
    start, packs = rng.randint(10, 20 if easy else 80), rng.randint(2, 5 if easy else 9)
    per_pack = rng.randint(3, 9 if easy else 12)
    bought = packs * per_pack
    have = start + bought
    friends = rng.randint(2, 4 if easy else 6)
    each = rng.randint(2, min(8, (have - 1) // friends))
    given = friends * each
    question = (f"{name} has {start} {thing}. {name} buys {packs} packs of {per_pack} {thing}, then "
                f"gives {each} {thing} to each of {friends} friends. How many {thing} does {name} "
                f"have left?")
    return GeneratedProblem("collection", question, (
        Step(f"{name} buys", f"{packs}*{per_pack}", bought, f" {thing}."),
        Step(f"Then {name} has", f"{start}+{bought}", have, f" {thing}."),
        Step(f"{name} gives away", f"{friends}*{each}", given, f" {thing}."),
        Step(f"{name} has", f"{have}-{given}", have - given, f" {thing} left."),
    ))


TEMPLATES: dict[str, Callable[[random.Random, str, bool], GeneratedProblem]] = {
    "shopping": _shopping, "rates": _rates, "sharing": _sharing,
    "ages": _ages, "time": _time, "percentages": _percentages,
    "savings": _savings, "baking": _baking, "garden": _garden, "tickets": _tickets,
    "reading": _reading, "factory": _factory, "collection": _collection,
}


# ``easy``: what a small model can learn on a CPU in minutes (the layout experiment): every
# product has a one-digit factor and a one- or two-digit result, sums stay small, divisions
# are exact by a one-digit number; the templates whose steps need more (minutes to hours,
# percentages, a product of products) are left out. Still 2 to 5 chained steps.
LEVELS = {"standard": tuple(sorted(TEMPLATES)),
          "easy": tuple(sorted(set(TEMPLATES) - {"time", "percentages", "factory"}))}


def generate_problem(seed: int, index: int, level: str = "standard") -> GeneratedProblem:
    """Problem ``index`` of the set made with ``seed`` at a level; independent of every other index."""
    rng = seeded_random("spoken-math", seed, index) if level == "standard" else \
        seeded_random("spoken-math", level, seed, index)
    names = LEVELS[level]
    return TEMPLATES[names[index % len(names)]](rng, rng.choice(NAMES), level == "easy")
