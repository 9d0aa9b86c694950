"""Engine, transactions and every write the index makes: the only module that knows SQL dialects.

PostgreSQL is the production database (many web processes and workers share it); SQLite is the
embedded default for a first run. Differences live here: upserts (``ON CONFLICT``; bulk ones
through ``COPY`` on PostgreSQL), lists as one array parameter (``= ANY``), claiming events
(``FOR UPDATE SKIP LOCKED``), and serialising writes to one payment (advisory locks).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from indexer.errors import DatabaseUnavailable
from indexer.models import (
    BackfillProgress,
    Dispute,
    Product,
    ProductCustomerTotal,
    ProductTotal,
    Purchase,
    Refund,
    StripeEvent,
)
from indexer.purchases import DisputeRow, ProductRow, PurchaseSource, RefundRow, allocate_refund

log = logging.getLogger(__name__)

purchases_t = Purchase.__table__
events_t = StripeEvent.__table__
refunds_t = Refund.__table__
disputes_t = Dispute.__table__
products_t = Product.__table__
progress_t = BackfillProgress.__table__
customer_totals_t = ProductCustomerTotal.__table__
product_totals_t = ProductTotal.__table__

LIVE_REFUND_STATUSES = ("succeeded", "pending", "requires_action")
CLOSED_DISPUTE_STATUSES = ("won", "warning_closed", "prevented")


def make_engine(url: str, *, pool_size: int = 5, reads: bool = False) -> Engine:
    """An engine tuned per dialect: WAL and a busy timeout on SQLite, a pool on both.

    SQLite connections are pooled too: closing the last connection of a WAL database checkpoints
    it, which would cost milliseconds on every transaction.

    ``reads``: an engine that serves the index's keyset pages (the web app, the answer
    commands). On PostgreSQL its sessions plan a prepared statement once, generically
    (``plan_cache_mode``, set as each connection opens): psycopg prepares a statement on its
    fifth run, and PostgreSQL would otherwise plan each run of a page afresh, which costs more
    than running it. A page's plan is the same for every product: walk one index from the cursor.

    A pooled PostgreSQL connection may have died with a server restart since its last use. The
    other engines (worker, backfill, commands) check each one as they take it from the pool
    (``pool_pre_ping``: a round trip per transaction, which holds many statements); a reads
    engine, whose request is often one statement, retries instead (``read``).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn: Connection) -> None:
            """Take SQLite's write lock when a transaction starts, not at its first write.

            pysqlite would otherwise run a transaction's reads outside it, so a read-then-write
            (is this invoice indexed? then ...) could race a writer in another process.
            """
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, pool_pre_ping=not reads
    )
    event.listen(engine, "rollback", _forget_staging)
    if reads:
        event.listen(engine, "connect", _plan_generically)
    return engine


def _plan_generically(dbapi_conn: Any, _record: Any) -> None:
    """A ``SET`` on each new connection rather than a libpq startup option, which a pooler such
    as PgBouncer refuses; behind one in transaction mode the setting may not stick, which costs
    planning time, never a query."""
    autocommit, dbapi_conn.autocommit = dbapi_conn.autocommit, True
    dbapi_conn.execute("SET plan_cache_mode = force_generic_plan")
    dbapi_conn.autocommit = autocommit


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; a database that cannot be reached becomes ``DatabaseUnavailable``."""
    try:
        with engine.begin() as conn:
            yield conn
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(f"database unavailable: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__


def commit_without_waiting_for_disk(conn: Connection) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For writes a rerun would redo anyway: a backfill page and its checkpoint commit together
    (as do the rows of applied events and their ``done``), so a crash of the database server can
    lose only the last few pages together with their checkpoints (never one without the other),
    and the rerun fetches them again. It also keeps the rollups' row locks (migration
    ``0004_rollups``) for less time: a popular product's totals are not held through a disk
    flush.
    """
    if is_postgres(conn):
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


T = TypeVar("T")


def read(engine: Engine, query: Callable[[Connection], T]) -> T:
    """``query(conn)`` on a connection in autocommit (a read needs no transaction).

    A pooled connection may have died with a server restart since it was last used; SQLAlchemy
    then invalidates the pool, and the read runs once more on a fresh connection. A database
    that cannot be reached is ``DatabaseUnavailable``.
    """
    for attempt in (1, 2):
        try:
            with engine.connect() as conn:
                return query(conn.execution_options(isolation_level="AUTOCOMMIT"))
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated and attempt == 1:
                continue
            if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
                raise DatabaseUnavailable(f"database unavailable: {_short(exc)}") from exc
            raise
    raise AssertionError("unreachable")


