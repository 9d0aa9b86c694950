"""The event store: one row per Stripe event id, its payload kept verbatim, and the work queue.

Webhooks and the catch-up store here; workers claim due events (``FOR UPDATE SKIP LOCKED`` and
a lease), then finish, retry or park them. Every statement on ``stripe_events`` lives in this
module, as does the registry of the event types the index applies (``FAMILIES``).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.errors import DatabaseUnavailable, SignatureError
from indexer.models import events_t

#: The event types the index applies, by family: each family has one handler in
#: ``indexer.ingest.apply``. Adding a type to a family is this one edit: the worker, the catch-up
#: and the webhook registration all read this table.
FAMILIES: dict[str, frozenset[str]] = {
    "session": frozenset({
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }),
    "invoice": frozenset({"invoice.paid", "invoice.payment_succeeded", "invoice.voided", "invoice.marked_uncollectible"}),
    "product": frozenset({"product.created", "product.updated", "product.deleted"}),
    "refund": frozenset({"charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}),
    "dispute": frozenset({
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }),
}
APPLIED_TYPES = frozenset().union(*FAMILIES.values())
_FAMILY_OF = {event_type: family for family, types in FAMILIES.items() for event_type in types}

#: Stripe's ``GET /v1/events`` takes at most this many ``types[]``.
MAX_TYPES_PER_LIST = 20


def family_of(event_type: str) -> str:
    """The family that applies ``event_type``, or ``"other"`` for a type the index skips."""
    return _FAMILY_OF.get(event_type, "other")


def type_groups(limit: int = MAX_TYPES_PER_LIST) -> tuple[tuple[str, ...], ...]:
    """``APPLIED_TYPES`` in groups of whole families, each of at most ``limit`` types, in
    ``FAMILIES`` order: what one ``/v1/events`` listing can ask for."""
    groups: list[list[str]] = []
    for types in FAMILIES.values():
        if not groups or len(groups[-1]) + len(types) > limit:
            groups.append([])
        groups[-1].extend(sorted(types))
    return tuple(tuple(sorted(group)) for group in groups)


def parse_event(payload: bytes) -> dict[str, Any]:
    """Parse and sanity-check a Stripe event; anything else is a ``SignatureError`` (HTTP 400)."""
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise SignatureError("body is not a Stripe event")
    problems = [
        name
        for name, ok in (
            ("id", isinstance(event.get("id"), str) and event["id"].startswith("evt_")),
            ("type", isinstance(event.get("type"), str) and event["type"] != ""),
            ("created", isinstance(event.get("created"), int)),
            ("livemode", isinstance(event.get("livemode"), bool)),
            ("data.object", isinstance(event.get("data"), dict) and isinstance(event["data"].get("object"), dict)),
            ("account", event.get("account") is None or isinstance(event.get("account"), str)),
        )
        if not ok
    ]
    if problems:
        raise SignatureError(f"Stripe event has a missing or malformed {', '.join(problems)}")
    return event


def event_row(event: dict[str, Any], payload: bytes | str, *, source: str) -> dict[str, Any]:
    now = int(time.time())
    obj = event["data"]["object"]
    return {
        "id": event["id"],
        "type": event["type"],
        "api_version": event.get("api_version"),
        "created": event["created"],
        "livemode": event["livemode"],
        "account": event.get("account") or "",
        "object_id": obj.get("id") if isinstance(obj.get("id"), str) else None,
        "payload": payload.decode() if isinstance(payload, bytes) else payload,
        "source": source,
        "status": "pending",
        "attempts": 0,
        "available_at": 0,
        "received_at": now,
    }


def store_event(conn: Connection, payload: bytes | str, *, source: str) -> bool:
    """Store one event verbatim; False when it was already stored (a duplicate changes nothing)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    event = parse_event(raw)
    return insert_event(conn, event_row(event, raw, source=source))


def newest_event_created(conn: Connection, *, account: str, livemode: bool) -> int | None:
    e = events_t.c
    return conn.execute(
        select(func.max(e.created)).where(e.account == account, e.livemode == livemode)
    ).scalar_one_or_none()


