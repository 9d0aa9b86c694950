"""The daily sales chart, drawn on the server: pure geometry for an inline SVG, no JavaScript.

Bars count purchases (payments, which add up across currencies); each bar's tooltip gives its
revenue per currency, never added together. A range of more than ``MAX_BARS`` days is drawn per
week, and one of more than ``MAX_BARS`` weeks per month, so that bars stay wide enough to see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from indexer.answers.export import major_units

MAX_BARS = 120
BAR = 10.0
GAP = 0.18
HEIGHT = 100.0


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    unit: str
    bars: list[Bar]
    width: float
    top: int
    first: str
    middle: str
    last: str
    purchases: int
    totals: list[str] = field(default_factory=list)
    span: str = ""
    """The days drawn, first to last (the axis labels are the buckets' starts)."""

    @property
    def height(self) -> float:
        return HEIGHT

    @property
    def half(self) -> int:
        return self.top // 2


def sales_chart(rows: Iterable[dict[str, Any]], first_day: dt.date, last_day: dt.date) -> Chart:
    """Bars from ``first_day`` to ``last_day`` (inclusive) over rows of
    ``queries.product_daily_sales`` (one per day and currency); days without sales are zero."""
    if last_day < first_day:
        first_day, last_day = last_day, first_day
    starts, unit = _buckets(first_day, last_day)
    purchases = [0] * len(starts)
    amounts: list[dict[str, int]] = [{} for _ in starts]
    totals: dict[str, int] = {}
    for row in rows:
        day = dt.date.fromisoformat(row["day"])
        if not first_day <= day <= last_day:
            continue
        i = _bucket_of(starts, day)
        purchases[i] += int(row["purchases"])
        currency = row["currency"]
        amounts[i][currency] = amounts[i].get(currency, 0) + int(row["amount_total"])
        totals[currency] = totals.get(currency, 0) + int(row["amount_total"])
    top = nice_top(max(purchases, default=0))
    bars = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - dt.timedelta(days=1) if i + 1 < len(starts) else last_day
        height = HEIGHT * purchases[i] / top
        bars.append(Bar(
            x=i * BAR + BAR * GAP / 2, y=HEIGHT - height, width=BAR * (1 - GAP), height=height,
            title=_title(unit, start, end, purchases[i], amounts[i]),
        ))
    return Chart(
        unit=unit, bars=bars, width=len(starts) * BAR, top=top,
        first=_label(unit, starts[0]), middle=_label(unit, starts[len(starts) // 2]) if len(starts) > 2 else "",
        last=_label(unit, starts[-1]), purchases=sum(purchases),
        span=first_day.isoformat() if first_day == last_day else f"{first_day.isoformat()} to {last_day.isoformat()}",
        totals=[major_units(amount, currency) for currency, amount in sorted(totals.items(), key=lambda kv: -kv[1])],
    )


def _buckets(first_day: dt.date, last_day: dt.date) -> tuple[list[dt.date], str]:
    days = (last_day - first_day).days + 1
    if days <= MAX_BARS:
        return [first_day + dt.timedelta(days=n) for n in range(days)], "day"
    if days <= 7 * MAX_BARS:
        return [first_day + dt.timedelta(days=n) for n in range(0, days, 7)], "week"
    starts, month = [first_day], dt.date(first_day.year, first_day.month, 1)
    while True:
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        if month > last_day:
            return starts, "month"
        starts.append(month)


def _bucket_of(starts: Sequence[dt.date], day: dt.date) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if starts[mid] <= day:
            low = mid
        else:
            high = mid - 1
    return low


def nice_top(value: int) -> int:
    """The smallest round, even number at or above ``value`` (at least 2), so that the top of
    the axis and its middle are whole, readable figures."""
    for power in range(0, 15):
        for step in (1, 2, 2.5, 4, 5, 6, 8):
            top = step * 10**power
            if top >= max(value, 2) and top == int(top) and int(top) % 2 == 0:
                return int(top)
    return value + value % 2


def _label(unit: str, day: dt.date) -> str:
    return day.strftime("%b %Y") if unit == "month" else day.isoformat()


def _title(unit: str, start: dt.date, end: dt.date, purchases: int, amounts: dict[str, int]) -> str:
    when = start.isoformat() if unit == "day" else f"{start.isoformat()} to {end.isoformat()}"
    count = f"{purchases:,} purchase" + ("" if purchases == 1 else "s")
    revenue = ", ".join(major_units(a, c) for c, a in sorted(amounts.items(), key=lambda kv: -kv[1]))
    return f"{when}: {count}" + (f", {revenue}" if revenue else "")
