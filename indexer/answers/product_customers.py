"""The customers who bought a product (``/v1/products/{product}/customers``, ``indexer customers``).

One entry per customer: ``id`` is the purchases' ``customer_key`` (the ``cus_...`` id, or
``guest_...`` derived from the lower-cased email of a guest checkout), its ``amounts`` exactly
the customer's rows of the SQL view ``product_customers``. A page walks the product's customers
in key order through the ``(product, customer_key)`` index of ``purchases`` and sums the rows of
the page's customers. The statements are built once per shape of request, because building
costs more than running.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, and_, bindparam, func, select
from sqlalchemy.sql import ColumnElement

from indexer.answers.lists import (
    BOUNDS,
    Filters,
    Page,
    PageResult,
    amount_columns,
    counted_only,
    gather_entries,
    page_keys,
    resolve_mode,
    trim_extra_key,
    walk_pages,
)
from indexer.models import products_t, purchases_t

p = purchases_t.c

# --- which mode, and does it exist at all ---------------------------------------------------


def product_livemode(conn: Connection, product_id: str, account: str) -> bool | None:
    """The mode to answer in for a product: live if any live purchase exists, else test.

    ``None`` when the index knows nothing of the product in this account (no purchase, no
    ``products`` row): the API answers 404. One index probe: live rows sort after test rows.
    """
    found = conn.execute(
        select(p.livemode)
        .where(p.product_id == product_id, p.account == account)
        .order_by(p.product_id, p.account, p.livemode.desc())
        .limit(1)
    ).first()
    if found is not None:
        return bool(found[0])
    pr = products_t.c
    known = conn.execute(
        select(pr.livemode).where(pr.account == account, pr.id == product_id)
    ).first()
    return None if known is None else bool(known[0])



def _product_mode(product_id: Any, account: Any) -> Any:
    """``product_livemode``'s probe as a subquery, so that a page costs one statement."""
    return (
        select(p.livemode)
        .where(p.product_id == product_id, p.account == account)
        .order_by(p.product_id, p.account, p.livemode.desc())
        .limit(1)
        .scalar_subquery()
    )


WINDOW_CAP = 350
"""A ``created`` window with fewer purchase rows than ``WINDOW_CAP * sqrt(limit + 1)`` is read
whole to find a page's keys; a wider one is found by walking customers. Both read index entries
only (migration ``0010_covering_indexes``): reading a window reads and sorts its rows, walking
reads ``(limit + 1) / share`` rows: the line balances the two, so that neither read is slow for
any window (``bench/query_api.py`` times the worst ones, either side of the line)."""


@cache
def _customers_statement(
    mode_given: bool, include_refunded: bool, bounds: tuple[str, ...], cursor: str | None, narrow: bool = False
) -> Any:
    """The statement of a page of ``product_customers``, built once per shape of request.

    Building a statement costs more Python than running it, so each shape (which filters,
    which direction) is built once, with bound parameters; ``limit + 1`` is rendered inline
    (``literal_execute``) so that PostgreSQL plans with the real figure.

    A ``created`` window picks the page's keys one of two ways, which ``narrow`` (from
    ``_window_probe``) decides, since the planner cannot: its estimates for a window on one
    product come from the whole table, and a generic plan knows no bounds at all. A narrow
    window (see ``WINDOW_CAP``) is read whole through the (product, purchased_at) index; a wide
    one is left out of ``WHERE`` so that the (product, customer_key) index is walked in key
    order, keeping customers who have a purchase in it, which stops after about
    ``(limit + 1) / share`` rows, the share of the product's rows in the window being at least
    the line over their number. Either way a page reads a few thousand rows at most on a
    product with 200,000 buyers, where a wrong choice reads all of them.
    """
    product, account, mode = _product_params(mode_given)
    scope = [p.product_id == product, p.account == account, p.livemode == mode]
    window = _window(bounds)
    if not include_refunded:
        window.append(p.refunded.is_(False))
    key = p.customer_key
    counted = and_(*window) if bounds else None
    if counted is None:
        keys = page_keys(key, [*scope, *window], cursor)
    elif narrow:
        rows = select(key).where(*scope, *window).cte("window_rows").prefix_with("MATERIALIZED")
        keys = page_keys(rows.c.customer_key, [], cursor)
    else:
        keys = page_keys(key, scope, cursor, having=func.count().filter(counted) > 0)
    page = (
        select(
            key, p.livemode,
            counted_only(func.max(p.customer_id), counted).label("customer"),
            counted_only(func.max(p.email), counted).label("email"),
            counted_only(func.max(p.name), counted).label("name"),
            *amount_columns(counted),
        )
        .where(*scope)
        .group_by(key, p.currency, p.livemode)
        .order_by(key, p.currency)
    )
    if counted is None:
        return page.where(*window, *_between_first_and_last(keys.cte("page_keys")))
    return page.where(key.in_(keys)).having(func.count().filter(counted) > 0)


