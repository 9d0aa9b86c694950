"""The history the backfill tests read, and their helpers (also used by the catch-up and live
answer tests, which import them from here).

``history`` builds, with the sandbox's own billing functions, every kind of purchase the index
knows, spread over the last three weeks so that Stripe's 30-day event retention still holds all
its events (``test_catchup`` replays them as webhooks would). ``small_pages`` shrinks pages to a
few objects so that paging, cutting shards and resuming happen with little data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from indexer import models, stripe_api
from indexer.history import backfill
from indexer.stripe_api import StripeAPI
from stripe_sandbox import billing as b
from stripe_sandbox.store import Store

DAY = 86400


@dataclass
class History:
    """What ``history`` built, and who bought what (product id -> customer keys)."""

    store: Store
    products: dict[str, str] = field(default_factory=dict)
    expected: dict[str, set[str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def bought(self, product: str, who: str) -> None:
        self.expected.setdefault(self.products[product], set()).add(who)


def history(store: Store, *, sessions: int = 40, invoices: int = 16, now: int | None = None) -> History:
    """A small shop's last three weeks; ``sessions`` plain link sales on top of the special cases."""
    now = int(time.time()) if now is None else now
    scope = (False, None)
    start = now - 21 * DAY
    h = History(store)

    def ctx(at: int) -> b.Ctx:
        return b.Ctx(store, scope, now=at)

    c = ctx(start)
    ebook = b.create_product(c, "E-book")
    course = b.create_product(c, "Video Course")
    plan = b.create_product(c, "Pro Plan")
    stickers = b.create_product(c, "Stickers")
    h.products = {"ebook": ebook.id, "course": course.id, "plan": plan.id, "stickers": stickers.id}
    ebook_usd = b.create_price(c, ebook, "usd", 1500)
    ebook_eur = b.create_price(c, ebook, "eur", 1400)
    course_usd = b.create_price(c, course, "usd", 9900)
    plan_month = b.create_price(c, plan, "usd", 2900, interval="month")
    sticker_usd = b.create_price(c, stickers, "usd", 300)
    link = b.create_payment_link(c, [(ebook_usd.id, 1, "E-book")])
    course_link = b.create_payment_link(c, [(course_usd.id, 1, "Video Course")])
    h.links = {"ebook": link.id, "course": course_link.id}

    # Plain payment-link sales by guests, spread over the period (two buyers per address).
    for i in range(sessions):
        at = start + DAY + i * (19 * DAY // max(sessions, 1))
        s = b.create_session(ctx(at), "payment", link.lines, payment_link=link.id)
        email = f"Buyer{i // 2}@Example.com"
        b.complete_session(ctx(at + 60), s, email=email, name=f"Buyer {i // 2}")
        h.bought("ebook", email.lower())

    at = start + 2 * DAY
    # A guest buying twice with different casing, in two currencies.
    for email, price in (("Mixed.Case@Example.com", ebook_usd), ("mixed.case@example.com", ebook_eur)):
        s = b.create_session(ctx(at), "payment", [(price.id, 1, "E-book")])
        b.complete_session(ctx(at), s, email=email, name="Mixed Case")
        at += 3600
    h.bought("ebook", "mixed.case@example.com")

    # A hosted session (no link) with three products, and one with 120 line items (pages).
    s = b.create_session(ctx(at), "payment", [(ebook_usd.id, 1, "E-book"), (course_usd.id, 2, "Course"),
                                              (sticker_usd.id, 5, "Stickers")])
    b.complete_session(ctx(at), s, email="three@example.com", name="Three Items")
    for key in ("ebook", "course", "stickers"):
        h.bought(key, "three@example.com")
    at += 3600
    s = b.create_session(ctx(at), "payment", [(sticker_usd.id, 1, f"Sticker {n}") for n in range(120)])
    b.complete_session(ctx(at), s, email="collector@example.com", name="Collector")
    h.bought("stickers", "collector@example.com")

    # A course sale through its link by a known customer.
    at += DAY
    alice = b.create_customer(ctx(at), email="alice@example.com", name="Alice")
    s = b.create_session(ctx(at), "payment", course_link.lines, payment_link=course_link.id, customer=alice.id)
    b.complete_session(ctx(at), s)
    h.bought("course", alice.id)

    # A subscription checkout (session + invoice: one payment), renewed once.
    at += DAY
    s = b.create_session(ctx(at), "subscription", [(plan_month.id, 1, "Pro Plan")])
    s = b.complete_session(ctx(at), s, email="sub@example.com", name="Subscriber")
    h.bought("plan", s.customer)
    b.advance_subscription(ctx(at + 7 * DAY), store.subscriptions[s.subscription])

    # An invoice paid through Elements (no session), with a one-time price.
    at += DAY
    bob = b.create_customer(ctx(at), email="bob@example.com", name="Bob")
    inv = b.create_invoice(ctx(at), bob)
    b.create_invoice_item(ctx(at), bob, price=course_usd, invoice=inv)
    b.pay_invoice(ctx(at), store.invoices[inv.id])
    h.bought("course", bob.id)
    for i in range(invoices):  # a customer billed by invoice now and then
        when = start + 3 * DAY + i * DAY
        carol = b.create_customer(ctx(when), email=f"carol{i}@example.com", name="Carol")
        inv = b.create_invoice(ctx(when), carol)
        b.create_invoice_item(ctx(when), carol, price=sticker_usd, quantity=2, invoice=inv)
        b.pay_invoice(ctx(when), store.invoices[inv.id])
        h.bought("stickers", carol.id)

    # Delayed payments: one succeeds (counts), one fails (does not); an expired and an open session.
    at += DAY
    s = b.create_session(ctx(at), "payment", [(course_usd.id, 1, "Course")])
    b.complete_session(ctx(at), s, email="slow@example.com", outcome="delayed_succeeded")
    h.bought("course", "slow@example.com")
    s = b.create_session(ctx(at), "payment", [(course_usd.id, 1, "Course")])
    b.complete_session(ctx(at), s, email="failed@example.com", outcome="delayed_failed")
    b.expire_session(ctx(at), b.create_session(ctx(at), "payment", [(course_usd.id, 1, "Course")]))
    b.create_session(ctx(at), "payment", [(course_usd.id, 1, "Course")])

    # Refunds: a full one (the buyer drops out of the answer), a partial one (stays); a dispute.
    at += DAY
    s = b.create_session(ctx(at), "payment", [(sticker_usd.id, 1, "Sticker")])
    s = b.complete_session(ctx(at), s, email="refunded@example.com")
    b.create_refund(ctx(at + 3600), store.charges[store.payment_intents[s.payment_intent].latest_charge])
    s = b.create_session(ctx(at), "payment", [(sticker_usd.id, 4, "Stickers")])
    s = b.complete_session(ctx(at), s, email="partly@example.com")
    charge = store.charges[store.payment_intents[s.payment_intent].latest_charge]
    b.create_refund(ctx(at + 3600), charge, amount=300)
    b.create_dispute(ctx(at + 7200), store.charges[charge.id])
    h.bought("stickers", "partly@example.com")
    b.update_product(ctx(at + DAY), stickers, name="Sticker Pack")
    return h


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 5 objects: many pages, cuts and resumes from a small history."""
    monkeypatch.setattr(stripe_api, "PAGE_LIMIT", 5)
    monkeypatch.setattr(backfill, "MIN_OBJECTS_TO_SPLIT", 10)


@pytest.fixture
def shop(sandbox: Any) -> History:
    return history(sandbox.store)


def client(sandbox: Any, **kwargs: Any) -> StripeAPI:
    return StripeAPI("sk_test_backfill", api_base=sandbox.url, rate=kwargs.pop("rate", 500.0), **kwargs)


def customers(engine: Engine) -> dict[str, set[str]]:
    """``product_customers`` as product -> customer keys (``cus_...`` or the lower-cased email)."""
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT product_id, customer, email FROM product_customers WHERE account = '' AND NOT livemode"
        )).all()
    out: dict[str, set[str]] = {}
    for product, customer, email in rows:
        out.setdefault(product, set()).add(customer or (email or "").lower())
    return out


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    """Every purchase row without the indexer's own columns, in a stable order."""
    c = models.purchases_t.c
    columns = [col for col in models.purchases_t.columns if col.name not in ("id", "updated_at")]
    with engine.begin() as conn:
        return [tuple(r) for r in conn.execute(select(*columns).order_by(c.source_id, c.line_item_id))]


def view(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT * FROM product_customers ORDER BY product_id, id, currency"
        ))]


def run(engine: Engine, api: StripeAPI, **kwargs: Any) -> backfill.Result:
    concurrency = kwargs.pop("concurrency", 4)
    return backfill.run(engine, api, backfill.Request(**kwargs), concurrency=concurrency)


class Crashing(StripeAPI):
    """Dies (like ``kill -9`` would, mid-stream) on the ``after``-th list page of ``path``."""

    def __init__(self, *args: Any, path: str, after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path, self.after, self.seen = path, after, 0

    def page(self, path: str, params: Any, **kwargs: Any) -> stripe_api.Page:
        if path == self.path:
            self.seen += 1
            if self.seen > self.after:
                raise KeyboardInterrupt("killed")
        return super().page(path, params, **kwargs)
