-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0003_product_summary, upgrade, both databases: what `indexer products` prints, for analysts,
-- summed from purchases when read.

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
