"""The dashboard's query strings: read strictly, each mistake a one-line message on the page.

Names follow the CLI and the API: ``since``/``until`` are UTC days (``YYYY-MM-DD``, ``until``
inclusive, as ``indexer customers --since/--until``), ``include_refunded``, ``account``,
``mode`` (``test`` or ``live``, as ``--testmode``/``--livemode``), and the API's keyset cursors
``starting_after``/``ending_before`` with ``limit``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from indexer.answers import queries
from indexer.errors import UsageError

ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,100}")
MAX_TEXT = 512
PAGE_SIZE = 100
DAY = 86_400


def text(args: MultiDict[str, str], name: str) -> str:
    """A parameter's value, stripped; empty when absent. Refuses what no id or email holds."""
    value = (args.get(name) or "").strip()
    if len(value) > MAX_TEXT or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(f"The {name} given is not valid.", param=name)
    return value


def account(args: MultiDict[str, str]) -> str:
    value = text(args, "account")
    if value and not ACCOUNT.fullmatch(value):
        raise UsageError("account must be a Connect account id (acct_...), or empty for your own account",
                         param="account")
    return value


def mode(args: MultiDict[str, str]) -> bool | None:
    """``True`` for live mode, ``False`` for test mode, ``None`` when the page should choose."""
    value = text(args, "mode")
    if value not in ("", "live", "test"):
        raise UsageError("mode must be test or live", param="mode")
    return None if not value else value == "live"


def flag(args: MultiDict[str, str], name: str) -> bool:
    return text(args, name) in ("1", "true", "on", "yes")


@dataclass(frozen=True, slots=True)
class DateRange:
    """A range of whole UTC days, as the form shows it and as the queries take it."""

    since: str = ""
    until: str = ""

    @property
    def gte(self) -> int | None:
        return _day_start(self.since) if self.since else None

    @property
    def lt(self) -> int | None:
        return _day_start(self.until) + DAY if self.until else None

    def created(self) -> queries.Created:
        return queries.Created(gte=self.gte, lt=self.lt)

    def __bool__(self) -> bool:
        return bool(self.since or self.until)


def date_range(args: MultiDict[str, str]) -> DateRange:
    since, until = text(args, "since"), text(args, "until")
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise UsageError(f"{name}: expected a date as YYYY-MM-DD, got {value[:40]!r}", param=name) from None
    if since and until and since > until:
        raise UsageError("The start of the date range is after its end.", param="since")
    return DateRange(since, until)


def _day_start(day: str) -> int:
    return calendar.timegm(dt.date.fromisoformat(day).timetuple())


def page(args: MultiDict[str, str], default: int = PAGE_SIZE) -> queries.Page:
    limit_text = text(args, "limit")
    if limit_text and not (limit_text.isdigit() and 1 <= int(limit_text) <= queries.MAX_LIMIT):
        raise UsageError(f"limit must be between 1 and {queries.MAX_LIMIT}", param="limit")
    after, before = text(args, "starting_after") or None, text(args, "ending_before") or None
    return queries.Page(limit=int(limit_text) if limit_text else default, starting_after=after, ending_before=before)


def carried(args: MultiDict[str, str], *names: str) -> dict[str, Any]:
    """The parameters a link keeps from this page (filters, not cursors), non-empty ones only."""
    return {name: args[name] for name in names if args.get(name)}
