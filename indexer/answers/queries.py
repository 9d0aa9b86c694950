"""Every read the query API, the dashboard, the CLI and the reports make: keyset pages, never OFFSET.

SQLAlchemy Core over ``purchases`` and ``products``, the same statements on PostgreSQL and
SQLite. A page costs the same whether it is the first, a middle or the last one: each query
walks an index from the cursor and stops after ``limit + 1`` entries.

Entries group rows, and amounts in different currencies are never added together:

* a customer entry (``/v1/products/{id}/customers``) is one per customer, ``id`` being the
  purchases' ``customer_key`` (the ``cus_...`` id, or ``guest_...`` derived from the lower-cased
  email of a guest checkout). Its ``amounts`` list holds one element per currency, exactly the
  customer's rows of the SQL view ``product_customers``; ``amount_total`` and ``currency`` are
  that single element's when the customer paid in one currency (the usual case), and ``null``
  when in several.
* a product entry (``/v1/customers/{customer}/products``) is the same, turned around: one per
  product, ``id`` being the product id.
* a purchase entry is a ``purchases`` row, newest first (``purchased_at``, then ``id``).

Fully refunded purchases are left out unless ``include_refunded``; partly refunded ones count,
with their ``amount_refunded``. Accounts (``""`` is the platform) and modes never mix: every
query names one account and one ``livemode``.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    distinct,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.sql import ColumnElement, Select

from indexer.db import transaction
from indexer.errors import NotFound, UsageError
from indexer.index.mapping import guest_key
from indexer.models import (
    ProductDailyTotal,
    customer_totals_t,
    product_totals_t,
    products_t,
    purchases_t,
)

p = purchases_t.c
t = customer_totals_t.c

MAX_LIMIT = 100

PURCHASE_FIELDS = (
    "id", "account", "livemode", "source_type", "source_id", "line_item_id", "payment_key",
    "product_id", "price_id", "customer_id", "customer_key", "email", "name", "description",
    "quantity", "currency", "amount_subtotal", "amount_total", "amount_refunded", "refunded",
    "disputed", "purchased_at", "payment_intent", "invoice", "subscription", "payment_link",
    "checkout_session", "updated_at",
)


class ResourceMissing(NotFound):
    """No such product or customer in the index (Stripe's ``resource_missing``)."""

    code = "resource_missing"


@dataclass(frozen=True, slots=True)
class Created:
    """Bounds on the purchase time (Unix seconds), as Stripe's ``created[gte|gt|lte|lt]``."""

    gte: int | None = None
    gt: int | None = None
    lte: int | None = None
    lt: int | None = None

    def bounds(self) -> dict[str, int]:
        """The bounds given, by operator name (``gte``...)."""
        return {op: value for op in BOUNDS if (value := getattr(self, op)) is not None}

    def clauses(self, column: Any) -> list[ColumnElement[bool]]:
        return [BOUNDS[op](column, value) for op, value in self.bounds().items()]


BOUNDS: dict[str, Callable[[Any, Any], Any]] = {
    "gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt,
}


@dataclass(frozen=True, slots=True)
class Page:
    """Where a page starts: at most one cursor, the ``id`` of an entry of the previous page."""

    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None

    def __post_init__(self) -> None:
        if self.starting_after is not None and self.ending_before is not None:
            raise UsageError(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        if not 1 <= self.limit <= 1000:
            raise UsageError("limit must be between 1 and 1000", param="limit")

    @property
    def backwards(self) -> bool:
        return self.ending_before is not None

    @property
    def cursor(self) -> str | None:
        return self.ending_before if self.backwards else self.starting_after


@dataclass(frozen=True, slots=True)
class Filters:
    """What every list shares: one account, one mode (None: the mode of the data present)."""

    account: str = ""
    livemode: bool | None = None
    created: Created = Created()
    include_refunded: bool = False

    def rows(self, livemode: Any) -> list[ColumnElement[bool]]:
        """Row conditions; ``livemode`` is a bool, or an expression deciding it in SQL."""
        where = [p.account == self.account, p.livemode == livemode, *self.created.clauses(p.purchased_at)]
        if not self.include_refunded:
            where.append(p.refunded.is_(False))
        return where


@dataclass(frozen=True, slots=True)
class PageResult:
    data: list[dict[str, Any]]
    has_more: bool
    livemode: bool


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


def _resolve_mode(filters: Filters, found: bool | None, what: str, ident: str) -> bool:
    if found is None:
        raise ResourceMissing(f"No such {what}: '{ident}'", param=what)
    return found if filters.livemode is None else filters.livemode


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


# --- /v1/products/{product}/customers -------------------------------------------------------


def _amount_columns(counted: ColumnElement[bool] | None = None) -> list[Any]:
    """A group's sums, over its rows where ``counted`` holds (all of them when None)."""
    return [
        p.currency,
        _over(func.count(distinct(p.payment_key)), counted).label("purchases"),
        _over(func.sum(p.quantity), counted).label("quantity"),
        _over(func.sum(p.amount_total), counted).label("amount_total"),
        _over(func.sum(p.amount_refunded), counted).label("amount_refunded"),
        _over(func.min(p.purchased_at), counted).label("first_purchased_at"),
        _over(func.max(p.purchased_at), counted).label("last_purchased_at"),
    ]


def _over(aggregate: Any, counted: ColumnElement[bool] | None) -> Any:
    return aggregate if counted is None else aggregate.filter(counted)


def _keyset(key: Any, where: Sequence[ColumnElement[bool]], page: Page) -> Select[Any]:
    """The next ``limit + 1`` distinct keys after (or before) the cursor, walking an index."""
    query = select(key).where(*where).group_by(key)
    if page.cursor is not None:
        query = query.where(key < page.cursor if page.backwards else key > page.cursor)
    order = key.desc() if page.backwards else key.asc()
    return query.order_by(order).limit(page.limit + 1)


def _grouped_page(
    conn: Connection, key: Any, where: Sequence[ColumnElement[bool]], page: Page, columns: Sequence[Any]
) -> tuple[list[Any], bool]:
    """A page's rows, one per key and currency, in one statement (one round trip).

    The keys come from ``_keyset`` as a subquery (``limit + 1`` of them, to learn ``has_more``).
    """
    rows = conn.execute(
        select(key, p.livemode, *columns)
        .where(*where, key.in_(_keyset(key, where, page)))
        .group_by(key, p.currency, p.livemode)
        .order_by(key, p.currency)
    ).all()
    return _trim(rows, page)


def _trim(rows: list[Any], page: Page) -> tuple[list[Any], bool]:
    """Drop the rows of the extra key (the one beyond the page, read to learn ``has_more``)."""
    keys = list(dict.fromkeys(row[0] for row in rows))
    has_more = len(keys) > page.limit
    if has_more:
        extra = keys[0] if page.backwards else keys[-1]
        rows = [row for row in rows if row[0] != extra]
    return rows, has_more


def _product_mode(product_id: Any, account: Any) -> Any:
    """``product_livemode``'s probe as a subquery, so that a page costs one statement."""
    return (
        select(p.livemode)
        .where(p.product_id == product_id, p.account == account)
        .order_by(p.product_id, p.account, p.livemode.desc())
        .limit(1)
        .scalar_subquery()
    )


WINDOW_CAP = 450
"""A ``created`` window with fewer purchase rows than ``WINDOW_CAP * sqrt(limit + 1)`` is read
whole to find a page's keys; a wider one is found by walking customers. Reading a window costs
a little less per row than walking, which reads ``(limit + 1) / share`` rows: the line balances
the two, so that neither read is slow for any window (``bench/query_api.py`` times the worst
one, just past the line)."""


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
    if not include_refunded and not bounds:
        return _customer_totals_statement(product, account, mode, cursor)
    scope = [p.product_id == product, p.account == account, p.livemode == mode]
    window = _window(bounds)
    if not include_refunded:
        window.append(p.refunded.is_(False))
    key = p.customer_key
    counted = and_(*window) if bounds else None
    if counted is None:
        keys = _page_keys(key, [*scope, *window], cursor)
    elif narrow:
        rows = select(key).where(*scope, *window).cte("window_rows").prefix_with("MATERIALIZED")
        keys = _page_keys(rows.c.customer_key, [], cursor)
    else:
        keys = _page_keys(key, scope, cursor, having=func.count().filter(counted) > 0)
    page = (
        select(
            key, p.livemode,
            _over(func.max(p.customer_id), counted).label("customer"),
            _over(func.max(p.email), counted).label("email"),
            _over(func.max(p.name), counted).label("name"),
            *_amount_columns(counted),
        )
        .where(*scope, key.in_(keys))
        .group_by(key, p.currency, p.livemode)
        .order_by(key, p.currency)
    )
    if counted is None:
        return page.where(*window)
    return page.having(func.count().filter(counted) > 0)


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


def _page_keys(
    key: Any, where: Sequence[ColumnElement[bool]], cursor: str | None, having: ColumnElement[bool] | None = None
) -> Select[Any]:
    """The ``:keys`` distinct keys after (or before) the ``:cursor`` parameter, walking an index."""
    keys = select(key).where(*where).group_by(key)
    if having is not None:
        keys = keys.having(having)
    if cursor is not None:
        position = bindparam("cursor", type_=key.type)
        keys = keys.where(key < position if cursor == "before" else key > position)
    keys = keys.order_by(key.desc() if cursor == "before" else key.asc())
    return keys.limit(bindparam("keys", type_=Integer(), literal_execute=True))


def _customer_totals_statement(product: Any, account: Any, mode: Any, cursor: str | None) -> Any:
    """The usual page (no date range, refunded purchases left out): the rows of
    ``product_customer_totals``, which triggers keep equal to the aggregate over ``purchases``
    (migration ``0004_rollups``), so a page reads ``limit + 1`` customers' rows and sums nothing.

    The page's keys are consecutive, so their rows are read as the range between the first and
    the last: a plan made once for every cursor (the web app's generic plans) cannot walk the
    product's customers from its first one up to the cursor, as an ``IN`` could.
    """
    where = [t.product_id == product, t.account == account, t.livemode == mode]
    key = t.customer_key
    page = _page_keys(key, where, cursor).cte("page_keys")
    first = select(func.min(page.c.customer_key)).scalar_subquery()
    last = select(func.max(page.c.customer_key)).scalar_subquery()
    return (
        select(
            key, t.livemode, t.customer, t.email, t.name, t.currency, t.purchases, t.quantity, t.amount_total,
            t.amount_refunded, t.first_purchased_at, t.last_purchased_at,
        )
        .where(*where, key >= first, key <= last)
        .order_by(key, t.currency)
    )


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
    rows, has_more = _trim(conn.execute(statement, params).all(), page)
    if rows:
        livemode = bool(rows[0].livemode)
    else:
        livemode = _resolve_mode(filters, product_livemode(conn, product_id, filters.account), "product", product_id)
    head = {"object": "product_customer", "account": filters.account, "livemode": livemode, "product_id": product_id}
    return PageResult(_entries(rows, "customer_key", head, ("customer", "email", "name")), has_more, livemode)


def _entries(rows: Iterable[Any], key: str, head: dict[str, Any], first_of: Sequence[str]) -> list[dict[str, Any]]:
    """Gather rows (one per key and currency, ordered by key) into one entry per key."""
    out: list[dict[str, Any]] = []
    for row in rows:
        m = row._mapping
        amount = {
            "currency": m["currency"],
            "purchases": int(m["purchases"]),
            "quantity": int(m["quantity"]),
            "amount_total": int(m["amount_total"]),
            "amount_refunded": int(m["amount_refunded"]),
            "first_purchased_at": int(m["first_purchased_at"]),
            "last_purchased_at": int(m["last_purchased_at"]),
        }
        if out and out[-1]["id"] == m[key]:
            entry = out[-1]
            for name in first_of:
                entry[name] = _max(entry[name], m[name])
            entry["amounts"].append(amount)
            continue
        entry = {"id": m[key], **head}
        for name in first_of:
            entry[name] = m[name]
        entry["amounts"] = [amount]
        out.append(entry)
    for entry in out:
        _summarise(entry)
    return out


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _summarise(entry: dict[str, Any]) -> None:
    """Totals across currencies where adding is meaningful; amounts only within one currency."""
    amounts = entry.pop("amounts")
    single = amounts[0] if len(amounts) == 1 else None
    entry.update(
        purchases=sum(a["purchases"] for a in amounts),
        quantity=sum(a["quantity"] for a in amounts),
        amount_total=single["amount_total"] if single else None,
        amount_refunded=single["amount_refunded"] if single else None,
        currency=single["currency"] if single else None,
        first_purchased_at=min(a["first_purchased_at"] for a in amounts),
        last_purchased_at=max(a["last_purchased_at"] for a in amounts),
        amounts=amounts,
    )


def iter_product_customers(
    engine: Engine, product_id: str, filters: Filters, *, page_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Every customer of a product, one keyset page (and one short transaction) at a time.

    Memory stays flat however many buyers the product has. The mode is settled once, by the
    first page, so that a live row arriving mid-walk cannot switch modes half-way.
    """
    cursor: str | None = None
    while True:
        with transaction(engine) as conn:
            result = product_customers(conn, product_id, filters, Page(limit=page_size, starting_after=cursor))
        yield from result.data
        if not result.has_more or not result.data:
            return
        cursor = result.data[-1]["id"]
        filters = Filters(filters.account, result.livemode, filters.created, filters.include_refunded)


# --- /v1/products/{product}/purchases -------------------------------------------------------


def product_purchases(conn: Connection, product_id: str, filters: Filters, page: Page) -> PageResult:
    """One page of a product's purchase rows, newest first, like Stripe's lists.

    The cursor is a row ``id``; its ``(purchased_at, id)`` is the position, so a page starts
    exactly where the last one ended even when many rows share a second.
    """
    livemode = _resolve_mode(filters, product_livemode(conn, product_id, filters.account), "product", product_id)
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


# --- /v1/customers/{customer}/products ------------------------------------------------------


def customer_products(conn: Connection, customer: str, filters: Filters, page: Page) -> PageResult:
    """One page of the products a buyer (``cus_...``, entry ``id`` or email) bought, by product id."""
    livemode = _resolve_mode(filters, customer_livemode(conn, customer, filters.account), "customer", customer)
    where = [customer_match(customer), p.product_id.is_not(None), *filters.rows(livemode)]
    columns = [func.max(p.customer_id).label("customer"), func.max(p.email).label("email"), *_amount_columns()]
    rows, has_more = _grouped_page(conn, p.product_id, where, page, columns)
    pr = products_t.c
    keys = list(dict.fromkeys(row[0] for row in rows))
    names = dict(
        conn.execute(select(pr.id, pr.name).where(pr.account == filters.account, pr.id.in_(keys))).all()
    ) if keys else {}
    head = {"object": "customer_product", "account": filters.account, "livemode": livemode}
    entries = _entries(rows, "product_id", head, ("customer", "email"))
    for entry in entries:
        entry["product_id"] = entry["id"]
        entry["product_name"] = names.get(entry["id"])
    return PageResult(entries, has_more, livemode)


# --- indexer products -----------------------------------------------------------------------


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


# --- the dashboard: products list, one product's totals and daily sales ---------------------

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
    rows = select(totals.c.product_id, key.label("sort_key"), func.count().over().label("total")).select_from(
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
    return {
        product_id: _overview(product_id, group[0].name, account, livemode, group)
        for product_id, group in grouped.items()
    }


def _overview(product_id: str, name: str | None, account: str, livemode: bool, rows: Sequence[Any]) -> dict[str, Any]:
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
        "customers": sum(a["customers"] for a in amounts), "purchases": sum(a["purchases"] for a in amounts),
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
