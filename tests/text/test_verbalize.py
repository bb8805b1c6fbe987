import pytest

from pipeline.text.verbalize import fraction_words, unspeakable_characters, verbalize


@pytest.mark.parametrize(("written", "spoken"), [
    ("It costs $12.", "It costs 12 dollars."),
    ("It costs $1,250.50 now.", "It costs 1250 dollars and 50 cents now."),
    ("A pen is $0.50.", "A pen is 50 cents."),
    ("A stamp is $1.", "A stamp is 1 dollar."),
    ("She paid 6$ for it.", "She paid 6 dollars for it."),
    ("He pays with a $50 bill, a $25 gift card.", "He pays with a 50 dollar bill, a 25 dollar gift card."),
    ("She has three $5 bills and $3 in coins.", "She has three 5 dollar bills and 3 dollars in coins."),
    ("Candy costs ¢25.", "Candy costs 25 cents."),
    ("They take 25% off.", "They take 25 percent off."),
    ("She ate 1/2 of it.", "She ate one half of it."),
    ("He ran 2 1/2 miles.", "He ran 2 and one half miles."),
    ("They drank 3/4 of it.", "They drank three quarters of it."),
    ("She filled 2/3rds of it.", "She filled two thirds of it."),
    ("It starts at 3:45 pm.", "It starts at 3 45 p.m."),
    ("It starts at 8:00 AM.", "It starts at 8 o'clock a.m."),
    ("It fell to -5 degrees.", "It fell to negative 5 degrees."),
    ("Between 5-10 kids came.", "Between 5 to 10 kids came."),
    ("There are 1,000,000 ants.", "There are 1000000 ants."),
    ("What is 3 x 4?", "What is 3 times 4?"),
    ("Then 12 / 3 = 4.", "Then 12 divided by 3 equals 4."),
    ("Split in the ratio 2:5.", "Split in the ratio 2 to 5."),
    ("He drives 60 km/h.", "He drives 60 kilometers per hour."),
    ("It weighs 5 lbs.", "It weighs 5 pounds."),
    ("Apples are $2/lb.", "Apples are 2 dollars per pound."),
    ("A 5in nail, 5 in the box.", "A 5 inches nail, 5 in the box."),
    ("Each takes .5 hours.", "Each takes 0.5 hours."),
    ("It is 750 meters^2.", "It is 750 meters squared."),
    # AQuA-style rationales divide quantities with spaced slashes
    ("Half of it is 10 miles / 2 = 5 miles.", "Half of it is 10 miles divided by 2 equals 5 miles."),
    ("He hangs 2 / (1/12) = 24 hours.", "He hangs 2 divided by (one twelfth) equals 24 hours."),
    ("That is 63 cookies / bags.", "That is 63 cookies per bags."),
    ("Then 2x = 750 ==> x = 375.", "Then 2x equals 750, so x equals 375."),
    ("It sold for Rs 2564.36, 7% approx.", "It sold for 2564.36 rupees, 7 percent approximately."),
    ("Ways = 6!/(2!)(1!) = 360.",
     "Ways equals 6 factorial divided by (2 factorial)(1 factorial) equals 360."),
    ("It is (25)^2 - (13)^2.", "It is (25) squared minus (13) squared."),
    # a dash before a number that leads to "=" subtracts; a range has no "=" after it
    ("There were 31-27 = 4 more.", "There were 31 minus 27 equals 4 more."),
    ("She spends $260 - $200 = $60.", "She spends 260 dollars minus 200 dollars equals 60 dollars."),
])
def test_verbalize(written, spoken):
    assert verbalize(written) == spoken
    assert unspeakable_characters(spoken) == []


def test_fraction_words_use_plain_denominators():
    assert fraction_words(1, 100) == "one hundredth"
    assert fraction_words(40, 100) == "forty hundredths"
    assert fraction_words(5, 8) == "five eighths"
    assert fraction_words(6, 6) == "6 over 6"  # a whole number: "six sixths" is said by no one
    assert fraction_words(8, 2) == "8 over 2"


@pytest.mark.parametrize(("text", "bad"), [
    ("x^2 + 3", ["+", "^"]),
    ("ratio 3:4", ["3:4"]),
    ("a_b", ["_"]),
    ("\\frac{1}{2}", ["\\", "{", "}"]),
])
def test_unspeakable_characters(text, bad):
    assert unspeakable_characters(text) == bad


@pytest.mark.parametrize(("written", "spoken"), [
    ("The shop is open 1:00 PM - 6:00 PM daily.", "The shop is open 1 o'clock p.m. to 6 o'clock p.m. daily."),
    ("Students in grades 4-7 attend.", "Students in grades 4 to 7 attend."),
    ("She bought 3 t - shirts.", "She bought 3 t-shirts."),
    ("He walked home - slowly.", "He walked home, slowly."),
    ("The 5 - 3 = 2 rule.", "The 5 minus 3 equals 2 rule."),
    ("Gas costs $0.40 cents per mile.", "Gas costs 40 cents per mile."),  # GSM8K train 2460
    ("We deliver Monday - Wednesday, June-August.", "We deliver Monday to Wednesday, June to August."),
    ("My sister is X - 2 years old.", "My sister is X minus 2 years old."),
    ("If 6x - y = 24 and y - 2 = 4, find x - 3y.",
     "If 6x minus y equals 24 and y minus 2 equals 4, find x minus 3y."),
    ("A rug of 10 x 8 feet costs 3 x 40 dollars.", "A rug of 10 by 8 feet costs 3 times 40 dollars."),
    ("His room is 8*7 feet.", "His room is 8 by 7 feet."),
])
def test_a_dash_is_minus_only_between_numbers_and_a_unit_is_said_once(written, spoken):
    assert verbalize(written) == spoken


def test_letters_drawn_like_latin_ones_are_read_as_latin_and_other_scripts_are_unspeakable():
    assert verbalize("Аlice has 3 apples.") == "Alice has 3 apples."  # a Cyrillic А
    assert unspeakable_characters(verbalize("Привет, Tom.")) != []
    assert unspeakable_characters(verbalize("The café is 2π meters round.")) == []
