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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from indexer import db
from indexer.history import checkpoints
from indexer.history.checkpoints import Scope, Shard
from indexer.ingest import event_store
from indexer.stripe_api import StripeAPI

RETENTION_SECONDS = 30 * 86400
STREAM = "catch-up"
#: Stripe accepts at most 20 types per ``types[]`` filter.
TYPE_GROUPS = event_store.type_groups()


@dataclass
class CatchUpResult:
    listed: int = 0
    stored: int = 0
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
                    result.stored += event_store.store_event(conn, json.dumps(event), source="catch-up")
                next_cursor = f"{index}:{page.last_id}" if page.has_more and page.last_id else f"{index + 1}:"
                shard = Shard(STREAM, shard.start, shard.end, next_cursor, shard.objects + len(page.data), last)
                checkpoints.save(conn, scope, shard)
            result.listed += len(page.data)
    if not shard.done:
        with db.transaction(engine) as conn:
            checkpoints.save(conn, scope, Shard(STREAM, shard.start, shard.end, shard.cursor, shard.objects, True))


def _parse_cursor(cursor: str | None) -> tuple[int, str | None]:
    if not cursor or ":" not in cursor:
        return 0, None
    group, _, last = cursor.partition(":")
    return int(group), last or None
