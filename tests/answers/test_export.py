"""CSV text (``indexer.answers.export``): what every CSV of the index is written with."""

from __future__ import annotations

import csv
import io

import pytest

from indexer.answers.export import (
    PRODUCT_COLUMNS,
    csv_lines,
    customer_lines,
    neutralised,
    product_lines,
)


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")'])
def test_a_cell_a_spreadsheet_would_run_starts_with_a_quote(text: str) -> None:
    assert neutralised(text) == "'" + text
    [_, line] = csv_lines([{"name": text}], ("name",))
    [[cell]] = list(csv.reader(io.StringIO(line, newline="")))
    assert cell == "'" + text


@pytest.mark.parametrize("text", ["Ann", "ann@example.com", "'quoted", "a=b", " =x", ""])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralised(text) == text


def test_numbers_and_flags_are_values_not_text() -> None:
    lines = "".join(csv_lines([{"a": -5, "b": True, "c": None, "d": 0}], ("a", "b", "c", "d")))
    assert lines == "a,b,c,d\r\n-5,true,,0\r\n"


def test_an_entry_is_one_line_per_currency_with_its_own_values() -> None:
    entry = {"id": "prod_A", "product_id": "prod_A", "name": "-Course", "account": "", "livemode": False,
             "customers": 3, "purchases": 4, "amounts": [
                 {"currency": "eur", "customers": 1, "purchases": 1, "quantity": 1, "amount_total": 5, "amount_refunded": 0},
                 {"currency": "usd", "customers": 2, "purchases": 3, "quantity": 3, "amount_total": 9, "amount_refunded": 1},
             ]}
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(product_lines(entry), PRODUCT_COLUMNS)), newline="")))
    assert [(r["name"], r["currency"], r["customers"], r["amount_total"]) for r in rows] == [
        ("'-Course", "eur", "1", "5"), ("'-Course", "usd", "2", "9")]
    plain = {"id": "cus_1", "customer": "cus_1", "email": "+a@example.com", "currency": "usd", "amount_total": 7}
    assert [(line["email"], line["amount_total"]) for line in customer_lines(plain)] == [("+a@example.com", 7)]
