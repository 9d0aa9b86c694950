-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0002_answers, upgrade, SQLite: the views for analysts, summed from purchases when read. Both
-- count what product_customers counts: fully refunded purchases are left out, partly refunded ones
-- stay in with their amount_refunded.

-- A product's sales per UTC day ('YYYY-MM-DD' text on both databases) and currency.
CREATE VIEW product_sales_daily AS
SELECT
    account,
    livemode,
    product_id,
    date(purchased_at, 'unixepoch') AS day,
    currency,
    COUNT(DISTINCT payment_key) AS purchases,
    COUNT(DISTINCT customer_key) AS customers,
    SUM(quantity) AS quantity,
    SUM(amount_total) AS amount_total,
    SUM(amount_refunded) AS amount_refunded
FROM purchases
WHERE product_id IS NOT NULL AND NOT refunded
GROUP BY account, livemode, product_id, date(purchased_at, 'unixepoch'), currency
;

-- product_customers turned around, with the product's name.
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
