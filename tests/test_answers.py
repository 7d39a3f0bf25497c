"""Final-answer extraction for GSM8K: strict (`#### N`) and flexible (last number) readings,
normalised so that "$1,000.00" and "1000" are the same answer."""

from __future__ import annotations

import pytest

from bench.generation.answers import (
    flexible_answer,
    is_correct,
    normalise_number,
    reference_answer,
    strict_answer,
)

REFERENCE = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
             "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")


@pytest.mark.parametrize("text, expected", [
    ("72", "72"), ("1,000.00", "1000"), ("$18", "18"), ("-3", "-3"), (".5", "0.5"), ("-.5", "-0.5"),
    ("72.00", "72"), ("3.", "3"), (" 42 ", "42"), ("0.250", "0.25"), ("1,234,567", "1234567"), ("-0", "0"),
    ("-0.0", "0"), ("007", "7"), ("1000", "1000"), ("0.1", "0.1"), ("$-5", "-5"),
])
def test_normalise_number(text, expected):
    assert normalise_number(text) == expected


@pytest.mark.parametrize("text", ["", ".", ",", "$", "-", "..", "1.2.3", "1e5", "nan", "Infinity", "1_000",
                                  "+3", "twelve", "3 4", "--3"])
def test_normalise_refuses_what_is_not_a_number(text):
    assert normalise_number(text) is None


@pytest.mark.parametrize("text, expected", [
    ("So she has 5 left.\n#### 72", "72"),
    ("#### 1,234", "1234"),
    ("#### -8", "-8"),
    ("#### 72.00", "72"),
    ("#### 18.", "18"),
    ("The answer is #### 3.\n\nQuestion: what is 5 + 4?", "3"),  # text after the answer is ignored
    ("#### 5\n#### 7", "5"),  # the first `#### ` wins
    ("#### $72", None),  # lm-eval's strict pattern wants the number right after "#### "
    ("####72", None),
    ("The answer is 72.", None),
    ("", None),
    ("#### .", None),
])
def test_strict_answer(text, expected):
    assert strict_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("The answer is 72.", "72"),  # "72." at the end of a sentence
    ("She paid $5 for it", "5"),
    ("That makes 1,234 apples", "1234"),
    ("It costs $1,000.50, or so", "1000.5"),
    ("The temperature fell to -3", "-3"),
    ("She has <<3*4=12>>12 apples", "12"),  # annotations hold numbers too; the last one counts
    ("<<48/2=24>>", "24"),
    ("The answer is 7. Then 3 + 2 = 5 ...", "5"),  # "..." matches the pattern but is no number
    ("So 10 items. , .", "10"),  # a lone "," or "." is no number either
    ("#### 72\n\nQuestion: what is 5+3?", "3"),  # text after the answer: flexible takes its last number
    ("Price: 72.00", "72"),
    ("no number here", None),
    ("", None),
    (". , ...", None),
])
def test_flexible_answer(text, expected):
    assert flexible_answer(text) == expected


def test_reference_answer():
    assert reference_answer(REFERENCE) == "72"
    assert reference_answer("It costs 1000 dollars.\n#### 1,000") == "1000"
    assert reference_answer("Half of it.\n#### 0.50") == "0.5"
    with pytest.raises(ValueError, match="#### <number>"):
        reference_answer("Natalia sold 72 clips.")
    with pytest.raises(ValueError, match="no '#### <number>'"):
        reference_answer("#### seventy-two")


@pytest.mark.parametrize("predicted, reference, expected", [
    ("72", "72", True), ("72.00", "72", True), ("72.0", "72", True), ("0.5", "0.50", True), ("$1,000", "1000", True),
    ("71", "72", False), ("-72", "72", False), (None, "72", False), ("seventy-two", "72", False), ("7.2", "72", False),
])
def test_is_correct(predicted, reference, expected):
    assert is_correct(predicted, reference) is expected


def test_extraction_round_trip_on_a_reference():
    # A model that copies the reference format gets both readings right.
    answer = reference_answer(REFERENCE)
    assert is_correct(strict_answer(REFERENCE), answer) and is_correct(flexible_answer(REFERENCE), answer)
