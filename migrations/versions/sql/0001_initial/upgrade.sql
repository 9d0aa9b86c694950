-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0001_initial, upgrade, both databases: the view of each product's customers, summed from
-- purchases when read.

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
