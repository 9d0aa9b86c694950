"""A month of sales in the sandbox with every case the balance report meets, partly indexed.

July 2026 (the sandbox's clock stands at 5 August): a payment of two products, a JPY sale, a
subscription invoice of two products partly refunded, a disputed payment of two products the
merchant won back, a failed SEPA payment, a bare PaymentIntent whose description has commas and
quotes, Stripe's fee and tax; all indexed by a backfill. Then two more payments the index never
sees: one through Checkout (two products), one a subscription renewal (an invoice, no session).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from indexer.history import backfill
from indexer.stripe_api import StripeAPI
from stripe_sandbox import balance
from stripe_sandbox import billing as b
from stripe_sandbox import records as r
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store

KEY = "sk_test_reports"
DAY = 86400
JULY = int(dt.datetime(2026, 7, 1, tzinfo=dt.UTC).timestamp())
NOW = int(dt.datetime(2026, 8, 5, tzinfo=dt.UTC).timestamp())
QUOTED = 'Order #1042, "Deluxe" bundle'


@dataclass
class Shop:
    store: Store
    server: SandboxServer
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, **kwargs: Any) -> StripeAPI:
        return StripeAPI(KEY, api_base=self.server.url, rate=1000, **kwargs)


def _at(day: float) -> int:
    return JULY + int(day * DAY)


def make_history(store: Store) -> dict[str, str]:
    """The indexed part of the month; returns the ids the tests look at."""
    scope: Any = (False, None)

    def ctx(day: float) -> b.Ctx:
        return b.Ctx(store, scope, now=_at(day))

    c = ctx(0)
    course = b.create_product(c, "Video Course")
    workshop = b.create_product(c, "Workshop Ticket")
    tokyo = b.create_product(c, "Tokyo Pass")
    plan = b.create_product(c, "Pro Plan")
    p_course = b.create_price(c, course, "usd", 4900)
    p_workshop = b.create_price(c, workshop, "usd", 2000)
    p_tokyo = b.create_price(c, tokyo, "jpy", 1500)
    p_plan = b.create_price(c, plan, "usd", 2900, interval="month")
    ann = b.create_customer(c, email="ann@example.com", name="Ann Lee")
    ids = {"course": course.id, "workshop": workshop.id, "tokyo": tokyo.id, "plan": plan.id,
           "p_course": p_course.id, "p_workshop": p_workshop.id, "p_plan": p_plan.id}

    def checkout(day: float, lines: list[tuple[r.Price, int]], **how: Any) -> r.Session:
        sess = b.create_session(ctx(day), "payment", [(p.id, q, store.products[p.product].name)
                                                      for p, q in lines])
        return b.complete_session(ctx(day + 0.01), sess, **how)

    two = checkout(2, [(p_course, 1), (p_workshop, 2)], email="bo@example.com", name="Bo Ek")
    ids["two_products_pi"] = two.payment_intent or ""
    yen = checkout(3, [(p_tokyo, 2)], email="kenji@example.jp", name="Kenji Sato")
    ids["jpy_pi"] = yen.payment_intent or ""
    sub, inv = b.create_subscription(ctx(4), ann, [(p_plan, 1)], extra_lines=[
        (p_workshop.id, 1, "Workshop Ticket")])
    ids["sub_invoice"] = inv.id
    b.create_refund(ctx(9), store.charges[store.invoices[inv.id].charge or ""], amount=1000)
    disputed = checkout(5, [(p_course, 1), (p_workshop, 1)], email="cy@example.com", name="Cy Do")
    charge = store.charges[store.payment_intents[disputed.payment_intent or ""].latest_charge or ""]
    dispute = b.create_dispute(ctx(12), charge)
    b.close_dispute(ctx(20), dispute, won=True)
    ids["disputed_pi"] = disputed.payment_intent or ""
    failed = checkout(6, [(p_course, 1)], email="di@example.de", name="Di Ma", outcome="delayed",
                      method_type="sepa_debit")
    b.settle_session(ctx(10), failed, False)
    ids["failed_pi"] = failed.payment_intent or ""
    bare = b.create_payment(ctx(7), 2500, "usd", description=QUOTED)
    ids["bare_pi"] = bare.id
    balance.record_stripe_fee(ctx(1), "usage:july", 312, "usd", "Billing - Usage Fee (2026-06)")
    balance.record_stripe_fee(ctx(1.001), "tax:july", 31, "usd", "Tax on Stripe fees (2026-06)",
                              tax=True)
    return ids


def make_unindexed(store: Store, ids: dict[str, str]) -> None:
    """Payments made after the backfill: the index does not hold them."""
    scope: Any = (False, None)
    c = b.Ctx(store, scope, now=_at(15))
    course, workshop = store.prices[ids["p_course"]], store.prices[ids["p_workshop"]]
    sess = b.create_session(c, "payment", [(course.id, 1, "Video Course"),
                                           (workshop.id, 3, "Workshop Ticket")])
    sess = b.complete_session(b.Ctx(store, scope, now=_at(15.01)), sess, email="ed@example.com",
                              name="Ed Fox")
    ids["late_pi"] = sess.payment_intent or ""
    sub = store.subscriptions[store.invoices[ids["sub_invoice"]].subscription or ""]
    store.update(sub, current_period_end=_at(16))
    renewal = b.advance_subscription(b.Ctx(store, scope, now=_at(16)), store.subscriptions[sub.id])
    ids["renewal_invoice"] = renewal.id


@pytest.fixture
def shop(engine: Engine) -> Iterator[Shop]:
    """The month above in a running sandbox, indexed (but for the late payments) in ``engine``."""
    store = Store(seed=7)
    store.clock = lambda: NOW
    ids = make_history(store)
    server = SandboxServer(store, report_delay=0.05, test_mode_reports=True).start()
    try:
        world = Shop(store, server, ids)
        backfill.run(engine, world.api(), backfill.Request(), concurrency=2)
        make_unindexed(store, ids)
        yield world
    finally:
        server.stop()


def report_csv(shop: Shop, report_type: str, columns: list[str] | None = None,
               timezone: str | None = None, path: Path | None = None) -> Path:
    """A report of July made by the sandbox, as Stripe would hand it over."""
    params: dict[str, Any] = {"interval_start": JULY, "interval_end": _at(31)}
    if columns:
        params["columns"] = columns
    if timezone:
        params["timezone"] = timezone
    api = shop.api()
    run = api.create_report_run(report_type, params, idempotency_key=f"{report_type}{columns}{timezone}")
    shop.server.api.reports.finish_due()
    for _ in range(200):
        run = api.retrieve(f"/v1/reporting/report_runs/{run['id']}")
        if run["status"] == "succeeded":
            break
        import time

        time.sleep(0.02)
    assert run["status"] == "succeeded", run
    assert path is not None
    with path.open("wb") as out:
        api.download(run["result"]["url"], out)
    return path
