"""Option types: each checks its value as the command line is read, so a bad value is a one-line
usage error (exit 2) before anything opens a database or calls Stripe."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

import click

DAY = 86_400
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day_start(day: dt.date) -> int:
    """The first second (Unix time) of a UTC day."""
    return calendar.timegm(day.timetuple())


def parse_day(text: str) -> dt.date:
    """``YYYY-MM-DD``, strictly; ``ValueError`` otherwise."""
    text = text.strip()
    if not ISO_DAY.fullmatch(text):
        raise ValueError(text)
    return dt.date.fromisoformat(text)


def parse_time(text: str, *, end_of_day: bool = False) -> int:
    """Unix seconds from a UTC day ``YYYY-MM-DD`` (its first second; with ``end_of_day`` the
    next day's) or from Unix seconds (with ``end_of_day`` the second after): the bounds of a
    half-open range. ``ValueError`` otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text) + (1 if end_of_day else 0)
    start = day_start(parse_day(text))
    return start + DAY if end_of_day else start


class Day(click.ParamType):
    """A UTC day, ``YYYY-MM-DD``; ``datetime.date``."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return parse_day(str(value))
        except ValueError:
            self.fail(f"expected a date YYYY-MM-DD, got {value!r}", param, ctx)


class DayOrUnixTime(click.ParamType):
    """A UTC day ``YYYY-MM-DD`` or Unix seconds, as the API's ``created[...]`` filters; Unix
    seconds (see ``parse_time``)."""

    name = "DATE"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_time(str(value), end_of_day=self.end_of_day)
        except ValueError:
            self.fail(f"expected a date YYYY-MM-DD or Unix seconds, got {value!r}", param, ctx)


class Count(click.ParamType):
    """A whole number of at least ``minimum``."""

    name = "N"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = value if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            number = None
        if number is None or number < self.minimum:
            self.fail(f"expected a whole number of at least {self.minimum}, got {value!r}", param, ctx)
        return number


class Rate(click.ParamType):
    """A positive number (requests per second)."""

    name = "R"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except ValueError:
            number = 0.0
        if not number > 0 or number == float("inf"):
            self.fail(f"expected a number of requests per second above 0, got {value!r}", param, ctx)
        return number


class Port(click.ParamType):
    """A TCP port, 1-65535 (0 too with ``any_free``: the system picks a free one)."""

    name = "PORT"

    def __init__(self, *, any_free: bool = False) -> None:
        self.lowest = 0 if any_free else 1

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            port = value if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            port = -1
        if not self.lowest <= port <= 65535:
            self.fail(f"expected a port number {self.lowest}-65535, got {value!r}", param, ctx)
        return port


class StripeId(click.ParamType):
    """A Stripe id with a given prefix (``prod_``, ``acct_``...)."""

    def __init__(self, prefix: str, what: str) -> None:
        self.prefix = prefix
        self.what = what
        self.name = f"{prefix}..."

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not text.startswith(self.prefix) or len(text) == len(self.prefix) or not text.replace("_", "").isalnum():
            self.fail(f"expected a {self.what} id ({self.prefix}...), got {value!r}", param, ctx)
        return text


DAY_TYPE = Day()
SINCE = DayOrUnixTime()
UNTIL = DayOrUnixTime(end_of_day=True)
POSITIVE = Count(1)
RATE = Rate()
PRODUCT_ID = StripeId("prod_", "product")
ACCOUNT_ID = StripeId("acct_", "Connect account")
