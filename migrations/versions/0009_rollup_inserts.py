"""Rollups: the settle inserts the customer and day rows that were not there, and updates the others.

The settle (PostgreSQL, at commit, under its products' locks) recomputes each touched customer
row and, for a large transaction, each touched day, and wrote them with ``INSERT ... ON
CONFLICT DO UPDATE``, which inserts each row speculatively (a cost a plain insert does not have),
while in a backfill or a bulk load almost every row is new. The rows as they were are
read once anyway (to move the product's totals by the difference), so the settle now inserts the
rows that were not there, updates those that were and deletes those left empty. No other writer
can add these keys meanwhile: every writer of a product's rows holds that product's lock until
it commits (taken sorted, as before).

Nothing else changes: what the tables hold is the same, so an existing index needs no refill.
SQLite (row triggers, one writer) is unchanged. The SQL is in ``sql/0009_rollup_inserts/``; the
downgrade brings back 0008's settle from this migration's own copy of it.

Revision ID: 0009_rollup_inserts
Revises: 0008_rollup_locks
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0009_rollup_inserts"
down_revision = "0008_rollup_locks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "upgrade.postgresql.sql")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "downgrade.postgresql.sql")
