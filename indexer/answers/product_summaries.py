"""The dashboard's product reads: a sorted, searchable products page, one product's totals, and
its sales per day.

Read from the rollups ``product_totals`` and ``product_daily_totals`` (kept by triggers), so a
page costs a pass over an account's few rows per product, whatever the products sold.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, tuple_

from indexer.answers.lists import Page
from indexer.answers.products import several_currency_customers
from indexer.errors import UsageError
from indexer.models import ProductDailyTotal, product_totals_t, products_t

PRODUCT_SORTS = ("name", "product_id", "customers", "purchases", "last_purchased_at")
"""Columns a products page sorts by; ``revenue:<currency>`` sorts by the revenue in one currency
(amounts in different currencies are never compared)."""
CURRENCY = re.compile(r"[a-z]{3}")


@dataclass(frozen=True, slots=True)
class ProductListing:
    """Which products a page lists, and in which order: one account and mode, a search on the
    name (case-insensitive) or the id, a sort column, ascending or not."""

    account: str = ""
    livemode: bool = False
    search: str = ""
    sort: str = "last_purchased_at"
    descending: bool = True

    def __post_init__(self) -> None:
        currency = self.sort.removeprefix("revenue:")
        if self.sort not in PRODUCT_SORTS and not (self.sort.startswith("revenue:") and CURRENCY.fullmatch(currency)):
            raise UsageError(f"Cannot sort by {self.sort[:40]!r}", param="sort")


def product_scopes(conn: Connection) -> dict[tuple[str, bool], list[str]]:
    """The (account, livemode) pairs that hold sold products, the platform first and test before
    live, each with the currencies its products sold in, the most used first. One pass over
    ``product_totals``."""
    pt = product_totals_t.c
    rows = conn.execute(
        select(pt.account, pt.livemode, pt.currency, func.count().label("products"))
        .group_by(pt.account, pt.livemode, pt.currency)
    ).all()
    scopes: dict[tuple[str, bool], list[tuple[int, str]]] = {}
    for account, livemode, currency, products in rows:
        scopes.setdefault((account, bool(livemode)), []).append((-int(products), currency))
    return {scope: [currency for _, currency in sorted(scopes[scope])] for scope in sorted(scopes)}


@dataclass(frozen=True, slots=True)
class ProductPage:
    data: list[dict[str, Any]]
    has_more: bool
    total: int | None
    """How many products match a search (all pages); None for a listing without one."""


def _listed_products(listing: ProductListing) -> Any:
    """One row per listed product with its ``sort_key`` (and, for a search, the ``total`` of
    matches), summed from ``product_totals`` (kept by triggers): one pass over an account's few
    rows per product, whatever they sold. Product names are joined after summing, and only to
    sort or search by name."""
    pt, pr = product_totals_t.c, products_t.c
    if listing.sort.startswith("revenue:"):
        summed = func.coalesce(func.sum(pt.amount_total).filter(pt.currency == listing.sort.removeprefix("revenue:")), 0)
    else:
        summed = {
            "name": None,
            "product_id": pt.product_id,
            "customers": func.sum(pt.customers),
            "purchases": func.sum(pt.purchases),
            "last_purchased_at": func.max(pt.last_purchased_at),
        }[listing.sort]
    totals = (
        select(pt.product_id, *([] if summed is None else [summed.label("sort_key")]))
        .where(pt.account == listing.account, pt.livemode == listing.livemode)
        .group_by(pt.product_id)
        .subquery("totals")
    )
    if summed is not None and not listing.search:
        return select(totals.c.product_id, totals.c.sort_key).cte("listed")
    key = func.lower(func.coalesce(pr.name, "")) if summed is None else totals.c.sort_key
    counted = [func.count().over().label("total")] if listing.search else []
    rows = select(totals.c.product_id, key.label("sort_key"), *counted).select_from(
        totals.outerjoin(products_t, and_(pr.account == listing.account, pr.id == totals.c.product_id))
    )
    if listing.search:
        rows = rows.where(or_(
            totals.c.product_id.contains(listing.search, autoescape=True),
            func.lower(pr.name).contains(listing.search.lower(), autoescape=True),
        ))
    return rows.cte("listed")


def products_page(conn: Connection, listing: ProductListing, page: Page) -> ProductPage:
    """One page of an account's products with customers and revenue per currency, in the
    listing's order. Keyset paging as everywhere: the cursors are product ids, and a page starts
    right after (or before) that product's place in the order, ties broken by id."""
    listed = _listed_products(listing)
    position = tuple_(listed.c.sort_key, listed.c.product_id)
    ascending = listing.descending == page.backwards
    query = select(listed.c.product_id, *([listed.c.total] if listing.search else []))
    if page.cursor is not None:
        at = tuple_(select(listed.c.sort_key).where(listed.c.product_id == page.cursor).scalar_subquery(), page.cursor)
        query = query.where(position > at if ascending else position < at)
    order = [listed.c.sort_key, listed.c.product_id]
    rows = conn.execute(query.order_by(*(c.asc() if ascending else c.desc() for c in order)).limit(page.limit + 1)).all()
    total = int(rows[0].total) if rows and listing.search else 0 if listing.search else None
    if not rows and page.cursor is not None and conn.execute(select(listed.c.product_id).limit(1)).first() and not (
        conn.execute(select(listed.c.product_id).where(listed.c.product_id == page.cursor)).first()
    ):
        raise UsageError(f"No product '{page.cursor[:100]}' in this list: start from the first page", param="cursor")
    ids = [row.product_id for row in rows]
    has_more = len(ids) > page.limit
    ids = ids[: page.limit]
    if page.backwards:
        ids.reverse()
    overviews = _overviews(conn, listing.account, listing.livemode, ids)
    return ProductPage([overviews[product_id] for product_id in ids], has_more, total)


