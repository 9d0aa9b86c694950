"""Rollups under bulk writes: deferred while a backfill writes its pages, refreshed once it ends.

Every write moves the rollups (``product_totals``, ``product_customer_counts``,
``product_daily_totals``) by its rows as its transaction commits (migration ``0014_lean_rollups``).
A backfill would pay that on every page; computing each touched product's rollups again from its
rows once the pages are written is one set-based pass and costs far less. So, on PostgreSQL, a
page's transaction ``defer``s them: its statements note only the products they touched (table
``rollup_stale``), and ``refresh`` computes those products again (migration
``0015_deferred_rollups``). Until then the summaries of those products lag behind their rows;
``/metrics`` shows how many wait (``indexer_rollups_stale_products``).

A backfill that stopped half way leaves its marks behind: the worker refreshes the products no
deferred write has marked for ten minutes (``refresh(overdue_only=True)``).

SQLite has one writer, whose row triggers move the rollups at once: there both calls do nothing.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, text

from indexer import db

#: Products refreshed per transaction: each transaction holds its products' locks until it commits.
REFRESH_BATCH = 500


def defer(conn: Connection) -> None:
    """Defer the rollups of what this transaction writes to ``purchases`` until ``refresh``."""
    if db.is_postgres(conn):
        conn.exec_driver_sql("SELECT set_config('indexer.rollups', 'deferred', true)")


def refresh(engine: Engine, *, overdue_only: bool = False) -> int:
    """Compute the rollups of the products whose rollups were deferred again; returns how many.

    ``overdue_only`` takes only the products no deferred write has marked for ten minutes (the
    worker's way); otherwise every one marked (the backfill's, as it ends). A write still open
    leaves a mark of its own, for a later refresh.
    """
    if not db.is_postgres(engine):
        return 0
    due_by = int(time.time()) if overdue_only else 2**63 - 1
    total = 0
    while True:
        with db.transaction(engine) as conn:
            taken = conn.execute(text("SELECT rollups_refresh(:due_by, :most)"),
                                 {"due_by": due_by, "most": REFRESH_BATCH}).scalar_one()
        total += taken
        if taken < REFRESH_BATCH:
            return total


def stale_products(conn: Connection) -> int:
    """How many products' rollups wait for a refresh (always 0 on SQLite)."""
    if not db.is_postgres(conn):
        return 0
    return int(conn.execute(text(
        "SELECT COUNT(*) FROM (SELECT DISTINCT product_id, account, livemode FROM rollup_stale) s")).scalar_one())
