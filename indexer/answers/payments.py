"""Reads the reports make: a payment's lines by PaymentIntent, invoice or charge, and a month's
purchases, refunds and disputes.

A report row names a payment by its PaymentIntent, invoice or charge (or only by its balance
transaction); these functions answer many of them at once (one statement per kind and batch),
so enriching a file costs a few statements per thousand rows. Ids are unique across modes, so
lookups by id name the account only; the month's reads name the mode too.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, or_, select, union_all

from indexer import db
from indexer.models import (
    balance_transactions_t,
    disputes_t,
    products_t,
    purchases_t,
    refunds_t,
)

p = purchases_t.c
pr = products_t.c
bt = balance_transactions_t.c

LIVE_REFUND_STATUSES = ("succeeded", "pending", "requires_action")


class PaymentLine(NamedTuple):
    """One purchase row of a payment, with its product's name when the index knows it."""

    payment_key: str
    product_id: str | None
    product_name: str | None
    price_id: str | None
    quantity: int
    amount_total: int
    currency: str
    customer_id: str | None
    email: str | None
    name: str | None
    checkout_session: str | None
    description: str | None
    payment_intent: str | None
    invoice: str | None
    purchased_at: int


@dataclass(frozen=True, slots=True)
class BalanceSource:
    """What is known of a balance transaction: its source and the payment behind it."""

    id: str
    reporting_category: str
    source_id: str | None
    charge: str | None
    payment_intent: str | None


_PRODUCT_NAME = (select(pr.name).where(pr.account == p.account, pr.id == p.product_id)
                 .scalar_subquery().label("product_name"))
_LINE_COLUMNS = (
    p.payment_key, p.product_id, _PRODUCT_NAME, p.price_id, p.quantity,
    p.amount_total, p.currency, p.customer_id, p.email, p.name, p.checkout_session,
    p.description, p.payment_intent, p.invoice, p.purchased_at,
)


def _lines(conn: Connection, account: str, where: Any) -> list[PaymentLine]:
    """Lines in the order they were written (a source's lines in its own order)."""
    rows = conn.execute(
        select(*_LINE_COLUMNS).where(p.account == account, where).order_by(p.id)
    ).all()
    make = PaymentLine._make
    return [make(row) for row in rows]


def _by(lines: Iterable[PaymentLine], key: str) -> dict[str, list[PaymentLine]]:
    """Lines grouped by ``key``; of a key shared by two payments (never expected), the first."""
    found: dict[str, list[PaymentLine]] = {}
    owner: dict[str, str] = {}
    for line in lines:
        value = getattr(line, key)
        if value is None:
            continue
        if owner.setdefault(value, line.payment_key) == line.payment_key:
            found.setdefault(value, []).append(line)
    return found


def lines_by_payment_intent(conn: Connection, account: str, intents: Sequence[str]
                            ) -> dict[str, list[PaymentLine]]:
    """The indexed lines of each PaymentIntent's payment (absent when not indexed)."""
    if not intents:
        return {}
    return _by(_lines(conn, account, db.among(conn, p.payment_intent, intents)), "payment_intent")


def lines_by_invoice(conn: Connection, account: str, invoices: Sequence[str]
                     ) -> dict[str, list[PaymentLine]]:
    if not invoices:
        return {}
    return _by(_lines(conn, account, db.among(conn, p.invoice, invoices)), "invoice")


class PartLine(NamedTuple):
    """What enrichment shows of one purchase row of a payment (its product named apart, once
    per product: ``product_names``)."""

    product_id: str | None
    price_id: str | None
    quantity: int
    amount_total: int
    customer_id: str | None
    email: str | None
    name: str | None
    checkout_session: str | None
    description: str | None


_PART_COLUMNS = (p.payment_key, p.product_id, p.price_id, p.quantity, p.amount_total,
                 p.customer_id, p.email, p.name, p.checkout_session, p.description)
_KEYED = {"payment_intent": p.payment_intent, "invoice": p.invoice}


def part_lines(conn: Connection, account: str, key: str, values: Sequence[str]
               ) -> dict[str, list[PartLine]]:
    """The indexed lines of each payment named by ``key`` (``payment_intent`` or ``invoice``),
    in the order they were written; absent when not indexed. Enrichment reads this for every
    row of a report, so it reads no product name per line (a report names a few products
    again and again) and makes plain tuples, not a row object per line."""
    if not values:
        return {}
    column = _KEYED[key]
    result = conn.execute(
        select(column, *_PART_COLUMNS).where(p.account == account, db.among(conn, column, values))
        .order_by(column, p.id)  # the index's own order: no sort on SQLite
    )
    found: dict[str, list[PartLine]] = {}
    new = tuple.__new__
    for value, group in itertools.groupby(result.all(), _FIRST):
        rows = list(group)
        owner = rows[0][1]  # a key shared by two payments (never expected): the first
        found[value] = [new(PartLine, row[2:]) for row in rows if row[1] == owner]
    return found


