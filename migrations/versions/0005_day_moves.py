"""Rollups: a day's totals move by what a transaction changed, not summed again.

Migration ``0004_rollups`` settled a touched day of ``product_daily_totals`` by summing the
product's purchases of that whole day again, under the product's lock: one more sale on a busy
day read every sale of that day while holding the lock, so a launch day slowed every writer of
the product.

``rollup_dirty`` now notes each changed row with its sign (+1 as written, -1 as it was) and
what it adds up. At commit, under the same locks, a day's sums move by those rows; a customer
(a payment) counts in a day while it holds a non-refunded row there, so each touched customer
and payment of the day is looked up by its own index: the rows it holds now (this
transaction's included), against the rows it held before (now, less what this transaction
added, plus what it took away). Every earlier writer of the product had settled and committed
before the lock was granted, so "now" is exactly "before" plus this transaction. A settle costs
what the transaction wrote, whatever the day's size. A transaction that wrote more than a tenth
of what its days held (a bulk load) still sums them again, which is cheaper then than a lookup
per row.

SQLite's row triggers (one writer) did the same per row, so a statement writing many sales of
one day summed that day once per row; they now move the day by the row: its sums, and a
customer (a payment) arriving in the day when the row is its first there, leaving when it was
its last.

The SQL is in ``sql/0005_day_moves/``, one file per database and direction. The downgrade
brings back 0004's functions and triggers from this migration's own copy of them.

Revision ID: 0005_day_moves
Revises: 0004_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0005_day_moves"
down_revision = "0004_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlfiles.run(__file__, f"upgrade.{op.get_bind().dialect.name}.sql")


def downgrade() -> None:
    sqlfiles.run(__file__, f"downgrade.{op.get_bind().dialect.name}.sql")
