"""Amounts as the report writes them, and exact shares in minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.reports.money import allocate, currency_exponent, format_minor, parse_amount


@pytest.mark.parametrize("text, currency, units, decimals, separator", [
    ("49.00", "usd", 4900, 2, "."),
    ("-0.31", "usd", -31, 2, "."),
    ("-0.05", "USD", -5, 2, "."),
    ("1500", "jpy", 1500, 0, "."),
    ("49", "usd", 4900, 2, "."),
    ("49,00", "eur", 4900, 2, ","),
    ("1.005", "usd", 1005, 3, "."),
    ("12.345", "kwd", 12345, 3, "."),
    (" 7.5 ", "usd", 750, 2, "."),
])
def test_parse(text: str, currency: str, units: int, decimals: int, separator: str) -> None:
    amount = parse_amount(text, currency)
    assert (amount.units, amount.decimals, amount.separator) == (units, decimals, separator)


@pytest.mark.parametrize("text", ["", "abc", "1,234.50", "1e3", "NaN", "12.", ".5", "--1"])
def test_parse_refuses_what_is_not_a_plain_amount(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text, "usd")


def test_format_keeps_the_separator_and_decimals() -> None:
    assert format_minor(-1633, 2) == "-16.33"
    assert format_minor(-5, 2, ",") == "-0,05"
    assert format_minor(1500, 0) == "1500"
    assert currency_exponent("JPY") == 0 and currency_exponent("bhd") == 3


@given(st.integers(-10**12, 10**12), st.lists(st.integers(-500, 10**7), min_size=1, max_size=12))
def test_shares_add_up_exactly_and_follow_the_weights(total: int, weights: list[int]) -> None:
    shares = allocate(total, weights)
    assert sum(shares) == total and len(shares) == len(weights)
    positive = [max(w, 0) for w in weights]
    if sum(positive):
        for share, weight in zip(shares, positive, strict=True):
            exact = Decimal(total) * weight / sum(positive)
            assert abs(share - exact) < 1
            assert share == 0 or (share > 0) == (total > 0)


@given(st.integers(-10**9, 10**9), st.sampled_from(["usd", "jpy", "kwd"]))
def test_format_then_parse_is_the_same_amount(units: int, currency: str) -> None:
    decimals = currency_exponent(currency)
    assert parse_amount(format_minor(units, decimals), currency).units == units
