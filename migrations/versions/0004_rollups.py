"""Rollups: the views' aggregates kept in tables, current in every committed transaction.

The views ``product_customers``, ``customer_products``, ``product_summary`` and
``product_sales_daily`` used to aggregate ``purchases`` when read, so a read cost as much as the
product had buyers. They now read three tables that triggers on ``purchases`` keep equal to
those aggregates (same columns, same rules: fully refunded purchases left out, currencies never
added together):

* ``product_customer_totals``: one row per product, customer and currency;
* ``product_totals``: one row per product and currency (``customers`` counts the rows above);
* ``product_daily_totals``: one row per product, UTC day and currency.

Every write path (webhooks, backfill, refunds, manual SQL) is covered because the triggers sit on
the table. A row is recomputed from ``purchases`` (a customer's few rows, a product's one day);
a product's totals move by the difference, so a product with many buyers costs the same to keep
as a small one.

PostgreSQL, with many writers: statement triggers note the touched keys in the unlogged table
``rollup_dirty`` and the transaction in ``rollup_pending``, whose deferred trigger settles them
as the transaction commits (once). It first locks the touched products' ``product_totals`` rows
in sorted order (so writers never deadlock); every customer and day row belongs to one product,
so those locks serialise the writers of each rollup row, and the recompute, in a statement that
starts after the locks are held, sees every transaction that settled the same rows before.
SQLite has one writer: row triggers recompute at once.

The SQL is in ``sql/0004_rollups/``, one file per database and direction; a downgrade brings
back the views of 0001 to 0003 from this migration's own copy of them.

Revision ID: 0004_rollups
Revises: 0003_product_summary
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations import sqlfiles

revision = "0004_rollups"
down_revision = "0003_product_summary"
branch_labels = None
depends_on = None

CUSTOMER_KEY = ("product_id", "account", "livemode", "customer_key", "currency")
PRODUCT_KEY = ("product_id", "account", "livemode", "currency")
DAY_KEY = ("product_id", "account", "livemode", "day", "currency")
SUMS = ("purchases", "quantity", "amount_total", "amount_refunded")
VIEWS = ("product_customers", "customer_products", "product_summary", "product_sales_daily")


def _key() -> list[sa.Column]:
    return [sa.Column("product_id", sa.String(255), nullable=False),
            sa.Column("account", sa.String(255), nullable=False),
            sa.Column("livemode", sa.Boolean(), nullable=False)]


def _sums() -> list[sa.Column]:
    return [sa.Column(n, sa.BigInteger(), nullable=False) for n in SUMS]


def _span() -> list[sa.Column]:
    return [sa.Column("first_purchased_at", sa.BigInteger()), sa.Column("last_purchased_at", sa.BigInteger())]


def _create_tables() -> None:
    op.create_table(
        "product_customer_totals",
        *_key(),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("customer", sa.String(255)),
        sa.Column("email", sa.String(512)),
        sa.Column("name", sa.String(512)),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        *_sums(),
        *_span(),
        sa.PrimaryKeyConstraint(*CUSTOMER_KEY, name="pk_product_customer_totals"),
    )
    op.create_index("ix_product_customer_totals_customer_key_account_livemode", "product_customer_totals",
                    ["customer_key", "account", "livemode"])
    op.create_table(
        "product_totals",
        *_key(),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        *_sums(),
        *_span(),
        sa.PrimaryKeyConstraint(*PRODUCT_KEY, name="pk_product_totals"),
    )
    op.create_table(
        "product_daily_totals",
        *_key(),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("day_start", sa.BigInteger(), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(*DAY_KEY, name="pk_product_daily_totals"),
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    _create_tables()
    sqlfiles.run(__file__, f"upgrade.{dialect}.sql")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    if dialect == "postgresql":
        op.execute("DROP TABLE rollup_pending")
        op.execute("DROP TABLE rollup_dirty")
        for trigger in ("rollups_mark_insert", "rollups_mark_update", "rollups_mark_delete"):
            op.execute(f"DROP TRIGGER {trigger} ON purchases")
        op.execute("DROP FUNCTION rollups_settle()")
        op.execute("DROP FUNCTION rollups_mark()")
    else:
        for trigger in ("rollups_insert", "rollups_delete", "rollups_update"):
            op.execute(f"DROP TRIGGER {trigger}")
    for table in ("product_daily_totals", "product_totals", "product_customer_totals"):
        op.drop_table(table)
    sqlfiles.run(__file__, f"downgrade.{dialect}.sql")
