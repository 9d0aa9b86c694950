"""View ``product_summary``: one row per product, account, mode and currency.

What ``indexer products`` prints, for analysts: buyers, payments, units, revenue and refunds of
each product, and its first and last sale. It counts what ``product_customers`` counts (fully
refunded purchases left out, partly refunded ones in with their ``amount_refunded``), and never
adds amounts in different currencies. Filtered by ``product_id`` it walks the
``(product_id, account, livemode, ...)`` indexes; over every product it reads the whole table.

Revision ID: 0003_product_summary
Revises: 0002_answers
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_product_summary"
down_revision = "0002_answers"
branch_labels = None
depends_on = None

PRODUCT_SUMMARY = """
CREATE VIEW product_summary AS
SELECT
    p.account,
    p.livemode,
    p.product_id,
    MAX(pr.name) AS product_name,
    p.currency,
    COUNT(DISTINCT p.customer_key) AS customers,
    COUNT(DISTINCT p.payment_key) AS purchases,
    SUM(p.quantity) AS quantity,
    SUM(p.amount_total) AS amount_total,
    SUM(p.amount_refunded) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at,
    MAX(p.purchased_at) AS last_purchased_at
FROM purchases p
LEFT JOIN products pr ON pr.account = p.account AND pr.id = p.product_id
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY p.account, p.livemode, p.product_id, p.currency
"""


def upgrade() -> None:
    op.execute(PRODUCT_SUMMARY)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS product_summary")