def ping(engine: Engine) -> None:
    read(engine, lambda conn: conn.execute(text("SELECT 1")))


#: The tables a backfill or a burst of events fills; see ``refresh_statistics``.
WRITTEN_TABLES = ("purchases", "refunds", "disputes", "products", "product_customer_totals", "product_totals",
                  "product_daily_totals")


class GrowthStatistics:
    """Refreshes the statistics (``refresh_statistics``) each time the rows written double,
    from ``first``: the backfill's writer and each worker count what they write.

    A database that grows from nothing is planned from the statistics of empty tables until
    autovacuum's first look, up to a minute later: the rollup settle then looks customers up
    by a prefix of the wrong index and costs more with every batch. A refresh that fails is
    logged; writing goes on.
    """

    def __init__(self, engine: Engine, first: int = 1000) -> None:
        self.engine = engine
        self.written = 0
        self.next_refresh = first

    def wrote(self, count: int) -> None:
        self.written += count
        if self.written < self.next_refresh:
            return
        self.next_refresh = 2 * self.written
        try:
            refresh_statistics(self.engine)
        except DatabaseUnavailable as exc:
            log.warning("statistics not refreshed (%s)", exc)


def refresh_statistics(engine: Engine, tables: Sequence[str] = WRITTEN_TABLES) -> None:
    """Tell the planner how big the tables have become (``ANALYZE``).

    A backfill grows ``purchases`` from nothing faster than autovacuum looks at it: planned from
    the statistics of an empty table, a lookup of a page's hundred sources by ``(account,
    source_id)`` scans every row of the account instead of using the unique index, so each page
    costs more than the last. The backfill calls this each time the rows it wrote double.
    """
    with transaction(engine) as conn:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table}")


def migrate(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to the newest Alembic revision (or to ``revision``); idempotent.
    Returns the revision the database is at."""
    from alembic import command
    from alembic.config import Config

    ini = resources.files("migrations").joinpath("alembic.ini")
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    with transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def _among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``. On PostgreSQL ``column = ANY(:array)``: one parameter whatever the
    count, so the statement's text is the same for every batch and is compiled, converted by
    the driver and planned once, instead of once per distinct list length."""
    values = list(values)
    if is_postgres(conn):
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _pairs_among(conn: Connection, columns: tuple[Any, Any], pairs: Sequence[tuple[Any, Any]]) -> Any:
    """``(a, b) IN pairs``; on PostgreSQL against two unnested arrays (see ``_among``)."""
    if is_postgres(conn):
        firsts = bindparam(None, [a for a, _ in pairs], type_=postgresql.ARRAY(columns[0].type))
        seconds = bindparam(None, [b for _, b in pairs], type_=postgresql.ARRAY(columns[1].type))
        return tuple_(*columns).in_(select(func.unnest(firsts), func.unnest(seconds)))
    return tuple_(*columns).in_(list(pairs))


def _update_each(
    conn: Connection, key: Any, rows: Sequence[dict[str, Any]], columns: Sequence[str], *where: Any
) -> None:
    """Set ``columns`` of the rows whose ``key`` column equals each dict's ``key.name``.

    On PostgreSQL one ``UPDATE ... FROM`` over unnested arrays: one statement, so the rollup
    triggers (migration ``0004_rollups``) run once, not once per row. Elsewhere an executemany.
    """
    table = key.table
    if is_postgres(conn):
        names = [key.name, *columns]
        changes = select(*(
            func.unnest(bindparam(None, [row[n] for row in rows], type_=postgresql.ARRAY(table.c[n].type))).label(n)
            for n in names
        )).subquery("changes")
        conn.execute(table.update().where(key == changes.c[key.name], *where)
                     .values({n: changes.c[n] for n in columns}))
        return
    conn.execute(
        table.update().where(key == bindparam(f"_{key.name}"), *where)
        .values({n: bindparam(f"_{n}") for n in columns}),
        [{f"_{n}": v for n, v in row.items()} for row in rows],
    )


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


def upsert(
    conn: Connection, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str],
    update: Sequence[str] | None = None, *, where: Any = None,
) -> None:
    """Insert ``rows``; on a key conflict update the ``update`` columns (all non-key ones by default).

    ``where`` is a callable given the ``excluded`` pseudo-row, for a conditional update. Rows
    repeating a key are folded into the last one (one statement may not touch a row twice).
    """
    if not rows:
        return
    rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
    names = list(rows[0])
    staged = is_postgres(conn) and len(rows) >= COPY_AT_LEAST
    stmt = _insert(conn, table)
    if staged:
        staging = _staging_table(conn, table, names)
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(
            f"COPY {staging.name} ({', '.join(names)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
        stmt = stmt.from_select(names, select(*(staging.c[name] for name in names)))
    columns = update if update is not None else [c for c in names if c not in keys]
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in columns},
            where=where(stmt.excluded) if where is not None else None,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt) if staged else conn.execute(stmt, rows)


