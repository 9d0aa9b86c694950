"""One customer: the products a buyer bought (``/v1/customers/{customer}/products``, ``indexer customer``).

A buyer is named by a ``cus_...`` id, by a customer entry's ``id`` (``guest_...``), or by an
email, which matches guest checkouts and Customer objects alike, case-insensitively: the same
person often buys once as a guest and once signed in.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select
from sqlalchemy.sql import ColumnElement

from indexer.answers.lists import (
    Filters,
    Page,
    PageResult,
    amount_columns,
    gather_entries,
    grouped_page,
    resolve_mode,
    walk_pages,
)
from indexer.index.mapping import guest_key
from indexer.models import products_t, purchases_t

p = purchases_t.c

def customer_match(customer: str) -> ColumnElement[bool]:
    """Rows of a buyer named by ``cus_...`` id, by an entry ``id`` (``guest_...``), or by email.

    An email matches guest checkouts (by their key, derived from the lower-cased email) and
    Customer objects with that email alike, case-insensitively.
    """
    if "@" in customer:
        email = customer.lower()
        return or_(p.customer_key == guest_key(email), func.lower(p.email) == email)
    return p.customer_key == customer


def customer_livemode(conn: Connection, customer: str, account: str) -> bool | None:
    """Like ``product_livemode``, for a buyer: None when no purchase of theirs is indexed."""
    modes = {
        bool(m)
        for (m,) in conn.execute(
            select(p.livemode).where(customer_match(customer), p.account == account).distinct()
        )
    }
    return None if not modes else (True in modes)



def customer_products(conn: Connection, customer: str, filters: Filters, page: Page) -> PageResult:
    """One page of the products a buyer (``cus_...``, entry ``id`` or email) bought, by product id."""
    livemode = resolve_mode(filters, customer_livemode(conn, customer, filters.account), "customer", customer)
    where = [customer_match(customer), p.product_id.is_not(None), *filters.rows(livemode)]
    columns = [func.max(p.customer_id).label("customer"), func.max(p.email).label("email"), *amount_columns()]
    rows, has_more = grouped_page(conn, p.product_id, where, page, columns)
    pr = products_t.c
    keys = list(dict.fromkeys(row[0] for row in rows))
    names = dict(
        conn.execute(select(pr.id, pr.name).where(pr.account == filters.account, pr.id.in_(keys))).all()
    ) if keys else {}
    head = {"object": "customer_product", "account": filters.account, "livemode": livemode}
    entries = gather_entries(rows, "product_id", head, ("customer", "email"))
    for entry in entries:
        entry["product_id"] = entry["id"]
        entry["product_name"] = names.get(entry["id"])
    return PageResult(entries, has_more, livemode)




def iter_customer_products(engine: Engine, customer: str, filters: Filters, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
    """Every product a buyer bought (``customer_products``, page after page): ``indexer customer``
    and the API's CSV."""
    return walk_pages(engine, functools.partial(_products_of, customer), filters, page_size=page_size)


def _products_of(customer: str, conn: Connection, filters: Filters, page: Page) -> PageResult:
    return customer_products(conn, customer, filters, page)
