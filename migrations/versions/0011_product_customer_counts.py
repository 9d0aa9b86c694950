"""Rollups: each product's distinct customers across its currencies (``product_customer_counts``).

A product's customers count a buyer once however many currencies they paid in, so they are not
the sum of its rows of ``product_totals`` (one per currency) once it sold in two. They were
counted when read, distinct customer keys over the product's rows of
``product_customer_totals``: a scan of every buyer of a big product on each products page and
product page. The count is now a rollup, one row per (product, account, mode), kept where the
customer rows are written: PostgreSQL's settle locks the touched products' counts (before the
per-currency locks, sorted) and moves each by the buyers who gained their first row or lost their
last; SQLite's triggers on ``product_customer_totals`` do the same per row. As in
``product_customer_totals``, a buyer whose purchases are all fully refunded does not count, and a
product without any customer has no row.

The table is filled from the existing customer rows. The SQL is in
``sql/0011_product_customer_counts/``; the downgrade brings back 0009's settle from this
migration's own copy of it and drops the table.

Revision ID: 0011_product_customer_counts
Revises: 0010_covering_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0011_product_customer_counts"
down_revision = "0010_covering_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlfiles.run(__file__, f"upgrade.{op.get_bind().dialect.name}.sql")


def downgrade() -> None:
    sqlfiles.run(__file__, f"downgrade.{op.get_bind().dialect.name}.sql")
