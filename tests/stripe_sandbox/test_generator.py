"""The seed-data generator: deterministic, covering every case the index meets, and its truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import stripe

from stripe_sandbox import billing as b
from stripe_sandbox import records as r
from stripe_sandbox.generator import (
    HISTORY_DAYS,
    OLD_API_VERSION,
    generate,
    purchases,
    refunded_pairs,
    truth,
)
from stripe_sandbox.render import Renderer, version
from stripe_sandbox.store import DEFAULT_API_VERSION, Store

NOW = 1_790_000_000
DAY = 86400


@pytest.fixture(scope="module")
def seeded() -> tuple[Store, dict]:
    store = Store()
    return store, generate(store, 600, seed=11, now=NOW)


def completed(store: Store, live: bool = False, account: str | None = None) -> list[r.Session]:
    return [s for s in store.sessions.values() if s.status == "complete"
            and s.payment_status in ("paid", "no_payment_required")
            and s.live == live and s.account == account]


def event_types(store: Store, obj_id: str) -> list[str]:
    return [e.type for e in store.events.values() if e.obj is not None and e.obj.id == obj_id]


def test_same_size_and_seed_give_the_same_history() -> None:
    def run(seed: int) -> tuple[list[str], list[tuple], dict]:
        store = Store()
        out = generate(store, 150, seed=seed, now=NOW)
        events = [(e.id, e.type, e.created, e.api_version, e.obj.id if e.obj else None)
                  for e in store.events.values()]
        sessions = [(s.id, s.status, s.payment_status, s.email, s.lines)
                    for s in store.sessions.values()]
        return events, sessions, out  # type: ignore[return-value]

    first, again, other = run(5), run(5), run(6)
    assert first == again
    assert first[0] != other[0] and first[1] != other[1]
    store = Store()  # seeding one store twice adds a second history, every id new
    generate(store, 40, seed=5, now=NOW)
    sessions = len(store.sessions)
    generate(store, 40, seed=5, now=NOW)
    assert len(store.sessions) == 2 * sessions and len(store.accounts) == 2


def test_history_spans_thirteen_months_written_in_time_order(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    created = [e.created for e in store.events.values()]
    assert created == sorted(created)  # records and events were written oldest first
    assert NOW - HISTORY_DAYS * DAY <= created[0] < NOW - 390 * DAY
    assert NOW - DAY < created[-1] <= NOW
    assert out["now"] == NOW and out["objects"]["event"] == len(store.events)
    # an object's events come at or after it was made
    assert all(e.created >= e.obj.created for e in store.events.values())  # type: ignore[union-attr]
    assert all(s.created <= NOW for s in store.sessions.values())
    assert 550 <= out["objects"]["checkout.session"] <= 800  # size is about the session count


def test_one_product_sold_through_several_prices_and_links(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    star = out["star_product"]
    prices = [p for p in store.prices.values() if p.product == star]
    assert {p.currency for p in prices if not p.interval} >= {"usd", "eur", "gbp", "jpy"}
    assert {p.interval for p in prices if p.interval} == {"month", "year"}
    links = {link.id for link in store.payment_links.values()
             if any(store.prices[p].product == star for p, _, _ in link.lines)}
    assert len(links) >= 5
    sold = [s for s in completed(store) if any(store.prices[p].product == star
                                               for p, _, _ in s.lines)]
    assert len({s.payment_link for s in sold if s.payment_link}) >= 3
    assert any(s.payment_link is None and s.mode == "payment" for s in sold)
    assert {store.prices[p].currency for s in sold for p, _, _ in s.lines} >= {"usd", "eur"}
    assert star in truth(store)


def test_guests_are_known_only_by_email_in_mixed_case(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    guests = [s for s in completed(store) if s.customer is None and s.mode == "payment"]
    assert len(guests) > 50
    assert all(s.email for s in guests)
    assert any(s.email != s.email.lower() for s in guests)
    casings: dict[str, set[str]] = {}
    for s in guests:
        casings.setdefault(s.email.lower(), set()).add(s.email)
    assert casings[out["guest_email"]] == {"Jenny.Rosen@Example.COM", "jenny.rosen@example.com"}
    assert sum(len(v) > 1 for v in casings.values()) >= 3
    star_buyers = truth(store)[out["star_product"]]
    assert out["guest_email"] in star_buyers


def test_sessions_with_more_than_10_and_more_than_100_line_items(seeded: tuple[Store, dict]) -> None:
    store, _ = seeded
    sizes = [len(s.lines) for s in completed(store)]
    assert sum(10 < n <= 100 for n in sizes) >= 3
    assert sum(n > 100 for n in sizes) >= 2
    big = max(completed(store), key=lambda s: len(s.lines))
    lines = store.line_items(big.id)
    assert len({li.id for li in lines}) == len(lines) > 100
    assert big.amount_total == sum(li.amount_total for li in lines)


def test_subscriptions_checkouts_and_renewals(seeded: tuple[Store, dict]) -> None:
    store, _ = seeded
    subs = [s for s in completed(store) if s.mode == "subscription"]
    assert len(subs) >= 20
    for sess in subs:
        inv = store.invoices[sess.invoice]  # type: ignore[index]
        assert inv.subscription == sess.subscription and inv.status == "paid"
        assert inv.billing_reason == "subscription_create" and inv.customer == sess.customer
    renewals = [i for i in store.invoices.values() if i.billing_reason == "subscription_cycle"]
    assert len(renewals) >= 20 and all(i.status == "paid" for i in renewals)
    assert any(s.status == "canceled" for s in store.subscriptions.values())
    # Basil-era checkout: the payment intent succeeded before the invoice existed.
    types = event_types(store, subs[0].subscription)  # type: ignore[arg-type]
    assert types[0] == "customer.subscription.created"


def test_invoices_paid_without_a_checkout_session(seeded: tuple[Store, dict]) -> None:
    store, _ = seeded
    from_sessions = {s.invoice for s in store.sessions.values() if s.invoice}
    elements = [i for i in store.invoices.values()
                if i.subscription is None and i.id not in from_sessions]
    paid = [i for i in elements if i.status == "paid"]
    assert len(paid) >= 10
    assert any(i.payment_intent for i in paid) and any(i.paid_out_of_band for i in paid)
    assert any(i.status == "open" for i in elements)  # finalized, never paid
    assert any(ln.product is None and ln.price is None for i in paid for ln in i.lines)
    assert any(store.customers[i.customer].email is None for i in paid)  # type: ignore[index]
    # invoice_creation: a paid payment-mode session and its own invoice, one payment.
    created = [s for s in completed(store) if s.mode == "payment" and s.invoice]
    assert created and all(store.invoices[s.invoice].payment_intent == s.payment_intent
                           for s in created)  # type: ignore[index]


def test_delayed_payments_succeed_and_fail(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    succeeded = [e.obj.id for e in store.events.values()  # type: ignore[union-attr]
                 if e.type == "checkout.session.async_payment_succeeded"]
    failed = [e.obj.id for e in store.events.values()  # type: ignore[union-attr]
              if e.type == "checkout.session.async_payment_failed"]
    assert len(succeeded) >= 5 and len(failed) >= 2
    assert all(store.sessions[i].payment_status == "paid" for i in succeeded)
    assert all(store.sessions[i].payment_status == "unpaid" and store.sessions[i].status
               == "complete" for i in failed)
    assert set(failed).isdisjoint(s.id for s in completed(store, False, None))


def test_refunds_full_partial_and_in_two_steps_and_disputes(seeded: tuple[Store, dict]) -> None:
    store, _ = seeded
    charges = list(store.charges.values())
    full = [c for c in charges if c.amount_refunded >= c.amount > 0]
    partial = [c for c in charges if 0 < c.amount_refunded < c.amount]
    assert len(full) >= 5 and len(partial) >= 3
    per_charge = Counter(x.charge for x in store.refunds.values())
    assert any(per_charge[c.id] >= 2 for c in full)
    statuses = {d.status for d in store.disputes.values()}
    assert {"won", "lost"} <= statuses and len(store.disputes) >= 3
    assert refunded_pairs(store)


def test_expired_and_open_sessions_and_other_modes(seeded: tuple[Store, dict]) -> None:
    store, _ = seeded
    status = Counter(s.status for s in store.sessions.values())
    assert status["expired"] >= 20 and status["open"] >= 1
    assert all(s.created > NOW - DAY for s in store.sessions.values() if s.status == "open")
    assert any(s.payment_status == "no_payment_required" and s.mode == "payment"
               for s in store.sessions.values())
    assert any(s.mode == "setup" and s.status == "complete" for s in store.sessions.values())
    assert any(s.ui_mode == "embedded_page" and s.status == "complete"
               for s in store.sessions.values())
    # Payments with no session and no invoice: money, but no product bought.
    linked = {s.payment_intent for s in store.sessions.values()} | {
        i.payment_intent for i in store.invoices.values()}
    bare = [pi for pi in store.payment_intents.values() if pi.id not in linked and pi.invoice is None]
    assert len(bare) >= 3 and all(pi.status == "succeeded" for pi in bare)
    assert not {p.charge for p in purchases(store)} & {pi.latest_charge for pi in bare}


def test_live_mode_and_a_connect_account(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    acct = out["connect_account"]
    assert acct.startswith("acct_") and store.accounts == {acct}
    assert len(completed(store, live=True)) >= 20
    assert all(s.id.startswith("cs_live_") for s in store.sessions.values() if s.live)
    assert len(completed(store, account=acct)) >= 10
    assert any(e.account == acct for e in store.events.values())
    test_t, live_t, acct_t = (truth(store), truth(store, live=True),
                              truth(store, account=acct))
    assert test_t and live_t and acct_t
    assert set(test_t).isdisjoint(live_t) and set(test_t).isdisjoint(acct_t)
    assert out["star_products"]["live"] in live_t and out["star_products"]["connect"] in acct_t


def test_events_at_both_api_versions_and_both_invoice_shapes(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    versions = Counter(e.api_version for e in store.events.values())
    assert set(versions) == {OLD_API_VERSION, DEFAULT_API_VERSION}
    assert store.api_version == DEFAULT_API_VERSION  # restored after writing history
    switch = out["api_version_upgraded_at"]
    assert all((e.api_version == OLD_API_VERSION) == (e.created < switch)
               for e in store.events.values())
    renderer = Renderer(store)
    paid = {v: next(e for e in store.events.values()
                    if e.type == "invoice.paid" and e.api_version == v and e.obj.lines  # type: ignore[union-attr]
                    and e.obj.lines[0].price)  # type: ignore[union-attr]
            for v in versions}
    old = renderer.event(paid[OLD_API_VERSION], version(DEFAULT_API_VERSION))["data"]["object"]
    new = renderer.event(paid[DEFAULT_API_VERSION], version(OLD_API_VERSION))["data"]["object"]
    assert old["lines"]["data"][0]["price"]["product"].startswith("prod_")
    assert "parent" not in old and "pricing" not in old["lines"]["data"][0]
    details = new["lines"]["data"][0]["pricing"]["price_details"]
    assert details["product"].startswith("prod_") and "price" not in new["lines"]["data"][0]


def test_product_renames_emit_product_updated(seeded: tuple[Store, dict]) -> None:
    store, out = seeded
    star = out["star_product"]
    renames = [e for e in store.events.values() if e.type == "product.updated"
               and e.previous and "name" in e.previous]
    assert sum(e.obj.id == star for e in renames) == 2  # type: ignore[union-attr]
    assert len(renames) >= 3
    first = next(e for e in renames if e.obj.id == star)  # type: ignore[union-attr]
    assert first.previous["name"] != store.products[star].name  # type: ignore[index]


def test_seeded_history_through_the_sdk_over_http(sandbox: object) -> None:
    store = sandbox.store  # type: ignore[attr-defined]
    out = generate(store, 200, seed=2, now=NOW)
    client = stripe.StripeClient("sk_test_seed", base_addresses={"api": sandbox.url})  # type: ignore[attr-defined]
    big = max((s for s in store.sessions.values() if not s.live and not s.account),
              key=lambda s: len(s.lines))
    assert len(big.lines) > 100
    first = client.v1.checkout.sessions.line_items.list(big.id, {"limit": 100})
    assert len(first.data) == 100 and first.has_more
    rest = client.v1.checkout.sessions.line_items.list(
        big.id, {"limit": 100, "starting_after": first.data[-1].id})
    assert len(rest.data) == len(big.lines) - 100 and not rest.has_more
    star = client.v1.products.retrieve(out["star_product"])
    assert star.name == store.products[out["star_product"]].name
    live = stripe.StripeClient("sk_live_seed", base_addresses={"api": sandbox.url})  # type: ignore[attr-defined]
    page = live.v1.checkout.sessions.list({"limit": 5})
    assert page.data and all(s.livemode for s in page.data)


# -- truth() on a store built by hand ---------------------------------------------------------


@pytest.fixture
def hand_built() -> Iterator[tuple[Store, dict[str, str]]]:
    store = Store()
    t = NOW - 30 * DAY

    def ctx(dt: int = 0, scope: tuple[bool, str | None] = (False, None)) -> b.Ctx:
        return b.Ctx(store, scope, now=t + dt)

    a = b.create_product(ctx(), "A")
    bb = b.create_product(ctx(), "B")
    c = b.create_product(ctx(), "C")
    pa = b.create_price(ctx(), a, "usd", 1000)
    pb = b.create_price(ctx(), bb, "usd", 500)
    pc = b.create_price(ctx(), c, "usd", 700)
    pm = b.create_price(ctx(), bb, "usd", 900, interval="month")
    ids: dict[str, str] = {"a": a.id, "b": bb.id, "c": c.id}

    def checkout(lines: list, dt: int, email: str | None = None, outcome: str = "paid",
                 mode: str = "payment", **fields: object) -> r.Session:
        sess = b.create_session(ctx(dt), mode, [(p.id, q, "x") for p, q in lines], **fields)
        return b.complete_session(ctx(dt + 60), sess, email=email, name="N", outcome=outcome)

    checkout([(pa, 1)], 100, "Guest@Example.com")           # guest buys A ...
    checkout([(pa, 2)], 200, "guest@example.COM")           # ... and again, other casing
    cus = b.create_customer(ctx(300), email="kim@example.com", name="Kim")
    ids["kim"] = cus.id
    checkout([(pa, 1), (pb, 1)], 400, customer=cus.id)      # a customer buys A and B
    sub = checkout([(pm, 1)], 500, "sub@example.com", mode="subscription")
    ids["sub_customer"] = sub.customer  # type: ignore[assignment]
    b.advance_subscription(ctx(40 * DAY), store.subscriptions[sub.subscription])  # type: ignore[index]
    refunded = checkout([(pc, 1)], 600, "refund@example.com")
    b.create_refund(ctx(700), store.charges[store.payment_intents[refunded.payment_intent].latest_charge])  # type: ignore[index]
    part = checkout([(pc, 1)], 800, "part@example.com")
    b.create_refund(ctx(900), store.charges[store.payment_intents[part.payment_intent].latest_charge],  # type: ignore[index]
                    amount=100)
    checkout([(pc, 1)], 1000, "late@example.com", outcome="delayed_succeeded")
    checkout([(pb, 1)], 1100, "failed@example.com", outcome="delayed_failed")
    checkout([(pb, 1)], 1200, "pending@example.com", outcome="delayed")
    b.create_session(ctx(1300), "payment", [(pb.id, 1, "x")])                    # left open
    b.expire_session(ctx(1400 + DAY), b.create_session(ctx(1400), "payment", [(pb.id, 1, "x")]))
    buyer = b.create_customer(ctx(1500), email="inv@example.com")
    ids["inv_customer"] = buyer.id
    inv = b.create_invoice(ctx(1500), buyer)
    b.create_invoice_item(ctx(1500), buyer, price=pc, invoice=inv)
    b.create_invoice_item(ctx(1500), buyer, amount=2000, currency="usd", invoice=inv)
    b.pay_invoice(ctx(1600), b.finalize_invoice(ctx(1550), inv))              # Elements
    unpaid = b.create_customer(ctx(1700), email="open@example.com")
    open_inv = b.create_invoice(ctx(1700), unpaid)
    b.create_invoice_item(ctx(1700), unpaid, price=pa, invoice=open_inv)
    b.finalize_invoice(ctx(1750), open_inv)                                    # never paid
    lctx = ctx(1800, (True, None))
    lp = b.create_product(lctx, "Live A")
    ids["live"] = lp.id
    lsess = b.create_session(lctx, "payment", [(b.create_price(lctx, lp, "usd", 100).id, 1, "x")])
    b.complete_session(lctx, lsess, email="Live@Example.com")
    yield store, ids


def test_truth_follows_what_counts_as_a_purchase(hand_built: tuple[Store, dict[str, str]]) -> None:
    store, ids = hand_built
    assert truth(store) == {
        ids["a"]: {"guest@example.com", ids["kim"]},
        ids["b"]: {ids["kim"], ids["sub_customer"]},
        ids["c"]: {"part@example.com", "late@example.com", ids["inv_customer"]},
    }
    every = truth(store, include_refunded=True)
    assert every[ids["c"]] == truth(store)[ids["c"]] | {"refund@example.com"}
    assert refunded_pairs(store) == {(ids["c"], "refund@example.com")}
    assert truth(store, live=True) == {ids["live"]: {"live@example.com"}}
    assert truth(store, account="acct_none") == {}
    # The subscription checkout and its invoice are one purchase of B; its renewal another.
    sub_rows = [p for p in purchases(store) if p.customer == ids["sub_customer"]]
    assert [p.source[:3] for p in sub_rows] == ["cs_", "in_", "in_"]
    assert len({p.charge for p in sub_rows}) == 2