#: From this many rows on, PostgreSQL upserts go through ``COPY`` (see ``_staging_table``).
COPY_AT_LEAST = 16


def _staging_table(conn: Connection, table: Any, names: Sequence[str]) -> Table:
    """A temporary table shaped like ``table`` that empties itself at each commit.

    A page of a backfill upserts a few hundred rows of some twenty columns: sent by ``COPY`` into
    this table and moved with one ``INSERT ... SELECT ... ON CONFLICT``, they cost the client a
    fraction of the CPU of a many-row ``VALUES`` list (which SQLAlchemy and the driver build one
    parameter at a time). Created once per database session; a rollback may undo the creation,
    so it forgets that it was created (``_forget_staging``). Returned empty: rows staged by an
    earlier upsert of the same transaction must not be written again (that one's rows may have
    been deleted since).
    """
    name = f"staging_{table.name}"
    created = conn.connection.info.setdefault("staging_tables", set())
    if name not in created:
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS "
            f"AS SELECT * FROM {table.name} WITH NO DATA"
        )
        created.add(name)
    else:
        conn.exec_driver_sql(f"DELETE FROM {name}")
    key = (name, tuple(names))
    staging = _staging_shapes.get(key)
    if staging is None:
        staging = _staging_shapes[key] = Table(name, MetaData(), *(Column(n, table.c[n].type) for n in names))
    return staging


#: One ``Table`` per staging shape, so the statements built on it hit SQLAlchemy's compile cache.
_staging_shapes: dict[tuple[str, tuple[str, ...]], Table] = {}


def _forget_staging(conn: Connection) -> None:
    if not conn.invalidated:
        conn.connection.info.pop("staging_tables", None)


# --- events ---------------------------------------------------------------------------------


def insert_event(conn: Connection, row: dict[str, Any]) -> bool:
    """Store an event once. Returns False for a duplicate delivery, which changes nothing."""
    stmt = _insert(conn, events_t).on_conflict_do_nothing(index_elements=["id"]).returning(events_t.c.id)
    return conn.execute(stmt, row).first() is not None


def store_event_row(engine: Engine, row: dict[str, Any]) -> bool:
    """``insert_event`` as one autocommitted statement: durable when it returns, one round trip.

    This is the webhook's hot path. On PostgreSQL it runs one prepared ``INSERT ... ON CONFLICT DO
    NOTHING`` on a driver connection kept for that, in autocommit mode: no statement
    compilation, no pool checkout, no ``BEGIN``/``COMMIT`` round trips (a single ``INSERT`` is
    atomic on its own).
    """
    try:
        if is_postgres(engine):
            return _event_writer(engine).insert({c: row.get(c) for c in _EVENT_COLUMNS})
        with engine.connect() as conn:
            return insert_event(conn.execution_options(isolation_level="AUTOCOMMIT"), row)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(f"database unavailable: {_short(exc)}") from exc


