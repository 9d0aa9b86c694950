"""Catch-up: store the events a webhook outage missed, from ``GET /v1/events``.

Events are listed from the newest one stored (``event_store.newest_event_created``; the same second
again, since several events share one) up to now, only of the types the index applies, and
stored through the event store exactly as the webhook stores them (``source="catch-up"``); a
duplicate changes nothing. The worker applies them like any other event.

Stripe keeps events for 30 days. When the newest stored event is older than that, the events in
between are gone for good: the result says so (``gap_since``) and a backfill of that range is
needed. Listing is newest first, so an interrupted run must not leave its newer events looking
like the end of the gap: the range is a checkpointed shard (``backfill_progress``, stream
``catch-up``) that a rerun finishes first, from its cursor.

An event that ``parse_event`` refuses (a payload shape this code does not know: Stripe changes
them with API versions) stops nothing and is never dropped: it is stored as ``failed``, with the
reason as its ``last_error`` (``indexer events --failed`` shows it, ``indexer events retry``
replays it once the code reads it), and the listing goes on. Aborting instead would stop every
catch-up at that event for good, since a rerun resumes from the page before it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from indexer import db
from indexer.errors import SignatureError
from indexer.history import checkpoints
from indexer.history.checkpoints import Scope, Shard
from indexer.ingest import event_store
from indexer.stripe_api import StripeAPI

log = logging.getLogger(__name__)

RETENTION_SECONDS = 30 * 86400
STREAM = "catch-up"
#: Stripe accepts at most 20 types per ``types[]`` filter.
TYPE_GROUPS = event_store.type_groups()


@dataclass
class CatchUpResult:
    listed: int = 0
    stored: int = 0
    refused: int = 0
    """Of ``stored``: events stored as ``failed`` because their payload could not be read."""
    since: int | None = None
    until: int = 0
    gap_since: int | None = None
    """When events were lost: the newest stored event's time (older than Stripe's retention)."""

    @property
    def backfill_needed(self) -> bool:
        return self.gap_since is not None


def catch_up(
    engine: Engine, api: StripeAPI, *, account: str = "", since: int | None = None, now: int | None = None,
) -> CatchUpResult:
    """Store the missing events of ``account`` in the API key's mode; see the module docstring.

    ``since`` overrides where the gap starts (e.g. the start of an outage after which webhooks
    came back, so that the newest stored event is already past it)."""
    now = int(time.time()) if now is None else now
    scope = Scope(account, api.livemode)
    result = CatchUpResult(until=now)
    with db.transaction(engine) as conn:
        unfinished = [s for s in checkpoints.load(conn, scope, STREAM, 0, 2**62) if not s.done]
        newest = event_store.newest_event_created(conn, account=account, livemode=api.livemode)
    oldest_kept = now - RETENTION_SECONDS
    if since is not None:
        newest = since
    if unfinished:
        start = min(s.start for s in unfinished)
    elif newest is None:
        start = oldest_kept
    else:
        start = newest
    if newest is not None and newest < oldest_kept:
        result.gap_since = newest
    result.since = newest
    shards = unfinished + [Shard(STREAM, max(start, max((s.end + 1 for s in unfinished), default=start)), now)]
    for shard in shards:
        if shard.start > shard.end:
            continue
        _fetch(engine, api, scope, shard, result)
    return result


def _fetch(engine: Engine, api: StripeAPI, scope: Scope, shard: Shard, result: CatchUpResult) -> None:
    """Page one range of events per group of types; each page is stored with its cursor.

    The cursor names the group too (``<group>:<evt_id>``) so that a rerun resumes the right list.
    """
    with db.transaction(engine) as conn:
        checkpoints.save(conn, scope, shard)
    group, cursor = _parse_cursor(shard.cursor)
    for index in range(group, len(TYPE_GROUPS)):
        pages = api.event_pages(
            created_gt=shard.start - 1, created_lte=shard.end, types=list(TYPE_GROUPS[index]),
            account=scope.account, starting_after=cursor if index == group else None,
        )
        for page in pages:
            last = index == len(TYPE_GROUPS) - 1 and not page.has_more
            with db.transaction(engine) as conn:
                for event in page.data:
                    result.stored += _store(conn, event, shard, scope, result)
                last_id = _listed_id(page.data[-1]) if page.data else None
                next_cursor = f"{index}:{last_id}" if page.has_more and last_id else f"{index + 1}:"
                shard = Shard(STREAM, shard.start, shard.end, next_cursor, shard.objects + len(page.data), last)
                checkpoints.save(conn, scope, shard)
            result.listed += len(page.data)
    if not shard.done:
        with db.transaction(engine) as conn:
            checkpoints.save(conn, scope, Shard(STREAM, shard.start, shard.end, shard.cursor, shard.objects, True))


def _store(conn: Any, event: Any, shard: Shard, scope: Scope, result: CatchUpResult) -> bool:
    """Store one listed event; one that ``parse_event`` refuses is stored as ``failed``."""
    payload = json.dumps(event)
    try:
        return event_store.store_event(conn, payload, source="catch-up")
    except SignatureError as exc:
        row = refused_event_row(event, payload, str(exc), start=shard.start, end=shard.end,
                                account=scope.account, livemode=scope.livemode, now=int(time.time()))
        inserted = event_store.insert_event(conn, row)
        if inserted:
            result.refused += 1
            log.error("event %s stored as failed: %s", row["id"], row["last_error"])
        return inserted


def refused_event_row(
    event: Any, payload: str, reason: str, *, start: int, end: int, account: str, livemode: bool, now: int,
) -> dict[str, Any]:
    """The ``stripe_events`` row of a listed event that ``parse_event`` refused: status ``failed``
    with the reason, every column a value it takes.

    What can be kept of the event is kept; what cannot is replaced so that the row is stored and
    found again: an unusable id becomes ``evt_unreadable_`` and a hash of the payload (a rerun
    finds the same row, so it is stored once), an unusable ``created`` becomes the start of the
    listed range (never later: the newest stored event is where the next catch-up starts).
    ``payload`` is ``json.dumps`` output, ASCII with every odd character escaped: any text
    column takes it."""
    fields = event if isinstance(event, dict) else {}
    data = fields.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    created = fields.get("created")
    event_id = _usable(fields.get("id"), 255)
    if event_id is None or not event_id.startswith("evt_"):
        event_id = "evt_unreadable_" + hashlib.sha256(payload.encode()).hexdigest()[:40]
    return {
        "id": event_id,
        "type": _usable(fields.get("type"), 128) or "unknown",
        "api_version": _usable(fields.get("api_version"), 64),
        "created": created if type(created) is int and start <= created <= end else start,
        "livemode": livemode,
        "account": account,
        "object_id": _usable(obj.get("id"), 255) if isinstance(obj, dict) else None,
        "payload": payload,
        "source": "catch-up",
        "status": "failed",
        "attempts": 0,
        "available_at": 0,
        "received_at": now,
        "processed_at": now,
        "last_error": f"catch-up could not read this event: {reason}"[:2000],
    }


def _usable(value: Any, length: int) -> str | None:
    """``value`` when a text column of ``length`` takes it as it is."""
    if not isinstance(value, str) or not 0 < len(value) <= length or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _listed_id(event: Any) -> str | None:
    """The cursor a listed event gives: its id, however malformed the rest of it is."""
    event_id = event.get("id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _parse_cursor(cursor: str | None) -> tuple[int, str | None]:
    if not cursor or ":" not in cursor:
        return 0, None
    group, _, last = cursor.partition(":")
    return int(group), last or None
