from fractions import Fraction as F

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.text.quantities import find_quantities, joined_quantities, quantity_values


def values(text):
    return [(q.text, set(q.values)) for q in find_quantities(text)]


def test_digits_money_percent_and_separators():
    assert values("He has 1,250.50 and 25% of 8") == [
        ("1,250.50", {F("1250.5")}), ("25%", {F(25), F(1, 4)}), ("8", {F(8)}),
    ]


def test_money_in_words_reads_as_one_amount():
    assert values("3 dollars and 20 cents") == [("3 dollars and 20 cents", {F("3.2")})]
    assert values("50 cents") == [("50 cents", {F(50), F(1, 2)})]


def test_number_words():
    assert values("twenty-four apples and one hundred and five pears") == [
        ("twenty-four", {F(24)}), ("one hundred and five", {F(105)}),
    ]


def test_fractions_in_words_and_digits():
    assert values("three quarters") == [("three quarters", {F(3, 4)})]
    assert values("one twenty-second") == [("one twenty-second", {F(1, 22)})]
    assert quantity_values("2/3") == {F(2, 3), F(2), F(3)}


def test_lone_one_is_a_pronoun_not_a_quantity():
    assert values("one of them left") == []


def test_clock_times():
    assert quantity_values("at 8:00") == {F(8), F(0)}


def test_approximate_mentions_round():
    about, exact = find_quantities("about twenty, or 20")
    assert about.approximate and not exact.approximate
    assert about.rounds(19) and about.rounds(F(49, 2)) and not about.rounds(26)
    assert not exact.rounds(19)
    assert find_quantities("roughly 7")[0].rounds(F(15, 2))


def test_every_number_and_fraction_said_in_words_is_read_back():
    from num2words import num2words

    from pipeline.text.verbalize import fraction_words

    for n in range(2, 1000):
        assert quantity_values(num2words(n)) == {n}
    for numerator in (1, 2, 5):
        for denominator in range(2, 101):
            said = fraction_words(numerator, denominator)
            assert F(numerator, denominator) in quantity_values(said), said


# Words and signs every pattern of the finder reads, so pieces put side by side would make
# mentions across the join if anything could: a run of number words, a fraction, a sign.
_TOKENS = ["5", "12", "3.5", ".5", "1,000", "12:00", "-", "negative", "minus", "/", "over", "%",
           "percent", "cents", "dollars and", "about", "around", "twenty", "five", "and",
           "hundred", "half", "quarter", "one", "third", "apples", ",", ".", "?", ":"]
_PIECE = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=8).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_PIECE, st.sampled_from(["", ".", "!", "?"])), min_size=1, max_size=4),
       st.sampled_from([" ", "\n"]))
def test_mentions_of_joined_pieces_are_those_of_the_joined_text(pieces, separator):
    texts = tuple(text + end for text, end in pieces)
    assert joined_quantities(texts, separator) == find_quantities.__wrapped__(separator.join(texts))
