"""Pounds as people type them, to integer pence (never through a float), and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medgrader.core.errors import Unprocessable
from medgrader.core.money import pounds_value
from medgrader.web.money import parse_int, parse_pounds
from medgrader.web.rendering import environment


@pytest.mark.parametrize(
    ("typed", "pence"),
    [("5", 500), ("5.5", 550), ("5.05", 505), ("£1,234.50", 123450), (" 0.01 ", 1),
     ("10.00", 1000), ("0.10", 10)],
)  # fmt: skip
def test_pounds_are_read_exactly(typed: str, pence: int) -> None:
    assert parse_pounds(typed) == pence


@pytest.mark.parametrize(
    "typed", ["", "0", "0.00", "-5", "5.123", "1e3", "five", "5,00.1.2", "£", "nan", "5.", ".5"]
)
def test_anything_else_is_a_clear_422(typed: str) -> None:
    with pytest.raises(Unprocessable, match="amount"):
        parse_pounds(typed)


@given(st.integers(min_value=1, max_value=999_999_999))
def test_pounds_round_trip(pence: int) -> None:
    assert parse_pounds(pounds_value(pence)) == pence


def test_whole_numbers_and_the_price_per_credit() -> None:
    assert parse_int("-25", field="amount") == -25
    assert parse_int("+10", field="amount") == 10
    with pytest.raises(Unprocessable, match="credits"):
        parse_int("2.5", field="credits")
    per_credit = environment.filters["per_credit"]
    assert per_credit(1000, 100) == "10.0p"
    assert per_credit(4500, 500) == "9.0p"
    assert per_credit(1000, 3) == "333.3p"
    assert per_credit(1, 3) == "0.3p"
