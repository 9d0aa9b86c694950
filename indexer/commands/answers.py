"""``indexer customers`` and ``indexer products``: the index read at a terminal or in a pipe.

Output streams: entries are written as keyset pages arrive (``queries.iter_product_customers``),
so exporting a product with hundreds of thousands of buyers keeps memory flat. A terminal gets
a table (amounts in major units), a pipe gets RFC 4180 CSV (``csv`` module, ``\\r\\n`` line
ends) unless ``--format json`` asks for a JSON array. CSV and JSON carry the API's values
(minor units, Unix seconds). One line per customer *and currency*, as the SQL view
``product_customers``: amounts in different currencies are never added together.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.answers import queries
from indexer.answers.export import CUSTOMER_COLUMNS, csv_lines, customer_lines, major_units
from indexer.config import Settings
from indexer.errors import ConfigError, DatabaseUnavailable, UsageError

PRODUCT_COLUMNS = (
    "product_id", "name", "account", "livemode", "currency", "customers", "purchases", "quantity",
    "amount_total", "amount_refunded",
)
TABLE_SAMPLE = 200  # rows read ahead to size the table's columns
TABLE_MAX_WIDTH = 40


def register(sub: Any) -> None:
    p = sub.add_parser("customers", help="the customers who bought a product",
                       description="The customers who bought PRODUCT_ID: one line per customer and currency.")
    p.add_argument("product_id", metavar="PRODUCT_ID")
    _format_argument(p)
    p.add_argument("--since", metavar="DATE", help="purchases on or after this UTC day (YYYY-MM-DD) or Unix time")
    p.add_argument("--until", metavar="DATE", help="purchases up to the end of this UTC day (YYYY-MM-DD) or Unix time")
    p.add_argument("--include-refunded", action="store_true", help="count fully refunded purchases too")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--livemode", dest="livemode", action="store_const", const=True, default=None,
                      help="live-mode data (default: live if the index holds any, else test)")
    mode.add_argument("--testmode", dest="livemode", action="store_const", const=False, help="test-mode data")
    p.add_argument("--account", default="", help="a Connect account (acct_...); default: the platform")
    p.add_argument("--live", action="store_true", help="answer straight from the Stripe API, no database")
    p.set_defaults(func=cmd_customers)

    p = sub.add_parser("products", help="indexed products with customer counts and revenue per currency",
                       description="Every indexed product: one line per product, account, mode and currency.")
    _format_argument(p)
    p.add_argument("--include-refunded", action="store_true", help="count fully refunded purchases too")
    p.set_defaults(func=cmd_products)


def _format_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "csv", "json"), default=None,
                   help="default: table on a terminal, csv in a pipe")


# --- commands -------------------------------------------------------------------------------


def cmd_customers(args: argparse.Namespace) -> int:
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until", end_of_day=True)
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be before --until", param="since")
    if args.account and not args.account.startswith("acct_"):
        raise UsageError("--account must be a Connect account id (acct_...)", param="account")
    if args.live:
        return _live_customers(args, since, until)
    settings = Settings.from_env()
    engine = db.make_engine(settings.database_url, reads=True)
    filters = queries.Filters(
        account=args.account, livemode=args.livemode, created=queries.Created(gte=since, lt=until),
        include_refunded=args.include_refunded,
    )
    try:
        with _schema_errors():
            entries = _primed(queries.iter_product_customers(engine, args.product_id, filters))
            lines = (line for entry in entries for line in customer_lines(entry))
            return _emit(lines, CUSTOMER_COLUMNS, args.format, _customer_cell)
    finally:
        engine.dispose()


def cmd_products(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    engine = db.make_engine(settings.database_url)
    try:
        with _schema_errors():
            rows = _primed(queries.iter_products(engine, include_refunded=args.include_refunded))
            status = _emit(rows, PRODUCT_COLUMNS, args.format, _product_cell)
    finally:
        engine.dispose()
    return status


def _live_customers(args: argparse.Namespace, since: int | None, until: int | None) -> int:
    """``--live``: Stripe's API only (written in ``indexer.answers.live``); imported late, it needs no database."""
    from indexer.answers.live import live_customers
    from indexer.stripe_api import StripeAPI

    if since is not None or until is not None or args.livemode is not None:
        raise UsageError("--live reads every purchase Stripe has for the product, in the API key's mode: "
                         "--since, --until, --livemode and --testmode do not apply", param="live")
    api = StripeAPI.from_settings(Settings.from_env())
    entries = _primed(live_customers(api, args.product_id, account=args.account, include_refunded=args.include_refunded))
    lines = (line for entry in entries for line in customer_lines(_plain(entry)))
    return _emit(lines, CUSTOMER_COLUMNS, args.format, _customer_cell)


