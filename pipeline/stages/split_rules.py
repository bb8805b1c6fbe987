"""Stage 2's rules backend: GSM8K-style solutions split line by line (their ``<<a=b>>``
notes recomputed exactly), written solutions (MATH, Orca-Math, MetaMathQA) sentence by
sentence; the response opens, says the steps that fit its budget and ends on the answer."""

from __future__ import annotations

import re
from fractions import Fraction

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.seeding import seeded_bytes
from pipeline.sources.records import writes_latex
from pipeline.stages.rewrite import unsuitable
from pipeline.stages.split_checks import (
    STAGE,
    answer_sentence,
    checked,
    over_budget,
    reaches_answer,
    response_budget,
    sentence_costs,
    states_answer,
)
from pipeline.text.answers import numeric
from pipeline.text.arithmetic import (
    NotArithmetic,
    NumberTooLarge,
    evaluate,
    parse_number,
    same_number,
    written,
)
from pipeline.text.latex import Unsayable, say, spoken_values
from pipeline.text.listening import ANSWER_LEAD, answer_only
from pipeline.text.quantities import quantity_values
from pipeline.text.verbalize import normalize_space, plain_words, unspeakable_characters, verbalize

OPENERS = (
    "Okay, let me work this out.",
    "Alright, let's figure this out step by step.",
    "Let me think this through.",
    "Sure, let's work it out together.",
    "Good question, let me see.",
)


_NOTE_RE = re.compile(r"<<(?P<expr>[^=<>]*)=(?P<result>[^<>]*)>>")


# One side of a written calculation: numbers, each with up to three unit words ("2 miles",
# "22 years old"), joined by operators, then "=". Removing it leaves the result the
# sentence is about ("so he is 22 years old - 2 years = 20 years old" -> "so he is 20 years old").
_UNIT = (r"(?:\s+(?!(?:because|since|so|and|or|then|which|that|is|are|was|were|x)\b)"
         r"[A-Za-z’']+(?:/[A-Za-z]+)*){0,3}?")


_OPERAND = (rf"\(*\$?(?:\d[\d,]*(?:\.\d+)?(?:\s+(?:and\s+)?\d+/\d+)?|\.\d+)(?:[A-Za-z]{{1,3}}\b)?%?\)*"
            rf"{_UNIT}")


_EQUATION_RE = re.compile(rf"{_OPERAND}(?:\s*[-+*/x×÷–]\s*{_OPERAND})+\s*=\s*")
# A coefficient and a variable ("2p", "4w"; not a unit such as "5m" or "3h"), and a calculation
# that starts inside a longer expression ("(X+10) + (X+10)*1/2 = 45" matched from "10)").
_VARIABLE_TERM_RE = re.compile(r"\d(?![mghsk]\b)[A-Za-z]\b")
_OPEN_LEFT_RE = re.compile(r"(?:[-+*/(=]|\b(?![aAI]\b)[A-Za-z])\s*$")


# "..., because 48." once "because 12 x 4 = 48" lost its calculation: the reason is gone.
_BARE_REASON_RE = re.compile(r"\s*,?\s*\b(?:because|since|as)\s+"
                             r"(?P<tail>\$?[\d.,/]+%?(?:\s+[A-Za-z’']+){0,3})\s*[.!?]?$")


_LABEL_RE = re.compile(r"^[\w ]{1,24}:\S")


_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")


def verify_notes(solution: str) -> Fraction | None:
    """Re-compute every ``<<expr=result>>`` note exactly; return the last result."""
    last = None
    for note in _NOTE_RE.finditer(solution):
        try:
            computed = evaluate(note["expr"])
            written = parse_number(note["result"])
        except NumberTooLarge as error:
            raise Reject(STAGE, "number_too_large", f"<<{note.group(0)[2:-2]}>>: {error}"[:300]) from None
        except (NotArithmetic, ValueError, ZeroDivisionError):
            raise Reject(STAGE, "solution_note_unparseable", f"<<{note.group(0)[2:-2]}>>") from None
        if not same_number(computed, written):
            raise Reject(STAGE, "solution_arithmetic",
                         f"<<{note['expr']}={note['result']}>> but {note['expr']} = {computed}")
        last = written
    return last


