"""LaTeX and symbols said the way a teacher reads them; what cannot be said is refused."""

import pytest

from pipeline.text.latex import Unsayable, looks_like_latex, say
from pipeline.text.listening import spoken_defects
from pipeline.text.verbalize import unspeakable_characters

SPOKEN = [
    # the hard cases
    ("It costs $0.50.", "It costs 50 cents."),
    ("Eat 1/2 of the pie.", "Eat one half of the pie."),
    ("Born on 12/25/2023.", "Born on December 25, 2023."),
    ("Meet at 3:45 pm.", "Meet at 3 45 p.m."),
    (r"What is $2^{10}$?", "What is 2 to the power of 10?"),
    (r"Add $\frac{3}{4}$ cup.", "Add three quarters cup."),
    ("It is -5 outside.", "It is negative 5 outside."),
    ("About 1,000,000 people.", "About 1000000 people."),
    (r"Solve $x^2+3x-4=0$.", "Solve x squared plus 3 x minus 4 equals 0."),
    # currency, percentages, fractions, decimals, ranges, operators
    ("A $1,250.50 bill.", "A 1250 dollars and 50 cents bill."),
    (r"Pay $\$3.25$ now.", "Pay 3 dollars and 25 cents now."),
    (r"A $15\%$ tip.", "A 15 percent tip."),
    ("Use 2 3/4 cups.", "Use 2 and three quarters cups."),
    ("Wait 3-5 days.", "Wait 3 to 5 days."),
    ("Compute 3 x 4 and 8 ÷ 2.", "Compute 3 times 4 and 8 divided by 2."),
    (r"Find $a \times b \div c \cdot d$.", "Find a times b divided by c times d."),
    # powers, roots, units, ordinals, clock times, dates
    (r"Let $y = \sqrt{x}$ and $z=\sqrt[3]{8}$.",
     "Let y equals the square root of x and z equals the cube root of 8."),
    ("Drive at 60 km/h for 2 hrs.", "Drive at 60 kilometers per hour for 2 hours."),
    ("A 5 lbs bag and 12 oz of tea.", "A 5 pounds bag and 12 ounces of tea."),
    ("An area of 30 cm².", "An area of 30 centimeters squared."),
    ("The 3rd day, on 2024-01-05.", "The 3rd day, on January 5, 2024."),
    # LaTeX structure
    (r"$\dfrac{x+1}{2x}$", "the fraction x plus 1, over 2 x"),
    (r"If $a \le b$, $b \ge c$ and $c \neq d$.",
     "If a is less than or equal to b, b is greater than or equal to c and c is not equal to d."),
    (r"A circle of area $\pi r^2$.", "A circle of area pi r squared."),
    (r"An angle of $45^\circ$.", "An angle of 45 degrees."),
    (r"Find $\left(\frac{1}{2}\right)^3$.", "Find (one half) cubed."),
    (r"It weighs $5\text{ kg}$.", "It weighs 5 kilograms."),
    (r"Let $a_n = 2^n$.", "Let a sub n equals 2 to the power of n."),
    (r"Find $|x-2|$.", "Find the absolute value of x minus 2."),
    (r"Compute $\dbinom{5}{2}$.", "Compute 5 choose 2."),
    (r"Find $f(3)$.", "Find f of 3."),
    (r"Find $f(x+1)$.", "Find f of the quantity x plus 1."),
    (r"What is $g(f(-1))$?", "What is g of f of negative 1?"),
    (r"Find $P(\tfrac{7}{2})$ and $f(1, 2)$.", "Find P of seven halves and f of 1 and 2."),
    (r"Let $x \in [-5,-3]$, $y \in [0, 2\pi)$.",
     "Let x in the closed interval from negative 5 to negative 3, y in the interval from 0 inclusive "
     "to 2 pi exclusive."),
    (r"It took $11\frac{2}{3}$ hours.", "It took 11 and two thirds hours."),
    (r"As follows: $\bullet$ Start with 1. $\bullet$ Add one.", "As follows: Start with 1. Add one."),
    (r"Let $a \bullet b = 2$.", "Let a bullet b equals 2."),
    (r"Solve $17 \equiv x \pmod{5}$.", "Solve 17 is congruent to x modulo 5."),
    (r"Find $\lfloor 2.5 \rfloor$.", "Find the floor of 2.5."),
    (r"A $10{,}000$ loan.", "A 10000 loan."),
    (r"Write $0.1\overline{7}$ as a fraction.", "Write 0.1 with 7 repeating as a fraction."),
    (r"Find $\overline{AB}$.", "Find segment A B."),
    (r"A $12^{\prime \prime}$ pizza.", "A 12 double prime pizza."),
    (r"Let $\sum_{k=1}^{n} k = 10$.", "Let the sum from k equals 1 to n of k equals 10."),
]