def product_overview(conn: Connection, product_id: str, account: str, livemode: bool) -> dict[str, Any]:
    """A product's name and its totals per currency (fully refunded purchases left out)."""
    found = _overviews(conn, account, livemode, [product_id]).get(product_id)
    if found is not None:
        return found
    pr = products_t.c
    name = conn.execute(select(pr.name).where(pr.account == account, pr.id == product_id)).scalar_one_or_none()
    return _overview(product_id, name, account, livemode, [])


def _overviews(conn: Connection, account: str, livemode: bool, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    pt, pr = product_totals_t.c, products_t.c
    rows = conn.execute(
        select(
            pt.product_id, pr.name, pt.currency, pt.customers, pt.purchases, pt.quantity, pt.amount_total,
            pt.amount_refunded, pt.first_purchased_at, pt.last_purchased_at,
        )
        .select_from(product_totals_t.outerjoin(products_t, and_(pr.account == pt.account, pr.id == pt.product_id)))
        .where(pt.account == account, pt.livemode == livemode, pt.product_id.in_(list(ids)))
        .order_by(pt.product_id, pt.amount_total.desc(), pt.currency)
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.product_id, []).append(row)
    customers = several_currency_customers(conn, account, livemode, [row.product_id for row in rows])
    return {
        product_id: _overview(product_id, group[0].name, account, livemode, group, customers.get(product_id))
        for product_id, group in grouped.items()
    }


def _overview(
    product_id: str, name: str | None, account: str, livemode: bool, rows: Sequence[Any], customers: int | None = None
) -> dict[str, Any]:
    """A product's totals; ``customers`` counts each buyer once, as ``/v1/products`` does (the
    one currency's count when None)."""
    amounts = [
        {
            "currency": r.currency, "customers": int(r.customers), "purchases": int(r.purchases),
            "quantity": int(r.quantity), "amount_total": int(r.amount_total), "amount_refunded": int(r.amount_refunded),
            "first_purchased_at": r.first_purchased_at, "last_purchased_at": r.last_purchased_at,
        }
        for r in rows
    ]
    firsts = [a["first_purchased_at"] for a in amounts if a["first_purchased_at"] is not None]
    lasts = [a["last_purchased_at"] for a in amounts if a["last_purchased_at"] is not None]
    return {
        "id": product_id, "object": "product_summary", "product_id": product_id, "name": name,
        "account": account, "livemode": livemode,
        "customers": sum(a["customers"] for a in amounts) if customers is None else customers,
        "purchases": sum(a["purchases"] for a in amounts),
        "first_purchased_at": min(firsts, default=None), "last_purchased_at": max(lasts, default=None),
        "amounts": amounts,
    }


def product_daily_sales(
    conn: Connection, product_id: str, account: str, livemode: bool, since: int | None = None, until: int | None = None
) -> list[dict[str, Any]]:
    """A product's sales per UTC day and currency (view ``product_sales_daily``), oldest first,
    for the days that hold a second from ``since`` up to ``until`` (Unix seconds, ``until``
    excluded, as ``Created.lt``): fully refunded purchases are left out, as in the view."""
    daily = ProductDailyTotal.__table__.c
    query = select(
        daily.day, daily.day_start, daily.currency, daily.purchases, daily.customers, daily.quantity,
        daily.amount_total, daily.amount_refunded,
    ).where(daily.product_id == product_id, daily.account == account, daily.livemode == livemode)
    if since is not None:
        query = query.where(daily.day >= _utc_day(since))
    if until is not None:
        query = query.where(daily.day < _utc_day(until + 86_399))
    rows = conn.execute(query.order_by(daily.day, daily.currency)).all()
    return [{**row._mapping} for row in rows]


def _utc_day(seconds: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))