# (a unit the last step may end in, how many of the answer's unit make one, the answer's unit)
_CONVERSIONS = (
    (re.compile(r"\$|\bdollars?\b"), 100, "cents"), (re.compile(r"\bcents?\b"), Fraction(1, 100), "dollars"),
    (re.compile(r"\bhours?\b"), 60, "minutes"), (re.compile(r"\bminutes?\b"), Fraction(1, 60), "hours"),
    (re.compile(r"\bminutes?\b"), 60, "seconds"), (re.compile(r"\bfeet\b|\bfoot\b"), 12, "inches"),
    (re.compile(r"\bkilograms?\b"), 1000, "grams"), (re.compile(r"\bkilometers?\b"), 1000, "meters"),
    (re.compile(r"\bmeters?\b"), 100, "centimeters"), (re.compile(r"\bweeks?\b"), 7, "days"),
    (re.compile(r"\bdays?\b"), 24, "hours"),
)


def unit_conversion(step: str, last_note: Fraction | None, gold: str) -> str | None:
    """A closing step for an answer asked in another unit than the last step gives ("$0.50"
    when the question asks for cents, gold 50): "That is 0.5 * 100 = 50 cents.", so the
    reasoning reaches the answer and the response never says a number it did not derive."""
    number = numeric(gold)
    if number is None:
        return None
    values = quantity_values(step) | ({last_note} if last_note is not None else set())
    for unit, factor, target in _CONVERSIONS:
        if not unit.search(step):
            continue
        for value in sorted(v for v in values if v):
            if same_number(Fraction(value) * factor, number):
                shown = written(Fraction(value))
                operation = f"{shown} * {factor}" if factor >= 1 else f"{shown} / {written(1 / factor)}"
                return f"That is {operation} = {written(number)} {target}."
    return None


def _numbers(text: str) -> set[str]:
    return {number.replace(",", "").lstrip("0") for number in _NUMBER_RE.findall(text)}


_ENDED_RE = re.compile(r"[.!?][)\"']?$")


def ended(text: str) -> str:
    """The sentence with its closing period ("(Note that x equals 0.)" has one)."""
    return text if _ENDED_RE.search(text) else text + "."


def spoken_sentence(step: str) -> str | None:
    """The narrative of a step with each calculation replaced by its result, said in words;
    a reason left with no more than the result it explains is dropped, as it says nothing.
    None when the step cannot be said cleanly."""
    if any(_VARIABLE_TERM_RE.search(m[0]) or _OPEN_LEFT_RE.search(step[:m.start()])
           for m in _EQUATION_RE.finditer(step)):
        return None  # "we get 2p + 12 = 70" is no "we get 70": the left side is algebra
    text, removed = _EQUATION_RE.subn("", step)
    while removed:
        text, removed = _EQUATION_RE.subn("", text)
    if "=" in text:
        return None
    if _LABEL_RE.match(text) or len(text.split()) < 3:
        return None  # "Total:65 books", "42 pages": a note, not a sentence
    reason = _BARE_REASON_RE.search(text)
    if reason:
        if not _numbers(reason["tail"]) <= _numbers(text[:reason.start()]):
            return None  # "He is ready because 48": no sentence a person would say
        text = text[:reason.start()]
    text = verbalize(text)
    if not text or unspeakable_characters(text) or not re.search(r"[a-zA-Z]", text):
        return None
    return ended(text)


_CONSEQUENCE_RE = re.compile(r"(?:^|[,;:]\s*)(?:so|thus|hence|therefore|which means(?: that)?|"
                             r"this means(?: that)?|(?:this|which) gives(?: us)?|giving(?: us)?|"
                             r"we get|we have|we find|we obtain|we conclude(?: that)?|we see that|"
                             r"from which|to find that|to get)\b[,:]?\s+",
                             re.I)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_ANSWER_TAIL_RE = re.compile(r",\s+which is (?:our|the) (?:final )?answer$", re.I)


