"""Helpers of the ingest tests, shared with the fault tests: events stored as the webhook endpoint
stores them, a worker run to the end, and the index read back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select, text

from indexer import db, models
from indexer.ingest import event_store
from indexer.ingest.event_store import store_event
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox.render import Renderer, version
from stripe_sandbox.store import Store
from tests.conftest import make_event, product_object

TEST_KEY = "sk_test_worker"
#: An address where nothing listens: a Stripe that cannot be reached.
NOWHERE = "http://127.0.0.1:9"


def event_bodies(store: Store, *, live: bool) -> list[str]:
    renderer = Renderer(store)
    return [
        json.dumps(renderer.event(e, version(e.api_version)))
        for e in store.ordered("event", live=live)
    ]


def deliver(engine: Engine, bodies: list[str], *, source: str = "webhook") -> int:
    """Store webhook ``bodies`` as the webhook endpoint does (or as ``source`` says); how many
    were new."""
    stored = 0
    with db.transaction(engine) as conn:
        for body in bodies:
            stored += store_event(conn, body, source=source)
    return stored


def run_worker(
    engine: Engine, url: str, key: str = TEST_KEY, *, worker_options: dict[str, Any] | None = None,
    **api_options: Any,
) -> Worker:
    api = StripeAPI(key, api_base=url, rate=1000.0, **api_options)
    worker = Worker(engine, api, **{"batch_size": 200, **(worker_options or {})})
    try:
        worker.run(once=True)
    finally:
        worker.close()
    return worker


def index_customers(engine: Engine, *, live: bool, account: str = "") -> dict[str, set[str]]:
    with db.transaction(engine) as conn:
        rows = conn.execute(
            text("SELECT product_id, customer, email FROM product_customers "
                 "WHERE livemode = :live AND account = :account"),
            {"live": live, "account": account},
        ).all()
    found: dict[str, set[str]] = {}
    for product, customer, email in rows:
        found.setdefault(product, set()).add(customer or (email or "").lower())
    return found


def event_status(engine: Engine) -> dict[str, int]:
    with db.transaction(engine) as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM stripe_events GROUP BY status")).all()
    return {status: n for status, n in rows}


def purchase_rows(engine: Engine) -> list[tuple]:
    p = models.purchases_t.c
    with db.transaction(engine) as conn:
        return [tuple(r) for r in conn.execute(
            select(p.account, p.livemode, p.source_id, p.line_item_id, p.product_id, p.customer_key,
                   p.quantity, p.amount_total, p.amount_refunded, p.refunded, p.disputed, p.invoice,
                   p.checkout_session, p.payment_link).order_by(p.account, p.source_id, p.line_item_id)
        )]


def sandbox_events(api: StripeAPI) -> list[dict[str, Any]]:
    """Every event the index applies, oldest first."""
    found = [e for e in api.list_all("/v1/events", {}) if e["type"] in event_store.APPLIED_TYPES]
    return sorted(found, key=lambda e: (e["created"], e["id"]))


def work(engine: Engine, api: StripeAPI) -> None:
    worker = Worker(engine, api, threads=4)
    try:
        stats = worker.run(once=True)
    finally:
        worker.close()
    assert stats.failed == 0


def product_event(n: int) -> dict[str, Any]:
    return make_event(f"evt_lease_{n}", obj=product_object(f"prod_lease_{n}", f"P{n}"), type="product.updated",
                      created=1_760_000_000 + n)


def deliver_events(engine: Engine, events: list[dict[str, Any]], *, source: str = "webhook") -> None:
    """``deliver`` for events as dicts."""
    deliver(engine, [json.dumps(event) for event in events], source=source)


def state(engine: Engine) -> dict[str, Any]:
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return {r.id: r for r in conn.execute(select(e.id, e.status, e.attempts, e.last_error, e.available_at))}
