-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0015_deferred_rollups, downgrade, PostgreSQL: every stale product is refreshed (nothing deferred
-- is lost), then the table and the function go and 0014's rollups_mark comes back.

SELECT rollups_refresh(9223372036854775807, 2147483647)
;

DROP FUNCTION rollups_refresh(bigint, integer)
;

DROP TABLE rollup_stale
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
