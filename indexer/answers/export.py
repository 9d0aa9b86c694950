"""The lists as text: CSV lines and amounts in major units.

Every CSV the indexer writes from the index goes through ``csv_lines``: ``indexer customers``,
``customer`` and ``products`` (``--format csv``), the query API's CSV (``.csv`` paths or
``Accept: text/csv``) and the dashboard's "Download CSV", so that they give the same bytes for
the same filters. Pure: entries in, strings out.

One line per entry *and currency*, as the SQL view ``product_customers``: amounts in different
currencies are never added together. CSV is RFC 4180 (``csv`` module, ``\\r\\n`` line ends) with
the API's values (minor units, Unix seconds). A text cell that a spreadsheet would run as a
formula (a product or customer name starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return: Stripe data anyone can type at checkout) is written with a leading ``'``, as OWASP
advises, so that it shows as the text it is.
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
"""A customer of a product: ``indexer customers``, ``/v1/products/{product}/customers.csv``."""
CUSTOMER_PRODUCT_COLUMNS = (
    "product_id", "product_name", "customer", "email", "currency", "purchases", "quantity", "amount_total",
    "amount_refunded", "first_purchased_at", "last_purchased_at",
)
"""A product of a customer: ``indexer customer``, ``/v1/customers/{customer}/products.csv``."""
PRODUCT_COLUMNS = (
    "product_id", "name", "account", "livemode", "currency", "customers", "purchases", "quantity",
    "amount_total", "amount_refunded",
)
"""A product and its customers and revenue in one currency: ``indexer products``, ``/v1/products.csv``."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""
# Stripe's zero- and three-decimal currencies; every other one has two decimals.
ZERO_DECIMAL = frozenset(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"])
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def lines_per_currency(entry: dict[str, Any], columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """One line per element of an entry's ``amounts`` (the entry itself when it has none): the
    amount's own values (``currency``, ``amount_total``...), the entry's for the rest."""
    for amount in entry.get("amounts") or [entry]:
        yield {k: amount[k] if k in amount else entry.get(k) for k in columns}


def customer_lines(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One line per currency of a customer entry (from the index, or from ``--live``)."""
    return lines_per_currency(entry, CUSTOMER_COLUMNS)


def customer_product_lines(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One line per currency of a product a customer bought."""
    return lines_per_currency(entry, CUSTOMER_PRODUCT_COLUMNS)


def product_lines(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One line per currency of a ``/v1/products`` entry: the lines ``indexer products`` prints."""
    return lines_per_currency(entry, PRODUCT_COLUMNS)


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
    if isinstance(value, str):
        return neutralised(value)
    return "" if value is None else value


def neutralised(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would otherwise run it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def chunked(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[str]:
    """Lines gathered into pieces of about ``size`` characters: one write to the socket per
    piece rather than per line, when a response streams them."""
    piece: list[str] = []
    length = 0
    for line in lines:
        piece.append(line)
        length += len(line)
        if length >= size:
            yield "".join(piece)
            piece, length = [], 0
    if piece:
        yield "".join(piece)


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
