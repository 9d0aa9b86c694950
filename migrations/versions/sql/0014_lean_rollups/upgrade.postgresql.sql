-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0014_lean_rollups, upgrade, PostgreSQL: no per-customer rollup. product_customer_totals is
-- dropped (its views sum purchases when read); the settle moves product_totals,
-- product_customer_counts and product_daily_totals by the rows a transaction changed, and looks
-- up only whether each touched customer and payment held rows before and holds rows after.

DROP VIEW product_customers
;

DROP VIEW customer_products
;

DROP TABLE product_customer_totals
;

-- A product's customers in key order, one customer at a time: the keys are walked through the
-- index below (its order is the view's: product, account, customer, mode), and each customer's
-- rows are summed where it is read. A page (WHERE product_id, account and mode, id > cursor, ORDER
-- BY id LIMIT n) reads n customers whatever the product sold; every buyer at once reads them all.
DROP INDEX ix_purchases_product_id_account_livemode_customer_key
;

CREATE INDEX ix_purchases_product_id_account_customer_key_livemode
    ON purchases (product_id, account, customer_key, livemode)
    INCLUDE (purchased_at, refunded)
;

CREATE VIEW product_customers AS
SELECT k.account, k.livemode, k.product_id, k.customer_key AS id, s.customer, s.email, s.name, s.currency,
       s.purchases, s.quantity, s.amount_total, s.amount_refunded, s.first_purchased_at, s.last_purchased_at
FROM (
    SELECT DISTINCT product_id, account, customer_key, livemode FROM purchases
    WHERE product_id IS NOT NULL AND NOT refunded
) k
CROSS JOIN LATERAL (
    SELECT p.currency, MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name,
           COUNT(DISTINCT p.payment_key) AS purchases, SUM(p.quantity) AS quantity, SUM(p.amount_total) AS amount_total,
           SUM(p.amount_refunded) AS amount_refunded, MIN(p.purchased_at) AS first_purchased_at,
           MAX(p.purchased_at) AS last_purchased_at
    FROM purchases p
    WHERE p.product_id = k.product_id AND p.account = k.account AND p.customer_key = k.customer_key
      AND p.livemode = k.livemode AND NOT p.refunded
    GROUP BY p.currency
) s
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

ALTER TABLE rollup_dirty ADD COLUMN purchased_at bigint
;

-- Each changed row noted with its sign (+1 as written, -1 as it was) and what it adds up. An
-- updated row counts when a tracked column changed (EXCEPT, not a join of the transition
-- tables, which have no statistics).
CREATE OR REPLACE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, 1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded, r.purchased_at
        FROM new_rows r
        WHERE r.product_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, -1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded, r.purchased_at
        FROM old_rows r
        WHERE r.product_id IS NOT NULL;
    ELSE
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, 1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded, r.purchased_at
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows
              EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows) r
        WHERE r.product_id IS NOT NULL;
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, -1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded, r.purchased_at
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows
              EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows) r
        WHERE r.product_id IS NOT NULL;
    END IF;
    INSERT INTO rollup_pending VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
;

CREATE OR REPLACE FUNCTION rollups_settle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx bigint := txid_current();
    noted bigint := (SELECT COUNT(*) FROM rollup_dirty WHERE txid = tx);
