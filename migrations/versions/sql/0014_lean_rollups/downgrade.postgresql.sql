-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0014_lean_rollups, downgrade, PostgreSQL: 0013's rollups again. product_customer_totals is
-- made and filled from purchases, its views read it, and the mark and settle functions are
-- 0013's (copies of 0005's mark and 0011's settle).

DROP VIEW product_customers
;

DROP VIEW customer_products
;

DROP INDEX ix_purchases_product_id_account_customer_key_livemode
;

CREATE INDEX ix_purchases_product_id_account_livemode_customer_key
    ON purchases (product_id, account, livemode, customer_key)
    INCLUDE (purchased_at, refunded)
;

CREATE TABLE product_customer_totals (
        product_id varchar(255) NOT NULL,
        account varchar(255) NOT NULL,
        livemode boolean NOT NULL,
        customer_key varchar(255) NOT NULL,
        currency varchar(8) NOT NULL,
        customer varchar(255),
        email varchar(512),
        name varchar(512),
        lines bigint NOT NULL,
        purchases bigint NOT NULL,
        quantity bigint NOT NULL,
        amount_total bigint NOT NULL,
        amount_refunded bigint NOT NULL,
        first_purchased_at bigint,
        last_purchased_at bigint,
        CONSTRAINT pk_product_customer_totals PRIMARY KEY (product_id, account, livemode, customer_key, currency)
    )
;

CREATE INDEX ix_product_customer_totals_customer_key_account_livemode ON product_customer_totals (customer_key, account, livemode)
;

INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
SELECT p.product_id, p.account, p.livemode, p.customer_key, p.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
FROM purchases p
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY p.product_id, p.account, p.livemode, p.customer_key, p.currency
;

ANALYZE product_customer_totals
;

CREATE VIEW product_customers AS
SELECT account, livemode, product_id, customer_key AS id, customer, email, name, currency, purchases,
       quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at
FROM product_customer_totals
;

CREATE VIEW customer_products AS
SELECT t.account, t.livemode, t.customer_key, t.customer, t.email, t.product_id, pr.name AS product_name,
       t.currency, t.purchases, t.quantity, t.amount_total, t.amount_refunded, t.first_purchased_at,
       t.last_purchased_at
FROM product_customer_totals t
LEFT JOIN products pr ON pr.account = t.account AND pr.id = t.product_id
;

