-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0004_rollups, downgrade, PostgreSQL; runs once the triggers and rollup tables are dropped. The
-- views sum purchases when read again: this migration's own copy of the views of 0001_initial,
-- 0002_answers and 0003_product_summary.

CREATE VIEW product_customers AS
SELECT
    account,
    livemode,
    product_id,
    customer_key AS id,
    MAX(customer_id) AS customer,
    MAX(email) AS email,
    MAX(name) AS name,
    currency,
    COUNT(DISTINCT payment_key) AS purchases,
    SUM(quantity) AS quantity,
    SUM(amount_total) AS amount_total,
    SUM(amount_refunded) AS amount_refunded,
    MIN(purchased_at) AS first_purchased_at,
    MAX(purchased_at) AS last_purchased_at
FROM purchases
WHERE product_id IS NOT NULL AND NOT refunded
GROUP BY account, livemode, product_id, customer_key, currency
;

CREATE VIEW product_sales_daily AS
SELECT
    account,
    livemode,
    product_id,
    to_char(to_timestamp(purchased_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
    currency,
    COUNT(DISTINCT payment_key) AS purchases,
    COUNT(DISTINCT customer_key) AS customers,
    SUM(quantity) AS quantity,
    SUM(amount_total) AS amount_total,
    SUM(amount_refunded) AS amount_refunded
FROM purchases
WHERE product_id IS NOT NULL AND NOT refunded
GROUP BY account, livemode, product_id, to_char(to_timestamp(purchased_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), currency
;

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
;

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
;