def _primed(entries: Iterator[Any]) -> Iterator[Any]:
    """Read the first entry now, so that "no such product" is an error before any output."""
    first = list(itertools.islice(entries, 1))
    return itertools.chain(first, entries)


def _plain(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    if hasattr(entry, "to_dict"):
        return entry.to_dict()
    return {name: getattr(entry, name) for name in getattr(entry, "__dataclass_fields__", {})}


class _schema_errors:
    """A database without the index's tables gets one line naming the fix, not a traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, sa_exc.ProgrammingError | sa_exc.OperationalError | DatabaseUnavailable):
            cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
            message = str(getattr(cause, "orig", cause))
            if "no such table" in message or "does not exist" in message:
                raise ConfigError("the database holds no index yet: run `indexer migrate` first") from exc
        return False


# --- shaping --------------------------------------------------------------------------------


def parse_time(value: str | None, option: str, *, end_of_day: bool = False) -> int | None:
    """``YYYY-MM-DD`` (a UTC day; ``end_of_day`` gives the start of the next one) or Unix seconds."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) + (1 if end_of_day else 0)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: expected a date YYYY-MM-DD or Unix seconds, got {value!r}",
                         param=option.lstrip("-")) from None
    start = calendar.timegm(day.timetuple())
    return start + 86_400 if end_of_day else start


def _when(value: int | None) -> str:
    return "" if value is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(value))


def _customer_cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column in ("amount_total", "amount_refunded"):
        return major_units(value, row.get("currency"))
    if column.endswith("_purchased_at"):
        return _when(value)
    return "" if value is None else str(value)


def _product_cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column in ("amount_total", "amount_refunded"):
        return major_units(value, row.get("currency"))
    if column == "livemode":
        return "live" if value else "test"
    return "" if value is None else str(value)


# --- output ---------------------------------------------------------------------------------


def _emit(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str | None, cell: Any) -> int:
    out = sys.stdout
    fmt = fmt or ("table" if out.isatty() else "csv")
    try:
        if fmt == "csv":
            write_csv(out, rows, columns)
        elif fmt == "json":
            write_json(out, rows)
        else:
            write_table(out, rows, columns, cell)
        out.flush()
    except BrokenPipeError:
        # `indexer customers ... | head`: the reader has what it wanted; stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 0
    return 0


def write_csv(out: TextIO, rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> None:
    out.writelines(csv_lines(rows, columns))


def write_json(out: TextIO, rows: Iterable[dict[str, Any]]) -> None:
    """A JSON array, written entry by entry."""
    out.write("[")
    empty = True
    for row in rows:
        out.write("\n  " if empty else ",\n  ")
        out.write(json.dumps(row, ensure_ascii=False))
        empty = False
    out.write("]\n" if empty else "\n]\n")


def write_table(out: TextIO, rows: Iterable[dict[str, Any]], columns: tuple[str, ...], cell: Any) -> None:
    """Columns sized from the first rows, then streamed; longer cells are cut with an ellipsis."""
    it = iter(rows)
    head = list(itertools.islice(it, TABLE_SAMPLE))
    if not head:
        print("(none)", file=out)
        return
    shown = [c for c in columns if any(cell(r, c) for r in head)] or list(columns)
    widths = {c: min(TABLE_MAX_WIDTH, max([len(c)] + [len(cell(r, c)) for r in head])) for c in shown}
    numeric = {c for c in shown if c in ("purchases", "quantity", "customers", "amount_total", "amount_refunded")}

    def line(values: dict[str, str]) -> str:
        parts = []
        for c in shown:
            text = values[c]
            if len(text) > widths[c]:
                text = text[: widths[c] - 1] + "…"
            parts.append(text.rjust(widths[c]) if c in numeric else text.ljust(widths[c]))
        return "  ".join(parts).rstrip()

    print(line({c: c for c in shown}), file=out)
    for row in itertools.chain(head, it):
        print(line({c: cell(row, c) for c in shown}), file=out)
