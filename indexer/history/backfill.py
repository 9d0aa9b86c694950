"""Backfill: seed the index from Stripe's list APIs, resumably and as fast as the rate limit allows.

Each *stream* is one list endpoint with fixed filters (complete Checkout Sessions with their line
items embedded, paid invoices with their payments embedded, refunds, disputes, products). A
stream's ``created`` range is cut into *shards* fetched in parallel; a page's objects and the
shard's new cursor are committed in one transaction (``indexer.history.checkpoints``), so ``kill -9``
and a rerun finish the job with no gap and no object written twice, and a rerun of a finished
range sends no request at all.

Shards are cut where the data is, not evenly in time (a history is rarely uniform, and its start
is unknown: Stripe lists newest first and has no count): every stream starts as one shard, and a
thread with nothing to do asks the running shard with the most objects left to hand over its
older half. The owner does so in the transaction of its next page, so the cut is durable with
the cursor. A cut is only asked for where at least two more pages are expected, so cutting
costs little more than one partial last page per shard.

Pages are written by ``indexer.history.page_writer`` (in a process of its own, so that writing does not
compete with fetching for the GIL), in the order they were fetched; a thread fetches its shard's
next page while the last one is written. The pages defer the rollups of the products they touch,
and the run refreshes them as it ends (``indexer.index.rollups``).

What to fetch (the streams and their ranges, for the whole history or one product) is decided
by ``indexer.history.ranges``; this module runs it. Objects go through the same pure mapping
(``indexer.index.mapping``) and the same writes (``writes.write_source``, ``write_refunds``,
``write_disputes``, ``write_products``) as the webhook worker, so backfill alone, webhooks alone
and any mix of the two give the same rows.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.history import checkpoints, page_writer
from indexer.history.checkpoints import Scope, Shard
from indexer.history.page_writer import Checkpoint, PageWriter
from indexer.history.ranges import (
    EPOCH,
    MAX_SUBSCRIPTION_ROUTES,
    Range,
    Request,
    Stream,
    dispute_stream,
    full_ranges,
    invoice_stream,
    plan,
    product_ranges,
    product_stream,
    refund_stream,
    session_stream,
)
from indexer.index import rollups
from indexer.stripe_api import StripeAPI

log = logging.getLogger(__name__)

__all__ = [
    "EPOCH", "MAX_SUBSCRIPTION_ROUTES", "MIN_OBJECTS_TO_SPLIT", "Backfill", "Range", "Request", "Result", "Stream",
    "StreamStats", "dispute_stream", "full_ranges", "invoice_stream", "plan", "product_ranges", "product_stream",
    "refund_stream", "run", "session_stream",
]

#: Cut a shard only where this many objects are still expected (two pages).
MIN_OBJECTS_TO_SPLIT = 200


@dataclass
class StreamStats:
    label: str
    span: int = 0
    covered: int = 0
    objects: int = 0
    objects_before: int = 0
    pages: int = 0
    shards: int = 0
    shards_done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None


@dataclass
class Result:
    streams: dict[str, StreamStats]
    requests: int
    seconds: float

    @property
    def objects(self) -> int:
        return sum(s.objects for s in self.streams.values())

    def summary(self) -> str:
        parts = [f"{s.label} {s.objects}" for s in self.streams.values()]
        rate = self.requests / self.seconds if self.seconds else 0.0
        return (f"backfill: {', '.join(parts)} objects; {self.requests} requests in "
                f"{self.seconds:.1f} s ({rate:.1f}/s)")


# --- running --------------------------------------------------------------------------------


@dataclass
class _Job:
    """A shard being fetched. ``pos`` is the ``created`` of the oldest object written so far."""

    stream: Stream
    shard: Shard
    pos: int
    fetched: int = 0
    cut_wanted: bool = False

    def objects_left(self) -> float:
        """Objects expected in the rest of the shard, from the density seen so far."""
        consumed = self.shard.end + 1 - self.pos
        if self.fetched == 0 or consumed <= 0:
            return 0.0
        return self.fetched / consumed * (self.pos - self.shard.start)


@dataclass(frozen=True)
class _Written:
    """A page handed to the writer: what to count once it is committed."""

    done: Future[None]
    objects: int
    covered: int
    finished: bool


class Backfill:
    """Fetches streams shard by shard on ``concurrency`` threads sharing one ``StripeAPI``.

    ``stats`` (per stream) may be read by a progress display while it runs. Pages are written
    by ``page_writer.writer_for``: ``writes_in_process=True`` keeps the writes in this process,
    ``False`` forces the writer process, ``None`` picks by database.
    """

    def __init__(
        self, engine: Engine, api: StripeAPI, *, account: str = "", concurrency: int = 8,
        restart: bool = False, writes_in_process: bool | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.engine = engine
        self.api = api
        self.scope = Scope(account, api.livemode)
        self.concurrency = concurrency
        self.restart = restart
        self.stats: dict[str, StreamStats] = {}
        self.floor: int | None = None
        self._cond = threading.Condition()
        self._queue: list[tuple[Stream, Shard]] = []
        self._jobs: dict[int, _Job] = {}
        self._error: BaseException | None = None
        self._idle = 0
        self.writes_in_process = writes_in_process
        self._writer: PageWriter | None = None

    def note_oldest(self, created: int) -> None:
        """No sale is older than the oldest product: where the first cut of a stream goes."""
        with self._cond:
            self.floor = created if self.floor is None else min(self.floor, created)

    def run(self, ranges: Sequence[Range]) -> Result:
        """Fetch every ``(stream, start, end)`` to completion, all streams at once."""
        started = time.monotonic()
        requests = self.api.request_count
        self._writer = page_writer.writer_for(self.engine, self.scope, in_process=self.writes_in_process)
        finished = False
        try:
            self._run(ranges)
            finished = True
        finally:
            self._writer.close()
            self._refresh_rollups(raise_errors=finished)
        return Result(self.stats, self.api.request_count - requests, time.monotonic() - started)

    def _refresh_rollups(self, *, raise_errors: bool) -> None:
        """Bring the rollups of the products the pages touched up to date (the pages deferred
        them). After a failed run a refresh that fails too is only logged, not raised over the
        first error: the worker refreshes those products within ten minutes."""
        try:
            refreshed = rollups.refresh(self.engine)
        except DatabaseUnavailable as exc:
            if raise_errors:
                raise
            log.warning("rollups of the products written so far not refreshed (%s); the worker will", exc)
        else:
            if refreshed:
                log.info("rollups of %d product(s) refreshed", refreshed)

    def _run(self, ranges: Sequence[Range]) -> None:
        for stream, start, end in ranges:
            with db.transaction(self.engine) as conn:
                if self.restart:
                    checkpoints.forget(conn, self.scope, stream.name, start, end)
                todo, before = checkpoints.plan(conn, self.scope, stream.name, start, end)
            with self._cond:
                stats = self.stats.setdefault(stream.name, StreamStats(stream.label))
                inside = sum(min(s.end, end) - max(s.start, start) + 1 for s in todo)
                beyond = sum(s.end - s.start + 1 for s in todo) - inside  # earlier, wider runs
                stats.span += end - start + 1 + beyond
                stats.covered += end - start + 1 - inside
                stats.objects_before += before
                stats.shards += len(todo)
                self._queue.extend((stream, shard) for shard in todo)
                if not todo:
                    stats.finished = stats.finished or time.monotonic()
        count = self.concurrency if self._queue else 0  # idle threads take shards cut off later
        threads = [threading.Thread(target=self._work, name=f"backfill-{i}", daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
            if job is None:
                return
            try:
                self._fetch(job)
            except BaseException as exc:  # noqa: BLE001 - run() raises it in the caller's thread
                with self._cond:
                    self._error = self._error or exc
            finally:
                with self._cond:
                    self._jobs.pop(id(job), None)
                    stream = job.stream
                    busy = any(s is stream for s, _ in self._queue) or any(
                        j.stream is stream for j in self._jobs.values()
                    )
                    if not busy and self._error is None:
                        self.stats[stream.name].finished = time.monotonic()
                    self._cond.notify_all()

    def _next_job(self) -> _Job | None:
        """The next shard (called under the lock); with none queued, ask the running shard with
        the most objects left to hand over its older half, and wait."""
        while self._error is None:
            if self._queue:
                stream, shard = self._queue.pop(0)
                job = _Job(stream, shard, shard.end + 1)
                self._jobs[id(job)] = job
                return job
            if not self._jobs:
                return None
            self._idle += 1
            wanted = sum(j.cut_wanted for j in self._jobs.values())
            if wanted < self._idle:
                best = max(
                    (j for j in self._jobs.values() if j.stream.splittable and not j.cut_wanted),
                    key=lambda j: j.objects_left(), default=None,
                )
                if best is not None and best.objects_left() >= MIN_OBJECTS_TO_SPLIT:
                    best.cut_wanted = True
            self._cond.wait(0.25)
            self._idle -= 1
        return None

    def _fetch(self, job: _Job) -> None:
        """Fetch a shard page by page. Each page goes to the writer with its checkpoint, and
        the next page is fetched while it is written; a page is counted once it is committed."""
        stream, account = job.stream, self.scope.account
        assert self._writer is not None
        pending: _Written | None = None
        try:
            while True:
                with self._cond:
                    if self._error is not None:
                        break
                shard = job.shard
                params = {**stream.params, "created": {"gte": shard.start, "lte": shard.end}}
                page = self.api.page(stream.path, params, starting_after=shard.cursor, account=account)
                items = stream.prepare(page.data)
                finished = not page.has_more or not page.data
                oldest = int(page.data[-1]["created"]) if page.data else shard.start
                advanced = shard.advanced(page.last_id, len(page.data), finished)
                with self._cond:
                    cut = self._cut(advanced, oldest) if job.cut_wanted and not finished else None
                    job.cut_wanted = False
                if pending is not None:
                    self._settle(stream, pending)
                    pending = None
                done = self._writer.submit(stream.label, stream.write, items, Checkpoint(shard, advanced, cut))
                with self._cond:
                    covered = job.pos - (shard.start if finished else oldest)
                    pending = _Written(done, len(page.data), covered, finished)
                    job.fetched += len(page.data)
                    job.pos = oldest
                    job.shard = advanced if cut is None else cut[0]
                    if cut is not None:
                        # Its pages are written after the cut: the writer keeps submission order.
                        self._queue.append((stream, cut[1]))
                        self.stats[stream.name].shards += 1
                    self._cond.notify_all()  # idle threads look again for a shard worth cutting
                if finished:
                    break
        except BaseException:
            if pending is not None:  # let it land before the error stops the run
                with contextlib.suppress(Exception):
                    pending.done.result()
            raise
        if pending is not None:
            self._settle(stream, pending)

    def _settle(self, stream: Stream, written: _Written) -> None:
        """Wait for a page to be committed (raising what the writer raised), then count it."""
        written.done.result()
        with self._cond:
            stats = self.stats[stream.name]
            stats.pages += 1
            stats.objects += written.objects
            stats.covered += written.covered
            if written.finished:
                stats.shards_done += 1

    def _cut(self, advanced: Shard, oldest: int) -> tuple[Shard, Shard] | None:
        """Cut what is left of a shard, ``[start, oldest]``: it keeps the newer part (and its
        cursor) and hands over the older. The cut lies halfway between ``oldest`` and the oldest
        product when that is later than ``start``: no sale can be older."""
        low = advanced.start
        if self.floor is not None and low < self.floor < oldest:
            low = self.floor
        mid = (low + oldest + 1) // 2
        if not advanced.start < mid <= oldest:
            return None
        kept = Shard(advanced.stream, mid, advanced.end, advanced.cursor, advanced.objects)
        return kept, Shard(advanced.stream, advanced.start, mid - 1)


def run(
    engine: Engine, api: StripeAPI, request: Request, *, concurrency: int = 8, restart: bool = False,
    show: Callable[[Backfill], AbstractContextManager[Any]] | None = None,
) -> Result:
    """Plan and run a backfill; ``show(job)`` is a context manager displaying its progress."""
    job = Backfill(engine, api, account=request.account, concurrency=concurrency, restart=restart)
    started, requests = time.monotonic(), api.request_count
    ranges = plan(api, job, request)
    with show(job) if show else nullcontext():
        job.run(ranges)
    return Result(job.stats, api.request_count - requests, time.monotonic() - started)
