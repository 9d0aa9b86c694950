"""Engine, transactions and dialect helpers: the only module that knows SQL dialects.

PostgreSQL is the production database (many web processes and workers share it); SQLite is the
embedded default for a first run. Differences live here: upserts (``ON CONFLICT``; bulk ones
through ``COPY`` on PostgreSQL), lists as one array parameter (``= ANY``) and statements run
once over many rows (``UPDATE ... FROM unnest``). What is written lives with its owner: events
in ``indexer.ingest.event_store``, purchases in ``indexer.index.writes``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from indexer.errors import ConfigError, DatabaseUnavailable

log = logging.getLogger(__name__)


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
        raise DatabaseUnavailable(f"database unavailable: {short_error(exc)}") from exc


def short_error(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__


def commit_without_waiting_for_disk(conn: Connection) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For writes a rerun would redo anyway: a backfill page and its checkpoint commit together
    (as do the rows of applied events and their ``done``), so a crash of the database server can
    lose only the last few pages together with their checkpoints (never one without the other),
    and the rerun fetches them again. It also keeps the rollups' product locks (migration
    ``0014_lean_rollups``) for less time: a popular product's writers do not wait through a
    disk flush.
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
                raise DatabaseUnavailable(f"database unavailable: {short_error(exc)}") from exc
            raise
    raise AssertionError("unreachable")


def ping(engine: Engine) -> None:
    read(engine, lambda conn: conn.execute(text("SELECT 1")))


#: The tables a backfill or a burst of events fills; see ``refresh_statistics``.
WRITTEN_TABLES = ("purchases", "refunds", "disputes", "products", "product_totals", "product_daily_totals",
                  "product_customer_counts")


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


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config(str(resources.files("migrations").joinpath("alembic.ini")))
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to the newest Alembic revision (or to ``revision``); idempotent.
    Returns the revision the database is at."""
    from alembic import command

    cfg = _alembic_config()
    with transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at; None when it holds no schema at all."""

    def query(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    return read(engine, query)


def newest_revision() -> str:
    """The newest migration's revision, read from the file names: the migrations are one line
    and each revision is named after its module (``tests/test_migrations.py`` holds both), so it
    is the last module by name."""
    versions = resources.files("migrations").joinpath("versions")
    return max(entry.name.removesuffix(".py") for entry in versions.iterdir()
               if entry.name.endswith(".py") and entry.name[:1].isdigit())


def require_current_schema(engine: Engine) -> None:
    """``ConfigError`` naming the fix unless the schema is at the code's newest revision; a
    database that cannot be reached is ``DatabaseUnavailable``. Alembic (and the migrations it
    loads) is imported only when the schema is not current, to say what to do."""
    current = schema_revision(engine)
    if current is None:
        raise ConfigError("the database holds no index yet: run `indexer migrate` first")
    if current == newest_revision():
        return
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config())
    head = scripts.get_current_head()
    if current == head:
        return
    if current in {script.revision for script in scripts.walk_revisions()}:
        raise ConfigError(f"the database schema is at {current}, this version of the indexer needs {head}: "
                          "run `indexer migrate`")
    raise ConfigError(f"the database schema is at {current}, which this version of the indexer does not know "
                      "(it was migrated by a newer one): upgrade the indexer")


#: Above this many values, SQLite reads a list from one JSON parameter (see ``among``).
AMONG_INLINE = 64


def among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``. On PostgreSQL ``column = ANY(:array)``: one parameter whatever the
    count, so the statement's text is the same for every batch and is compiled, converted by
    the driver and planned once, instead of once per distinct list length.

    On SQLite a long list is ``column IN (SELECT value FROM json_each(:json))`` for the same
    reason: an ``IN`` of thousands of parameters is rendered, bound and parsed value by value
    on every run, which costs more than the lookups it makes. SQLite still walks the column's
    index once per value (``json_each`` is built in since SQLite 3.38). Values are ids and
    numbers, which JSON carries unchanged."""
    values = list(values)
    if is_postgres(conn):
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    if len(values) > AMONG_INLINE:
        listed = func.json_each(bindparam(None, json.dumps(values), type_=String())).table_valued("value")
        return column.in_(select(listed.c.value))
    return column.in_(values)


def pairs_among(conn: Connection, columns: tuple[Any, Any], pairs: Sequence[tuple[Any, Any]]) -> Any:
    """``(a, b) IN pairs``; on PostgreSQL against two unnested arrays (see ``among``)."""
    if is_postgres(conn):
        firsts = bindparam(None, [a for a, _ in pairs], type_=postgresql.ARRAY(columns[0].type))
        seconds = bindparam(None, [b for _, b in pairs], type_=postgresql.ARRAY(columns[1].type))
        return tuple_(*columns).in_(select(func.unnest(firsts), func.unnest(seconds)))
    return tuple_(*columns).in_(list(pairs))


def update_each(
    conn: Connection, key: Any, rows: Sequence[dict[str, Any]], columns: Sequence[str], *where: Any
) -> None:
    """Set ``columns`` of the rows whose ``key`` column equals each dict's ``key.name``.

    On PostgreSQL one ``UPDATE ... FROM`` over unnested arrays: one statement, so the rollup
    triggers note the rows once, not once per row. Elsewhere an executemany.
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


def insert_into(conn: Connection, table: Any) -> Any:
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
    stmt = insert_into(conn, table)
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
