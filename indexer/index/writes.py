"""Writes to the purchase index: sources, refunds, disputes, products, balance transactions.

The rows come from the pure mapping (``indexer.index.mapping``); this module decides how they
land. A Checkout Session that created an invoice and that invoice are one payment: the invoice's
rows win whichever arrives first, and the session lends them its ids. Refunds and disputes live
in their own tables and are reconciled onto the purchases of their payment whenever either
side arrives, so the result never depends on the order events are applied in. Webhooks,
catch-up and backfill all write through here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, text

from indexer import db
from indexer.index.mapping import DisputeRow, ProductRow, PurchaseSource, RefundRow, allocate_refund
from indexer.models import balance_transactions_t, disputes_t, products_t, purchases_t, refunds_t

LIVE_REFUND_STATUSES = ("succeeded", "pending", "requires_action")
CLOSED_DISPUTE_STATUSES = ("won", "warning_closed", "prevented")


def indexed_sources(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these ``(account, source_id)`` have rows in the index."""
    keys = list(keys)
    if not keys:
        return set()
    p = purchases_t.c
    rows = conn.execute(
        select(p.account, p.source_id).where(p.source_id.in_([k[1] for k in keys])).distinct()
    ).all()
    return {(r.account, r.source_id) for r in rows} & set(keys)


def _lock_payments(conn: Connection, account: str, payment_keys: Iterable[str]) -> None:
    """Serialise the writers of these payments (a session and its invoice may be applied at
    once, by two workers), taking the locks in a fixed order so writers cannot deadlock."""
    if db.is_postgres(conn):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                 "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"),
            {"keys": sorted({f"{account}:{key}" for key in payment_keys})},
        )


def write_sources(conn: Connection, sources: Sequence[PurchaseSource]) -> None:
    """Make the index hold what each source says, in a handful of statements per hundred.

    Sources that count as purchases are written together: one lock statement for all their
    payments, then invoices take over their sessions' rows, sessions whose invoice is indexed
    lend it their ids, the rest is one delete of vanished lines, one upsert and one reconcile.
    A source that stopped counting loses its rows. Any order gives the same rows.
    """
    latest = {(s.account, s.source_id): s for s in sources}
    batches: dict[str, list[PurchaseSource]] = {}
    removed: dict[str, list[PurchaseSource]] = {}
    for source in latest.values():
        (batches if source.is_purchase else removed).setdefault(source.account, []).append(source)
    for account, gone in removed.items():
        for start in range(0, len(gone), 500):
            _remove_sources(conn, account, gone[start : start + 500])
    for account, group in batches.items():
        for start in range(0, len(group), 100):
            _write_batch(conn, account, group[start : start + 100])


def _write_batch(conn: Connection, account: str, group: list[PurchaseSource]) -> None:
    p = purchases_t.c
    _lock_payments(conn, account, [s.payment_key for s in group])
    rows_of = {s.source_id: [_row_dict(r, s.payment_key) for r in s.rows] for s in group}
    invoices = [s.source_id for s in group if s.source_type == "invoice"]
    if invoices:
        links = {
            inv: (cs, link)
            for inv, cs, link in conn.execute(
                select(p.invoice, p.checkout_session, p.payment_link)
                .where(p.account == account, db.among(conn, p.invoice, invoices), p.checkout_session.is_not(None))
            )
        }
        for inv in invoices:
            if inv in links:
                for row in rows_of[inv]:
                    row["checkout_session"] = row["checkout_session"] or links[inv][0]
                    row["payment_link"] = row["payment_link"] or links[inv][1]
        conn.execute(purchases_t.delete().where(
            (p.account == account) & (p.source_type == "checkout.session") & db.among(conn, p.invoice, invoices)
        ))
    behind_invoice = [s for s in group if s.source_type == "checkout.session" and s.invoice]
    absorbed: list[PurchaseSource] = []
    if behind_invoice:
        wanted = {s.invoice for s in behind_invoice}
        indexed = set(invoices) | {
            sid for (sid,) in conn.execute(
                select(p.source_id).where(p.account == account, db.among(conn, p.source_id, wanted)).distinct()
            )
        }
        absorbed = [s for s in behind_invoice if s.invoice in indexed]
    absorbed_ids = {s.source_id for s in absorbed}
    writing = [s for s in group if s.source_id not in absorbed_ids]
    everyone = (p.account == account) & db.among(conn, p.source_id, [s.source_id for s in group])
    pis = _payment_intents(conn, everyone)
    rows = [row for s in writing for row in rows_of[s.source_id]]
    keep = [(r["source_id"], r["line_item_id"]) for r in rows]
    conn.execute(purchases_t.delete().where(everyone & ~db.pairs_among(conn, (p.source_id, p.line_item_id), keep)))
    if rows:
        db.upsert(conn, purchases_t, rows, ["account", "source_id", "line_item_id"],
               update=[c for c in rows[0] if c not in _NOT_UPDATED])
    lent = {s.invoice: {"source_id": s.invoice, "checkout_session": s.source_id, "payment_link": s.rows[0].payment_link}
            for s in absorbed if s.rows}
    if lent:
        db.update_each(conn, p.source_id, list(lent.values()), ["checkout_session", "payment_link"], p.account == account)
    reconcile_payments(conn, account, pis | {r["payment_intent"] for r in rows if r["payment_intent"]})


