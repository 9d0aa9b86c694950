"""Claims, leases and the attempts limit: a worker that dies loses its events to a live one within
the lease, a live worker keeps its lease however long its batch takes, an event is never handed
out beyond the attempts limit, and ``indexer worker --once`` waits for leased events instead of
exiting 0 while they are pending."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, update

from indexer import cli, db, models
from indexer.ingest import event_store
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox import generator
from stripe_sandbox.render import Renderer, version
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store
from tests.conftest import engine_url
from tests.ingest.conftest import NOWHERE, deliver_events, product_event, state

KEY = "sk_test_leases"


def test_a_claim_never_hands_out_an_event_beyond_the_attempts_limit(engine: Engine) -> None:
    """An event claimed ``max_attempts`` times whose lease ran out each time (the worker applying
    it was killed, ran out of memory...) is parked with the reason, not claimed a ninth time."""
    deliver_events(engine, [product_event(1), product_event(2)])
    with db.transaction(engine) as conn:
        conn.execute(update(models.events_t).where(models.events_t.c.id == "evt_lease_1")
                     .values(attempts=8, last_error="StripeUnavailable: earlier"))
        conn.execute(update(models.events_t).where(models.events_t.c.id == "evt_lease_2").values(attempts=7))
    with db.transaction(engine) as conn:
        claimed = event_store.claim_events(conn, limit=10, lease_seconds=60, max_attempts=8)
    assert [(r.id, r.attempts) for r in claimed] == [("evt_lease_2", 8)]
    parked = state(engine)["evt_lease_1"]
    assert parked.status == "failed" and parked.attempts == 8
    assert parked.last_error.startswith("parked after 8 attempts") and "StripeUnavailable: earlier" in parked.last_error


def test_events_leased_by_a_worker_that_died_are_applied_by_a_live_one_within_the_lease(engine: Engine) -> None:
    deliver_events(engine, [product_event(n) for n in range(5)])
    with db.transaction(engine) as conn:  # a worker claims, then dies before settling anything
        assert len(event_store.claim_events(conn, limit=3, lease_seconds=2)) == 3
    started = time.monotonic()
    worker = Worker(engine, StripeAPI(KEY, api_base=NOWHERE, rate=1000.0), lease_seconds=2)
    try:
        stats = worker.run(once=True)
    finally:
        worker.close()
    assert stats.applied == 5
    assert {(r.status, r.attempts) for r in state(engine).values()} == {("done", 1), ("done", 2)}
    assert 1.0 < time.monotonic() - started < 15


@pytest.fixture
def slow_shop() -> Iterator[tuple[SandboxServer, list[dict[str, Any]]]]:
    """A sandbox whose every API request takes 6 s, and its session events."""
    store = Store()
    generator.generate(store, size=8, seed=2)
    renderer = Renderer(store)
    events = [renderer.event(e, version(e.api_version)) for e in store.ordered("event", live=False)
              if e.type == "checkout.session.completed" and not getattr(e, "account", None)]
    server = SandboxServer(store, host="127.0.0.1", port=0, latency_ms=6000)
    server.start()
    yield server, events
    server.stop()


def test_a_live_worker_keeps_its_lease_while_a_slow_batch_runs(
    engine: Engine, slow_shop: tuple[SandboxServer, list[dict[str, Any]]]
) -> None:
    """The lease (3 s here) is renewed while the batch waits on Stripe (6 s a request):
    past the lease no other worker claims its events, and each is claimed once. A lease of a few
    seconds keeps the test true on a loaded machine, where a renewal thread may wait its turn."""
    if not db.is_postgres(engine):
        pytest.skip("one worker at a time on SQLite")
    server, events = slow_shop
    deliver_events(engine, events[:2])
    worker = Worker(engine, StripeAPI(KEY, api_base=server.url, rate=1000.0), lease_seconds=3)
    batch = threading.Thread(target=worker.run_batch)
    batch.start()
    try:
        time.sleep(4.5)
        assert batch.is_alive()
        with db.transaction(engine) as conn:
            assert event_store.claim_events(conn, limit=10, lease_seconds=3) == []
    finally:
        batch.join()
        worker.close()
    assert {(r.status, r.attempts) for r in state(engine).values()} == {("done", 1)}


def test_worker_once_waits_for_leased_events_and_tells_of_later_retries(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``indexer worker --once`` must not exit while events it could apply are pending: it
    waits out a dead worker's lease and applies them. Events waiting for a later retry are
    left for the next run: it exits 0, as CONTRACT.md says ("drains what is pending, then exits
    0"), and says on stderr how many wait and when."""
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", NOWHERE)
    deliver_events(engine, [product_event(1)])
    now = int(time.time())
    leased = models.events_t.update().where(models.events_t.c.id == "evt_lease_1")
    with db.transaction(engine) as conn:  # claimed by a worker that died 27 s into its 30 s lease
        conn.execute(leased.values(attempts=1, available_at=now + 3))
    assert cli.main(["worker", "--once"]) == 0
    assert state(engine)["evt_lease_1"].status == "done"
    assert "applied 1" in capsys.readouterr().out

    deliver_events(engine, [product_event(2)])
    with db.transaction(engine) as conn:  # its first attempt failed; the next one is 10 minutes away
        conn.execute(models.events_t.update().where(models.events_t.c.id == "evt_lease_2").values(attempts=1))
        event_store.retry_event_later(conn, "evt_lease_2", 600, "StripeUnavailable: HTTP 503")
    assert cli.main(["worker", "--once"]) == 0
    out, err = capsys.readouterr()
    assert "worker: applied 0, retrying 0, failed 0" in out
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert "1 event(s) wait for a retry, the next in " in err and "Traceback" not in err
    assert state(engine)["evt_lease_2"].status == "pending"
