"""Who acts and when (``Ctx``), and the calendar and payment facts every billing module shares."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

from .. import records as r
from ..store import Scope, Store

DELAYED_METHODS = {"sepa_debit", "us_bank_account", "bacs_debit", "acss_debit"}
SESSION_TTL = 24 * 3600


class Ctx:
    """Who acts (mode and Connect account), when, and for which API request."""

    __slots__ = ("store", "live", "account", "now", "request_id")

    def __init__(
        self, store: Store, scope: Scope, now: int | None = None, request_id: str | None = None
    ) -> None:
        self.store = store
        self.live, self.account = scope
        self.now = now if now is not None else store.now()
        self.request_id = request_id

    def new_id(self, prefix: str) -> str:
        return self.store.new_id(prefix, self.live)

    def emit(self, type_: str, obj: r.Record, previous: dict[str, Any] | None = None) -> None:
        self.store.emit(type_, obj, self.now, previous, self.request_id)

    def base(self, prefix: str) -> dict[str, Any]:
        return {
            "id": self.new_id(prefix),
            "created": self.now,
            "live": self.live,
            "account": self.account,
        }


def add_interval(ts: int, interval: str, count: int) -> int:
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    dt = datetime.fromtimestamp(ts, UTC)
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(dt.month - 1 + months, 12)
    year += dt.year
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return int(dt.replace(year=year, month=month + 1, day=day).timestamp())


