"""The shape of a customer list as text: CSV lines and amounts in major units.

Shared by ``indexer customers`` and the dashboard's "Download CSV", so that the two give the
same bytes for the same filters. Pure: entries in, strings out.

One line per customer *and currency*, as the SQL view ``product_customers``: amounts in
different currencies are never added together. CSV is RFC 4180 (``csv`` module, ``\\r\\n``
line ends) with the API's values (minor units, Unix seconds).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

CUSTOMER_COLUMNS = (
    "id", "customer", "email", "name", "currency", "purchases", "quantity", "amount_total",
    "amount_refunded", "first_purchased_at", "last_purchased_at",
)
# Stripe's zero- and three-decimal currencies; every other one has two decimals.
ZERO_DECIMAL = frozenset(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"])
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def customer_lines(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One line per currency of an entry (an entry from the index, or from ``--live``)."""
    amounts = entry.get("amounts") or [entry]
    for amount in amounts:
        yield {
            "id": entry.get("id"), "customer": entry.get("customer"), "email": entry.get("email"),
            "name": entry.get("name"), **{k: amount.get(k) for k in CUSTOMER_COLUMNS[4:]},
        }


def csv_lines(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """The header, then one CSV line per row, each yielded as soon as its row arrives."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    yield _drain(buffer)
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def currency_digits(currency: str | None) -> int:
    code = (currency or "").lower()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def major_units(amount: int | None, currency: str | None) -> str:
    """``123456, "usd"`` as ``1,234.56 usd``; empty for no amount."""
    if amount is None:
        return ""
    code = (currency or "").lower()
    digits = currency_digits(code)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{sign}{text} {code}".strip()