BEGIN
    -- A transaction that wrote as many rows as purchases held when its statistics were taken (a
    -- first load, a bulk import) refreshes them first: planned from an empty table's statistics,
    -- the lookups below walk a product's whole index once per customer. A large one also sorts
    -- and hashes its rows in memory rather than in temporary files (until its commit ends).
    IF noted > 1000 AND noted > (SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = 'purchases'::regclass) THEN
        ANALYZE purchases;
    END IF;
    IF noted > 10000 THEN
        PERFORM set_config('work_mem', '256MB', true);
    END IF;

    -- Serialise the writers of each product: a lock per touched product, taken in sorted order so
    -- that no two writers wait on each other. Advisory locks live in memory and write nothing;
    -- the pair form (class 1919904876) never meets the payment locks of the writers, which use
    -- the one-key form. Every row written below belongs to one product, and the next statement
    -- sees every transaction that settled the same product before.
    PERFORM pg_advisory_xact_lock(1919904876, k)
    FROM (SELECT DISTINCT hashtext(product_id || '/' || account || '/' || livemode::text) AS k FROM rollup_dirty WHERE txid = tx) s
    ORDER BY k;

    -- Each distinct count (a product's customers and purchases, per currency, per day, and its
    -- customers across currencies) moves by one where a key held no row before this transaction
    -- and holds one now, or the other way. "Now" is read from purchases, one index probe per key
    -- of a product that had rows before (known); "before" is now less this transaction's own rows
    -- (added). A product new to the index had nothing before: a key holds a row now where this
    -- transaction added one, with no lookup. For known products, the windows count a customer's
    -- (payment's) currency and product once, on its first key.
    WITH mine AS MATERIALIZED (
        SELECT product_id, account, livemode, customer_key, currency, day_start, payment_key, sign, quantity, amount_total, amount_refunded, purchased_at
        FROM rollup_dirty WHERE txid = tx AND NOT refunded
    ), buyers AS MATERIALIZED (
        SELECT m.product_id, m.account, m.livemode, m.customer_key, m.currency, m.day_start, SUM(m.sign) AS added,
               EXISTS (SELECT 1 FROM product_customer_counts c WHERE c.product_id = m.product_id AND c.account = m.account AND c.livemode = m.livemode) AS known
        FROM mine m GROUP BY m.product_id, m.account, m.livemode, m.customer_key, m.currency, m.day_start
    ), buyer_levels AS (
        SELECT b.*, SUM(b.added) OVER cur AS added_cur, SUM(b.added) OVER person AS added_all,
               row_number() OVER (cur ORDER BY b.day_start) = 1 AS first_cur, row_number() OVER (person ORDER BY b.currency, b.day_start) = 1 AS first_all
        FROM buyers b
        WHERE b.known
        WINDOW cur AS (PARTITION BY b.product_id, b.account, b.livemode, b.customer_key, b.currency),
               person AS (PARTITION BY b.product_id, b.account, b.livemode, b.customer_key)
    ), buyer_moves AS (
        SELECT l.product_id, l.account, l.livemode, l.currency, l.day_start,
               (h.day > 0)::int - (h.day - l.added > 0)::int AS day_moved,
               CASE WHEN l.first_cur THEN (h.cur > 0)::int - (h.cur - l.added_cur > 0)::int ELSE 0 END AS cur_moved,
               CASE WHEN l.first_all THEN (h.all_ > 0)::int - (h.all_ - l.added_all > 0)::int ELSE 0 END AS all_moved
        FROM buyer_levels l
        CROSS JOIN LATERAL (
            SELECT COUNT(*) FILTER (WHERE p.currency = l.currency AND p.purchased_at >= l.day_start AND p.purchased_at < l.day_start + 86400) AS day,
                   COUNT(*) FILTER (WHERE p.currency = l.currency) AS cur, COUNT(*) AS all_
            FROM purchases p
            WHERE p.product_id = l.product_id AND p.account = l.account AND p.livemode = l.livemode AND p.customer_key = l.customer_key AND NOT p.refunded
        ) h
        UNION ALL
        SELECT product_id, account, livemode, currency, day_start, (added > 0)::int, 0, 0 FROM buyers WHERE NOT known
        UNION ALL
        SELECT product_id, account, livemode, currency, NULL, 0, (SUM(added) > 0)::int, 0 FROM buyers WHERE NOT known
        GROUP BY product_id, account, livemode, customer_key, currency
        UNION ALL
        SELECT product_id, account, livemode, NULL, NULL, 0, 0, (SUM(added) > 0)::int FROM buyers WHERE NOT known
        GROUP BY product_id, account, livemode, customer_key
    ), bills AS MATERIALIZED (
        SELECT m.product_id, m.account, m.livemode, m.payment_key, m.currency, m.day_start, SUM(m.sign) AS added,
               EXISTS (SELECT 1 FROM product_customer_counts c WHERE c.product_id = m.product_id AND c.account = m.account AND c.livemode = m.livemode) AS known
        FROM mine m GROUP BY m.product_id, m.account, m.livemode, m.payment_key, m.currency, m.day_start
    ), bill_levels AS (
        SELECT b.*, SUM(b.added) OVER cur AS added_cur, row_number() OVER (cur ORDER BY b.day_start) = 1 AS first_cur
        FROM bills b
        WHERE b.known
        WINDOW cur AS (PARTITION BY b.product_id, b.account, b.livemode, b.payment_key, b.currency)
    ), bill_moves AS (
        SELECT l.product_id, l.account, l.livemode, l.currency, l.day_start,
               (h.day > 0)::int - (h.day - l.added > 0)::int AS day_moved,
               CASE WHEN l.first_cur THEN (h.cur > 0)::int - (h.cur - l.added_cur > 0)::int ELSE 0 END AS cur_moved
        FROM bill_levels l
        CROSS JOIN LATERAL (
            SELECT COUNT(*) FILTER (WHERE p.purchased_at >= l.day_start AND p.purchased_at < l.day_start + 86400) AS day, COUNT(*) AS cur
            FROM purchases p
            WHERE p.account = l.account AND p.payment_key = l.payment_key AND p.product_id = l.product_id AND p.livemode = l.livemode
              AND p.currency = l.currency AND NOT p.refunded
        ) h
        UNION ALL
        SELECT product_id, account, livemode, currency, day_start, (added > 0)::int, 0 FROM bills WHERE NOT known
        UNION ALL
        SELECT product_id, account, livemode, currency, NULL, 0, (SUM(added) > 0)::int FROM bills WHERE NOT known
        GROUP BY product_id, account, livemode, payment_key, currency
    ), days AS MATERIALIZED (
        -- per product, currency and day; day_start NULL: the product's currency; currency NULL: the product
        SELECT product_id, account, livemode, currency, day_start, SUM(customers) AS customers, SUM(purchases) AS purchases,
               SUM(quantity) AS quantity, SUM(amount_total) AS amount_total, SUM(amount_refunded) AS amount_refunded,
               MIN(first_added) AS first_added, MAX(last_added) AS last_added, bool_or(lost) AS lost
        FROM (
            SELECT product_id, account, livemode, currency, day_start, day_moved AS customers, 0 AS purchases, 0::bigint AS quantity,
                   0::bigint AS amount_total, 0::bigint AS amount_refunded, NULL::bigint AS first_added, NULL::bigint AS last_added, false AS lost
            FROM buyer_moves WHERE day_moved <> 0
            UNION ALL
            SELECT product_id, account, livemode, currency, NULL, cur_moved, 0, 0, 0, 0, NULL, NULL, false FROM buyer_moves WHERE cur_moved <> 0
            UNION ALL
            SELECT product_id, account, livemode, NULL, NULL, all_moved, 0, 0, 0, 0, NULL, NULL, false FROM buyer_moves WHERE all_moved <> 0
            UNION ALL
            SELECT product_id, account, livemode, currency, day_start, 0, day_moved, 0, 0, 0, NULL, NULL, false FROM bill_moves WHERE day_moved <> 0
            UNION ALL
            SELECT product_id, account, livemode, currency, NULL, 0, cur_moved, 0, 0, 0, NULL, NULL, false FROM bill_moves WHERE cur_moved <> 0
            UNION ALL
            SELECT product_id, account, livemode, currency, day_start, 0, 0, sign * quantity, sign * amount_total, sign * amount_refunded,
                   NULL, NULL, false FROM mine
            UNION ALL
            SELECT product_id, account, livemode, currency, NULL, 0, 0, sign * quantity, sign * amount_total, sign * amount_refunded,
                   CASE WHEN sign > 0 THEN purchased_at END, CASE WHEN sign > 0 THEN purchased_at END, sign < 0 FROM mine
        ) m
        GROUP BY product_id, account, livemode, currency, day_start
    ), counted AS (
        INSERT INTO product_customer_counts AS c (product_id, account, livemode, customers)
        SELECT product_id, account, livemode, customers FROM days WHERE currency IS NULL AND customers <> 0
        ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = c.customers + excluded.customers
    ), daily AS (
        INSERT INTO product_daily_totals AS t (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
        SELECT product_id, account, livemode, to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), currency, day_start,
               purchases, customers, quantity, amount_total, amount_refunded
        FROM days
        WHERE day_start IS NOT NULL AND (purchases, customers, quantity, amount_total, amount_refunded) <> (0, 0, 0, 0, 0)
        ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
            purchases = t.purchases + excluded.purchases, customers = t.customers + excluded.customers, quantity = t.quantity + excluded.quantity,
            amount_total = t.amount_total + excluded.amount_total, amount_refunded = t.amount_refunded + excluded.amount_refunded
    )
    -- A product that lost a row has its first and last sale looked up again below (-1: not known here).
    INSERT INTO product_totals AS t (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded,
           CASE WHEN lost THEN -1 ELSE first_added END, CASE WHEN lost THEN -1 ELSE last_added END
    FROM days WHERE currency IS NOT NULL AND day_start IS NULL
    ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET
        customers = t.customers + excluded.customers, purchases = t.purchases + excluded.purchases, quantity = t.quantity + excluded.quantity,
        amount_total = t.amount_total + excluded.amount_total, amount_refunded = t.amount_refunded + excluded.amount_refunded,
        first_purchased_at = CASE WHEN excluded.first_purchased_at = -1 THEN -1 ELSE LEAST(t.first_purchased_at, excluded.first_purchased_at) END,
        last_purchased_at = CASE WHEN excluded.last_purchased_at = -1 THEN -1 ELSE GREATEST(t.last_purchased_at, excluded.last_purchased_at) END;

    -- Only where this transaction took a row away can a product, a currency or a day be left
    -- empty, or a product lose its first or last sale.
    IF EXISTS (SELECT 1 FROM rollup_dirty WHERE txid = tx AND (sign < 0 OR refunded)) THEN
        DELETE FROM product_daily_totals t USING (SELECT DISTINCT product_id, account, livemode, currency, day_start FROM rollup_dirty WHERE txid = tx) m
        WHERE t.product_id = m.product_id AND t.account = m.account AND t.livemode = m.livemode
          AND t.day = to_char(to_timestamp(m.day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND t.currency = m.currency AND t.purchases = 0;
        DELETE FROM product_customer_counts c USING (SELECT DISTINCT product_id, account, livemode FROM rollup_dirty WHERE txid = tx) k
        WHERE c.product_id = k.product_id AND c.account = k.account AND c.livemode = k.livemode AND c.customers = 0;
        DELETE FROM product_totals t USING (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k
        WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency AND t.customers = 0;
        UPDATE product_totals t SET
            first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                                  WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded),
            last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                                 WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded)
        FROM (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k
        WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency
          AND (t.first_purchased_at = -1 OR t.last_purchased_at = -1);
    END IF;

    DELETE FROM rollup_dirty WHERE txid = tx;
    DELETE FROM rollup_pending WHERE txid = tx;
    RETURN NULL;
END
$$
;
