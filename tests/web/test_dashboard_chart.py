"""The dashboard's sales chart: pure geometry from ``queries.product_daily_sales`` rows."""

from __future__ import annotations

import datetime as dt

import pytest

from indexer.web.dashboard.chart import HEIGHT, MAX_BARS, nice_top, sales_chart

D = dt.date(2026, 3, 1)


def row(day: dt.date, purchases: int, amount: int, currency: str = "usd") -> dict[str, object]:
    return {"day": day.isoformat(), "currency": currency, "purchases": purchases, "amount_total": amount}


def test_each_day_of_the_range_is_a_bar_and_days_without_sales_are_zero() -> None:
    chart = sales_chart([row(D, 3, 3000), row(D + dt.timedelta(days=2), 1, 500)], D, D + dt.timedelta(days=3))
    assert chart.unit == "day"
    assert [b.height for b in chart.bars] == [HEIGHT * 3 / 4, 0, HEIGHT / 4, 0]
    assert [b.title for b in chart.bars] == [
        "2026-03-01: 3 purchases, 30.00 usd", "2026-03-02: 0 purchases", "2026-03-03: 1 purchase, 5.00 usd",
        "2026-03-04: 0 purchases",
    ]
    assert (chart.top, chart.half, chart.purchases, chart.totals) == (4, 2, 4, ["35.00 usd"])
    assert (chart.first, chart.last) == ("2026-03-01", "2026-03-04")
    assert all(b.y + b.height == HEIGHT for b in chart.bars)


def test_currencies_are_never_added_but_purchases_are() -> None:
    chart = sales_chart([row(D, 2, 2000, "usd"), row(D, 1, 150000, "jpy")], D, D)
    [bar] = chart.bars
    assert bar.title == "2026-03-01: 3 purchases, 150,000 jpy, 20.00 usd"
    assert chart.totals == ["150,000 jpy", "20.00 usd"]


def test_long_ranges_are_drawn_per_week_then_per_month() -> None:
    weeks = sales_chart([row(D, 1, 100), row(D + dt.timedelta(days=8), 2, 100)], D, D + dt.timedelta(days=MAX_BARS))
    assert weeks.unit == "week"
    assert len(weeks.bars) == (MAX_BARS + 1 + 6) // 7
    assert weeks.bars[1].title == "2026-03-08 to 2026-03-14: 2 purchases, 1.00 usd"
    assert weeks.span == f"2026-03-01 to {D + dt.timedelta(days=MAX_BARS)}", "the range's last day, not its last week's first"

    months = sales_chart([row(dt.date(2026, 5, 31), 5, 100)], D + dt.timedelta(days=10), dt.date(2029, 1, 15))
    assert months.unit == "month"
    assert months.first == "Mar 2026" and months.last == "Jan 2029"
    assert months.span == "2026-03-11 to 2029-01-15"
    assert months.bars[2].title.startswith("2026-05-01 to 2026-05-31: 5 purchases")
    assert len(months.bars) <= MAX_BARS


def test_rows_outside_the_range_are_ignored() -> None:
    chart = sales_chart([row(D - dt.timedelta(days=1), 9, 900), row(D, 1, 100)], D, D + dt.timedelta(days=1))
    assert chart.purchases == 1


@pytest.mark.parametrize(("value", "top"), [(0, 2), (1, 2), (2, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 20),
                                             (21, 40), (41, 50), (99, 100), (101, 200), (1234, 2000)])
def test_the_axis_top_is_round_and_its_middle_whole(value: int, top: int) -> None:
    assert nice_top(value) == top
    assert nice_top(value) % 2 == 0
