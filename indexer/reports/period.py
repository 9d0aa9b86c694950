"""A calendar month in a timezone: what ``--month YYYY-MM [--timezone TZ]`` means."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from indexer.errors import UsageError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown timezone {name!r} (an IANA name such as Europe/Paris or "
                         "Etc/UTC)", param="timezone") from None


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int
    timezone: str = "Etc/UTC"

    @classmethod
    def parse(cls, text: str, timezone: str = "Etc/UTC") -> Month:
        found = _MONTH.match(text.strip())
        if not found or not 1 <= int(found[2]) <= 12 or int(found[1]) < 2000:
            raise UsageError(f"--month must be a month as YYYY-MM, got {text!r}", param="month")
        zone(timezone)
        return cls(int(found[1]), int(found[2]), timezone)

    @classmethod
    def last(cls, now: dt.datetime, timezone: str = "Etc/UTC") -> Month:
        """The month before ``now``'s, in ``timezone``."""
        local = now.astimezone(zone(timezone))
        year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
        return cls(year, month, timezone)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        return dt.date(self.year, self.month, 1).strftime("%B %Y")

    def bounds(self) -> tuple[int, int]:
        """``[start, end)`` in Unix seconds: the month's first instant and the next month's."""
        tz = zone(self.timezone)
        start = dt.datetime(self.year, self.month, 1, tzinfo=tz)
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        end = dt.datetime(year, month, 1, tzinfo=tz)
        return int(start.timestamp()), int(end.timestamp())

    def local(self, ts: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, zone(self.timezone))
