"""The db layer on both databases: engines per dialect."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from indexer import db
from tests.conftest import engine_url


def test_a_reads_engine_plans_pages_once_and_keeps_the_urls_search_path(engine: Engine) -> None:
    reads = db.make_engine(engine_url(engine), reads=True)
    try:
        with reads.connect() as conn:
            if db.is_postgres(conn):
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_generic_plan"
                assert conn.exec_driver_sql("SHOW search_path").scalar_one() == engine.url.query["options"].split("=", 1)[1]
            assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 0
    finally:
        reads.dispose()


def test_among_finds_the_same_rows_for_short_and_long_lists(engine: Engine) -> None:
    """Around ``AMONG_INLINE`` SQLite switches from an ``IN`` list to one JSON parameter:
    either way the rows found are exactly those named, whatever the ids hold."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

    table = Table("among_probe", MetaData(), Column("n", Integer, primary_key=True), Column("ref", String))
    ids = [f"pi_{n}" if n % 3 else f'odd "quote", ü {n}\'' for n in range(3 * db.AMONG_INLINE)]
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"n": n, "ref": ref} for n, ref in enumerate(ids)])
    try:
        for count in (0, 1, db.AMONG_INLINE, db.AMONG_INLINE + 1, len(ids)):
            wanted = ids[::-1][:count] + ["pi_not_there"]

            def found(conn: Connection, wanted: list[str] = wanted) -> set[str]:
                return set(conn.execute(select(table.c.ref).where(db.among(conn, table.c.ref, wanted))).scalars())

            assert db.read(engine, found) == set(wanted[:-1]), count
            numbers = list(range(count)) + [10**6]
            assert db.read(engine, lambda c, ns=numbers: sorted(c.execute(
                select(table.c.n).where(db.among(c, table.c.n, ns))).scalars())) == list(range(count))
    finally:
        with engine.begin() as conn:
            table.drop(conn)
