"""What a backfill fetches: the streams (one list endpoint with fixed filters each) and the
``created`` ranges to fetch them over, for the whole history or for one product.

``indexer.history.backfill`` runs the ranges; this module only decides them (asking Stripe, for
one product, which route is smallest and complete). A stream's ``prepare`` maps a page through
the same pure mapping (``indexer.index.mapping``) and its ``write`` goes through the same writes
(``indexer.index.writes``) as the webhook worker, so backfill and webhooks give the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from indexer import db
from indexer.errors import NotFound, StripeError
from indexer.history.page_writer import Write
from indexer.index import mapping, writes
from indexer.ingest.apply import invoice_source
from indexer.stripe_api import StripeAPI

if TYPE_CHECKING:
    from indexer.history.backfill import Backfill

__all__ = [
    "EPOCH", "MAX_SUBSCRIPTION_ROUTES", "Range", "Request", "Stream", "dispute_stream", "full_ranges",
    "invoice_stream", "plan", "product_ranges", "product_stream", "refund_stream", "session_stream",
]

Obj = dict[str, Any]
Prepare = Callable[[list[Obj]], list[Any]]

#: Stripe did not exist before 2010: the default ``--since``.
EPOCH = 1262304000  # 2010-01-01


@dataclass(frozen=True)
class Stream:
    """One list endpoint with fixed filters.

    ``prepare`` completes a page's objects (line items past the first page, an invoice's
    payment) and maps them to what ``write`` stores; it runs outside the transaction.
    ``splittable`` streams may be cut into shards of their ``created`` range.
    """

    name: str
    label: str
    path: str
    params: dict[str, Any]
    prepare: Prepare
    write: Write
    splittable: bool = True


#: What to fetch: each stream over its ``created`` range ``[start, end]``.
Range = tuple[Stream, int, int]


# --- streams --------------------------------------------------------------------------------


def session_stream(
    api: StripeAPI, account: str, *, name: str = "sessions", label: str = "sessions",
    product: str | None = None, splittable: bool = True, **filters: Any,
) -> Stream:
    """Complete Checkout Sessions with line items embedded; a second request only for a session
    whose embedded first page says ``has_more``. Sessions that are not complete never become
    purchases, so they are not listed at all."""

    def prepare(page: list[Obj]) -> list[Any]:
        sources = []
        for session in page:
            if mapping.is_purchase_session(session):
                session = api.complete_session(session, account=account)
            items = (session.get("line_items") or {}).get("data") or []
            source = mapping.session_purchase(session, items, account=account)
            if product is None or _holds(source, product):
                sources.append(source)
        return sources

    params = {"status": "complete", "expand": ["data.line_items"], **filters}
    return Stream(name, label, "/v1/checkout/sessions", params, prepare, _write_sources, splittable)


def invoice_stream(
    api: StripeAPI, account: str, *, name: str = "invoices", label: str = "invoices",
    product: str | None = None, splittable: bool = True, **filters: Any,
) -> Stream:
    """Paid invoices with ``payments`` embedded (new-shape invoices say their PaymentIntent only
    there), lines paged in full."""

    def prepare(page: list[Obj]) -> list[Any]:
        sources = [invoice_source(api, invoice, account=account) for invoice in page]
        return [s for s in sources if product is None or _holds(s, product)]

    params = {"status": "paid", "expand": ["data.payments"], **filters}
    return Stream(name, label, "/v1/invoices", params, prepare, _write_sources, splittable)


def refund_stream(api: StripeAPI, account: str) -> Stream:
    def prepare(page: list[Obj]) -> list[Any]:
        return [mapping.refund_row(r, account=account, livemode=api.livemode) for r in page]

    return Stream("refunds", "refunds", "/v1/refunds", {}, prepare, writes.write_refunds)


def dispute_stream(api: StripeAPI, account: str) -> Stream:
    def prepare(page: list[Obj]) -> list[Any]:
        return [mapping.dispute_row(d, account=account) for d in page]

    return Stream("disputes", "disputes", "/v1/disputes", {}, prepare, writes.write_disputes)


def product_stream(api: StripeAPI, account: str, seen: Callable[[int], None] | None = None) -> Stream:
    """Products, whose names the index shows; ``seen`` learns the ``created`` of each page's
    oldest product (no sale is older than its product: a good first cut for the other streams)."""

    def prepare(page: list[Obj]) -> list[Any]:
        if seen is not None and page:
            seen(min(int(p.get("created") or 0) for p in page))
        return [mapping.product_row(p, account=account) for p in page]

    return Stream("products", "products", "/v1/products", {}, prepare, writes.write_products)


def _write_sources(conn: Connection, sources: list[Any]) -> None:
    """In payment order: writers lock each payment till the commit, and a page's transaction
    holds many, so every transaction takes them in the same order. ``writes.write_sources`` writes
    a page's plain purchases in a few statements."""
    writes.write_sources(conn, sorted(sources, key=lambda s: (s.account, s.payment_key)))