def key_results(text: str) -> list[str]:
    """Short sentences for a long spoken step, the last sentence's first: the consequence a
    sentence ends on ("..., so p of x has a factor of x minus 8." -> "So p of x has a factor of
    x minus 8."), its main clause after "Since ...," or its last "and" clause, and a chain of
    equalities said by its ends ("852 sub 9 equals 8 (81) plus ... equals 695" -> "So 852 sub 9
    equals 695."), or by its last link when its first side is long (``_chain_tail``)."""
    forms: list[str] = []
    for sentence in reversed(_SENTENCE_END_RE.split(text.strip())):
        sentence = _ANSWER_TAIL_RE.sub("", sentence.strip().rstrip(".!?,;: "))
        consequences = list(_CONSEQUENCE_RE.finditer(sentence))
        clauses = [sentence[consequences[-1].end():]] if consequences else []
        if _CLAUSE_LEAD_RE.match(sentence) or ", and " in sentence:
            clauses.append(_last_clause(sentence))
        clauses.append(sentence)
        said = [_OPENING_RE.sub("", clause.strip()) for clause in clauses]
        # a clause is a form of its own when it is less than the whole sentence
        candidates = [form for clause in said
                      for form in (_chain_ends(clause), clause if clause is not sentence else None)]
        for form in candidates + [_chain_tail(clause) for clause in said]:
            if form and 3 <= len(form.split()) <= 28 and form.count("(") == form.count(")") \
                    and _STATEMENT_RE.search(form) and not _DANGLING_RE.match(form) \
                    and not _WRITTEN_AS_RE.match(form) and f"So {_lowered(form)}." not in forms:
                forms.append(f"So {_lowered(form)}.")
    return forms


_CLAUSE_LEAD_RE = re.compile(r"(?:since|because|as|if|when|given that|note that|setting|substituting|"
                             r"plugging|letting|let)\b", re.I)
_OPENING_RE = re.compile(r"^(?:we have that|we have|we see that|we can write|we write|we compute|"
                         r"then|thus|hence|so|therefore),?\s+", re.I)
_BOUND_RE = re.compile(r"\b(?:from|over|for) [A-Za-z](?: sub \w+)?$|\b(?:less|greater) than\b|\bnot equal\b")
# "the equation as 4 x cubed ... equals 0": what was written "as", not a statement of it
_WRITTEN_AS_RE = re.compile(r"^(?:(?!\b(?:equals|is|are)\b).)*\bas\b")
_DANGLING_RE = re.compile(r"(?:and|or|but|which|that|where|with|equals|is|are|plus|minus|times|over|for|to|"
                          r"in|on|at|of|by|either)\b|.*:", re.I)
_STATEMENT_RE = re.compile(r"\b(?:equals|is|are|was|were|has|have|gives|be)\b")
_JOINED_RE = re.compile(r"\band\b|[,;]\s*(?:so|and|then|thus|hence|we)\b|;")


def _lowered(clause: str) -> str:
    """A clause's first word in lower case when it is an ordinary word ("The base" -> "the
    base", "Multiplying" -> "multiplying"), not a name or a variable ("P", "Alice")."""
    first = clause.split(" ", 1)[0]
    ordinary = first.lower() in _ORDINARY_FIRST or (first.endswith("ing") and first[1:].islower())
    return clause[0].lower() + clause[1:] if ordinary else clause


_ORDINARY_FIRST = frozenset({"the", "a", "an", "this", "that", "these", "those", "there", "it", "we", "our",
                             "its", "each", "every", "all", "both", "their", "his", "her", "again", "now"})


def _last_clause(sentence: str) -> str:
    """What follows the sentence's last comma outside brackets ("and" dropped)."""
    depth, cut = 0, 0
    for at, char in enumerate(sentence):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            cut = at + 1
    return re.sub(r"^\s*(?:and\s+)?", "", sentence[cut:])


