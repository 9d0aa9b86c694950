"""The sandbox's webhook sender against a tiny local HTTP receiver over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.errors import SignatureError
from indexer.ingest import signatures
from stripe_sandbox import billing as b
from stripe_sandbox.generator import OLD_API_VERSION, generate
from stripe_sandbox.store import Store
from stripe_sandbox.webhooks import WebhookSender, signature_header
from tests.stripe_sandbox.conftest import Receiver

SECRET = "whsec_test_sender_secret"
NOW = 1_790_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def small_store() -> Store:
    """A store with a little history: a catalog, two paid sessions, one of them refunded."""
    store = Store()
    ctx = b.Ctx(store, (False, None), now=NOW - 3600)
    prod = b.create_product(ctx, "Course")
    price = b.create_price(ctx, prod, "usd", 1500)
    for email in ("Ann@Example.com", "bob@example.com"):
        sess = b.create_session(ctx, "payment", [(price.id, 1, "Course")])
        b.complete_session(ctx, sess, email=email, name="Buyer")
    charge = next(iter(store.charges.values()))
    b.create_refund(b.Ctx(store, (False, None), now=NOW - 60), charge)
    return store


def sender(store: Store, receiver: Receiver, **kw: object) -> WebhookSender:
    kw.setdefault("backoff", 0.02)
    return WebhookSender(store, receiver.url, SECRET, **kw)  # type: ignore[arg-type]


def test_header_matches_the_shared_signature_vectors(shared_stripe: Path) -> None:
    vectors = json.loads((shared_stripe / "webhook_signature_test_vectors.json").read_text())
    payload = vectors["payload"].encode()
    header = signature_header(payload, vectors["secret"], vectors["timestamp"])
    assert header == vectors["headers"]["single"]
    test_mode = signature_header(payload, vectors["secret"], vectors["timestamp"], livemode=False)
    assert test_mode.startswith(header + ",v0=")
    assert signatures.verify(payload, test_mode, (vectors["secret"],),
                             now=vectors["timestamp"]) == vectors["timestamp"]


def test_backlog_is_delivered_oldest_first_signed_and_then_live_events(receiver: Receiver) -> None:
    store = small_store()
    history = [e.id for e in store.ordered("event")]
    with sender(store, receiver, concurrency=1) as ws:
        assert ws.wait_idle(10)
        assert [e["id"] for e in receiver.events()] == history
        # An event emitted while running is delivered too, after the history.
        prod = store.products[next(iter(store.products))]
        b.update_product(b.Ctx(store, (False, None)), prod, name="Course, 2nd edition")
        assert ws.wait_idle(10)
        status = ws.status()
    events = receiver.events()
    assert events[-1]["type"] == "product.updated"
    assert events[-1]["data"]["previous_attributes"]["name"] == "Course"
    assert status["delivered"] == len(history) + 1 == len(events)
    assert status["pending"] == status["failed"] == status["retries"] == 0
    assert status["attempts"] == len(events)
    for headers, body in receiver.requests:
        assert body.startswith(b'{\n  "id": "evt_')  # pretty-printed, as Stripe sends it
        assert headers["Content-Type"].startswith("application/json")
        sig = headers["Stripe-Signature"]
        assert signatures.verify(body, sig, (SECRET,)) > time.time() - 60
        assert ",v0=" in sig  # test-mode events carry Stripe's fake v0 scheme
        with pytest.raises(SignatureError):
            signatures.verify(body, sig, ("whsec_some_other_secret",))
        with pytest.raises(SignatureError):
            signatures.verify(body[:-1] + b" ", sig, (SECRET,))
    by_id = {e.id: e for e in store.events.values()}
    for event in events:  # each rendered at its own version, with the object as it was then
        assert event["api_version"] == by_id[event["id"]].api_version
        assert event["livemode"] is False and "account" not in event
    completed = [e for e in events if e["type"] == "checkout.session.completed"]
    assert [e["data"]["object"]["customer_details"]["email"] for e in completed] == [
        "Ann@Example.com", "bob@example.com"]


def test_no_backlog_sends_only_new_events_of_the_endpoint(receiver: Receiver) -> None:
    store = small_store()
    with sender(store, receiver, backlog=False, pretty=False, livemode=True, connect=False) as ws:
        b.create_customer(b.Ctx(store, (False, None)), email="test@example.com")
        b.create_customer(b.Ctx(store, (True, "acct_1connected000000")), email="c@example.com")
        b.create_customer(b.Ctx(store, (True, None)), email="live@example.com")
        assert ws.wait_idle(10)
    events = receiver.events()
    assert [(e["type"], e["data"]["object"]["email"]) for e in events] == [
        ("customer.created", "live@example.com")]
    assert events[0]["livemode"] is True
    headers, body = receiver.requests[0]
    assert ",v0=" not in headers["Stripe-Signature"]
    assert b"\n" not in body and signatures.verify(body, headers["Stripe-Signature"], (SECRET,))


def test_retries_after_500s_then_succeeds() -> None:
    rec = Receiver(lambda _id, n: 500 if n <= 2 else 200)
    try:
        store = small_store()
        with sender(store, rec, concurrency=2) as ws:
            assert ws.wait_idle(20)
            status = ws.status()
    finally:
        rec.close()
    n = len(store.events)
    assert status["delivered"] == n and status["failed"] == 0
    assert status["attempts"] == 3 * n and status["retries"] == 2 * n
    assert set(rec.attempts.values()) == {3}
    for headers, body in rec.requests:  # every attempt is signed anew and verifies
        signatures.verify(body, headers["Stripe-Signature"], (SECRET,))


def test_gives_up_after_max_attempts_with_growing_backoff() -> None:
    times: list[float] = []
    rec = Receiver(lambda _id, _n: times.append(time.monotonic()) or 503)
    try:
        store = Store()
        b.create_customer(b.Ctx(store, (False, None), now=NOW), email="x@example.com")
        with sender(store, rec, max_attempts=4, backoff=0.05) as ws:
            assert ws.wait_idle(20)
            status = ws.status()
    finally:
        rec.close()
    assert status["failed"] == 1 and status["delivered"] == 0 and status["pending"] == 0
    assert status["attempts"] == 4 and status["retries"] == 3
    assert status["last_error"] == "HTTP 503"
    gaps = [b_ - a for a, b_ in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.195  # 0.05, 0.1, 0.2 s


def test_connection_errors_are_retried_then_failed() -> None:
    rec = Receiver()
    url = rec.url
    rec.close()  # nothing listens there any more
    store = small_store()
    ws = WebhookSender(store, url, SECRET, max_attempts=3, backoff=0.01, timeout=2)
    with ws:
        assert ws.wait_idle(20)
        status = ws.status()
    assert status["failed"] == len(store.events) and status["delivered"] == 0
    assert status["attempts"] == 3 * len(store.events)
    assert "ConnectionRefused" in status["last_error"]


def test_duplicates_and_shuffle_are_seeded(receiver: Receiver) -> None:
    store = small_store()
    history = [e.id for e in store.ordered("event")]
    with sender(store, receiver, concurrency=1, duplicate_rate=1.0, shuffle=4, seed=7) as ws:
        assert ws.wait_idle(10)
        status = ws.status()
    got = [e["id"] for e in receiver.events()]
    assert status["delivered"] == len(history) and status["duplicates"] == len(history)
    assert sorted(got) == sorted(history * 2)
    assert got != history * 2 and got[: len(history)] != history  # reordered


def test_endpoint_api_version_and_connect_account(receiver: Receiver) -> None:
    store = Store()
    acct = store.new_id("acct")
    ctx = b.Ctx(store, (False, acct), now=NOW)
    cus = b.create_customer(ctx, email="c@example.com", name="Connect Buyer")
    prod = b.create_product(ctx, "Plan")
    b.create_subscription(ctx, cus, [(b.create_price(ctx, prod, "usd", 900, interval="month"), 1)])
    with sender(store, receiver, api_version=OLD_API_VERSION) as ws:
        assert ws.wait_idle(10)
    events = receiver.events()
    assert events and all(e["account"] == acct for e in events)
    assert {e["api_version"] for e in events} == {OLD_API_VERSION}
    paid = next(e for e in events if e["type"] == "invoice.paid")["data"]["object"]
    line = paid["lines"]["data"][0]
    assert line["price"]["product"] == prod.id  # the pre-basil shape of invoice lines
    assert paid["subscription"] and "parent" not in paid


def test_thousands_of_seeded_events_deliver_in_seconds(receiver: Receiver) -> None:
    store = Store()
    generate(store, 300, seed=3, now=NOW)
    total = len(store.events)
    started = time.monotonic()
    with sender(store, receiver, concurrency=4) as ws:
        assert ws.wait_idle(60)
        status = ws.status()
    seconds = time.monotonic() - started
    assert total > 2000
    assert status["delivered"] == total and status["failed"] == 0
    assert len({e["id"] for e in receiver.events()}) == total
    versions = {e["api_version"] for e in receiver.events()}
    assert len(versions) == 2  # the old and the current version, as generated
    assert seconds < 30, f"{total} events took {seconds:.1f} s"