def _holds(source: mapping.PurchaseSource, product: str) -> bool:
    return any(row.product_id == product for row in source.rows)


# --- what to fetch --------------------------------------------------------------------------


def full_ranges(api: StripeAPI, job: Backfill, since: int, until: int) -> list[Range]:
    """Everything: products (their whole history, for names; first, as their ``created`` times
    guide the first cuts), the sessions, invoices, refunds and disputes of ``[since, until]``."""
    account = job.scope.account
    return [
        (product_stream(api, account, job.note_oldest), EPOCH, until),
        (session_stream(api, account), since, until),
        (invoice_stream(api, account), since, until),
        (refund_stream(api, account), since, until),
        (dispute_stream(api, account), since, until),
    ]


#: Above this many subscriptions of a product, listing every paid invoice is cheaper than
#: one invoice list per subscription.
MAX_SUBSCRIPTION_ROUTES = 100


def product_ranges(
    api: StripeAPI, job: Backfill, product: str, since: int, until: int, *, links_only: bool = False
) -> list[Range]:
    """The purchases of one product, by the smallest route that is complete.

    * Sessions: Stripe cannot list sessions by product, so only a walk over every complete
      session (line items embedded) finds those not made from a payment link. That walk is
      the route unless ``links_only`` says every sale came through a payment link: then
      the payment links whose line items hold the product, and their sessions
      (``payment_link=``), as the seed's scripts did.
    * Invoices: when every price of the product is recurring, its invoices are those of the
      subscriptions to those prices (``subscriptions?price=``, then ``invoices?subscription=``);
      a one-time price may sit on any invoice (an invoice item), so then every paid invoice.
    * Refunds and disputes: all of them (few, and a refund names no product).
    """
    account = job.scope.account
    try:
        found = api.retrieve(f"/v1/products/{product}", account=account)
    except StripeError as exc:
        if getattr(exc.__cause__, "http_status", None) == 404:
            raise NotFound(f"no such product: {product}", param="product") from exc
        raise
    job.note_oldest(int(found.get("created") or EPOCH))
    with db.transaction(job.engine) as conn:
        writes.write_products(conn, [mapping.product_row(found, account=account)])
    prices = list(api.list_all("/v1/prices", {"product": product}, account=account))

    sessions: list[Range] = []
    if links_only:
        for link in _links_holding(api, product, account):
            name = f"sessions:{link}"
            sessions.append((session_stream(api, account, name=name, label=f"sessions of {link}",
                                            product=product, payment_link=link), since, until))
    else:
        sessions.append((session_stream(api, account, name=f"sessions:{product}", product=product), since, until))

    invoices: list[Range] = []
    subscriptions = _subscriptions_of(api, prices, account) if prices and all(_recurring(p) for p in prices) else None
    if subscriptions is not None and len(subscriptions) <= MAX_SUBSCRIPTION_ROUTES:
        for sub in subscriptions:
            stream = invoice_stream(api, account, name=f"invoices:{sub}", label="invoices",
                                    product=product, splittable=False, subscription=sub)
            invoices.append((stream, since, until))
    else:
        invoices.append((invoice_stream(api, account, name=f"invoices:{product}", product=product), since, until))
    rest = [(refund_stream(api, account), since, until), (dispute_stream(api, account), since, until)]
    return [*sessions, *invoices, *rest]


def _recurring(price: Obj) -> bool:
    return price.get("type") == "recurring" or bool(price.get("recurring"))


def _links_holding(api: StripeAPI, product: str, account: str) -> list[str]:
    """Payment links with a line item of ``product`` (line items past the first page read)."""
    held = []
    for link in api.list_all("/v1/payment_links", {"expand": ["data.line_items"]}, account=account):
        items = api._rest_of(link.get("line_items"), f"/v1/payment_links/{link['id']}/line_items", account=account)
        if any(mapping.expand_id((item.get("price") or {}).get("product")) == product for item in items):
            held.append(link["id"])
    return held


def _subscriptions_of(api: StripeAPI, prices: list[Obj], account: str) -> list[str]:
    subs: dict[str, None] = {}
    for price in prices:
        for sub in api.list_all("/v1/subscriptions", {"price": price["id"], "status": "all"}, account=account):
            subs[sub["id"]] = None
    return list(subs)


@dataclass(frozen=True)
class Request:
    """What to backfill: a ``created`` range (Unix seconds, inclusive), maybe one product."""

    since: int = EPOCH
    until: int | None = None
    product: str | None = None
    links_only: bool = False
    account: str = ""


def plan(api: StripeAPI, job: Backfill, request: Request) -> list[Range]:
    """The ranges of ``request``. ``until`` never passes now: a finished shard is never fetched
    again, so it must not cover a future in which objects could still be created."""
    now = int(time.time())
    until = now if request.until is None else min(request.until, now)
    if request.product:
        return product_ranges(api, job, request.product, request.since, until, links_only=request.links_only)
    return full_ranges(api, job, request.since, until)
