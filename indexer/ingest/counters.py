"""Counters every process adds to and ``/metrics`` reads: table ``metric_counters``.

The web app runs as several gunicorn processes, often on several machines, and the workers run
apart from it, yet a scrape reaches one web process. So no process keeps a total: each keeps its
increments in memory (a ``Tally``) and adds them to shared rows now and then, in one statement
(a worker after each batch, a web process once a second), and any process reads the totals of
all. A row is ``(name, label) -> value``; most only grow, the ``LATEST`` ones keep the largest
time given. A process killed outright loses at most its last unwritten second.

Rows are written in key order, so concurrent writers lock them in one order and never deadlock.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.models import counters_t

if TYPE_CHECKING:
    from indexer.stripe_api import StripeAPI

log = logging.getLogger(__name__)

Key = tuple[str, str]

#: Rows holding a time: an update keeps the larger value instead of adding.
LATEST = frozenset({"webhook_last_received_at", "worker_last_batch_at"})
#: Upper bounds (seconds) of the worker batch latency histogram's buckets.
BATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
INF = "+Inf"


def add(conn: Connection, increments: Mapping[Key, float]) -> None:
    """Add ``increments`` to their rows (or, for ``LATEST`` names, keep the larger value)."""
    if not increments:
        return
    rows = [{"name": name, "label": label, "value": value} for (name, label), value in sorted(increments.items())]
    stmt = db.insert_into(conn, counters_t).values(rows)
    current, given = counters_t.c.value, stmt.excluded.value
    larger = (func.greatest if db.is_postgres(conn) else func.max)(current, given)
    value = case((counters_t.c.name.in_(sorted(LATEST)), larger), else_=current + given)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name", "label"], set_={"value": value}))


def read(conn: Connection) -> dict[Key, float]:
    """Every row: a handful, whatever the traffic."""
    c = counters_t.c
    return {(row.name, row.label): row.value for row in conn.execute(select(c.name, c.label, c.value))}


def batch_bucket(seconds: float) -> str:
    """The histogram bucket (its upper bound, as Prometheus' ``le`` label) of one batch."""
    i = bisect.bisect_left(BATCH_BUCKETS, seconds)
    return f"{BATCH_BUCKETS[i]:g}" if i < len(BATCH_BUCKETS) else INF


class Tally:
    """Increments of this process not yet written; ``flush`` writes them in one transaction.
    A flush that fails keeps them for the next one, so an outage of the database loses none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Key, float] = {}
        self._failing = False

    def count(self, name: str, label: str = "", amount: float = 1.0) -> None:
        if amount:
            with self._lock:
                self._pending[name, label] = self._pending.get((name, label), 0.0) + amount

    def latest(self, name: str, value: float, label: str = "") -> None:
        with self._lock:
            self._pending[name, label] = max(value, self._pending.get((name, label), value))

    def pending(self) -> dict[Key, float]:
        with self._lock:
            return dict(self._pending)

    def flush(self, engine: Engine) -> bool:
        """Write what is pending; False (and kept) when the database did not take it."""
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return True
        try:
            with db.transaction(engine) as conn:
                add(conn, taken)
        except (DatabaseUnavailable, sa_exc.SQLAlchemyError) as exc:
            if not self._failing:
                log.warning("metric counters not written, kept for the next try: %s",
                            exc.message if isinstance(exc, DatabaseUnavailable) else db.short_error(exc))
            self._failing = True
            with self._lock:
                for key, value in taken.items():
                    if key[0] in LATEST:
                        self._pending[key] = max(value, self._pending.get(key, value))
                    else:
                        self._pending[key] = self._pending.get(key, 0.0) + value
            return False
        self._failing = False
        return True


class Flusher:
    """Writes a web process's ``Tally`` every ``interval`` seconds from a daemon thread.

    The thread starts with the first count in each process, so a gunicorn worker forked from a
    master that made the app gets its own; it ends when its engine is disposed (or the app is
    gone), and a clean exit of the process writes what is left."""

    def __init__(self, tally: Tally, engine: Engine, interval: float = 1.0) -> None:
        self.tally = tally
        self.engine = engine
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        sa_event.listen(engine, "engine_disposed", lambda _engine: self._stopped.set())

    def ensure_running(self) -> None:
        if self._pid == os.getpid() or self._stopped.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            me = weakref.ref(self)
            threading.Thread(target=_flush_every, args=(me, self.interval, self._stopped),
                             name="metric-counters", daemon=True).start()
            atexit.register(_flush_once, me)


def _flush_every(ref: weakref.ref[Flusher], interval: float, stopped: threading.Event) -> None:
    while not stopped.wait(interval):
        if not _flush_once(ref):
            return


def _flush_once(ref: weakref.ref[Flusher]) -> bool:
    """Flush if the flusher still exists and its engine is in use; whether it does."""
    flusher = ref()
    if flusher is None or flusher._stopped.is_set():
        return False
    flusher.tally.flush(flusher.engine)
    return True


class WorkerStats(Protocol):
    applied: int
    retried: int
    failed: int


class WorkerMeter:
    """What a worker adds after each batch: its latency, the events it applied, retried and
    parked as failed, and the Stripe requests (and 429s) it made since the last batch."""

    def __init__(self, engine: Engine, api: StripeAPI) -> None:
        self.engine = engine
        self.api = api
        self.tally = Tally()
        self._seen: dict[str, int] = {}

    def batch(self, seconds: float, stats: WorkerStats) -> None:
        tally = self.tally
        tally.count("worker_batch_seconds_bucket", batch_bucket(seconds))
        tally.count("worker_batch_seconds_sum", amount=seconds)
        tally.latest("worker_last_batch_at", time.time())
        for name, label, total in (
            ("events_applied", "", stats.applied),
            ("events_retried", "", stats.retried),
            ("events_parked", "", stats.failed),
            ("stripe_requests", "worker", self.api.request_count),
            ("stripe_rate_limited", "worker", self.api.throttled),
        ):
            tally.count(name, label, total - self._seen.get(name, 0))
            self._seen[name] = total
        tally.flush(self.engine)
