"""Every product the index holds, with its customers and revenue per currency (``indexer products``,
``/v1/products``).

One line per (product, account, mode, currency): amounts in different currencies are never
added. Without refunded purchases the sums are the rollup ``product_totals`` (kept by triggers);
counting them, or a ``created`` window, sums ``purchases``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, and_, distinct, func, select, tuple_
from sqlalchemy.sql import ColumnElement

from indexer.db import transaction
from indexer.models import product_totals_t, products_t, purchases_t

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


