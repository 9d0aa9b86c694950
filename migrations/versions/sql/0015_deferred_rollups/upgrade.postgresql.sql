-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0015_deferred_rollups, upgrade, PostgreSQL: a bulk writer may defer the rollups of the products
-- it touches (the transaction setting indexer.rollups = 'deferred'): its statements note only the
-- products, in rollup_stale, and rollups_refresh() later computes those products' rollups again
-- from purchases in one set-based pass each.

-- A product whose rollups wait for a refresh, noted by a deferred transaction (txid) as its first
-- statement on the product's rows runs. due: when a refresh that takes only overdue products (the
-- worker's) may take it, so that a backfill that stopped half way is refreshed once it has been
-- quiet for ten minutes. Each transaction adds its own marks and never reuses another's (that one
-- may be taken by a refresh before this transaction commits), so writers never wait for each other
-- here. Logged: a mark outlives a crash.
CREATE TABLE rollup_stale (
    product_id varchar(255) NOT NULL,
    account varchar(255) NOT NULL,
    livemode boolean NOT NULL,
    due bigint NOT NULL,
    txid bigint NOT NULL
)
;

CREATE INDEX ix_rollup_stale_txid ON rollup_stale (txid, product_id, account, livemode)
;

-- As in 0014, and: under indexer.rollups = 'deferred' a statement notes the products it touched
-- (those it has not marked yet) instead of its rows.
CREATE OR REPLACE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('indexer.rollups', true) = 'deferred' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO rollup_stale (product_id, account, livemode, due, txid)
            SELECT DISTINCT r.product_id, r.account, r.livemode, extract(epoch FROM now())::bigint + 600, txid_current()
            FROM new_rows r
            WHERE r.product_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM rollup_stale s WHERE s.txid = txid_current() AND s.product_id = r.product_id
                  AND s.account = r.account AND s.livemode = r.livemode);
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO rollup_stale (product_id, account, livemode, due, txid)
            SELECT DISTINCT r.product_id, r.account, r.livemode, extract(epoch FROM now())::bigint + 600, txid_current()
            FROM old_rows r
            WHERE r.product_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM rollup_stale s WHERE s.txid = txid_current() AND s.product_id = r.product_id
                  AND s.account = r.account AND s.livemode = r.livemode);
        ELSE
            INSERT INTO rollup_stale (product_id, account, livemode, due, txid)
            SELECT DISTINCT r.product_id, r.account, r.livemode, extract(epoch FROM now())::bigint + 600, txid_current()
            FROM (SELECT product_id, account, livemode FROM new_rows UNION SELECT product_id, account, livemode FROM old_rows) r
            WHERE r.product_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM rollup_stale s WHERE s.txid = txid_current() AND s.product_id = r.product_id
                  AND s.account = r.account AND s.livemode = r.livemode);
        END IF;
        RETURN NULL;
    END IF;
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