def _chain_ends(clause: str) -> str | None:
    """``A equals B equals C`` said as ``A equals C`` (``A is B equals C`` as ``A is C``), when
    both ends are short; None when the clause is no such chain."""
    parts = clause.replace(", and equals ", " equals ").split(" equals ")  # an aligned chain
    if len(parts) < 3 and not (len(parts) == 2 and " is " in parts[0]):
        return None
    if any(_JOINED_RE.search(part) for part in parts) or _CLAUSE_LEAD_RE.match(clause) \
            or _BOUND_RE.search(parts[0]):
        return None  # more than one statement ("a equals 2 and b equals 3", "..., so c equals 4"),
        # or a bound, not an equality: "the sum from n equals 1 to 9 of ..."
    left, right = parts[0], parts[-1]
    if " is " in left:
        left, verb = _subject(left.rsplit(" is ", 1)[0]), "is"
    else:
        verb = "equals"
    if len(left.split()) > 12 or len(right.split()) > 8 or not left or _NUMBER_RE.fullmatch(left.strip()):
        return None
    return f"{left} {verb} {right}"


_CLAUSE_JOIN_RE = re.compile(r",\s+(?:which|so|and|then|thus|hence|we|where|since|because|as)\b")
_LINK_RE = re.compile(r"(?:,\s+and)?\s+(equals|is congruent to)\s+")


def _chain_tail(clause: str) -> str | None:
    """A chain whose first side is too long to say again, said by its last link: "... equals
    15 over 135 equals one ninth" as "this comes to 15 over 135, which is one ninth" (what a
    person says after working a long expression out); None when the clause is no such chain."""
    pieces = _LINK_RE.split(clause)
    parts, links = pieces[0::2], pieces[1::2]
    if len(parts) < 3 or _CLAUSE_LEAD_RE.match(clause):
        return None
    before, last = parts[-2].strip(" ,"), parts[-1].strip(" ,")
    if any(_JOINED_RE.search(part) or _CLAUSE_JOIN_RE.search(part) or _BOUND_RE.search(part)
           or part.count("(") != part.count(")") for part in (before, last)) \
            or _BOUND_RE.search(parts[-3]) or len(before.split()) > 16 or len(last.split()) > 8 \
            or plain_words(before) == plain_words(last):
        return None
    comes = "comes to" if links[-2] == "equals" else links[-2]
    which = "is" if links[-1] == "equals" else links[-1]
    return f"this {comes} {before}, which {which} {last}"


_ASIDE_END_RE = re.compile(r",\s+(?=(?:the|a|an|this|that|its|their|our|we|it)\b)")


def _subject(text: str) -> str:
    """What a long lead-in is about: "From the formula for the distance to a plane, the
    distance" -> "the distance" (a comma inside a said fraction, ", over", cuts nothing)."""
    depth, cut = 0, 0
    for at, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0 and (aside := _ASIDE_END_RE.match(text, at)):
            cut = aside.end()
    return text[cut:]


def spoken_highlights(reasoning: list[str]) -> list[dict]:
    """Sentences for every other step that can be said, and for the last one: the response
    stays about half as long as the reasoning, as a spoken answer should, and a step that
    cannot be said gives its turn to the next one."""
    sayable = [(n, text) for n, step in enumerate(reasoning, start=1) if (text := spoken_sentence(step))]
    return [{"text": text, "after_step": n} for rank, (n, text) in enumerate(sayable)
            if rank % 2 == 0 or rank == len(sayable) - 1]


def opener(record_id: str, seed: int) -> str:
    return OPENERS[seeded_bytes(seed, record_id)[0] % len(OPENERS)]


def split_lines(record: dict, config: BuildConfig) -> dict:
    """GSM8K-style solutions: one step per line, ``<<a=b>>`` notes, ``#### answer``."""
    body = record["solution"].rpartition("####")[0]
    lines = [normalize_space(line) for line in body.splitlines() if line.strip()]
    if not lines:
        raise Reject(STAGE, "no_steps", "the solution has no reasoning lines")
    last_note = verify_notes(body)
    reasoning = [normalize_space(_NOTE_RE.sub("", line)) for line in lines]
    if not reaches_answer(reasoning, last_note, record["answer"]):
        converted = unit_conversion(reasoning[-1], last_note, record["answer"])
        if converted:
            reasoning.append(converted)
            last_note = numeric(record["answer"])
    first = [{"text": opener(record["id"], config.seed), "after_step": 0}]
    highlights = first + spoken_highlights(reasoning)
    split = checked_briefly(record, reasoning, _with_answer(record, reasoning, highlights), config, last_note)
    if not _answer_only(split["response"]):
        return split
    # no result could be said without its calculation: say the calculations, if one fits
    try:
        said = first + calculations(reasoning)
        full = checked_briefly(record, reasoning, _with_answer(record, reasoning, said), config, last_note)
    except Reject:
        return split
    return split if _answer_only(full["response"]) else full