def insert_event(conn: Connection, row: dict[str, Any]) -> bool:
    """Store an event once. Returns False for a duplicate delivery, which changes nothing."""
    stmt = db.insert_into(conn, events_t).on_conflict_do_nothing(index_elements=["id"]).returning(events_t.c.id)
    return conn.execute(stmt, row).first() is not None


def store_event_row(engine: Engine, row: dict[str, Any]) -> bool:
    """``insert_event`` as one autocommitted statement: durable when it returns, one round trip.

    This is the webhook's hot path. On PostgreSQL it runs one prepared ``INSERT ... ON CONFLICT DO
    NOTHING`` on a driver connection kept for that, in autocommit mode: no statement
    compilation, no pool checkout, no ``BEGIN``/``COMMIT`` round trips (a single ``INSERT`` is
    atomic on its own).
    """
    try:
        if db.is_postgres(engine):
            return _event_writer(engine).insert({c: row.get(c) for c in _EVENT_COLUMNS})
        with engine.connect() as conn:
            return insert_event(conn.execution_options(isolation_level="AUTOCOMMIT"), row)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(f"database unavailable: {db.short_error(exc)}") from exc


_EVENT_COLUMNS = tuple(c.name for c in events_t.columns if c.name not in ("last_error", "processed_at"))
_INSERT_EVENT_SQL = (
    f"INSERT INTO stripe_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('%(' + c + ')s' for c in _EVENT_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)


class _EventWriter:
    """A few idle autocommit psycopg connections that only insert events.

    A free list rather than SQLAlchemy's pool: taking and returning a connection costs no reset
    round trip and no checkout bookkeeping. Connections are opened lazily (after a gunicorn fork),
    a broken one is dropped so the next request reconnects, and all are closed when the engine
    is disposed.
    """

    def __init__(self, engine: Engine, max_idle: int = 8) -> None:
        self.cargs, self.cparams = engine.dialect.create_connect_args(engine.url)
        self.max_idle = max_idle
        self.idle: list[Any] = []
        self.lock = threading.Lock()

    def insert(self, params: dict[str, Any]) -> bool:
        """An idle connection may have died with a server restart since it was last used: if it
        fails, the others (as old) are closed and the insert, idempotent, runs once more on a
        new connection."""
        idle = self._take()
        if idle is not None:
            try:
                return self._insert(idle, params)
            except DatabaseUnavailable:
                self.close()
        return self._insert(None, params)

    def _insert(self, conn: Any, params: dict[str, Any]) -> bool:
        import psycopg

        try:
            conn = conn or psycopg.connect(*self.cargs, **self.cparams, autocommit=True)
            inserted = conn.execute(_INSERT_EVENT_SQL, params, prepare=True).rowcount == 1
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if conn is not None:
                conn.close()
            raise DatabaseUnavailable(f"database unavailable: {db.short_error(exc)}") from exc
        except BaseException:
            if conn is not None:
                self._give(conn)
            raise
        self._give(conn)
        return bool(inserted)

    def _take(self) -> Any:
        with self.lock:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
        return None

    def _give(self, conn: Any) -> None:
        with self.lock:
            if len(self.idle) < self.max_idle and not conn.closed:
                self.idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


_event_writers: weakref.WeakKeyDictionary[Engine, _EventWriter] = weakref.WeakKeyDictionary()
_event_writers_lock = threading.Lock()


def _event_writer(engine: Engine) -> _EventWriter:
    writer = _event_writers.get(engine)
    if writer is None:
        with _event_writers_lock:
            writer = _event_writers.get(engine)
            if writer is None:
                writer = _event_writers[engine] = _EventWriter(engine)
                sa_event.listen(engine, "engine_disposed", lambda _engine: writer.close())
    return writer


def claim_events(conn: Connection, *, limit: int, lease_seconds: int) -> list[Any]:
    """Lease up to ``limit`` due events to this worker.

    A lease (``available_at`` pushed into the future) instead of a held lock: a worker that dies
    mid-batch loses nothing, its events come due again when the lease runs out.
    """
    now = int(time.time())
    due = (
        select(events_t.c.id)
        .where(events_t.c.status == "pending", events_t.c.available_at <= now)
        .order_by(events_t.c.created, events_t.c.id)
        .limit(limit)
    )
    if db.is_postgres(conn):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        events_t.update()
        .where(events_t.c.id.in_(due.scalar_subquery()))
        .values(available_at=now + lease_seconds, attempts=events_t.c.attempts + 1)
        .returning(
            events_t.c.id, events_t.c.type, events_t.c.payload, events_t.c.account,
            events_t.c.livemode, events_t.c.created, events_t.c.attempts,
        )
    )
    rows = conn.execute(stmt).all()
    return sorted(rows, key=lambda r: (r.created, r.id))


