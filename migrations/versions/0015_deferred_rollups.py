"""Deferred rollups for bulk writes: a backfill notes the products it touched and refreshes them once.

Moving the rollups by each page's rows costs a bulk write more than computing a touched product's
rollups again from its rows once the writing is done, which is one set-based pass. On
PostgreSQL a transaction that sets ``indexer.rollups`` to ``deferred`` (``SET LOCAL``, or
``set_config(..., true)``) has its statements on ``purchases`` note only the products they
touched, in ``rollup_stale``; ``rollups_refresh(due_by, most)`` takes up to ``most`` of those
marks and writes the products' ``product_totals``, ``product_customer_counts`` and
``product_daily_totals`` again from ``purchases``. The backfill defers its pages and refreshes
when it ends; the worker refreshes marks nobody has pushed on for ten minutes (a backfill that
stopped half way). Every other write settles as in 0014, in its own transaction.

The refresh holds the same advisory product locks as the settle, so the two never interleave on
a product; a mark is taken (deleted) before the rows are read, so a deferred write that commits
meanwhile marks its product again. SQLite keeps one writer and its row triggers: nothing changes.

The SQL is in ``sql/0015_deferred_rollups/``; the downgrade refreshes every stale product first,
then brings back 0014's ``rollups_mark``.

Revision ID: 0015_deferred_rollups
Revises: 0014_lean_rollups
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0015_deferred_rollups"
down_revision = "0014_lean_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "upgrade.postgresql.sql")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "downgrade.postgresql.sql")