def write_source(conn: Connection, source: PurchaseSource) -> None:
    """Make the index hold exactly what ``source`` says, counting each payment once.

    A Checkout Session that created an invoice (subscription mode, ``invoice_creation``) and that
    invoice are one payment. The invoice's rows win whichever arrives first; the session only
    lends them its ``checkout_session`` and ``payment_link``. Applying in any order, any number
    of times, converges to the same rows.
    """
    write_sources(conn, [source])


def _remove_sources(conn: Connection, account: str, sources: Sequence[PurchaseSource]) -> None:
    """Sources that do not (or no longer) count: their rows go, their payments are reconciled.
    All of them in four statements, not four each: most are sessions that expired, many to a
    batch, and each statement costs more than the rows it touches."""
    _lock_payments(conn, account, [s.payment_key for s in sources])
    theirs = (purchases_t.c.account == account) & db.among(conn, purchases_t.c.source_id,
                                                           [s.source_id for s in sources])
    pis = _payment_intents(conn, theirs)
    conn.execute(purchases_t.delete().where(theirs))
    reconcile_payments(conn, account, pis)


_NOT_UPDATED = {"account", "source_id", "line_item_id", "amount_refunded", "refunded", "disputed"}


def _row_dict(row: Any, payment_key: str) -> dict[str, Any]:
    data = _plain(row)
    data["payment_key"] = payment_key
    data["updated_at"] = int(time.time())
    return data


def _payment_intents(conn: Connection, where: Any) -> set[str]:
    p = purchases_t.c
    return {pi for (pi,) in conn.execute(select(p.payment_intent).where(where)) if pi}


def write_refunds(conn: Connection, refunds: Sequence[RefundRow]) -> None:
    rows = [_plain(r) for r in refunds]
    db.upsert(conn, refunds_t, rows, ["id"])
    for account in {r.account for r in refunds}:
        reconcile_payments(conn, account, {r.payment_intent for r in refunds if r.account == account and r.payment_intent})


def write_disputes(conn: Connection, disputes: Sequence[DisputeRow]) -> None:
    rows = [_plain(d) for d in disputes]
    db.upsert(conn, disputes_t, rows, ["id"])
    for account in {d.account for d in disputes}:
        reconcile_payments(conn, account, {d.payment_intent for d in disputes if d.account == account and d.payment_intent})


def write_products(conn: Connection, products: Sequence[ProductRow]) -> None:
    """Upsert products; an older event never overwrites a newer state."""
    newest: dict[tuple[str, str], ProductRow] = {}
    for product in products:
        key = (product.account, product.id)
        if key not in newest or newest[key].updated <= product.updated:
            newest[key] = product
    rows = [_plain(p) for p in newest.values()]
    db.upsert(conn, products_t, rows, ["account", "id"], where=lambda new: products_t.c.updated <= new.updated)


def _plain(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def reconcile_payments(conn: Connection, account: str, payment_intents: Iterable[str]) -> None:
    """Recompute refunded amounts and dispute flags of the purchases of these payments.

    Refunds and disputes live in their own tables, so one that arrives before its purchase is
    kept, and applied whenever the purchase rows appear: the result is independent of order.
    Each payment intent is locked first: a refund and its purchase written at once by two workers
    are then reconciled one after the other, the second seeing what the first committed.
    """
    pis = sorted(set(payment_intents))
    if not pis:
        return
    _lock_payments(conn, account, [f"pi:{pi}" for pi in pis])
    for start in range(0, len(pis), 500):
        chunk = pis[start : start + 500]
        _reconcile_chunk(conn, account, chunk)


def _reconcile_chunk(conn: Connection, account: str, pis: list[str]) -> None:
    p, r, d = purchases_t.c, refunds_t.c, disputes_t.c
    refunded = dict(
        conn.execute(
            select(r.payment_intent, func.sum(r.amount))
            .where(r.account == account, db.among(conn, r.payment_intent, pis), r.status.in_(LIVE_REFUND_STATUSES))
            .group_by(r.payment_intent)
        ).all()
    )
    disputed = {
        pi for (pi,) in conn.execute(
            select(d.payment_intent).where(
                d.account == account, db.among(conn, d.payment_intent, pis), d.status.not_in(CLOSED_DISPUTE_STATUSES)
            )
        )
    }
    rows = conn.execute(
        select(p.id, p.payment_intent, p.amount_total, p.amount_refunded, p.refunded, p.disputed)
        .where(p.account == account, db.among(conn, p.payment_intent, pis))
        .order_by(p.payment_intent, p.id)
    ).all()
    by_pi: dict[str, list[Any]] = {}
    for row in rows:
        by_pi.setdefault(row.payment_intent, []).append(row)
    changes = []
    for pi, group in by_pi.items():
        totals = [row.amount_total for row in group]
        shares = allocate_refund(int(refunded.get(pi) or 0), totals)
        fully = sum(totals) > 0 and int(refunded.get(pi) or 0) >= sum(totals)
        for row, share in zip(group, shares, strict=True):
            new = (share, fully, pi in disputed)
            if (row.amount_refunded, bool(row.refunded), bool(row.disputed)) != new:
                changes.append({"id": row.id, "amount_refunded": new[0], "refunded": new[1], "disputed": new[2]})
    if changes:
        db.update_each(conn, p.id, changes, ["amount_refunded", "refunded", "disputed"])


def write_balance_transactions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep what Stripe said of balance transactions (``account``, ``id``, ``livemode``,
    ``created``, ``reporting_category``, ``source_id``, ``charge``, ``payment_intent``): a
    transaction's source never changes, so a row once written is final."""
    db.upsert(conn, balance_transactions_t, rows, ["account", "id"], update=[])
