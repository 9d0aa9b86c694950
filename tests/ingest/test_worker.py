"""The worker end to end: seeded Stripe history, stored as webhooks would store it, applied by the
worker through the sandbox over HTTP, must give exactly the customers the sandbox's own records say
bought each product, on SQLite and PostgreSQL, whatever the order, duplicates or retries."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from indexer import cli, db, models
from indexer.ingest import event_store
from indexer.ingest.event_store import event_row
from indexer.ingest.worker import EventsWaiting, Worker
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
