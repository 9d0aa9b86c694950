"""The event store on both databases: stored once, claimed oldest first under a lease, requeued."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import Engine, select, text

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.ingest import event_store
from indexer.ingest.event_store import event_row
from indexer.models import events_t
from tests.conftest import engine_url, make_event


def store(engine: Engine, event_id: str, created: int) -> None:
    event = make_event(event_id, obj={"id": "prod_x", "object": "product"}, type="product.created", created=created)
    with db.transaction(engine) as conn:
        event_store.insert_event(conn, event_row(event, json.dumps(event), source="webhook"))


def test_claims_are_leased_oldest_first_and_not_handed_out_twice(engine: Engine) -> None:
    for i, created in enumerate([30, 10, 20]):
        store(engine, f"evt_{i}", created)
    with db.transaction(engine) as conn:
        first = event_store.claim_events(conn, limit=2, lease_seconds=60)
    with db.transaction(engine) as conn:
        second = event_store.claim_events(conn, limit=10, lease_seconds=60)
    assert [r.id for r in first] == ["evt_1", "evt_2"]
    assert [r.id for r in second] == ["evt_0"]
    assert all(r.attempts == 1 for r in first + second)


def test_a_claim_settles_the_events_the_index_skips_and_sends_no_payload_of_theirs(engine: Engine) -> None:
    """An event of a type the index does not apply is claimed and marked ``skipped`` in the
    claim itself (attempts counted, ``processed_at`` set, no lease), comes back without its
    payload, and is never handed out again; an applied type's event is leased with its payload."""
    store(engine, "evt_product", 10)
    other = make_event("evt_customer", obj={"id": "cus_x", "object": "customer"}, type="customer.created", created=5)
    with db.transaction(engine) as conn:
        event_store.insert_event(conn, event_row(other, json.dumps(other), source="webhook"))
        claimed = event_store.claim_events(conn, limit=10, lease_seconds=60)
    assert [(r.id, r.status, r.attempts, r.payload is None) for r in claimed] == [
        ("evt_customer", "skipped", 1, True), ("evt_product", "pending", 1, False)]
    assert json.loads(claimed[1].payload)["id"] == "evt_product"
    with db.transaction(engine) as conn:
        rows = {r.id: r for r in conn.execute(select(events_t))}
        assert event_store.claim_events(conn, limit=10, lease_seconds=60) == []
    assert rows["evt_customer"].status == "skipped" and rows["evt_customer"].processed_at is not None
    assert rows["evt_customer"].available_at == 0 and rows["evt_customer"].last_error is None
    assert rows["evt_product"].processed_at is None and rows["evt_product"].available_at > time.time()


def test_failed_events_are_requeued_by_id_or_all(engine: Engine) -> None:
    for i in range(3):
        store(engine, f"evt_{i}", i)
        with db.transaction(engine) as conn:
            event_store.finish_event(conn, f"evt_{i}", "failed", "boom")
    with db.transaction(engine) as conn:
        assert event_store.requeue_events(conn, ["evt_0", "evt_missing"]) == 1
        assert event_store.requeue_events(conn, None) == 2
        assert event_store.requeue_events(conn, None) == 0


def test_every_family_has_a_handler_and_catch_up_asks_for_every_type() -> None:
    from indexer.ingest.apply import Applier

    assert set(event_store.FAMILIES) == set(Applier.HANDLERS)
    groups = event_store.type_groups()
    assert sorted(t for group in groups for t in group) == sorted(event_store.APPLIED_TYPES)
    assert all(len(group) <= event_store.MAX_TYPES_PER_LIST for group in groups)
    assert event_store.family_of("invoice.paid") == "invoice"
    assert event_store.family_of("customer.created") == "other"


# --- the webhook's store (``store_event_row``; ``insert_event_prepared`` on PostgreSQL) ---------


def stored_rows(engine: Engine) -> list[dict]:
    with db.transaction(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(select(events_t).order_by(events_t.c.id))]


def webhook_row(event_id: str) -> dict:
    event = {"id": event_id, "object": "event", "type": "checkout.session.completed", "created": 1_760_000_000,
             "livemode": True, "account": "acct_1", "api_version": "2026-10-28.endive",
             "data": {"object": {"id": "cs_1", "object": "checkout.session"}}}
    return event_row(event, json.dumps(event, separators=(",", ":")), source="webhook")


def test_the_webhook_store_writes_what_insert_event_writes_once(engine: Engine) -> None:
    """The fast path and SQLAlchemy Core store the same row; a duplicate changes nothing."""
    with db.transaction(engine) as conn:
        assert event_store.insert_event(conn, webhook_row("evt_core"))
    assert event_store.store_event_row(engine, webhook_row("evt_fast")) is True
    assert event_store.store_event_row(engine, {**webhook_row("evt_fast"), "type": "changed"}) is False
    core, fast = stored_rows(engine)
    assert (core.pop("id"), fast.pop("id")) == ("evt_core", "evt_fast")
    assert json.loads(core.pop("payload"))["id"] == "evt_core" and json.loads(fast.pop("payload"))["id"] == "evt_fast"
    assert fast == core and fast["type"] == "checkout.session.completed" and fast["status"] == "pending"


def test_the_prepared_insert_uses_the_engines_pool_and_survives_dead_connections(engine: Engine) -> None:
    """No second pool: the connection it used is the pool's. After PostgreSQL dropped every
    pooled connection (a restart), the next insert still stores, on a fresh connection."""
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL's path")
    web = db.make_engine(engine_url(engine), reads=True)  # the web app's engine: no ping at checkout
    try:
        assert event_store.insert_event_prepared(web, webhook_row("evt_1")) is True
        assert web.pool.checkedin() == 1 and web.pool.checkedout() == 0
        with web.connect() as first, web.connect() as second:
            pids = [c.connection.driver_connection.info.backend_pid for c in (first, second)]
        assert web.pool.checkedin() == 2
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                          {"pids": pids})
            admin.commit()
        time.sleep(0.2)
        assert event_store.insert_event_prepared(web, webhook_row("evt_2")) is True
        assert event_store.insert_event_prepared(web, webhook_row("evt_2")) is False
        assert web.pool.checkedin() == 1  # the dead ones were closed, the new one kept
        assert [r["id"] for r in stored_rows(engine)] == ["evt_1", "evt_2"]
    finally:
        web.dispose()


def test_a_database_that_is_gone_is_unavailable_not_an_error(engine: Engine) -> None:
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL's path")
    gone = db.make_engine(engine.url.set(port=1).render_as_string(hide_password=False), reads=True)
    with pytest.raises(DatabaseUnavailable):
        event_store.store_event_row(gone, webhook_row("evt_1"))
    gone.dispose()
