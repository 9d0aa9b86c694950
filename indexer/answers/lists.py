"""What every list of the query API, the dashboard and the CLI shares: filters, pages, keyset reads.

A list names one account (``""`` is the platform) and one ``livemode``: they never mix. A page
is found by walking an index from its cursor for ``limit + 1`` keys, never by OFFSET, so the
last page costs what the first does. Rows come one per key and currency; ``gather_entries``
makes them one entry per key with an ``amounts`` list, because amounts in different currencies
are never added together (``amount_total`` and ``currency`` are set only for one currency).
Fully refunded purchases are left out unless ``include_refunded``; partly refunded ones count.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, Integer, bindparam, distinct, func, select
from sqlalchemy.sql import ColumnElement, Select

from indexer.db import transaction
from indexer.errors import NotFound, UsageError
from indexer.models import purchases_t

p = purchases_t.c

MAX_LIMIT = 100
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


def resolve_mode(filters: Filters, found: bool | None, what: str, ident: str) -> bool:
    if found is None:
        raise ResourceMissing(f"No such {what}: '{ident}'", param=what)
    return found if filters.livemode is None else filters.livemode


def amount_columns(counted: ColumnElement[bool] | None = None) -> list[Any]:
    """A group's sums, over its rows where ``counted`` holds (all of them when None)."""
    return [
        p.currency,
        counted_only(func.count(distinct(p.payment_key)), counted).label("purchases"),
        counted_only(func.sum(p.quantity), counted).label("quantity"),
        counted_only(func.sum(p.amount_total), counted).label("amount_total"),
        counted_only(func.sum(p.amount_refunded), counted).label("amount_refunded"),
        counted_only(func.min(p.purchased_at), counted).label("first_purchased_at"),
        counted_only(func.max(p.purchased_at), counted).label("last_purchased_at"),
    ]


def counted_only(aggregate: Any, counted: ColumnElement[bool] | None) -> Any:
    return aggregate if counted is None else aggregate.filter(counted)


def next_keys(key: Any, where: Sequence[ColumnElement[bool]], page: Page) -> Select[Any]:
    """The next ``limit + 1`` distinct keys after (or before) the cursor, walking an index."""
    query = select(key).where(*where).group_by(key)
    if page.cursor is not None:
        query = query.where(key < page.cursor if page.backwards else key > page.cursor)
    order = key.desc() if page.backwards else key.asc()
    return query.order_by(order).limit(page.limit + 1)


def grouped_page(
    conn: Connection, key: Any, where: Sequence[ColumnElement[bool]], page: Page, columns: Sequence[Any]
) -> tuple[list[Any], bool]:
    """A page's rows, one per key and currency, in one statement (one round trip).

    The keys come from ``next_keys`` as a subquery (``limit + 1`` of them, to learn ``has_more``).
    """
    rows = conn.execute(
        select(key, p.livemode, *columns)
        .where(*where, key.in_(next_keys(key, where, page)))
        .group_by(key, p.currency, p.livemode)
        .order_by(key, p.currency)
    ).all()
    return trim_extra_key(rows, page)


def trim_extra_key(rows: list[Any], page: Page) -> tuple[list[Any], bool]:
    """Drop the rows of the extra key (the one beyond the page, read to learn ``has_more``)."""
    keys = list(dict.fromkeys(row[0] for row in rows))
    has_more = len(keys) > page.limit
    if has_more:
        extra = keys[0] if page.backwards else keys[-1]
        rows = [row for row in rows if row[0] != extra]
    return rows, has_more


def page_keys(
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


def gather_entries(rows: Iterable[Any], key: str, head: dict[str, Any], first_of: Sequence[str]) -> list[dict[str, Any]]:
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




PageReader = Callable[[Connection, Filters, Page], PageResult]


def walk_pages(engine: Engine, read_page: PageReader, filters: Filters, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
    """Every entry of a list, one keyset page (and one short transaction) at a time, following
    the cursors as a Stripe client does: memory stays flat however long the list.

    Pages are read only as the entries are consumed, so a CSV streams while it is read. The
    mode is settled once, by the first page, so that a live row arriving mid-walk cannot switch
    modes half-way.
    """
    cursor: str | None = None
    while True:
        with transaction(engine) as conn:
            result = read_page(conn, filters, Page(limit=page_size, starting_after=cursor))
        yield from result.data
        if not result.has_more or not result.data:
            return
        cursor = str(result.data[-1]["id"])
        filters = replace(filters, livemode=result.livemode)