_EVENT_COLUMNS = tuple(c.name for c in events_t.columns if c.name not in ("last_error", "processed_at"))
_INSERT_EVENT_SQL = (
    f"INSERT INTO stripe_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('%(' + c + ')s' for c in _EVENT_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)


class _EventWriter:
    """A few idle autocommit psycopg connections that only insert events.

    A free list rather than SQLAlchemy's pool: taking and returning a connection costs no reset
    round trip and no checkout bookkeeping. Connections are opened lazily (after a gunicorn fork),
    a broken one is dropped so the next request reconnects, and all are closed when the engine
    is disposed.
    """

    def __init__(self, engine: Engine, max_idle: int = 8) -> None:
        self.cargs, self.cparams = engine.dialect.create_connect_args(engine.url)
        self.max_idle = max_idle
        self.idle: list[Any] = []
        self.lock = threading.Lock()

    def insert(self, params: dict[str, Any]) -> bool:
        """An idle connection may have died with a server restart since it was last used: if it
        fails, the others (as old) are closed and the insert, idempotent, runs once more on a
        new connection."""
        idle = self._take()
        if idle is not None:
            try:
                return self._insert(idle, params)
            except DatabaseUnavailable:
                self.close()
        return self._insert(None, params)

    def _insert(self, conn: Any, params: dict[str, Any]) -> bool:
        import psycopg

        try:
            conn = conn or psycopg.connect(*self.cargs, **self.cparams, autocommit=True)
            inserted = conn.execute(_INSERT_EVENT_SQL, params, prepare=True).rowcount == 1
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if conn is not None:
                conn.close()
            raise DatabaseUnavailable(f"database unavailable: {_short(exc)}") from exc
        except BaseException:
            if conn is not None:
                self._give(conn)
            raise
        self._give(conn)
        return bool(inserted)

    def _take(self) -> Any:
        with self.lock:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
        return None

    def _give(self, conn: Any) -> None:
        with self.lock:
            if len(self.idle) < self.max_idle and not conn.closed:
                self.idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


_event_writers: weakref.WeakKeyDictionary[Engine, _EventWriter] = weakref.WeakKeyDictionary()
_event_writers_lock = threading.Lock()


def _event_writer(engine: Engine) -> _EventWriter:
    writer = _event_writers.get(engine)
    if writer is None:
        with _event_writers_lock:
            writer = _event_writers.get(engine)
            if writer is None:
                writer = _event_writers[engine] = _EventWriter(engine)
                event.listen(engine, "engine_disposed", lambda _engine: writer.close())
    return writer


def claim_events(conn: Connection, *, limit: int, lease_seconds: int) -> list[Any]:
    """Lease up to ``limit`` due events to this worker.

    A lease (``available_at`` pushed into the future) instead of a held lock: a worker that dies
    mid-batch loses nothing, its events come due again when the lease runs out.
    """
    now = int(time.time())
    due = (
        select(events_t.c.id)
        .where(events_t.c.status == "pending", events_t.c.available_at <= now)
        .order_by(events_t.c.created, events_t.c.id)
        .limit(limit)
    )
    if is_postgres(conn):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        events_t.update()
        .where(events_t.c.id.in_(due.scalar_subquery()))
        .values(available_at=now + lease_seconds, attempts=events_t.c.attempts + 1)
        .returning(
            events_t.c.id, events_t.c.type, events_t.c.payload, events_t.c.account,
            events_t.c.livemode, events_t.c.created, events_t.c.attempts,
        )
    )
    rows = conn.execute(stmt).all()
    return sorted(rows, key=lambda r: (r.created, r.id))


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
    conn.execute(
        events_t.update()
        .where(events_t.c.id == event_id)
        .values(available_at=int(time.time()) + delay, last_error=error)
    )


def requeue_events(conn: Connection, event_ids: Iterable[str] | None) -> int:
    """Put failed events back in the queue (all failed ones when ``event_ids`` is None)."""
    stmt = events_t.update().where(events_t.c.status == "failed")
    if event_ids is not None:
        stmt = stmt.where(events_t.c.id.in_(list(event_ids)))
    result = conn.execute(stmt.values(status="pending", available_at=0, attempts=0))
    return result.rowcount


# --- purchases ------------------------------------------------------------------------------


def _lock_payments(conn: Connection, account: str, payment_keys: Iterable[str]) -> None:
    """Serialise the writers of these payments (a session and its invoice may be applied at
    once, by two workers), taking the locks in a fixed order so writers cannot deadlock."""
    if is_postgres(conn):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                 "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"),
            {"keys": sorted({f"{account}:{key}" for key in payment_keys})},
        )


