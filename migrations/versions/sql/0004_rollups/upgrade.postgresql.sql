-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0004_rollups, upgrade, PostgreSQL; runs once the old views are dropped and the rollup tables
-- created. Statement triggers note the keys a transaction touched in rollup_dirty and the
-- transaction in rollup_pending, whose deferred trigger settles them once, as the transaction
-- commits.

-- Fill the tables from what is already indexed.
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

INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
SELECT product_id, account, livemode, currency, COUNT(*), SUM(purchases), SUM(quantity), SUM(amount_total), SUM(amount_refunded),
       MIN(first_purchased_at), MAX(last_purchased_at)
FROM product_customer_totals
GROUP BY product_id, account, livemode, currency
;

INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
SELECT p.product_id, p.account, p.livemode, to_char(to_timestamp(p.purchased_at - p.purchased_at % 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), p.currency, p.purchased_at - p.purchased_at % 86400,
       
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
FROM purchases p
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY p.product_id, p.account, p.livemode, p.currency, p.purchased_at - p.purchased_at % 86400
;

-- Unlogged: nothing in them outlives its transaction (its settle deletes its rows at commit).
CREATE UNLOGGED TABLE rollup_dirty (
        txid bigint NOT NULL,
        product_id varchar(255) NOT NULL,
        account varchar(255) NOT NULL,
        livemode boolean NOT NULL,
        customer_key varchar(255) NOT NULL,
        currency varchar(8) NOT NULL,
        day_start bigint NOT NULL
    )
;

CREATE INDEX ix_rollup_dirty_txid ON rollup_dirty (txid)
;

CREATE UNLOGGED TABLE rollup_pending (txid bigint NOT NULL, CONSTRAINT pk_rollup_pending PRIMARY KEY (txid))
;

-- An updated row counts when a tracked column changed: rows of one side that the other side does
-- not hold (EXCEPT hashes or sorts; a join of the two transition tables, which have no statistics,
-- was planned as a nested loop).
CREATE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        
        INSERT INTO rollup_dirty
        SELECT DISTINCT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400
        FROM new_rows r
        WHERE r.product_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        
        INSERT INTO rollup_dirty
        SELECT DISTINCT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400
        FROM old_rows r
        WHERE r.product_id IS NOT NULL;
    ELSE
        
        INSERT INTO rollup_dirty
        SELECT DISTINCT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows) r
        WHERE r.product_id IS NOT NULL;
        
        INSERT INTO rollup_dirty
        SELECT DISTINCT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400
        FROM (SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM old_rows EXCEPT SELECT id, product_id, account, livemode, customer_key, currency, customer_id, email, name, payment_key, quantity, amount_total, amount_refunded, refunded, purchased_at FROM new_rows) r
        WHERE r.product_id IS NOT NULL;
    END IF;
    INSERT INTO rollup_pending VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
;

CREATE TRIGGER rollups_mark_insert AFTER INSERT ON purchases REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()
;

CREATE TRIGGER rollups_mark_update AFTER UPDATE ON purchases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()
;

CREATE TRIGGER rollups_mark_delete AFTER DELETE ON purchases REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()
;