def _answer_only(response: list[dict]) -> bool:
    return answer_only([s["text"] for s in response], opener=response[0]["after_step"] == 0)


# algebra: a letter on its own ("x + 4", "= A"), after a coefficient ("2p", "9m") or a
# coefficient before a bracket of words ("3(number of trucks)")
_ALGEBRA_RE = re.compile(r"(?<![\w'’])(?![aAI]\b)[A-Za-z](?![\w'’])|\d[A-Za-z](?![A-Za-z])|\d\s?\([a-z]")


# "Let x be the number of berries Steve started with", "and p be length of Penny's snake"
_DEFINED_RE = re.compile(r"\b(?:let|and)\s+([a-zA-Z])\s+(?:be|represent|equal)\s+(?:the\s+)?(.+?)"
                         r"(?=\s+and\s+[a-zA-Z]\s+(?:be|represent|equal)\b|[.,;:]|$)", re.I)
# a step that ends on a variable's value: "x=21 berries", "we get j = 29 inches + 12 inches = 41 inches"
# (the variable alone on its side: "j + p = 70" gives p no value, "p = 8m" is no number)
_VALUE_RE = re.compile(r"(?:^|[,:]\s*|\b(?:get|gives?|so|thus|then|find|have|therefore|is)\s+)"
                       r"([a-zA-Z])\s*=\s*(?:[^=]*=\s*)?(\$?\d[\d,]*(?:\.\d+)?)(?:\s+([a-z]{2,}))?\s*\.?$")


def _defined_result(step: str, defined: dict[str, str]) -> str | None:
    """ "x=21 berries" said by what x stands for: "So the number of berries Steve started
    with is 21." A listener never heard what x is, so "x equals 21" would tell them nothing."""
    value = _VALUE_RE.search(step)
    if not value or value[1] not in defined:
        return None
    what, unit = defined[value[1]], value[3] or ""
    said = f"So the {what} is {value[2]}{' ' + unit if unit and unit not in what.split() else ''}."
    return said if len(said.split()) <= 20 else None


def calculations(reasoning: list[str]) -> list[dict]:
    """Each step that is no algebra and no label said as written, calculation and all ("3 sets
    times 15 push-ups per set equals 45 push-ups"), where its result alone cannot be said; a
    step that gives a variable its value, said by what the variable stands for."""
    said, defined = [], {}
    for n, step in enumerate(reasoning, start=1):
        defined |= {var: what for var, what in _DEFINED_RE.findall(step)}
        text = spoken_sentence(step)
        if text is None and "=" in step and not _ALGEBRA_RE.search(step) and not _LABEL_RE.match(step) \
                and not re.match(r"[\w ]{1,24}=", step):
            text = verbalize(step)
            text = None if unspeakable_characters(text) else text
        elif text is None and (result := _defined_result(step, defined)):
            text = verbalize(result)
        if text:
            said.append({"text": ended(text), "after_step": n})
    return said


