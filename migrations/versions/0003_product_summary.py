"""View ``product_summary``: one row per product, account, mode and currency.

What ``indexer products`` prints, for analysts: buyers, payments, units, revenue and refunds of
each product, and its first and last sale. It counts what ``product_customers`` counts (fully
refunded purchases left out, partly refunded ones in with their ``amount_refunded``), and never
adds amounts in different currencies. Filtered by ``product_id`` it walks the
``(product_id, account, livemode, ...)`` indexes; over every product it reads the whole table.
Its SQL is ``sql/0003_product_summary/upgrade.sql``, the same on both databases.

Revision ID: 0003_product_summary
Revises: 0002_answers
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0003_product_summary"
down_revision = "0002_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlfiles.run(__file__, "upgrade.sql")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS product_summary")
