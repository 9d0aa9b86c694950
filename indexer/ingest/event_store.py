"""The event store: one row per Stripe event id, its payload kept verbatim, and the work queue.

Webhooks and the catch-up store here; workers claim due events (``FOR UPDATE SKIP LOCKED`` and
a lease), then finish, retry or park them. Every statement on ``stripe_events`` lives in this
module, as does the registry of the event types the index applies (``FAMILIES``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, func, literal, select
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
    "report": frozenset({"reporting.report_run.succeeded", "reporting.report_run.failed"}),
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


#: The longest value each column of ``stripe_events`` takes from an event (``indexer.models``).
_COLUMN_LENGTHS = {"id": 255, "type": 128, "api_version": 64, "account": 255, "data.object.id": 255}
_MAX_BIGINT = 2**63 - 1


def parse_event(payload: bytes) -> dict[str, Any]:
    """Parse and sanity-check a Stripe event; anything else is a ``SignatureError`` (HTTP 400).

    Whatever passes can be stored on either database: UTF-8 JSON, every stored field of its
    column's type and length, and no NUL or unpaired surrogate anywhere (PostgreSQL's text
    takes neither), so a signed but malformed body is a 400, never a 500 that Stripe retries.
    """
    try:
        event = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SignatureError("body is not JSON in UTF-8") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise SignatureError("body is not a Stripe event")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    created = event.get("created")
    problems = [
        name
        for name, ok in (
            ("id", _text(event.get("id"), "id") and event["id"].startswith("evt_")),
            ("type", _text(event.get("type"), "type")),
            ("api_version", event.get("api_version") is None or _text(event.get("api_version"), "api_version")),
            ("created", type(created) is int and 0 <= created <= _MAX_BIGINT),
            ("livemode", isinstance(event.get("livemode"), bool)),
            ("data.object", isinstance(obj, dict)),
            ("data.object.id", not isinstance(obj, dict) or not isinstance(obj.get("id"), str)
             or _text(obj["id"], "data.object.id")),
            ("account", event.get("account") in (None, "") or _text(event.get("account"), "account")),
        )
        if not ok
    ]
    if problems:
        raise SignatureError(f"Stripe event has a missing or malformed {', '.join(problems)}")
    if b"\\u" in payload and not _storable(event):
        raise SignatureError("Stripe event holds a NUL character or an unpaired surrogate")
    return event


def _text(value: Any, column: str) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _COLUMN_LENGTHS[column]


def _storable(value: Any) -> bool:
    """No string in ``value`` (keys included) holds what a database text column refuses. Only
    a ``\\u`` escape can put such a character in a body that ``json.loads`` accepts."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or not _encodable(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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

    This is the webhook's hot path: on PostgreSQL it is ``insert_event_prepared``; elsewhere
    SQLAlchemy Core in autocommit (a single ``INSERT`` is atomic on its own, so no
    ``BEGIN``/``COMMIT`` round trips either way).
    """
    try:
        if db.is_postgres(engine):
            return insert_event_prepared(engine, row)
        with engine.connect() as conn:
            return insert_event(conn.execution_options(isolation_level="AUTOCOMMIT"), row)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(f"database unavailable: {db.short_error(exc)}") from exc


_EVENT_COLUMNS = tuple(c.name for c in events_t.columns if c.name not in ("last_error", "processed_at"))
_INSERT_EVENT_SQL = (
    f"INSERT INTO stripe_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('%(' + c + ')s' for c in _EVENT_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)


def insert_event_prepared(engine: Engine, row: dict[str, Any]) -> bool:
    """The webhook's insert on PostgreSQL: ``insert_event`` as a statement psycopg prepares once
    per connection, run in autocommit on the driver connection of a connection taken from the
    engine's own pool. False for a duplicate.

    Why not SQLAlchemy Core: building, keying and executing the Core statement costs the web
    process a large share of the CPU it spends on a whole webhook, and the web processes share
    the CPU with PostgreSQL: ``bench/webhook_ingest.py --variants core`` prints both paths side
    by side. No pool of its own: the engine's pool opens, recycles and disposes of these
    connections like any other.

    A pooled connection may have died with a server restart since its last use: then the idle
    ones (as old) are closed, and the insert, idempotent, runs once more on a new connection.
    """
    import psycopg

    for attempt in (1, 2):
        try:
            pooled = engine.raw_connection()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"database unavailable: {db.short_error(exc)}") from exc
        try:
            conn = pooled.driver_connection
            conn.autocommit = True
            try:
                return bool(conn.execute(_INSERT_EVENT_SQL, _event_params(row), prepare=True).rowcount == 1)
            finally:
                if not conn.closed:
                    conn.autocommit = False
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            pooled.invalidate(exc)
            if attempt == 2:
                raise DatabaseUnavailable(f"database unavailable: {db.short_error(exc)}") from exc
            engine.pool.dispose()
        finally:
            pooled.close()
    raise AssertionError("unreachable")


def _event_params(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row.get(c) for c in _EVENT_COLUMNS}


#: How many times an event is claimed before it is parked as ``failed``: a claim that would
#: exceed it parks the event instead (a worker died applying it each time).
MAX_ATTEMPTS = 8


def claim_events(
    conn: Connection, *, limit: int, lease_seconds: int, max_attempts: int = MAX_ATTEMPTS
) -> list[Any]:
    """Lease up to ``limit`` due events to this worker, oldest first; settle at once those that
    need no work.

    A lease (``available_at`` pushed into the future, ``processed_at`` cleared) instead of a held
    lock: a worker that dies mid-batch loses nothing, its events come due again when the lease
    runs out, and ``renew_leases`` keeps a live worker's lease from running out.

    In the same statement, a due event of a type the index does not apply is claimed and marked
    ``skipped``, and a due event already claimed ``max_attempts`` times is parked as ``failed``
    (a worker died applying it each time), never handed out again. Most events a Stripe account
    sends are of types the index skips: settling them here spares a second write of each row,
    a transaction per batch and the sending and parsing of their payloads, and parking here
    spares a second scan of the due events per batch.

    Returns the claimed events (``status`` ``pending``, with their payload) and the skipped ones
    (``status`` ``skipped``, payload None), not the parked ones.
    """
    now = int(time.time())
    e = events_t.c
    # Inline, as the partial index names it: a plan made for a parameter could not use the index.
    pending = literal("pending", literal_execute=True)
    due = (
        select(e.id)
        .where(e.status == pending, e.available_at <= now)
        .order_by(e.created, e.id)
        .limit(limit)
    )
    if db.is_postgres(conn):
        due = due.with_for_update(skip_locked=True)
    exhausted = e.attempts >= max_attempts
    skipped = ~db.among(conn, e.type, sorted(APPLIED_TYPES))
    settled = exhausted | skipped
    reason = f"parked after {max_attempts} attempts: the worker stopped while applying it; last error: "
    stmt = (
        events_t.update()
        .where(e.id.in_(due.scalar_subquery()))
        .values(
            status=case((exhausted, "failed"), (skipped, "skipped"), else_=e.status),
            attempts=case((exhausted, e.attempts), else_=e.attempts + 1),
            available_at=case((settled, e.available_at), else_=now + lease_seconds),
            processed_at=case((settled, now), else_=None),
            last_error=case((exhausted, literal(reason) + func.coalesce(e.last_error, "none")), (skipped, None),
                            else_=e.last_error),
        )
        .returning(e.id, e.type, e.status, case((e.status == "pending", e.payload)).label("payload"),
                   e.account, e.livemode, e.created, e.attempts)
    )
    rows = [row for row in conn.execute(stmt) if row.status != "failed"]
    return sorted(rows, key=lambda r: (r.created, r.id))


def renew_leases(conn: Connection, claims: Mapping[str, int], lease_seconds: int) -> int:
    """Push the lease of events this worker still holds ``lease_seconds`` into the future.

    ``claims`` maps each event id to the ``attempts`` its claim returned: a lease that ran out
    and was claimed again by another worker (attempts moved on), or an event already finished
    or set to retry (``processed_at`` set), is left alone."""
    e = events_t.c
    until = int(time.time()) + lease_seconds
    by_attempts: dict[int, list[str]] = {}
    for event_id, attempts in claims.items():
        by_attempts.setdefault(attempts, []).append(event_id)
    renewed = 0
    for attempts, ids in by_attempts.items():
        for start in range(0, len(ids), 500):
            renewed += conn.execute(
                events_t.update()
                .where(e.id.in_(ids[start : start + 500]), e.status == "pending", e.attempts == attempts,
                       e.processed_at.is_(None))
                .values(available_at=until)
            ).rowcount
    return renewed


@dataclass(frozen=True)
class Outlook:
    """Pending events that are not due: leased to a worker, or waiting for a retry."""

    leased: int
    lease_ends: int | None
    retrying: int
    next_retry: int | None


def pending_outlook(conn: Connection) -> Outlook:
    """What is pending but not due now. A leased event was claimed and is not settled
    (``processed_at`` is null); an event waiting for a retry was settled by ``retry_event_later``."""
    e = events_t.c
    now = int(time.time())
    leased = e.processed_at.is_(None)
    rows = conn.execute(
        select(leased.label("leased"), func.count(), func.min(e.available_at))
        .where(e.status == "pending", e.available_at > now)
        .group_by(leased)
    ).all()
    found = {bool(row[0]): (row[1], row[2]) for row in rows}
    lease, retry = found.get(True, (0, None)), found.get(False, (0, None))
    return Outlook(leased=lease[0], lease_ends=lease[1], retrying=retry[0], next_retry=retry[1])


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
    """Give the event back to the queue ``delay`` seconds from now; ``processed_at`` records the
    failed attempt, which tells a waiting retry apart from a lease."""
    now = int(time.time())
    conn.execute(
        events_t.update()
        .where(events_t.c.id == event_id)
        .values(available_at=now + delay, last_error=error, processed_at=now)
    )


def requeue_events(conn: Connection, event_ids: Iterable[str] | None) -> int:
    """Put failed events back in the queue (all failed ones when ``event_ids`` is None)."""
    stmt = events_t.update().where(events_t.c.status == "failed")
    if event_ids is not None:
        stmt = stmt.where(events_t.c.id.in_(list(event_ids)))
    result = conn.execute(stmt.values(status="pending", available_at=0, attempts=0))
    return result.rowcount


# --- reads for the dashboard's events page --------------------------------------------------


def oldest_pending_received_at(conn: Connection) -> int | None:
    """When the oldest event still waiting to be applied arrived (Unix seconds); None when none waits.
    ``now`` minus this is the backlog's age: how far behind Stripe the index may be."""
    e = events_t.c
    pending = literal("pending", literal_execute=True)  # inline: see ``count_events``
    return conn.execute(select(func.min(e.received_at)).where(e.status == pending)).scalar_one_or_none()


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