def _between_first_and_last(keys: Any) -> list[ColumnElement[bool]]:
    """The rows of a page whose keys are consecutive among the rows it reads (no range): the
    range from its first key to its last, one walk of the index rather than a lookup per key.
    A plan made once for every cursor (the web app's generic plans) reads the range as well."""
    first = select(func.min(keys.c.customer_key)).scalar_subquery()
    last = select(func.max(keys.c.customer_key)).scalar_subquery()
    return [p.customer_key >= first, p.customer_key <= last]


def _product_params(mode_given: bool) -> tuple[Any, Any, Any]:
    """The ``:product_id``, ``:account`` and mode of a statement; the mode is settled in SQL
    (``_product_mode``) when the request does not name it."""
    product, account = bindparam("product_id", type_=p.product_id.type), bindparam("account", type_=p.account.type)
    mode = bindparam("livemode", type_=p.livemode.type) if mode_given else _product_mode(product, account)
    return product, account, mode


def _window(bounds: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [BOUNDS[op](p.purchased_at, bindparam(f"created_{op}", type_=BigInteger())) for op in bounds]


@cache
def _window_probe(mode_given: bool, bounds: tuple[str, ...]) -> Any:
    """How many of the product's rows fall in the window, counting no further than ``:cap``."""
    product, account, mode = _product_params(mode_given)
    rows = select(p.purchased_at).where(p.product_id == product, p.account == account, p.livemode == mode, *_window(bounds))
    return select(func.count()).select_from(rows.limit(bindparam("cap", type_=Integer(), literal_execute=True)).subquery())


def product_customers(conn: Connection, product_id: str, filters: Filters, page: Page) -> PageResult:
    """One page of the customers who bought ``product_id``, ordered by entry ``id``.

    One statement when the page has entries: the mode (when not given) is settled inside it.
    Only an empty page costs a second one, to tell "no customers here" from "no such product",
    and a ``created`` window one before, to learn how many rows it holds.
    """
    bounds = filters.created.bounds()
    direction = None if page.cursor is None else "before" if page.backwards else "after"
    mode_given = filters.livemode is not None
    params: dict[str, Any] = {"product_id": product_id, "account": filters.account, "keys": page.limit + 1}
    params.update({f"created_{op}": value for op, value in bounds.items()})
    if mode_given:
        params["livemode"] = filters.livemode
    if page.cursor is not None:
        params["cursor"] = page.cursor
    cap = int(WINDOW_CAP * math.sqrt(page.limit + 1))
    narrow = bool(bounds) and conn.execute(_window_probe(mode_given, tuple(bounds)), {**params, "cap": cap}).scalar_one() < cap
    statement = _customers_statement(mode_given, filters.include_refunded, tuple(bounds), direction, narrow)
    rows, has_more = trim_extra_key(conn.execute(statement, params).all(), page)
    if rows:
        livemode = bool(rows[0].livemode)
    else:
        livemode = resolve_mode(filters, product_livemode(conn, product_id, filters.account), "product", product_id)
    head = {"object": "product_customer", "account": filters.account, "livemode": livemode, "product_id": product_id}
    return PageResult(gather_entries(rows, "customer_key", head, ("customer", "email", "name")), has_more, livemode)


def iter_product_customers(
    engine: Engine, product_id: str, filters: Filters, *, page_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Every customer of a product, one keyset page (and one short transaction) at a time
    (``walk_pages``): memory stays flat however many buyers the product has."""
    return walk_pages(engine, functools.partial(_customers_of, product_id), filters, page_size=page_size)


def _customers_of(product_id: str, conn: Connection, filters: Filters, page: Page) -> PageResult:
    return product_customers(conn, product_id, filters, page)


