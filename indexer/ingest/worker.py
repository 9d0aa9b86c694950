"""The worker: claims due events from the store, applies them, retries or parks failures.

Any number of workers may run against one PostgreSQL database: claims use
``FOR UPDATE SKIP LOCKED`` and a short lease that a live worker renews while its batch runs, so
no event is applied by two workers at once and the events of a worker that died come due again
within ``LEASE_SECONDS``. On SQLite run one worker.

One event never stops the worker: whatever applying it raises is caught for that event alone,
recorded as its ``last_error``, and the event is retried with backoff or parked as ``failed``;
the rest of the batch carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.errors import DatabaseUnavailable, IndexerError
from indexer.index import rollups
from indexer.index.mapping import MappingError
from indexer.ingest import counters, event_store
from indexer.ingest.apply import Applier, ClaimedEvent
from indexer.stripe_api import StripeAPI

log = logging.getLogger(__name__)

MAX_ATTEMPTS = event_store.MAX_ATTEMPTS
#: A claim's lease; the worker renews it every third of this while the batch runs, so only a
#: worker that stopped loses its events to another one, within this time.
LEASE_SECONDS = 30
#: ``run(once=True)`` also waits for retries that come due within this many seconds.
ONCE_RETRY_PATIENCE = 30
#: After a batch, an empty queue is polled again this soon, then at twice the wait each time up
#: to ``run``'s ``idle_sleep``: an event that arrives while events flow waits for a poll of a
#: few tens of milliseconds, not half a second, and an idle worker still polls twice a second.
FIRST_IDLE_POLL = 0.05
#: How often a running worker looks for products whose deferred rollups are overdue (a backfill
#: that stopped before refreshing them; ``indexer.index.rollups``).
ROLLUP_REFRESH_SECONDS = 60.0
MAX_ERROR_LENGTH = 2000


def backoff_seconds(attempts: int) -> int:
    """Exponential backoff after the n-th failed attempt: 2 s, 4 s, ... capped at 10 minutes."""
    return int(min(600, 2**attempts))


def is_transient(error: Exception) -> bool:
    """Whether another attempt may succeed.

    The indexer's own errors know. An object the mapping cannot read, or a value the database
    refuses to store, fails the same way every time: parked at once, for ``indexer events retry``
    once the code reads it. Anything else is unexpected: retried with backoff, parked when the
    attempts run out.
    """
    if isinstance(error, IndexerError):
        return error.transient
    return not isinstance(error, MappingError | sa_exc.DataError | UnicodeError | OverflowError)


def next_idle_wait(previous: float | None, most: float, first: float = FIRST_IDLE_POLL) -> float:
    """The sleep before polling an empty queue again: ``first`` after a batch (``previous`` is
    None), then doubling up to ``most``."""
    return min(most, first if previous is None else previous * 2)


def error_text(error: BaseException) -> str:
    """``Type: message`` on one bounded line that any database column takes (no NUL, no lone
    surrogate): the message may quote the payload that failed."""
    text = f"{type(error).__name__}: {error}"
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."


class EventsWaiting(IndexerError):
    """``run(once=True)`` finished what was due, but events wait for a retry further ahead.

    Not a failure of the run (``indexer worker --once`` exits 0, as the contract says: it
    drained what it could): the command reports ``stats`` and says on stderr how many events
    wait and when the next comes due. A library caller may want to tell the two apart."""

    transient = True

    def __init__(self, stats: Stats, waiting: int, next_in: int) -> None:
        self.stats, self.waiting, self.next_in = stats, waiting, next_in
        super().__init__(f"{stats}; {self.notice}")

    @property
    def notice(self) -> str:
        return (f"{self.waiting} event(s) wait for a retry, the next in {self.next_in} s "
                "(`indexer events` shows why); run the worker again then")


@dataclass
class Stats:
    applied: int = 0
    retried: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"applied {self.applied}, retrying {self.retried}, failed {self.failed}"


class LeaseKeeper:
    """Renews the lease of the events a worker holds, from a thread of its own, so a batch that
    takes longer than ``LEASE_SECONDS`` (a slow or throttled Stripe) keeps its events."""

    def __init__(self, engine: Engine, lease_seconds: int) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.claims: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def hold(self, rows: list[Any]) -> None:
        with self.lock:
            self.claims = {row.id: row.attempts for row in rows}
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
            self.thread.start()

    def release(self) -> None:
        with self.lock:
            self.claims = {}

    def renew(self) -> int:
        with self.lock:
            claims = dict(self.claims)
        if not claims:
            return 0
        with db.transaction(self.engine) as conn:
            return event_store.renew_leases(conn, claims, self.lease_seconds)

    def _run(self) -> None:
        while not self.stopping.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - a missed renewal costs at most a duplicate apply
                log.warning("could not renew the lease of claimed events: %s", error_text(exc))

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


class Worker:
    def __init__(
        self, engine: Engine, api: StripeAPI, *, batch_size: int = 500, threads: int = 8,
        max_attempts: int = MAX_ATTEMPTS, lease_seconds: int = LEASE_SECONDS,
        once_retry_patience: float = ONCE_RETRY_PATIENCE, outage_retry_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.applier = Applier(engine, api, threads=threads)
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.once_retry_patience = once_retry_patience
        self.outage_retry_seconds = outage_retry_seconds
        self.leases = LeaseKeeper(engine, lease_seconds)
        self.stats = Stats()
        self.statistics = db.GrowthStatistics(engine)
        self.meter = counters.WorkerMeter(engine, api)
        self.stopping = threading.Event()
        #: events of a batch a database outage cut off: id -> the attempts of their claim
        self._dropped: dict[str, int] = {}
        self._next_rollup_refresh = 0.0

    def stop(self) -> None:
        """Ask ``run`` to return after the batch in hand (from another thread or a signal
        handler): a batch is never cut, so nothing waits out a lease for a clean stop."""
        self.stopping.set()

    def close(self) -> None:
        self.leases.close()
        self.applier.close()

    def run_batch(self) -> int:
        """Claim and apply one batch; returns how many events were claimed. Events of types the
        index does not apply come back already ``skipped`` (``event_store.claim_events``): they
        count as applied, as nothing is left to do for them.

        A batch cut off by a database outage leaves its unfinished events leased to this worker;
        the next batch, once the database answers, first gives them back (due at once), so they
        do not wait out the lease behind a worker that is alive and knows they were dropped."""
        if self._dropped:
            with db.transaction(self.engine) as conn:
                event_store.renew_leases(conn, self._dropped, 0)
            self._dropped = {}
        with db.transaction(self.engine) as conn:
            rows = event_store.claim_events(
                conn, limit=self.batch_size, lease_seconds=self.lease_seconds, max_attempts=self.max_attempts
            )
        if not rows:
            return 0
        claimed = [row for row in rows if row.status == "pending"]
        skipped = len(rows) - len(claimed)
        self.stats.applied += skipped
        self.statistics.wrote(skipped)
        if not claimed:
            return len(rows)
        self.leases.hold(claimed)
        try:
            return skipped + self._apply_batch(claimed)
        except DatabaseUnavailable:
            self._dropped = {row.id: row.attempts for row in claimed}
            raise
        finally:
            self.leases.release()

    def refresh_overdue_rollups(self, now: float) -> None:
        """Every ``ROLLUP_REFRESH_SECONDS``, refresh the products whose deferred rollups no
        writer has pushed on for ten minutes: a backfill stopped before its own refresh."""
        if now < self._next_rollup_refresh:
            return
        self._next_rollup_refresh = now + ROLLUP_REFRESH_SECONDS
        refreshed = rollups.refresh(self.engine, overdue_only=True)
        if refreshed:
            log.info("rollups of %d product(s) refreshed, left deferred by a backfill that stopped", refreshed)

    def _apply_batch(self, rows: list[Any]) -> int:
        """Apply claimed rows; each event's outcome settles it (done, retry later, or failed)."""
        events = []
        for row in rows:
            try:
                events.append(ClaimedEvent.from_row(row))
            except Exception as exc:  # noqa: BLE001 - a stored payload that cannot be read
                self._settle(row.id, row.attempts, MappingError(f"stored payload cannot be read: {exc}"))
        try:
            outcomes = self.applier.apply(events)
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the applier isolates events; this is the last net
            log.exception("applying a batch failed outside any one event")
            outcomes = {event.id: exc for event in events}
        for event in events:
            self._settle(event.id, event.attempts, outcomes.get(event.id, _NO_OUTCOME))
        self.statistics.wrote(sum(1 for event in events if outcomes.get(event.id, _NO_OUTCOME) is None))
        return len(rows)

    def _settle(self, event_id: str, attempts: int, error: Exception | None) -> None:
        if error is None:
            self.stats.applied += 1
            return
        message = error_text(error)
        with db.transaction(self.engine) as conn:
            if is_transient(error) and attempts < self.max_attempts:
                event_store.retry_event_later(conn, event_id, backoff_seconds(attempts), message)
                self.stats.retried += 1
                log.warning("event %s: attempt %d failed, will retry: %s", event_id, attempts, message)
            else:
                event_store.finish_event(conn, event_id, "failed", message)
                self.stats.failed += 1
                log.error("event %s failed after %d attempt(s): %s", event_id, attempts, message)

    def run(self, *, once: bool = False, idle_sleep: float = 0.5) -> Stats:
        """Apply events until stopped; with ``once``, until nothing pending is left to wait for.

        ``once`` waits for events leased to other workers (a live one renews its lease and
        finishes them; a dead one's lease runs out within ``LEASE_SECONDS`` and this worker
        applies them) and for retries due within ``once_retry_patience`` seconds. It returns
        when nothing is pending, and raises ``EventsWaiting`` (which carries the stats) when
        events still wait for a later retry.
        """
        failures = 0
        idle: float | None = None
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.refresh_overdue_rollups(started)
                claimed = self.run_batch()
                failures = 0
            except DatabaseUnavailable as exc:
                if once:
                    raise
                log.error("%s; retrying in %g s", exc, self.outage_retry_seconds)
                self.stopping.wait(self.outage_retry_seconds)
                continue
            except Exception as exc:  # noqa: BLE001 - never let one batch stop the worker
                failures += 1
                if once and failures >= 3:
                    raise
                log.exception("batch failed: %s; retrying", error_text(exc))
                self.stopping.wait(min(30.0, 2.0**failures))
                continue
            if claimed:
                self.meter.batch(time.monotonic() - started, self.stats)
                log.info("batch of %d: %s", claimed, self.stats)
                idle = None
                continue
            if not once:
                idle = next_idle_wait(idle, idle_sleep)
                self.stopping.wait(idle)
                continue
            wait = self._once_wait()
            if wait is None:
                return self.stats
            self.stopping.wait(wait)
        return self.stats

    def _once_wait(self) -> float | None:
        """Seconds to sleep before claiming again in ``once`` mode; None when nothing is left."""
        with db.transaction(self.engine) as conn:
            outlook = event_store.pending_outlook(conn)
        now = time.time()
        ends = [t for t in (outlook.lease_ends,) if t is not None]
        if outlook.retrying and outlook.next_retry is not None:
            if outlook.next_retry - now <= self.once_retry_patience:
                ends.append(outlook.next_retry)
            elif not outlook.leased:
                raise EventsWaiting(self.stats, outlook.retrying, max(0, int(outlook.next_retry - now)))
        if not ends:
            return None
        if outlook.leased:
            log.info("waiting for %d event(s) leased to another worker", outlook.leased)
        return min(max(0.2, min(ends) - now + 0.1), 2.0)


_NO_OUTCOME = RuntimeError("the applier returned no outcome for this event")