CREATE OR REPLACE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, 1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded
        FROM new_rows r
        WHERE r.product_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, -1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded
        FROM old_rows r
        WHERE r.product_id IS NOT NULL;
    ELSE
        
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, 1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows) r
        WHERE r.product_id IS NOT NULL;
        
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, -1, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows) r
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
    -- the lookups below walk a product's whole index once per customer. ANALYZE counts this
    -- transaction's own rows and invalidates the plans cached from the old statistics.
    IF noted > 1000 AND noted > (SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = 'purchases'::regclass) THEN
        ANALYZE purchases;
    END IF;

    -- Lock the touched products' distinct-customer counts first, sorted (a placeholder for a new
    -- product): a count spans the product's currencies, so two writers of one product in
    -- different currencies must also wait for each other. Every transaction takes these locks
    -- before the per-currency ones below, each kind sorted, so no two wait on each other.
    INSERT INTO product_customer_counts AS c (product_id, account, livemode, customers)
    SELECT product_id, account, livemode, 0 FROM (SELECT DISTINCT product_id, account, livemode FROM rollup_dirty WHERE txid = tx) k ORDER BY product_id, account, livemode
    ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = c.customers WHERE false;

    -- Lock the touched products' rows, sorted (a placeholder for a new product). Every key
    -- below (a customer's, a day's) belongs to one product, so these locks serialise all the
    -- writers of each row that follows. DO UPDATE ... WHERE false locks a row that exists
    -- without writing a new version of it: only the move below writes one.
    INSERT INTO product_totals AS t (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded)
    SELECT product_id, account, livemode, currency, 0, 0, 0, 0, 0 FROM (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k ORDER BY product_id, account, livemode, currency
    ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET customers = t.customers WHERE false;

    -- A new statement sees everything committed by the earlier holders of those locks:
    -- recompute each customer row, and move its product's totals by the difference. The row as it
    -- was is read once (pairs): a customer without one is inserted, one with one updated or
    -- deleted; the product's locks keep every other writer of these keys out until commit, so no
    -- insert can meet a conflict (INSERT ... ON CONFLICT inserts each row speculatively). A product's
    -- first or last sale is only looked up again when a customer who held it lost it.
    WITH keys AS (SELECT DISTINCT product_id, account, livemode, customer_key, currency FROM rollup_dirty WHERE txid = tx), fresh AS (
        SELECT k.product_id, k.account, k.livemode, k.customer_key, k.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
        FROM keys k
        LEFT JOIN purchases p ON p.product_id = k.product_id AND p.account = k.account AND p.livemode = k.livemode AND p.customer_key = k.customer_key AND p.currency = k.currency AND NOT p.refunded
        GROUP BY k.product_id, k.account, k.livemode, k.customer_key, k.currency
    ), pairs AS (
        SELECT f.*, o.lines AS old_lines, o.purchases AS old_purchases, o.quantity AS old_quantity, o.amount_total AS old_amount_total,
               o.amount_refunded AS old_amount_refunded, o.first_purchased_at AS old_first, o.last_purchased_at AS old_last
        FROM fresh f LEFT JOIN product_customer_totals o ON o.product_id = f.product_id AND o.account = f.account AND o.livemode = f.livemode AND o.customer_key = f.customer_key AND o.currency = f.currency
    ), inserted AS (
        INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
        SELECT product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at FROM pairs WHERE old_lines IS NULL AND lines > 0
    ), updated AS (
        UPDATE product_customer_totals t SET
            (customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at) = (f.customer, f.email, f.name, f.lines, f.purchases, f.quantity, f.amount_total, f.amount_refunded, f.first_purchased_at, f.last_purchased_at)
        FROM pairs f
        WHERE f.old_lines IS NOT NULL AND f.lines > 0 AND t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.customer_key = f.customer_key AND t.currency = f.currency
    ), gone AS (
        DELETE FROM product_customer_totals t USING pairs f
        WHERE f.old_lines IS NOT NULL AND f.lines = 0 AND t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.customer_key = f.customer_key AND t.currency = f.currency
    ), buyers AS (
        SELECT product_id, account, livemode, customer_key, bool_or(lines > 0) AS holds, COUNT(old_lines) AS held_rows
        FROM pairs GROUP BY product_id, account, livemode, customer_key
    ), recounted AS (
        -- A buyer counts in the product's distinct customers while they hold a row in any
        -- currency. One whose touched rows went from none to some (or back) arrives (leaves)
        -- unless a row in a currency this transaction did not touch already counted them: the
        -- statement reads the rows as they were, so more rows than the touched ones held means one.
        UPDATE product_customer_counts c SET customers = c.customers + d.customers
        FROM (SELECT b.product_id, b.account, b.livemode,
                     SUM(CASE WHEN b.holds = (b.held_rows > 0) THEN 0
                              WHEN (SELECT COUNT(*) FROM product_customer_totals o
                                    WHERE o.product_id = b.product_id AND o.account = b.account AND o.livemode = b.livemode AND o.customer_key = b.customer_key) > b.held_rows THEN 0
                              WHEN b.holds THEN 1 ELSE -1 END) AS customers
              FROM buyers b
              GROUP BY b.product_id, b.account, b.livemode) d
        WHERE d.customers <> 0 AND c.product_id = d.product_id AND c.account = d.account AND c.livemode = d.livemode
    )
    UPDATE product_totals t SET
        customers = t.customers + s.customers, purchases = t.purchases + s.purchases, quantity = t.quantity + s.quantity, amount_total = t.amount_total + s.amount_total, amount_refunded = t.amount_refunded + s.amount_refunded,
        first_purchased_at = CASE WHEN s.lost_first <= t.first_purchased_at THEN NULL
                                  ELSE LEAST(t.first_purchased_at, s.first_purchased_at) END,
        last_purchased_at = CASE WHEN s.lost_last >= t.last_purchased_at THEN NULL
                                 ELSE GREATEST(t.last_purchased_at, s.last_purchased_at) END
    FROM (SELECT f.product_id, f.account, f.livemode, f.currency,
                 COUNT(*) FILTER (WHERE f.lines > 0) - COUNT(f.old_lines) AS customers,
                 SUM(f.purchases) - COALESCE(SUM(f.old_purchases), 0) AS purchases, SUM(f.quantity) - COALESCE(SUM(f.old_quantity), 0) AS quantity, SUM(f.amount_total) - COALESCE(SUM(f.old_amount_total), 0) AS amount_total, SUM(f.amount_refunded) - COALESCE(SUM(f.old_amount_refunded), 0) AS amount_refunded,
                 MIN(f.first_purchased_at) AS first_purchased_at, MAX(f.last_purchased_at) AS last_purchased_at,
                 MIN(f.old_first) FILTER (WHERE f.first_purchased_at IS NULL
                                          OR f.first_purchased_at > f.old_first) AS lost_first,
                 MAX(f.old_last) FILTER (WHERE f.last_purchased_at IS NULL
                                         OR f.last_purchased_at < f.old_last) AS lost_last
          FROM pairs f
          GROUP BY f.product_id, f.account, f.livemode, f.currency) s
    WHERE t.product_id = s.product_id AND t.account = s.account AND t.livemode = s.livemode AND t.currency = s.currency;

    -- A product can only be left without customers, or lose its first or last sale, where this
    -- transaction took a row away or wrote a fully refunded one: only those products are looked at.
    DELETE FROM product_totals t USING (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx AND (sign < 0 OR refunded)) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency AND t.customers = 0;

    DELETE FROM product_customer_counts t USING (SELECT DISTINCT product_id, account, livemode FROM rollup_dirty WHERE txid = tx AND (sign < 0 OR refunded)) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.customers = 0;

    UPDATE product_totals t SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded)
    FROM (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx AND (sign < 0 OR refunded)) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency AND (t.first_purchased_at IS NULL OR t.last_purchased_at IS NULL);

    IF COALESCE(NULLIF(current_setting('indexer.day_sums_factor', true), ''), '10')::numeric
       * (SELECT COUNT(*) FROM rollup_dirty WHERE txid = tx) > (
        SELECT COALESCE(SUM(t.purchases), 0) FROM product_daily_totals t JOIN (SELECT DISTINCT product_id, account, livemode, currency, day_start FROM rollup_dirty WHERE txid = tx) k
        ON t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.day = to_char(to_timestamp(k.day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND t.currency = k.currency
    ) THEN
    -- Days: recompute each touched day; inserted, updated or deleted as the customers are.
    WITH days AS (
        SELECT DISTINCT product_id, account, livemode, to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, day_start
        FROM rollup_dirty WHERE txid = tx
    ), fresh AS (
        SELECT k.product_id, k.account, k.livemode, k.day, k.currency, k.day_start, 
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
        FROM days k
        LEFT JOIN purchases p ON p.product_id = k.product_id AND p.account = k.account AND p.livemode = k.livemode AND p.currency = k.currency AND NOT p.refunded
             AND p.purchased_at >= k.day_start AND p.purchased_at < k.day_start + 86400
        GROUP BY k.product_id, k.account, k.livemode, k.day, k.currency, k.day_start
    ), pairs AS (
        SELECT f.*, t.purchases AS old_purchases
        FROM fresh f LEFT JOIN product_daily_totals t ON t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.day = f.day AND t.currency = f.currency
    ), inserted AS (
        INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
        SELECT product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded FROM pairs WHERE old_purchases IS NULL AND purchases > 0
    ), updated AS (
        UPDATE product_daily_totals t SET (purchases, customers, quantity, amount_total, amount_refunded) = (f.purchases, f.customers, f.quantity, f.amount_total, f.amount_refunded)
        FROM pairs f
        WHERE f.old_purchases IS NOT NULL AND f.purchases > 0 AND t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.day = f.day AND t.currency = f.currency
    )
    DELETE FROM product_daily_totals t USING pairs f
    WHERE f.old_purchases IS NOT NULL AND f.purchases = 0 AND t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.day = f.day AND t.currency = f.currency;

    ELSE
    -- Days: move each touched day by this transaction's rows (see migration 0005_day_moves).
    WITH mine AS (
        SELECT * FROM rollup_dirty WHERE txid = tx AND NOT refunded
    ), buyers AS (
        SELECT product_id, account, livemode, currency, day_start, customer_key, SUM(sign) AS added FROM mine
        GROUP BY product_id, account, livemode, currency, day_start, customer_key
    ), payments AS (
        SELECT product_id, account, livemode, currency, day_start, payment_key, SUM(sign) AS added FROM mine
        GROUP BY product_id, account, livemode, currency, day_start, payment_key
    ), moves AS (
        SELECT product_id, account, livemode, currency, day_start, 0 AS purchases, counted AS customers, 0 AS quantity, 0 AS amount_total,
               0 AS amount_refunded
        FROM (
        SELECT c.product_id, c.account, c.livemode, c.currency, c.day_start, (n.held > 0)::int - (n.held - c.added > 0)::int AS counted
        FROM buyers c, LATERAL (
            SELECT COUNT(*) AS held FROM purchases p
            WHERE p.account = c.account AND p.customer_key = c.customer_key AND p.product_id = c.product_id
              AND p.livemode = c.livemode AND p.currency = c.currency AND NOT p.refunded
              AND p.purchased_at >= c.day_start AND p.purchased_at < c.day_start + 86400
        ) n) b
        UNION ALL
        SELECT product_id, account, livemode, currency, day_start, counted, 0, 0, 0, 0
        FROM (
        SELECT c.product_id, c.account, c.livemode, c.currency, c.day_start, (n.held > 0)::int - (n.held - c.added > 0)::int AS counted
        FROM payments c, LATERAL (
            SELECT COUNT(*) AS held FROM purchases p
            WHERE p.account = c.account AND p.payment_key = c.payment_key AND p.product_id = c.product_id
              AND p.livemode = c.livemode AND p.currency = c.currency AND NOT p.refunded
              AND p.purchased_at >= c.day_start AND p.purchased_at < c.day_start + 86400
        ) n) c
        UNION ALL
        SELECT product_id, account, livemode, currency, day_start, 0, 0, sign * quantity, sign * amount_total, sign * amount_refunded FROM mine
    ), days AS (
        SELECT product_id, account, livemode, currency, day_start, SUM(purchases) AS purchases, SUM(customers) AS customers, SUM(quantity) AS quantity, SUM(amount_total) AS amount_total, SUM(amount_refunded) AS amount_refunded
        FROM moves GROUP BY product_id, account, livemode, currency, day_start
    )
    INSERT INTO product_daily_totals AS t (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT product_id, account, livemode, to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), currency, day_start, purchases, customers, quantity, amount_total, amount_refunded
    FROM days
    WHERE (purchases, customers, quantity, amount_total, amount_refunded) <> (0, 0, 0, 0, 0)
    ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
        purchases = t.purchases + excluded.purchases, customers = t.customers + excluded.customers, quantity = t.quantity + excluded.quantity, amount_total = t.amount_total + excluded.amount_total, amount_refunded = t.amount_refunded + excluded.amount_refunded;

    DELETE FROM product_daily_totals t USING (SELECT DISTINCT product_id, account, livemode, currency, day_start FROM rollup_dirty WHERE txid = tx) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.day = to_char(to_timestamp(k.day_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND t.currency = k.currency AND t.purchases = 0;

    END IF;

    DELETE FROM rollup_dirty WHERE txid = tx;
    DELETE FROM rollup_pending WHERE txid = tx;
    RETURN NULL;
END
$$
;

ALTER TABLE rollup_dirty DROP COLUMN purchased_at
;
