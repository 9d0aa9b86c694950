"""A product's purchase rows (``/v1/products/{product}/purchases``), newest first, as Stripe lists.

A purchase entry is a ``purchases`` row; its ``id`` is the cursor, and ``(purchased_at, id)``
is its position, so a page starts exactly where the last one ended even when rows share a second.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, bindparam, select, tuple_

from indexer.answers.lists import Filters, Page, PageResult, resolve_mode, walk_pages
from indexer.answers.product_customers import product_livemode
from indexer.errors import UsageError
from indexer.models import purchases_t

p = purchases_t.c

PURCHASE_FIELDS = (
    "id", "account", "livemode", "source_type", "source_id", "line_item_id", "payment_key",
    "product_id", "price_id", "customer_id", "customer_key", "email", "name", "description",
    "quantity", "currency", "amount_subtotal", "amount_total", "amount_refunded", "refunded",
    "disputed", "purchased_at", "payment_intent", "invoice", "subscription", "payment_link",
    "checkout_session", "updated_at",
)



def product_purchases(conn: Connection, product_id: str, filters: Filters, page: Page) -> PageResult:
    """One page of a product's purchase rows, newest first, like Stripe's lists.

    The cursor is a row ``id``; its ``(purchased_at, id)`` is the position, so a page starts
    exactly where the last one ended even when many rows share a second.
    """
    livemode = resolve_mode(filters, product_livemode(conn, product_id, filters.account), "product", product_id)
    scope = [p.product_id == product_id, p.account == filters.account, p.livemode == livemode]
    # A range of one value instead of ``=``, and ``product_id`` leading the order: PostgreSQL
    # then must walk the (product_id, account, livemode, purchased_at, id) index. With ``=`` it
    # may walk ``ix_purchases_purchased_at`` instead, filtering, which is fast only when the
    # product's purchases are spread evenly over time (a product sold only long ago: 800,000
    # rows skipped to find 11 in the benchmark).
    where = [p.product_id >= product_id, p.product_id <= product_id, *filters.rows(livemode)]
    position = tuple_(p.purchased_at, p.id)
    if page.cursor is not None:
        param = "ending_before" if page.backwards else "starting_after"
        row_id = _int_cursor(page.cursor, param)
        # Bound as BIGINT: the cursor may exceed the id column's INTEGER, which PostgreSQL
        # would refuse to cast (an error, where "no such purchase" is the answer).
        at = conn.execute(
            select(p.purchased_at, p.id).where(*scope, p.id == bindparam("row_id", row_id, type_=BigInteger()))
        ).first()
        if at is None:
            raise UsageError(f"No such purchase: '{page.cursor}'", param=param)
        where.append(position > tuple_(*at) if page.backwards else position < tuple_(*at))
    order = ([p.product_id.asc(), p.purchased_at.asc(), p.id.asc()] if page.backwards
             else [p.product_id.desc(), p.purchased_at.desc(), p.id.desc()])
    rows = conn.execute(
        select(*(p[name] for name in PURCHASE_FIELDS)).where(*where).order_by(*order).limit(page.limit + 1)
    ).all()
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.backwards:
        rows.reverse()
    return PageResult([purchase_entry(r) for r in rows], has_more, livemode)


def _int_cursor(value: str, param: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise UsageError(f"No such purchase: '{value[:100]}'", param=param)
    return int(value)


def purchase_entry(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry["object"] = "purchase"
    for flag in ("livemode", "refunded", "disputed"):
        entry[flag] = bool(entry[flag])
    return entry




def iter_product_purchases(engine: Engine, product_id: str, filters: Filters, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
    """Every purchase row of a product, newest first (``product_purchases``, page after page)."""
    return walk_pages(engine, functools.partial(_purchases_of, product_id), filters, page_size=page_size)


def _purchases_of(product_id: str, conn: Connection, filters: Filters, page: Page) -> PageResult:
    return product_purchases(conn, product_id, filters, page)
