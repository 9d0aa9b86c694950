"""Read side: indexes for the query API and the README's SQL, views for analysts.

* ``ix_purchases_product_id_account_livemode_purchased_at_id``: a product's purchases newest
  first (``/v1/products/{id}/purchases``) and date ranges of one product;
* ``ix_purchases_lower_email``: a buyer looked up by email, case-insensitively
  (``/v1/customers/{email}/products``, ``WHERE lower(email) = ...``);
* view ``product_sales_daily``: one row per product, UTC day and currency;
* view ``customer_products``: ``product_customers`` turned around, with the product's name.

Both views count what ``product_customers`` counts: fully refunded purchases are left out,
partly refunded ones stay in with their ``amount_refunded``.

Revision ID: 0002_answers
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002_answers"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# The UTC calendar day of a Unix time, as 'YYYY-MM-DD' text on both databases.
DAY = {
    "postgresql": "to_char(to_timestamp(purchased_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "sqlite": "date(purchased_at, 'unixepoch')",
}

PRODUCT_SALES_DAILY = """
CREATE VIEW product_sales_daily AS
SELECT
    account,
    livemode,
    product_id,
    {day} AS day,
    currency,
    COUNT(DISTINCT payment_key) AS purchases,
    COUNT(DISTINCT customer_key) AS customers,
    SUM(quantity) AS quantity,
    SUM(amount_total) AS amount_total,
    SUM(amount_refunded) AS amount_refunded
FROM purchases
WHERE product_id IS NOT NULL AND NOT refunded
GROUP BY account, livemode, product_id, {day}, currency
"""

CUSTOMER_PRODUCTS = """
CREATE VIEW customer_products AS
SELECT
    p.account,
    p.livemode,
    p.customer_key AS customer_key,
    MAX(p.customer_id) AS customer,
    MAX(p.email) AS email,
    p.product_id,
    MAX(pr.name) AS product_name,
    p.currency,
    COUNT(DISTINCT p.payment_key) AS purchases,
    SUM(p.quantity) AS quantity,
    SUM(p.amount_total) AS amount_total,
    SUM(p.amount_refunded) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at,
    MAX(p.purchased_at) AS last_purchased_at
FROM purchases p
LEFT JOIN products pr ON pr.account = p.account AND pr.id = p.product_id
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY p.account, p.livemode, p.customer_key, p.product_id, p.currency
"""


def upgrade() -> None:
    op.create_index(
        "ix_purchases_product_id_account_livemode_purchased_at_id",
        "purchases",
        ["product_id", "account", "livemode", "purchased_at", "id"],
    )
    op.execute("CREATE INDEX ix_purchases_lower_email ON purchases (lower(email))")
    day = DAY[op.get_bind().dialect.name]
    op.execute(PRODUCT_SALES_DAILY.format(day=day))
    op.execute(CUSTOMER_PRODUCTS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS customer_products")
    op.execute("DROP VIEW IF EXISTS product_sales_daily")
    op.execute("DROP INDEX IF EXISTS ix_purchases_lower_email")
    op.drop_index(
        "ix_purchases_product_id_account_livemode_purchased_at_id", table_name="purchases"
    )
