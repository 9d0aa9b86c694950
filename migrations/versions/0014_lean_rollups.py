"""Rollups without a row per customer: ``product_customer_totals`` goes, the rest move by the rows.

``product_customer_totals`` held one row per product, customer and currency, nearly as many rows
as ``purchases`` itself, and keeping it was most of what the rollups cost a bulk write. No answer
with a target needs it: a page of a product's customers walks the ``(product, customer_key)``
index of ``purchases`` and sums the page's rows (as pages with a date range or
``include_refunded`` already did). The views ``product_customers`` and ``customer_products`` sum
``purchases`` when read. On PostgreSQL ``product_customers`` walks a product's customers in key
order and sums each one's rows (``LATERAL``), so that a page of it reads only the page, and the
covering index ``(product_id, account, livemode, customer_key)`` becomes ``(product_id, account,
customer_key, livemode)``, the order of that walk (the mode is fixed by a query, but PostgreSQL
does not treat a boolean condition as fixing a sort key). Every buyer of a product at once now
costs a lookup per buyer.

The three rollups left (``product_totals``, ``product_customer_counts``,
``product_daily_totals``) now move by the rows written, one way on each database:

* PostgreSQL: statement triggers note each changed row with its sign in the unlogged table
  ``rollup_dirty`` (now with ``purchased_at``), and the deferred settle runs once as the
  transaction commits. It takes an advisory lock per touched product, in sorted order, instead
  of locking rollup rows; then one statement moves every rollup: sums by the rows, and each
  distinct count (customers and purchases, per currency, per day, and customers across
  currencies) by the keys that held no row before and hold one now, or the other way. "Now" is
  one index probe per key of a product the index knew; a product new to the index needs none.
  0005's second way (summing a touched day again) and its setting ``indexer.day_sums_factor``
  are gone.
* SQLite: the row triggers on ``purchases`` move the three tables by the row.

The SQL is in ``sql/0014_lean_rollups/``; the downgrade makes and fills
``product_customer_totals`` again and brings back 0013's functions, triggers and views from this
migration's own copies.

Revision ID: 0014_lean_rollups
Revises: 0013_pending_received_index
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0014_lean_rollups"
down_revision = "0013_pending_received_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlfiles.run(__file__, f"upgrade.{op.get_bind().dialect.name}.sql")


def downgrade() -> None:
    sqlfiles.run(__file__, f"downgrade.{op.get_bind().dialect.name}.sql")
