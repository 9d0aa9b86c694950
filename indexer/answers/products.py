"""Every product the index holds, with its customers and revenue per currency (``indexer products``,
``/v1/products``).

One line per (product, account, mode, currency): amounts in different currencies are never
added. Without refunded purchases the sums are the rollup ``product_totals`` (kept by triggers);
counting them, or a ``created`` window, sums ``purchases``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, distinct, func, select, tuple_
from sqlalchemy.sql import ColumnElement

from indexer.answers.lists import (
    Filters,
    Page,
    PageResult,
    amount_columns,
    grouped_page,
    next_keys,
    trim_extra_key,
    walk_pages,
)
from indexer.db import among, transaction
from indexer.models import customer_counts_t, product_totals_t, products_t, purchases_t

p = purchases_t.c


def iter_products(engine: Engine, *, include_refunded: bool = False, page_size: int = 200) -> Iterator[dict[str, Any]]:
    """Every indexed product (per account and mode) with customers and revenue per currency.

    One row per (product, account, mode, currency), ordered by product; keyset pages so memory
    stays flat. Counting refunded purchases too means summing ``purchases``; without them the
    sums are kept in ``product_totals``.
    """
    if not include_refunded:
        yield from _iter_product_totals(engine, page_size)
        return
    key = tuple_(p.product_id, p.account, p.livemode)
    where: list[ColumnElement[bool]] = [p.product_id.is_not(None)]
    after: tuple[str, str, bool] | None = None
    while True:
        with transaction(engine) as conn:
            page = select(p.product_id, p.account, p.livemode).where(*where)
            if after is not None:
                page = page.where(key > tuple_(*after))
            groups = conn.execute(
                page.group_by(p.product_id, p.account, p.livemode)
                .order_by(p.product_id, p.account, p.livemode)
                .limit(page_size)
            ).all()
            if not groups:
                return
            first, last = groups[0], groups[-1]
            pr = products_t.c
            rows = conn.execute(
                select(
                    p.product_id, p.account, p.livemode, p.currency,
                    func.max(pr.name).label("name"),
                    func.count(distinct(p.customer_key)).label("customers"),
                    func.count(distinct(p.payment_key)).label("purchases"),
                    func.sum(p.quantity).label("quantity"),
                    func.sum(p.amount_total).label("amount_total"),
                    func.sum(p.amount_refunded).label("amount_refunded"),
                )
                .select_from(purchases_t.outerjoin(products_t, and_(pr.account == p.account, pr.id == p.product_id)))
                .where(*where, key >= tuple_(*first), key <= tuple_(*last))
                .group_by(p.product_id, p.account, p.livemode, p.currency)
                .order_by(p.product_id, p.account, p.livemode, p.currency)
            ).all()
        yield from map(_product_entry, rows)
        if len(groups) < page_size:
            return
        last_m = last._mapping
        after = (last_m["product_id"], last_m["account"], bool(last_m["livemode"]))


def _iter_product_totals(engine: Engine, page_size: int) -> Iterator[dict[str, Any]]:
    """``iter_products`` without refunded purchases: the rows of ``product_totals`` (kept by
    triggers, migration ``0004_rollups``), keyset pages over its primary key."""
    totals, pr = product_totals_t.c, products_t.c
    key = tuple_(totals.product_id, totals.account, totals.livemode, totals.currency)
    after: tuple[Any, ...] | None = None
    while True:
        query = (
            select(
                totals.product_id, totals.account, totals.livemode, totals.currency, pr.name, totals.customers,
                totals.purchases, totals.quantity, totals.amount_total, totals.amount_refunded,
            )
            .select_from(product_totals_t.outerjoin(
                products_t, and_(pr.account == totals.account, pr.id == totals.product_id)))
            .order_by(totals.product_id, totals.account, totals.livemode, totals.currency)
            .limit(page_size)
        )
        if after is not None:
            query = query.where(key > tuple_(*after))
        with transaction(engine) as conn:
            rows = conn.execute(query).all()
        yield from map(_product_entry, rows)
        if len(rows) < page_size:
            return
        after = tuple(rows[-1])[:4]


def _product_entry(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "product_id": m["product_id"],
        "name": m["name"],
        "account": m["account"],
        "livemode": bool(m["livemode"]),
        "currency": m["currency"],
        "customers": int(m["customers"]),
        "purchases": int(m["purchases"]),
        "quantity": int(m["quantity"]),
        "amount_total": int(m["amount_total"]),
        "amount_refunded": int(m["amount_refunded"]),
    }




# --- /v1/products: one entry per product, amounts per currency --------------------------------


def account_livemode(conn: Connection, account: str) -> bool:
    """The mode to list an account's products in when the request names none: live if the
    account has any live sale (one not fully refunded), else test. Read from ``product_totals``,
    a row per product and currency, so it stays cheap however many purchases there are."""
    pt = product_totals_t.c
    live = conn.execute(
        select(pt.product_id).where(pt.account == account, pt.livemode.is_(True)).limit(1)
    ).first()
    return live is not None


def products_list(conn: Connection, filters: Filters, page: Page) -> PageResult:
    """One page of an account's products that sold, ordered by product id, each with its
    customers and revenue per currency (``amounts``): the entries of ``/v1/products``.

    The same figures as ``iter_products`` (``indexer products``), per product rather than per
    line: the rollup ``product_totals`` in the usual case, sums over ``purchases`` for a
    ``created`` window or with ``include_refunded``. The cursors are product ids.
    """
    livemode = account_livemode(conn, filters.account) if filters.livemode is None else filters.livemode
    if filters.include_refunded or filters.created.bounds():
        rows, customers, has_more = _summed_from_purchases(conn, filters, livemode, page)
    else:
        rows, customers, has_more = _read_from_rollups(conn, filters.account, livemode, page)
    pr = products_t.c
    ids = list(dict.fromkeys(row.product_id for row in rows))
    names = dict(
        conn.execute(select(pr.id, pr.name).where(pr.account == filters.account, pr.id.in_(ids))).all()
    ) if ids else {}
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.product_id, []).append(row)
    data = [
        product_summary(product_id, names.get(product_id), filters.account, livemode, grouped[product_id],
                        customers.get(product_id))
        for product_id in ids
    ]
    return PageResult(data, has_more, livemode)


def _read_from_rollups(conn: Connection, account: str, livemode: bool, page: Page) -> tuple[list[Any], dict[str, int], bool]:
    """A page's rows of ``product_totals`` (one per product and currency), and the number of
    distinct customers of each product that sold in several currencies (one per currency is
    that currency's count): the rollup ``product_customer_counts``."""
    pt = product_totals_t.c
    scope = [pt.account == account, pt.livemode == livemode]
    rows = conn.execute(
        select(
            pt.product_id, pt.currency, pt.customers, pt.purchases, pt.quantity, pt.amount_total, pt.amount_refunded,
            pt.first_purchased_at, pt.last_purchased_at,
        )
        .where(*scope, pt.product_id.in_(next_keys(pt.product_id, scope, page)))
        .order_by(pt.product_id, pt.currency)
    ).all()
    rows, has_more = trim_extra_key(rows, page)
    return rows, several_currency_customers(conn, account, livemode, [row.product_id for row in rows]), has_more


def several_currency_customers(conn: Connection, account: str, livemode: bool, product_ids: Sequence[str]) -> dict[str, int]:
    """The distinct customers of each product in ``product_ids`` (one id per ``product_totals``
    row) that sold in several currencies: adding the currencies' counts would count twice a buyer
    who paid in two. Read from the rollup ``product_customer_counts`` (one row per product, kept
    with the customer rows), not counted over the product's buyers. A product sold in one
    currency is left out: its one row of ``product_totals`` holds the count."""
    several = [product_id for product_id, currencies in Counter(product_ids).items() if currencies > 1]
    if not several:
        return {}
    cc = customer_counts_t.c
    return {
        product_id: int(count)
        for product_id, count in conn.execute(
            select(cc.product_id, cc.customers)
            .where(cc.account == account, cc.livemode == livemode, among(conn, cc.product_id, several))
        )
    }


def _summed_from_purchases(
    conn: Connection, filters: Filters, livemode: bool, page: Page
) -> tuple[list[Any], dict[str, int], bool]:
    """``_read_from_rollups`` summed from ``purchases``, for what the rollups do not keep: a
    ``created`` window, or fully refunded purchases counted too."""
    where = [p.product_id.is_not(None), *filters.rows(livemode)]
    columns = [func.count(distinct(p.customer_key)).label("customers"), *amount_columns()]
    rows, has_more = grouped_page(conn, p.product_id, where, page, columns)
    ids = list(dict.fromkeys(row.product_id for row in rows))
    customers = {
        product_id: int(count)
        for product_id, count in conn.execute(
            select(p.product_id, func.count(distinct(p.customer_key))).where(*where, p.product_id.in_(ids))
            .group_by(p.product_id)
        )
    } if ids else {}
    return rows, customers, has_more


def product_summary(
    product_id: str, name: str | None, account: str, livemode: bool, rows: Sequence[Any], customers: int | None
) -> dict[str, Any]:
    """An entry of ``/v1/products``: totals where adding across currencies means something
    (customers, purchases, quantity, times), revenue only per currency in ``amounts``.

    ``customers`` counts each buyer once, even one who paid in several currencies; it is the
    one currency's count when ``customers`` is None (a product sold in one currency)."""
    amounts = [
        {
            "currency": r.currency, "customers": int(r.customers), "purchases": int(r.purchases),
            "quantity": int(r.quantity), "amount_total": int(r.amount_total),
            "amount_refunded": int(r.amount_refunded), "first_purchased_at": int(r.first_purchased_at),
            "last_purchased_at": int(r.last_purchased_at),
        }
        for r in rows
    ]
    return {
        "id": product_id, "object": "product_summary", "product_id": product_id, "name": name,
        "account": account, "livemode": livemode,
        "customers": amounts[0]["customers"] if customers is None else customers,
        "purchases": sum(a["purchases"] for a in amounts),
        "quantity": sum(a["quantity"] for a in amounts),
        "first_purchased_at": min(a["first_purchased_at"] for a in amounts),
        "last_purchased_at": max(a["last_purchased_at"] for a in amounts),
        "amounts": amounts,
    }


def iter_product_summaries(engine: Engine, filters: Filters, *, page_size: int = 200) -> Iterator[dict[str, Any]]:
    """Every entry of ``/v1/products`` for these filters (``products_list``, page after page)."""
    return walk_pages(engine, products_list, filters, page_size=page_size)
