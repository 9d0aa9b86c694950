"""Balance transactions for a report without id columns: one listing for the whole file.

The Dashboard's default download says of each row only its ``balance_transaction_id``. Asking
Stripe about each would cost a request per row; instead, a first pass over the file finds the
transactions the index has not kept yet and the time range they lie in, then
``GET /v1/balance_transactions?created[...]&expand[]=data.source`` lists that range, 100 a page,
and every transaction listed is kept in the index (``balance_transactions``): its source, charge
and PaymentIntent never change, so the next enrichment of such a file asks nothing.

A file with ``created_utc`` gives the range directly. One with only ``created`` (the report's
timezone, which the file does not say) costs two requests more: its earliest and latest
missing transactions, read to learn their UTC times (an hour of margin on each side covers a
change of summer time in between).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from indexer import db
from indexer.answers import payments as answers
from indexer.index import mapping, writes
from indexer.reports.balance_csv import ReportReader, parse_time
from indexer.reports.resolve import NO_PAYMENT_CATEGORIES, Resolver

BATCH = 5000
MARGIN = 3600


@dataclass
class Prefetched:
    missing: int = 0
    listed: int = 0
    pages: int = 0


def balance_row(account: str, livemode: bool, obj: dict[str, Any]) -> dict[str, Any]:
    """A balance transaction (its ``source`` expanded or not) as a ``balance_transactions`` row."""
    source = obj.get("source")
    source_id = mapping.expand_id(source)
    charge = intent = None
    if isinstance(source, dict):
        intent = mapping.expand_id(source.get("payment_intent"))
        charge = source_id if source.get("object") == "charge" else mapping.expand_id(source.get("charge"))
    elif source_id and source_id.startswith(("ch_", "py_")):
        charge = source_id
    return {"account": account, "id": obj["id"], "livemode": livemode,
            "created": int(obj.get("created") or 0),
            "reporting_category": str(obj.get("reporting_category") or ""),
            "source_id": source_id, "charge": charge, "payment_intent": intent}


def keep_balance_page(engine: Engine, account: str, livemode: bool,
                      objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [balance_row(account, livemode, obj) for obj in objects]
    if rows:
        with db.transaction(engine) as conn:
            writes.write_balance_transactions(conn, rows)
    return rows


def prefetch(resolver: Resolver, reader: ReportReader) -> Prefetched:
    """List and keep the balance transactions of ``reader``'s rows that the index lacks.

    Only for files whose rows carry no payment ids; ``reader`` is consumed.
    """
    header = reader.header
    done = Prefetched()
    if header.has_payment_ids or not header.has("balance_transaction_id"):
        return done
    timing = header.time_column
    low: tuple[int, str] | None = None
    high: tuple[int, str] | None = None
    batch: list[tuple[str, int | None]] = []

    def settle() -> None:
        nonlocal low, high
        ids = [t for t, _ in batch]
        known = db.read(resolver.engine, lambda c: answers.balance_sources(c, resolver.account, ids))
        for txn, when in batch:
            if txn in known:
                continue
            done.missing += 1
            if when is not None:
                low = min(low, (when, txn)) if low else (when, txn)
                high = max(high, (when, txn)) if high else (when, txn)
        batch.clear()

    for row in reader.rows():
        txn = header.cell(row, "balance_transaction_id")
        if not txn or header.cell(row, "reporting_category") in NO_PAYMENT_CATEGORIES:
            continue
        batch.append((txn, parse_time(header.cell(row, timing[0])) if timing else None))
        if len(batch) >= BATCH:
            settle()
    if batch:
        settle()
    if not done.missing or low is None or high is None or timing is None or resolver.offline:
        return done
    api = resolver.stripe()
    start, end = low[0], high[0]
    if not timing[1]:
        first = api.retrieve(f"/v1/balance_transactions/{low[1]}", account=resolver.account)
        last = api.retrieve(f"/v1/balance_transactions/{high[1]}", account=resolver.account)
        start, end = int(first["created"]) - MARGIN, int(last["created"]) + MARGIN
    for page in api.balance_transaction_pages(start, end, account=resolver.account):
        done.pages += 1
        rows = keep_balance_page(resolver.engine, resolver.account, api.livemode, page.data)
        resolver.fresh_txns.update(row["id"] for row in rows)
        done.listed += len(rows)
    return done