@pytest.mark.parametrize(("written", "spoken"), SPOKEN)
def test_each_family_is_said_in_words(written, spoken):
    said = say(written, latex=None)
    assert said == spoken
    assert unspeakable_characters(said) == []


@pytest.mark.parametrize(("markup", "reason"), [
    (r"$\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}$", "matrix"),
    (r"$\begin{tabular}{cc} 1 & 2 \end{tabular}$", "table"),
    (r"$\frac{1}{2$", "malformed_latex"),
    (r"$\weirdmacro{x}$", "unsupported_latex"),
    (r"$a \\ b$", "multiline_math"),
])
def test_what_cannot_be_said_is_refused_with_a_reason(markup, reason):
    with pytest.raises(Unsayable) as refused:
        say(markup, latex=True)
    assert refused.value.reason == reason


def test_aligned_rows_and_cases_are_said_row_by_row():
    said = say(r"$\begin{align*} x &= 2 \\ y &= 3 \end{align*}$", latex=True)
    assert said == "x equals 2, and y equals 3"


@pytest.mark.parametrize(("text", "latex"), [
    ("It costs $5 and $10 more.", False),
    ("Nathan pays ($25 to rent) and ($10 each).", False),
    ("Find $x$ if $x+1=2$.", True),
    ("The first $50$ numbers.", True),
    (r"It costs \$5.", True),
    ("It saves $10*2=$20, so $250-$20=$230.", False),  # every sign opens an amount
])
def test_dollar_signs_are_told_apart_from_math(text, latex):
    assert looks_like_latex(text) is latex


@pytest.mark.parametrize(("markup", "spoken"), [
    (r"$\frac{50}{5}=10$", "50 over 5 equals 10"),  # a division, not "fifty fifths"
    (r"$\frac{3}{2}$", "three halves"),
    (r"the $n^{th}$ term", "the n-th term"),
    (r"the $k^{\text{th}}$ row", "the k-th row"),
    (r"${n \choose 2}$", "n choose 2"),
    (r"${a \over b}$", "a over b"),
    (r"$\cancel{x}+1$", "x plus 1"),
])
def test_forms_a_teacher_reads_without_thinking(markup, spoken):
    assert say(markup, latex=True) == spoken


@pytest.mark.parametrize(("markup", "spoken"), [
    (r"Compute $f(g^{-1}(f^{-1}(g(f(5)))))$.", "Compute f of g inverse of f inverse of g of f of 5."),
    (r"the inverses $f^{-1}$ and $g^{-1}$", "the inverses f inverse and g inverse"),
    (r"$\tan^{-1} \sqrt{3} + \sin^2 x$", "inverse tangent the square root of 3 plus sine squared x"),
    (r"$0.\overline{36}$ and $(.\overline{6})(3)$", "0 point 36 repeating and (0 point 6 repeating) (3)"),
    (r"If $G(x) = 4-3x$, is $P(G(a))$ defined?", "If G of x equals 4 minus 3 x, is P of G of a defined?"),
    (r"the region in the $xy-$plane", "the region in the x y plane"),
    (r"$2\cdot400\text{ ft.}^2=800$", "2 times 400 square feet equals 800"),
    (r"an area of $5\text{ cm}^2$", "an area of 5 square centimeters"),
    ("two properties:\n\n$\\bullet~$ It is even.\n\n$\\bullet~$ It is prime.",
     "two properties: It is even. It is prime."),
    ("X has these properties:\n\n1.) $X$ is a multiple of 17\n\n2.) $X$ is less than 1000",
     "X has these properties: X is a multiple of 17. X is less than 1000"),
    (r"we get a value from 0 to 25.) Therefore, it is $[0,25]$.",
     "we get a value from 0 to 25. Therefore, it is the closed interval from 0 to 25."),
    (r"$(f(g(1))=(1-1)^3$", "f of g of 1 equals (1 minus 1) cubed"),
    (r"solve $200=65(3)+5B$", "solve 200 equals 65 times 3 plus 5 B"),
    (r"the point $(12,102)$, not $12,102$ or $[1,000]$", "the point (12, 102), not 12102 or (1000)"),
])
def test_what_a_listener_would_stumble_on_is_said_plainly(markup, spoken):
    """A function inverse, a hyphen after math, a unit squared, list marks, a parenthesis
    without its pair, a product written 65(3) and a pair that looks like 12,102: none reaches
    the listener as written."""
    assert say(markup) == spoken
    assert not spoken_defects(spoken)