def within_budget(record: dict, reasoning: list[str], response: list[dict],
                  config: BuildConfig, briefly: bool = True) -> list[dict]:
    """A short spoken summary: the opener, the answer, and of the sentences between them
    those that fit the budget, the ones saying a result the step derives first, earlier
    ones before later (so speech starts early), kept in order. When none fits, and
    ``briefly``, the result a step ends on (``key_results``) where that fits: a response
    that says only the answer teaches a model to skip the explanation."""
    last = response[-1]
    concluding = _concluding(record, len(reasoning), last) if briefly else None
    if over_budget(reasoning, [response[0], response[-1]], config):
        # the last step said in full is too long: the result it ends on, if that states the
        # answer and fits, else the answer, after a result the step ends on if one fits
        fits = concluding and not over_budget(reasoning, [response[0], concluding], config)
        ending = [concluding] if fits else [answer_sentence(record, len(reasoning))]
        if not fits and briefly and not last["text"].startswith(ANSWER_LEAD):
            ending.insert(0, last)
        response = [*response[:-1], *ending]
    if over_budget(reasoning, [response[0], response[-1]], config, longest=True):
        # a reasoning shorter than opener and answer: no opener, the last step said if that
        # fits ("Taking 37 birds from 95 birds gives 58."), else the result it ends on, else
        # the answer alone, as short as it is said
        answer = answer_sentence(record, len(reasoning))
        shorter = min((response[-1], answer), key=lambda s: sentence_costs([s["text"]], config)[0][0])
        said = [s for s in (last, concluding) if briefly and s and s["after_step"] == len(reasoning)
                and not s["text"].startswith(ANSWER_LEAD)
                and not over_budget(reasoning, [s], config, longest=True)]
        shorter = said[0] if said else shorter
        if over_budget(reasoning, [shorter], config, longest=True):
            raise Reject(STAGE, "response_too_long", f"even the answer, {shorter['text']!r}, is "
                         "longer than the reasoning")
        return [shorter]
    # the budget of the response as it now ends (the answer alone may have replaced a long step)
    tokens_allowed, seconds_allowed = response_budget(reasoning, response, config)
    costs = sentence_costs([s["text"] for s in response], config)
    first, last = costs[0], costs[-1]
    tokens, seconds = first[0] + last[0], first[1] + last[1]
    known = [spoken_values(record["question"] + " " + record["problem"])]
    for step in reasoning:
        known.append(known[-1] | spoken_values(step))

    def derives(sentence: dict) -> bool:
        step = sentence["after_step"]
        return bool(step and spoken_values(sentence["text"]) & (known[step] - known[step - 1]))

    middle = sorted(range(1, len(response) - 1),
                    key=lambda i: (not derives(response[i]), i))
    kept = {0, len(response) - 1}
    for i in middle:
        if tokens + costs[i][0] <= tokens_allowed and seconds + costs[i][1] <= seconds_allowed:
            kept.add(i)
            tokens, seconds = tokens + costs[i][0], seconds + costs[i][1]
    if len(kept) == 2 and briefly:
        # no step fits said in full: say the result one of them ends on, if that fits
        for i in middle:
            for brief in key_results(response[i]["text"]):
                cost = sentence_costs([brief], config)[0]
                if tokens + cost[0] <= tokens_allowed and seconds + cost[1] <= seconds_allowed:
                    return [response[0], {"text": brief, "after_step": response[i]["after_step"]},
                            response[-1]]
    return [sentence for i, sentence in enumerate(response) if i in kept]


def _concluding(record: dict, steps: int, last: dict) -> dict | None:
    """The result the last step's sentence ends on, when it states the answer: "So the
    maximum value is 28." says more than "So the answer is 28." in as many words."""
    if last["after_step"] != steps or last["text"].startswith(ANSWER_LEAD):
        return None
    for brief in key_results(last["text"]):
        if states_answer(brief, record):
            return {"text": brief, "after_step": steps}
    return None


def _with_answer(record: dict, reasoning: list[str], response: list[dict]) -> list[dict]:
    """End on a sentence that states the answer once the reasoning is complete."""
    if states_answer(response[-1]["text"], record) and response[-1]["after_step"] == len(reasoning):
        return response
    return response + [answer_sentence(record, len(reasoning))]


_MATH_MARK_RE = re.compile(r"\\\\|\\\$|\$\$|\$|\\\[|\\\]|\\\(|\\\)|\\begin\{|\\end\{[^}]*\}"
                           r"|[.!?](?=\s+[A-Z$\\(])|\n")