def write_sources(conn: Connection, sources: Sequence[PurchaseSource]) -> None:
    """Make the index hold what each source says, in a handful of statements per hundred.

    Sources that count as purchases are written together: one lock statement for all their
    payments, then invoices take over their sessions' rows, sessions whose invoice is indexed
    lend it their ids, the rest is one delete of vanished lines, one upsert and one reconcile.
    A source that stopped counting loses its rows. Any order gives the same rows.
    """
    latest = {(s.account, s.source_id): s for s in sources}
    batches: dict[str, list[PurchaseSource]] = {}
    for source in latest.values():
        if source.is_purchase:
            batches.setdefault(source.account, []).append(source)
        else:
            _remove_source(conn, source)
    for account, group in batches.items():
        for start in range(0, len(group), 100):
            _write_batch(conn, account, group[start : start + 100])


def _write_batch(conn: Connection, account: str, group: list[PurchaseSource]) -> None:
    p = purchases_t.c
    _lock_payments(conn, account, [s.payment_key for s in group])
    rows_of = {s.source_id: [_row_dict(r, s.payment_key) for r in s.rows] for s in group}
    invoices = [s.source_id for s in group if s.source_type == "invoice"]
    if invoices:
        links = {
            inv: (cs, link)
            for inv, cs, link in conn.execute(
                select(p.invoice, p.checkout_session, p.payment_link)
                .where(p.account == account, _among(conn, p.invoice, invoices), p.checkout_session.is_not(None))
            )
        }
        for inv in invoices:
            if inv in links:
                for row in rows_of[inv]:
                    row["checkout_session"] = row["checkout_session"] or links[inv][0]
                    row["payment_link"] = row["payment_link"] or links[inv][1]
        conn.execute(purchases_t.delete().where(
            (p.account == account) & (p.source_type == "checkout.session") & _among(conn, p.invoice, invoices)
        ))
    behind_invoice = [s for s in group if s.source_type == "checkout.session" and s.invoice]
    absorbed: list[PurchaseSource] = []
    if behind_invoice:
        wanted = {s.invoice for s in behind_invoice}
        indexed = set(invoices) | {
            sid for (sid,) in conn.execute(
                select(p.source_id).where(p.account == account, _among(conn, p.source_id, wanted)).distinct()
            )
        }
        absorbed = [s for s in behind_invoice if s.invoice in indexed]
    absorbed_ids = {s.source_id for s in absorbed}
    writing = [s for s in group if s.source_id not in absorbed_ids]
    everyone = (p.account == account) & _among(conn, p.source_id, [s.source_id for s in group])
    pis = _payment_intents(conn, everyone)
    rows = [row for s in writing for row in rows_of[s.source_id]]
    keep = [(r["source_id"], r["line_item_id"]) for r in rows]
    conn.execute(purchases_t.delete().where(everyone & ~_pairs_among(conn, (p.source_id, p.line_item_id), keep)))
    if rows:
        upsert(conn, purchases_t, rows, ["account", "source_id", "line_item_id"],
               update=[c for c in rows[0] if c not in _NOT_UPDATED])
    lent = {s.invoice: {"source_id": s.invoice, "checkout_session": s.source_id, "payment_link": s.rows[0].payment_link}
            for s in absorbed if s.rows}
    if lent:
        _update_each(conn, p.source_id, list(lent.values()), ["checkout_session", "payment_link"], p.account == account)
    reconcile_payments(conn, account, pis | {r["payment_intent"] for r in rows if r["payment_intent"]})


def write_source(conn: Connection, source: PurchaseSource) -> None:
    """Make the index hold exactly what ``source`` says, counting each payment once.

    A Checkout Session that created an invoice (subscription mode, ``invoice_creation``) and that
    invoice are one payment. The invoice's rows win whichever arrives first; the session only
    lends them its ``checkout_session`` and ``payment_link``. Applying in any order, any number
    of times, converges to the same rows.
    """
    write_sources(conn, [source])


def _remove_source(conn: Connection, source: PurchaseSource) -> None:
    """A source that does not (or no longer) count: its rows go, its payments are reconciled."""
    _lock_payments(conn, source.account, [source.payment_key])
    mine = (purchases_t.c.account == source.account) & (purchases_t.c.source_id == source.source_id)
    pis = _payment_intents(conn, mine)
    conn.execute(purchases_t.delete().where(mine))
    reconcile_payments(conn, source.account, pis)


