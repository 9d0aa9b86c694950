"""Rollups: the settle plans a bulk load from fresh statistics, locks products without rewriting
them, and looks for emptied products only where something was taken away.

A transaction that wrote more rows than ``purchases`` held when its statistics were last taken
(a first load, a bulk import in one statement) now has the settle run ``ANALYZE purchases``
first (it counts the transaction's own rows, and the plans cached from the old statistics are
dropped). Planned from an empty table's statistics, the settle's lookup of each customer in
``purchases`` went through a prefix of the wrong index and walked a product's whole index once
per customer: a cost that grew with the square of the biggest product's buyers.

The settle (PostgreSQL, at commit; migrations ``0004_rollups`` and ``0005_day_moves``) locked
each touched product's ``product_totals`` row with ``INSERT ... ON CONFLICT DO UPDATE SET
customers = customers``: a new version of the row, before the move that writes one anyway, so
a product written by every transaction (a popular one in a backfill) left two dead versions per
transaction for every later lookup to step over. ``DO UPDATE ... WHERE false`` takes the same
row locks, in the same sorted order, and writes nothing.

After the move it looked up every touched product twice more: for one left without customers
(deleted) and for a first or last sale lost (looked up again in ``purchases``). Both can only
happen where the transaction took a row away (sign -1 in ``rollup_dirty``) or wrote a fully
refunded one (a new product whose only rows are refunded is a placeholder with no customers);
a product only added to keeps at least one customer, and its first and last sales only move
outwards. Only those products are looked at now.

Nothing else changes: what the tables hold is the same, so an existing index needs no refill.
SQLite (row triggers, one writer) is unchanged. The SQL is in ``sql/0008_rollup_locks/``; the
downgrade brings back 0005's settle from this migration's own copy of it.

Revision ID: 0008_rollup_locks
Revises: 0007_reports
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0008_rollup_locks"
down_revision = "0007_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "upgrade.postgresql.sql")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "downgrade.postgresql.sql")
