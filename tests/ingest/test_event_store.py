"""The event store on both databases: stored once, claimed oldest first under a lease, requeued."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from indexer import db
from indexer.ingest import event_store
from indexer.ingest.event_store import event_row
from tests.conftest import make_event


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
