"""Where a backfill's pages are written: in a process of their own, or inline.

A backfill is CPU-bound in one interpreter: decoding 400 KB list pages, mapping them, and
building and sending each page's statements all take the one GIL, so the threads that should
be waiting on Stripe queue for it instead. ``ProcessWriter`` moves the writes to a child
process (its own interpreter, on the other core): fetch threads hand it each page with its
checkpoint and go on to fetch the next page while it is written.

Pages are written one at a time, in the order they were submitted, each in one transaction
with its checkpoint (``indexer.history.checkpoints``) and with the rollups of its products
deferred (``indexer.index.rollups``: the backfill refreshes them once, when it ends). After a
page fails, every later page is refused unwritten: a shard cut off by a page that failed is then
never written without its cut, and a rerun resumes from the last committed checkpoint.
``InlineWriter`` does the same in the calling thread (for a database another process cannot
open, such as in-memory SQLite).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from indexer import db
from indexer.errors import DatabaseUnavailable, IndexerError
from indexer.history import checkpoints
from indexer.history.checkpoints import Scope, Shard
from indexer.index import rollups

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
                    rollups.defer(conn)
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
    """Writes pages in a child process, in submission order; ``submit`` returns at once.

    A ``ProcessPoolExecutor`` of one spawned worker: one worker takes the pages one at a time
    in the order they were submitted, and an error raised in the child is raised again in the
    parent with its class (``DatabaseUnavailable`` stays ``DatabaseUnavailable``). The worker
    leaves when its parent dies, so a killed backfill leaves no writer behind.
    """

    def __init__(self, engine: Engine, scope: Scope) -> None:
        url = engine.url.render_as_string(hide_password=False)
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child, initargs=(url, scope),
        )
        #: Starts the worker now, so that it imports and connects while the first page is fetched.
        self._started = self._pool.submit(os.getpid)

    @property
    def pid(self) -> int:
        """The writer process's id, once it has started."""
        return self._started.result()

    def submit(self, label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> Future[None]:
        done: Future[None] = Future()
        try:
            sent = self._pool.submit(_write_page, label, write, items, checkpoint)
        except (BrokenProcessPool, RuntimeError) as exc:  # gone, or closed
            done.set_exception(DatabaseUnavailable(f"the page writer has stopped ({exc or type(exc).__name__})"))
            return done
        sent.add_done_callback(lambda future: _settle(done, future))
        return done

    def close(self) -> None:
        """Wait for the pages submitted so far, then stop the worker."""
        self._pool.shutdown(wait=True)


def _settle(done: Future[None], sent: Future[None]) -> None:
    """``done`` as ``sent`` ended; a worker that died fails the page as ``DatabaseUnavailable``."""
    exc = sent.exception()
    if exc is None:
        done.set_result(None)
    elif isinstance(exc, BrokenProcessPool):
        done.set_exception(DatabaseUnavailable(f"the page writer process exited ({exc})"))
    else:
        done.set_exception(exc)


#: The child's writer, made by ``_start_child``.
_child_pages: _Pages | None = None


def _start_child(url: str, scope: Scope) -> None:
    """In the child: its engine, and a thread that ends the process when the parent dies."""
    global _child_pages
    _child_pages = _Pages(db.make_engine(url, pool_size=1), scope)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: Any) -> None:
    parent.join()
    os._exit(1)


def _write_page(label: str, write: Write, items: list[Any], checkpoint: Checkpoint) -> None:
    """In the child: one page. An error that cannot be sent back as itself goes as an
    ``IndexerError`` naming its class."""
    assert _child_pages is not None
    try:
        _child_pages.write(label, write, items, checkpoint)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - any failure to round-trip: send a plain copy
            raise IndexerError(f"{type(exc).__name__}: {exc}") from None
        raise


def writer_for(engine: Engine, scope: Scope, *, in_process: bool | None = None) -> PageWriter:
    """A ``ProcessWriter``, unless the database is one only this process can open."""
    if in_process is None:
        in_process = engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:")
    return InlineWriter(engine, scope) if in_process else ProcessWriter(engine, scope)
