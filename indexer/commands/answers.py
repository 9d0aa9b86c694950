"""``indexer customers``, ``indexer customer`` and ``indexer products``: the index read at a
terminal or in a pipe, the same answers as the query API (``/v1/...``).

Output streams: entries are written as keyset pages arrive (``queries.iter_product_customers``),
so exporting a product with hundreds of thousands of buyers keeps memory flat. A terminal gets
a table (amounts in major units), a pipe gets RFC 4180 CSV (``csv`` module, ``\\r\\n`` line
ends) unless ``--format json`` asks for a JSON array. CSV and JSON carry the API's values
(minor units, Unix seconds). One line per customer *and currency*, as the SQL view
``product_customers``: amounts in different currencies are never added together.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

import click

from indexer.answers import queries
from indexer.answers.export import (
    CUSTOMER_COLUMNS,
    CUSTOMER_PRODUCT_COLUMNS,
    PRODUCT_COLUMNS,
    csv_lines,
    customer_lines,
    customer_product_lines,
    major_units,
    product_lines,
)
from indexer.commands import output_to_a_reader_who_may_leave, params
from indexer.commands.resources import open_index, stripe_client
from indexer.errors import UsageError

TABLE_SAMPLE = 200  # rows read ahead to size the table's columns
TABLE_MAX_WIDTH = 40
CLI_PAGE = 1000  # entries read per statement; the API's largest page


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default=None,
    show_default="table on a terminal, csv in a pipe",
    help="A table (amounts in major units), RFC 4180 CSV or a JSON array (API values: minor units, Unix seconds).",
)
INCLUDE_REFUNDED_OPTION = click.option("--include-refunded", is_flag=True, help="Count fully refunded purchases too.")
SINCE_OPTION = click.option("--since", type=params.SINCE, help="Purchases on or after this UTC day (YYYY-MM-DD) or Unix time.")
UNTIL_OPTION = click.option("--until", type=params.UNTIL, help="Purchases up to the end of this UTC day (YYYY-MM-DD) or Unix time.")
ACCOUNT_OPTION = click.option("--account", type=params.ACCOUNT_ID, show_default="your own account", help="A Connect account's data.")


@click.command()
@click.argument("product_id")
@FORMAT_OPTION
@SINCE_OPTION
@UNTIL_OPTION
@INCLUDE_REFUNDED_OPTION
@click.option("--livemode/--testmode", default=None, show_default="live if the index holds any, else test",
              help="Live-mode or test-mode data.")
@ACCOUNT_OPTION
@click.option("--live", is_flag=True,
              help="Answer straight from the Stripe API (STRIPE_API_KEY), with no database.")
def customers(product_id: str, fmt: str | None, since: int | None, until: int | None,
              include_refunded: bool, livemode: bool | None, account: str | None, live: bool) -> None:
    """The customers who bought a product.

    One line per customer and currency of PRODUCT_ID (a prod_... id), from the index
    (DATABASE_URL), or with --live straight from Stripe (STRIPE_API_KEY, STRIPE_API_BASE)."""
    filters = _filters(since, until, livemode, account, include_refunded)
    if live:
        _live_customers(product_id, fmt, account=account or "", include_refunded=include_refunded,
                        narrowed=since is not None or until is not None or livemode is not None)
        return
    engine = open_index(reads=True)
    try:
        _emit_entries(queries.iter_product_customers(engine, product_id, filters), customer_lines, CUSTOMER_COLUMNS,
                      fmt)
    finally:
        engine.dispose()


@click.command()
@click.argument("customer")
@FORMAT_OPTION
@SINCE_OPTION
@UNTIL_OPTION
@INCLUDE_REFUNDED_OPTION
@click.option("--livemode/--testmode", default=None, show_default="live if the index holds any of theirs, else test",
              help="Live-mode or test-mode data.")
@ACCOUNT_OPTION
def customer(customer: str, fmt: str | None, since: int | None, until: int | None, include_refunded: bool,
             livemode: bool | None, account: str | None) -> None:
    """What a customer bought.

    One line per product and currency bought by CUSTOMER: a cus_... id, an email address (any
    case; it finds guest checkouts and Customer objects alike) or a guest_... key from
    `indexer customers`. Reads DATABASE_URL; the same answer as GET /v1/customers/CUSTOMER/products."""
    filters = _filters(since, until, livemode, account, include_refunded)
    engine = open_index(reads=True)
    try:
        _emit_entries(queries.iter_customer_products(engine, customer, filters), customer_product_lines,
                      CUSTOMER_PRODUCT_COLUMNS, fmt)
    finally:
        engine.dispose()


@click.command()
@FORMAT_OPTION
@INCLUDE_REFUNDED_OPTION
@click.option("--livemode/--testmode", default=None,
              show_default="every mode; with --account, live if the account has any live sale, else test",
              help="Live-mode or test-mode data only.")
@click.option("--account", type=params.ACCOUNT_ID,
              show_default="every account; with --livemode/--testmode, your own account",
              help="A Connect account's products only.")
def products(fmt: str | None, include_refunded: bool, livemode: bool | None, account: str | None) -> None:
    """Indexed products, their customers and revenue.

    One line per product, account, mode and currency: customer count, purchases, quantity,
    revenue and refunds, for every account and mode. With --account, --livemode or --testmode,
    one account in one mode, as GET /v1/products answers (the same CSV as /v1/products.csv).
    Reads DATABASE_URL."""
    engine = open_index()
    try:
        if account is None and livemode is None:
            rows = queries.iter_products(engine, include_refunded=include_refunded, page_size=CLI_PAGE)
        else:
            filters = queries.Filters(account=account or "", livemode=livemode, include_refunded=include_refunded)
            rows = (line for entry in queries.iter_product_summaries(engine, filters, page_size=CLI_PAGE)
                    for line in product_lines(entry))
        _emit(_primed(rows), PRODUCT_COLUMNS, fmt, _product_cell)
    finally:
        engine.dispose()


def _live_customers(product_id: str, fmt: str | None, *, account: str, include_refunded: bool,
                    narrowed: bool) -> None:
    """``--live``: Stripe's API only (written in ``indexer.answers.live``); imported late, it needs no database."""
    from indexer.answers.live import live_customers

    if narrowed:
        raise UsageError("--live reads every purchase Stripe has for the product, in the API key's mode: "
                         "--since, --until, --livemode and --testmode do not apply", param="live")
    api = stripe_client(interactive=True)
    entries = live_customers(api, product_id, account=account, include_refunded=include_refunded)
    _emit_entries(entries, lambda entry: customer_lines(_plain(entry)), CUSTOMER_COLUMNS, fmt)


def _filters(since: int | None, until: int | None, livemode: bool | None, account: str | None,
             include_refunded: bool) -> queries.Filters:
    """The options ``customers`` and ``customer`` share, as the query API's filters."""
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be before --until", param="since")
    return queries.Filters(account=account or "", livemode=livemode, created=queries.Created(gte=since, lt=until),
                           include_refunded=include_refunded)


def _emit_entries(entries: Iterator[Any], lines: Callable[[Any], Iterable[dict[str, Any]]], columns: tuple[str, ...],
                  fmt: str | None) -> None:
    """The lines of each entry (one a currency), the first entry read before any output."""
    primed = _primed(entries)
    _emit((line for entry in primed for line in lines(entry)), columns, fmt, _customer_cell)


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


# --- shaping --------------------------------------------------------------------------------


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


def _emit(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str | None, cell: Any) -> None:
    out = sys.stdout
    fmt = fmt or ("table" if out.isatty() else "csv")
    with output_to_a_reader_who_may_leave():
        if fmt == "csv":
            write_csv(out, rows, columns)
        elif fmt == "json":
            write_json(out, rows)
        else:
            write_table(out, rows, columns, cell)


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
