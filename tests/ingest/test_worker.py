"""The worker end to end: seeded Stripe history, stored as webhooks would store it, applied by the
worker through the sandbox over HTTP, must give exactly the customers the sandbox's own records say
bought each product, on SQLite and PostgreSQL, whatever the order, duplicates or retries."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update

from indexer import cli, db, models
from indexer.ingest import event_store
from indexer.ingest.event_store import event_row
from indexer.ingest.worker import FIRST_IDLE_POLL, EventsWaiting, Worker, next_idle_wait
from indexer.stripe_api import StripeAPI
from stripe_sandbox import generator
from stripe_sandbox.server import SandboxServer
from tests.conftest import (
    assert_rollups_match,
    engine_url,
    make_event,
    product_object,
    serve_generated,
)
from tests.ingest.conftest import (
    TEST_KEY,
    deliver,
    event_bodies,
    event_status,
    index_customers,
    purchase_rows,
    run_worker,
)

LIVE_KEY = "sk_live_worker"


@pytest.fixture(scope="module")
def seeded() -> Iterator[SandboxServer]:
    """A sandbox holding a deterministic year of sales in both modes and a Connect account."""
    yield from serve_generated(160, 11)


def truth(server: SandboxServer, *, live: bool, account: str = "") -> dict[str, set[str]]:
    return generator.truth(server.store, live=live, account=account or None)


def accounts(server: SandboxServer) -> list[str]:
    return ["", *sorted(server.store.accounts)]


def test_seeded_history_applied_by_the_worker_matches_the_truth(seeded: SandboxServer, engine: Engine) -> None:
    assert deliver(engine, event_bodies(seeded.store, live=False)) > 0
    run_worker(engine, seeded.url)
    assert event_status(engine).get("failed", 0) == 0
    assert set(event_status(engine)) <= {"done", "skipped"}
    for account in accounts(seeded):
        assert index_customers(engine, live=False, account=account) == truth(seeded, live=False, account=account)


def test_modes_share_one_database_and_never_mix(seeded: SandboxServer, engine: Engine) -> None:
    deliver(engine, event_bodies(seeded.store, live=False))
    deliver(engine, event_bodies(seeded.store, live=True))
    run_worker(engine, seeded.url, TEST_KEY)
    assert event_status(engine).get("failed"), "live events are parked by a test-mode worker"
    with db.transaction(engine) as conn:
        event_store.requeue_events(conn, None)
    run_worker(engine, seeded.url, LIVE_KEY)
    assert index_customers(engine, live=True) == truth(seeded, live=True)
    assert index_customers(engine, live=False) == truth(seeded, live=False)
    assert truth(seeded, live=True), "the seed has live-mode sales"


def test_duplicates_reordering_and_reapplying_converge_to_the_same_rows(
    seeded: SandboxServer, engine: Engine, tmp_path: Any
) -> None:
    bodies = event_bodies(seeded.store, live=False)
    deliver(engine, bodies)
    run_worker(engine, seeded.url)
    in_order = purchase_rows(engine)

    other = db.make_engine(f"sqlite:///{tmp_path}/shuffled.db")
    db.migrate(other)
    rng = random.Random(5)
    shuffled = bodies + rng.sample(bodies, len(bodies) // 3)
    rng.shuffle(shuffled)
    assert deliver(other, shuffled) == len(bodies), "a duplicate delivery stores nothing"
    run_worker(other, seeded.url)
    with db.transaction(other) as conn:
        conn.execute(update(models.events_t).values(status="pending", available_at=0))
    run_worker(other, seeded.url)
    assert purchase_rows(other) == in_order
    other.dispose()


def test_a_transient_stripe_failure_is_retried_later_and_a_permanent_one_is_parked(
    seeded: SandboxServer, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    completed = next(b for b in event_bodies(seeded.store, live=False) if '"checkout.session.completed"' in b)
    event = json.loads(completed)
    ghost = json.loads(completed)
    ghost["id"] = "evt_ghost"
    ghost["data"]["object"]["id"] = "cs_test_does_not_exist"
    deliver(engine, [completed, json.dumps(ghost)])

    with pytest.raises(EventsWaiting, match="2 event"):  # nothing listens: Stripe is down
        run_worker(engine, "http://127.0.0.1:9", max_retries=0, worker_options={"once_retry_patience": 0})
    e = models.events_t.c
    with db.transaction(engine) as conn:
        rows = {r.id: r for r in conn.execute(select(e.id, e.status, e.attempts, e.last_error, e.available_at))}
    assert rows[event["id"]].status == "pending" and rows[event["id"]].attempts == 1
    assert "unavailable" in rows[event["id"]].last_error.lower()
    assert rows[event["id"]].available_at > 0

    with db.transaction(engine) as conn:
        conn.execute(update(models.events_t).values(available_at=0))
    run_worker(engine, seeded.url)
    with db.transaction(engine) as conn:
        rows = {r.id: r for r in conn.execute(select(e.id, e.status, e.attempts, e.last_error))}
    assert rows[event["id"]].status == "done"
    assert rows["evt_ghost"].status == "failed" and "resource_missing" in (rows["evt_ghost"].last_error or "") or \
        "No such" in (rows["evt_ghost"].last_error or "")

    env = {"DATABASE_URL": engine_url(engine)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli.main(["events", "--failed"]) == 1  # failed events: non-zero, for cron and CI
        assert "evt_ghost" in capsys.readouterr().out
        assert cli.main(["events", "retry", "--all"]) == 0
    with db.transaction(engine) as conn:
        assert conn.execute(select(e.status).where(e.id == "evt_ghost")).scalar_one() == "pending"


def test_a_live_event_with_a_test_key_is_parked_with_a_clear_reason(seeded: SandboxServer, engine: Engine) -> None:
    live = [b for b in event_bodies(seeded.store, live=True) if '"checkout.session.completed"' in b][:1]
    deliver(engine, live)
    run_worker(engine, seeded.url, TEST_KEY)
    with db.transaction(engine) as conn:
        row = conn.execute(select(models.events_t.c.status, models.events_t.c.last_error)).one()
    assert row.status == "failed" and "live-mode event" in row.last_error


def test_several_workers_share_the_queue_on_postgresql(seeded: SandboxServer, engine: Engine) -> None:
    """SKIP LOCKED claims: three workers at once apply every event exactly once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("one worker at a time on SQLite")
    import threading

    deliver(engine, event_bodies(seeded.store, live=False))
    workers = [Worker(engine, StripeAPI(TEST_KEY, api_base=seeded.url, rate=1000.0), batch_size=50)
               for _ in range(3)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        w.close()
    assert all(w.stats.applied > 0 for w in workers), [str(w.stats) for w in workers]
    with db.transaction(engine) as conn:
        attempts = conn.execute(text("SELECT max(attempts) FROM stripe_events")).scalar_one()
    assert attempts == 1, "no event was claimed twice"
    assert set(event_status(engine)) <= {"done", "skipped"}
    for account in accounts(seeded):
        assert index_customers(engine, live=False, account=account) == truth(seeded, live=False, account=account)
    assert_rollups_match(engine)


def test_a_worker_carries_on_after_a_database_restart(pg_cluster: Any) -> None:
    """Its pooled connections die with the server; the next batch checks them out afresh."""
    engine = db.make_engine(pg_cluster.url)
    db.migrate(engine)
    product = product_object("prod_restart", "Kept")

    def product_event(n: int) -> str:
        return json.dumps(make_event(f"evt_product_{n}", obj=product, type="product.updated", created=n))

    worker = Worker(engine, StripeAPI(TEST_KEY, api_base="http://127.0.0.1:9", rate=1000.0), batch_size=10,
                    lease_seconds=2)
    try:
        deliver(engine, [product_event(1)])
        assert worker.run(once=True).applied == 1
        pg_cluster.stop()  # immediate: the first event's ``done``, committed without waiting for the disk, may be lost
        pg_cluster.start()
        body = product_event(2)
        assert event_store.store_event_row(engine, event_row(json.loads(body), body, source="webhook"))
        assert worker.run(once=True).applied >= 2
        assert event_status(engine) == {"done": 2}
    finally:
        worker.close()
        engine.dispose()


def test_sessions_that_expired_or_failed_are_applied_from_the_payload_at_no_request(
    seeded: SandboxServer, engine: Engine
) -> None:
    """A session that expired, or whose delayed payment failed, never becomes a purchase: the
    payload says all there is, so its event costs no Stripe request, and an earlier row of it
    (an out-of-order apply) is removed all the same."""
    final = {"checkout.session.expired", "checkout.session.async_payment_failed"}
    bodies = [b for b in event_bodies(seeded.store, live=False) if json.loads(b)["type"] in final]
    assert {json.loads(b)["type"] for b in bodies} == final, "the seed has both kinds"
    failed = next(json.loads(b)["data"]["object"]["id"] for b in bodies
                  if json.loads(b)["type"] == "checkout.session.async_payment_failed")
    with db.transaction(engine) as conn:  # a row the index must drop: the failed session's
        conn.execute(models.purchases_t.insert().values(
            account="", livemode=False, source_type="checkout.session", source_id=failed, line_item_id="li_x",
            payment_key=failed, product_id="prod_x", customer_key="cus_x", customer_id="cus_x", quantity=1,
            amount_subtotal=100, amount_total=100, currency="usd", purchased_at=1, updated_at=1,
            checkout_session=failed))
    deliver(engine, bodies)
    seeded.reset_counts()
    run_worker(engine, seeded.url)
    assert event_status(engine) == {"done": len(bodies)}
    assert not any(family.startswith("GET /v1/checkout") for family in seeded.request_count), seeded.request_count
    with db.transaction(engine) as conn:
        assert conn.execute(select(func.count()).select_from(models.purchases_t)).scalar_one() == 0


def test_a_payload_that_claims_a_purchase_in_a_final_event_is_read_from_stripe(
    seeded: SandboxServer, engine: Engine
) -> None:
    """Only a payload that is no purchase is trusted: one that says paid is read from Stripe."""
    body = next(b for b in event_bodies(seeded.store, live=False)
                if json.loads(b)["type"] == "checkout.session.async_payment_failed")
    event = json.loads(body)
    event["data"]["object"]["payment_status"] = "paid"
    deliver(engine, [json.dumps(event)])
    seeded.reset_counts()
    run_worker(engine, seeded.url)
    assert seeded.request_count.get("GET /v1/checkout/sessions/{id}") == 1
    assert event_status(engine) == {"done": 1}
    with db.transaction(engine) as conn:  # Stripe says unpaid: no purchase
        assert conn.execute(select(func.count()).select_from(models.purchases_t)).scalar_one() == 0


def test_an_empty_queue_is_polled_again_soon_after_a_batch_then_less_often() -> None:
    waits = [next_idle_wait(None, 0.5)]
    while len(waits) < 8:
        waits.append(next_idle_wait(waits[-1], 0.5))
    assert waits[0] == FIRST_IDLE_POLL < 0.1
    assert waits == sorted(waits) and waits[-1] == 0.5, waits


def test_a_backlog_spread_over_months_is_listed_page_by_page_not_object_by_object(
    seeded: SandboxServer, engine: Engine
) -> None:
    """A year of events applied in one batch: the sessions, too far apart to cluster, come from
    pages of ``/v1/checkout/sessions`` and the invoices' PaymentIntents from pages of
    ``/v1/invoice_payments`` while a page holds enough of them; the rows are the same as when
    each is read alone (the other tests' batches of 200)."""
    bodies = event_bodies(seeded.store, live=False)
    deliver(engine, bodies)
    seeded.reset_counts()
    run_worker(engine, seeded.url, worker_options={"batch_size": len(bodies)})
    assert set(event_status(engine)) <= {"done", "skipped"}
    for account in accounts(seeded):
        assert index_customers(engine, live=False, account=account) == truth(seeded, live=False, account=account)
    requests = seeded.request_count
    sessions = {json.loads(b)["data"]["object"]["id"] for b in bodies if '"checkout.session.completed"' in b}
    invoices = {json.loads(b)["data"]["object"]["id"] for b in bodies if '"invoice.paid"' in b}
    assert requests.get("GET /v1/checkout/sessions/{id}", 0) + requests["GET /v1/checkout/sessions"] \
        < len(sessions) / 4, requests
    assert requests.get("GET /v1/invoice_payments", 0) < len(invoices) / 2, requests


def test_a_sparse_listing_stops_at_the_first_page_that_does_not_pay(seeded: SandboxServer, engine: Engine) -> None:
    """Wanted sessions lost among many others: one page is spent, then the caller retrieves them
    one by one; the loss is bounded by that page."""
    from indexer.ingest.apply import Applier

    platform = sorted((s for s in seeded.store.sessions.values() if not s.live and s.account is None),
                      key=lambda s: s.created)
    assert len(platform) > 100, "the range holds more than a page"
    oldest = platform[0]
    applier = Applier(engine, StripeAPI(TEST_KEY, api_base=seeded.url, rate=1000.0))
    seeded.reset_counts()
    try:
        listed = applier._list_range("", platform[0].created, platform[-1].created, {oldest.id}, page_pays=5)
        assert listed == {} and seeded.request_count == {"GET /v1/checkout/sessions": 1}
        listed = applier._list_range("", platform[0].created, platform[-1].created, {oldest.id})
        assert set(listed) == {oldest.id}, "without page_pays the range is read to the session"
    finally:
        applier.close()
