"""Covering indexes for a product's customers in a ``created`` window (PostgreSQL).

A page of ``/v1/products/{id}/customers`` (and ``indexer customers --since/--until``) with a
``created`` window finds its customers one of two ways (``indexer/answers/product_customers.py``):
a narrow window is read whole through ``(product_id, account, livemode, purchased_at, id)``,
a wide one is found by walking ``(product_id, account, livemode, customer_key)`` in key order,
keeping the customers who have a purchase in the window. Both needed each row's ``purchased_at``
or ``customer_key`` and ``refunded`` from the table: one heap visit per row, hundreds to
thousands of them per page on a product with 200,000 buyers, in an order unrelated to the
table's. The two indexes now carry those columns (``INCLUDE``), so both ways are index-only
scans and only the page's own customers are read from the table.

Each index is rebuilt under its own name, so every other statement that used it still finds it
(the keys are unchanged). The rebuild holds writes to ``purchases`` while it runs. SQLite has no
``INCLUDE`` and is unchanged. The SQL is in ``sql/0010_covering_indexes/``.

Revision ID: 0010_covering_indexes
Revises: 0009_rollup_inserts
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0010_covering_indexes"
down_revision = "0009_rollup_inserts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "upgrade.postgresql.sql")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        sqlfiles.run(__file__, "downgrade.postgresql.sql")
