"""Balance transactions for a report without id columns: one listing for the whole file.

The Dashboard's default download says of each row only its ``balance_transaction_id``. Asking
Stripe about each would cost a request per row; instead, a first pass over the file finds the
transactions the index has not kept yet and the time range they lie in, then
``GET /v1/balance_transactions?created[...]&expand[]=data.source`` lists that range, 100 a page,
and every transaction listed is kept in the index (``balance_transactions``): its source, charge
and PaymentIntent never change, so the next enrichment of such a file asks nothing.

A file with ``created_utc`` gives the range directly. One with only ``created`` (the report's
timezone, which the file does not say) costs one request more: its latest missing transaction,
read to learn its UTC time and so the file's offset from UTC (an hour of margin on each side
covers a change of summer time in between).

The payments behind those transactions that the index does not hold are asked of Stripe one
by one later (``Resolver``), but when many of them read like invoice payments (``Subscription
creation``...), the invoice payments of the same range are listed first,
``GET /v1/invoice_payments?created[...]&expand[]=data.invoice``, 100 a page with their invoices,
instead of one ``invoice_payments`` request per payment: the invoices wanted are held for the
run (``Resolver.listed_invoices``); a payment the listing missed (its invoice payment made
before the range, a retried payment) is asked alone as before.
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
from indexer.reports.resolve import NO_PAYMENT_CATEGORIES, Resolver, says_invoice
from indexer.stripe_api import StripeAPI

BATCH = 5000
MARGIN = 3600
#: Invoice payments are listed when at least this many unindexed payments read like invoices'.
INVOICE_LISTING_MIN = 100
#: How long before its charge an invoice payment may have been made and still be listed.
INVOICE_MARGIN = 86_400


@dataclass
class Prefetched:
    missing: int = 0
    listed: int = 0
    pages: int = 0
    #: pages of ``GET /v1/invoice_payments`` and the invoices kept from them for the run
    invoice_pages: int = 0
    invoices: int = 0


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
    batch: list[tuple[str, int | None, bool]] = []
    #: missing transactions whose row reads like an invoice payment's
    invoice_like: set[str] = set()

    def settle() -> None:
        nonlocal low, high
        ids = [t for t, _, _ in batch]
        known = db.read(resolver.engine, lambda c: answers.balance_sources(c, resolver.account, ids))
        for txn, when, invoice in batch:
            if txn in known:
                continue
            done.missing += 1
            if invoice:
                invoice_like.add(txn)
            if when is not None:
                low = min(low, (when, txn)) if low else (when, txn)
                high = max(high, (when, txn)) if high else (when, txn)
        batch.clear()

    for row in reader.rows():
        txn = header.cell(row, "balance_transaction_id")
        if not txn or header.cell(row, "reporting_category") in NO_PAYMENT_CATEGORIES:
            continue
        batch.append((txn, parse_time(header.cell(row, timing[0])) if timing else None,
                      says_invoice(header.cell(row, "description"))))
        if len(batch) >= BATCH:
            settle()
    if batch:
        settle()
    if not done.missing or low is None or high is None or timing is None or resolver.offline:
        return done
    api = resolver.stripe()
    start, end = low[0], high[0]
    if not timing[1]:
        last = api.retrieve(f"/v1/balance_transactions/{high[1]}", account=resolver.account)
        offset = high[0] - int(last["created"])
        start, end = low[0] - offset - MARGIN, int(last["created"]) + MARGIN
    intents: set[str] = set()
    for page in api.balance_transaction_pages(start, end, account=resolver.account):
        done.pages += 1
        rows = keep_balance_page(resolver.engine, resolver.account, api.livemode, page.data)
        resolver.fresh_txns.update(row["id"] for row in rows)
        done.listed += len(rows)
        intents.update(row["payment_intent"] for row in rows
                       if row["id"] in invoice_like and row["payment_intent"])
    if len(intents) >= INVOICE_LISTING_MIN:
        _list_invoices(resolver, api, intents, start - INVOICE_MARGIN, end, done)
    return done


def _list_invoices(resolver: Resolver, api: StripeAPI, intents: set[str], start: int, end: int,
                   done: Prefetched) -> None:
    """Keep the invoices that paid ``intents`` (those the index lacks) from a listing of the
    range's invoice payments; a listing that finds few of them stops (it costs a page per 100
    invoice payments, and saves a request per payment found)."""
    wanted = sorted(intents)
    indexed: set[str] = set()
    for at in range(0, len(wanted), BATCH):
        chunk = wanted[at : at + BATCH]
        indexed.update(db.read(resolver.engine,
                               lambda c, chunk=chunk: answers.part_lines(c, resolver.account, "payment_intent", chunk)))
    wanted_set = intents - indexed
    if len(wanted_set) < INVOICE_LISTING_MIN:
        return
    found: dict[str, tuple[bool, dict[str, Any]]] = {}
    params = {"created": {"gte": start, "lte": end}, "expand": ["data.invoice"]}
    for page in api.pages("/v1/invoice_payments", params, account=resolver.account):
        done.invoice_pages += 1
        for payment in page.data:
            intent = mapping.expand_id((payment.get("payment") or {}).get("payment_intent"))
            invoice = payment.get("invoice")
            if intent not in wanted_set or not isinstance(invoice, dict):
                continue
            paid = payment.get("status") == "paid"
            if intent not in found or (paid and not found[intent][0]):
                found[intent] = (paid, invoice)
        if done.invoice_pages * 100 > 2 * (len(found) + 100):
            break  # mostly others' invoice payments: ask the rest one by one
    resolver.listed_invoices.update((intent, invoice) for intent, (_, invoice) in found.items())
    done.invoices = len(found)
