"""Backfill checkpoints: one ``backfill_progress`` row per stream and shard of a ``created`` range.

A shard is an inclusive ``[start, end]`` range of ``created`` times of one stream (a list
endpoint with fixed filters). Its row says how far the shard got: ``cursor`` is the id of the
last object written (Stripe lists are newest first, so the next page is ``starting_after`` it),
``done`` that nothing is left. A page's objects and the new cursor are committed in one
transaction, so a killed backfill resumes exactly after the last page it wrote: no gap, and no
object written twice.

Splitting a shard (to hand its older half to an idle thread) rewrites its key, so it is a
delete and two inserts, also inside the transaction of the page that triggered it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Connection, and_, select

from indexer.db import upsert
from indexer.models import progress_t


@dataclass(frozen=True, slots=True)
class Shard:
    stream: str
    start: int
    end: int
    cursor: str | None = None
    objects: int = 0
    done: bool = False

    def advanced(self, cursor: str | None, count: int, done: bool) -> Shard:
        return replace(self, cursor=cursor or self.cursor, objects=self.objects + count, done=done)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data: the platform (``account=""``) or a Connect account, in one mode."""

    account: str
    livemode: bool


def _key(scope: Scope, shard: Shard) -> object:
    c = progress_t.c
    return and_(
        c.account == scope.account,
        c.livemode == scope.livemode,
        c.stream == shard.stream,
        c.shard_start == shard.start,
        c.shard_end == shard.end,
    )


def _row(scope: Scope, shard: Shard) -> dict[str, object]:
    return {
        "account": scope.account,
        "livemode": scope.livemode,
        "stream": shard.stream,
        "shard_start": shard.start,
        "shard_end": shard.end,
        "cursor": shard.cursor,
        "objects": shard.objects,
        "done": shard.done,
        "updated_at": int(time.time()),
    }


def load(conn: Connection, scope: Scope, stream: str, start: int, end: int) -> list[Shard]:
    """The shards of ``stream`` lying inside ``[start, end]``, oldest range first."""
    c = progress_t.c
    return _shards(conn, scope, stream, c.shard_start >= start, c.shard_end <= end)


def load_overlapping(conn: Connection, scope: Scope, stream: str, start: int, end: int) -> list[Shard]:
    """The shards of ``stream`` that share any second with ``[start, end]``, oldest first."""
    c = progress_t.c
    return _shards(conn, scope, stream, c.shard_end >= start, c.shard_start <= end)


def _shards(conn: Connection, scope: Scope, stream: str, *bounds: ColumnElement[bool]) -> list[Shard]:
    c = progress_t.c
    rows = conn.execute(
        select(c.shard_start, c.shard_end, c.cursor, c.objects, c.done)
        .where(c.account == scope.account, c.livemode == scope.livemode, c.stream == stream, *bounds)
        .order_by(c.shard_start, c.shard_end)
    ).all()
    return [Shard(stream, r.shard_start, r.shard_end, r.cursor, int(r.objects), bool(r.done)) for r in rows]


def gaps(shards: list[Shard], start: int, end: int) -> list[tuple[int, int]]:
    """Parts of ``[start, end]`` that no shard covers (shards may overlap; order is free)."""
    holes: list[tuple[int, int]] = []
    at = start
    for shard in sorted(shards, key=lambda s: s.start):
        if shard.start > at:
            holes.append((at, shard.start - 1))
        at = max(at, shard.end + 1)
    if at <= end:
        holes.append((at, end))
    return holes


def plan(conn: Connection, scope: Scope, stream: str, start: int, end: int) -> tuple[list[Shard], int]:
    """The shards left to fetch for ``[start, end]``, and the objects already written there.

    Unfinished shards resume from their cursor; parts of the range no earlier run covered
    become new shards (saved at once, so a rerun sees the same plan); finished ones are
    skipped, including those of an earlier run over a wider range.
    """
    known = load_overlapping(conn, scope, stream, start, end)
    # A finished shard covers its part of the range even when it reaches past it (an earlier
    # run over a wider range); an unfinished one is finished whole, not clipped.
    fresh = [Shard(stream, lo, hi) for lo, hi in gaps(known, start, end)]
    save(conn, scope, *fresh)
    todo = [s for s in known if not s.done] + fresh
    return todo, sum(s.objects for s in known if start <= s.start and s.end <= end)


def save(conn: Connection, scope: Scope, *shards: Shard) -> None:
    upsert(
        conn, progress_t, [_row(scope, s) for s in shards],
        ["account", "livemode", "stream", "shard_start", "shard_end"],
    )


def split(conn: Connection, scope: Scope, old: Shard, kept: Shard, handed: Shard) -> None:
    """Replace ``old`` by ``kept`` (the newer part, with the cursor) and ``handed`` (the older)."""
    conn.execute(progress_t.delete().where(_key(scope, old)))
    save(conn, scope, kept, handed)


def forget(conn: Connection, scope: Scope, stream: str, start: int, end: int) -> int:
    """Drop the checkpoints inside ``[start, end]`` (``--restart``): the range is fetched again."""
    c = progress_t.c
    result = conn.execute(
        progress_t.delete().where(
            c.account == scope.account,
            c.livemode == scope.livemode,
            c.stream == stream,
            c.shard_start >= start,
            c.shard_end <= end,
        )
    )
    return int(result.rowcount or 0)