#: Every state an event can be in: waiting or retrying, applied, not used by the index, parked.
EVENT_STATUSES = ("pending", "done", "skipped", "failed")


def count_events(conn: Connection, *, statuses: Sequence[str] = EVENT_STATUSES,
                 cap: int | None = None) -> dict[str, int]:
    """How many stored events are in each of ``statuses`` (zeros included), in that order.

    The one count of the event store: the CLI asks for exact figures, the dashboard passes
    ``cap`` (every event is kept, so an exact count of the applied ones grows without end, while
    the figures that call for action, pending and failed, are small when all is well), and
    ``queue_summary`` asks for pending and failed only. One statement, each count an index range
    scan of the ``(status, available_at)`` index (of at most ``cap`` entries). The statuses are
    written into the statement: under the web app's generic plans (``db.make_engine(reads=True)``)
    a parameter would hide which status is asked, and the plan would read the whole table.
    """
    e = events_t.c

    def counted(status: str) -> Any:
        matching = select(e.id).where(e.status == literal(status, literal_execute=True))
        if cap is not None:
            matching = matching.limit(cap)
        return select(func.count()).select_from(matching.subquery()).scalar_subquery()

    row = conn.execute(select(*(counted(status) for status in statuses))).one()
    return dict(zip(statuses, map(int, row), strict=True))


def queue_summary(conn: Connection) -> dict[str, int | None]:
    """What is waiting: ``pending`` and ``failed`` events, and the ``received_at`` of the oldest
    pending one (None when none is).

    Read at every ``/metrics`` scrape, so it reads the ``(status, available_at)`` index and the
    pending rows only: its cost follows the backlog, not the table.
    """
    counts: dict[str, int | None] = {**count_events(conn, statuses=("pending", "failed"))}
    counts["oldest_pending_received_at"] = oldest_pending_received_at(conn)
    return counts