_FIRST = operator.itemgetter(0)


def intents_by_charge(conn: Connection, account: str, charges: Sequence[str]) -> dict[str, str]:
    """The PaymentIntent of each charge the index has met: through a balance transaction, a
    refund or a dispute of it."""
    if not charges:
        return {}
    r, d = refunds_t.c, disputes_t.c
    statement = union_all(*(
        select(col_charge.label("charge"), col_intent.label("payment_intent"))
        .where(col_account == account, db.among(conn, col_charge, charges),
               col_intent.is_not(None))
        for col_charge, col_intent, col_account in (
            (bt.charge, bt.payment_intent, bt.account),
            (r.charge, r.payment_intent, r.account),
            (d.charge, d.payment_intent, d.account),
        )
    ))
    return {charge: intent for charge, intent in conn.execute(statement)}


def charges_of_sources(conn: Connection, account: str, sources: Sequence[str]
                       ) -> dict[str, tuple[str | None, str | None]]:
    """``source id -> (charge, PaymentIntent)`` for refunds and disputes in the index."""
    if not sources:
        return {}
    found: dict[str, tuple[str | None, str | None]] = {}
    for table in (refunds_t, disputes_t):
        c = table.c
        rows = conn.execute(select(c.id, c.charge, c.payment_intent)
                            .where(c.account == account, db.among(conn, c.id, sources)))
        found.update((row.id, (row.charge, row.payment_intent)) for row in rows)
    return found


def balance_sources(conn: Connection, account: str, ids: Sequence[str]) -> dict[str, BalanceSource]:
    """The balance transactions among ``ids`` that the index has kept."""
    if not ids:
        return {}
    rows = conn.execute(
        select(bt.id, bt.reporting_category, bt.source_id, bt.charge, bt.payment_intent)
        .where(bt.account == account, db.among(conn, bt.id, ids))
    )
    return {row.id: BalanceSource(*row) for row in rows}


def product_names(conn: Connection, account: str, product_ids: Sequence[str]) -> dict[str, str]:
    if not product_ids:
        return {}
    rows = conn.execute(select(pr.id, pr.name)
                        .where(pr.account == account, db.among(conn, pr.id, product_ids)))
    return {row.id: row.name for row in rows if row.name}


def index_livemode(conn: Connection, account: str) -> bool:
    """The mode to read when none was asked: live if the index holds live purchases."""
    found = conn.execute(
        select(p.livemode).where(p.account == account, p.livemode.is_(True)).limit(1)
    ).first()
    return found is not None


# --- a month, from the index alone -----------------------------------------------------------


def month_lines(conn: Connection, account: str, livemode: bool, start: int, end: int
                ) -> Iterator[PaymentLine]:
    """Purchase rows paid in ``[start, end)``, by time."""
    rows = conn.execution_options(yield_per=1000).execute(
        select(*_LINE_COLUMNS)
        .where(p.account == account, p.livemode == livemode, p.purchased_at >= start,
               p.purchased_at < end)
        .order_by(p.purchased_at, p.id)
    )
    for row in rows:
        yield PaymentLine(*row)


@dataclass(frozen=True, slots=True)
class MoneyBack:
    """A refund or dispute of the month: money that left with a payment."""

    kind: str
    id: str
    charge: str | None
    payment_intent: str | None
    amount: int
    currency: str
    created: int
    reason: str | None


def month_money_back(conn: Connection, account: str, livemode: bool, start: int, end: int
                     ) -> list[MoneyBack]:
    """Refunds (live ones) and disputes (not won) created in ``[start, end)``, by time."""
    r, d = refunds_t.c, disputes_t.c
    refunds = conn.execute(
        select(r.id, r.charge, r.payment_intent, r.amount, r.currency, r.created)
        .where(r.account == account, r.livemode == livemode, r.created >= start,
               r.created < end, r.status.in_(LIVE_REFUND_STATUSES))
    )
    found = [MoneyBack("refund", *row, None) for row in refunds]
    disputes = conn.execute(
        select(d.id, d.charge, d.payment_intent, d.amount, d.currency, d.created, d.reason)
        .where(d.account == account, d.livemode == livemode, d.created >= start,
               d.created < end, or_(d.status.is_(None),
                                    d.status.not_in(("won", "warning_closed", "prevented"))))
    )
    found += [MoneyBack("dispute", *row) for row in disputes]
    found.sort(key=lambda m: (m.created, m.id))
    return found