def finish_events(conn: Connection, event_ids: Sequence[str], status: str) -> None:
    for start in range(0, len(event_ids), 500):
        conn.execute(
            events_t.update()
            .where(events_t.c.id.in_(list(event_ids[start : start + 500])))
            .values(status=status, last_error=None, processed_at=int(time.time()))
        )


def finish_event(conn: Connection, event_id: str, status: str, error: str | None = None) -> None:
    conn.execute(
        events_t.update()
        .where(events_t.c.id == event_id)
        .values(status=status, last_error=error, processed_at=int(time.time()))
    )


def retry_event_later(conn: Connection, event_id: str, delay: int, error: str) -> None:
    conn.execute(
        events_t.update()
        .where(events_t.c.id == event_id)
        .values(available_at=int(time.time()) + delay, last_error=error)
    )


def requeue_events(conn: Connection, event_ids: Iterable[str] | None) -> int:
    """Put failed events back in the queue (all failed ones when ``event_ids`` is None)."""
    stmt = events_t.update().where(events_t.c.status == "failed")
    if event_ids is not None:
        stmt = stmt.where(events_t.c.id.in_(list(event_ids)))
    result = conn.execute(stmt.values(status="pending", available_at=0, attempts=0))
    return result.rowcount


# --- reads for the dashboard's events page --------------------------------------------------


def count_events_by_status(conn: Connection, *, cap: int = 10_000) -> dict[str, int]:
    """How many stored events are in each status, counting no further than ``cap`` per status:
    every event is kept, so an exact count of the applied ones would grow without end, while the
    figures that call for action (pending, failed) are small when all is well. One statement,
    each count an index range scan of at most ``cap`` entries."""
    e = events_t.c
    statuses = ("pending", "failed", "skipped", "done")
    counts = [
        select(func.count()).select_from(select(e.id).where(e.status == status).limit(cap).subquery()).scalar_subquery()
        for status in statuses
    ]
    row = conn.execute(select(*counts)).one()
    return dict(zip(statuses, map(int, row), strict=True))


def oldest_pending_received_at(conn: Connection) -> int | None:
    """When the oldest event still waiting to be applied arrived (Unix seconds); None when none waits.
    ``now`` minus this is the backlog's age: how far behind Stripe the index may be."""
    e = events_t.c
    return conn.execute(select(func.min(e.received_at)).where(e.status == "pending")).scalar_one_or_none()


def failed_events_page(conn: Connection, *, limit: int = 50, starting_after: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Failed events, newest first, ``limit`` at a time after the event ``starting_after``
    (keyset on ``(created, id)``), and whether more follow."""
    from sqlalchemy import literal

    e = events_t.c
    # The status inline, not a parameter: a plan made for any status (the web app's generic
    # plans) expects a large share of the table and scans it in parallel.
    failed = literal("failed", literal_execute=True)
    query = select(e.id, e.type, e.status, e.attempts, e.created, e.received_at, e.account, e.livemode,
                   e.object_id, e.last_error).where(e.status == failed)
    if starting_after is not None:
        at = select(e.created).where(e.id == starting_after).scalar_subquery()
        query = query.where((e.created < at) | ((e.created == at) & (e.id < starting_after)))
    rows = [dict(r._mapping) for r in conn.execute(query.order_by(e.created.desc(), e.id.desc()).limit(limit + 1))]
    return rows[:limit], len(rows) > limit


def list_events(conn: Connection, *, failed: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The newest events (only failed ones with ``failed``), newest first."""
    e = events_t.c
    query = select(e.id, e.type, e.status, e.attempts, e.created, e.account, e.livemode, e.last_error)
    if failed:
        query = query.where(e.status == "failed")
    query = query.order_by(e.created.desc(), e.id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]