-- Locks the touched products' rows in sorted order, so writers never deadlock, then recomputes each
-- touched customer and day row; a product's totals move by the difference.
CREATE FUNCTION rollups_settle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx bigint := txid_current();
BEGIN
    -- Lock the touched products' rows, sorted (a placeholder for a new product). Every key
    -- below (a customer's, a day's) belongs to one product, so these locks serialise all the
    -- writers of each row that follows.
    INSERT INTO product_totals AS t (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded)
    SELECT product_id, account, livemode, currency, 0, 0, 0, 0, 0 FROM (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k ORDER BY product_id, account, livemode, currency
    ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET customers = t.customers;

    -- A new statement sees everything committed by the earlier holders of those locks:
    -- recompute each customer row, and move its product's totals by the difference (the main
    -- statement reads product_customer_totals as it was before its CTEs wrote). A product's
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
    ), written AS (
        INSERT INTO product_customer_totals AS t (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
        SELECT product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at FROM fresh WHERE lines > 0
        ON CONFLICT (product_id, account, livemode, customer_key, currency) DO UPDATE SET
            (customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at) = (excluded.customer, excluded.email, excluded.name, excluded.lines, excluded.purchases, excluded.quantity, excluded.amount_total, excluded.amount_refunded, excluded.first_purchased_at, excluded.last_purchased_at)
    ), gone AS (
        DELETE FROM product_customer_totals t USING fresh f
        WHERE t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.customer_key = f.customer_key AND t.currency = f.currency AND f.lines = 0
    )
    UPDATE product_totals t SET
        customers = t.customers + s.customers, purchases = t.purchases + s.purchases, quantity = t.quantity + s.quantity, amount_total = t.amount_total + s.amount_total, amount_refunded = t.amount_refunded + s.amount_refunded,
        first_purchased_at = CASE WHEN s.lost_first <= t.first_purchased_at THEN NULL
                                  ELSE LEAST(t.first_purchased_at, s.first_purchased_at) END,
        last_purchased_at = CASE WHEN s.lost_last >= t.last_purchased_at THEN NULL
                                 ELSE GREATEST(t.last_purchased_at, s.last_purchased_at) END
    FROM (SELECT f.product_id, f.account, f.livemode, f.currency,
                 COUNT(*) FILTER (WHERE f.lines > 0) - COUNT(o.lines) AS customers,
                 SUM(f.purchases) - COALESCE(SUM(o.purchases), 0) AS purchases, SUM(f.quantity) - COALESCE(SUM(o.quantity), 0) AS quantity, SUM(f.amount_total) - COALESCE(SUM(o.amount_total), 0) AS amount_total, SUM(f.amount_refunded) - COALESCE(SUM(o.amount_refunded), 0) AS amount_refunded,
                 MIN(f.first_purchased_at) AS first_purchased_at, MAX(f.last_purchased_at) AS last_purchased_at,
                 MIN(o.first_purchased_at) FILTER (WHERE f.first_purchased_at IS NULL
                                                   OR f.first_purchased_at > o.first_purchased_at) AS lost_first,
                 MAX(o.last_purchased_at) FILTER (WHERE f.last_purchased_at IS NULL
                                                  OR f.last_purchased_at < o.last_purchased_at) AS lost_last
          FROM fresh f LEFT JOIN product_customer_totals o ON o.product_id = f.product_id AND o.account = f.account AND o.livemode = f.livemode AND o.customer_key = f.customer_key AND o.currency = f.currency
          GROUP BY f.product_id, f.account, f.livemode, f.currency) s
    WHERE t.product_id = s.product_id AND t.account = s.account AND t.livemode = s.livemode AND t.currency = s.currency;

    DELETE FROM product_totals t USING (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency AND t.customers = 0;

    UPDATE product_totals t SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = t.product_id AND p.account = t.account AND p.livemode = t.livemode AND p.currency = t.currency AND NOT p.refunded)
    FROM (SELECT DISTINCT product_id, account, livemode, currency FROM rollup_dirty WHERE txid = tx) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode AND t.currency = k.currency AND (t.first_purchased_at IS NULL OR t.last_purchased_at IS NULL);

    -- Days: recompute each touched day.
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
    ), written AS (
        INSERT INTO product_daily_totals AS t (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
        SELECT product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded FROM fresh WHERE purchases > 0
        ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET (purchases, customers, quantity, amount_total, amount_refunded) = (excluded.purchases, excluded.customers, excluded.quantity, excluded.amount_total, excluded.amount_refunded)
    )
    DELETE FROM product_daily_totals t USING fresh f
    WHERE t.product_id = f.product_id AND t.account = f.account AND t.livemode = f.livemode AND t.day = f.day AND t.currency = f.currency AND f.purchases = 0;

    DELETE FROM rollup_dirty WHERE txid = tx;
    DELETE FROM rollup_pending WHERE txid = tx;
    RETURN NULL;
END
$$
;

CREATE CONSTRAINT TRIGGER rollups_settle AFTER INSERT ON rollup_pending DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rollups_settle()
;

-- The views read the tables.
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

CREATE VIEW product_summary AS
SELECT t.account, t.livemode, t.product_id, pr.name AS product_name, t.currency, t.customers, t.purchases,
       t.quantity, t.amount_total, t.amount_refunded, t.first_purchased_at, t.last_purchased_at
FROM product_totals t
LEFT JOIN products pr ON pr.account = t.account AND pr.id = t.product_id
;

CREATE VIEW product_sales_daily AS
SELECT account, livemode, product_id, day, currency, purchases, customers, quantity, amount_total,
       amount_refunded
FROM product_daily_totals
;
