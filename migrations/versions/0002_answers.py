"""Read side: indexes for the query API and the README's SQL, views for analysts.

* ``ix_purchases_product_id_account_livemode_purchased_at_id``: a product's purchases newest
  first (``/v1/products/{id}/purchases``) and date ranges of one product;
* ``ix_purchases_lower_email``: a buyer looked up by email, case-insensitively
  (``/v1/customers/{email}/products``, ``WHERE lower(email) = ...``);
* view ``product_sales_daily``: one row per product, UTC day and currency;
* view ``customer_products``: ``product_customers`` turned around, with the product's name.

Both views count what ``product_customers`` counts: fully refunded purchases are left out,
partly refunded ones stay in with their ``amount_refunded``. Their SQL is in
``sql/0002_answers/``, one file per database (a day is computed differently on each).

Revision ID: 0002_answers
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from migrations import sqlfiles

revision = "0002_answers"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_purchases_product_id_account_livemode_purchased_at_id",
        "purchases",
        ["product_id", "account", "livemode", "purchased_at", "id"],
    )
    op.execute("CREATE INDEX ix_purchases_lower_email ON purchases (lower(email))")
    sqlfiles.run(__file__, f"upgrade.{op.get_bind().dialect.name}.sql")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS customer_products")
    op.execute("DROP VIEW IF EXISTS product_sales_daily")
    op.execute("DROP INDEX IF EXISTS ix_purchases_lower_email")
    op.drop_index(
        "ix_purchases_product_id_account_livemode_purchased_at_id", table_name="purchases"
    )