# math whose last sign ends a sentence, and a sentence that starts after it ("... at $x=3.$ Therefore",
# "... + 3.\]We want", "... \end{align*}Seeking")
_ENDS_SENTENCE_RE = re.compile(r"[.!?]\s*$")
_STARTS_SENTENCE_RE = re.compile(r"\s*[A-Z]")
# a line that ends a step: AQuA's rationales write one calculation a line, with no period
# ("... = 36 cans\nThen ..."); a line that runs on ("so\n", "of\n", "total,\n") ends none
_LINE_RUNS_ON_RE = re.compile(r"(?:[,;:(\[{=+\-*/]|\b(?:and|or|so|then|that|of|the|to|is|are|by|with|for|"
                              r"a|an|in|on|at|from|as|was|were|be))\s*$")
_LINE_STARTS_STEP_RE = re.compile(r"[ \t]*(?:[A-Z0-9]|[a-z]{1,2}\s*=)")  # "xy = 114" starts one too


def prose_steps(solution: str) -> list[str]:
    """Sentences of a written solution, never cut inside math (``$...$``, ``\\[...\\]``,
    environments); a sentence ends in math too, when the math's last sign is a period and a
    capital letter follows it."""
    steps, start, inline, depth = [], 0, False, 0
    for mark in _MATH_MARK_RE.finditer(solution):
        token = mark.group(0)
        if token in ("$", "$$"):
            inline = not inline
            closes = not inline and depth == 0
        elif token in ("\\[", "\\(", "\\begin{"):
            depth, closes = depth + 1, False
        elif token in ("\\]", "\\)") or token.startswith("\\end{"):
            depth = max(depth - 1, 0)
            closes = depth == 0 and not inline
        else:  # a sentence's or a line's end outside math; an escaped "\\" or "\$" ends nothing
            closes = token in ".!?\n" and not inline and depth == 0
        if token == "\n":
            ends = not _LINE_RUNS_ON_RE.search(solution, start, mark.start()) \
                and _LINE_STARTS_STEP_RE.match(solution, mark.end())
        else:
            before = solution[max(start, mark.start() - 4):mark.start()]
            ends = token in ".!?" or (_ENDS_SENTENCE_RE.search(before)
                                      and _STARTS_SENTENCE_RE.match(solution, mark.end()))
        if closes and ends:
            steps.append(solution[start:mark.end()])
            start = mark.end()
    steps.append(solution[start:])
    steps = [normalize_space(step) for step in steps if step.strip()]
    boxed = [n for n, step in enumerate(steps) if "\\boxed" in step]
    return steps[:boxed[-1] + 1] if boxed else steps


def _say_step(number: int, step: str, record: dict) -> str:
    try:
        spoken = say(step, latex=writes_latex(record))
    except Unsayable as error:
        raise Reject(STAGE, f"step_{error.reason}", f"step {number}: {error.detail}") from None
    bad = unspeakable_characters(spoken)
    if bad:
        raise Reject(STAGE, "step_unspeakable", f"step {number} leaves {' '.join(bad)!r}: {spoken[:160]}")
    return spoken


def split_prose(record: dict, config: BuildConfig) -> dict:
    """Written solutions (MATH, Orca-Math, MetaMathQA): a step per sentence, display
    math kept with its sentence; the spoken response exists only if every step can be
    said aloud, and says those of its steps that fit the budget (``within_budget``)."""
    found = unsuitable(record["solution"])
    if found:
        raise Reject(STAGE, f"solution_{found[0]}", f"{found[1]!r} in the solution")
    reasoning = prose_steps(record["solution"])
    spoken = [_say_step(n, step, record) for n, step in enumerate(reasoning, start=1)]
    response = [{"text": opener(record["id"], config.seed), "after_step": 0}]
    response += [{"text": ended(text), "after_step": n}
                 for n, text in enumerate(spoken, start=1)]
    return checked_briefly(record, reasoning, _with_answer(record, reasoning, response), config)


def checked_briefly(record: dict, reasoning: list[str], response: list[dict], config: BuildConfig,
                    last_note: Fraction | None = None) -> dict:
    """The response within its budget, checked; when a brief result it says fails a check,
    the response without it (a row is never lost to the brief form)."""
    try:
        said = within_budget(record, reasoning, response, config)
        return checked(record, reasoning, said, config, last_note)
    except Reject:
        said = within_budget(record, reasoning, response, config, briefly=False)
        return checked(record, reasoning, said, config, last_note)
