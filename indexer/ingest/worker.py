"""The worker: claims due events from the store, applies them, retries or parks failures.

Any number of workers may run against one PostgreSQL database: claims use
``FOR UPDATE SKIP LOCKED`` and a lease, so no event is applied by two workers at once and none is
lost when a worker dies. On SQLite run one worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from indexer import db
from indexer.errors import DatabaseUnavailable, IndexerError
from indexer.ingest import counters, event_store
from indexer.ingest.apply import Applier, ClaimedEvent
from indexer.stripe_api import StripeAPI

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE_SECONDS = 300


def backoff_seconds(attempts: int) -> int:
    """Exponential backoff after the n-th failed attempt: 2 s, 4 s, ... capped at 10 minutes."""
    return int(min(600, 2**attempts))


@dataclass
class Stats:
    applied: int = 0
    retried: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"applied {self.applied}, retrying {self.retried}, failed {self.failed}"


class Worker:
    def __init__(
        self, engine: Engine, api: StripeAPI, *, batch_size: int = 500, threads: int = 8,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.engine = engine
        self.applier = Applier(engine, api, threads=threads)
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.stats = Stats()
        self.statistics = db.GrowthStatistics(engine)
        self.meter = counters.WorkerMeter(engine, api)

    def close(self) -> None:
        self.applier.close()

    def run_batch(self) -> int:
        """Claim and apply one batch; returns how many events were claimed."""
        with db.transaction(self.engine) as conn:
            rows = event_store.claim_events(conn, limit=self.batch_size, lease_seconds=LEASE_SECONDS)
        if not rows:
            return 0
        events = []
        for row in rows:
            try:
                events.append(ClaimedEvent.from_row(row))
            except (ValueError, KeyError, TypeError) as exc:
                self._settle(row.id, row.attempts, exc)
        outcomes = self.applier.apply(events)
        for event in events:
            self._settle(event.id, event.attempts, outcomes.get(event.id))
        self.statistics.wrote(sum(1 for event in events if outcomes.get(event.id) is None))
        return len(rows)

    def _settle(self, event_id: str, attempts: int, error: Exception | None) -> None:
        if error is None:
            self.stats.applied += 1
            return
        message = f"{type(error).__name__}: {error}"
        transient = isinstance(error, IndexerError) and error.transient
        with db.transaction(self.engine) as conn:
            if transient and attempts < self.max_attempts:
                event_store.retry_event_later(conn, event_id, backoff_seconds(attempts), message)
                self.stats.retried += 1
                log.warning("event %s: attempt %d failed, will retry: %s", event_id, attempts, message)
            else:
                event_store.finish_event(conn, event_id, "failed", message)
                self.stats.failed += 1
                log.error("event %s failed after %d attempt(s): %s", event_id, attempts, message)

    def run(self, *, once: bool = False, idle_sleep: float = 0.5) -> Stats:
        """Apply events until stopped; with ``once``, until nothing is due, then return."""
        while True:
            started = time.monotonic()
            try:
                claimed = self.run_batch()
            except DatabaseUnavailable as exc:
                if once:
                    raise
                log.error("%s; retrying in 5 s", exc)
                time.sleep(5)
                continue
            if claimed:
                self.meter.batch(time.monotonic() - started, self.stats)
                log.info("batch of %d: %s", claimed, self.stats)
                continue
            if once:
                return self.stats
            time.sleep(idle_sleep)