_NOT_UPDATED = {"account", "source_id", "line_item_id", "amount_refunded", "refunded", "disputed"}


def _row_dict(row: Any, payment_key: str) -> dict[str, Any]:
    data = _plain(row)
    data["payment_key"] = payment_key
    data["updated_at"] = int(time.time())
    return data


def _payment_intents(conn: Connection, where: Any) -> set[str]:
    p = purchases_t.c
    return {pi for (pi,) in conn.execute(select(p.payment_intent).where(where)) if pi}


def write_refunds(conn: Connection, refunds: Sequence[RefundRow]) -> None:
    rows = [_plain(r) for r in refunds]
    upsert(conn, refunds_t, rows, ["id"])
    for account in {r.account for r in refunds}:
        reconcile_payments(conn, account, {r.payment_intent for r in refunds if r.account == account and r.payment_intent})


def write_disputes(conn: Connection, disputes: Sequence[DisputeRow]) -> None:
    rows = [_plain(d) for d in disputes]
    upsert(conn, disputes_t, rows, ["id"])
    for account in {d.account for d in disputes}:
        reconcile_payments(conn, account, {d.payment_intent for d in disputes if d.account == account and d.payment_intent})


def write_products(conn: Connection, products: Sequence[ProductRow]) -> None:
    """Upsert products; an older event never overwrites a newer state."""
    newest: dict[tuple[str, str], ProductRow] = {}
    for product in products:
        key = (product.account, product.id)
        if key not in newest or newest[key].updated <= product.updated:
            newest[key] = product
    rows = [_plain(p) for p in newest.values()]
    upsert(conn, products_t, rows, ["account", "id"], where=lambda new: products_t.c.updated <= new.updated)


def _plain(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def reconcile_payments(conn: Connection, account: str, payment_intents: Iterable[str]) -> None:
    """Recompute refunded amounts and dispute flags of the purchases of these payments.

    Refunds and disputes live in their own tables, so one that arrives before its purchase is
    kept, and applied whenever the purchase rows appear: the result is independent of order.
    Each payment intent is locked first: a refund and its purchase written at once by two workers
    are then reconciled one after the other, the second seeing what the first committed.
    """
    pis = sorted(set(payment_intents))
    if not pis:
        return
    _lock_payments(conn, account, [f"pi:{pi}" for pi in pis])
    for start in range(0, len(pis), 500):
        chunk = pis[start : start + 500]
        _reconcile_chunk(conn, account, chunk)


def _reconcile_chunk(conn: Connection, account: str, pis: list[str]) -> None:
    p, r, d = purchases_t.c, refunds_t.c, disputes_t.c
    refunded = dict(
        conn.execute(
            select(r.payment_intent, func.sum(r.amount))
            .where(r.account == account, _among(conn, r.payment_intent, pis), r.status.in_(LIVE_REFUND_STATUSES))
            .group_by(r.payment_intent)
        ).all()
    )
    disputed = {
        pi for (pi,) in conn.execute(
            select(d.payment_intent).where(
                d.account == account, _among(conn, d.payment_intent, pis), d.status.not_in(CLOSED_DISPUTE_STATUSES)
            )
        )
    }
    rows = conn.execute(
        select(p.id, p.payment_intent, p.amount_total, p.amount_refunded, p.refunded, p.disputed)
        .where(p.account == account, _among(conn, p.payment_intent, pis))
        .order_by(p.payment_intent, p.id)
    ).all()
    by_pi: dict[str, list[Any]] = {}
    for row in rows:
        by_pi.setdefault(row.payment_intent, []).append(row)
    changes = []
    for pi, group in by_pi.items():
        totals = [row.amount_total for row in group]
        shares = allocate_refund(int(refunded.get(pi) or 0), totals)
        fully = sum(totals) > 0 and int(refunded.get(pi) or 0) >= sum(totals)
        for row, share in zip(group, shares, strict=True):
            new = (share, fully, pi in disputed)
            if (row.amount_refunded, bool(row.refunded), bool(row.disputed)) != new:
                changes.append({"id": row.id, "amount_refunded": new[0], "refunded": new[1], "disputed": new[2]})
    if changes:
        _update_each(conn, p.id, changes, ["amount_refunded", "refunded", "disputed"])
