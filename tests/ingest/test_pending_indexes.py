"""The pending events' partial indexes, on both databases: a claim reads about one batch of the
event store whatever the backlog (migration 0012, ``(created, id, available_at) WHERE status =
'pending'``), and the backlog's age is one index entry (0013, ``(received_at) WHERE status =
'pending'``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

from indexer import db
from indexer.ingest import event_store

INDEX = "ix_stripe_events_pending_claim_order"
AGE_INDEX = "ix_stripe_events_pending_received_at"
BACKLOG = 20_000
LEASED = 150
APPLIED = 5_000
LIMIT = 100

FILL = text("""
INSERT INTO stripe_events (id, type, api_version, created, livemode, account, object_id, payload, source,
                           status, attempts, available_at, received_at, processed_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
SELECT :prefix || i, 'checkout.session.completed', NULL, :created + i, false, '', 'cs_' || i, '{}', 'webhook',
       :status, 0, :available_at, :created + i, NULL
FROM n
""")


def fill(engine: Engine, now: int) -> None:
    """Applied events, then leased ones (oldest of the pending, not due: a worker holds them),
    then the due backlog after them."""
    with db.transaction(engine) as conn:
        for prefix, status, count, created, available_at in [
            ("evt_done_", "done", APPLIED, 0, 0),
            ("evt_leased_", "pending", LEASED, 100_000, now + 3600),
            ("evt_due_", "pending", BACKLOG, 200_000, 0),
        ]:
            conn.execute(FILL, {"prefix": prefix, "status": status, "count": count, "created": created,
                                "available_at": available_at})
    db.refresh_statistics(engine, ("stripe_events",))


def sent_statement(engine: Engine, read: Callable[[Connection], Any]) -> tuple[Any, tuple[str, Any]]:
    """What ``read`` returns, and the one statement it sent with its parameters (SQLite's
    ``BEGIN IMMEDIATE`` aside); whatever it wrote is undone."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.startswith("BEGIN"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            result = read(conn)
            transaction.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(sent) == 1, sent
    return result, sent[0]


def claim_statement(engine: Engine) -> tuple[str, Any]:
    """The UPDATE a claim sends, with its parameters, and the claim undone."""
    claimed, sent = sent_statement(engine, lambda conn: event_store.claim_events(conn, limit=LIMIT, lease_seconds=60))
    assert [row.id for row in claimed] == [f"evt_due_{i}" for i in range(1, LIMIT + 1)]
    assert sent[0].lstrip().upper().startswith("UPDATE STRIPE_EVENTS")
    return sent


def explained_scans(engine: Engine, statement: str, parameters: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """PostgreSQL's EXPLAIN ANALYZE of ``statement`` (rolled back), and its reads of ``stripe_events``."""
    with engine.connect() as conn, conn.begin() as transaction:
        explained = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", parameters).scalar()
        transaction.rollback()
    plan = (explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"]
    return plan, list(scans(plan))


def sqlite_plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of ``statement``, a step a line."""
    with engine.connect() as conn:
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]

def scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Relation Name") == "stripe_events" and "Scan" in plan["Node Type"]:
        yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def test_a_claim_reads_one_batch_not_the_backlog_on_postgres(engine: Engine) -> None:
    """EXPLAIN ANALYZE of the claim's own statement: the due events are found by walking the
    pending index in claim order, the leased events in front stepped over in the index without a
    visit to their rows, and every read of ``stripe_events`` stops near the batch instead of
    reading the backlog."""
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL's plan")
    fill(engine, int(time.time()))
    plan, found = explained_scans(engine, *claim_statement(engine))
    assert INDEX in {scan.get("Index Name") for scan in found}, json.dumps(plan, indent=1)
    read = sum(scan["Actual Rows"] * scan["Actual Loops"] + scan.get("Rows Removed by Filter", 0) for scan in found)
    assert read <= 3 * (LIMIT + LEASED), json.dumps(plan, indent=1)
    walk = next(scan for scan in found if scan.get("Index Name") == INDEX)
    assert walk.get("Rows Removed by Filter", 0) == 0, json.dumps(walk, indent=1)  # leased: skipped in the index
    assert walk["Shared Hit Blocks"] + walk["Shared Read Blocks"] <= LIMIT, json.dumps(walk, indent=1)


def test_a_claim_walks_the_pending_index_on_sqlite(engine: Engine) -> None:
    """SQLite uses a partial index only where the query names its condition as written: the
    claim's plan searches the pending index, in claim order, with no sort of the backlog."""
    if db.is_postgres(engine):
        pytest.skip("SQLite's plan")
    fill(engine, int(time.time()))
    plan = sqlite_plan(engine, *claim_statement(engine))
    assert any(INDEX in step for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan


def oldest_statement(engine: Engine) -> tuple[str, Any]:
    """The read of the oldest pending event's arrival, as ``/metrics`` sends it."""
    oldest, sent = sent_statement(engine, event_store.oldest_pending_received_at)
    assert oldest == 100_001  # the first leased event: pending, though not due
    return sent


def test_the_backlogs_age_is_one_index_entry_on_postgres(engine: Engine) -> None:
    """EXPLAIN ANALYZE of ``oldest_pending_received_at``: the oldest pending arrival is the first
    entry of the pending events' arrival index, not a read of every pending row."""
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL's plan")
    fill(engine, int(time.time()))
    plan, found = explained_scans(engine, *oldest_statement(engine))
    assert [scan.get("Index Name") for scan in found] == [AGE_INDEX], json.dumps(plan, indent=1)
    assert sum(scan["Actual Rows"] * scan["Actual Loops"] for scan in found) <= 1, json.dumps(plan, indent=1)


def test_the_backlogs_age_is_one_index_entry_on_sqlite(engine: Engine) -> None:
    if db.is_postgres(engine):
        pytest.skip("SQLite's plan")
    fill(engine, int(time.time()))
    plan = sqlite_plan(engine, *oldest_statement(engine))
    assert any(AGE_INDEX in step for step in plan), plan
