"""What a listener would hear as wrong, in any spoken text."""

import pytest

from pipeline.text.listening import spoken_defects


@pytest.mark.parametrize(("text", "found"), [
    ("It costs 40 cents cents per mile.", ["doubled_unit"]),
    ("Pupils in grades 4 minus 7 vote.", ["dash_as_minus"]),
    ("The show runs from 1 p.m. minus 6 p.m. today.", ["dash_as_minus"]),
    ("He buys 3 t minus shirts.", ["dash_as_minus"]),
    ("The region in the x y minus plane.", ["dash_as_minus"]),
    ("Let f of x equal x minus the floor of x.", []),  # algebra, said right
    ("Then 3 times four halves equals 6.", ["ordinal_division"]),
    ("So x is at most five thirds.", []),  # how 5/3 is said
    ("The light blinks every two seconds.", []),  # time, not a fraction
    ("So x is n to the power of th.", ["ordinal_exponent"]),
    ("\u0410lice has 3 apples.", ["confusable_letters"]),
    ("We use \\frac{3}{5} of it.", ["unspoken_markup"]),
])
def test_spoken_defects_catch_what_a_listener_hears_and_spare_what_is_said_right(text, found):
    assert spoken_defects(text) == found
