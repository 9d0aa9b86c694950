"""Where a backfill's pages are written: in a process of their own, or inline.

A backfill is CPU-bound in one interpreter: decoding 400 KB list pages, mapping them, and
building and sending each page's statements all take the one GIL, so the threads that should
be waiting on Stripe queue for it instead. ``ProcessWriter`` moves the writes to a child
process (its own interpreter, on the other core): fetch threads hand it each page with its
checkpoint and go on to fetch the next page while it is written.

Pages are written one at a time, in the order they were submitted, each in one transaction
with its checkpoint (``indexer.history.checkpoints``). After a page fails, every later page is refused
unwritten: a shard cut off by a page that failed is then never written without its cut, and a
rerun resumes from the last committed checkpoint. ``InlineWriter`` does the same in the
calling thread (for a database another process cannot open, such as in-memory SQLite).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from indexer import db
from indexer.errors import DatabaseUnavailable, IndexerError
from indexer.history import checkpoints
from indexer.history.checkpoints import Scope, Shard

log = logging.getLogger(__name__)

Write = Callable[[Connection, list[Any]], None]

#: A page whose transaction the database could not commit is written again, this many times.
WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a page's transaction records besides its objects: ``shard`` moved on to
    ``advanced``, or ``cut`` in two."""

    shard: Shard
    advanced: Shard
    cut: tuple[Shard, Shard] | None = None


class PageWriter(Protocol):
    def submit(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> Future[None]: ...

    def close(self) -> None: ...


class _Pages:
    """Writes pages in order on one engine; shared by both writers."""

    def __init__(self, engine: Engine, scope: Scope) -> None:
        self.engine = engine
        self.scope = scope
        self.statistics = db.GrowthStatistics(engine)
        self.failed: str | None = None

    def write(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> None:
        """Write a page and its checkpoint in one transaction, retried when the database says it
        could not (a deadlock with a worker's transaction is rolled back, nothing is half
        written): the page is rewritten whole."""
        if self.failed is not None:
            raise DatabaseUnavailable(f"not written: an earlier page failed ({self.failed})")
        try:
            self._write(label, write, items, checkpoint)
        except Exception as exc:
            self.failed = str(exc) or type(exc).__name__
            raise
        self.statistics.wrote(len(items))

    def _write(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with db.transaction(self.engine) as conn:
                    db.commit_without_waiting_for_disk(conn)
                    write(conn, items)
                    if checkpoint.cut is None:
                        checkpoints.save(conn, self.scope, checkpoint.advanced)
                    else:
                        checkpoints.split(conn, self.scope, checkpoint.shard, *checkpoint.cut)
                return
            except DatabaseUnavailable as exc:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                log.warning("%s: page not written (%s), retrying", label, exc)
                time.sleep(0.2 * 2**attempt)


class InlineWriter:
    """Writes each page in the submitting thread, one thread at a time."""

    def __init__(self, engine: Engine, scope: Scope) -> None:
        self._pages = _Pages(engine, scope)
        self._lock = threading.Lock()

    def submit(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> Future[None]:
        done: Future[None] = Future()
        try:
            with self._lock:
                self._pages.write(label, write, items, checkpoint)
        except Exception as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)
        return done

    def close(self) -> None:
        pass


class ProcessWriter:
    """Writes pages in a child process, in submission order; ``submit`` returns at once."""

    def __init__(self, engine: Engine, scope: Scope) -> None:
        context = multiprocessing.get_context("spawn")
        requests_out, self._requests = context.Pipe(duplex=False)
        self._results, results_in = context.Pipe(duplex=False)
        url = engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=_serve, args=(url, scope, requests_out, results_in),
            name="backfill-writer", daemon=True,
        )
        self._process.start()
        requests_out.close()
        results_in.close()
        self._ids = itertools.count()
        self._pending: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="backfill-writer-results", daemon=True)
        self._reader.start()

    def submit(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> Future[None]:
        done: Future[None] = Future()
        with self._sending:  # one sender at a time, in the order pages are handed over
            with self._lock:
                if self._closed:
                    done.set_exception(DatabaseUnavailable("the page writer has stopped"))
                    return done
                number = next(self._ids)
                self._pending[number] = done
            try:  # pickled here, so an object that cannot be sent fails its own page
                self._requests.send((number, label, write, items, checkpoint))
            except Exception as exc:
                with self._lock:
                    self._pending.pop(number, None)
                done.set_exception(exc if not isinstance(exc, OSError) else DatabaseUnavailable(
                    f"the page writer process is gone ({exc})"))
        return done

    def close(self) -> None:
        with self._sending:
            with self._lock:
                already, self._closed = self._closed, True
            if not already:
                with contextlib.suppress(OSError):
                    self._requests.send(None)
        self._reader.join()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._requests.close()
        self._results.close()

    def _read(self) -> None:
        """Hand each result to its future; if the child dies, fail whatever is pending."""
        while True:
            try:
                ready = self._results.poll(0.5)
                result = self._results.recv() if ready else ()
            except (EOFError, OSError):
                result = ()
            if result == ():
                if self._process.is_alive() and not ready:
                    continue
                self._process.join(timeout=5)
                self._fail_pending(f"the page writer process exited (code {self._process.exitcode})")
                return
            if result is None:
                self._fail_pending("the page writer stopped")
                return
            number, error = result
            with self._lock:
                done = self._pending.pop(number)
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(_rebuilt(*error))

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._closed = True
        for done in pending.values():
            done.set_exception(DatabaseUnavailable(why))


def _serve(url: str, scope: Scope, requests: Any, results: Any) -> None:
    """The child: write pages until told to stop, or until the parent is gone."""
    engine = db.make_engine(url, pool_size=1)
    pages = _Pages(engine, scope)
    try:
        while True:
            try:
                request = requests.recv()
            except EOFError:  # the parent is gone
                return
            if request is None:
                return
            number, label, write, items, checkpoint = request
            try:
                pages.write(label, write, items, checkpoint)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
                results.send((number, (type(exc).__name__, str(exc))))
            else:
                results.send((number, None))
    finally:
        with contextlib.suppress(OSError):
            results.send(None)
        engine.dispose()


def _rebuilt(kind: str, message: str) -> Exception:
    """The parent's copy of an error raised in the child (by its class name)."""
    if kind == DatabaseUnavailable.__name__:
        return DatabaseUnavailable(message)
    return IndexerError(f"{kind}: {message}")


def writer_for(engine: Engine, scope: Scope, *, in_process: bool | None = None) -> PageWriter:
    """A ``ProcessWriter``, unless the database is one only this process can open."""
    if in_process is None:
        in_process = engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:")
    return InlineWriter(engine, scope) if in_process else ProcessWriter(engine, scope)