-- Computes the rollups of stale products again from purchases and returns how many it took (0
-- when none is left): up to `most` products, those whose newest mark is due by `due_by`.
--   * Their marks are taken first (deleted; SKIP LOCKED: marks another refresh is taking are left
--     to it), so a deferred write that commits later leaves a mark of its own for a later refresh.
--   * The products' advisory locks (the settle's, in the same sorted order) are then held: no
--     transaction settles one of them until this commits, and each statement below starts after
--     the marks were taken and sees every row they stood for.
CREATE FUNCTION rollups_refresh(due_by bigint, most integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    products text[];
    accounts text[];
    modes boolean[];
BEGIN
    WITH chosen AS (
        SELECT product_id, account, livemode FROM rollup_stale
        GROUP BY product_id, account, livemode HAVING MAX(due) <= due_by
        ORDER BY MIN(due), product_id, account, livemode LIMIT most
    ), taken AS (
        DELETE FROM rollup_stale s
        WHERE s.ctid IN (
            SELECT m.ctid FROM rollup_stale m JOIN chosen c
              ON m.product_id = c.product_id AND m.account = c.account AND m.livemode = c.livemode
            FOR UPDATE OF m SKIP LOCKED)
        RETURNING s.product_id, s.account, s.livemode
    )
    SELECT array_agg(product_id), array_agg(account), array_agg(livemode) INTO products, accounts, modes
    FROM (SELECT DISTINCT product_id, account, livemode FROM taken) t;
    IF products IS NULL THEN
        RETURN 0;
    END IF;
    -- After a load larger than purchases was at its last ANALYZE, the plans below would be made
    -- for the table as it was (a walk of the index per product instead of one pass): refresh the
    -- statistics first. Many products at once sort and hash in memory rather than in files.
    IF (SELECT s.n_mod_since_analyze > GREATEST(c.reltuples, 1000)
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relid = 'purchases'::regclass) THEN
        ANALYZE purchases;
    END IF;
    IF cardinality(products) > 100 THEN
        PERFORM set_config('work_mem', '256MB', true);
    END IF;

    PERFORM pg_advisory_xact_lock(1919904876, k)
    FROM (SELECT DISTINCT hashtext(product_id || '/' || account || '/' || livemode::text) AS k
          FROM unnest(products, accounts, modes) AS u(product_id, account, livemode)) s
    ORDER BY k;

    DELETE FROM product_totals t USING unnest(products, accounts, modes) AS u(product_id, account, livemode)
    WHERE t.product_id = u.product_id AND t.account = u.account AND t.livemode = u.livemode;
    DELETE FROM product_customer_counts c USING unnest(products, accounts, modes) AS u(product_id, account, livemode)
    WHERE c.product_id = u.product_id AND c.account = u.account AND c.livemode = u.livemode;
    DELETE FROM product_daily_totals t USING unnest(products, accounts, modes) AS u(product_id, account, livemode)
    WHERE t.product_id = u.product_id AND t.account = u.account AND t.livemode = u.livemode;

    -- One pass over the products' rows for what is kept per customer, then per currency and per product.
    WITH buyers AS MATERIALIZED (
        SELECT p.product_id, p.account, p.livemode, p.currency, p.customer_key, COUNT(DISTINCT p.payment_key) AS purchases,
               COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
               COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded, MIN(p.purchased_at) AS first_purchased_at,
               MAX(p.purchased_at) AS last_purchased_at
        FROM purchases p JOIN unnest(products, accounts, modes) AS u(product_id, account, livemode)
          ON p.product_id = u.product_id AND p.account = u.account AND p.livemode = u.livemode
        WHERE NOT p.refunded
        GROUP BY p.product_id, p.account, p.livemode, p.currency, p.customer_key
    ), counted AS (
        INSERT INTO product_customer_counts (product_id, account, livemode, customers)
        SELECT product_id, account, livemode, COUNT(DISTINCT customer_key) FROM buyers GROUP BY product_id, account, livemode
    )
    INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity, amount_total,
                                amount_refunded, first_purchased_at, last_purchased_at)
    SELECT product_id, account, livemode, currency, COUNT(*), SUM(purchases), SUM(quantity), SUM(amount_total),
           SUM(amount_refunded), MIN(first_purchased_at), MAX(last_purchased_at)
    FROM buyers GROUP BY product_id, account, livemode, currency;

    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers,
                                      quantity, amount_total, amount_refunded)
    SELECT p.product_id, p.account, p.livemode, to_char(to_timestamp(p.purchased_at - p.purchased_at % 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
           p.currency, p.purchased_at - p.purchased_at % 86400, COUNT(DISTINCT p.payment_key), COUNT(DISTINCT p.customer_key),
           COALESCE(SUM(p.quantity), 0), COALESCE(SUM(p.amount_total), 0), COALESCE(SUM(p.amount_refunded), 0)
    FROM purchases p JOIN unnest(products, accounts, modes) AS u(product_id, account, livemode)
      ON p.product_id = u.product_id AND p.account = u.account AND p.livemode = u.livemode
    WHERE NOT p.refunded
    GROUP BY p.product_id, p.account, p.livemode, p.currency, p.purchased_at - p.purchased_at % 86400;

    RETURN cardinality(products);
END
$$
;
