-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0005_day_moves, downgrade, SQLite: 0004_rollups's row triggers again (this migration's own copy),
-- which recompute a written row's day.

DROP TRIGGER rollups_insert
;

DROP TRIGGER rollups_delete
;

DROP TRIGGER rollups_update
;

CREATE TRIGGER rollups_insert AFTER INSERT ON purchases BEGIN 
    DELETE FROM product_customer_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND customer_key = NEW.customer_key AND currency = NEW.currency;
    INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT p.product_id, p.account, p.livemode, p.customer_key, p.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
    FROM purchases p
    WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode
      AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded
    GROUP BY p.product_id, p.account, p.livemode, p.customer_key, p.currency;
    DELETE FROM product_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND currency = NEW.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = NEW.product_id AND p.account = NEW.account
                                AND p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = NEW.product_id AND p.account = NEW.account
                               AND p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded)
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND currency = NEW.currency;
    DELETE FROM product_daily_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND day = date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch') AND currency = NEW.currency;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT p.product_id, p.account, p.livemode, date(p.purchased_at - p.purchased_at % 86400, 'unixepoch'), p.currency, p.purchased_at - p.purchased_at % 86400,
           
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
    FROM purchases p
    WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode
      AND p.currency = NEW.currency AND NOT p.refunded
      AND p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400
    GROUP BY p.product_id, p.account, p.livemode, p.currency; END
;

CREATE TRIGGER rollups_delete AFTER DELETE ON purchases BEGIN 
    DELETE FROM product_customer_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND customer_key = OLD.customer_key AND currency = OLD.currency;
    INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT p.product_id, p.account, p.livemode, p.customer_key, p.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
    FROM purchases p
    WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode
      AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded
    GROUP BY p.product_id, p.account, p.livemode, p.customer_key, p.currency;
    DELETE FROM product_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND currency = OLD.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = OLD.product_id AND p.account = OLD.account
                                AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = OLD.product_id AND p.account = OLD.account
                               AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND currency = OLD.currency;
    DELETE FROM product_daily_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT p.product_id, p.account, p.livemode, date(p.purchased_at - p.purchased_at % 86400, 'unixepoch'), p.currency, p.purchased_at - p.purchased_at % 86400,
           
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
    FROM purchases p
    WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode
      AND p.currency = OLD.currency AND NOT p.refunded
      AND p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400
    GROUP BY p.product_id, p.account, p.livemode, p.currency; END
;

CREATE TRIGGER rollups_update AFTER UPDATE ON purchases WHEN OLD.product_id IS NOT NEW.product_id OR OLD.account IS NOT NEW.account OR OLD.livemode IS NOT NEW.livemode OR OLD.customer_key IS NOT NEW.customer_key OR OLD.currency IS NOT NEW.currency OR OLD.customer_id IS NOT NEW.customer_id OR OLD.email IS NOT NEW.email OR OLD.name IS NOT NEW.name OR OLD.payment_key IS NOT NEW.payment_key OR OLD.quantity IS NOT NEW.quantity OR OLD.amount_total IS NOT NEW.amount_total OR OLD.amount_refunded IS NOT NEW.amount_refunded OR OLD.refunded IS NOT NEW.refunded OR OLD.purchased_at IS NOT NEW.purchased_at BEGIN 
    DELETE FROM product_customer_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND customer_key = OLD.customer_key AND currency = OLD.currency;
    INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT p.product_id, p.account, p.livemode, p.customer_key, p.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
    FROM purchases p
    WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode
      AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded
    GROUP BY p.product_id, p.account, p.livemode, p.customer_key, p.currency;
    DELETE FROM product_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND currency = OLD.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = OLD.product_id AND p.account = OLD.account
                                AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = OLD.product_id AND p.account = OLD.account
                               AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND currency = OLD.currency;
    DELETE FROM product_daily_totals
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
      AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT p.product_id, p.account, p.livemode, date(p.purchased_at - p.purchased_at % 86400, 'unixepoch'), p.currency, p.purchased_at - p.purchased_at % 86400,
           
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
    FROM purchases p
    WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode
      AND p.currency = OLD.currency AND NOT p.refunded
      AND p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400
    GROUP BY p.product_id, p.account, p.livemode, p.currency; 
    DELETE FROM product_customer_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND customer_key = NEW.customer_key AND currency = NEW.currency;
    INSERT INTO product_customer_totals (product_id, account, livemode, customer_key, currency, customer, email, name, lines, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT p.product_id, p.account, p.livemode, p.customer_key, p.currency, 
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at
    FROM purchases p
    WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode
      AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded
    GROUP BY p.product_id, p.account, p.livemode, p.customer_key, p.currency;
    DELETE FROM product_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND currency = NEW.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = NEW.product_id AND p.account = NEW.account
                                AND p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = NEW.product_id AND p.account = NEW.account
                               AND p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded)
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND currency = NEW.currency;
    DELETE FROM product_daily_totals
    WHERE product_id = NEW.product_id AND account = NEW.account AND livemode = NEW.livemode
      AND day = date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch') AND currency = NEW.currency;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT p.product_id, p.account, p.livemode, date(p.purchased_at - p.purchased_at % 86400, 'unixepoch'), p.currency, p.purchased_at - p.purchased_at % 86400,
           
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded
    FROM purchases p
    WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode
      AND p.currency = NEW.currency AND NOT p.refunded
      AND p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400
    GROUP BY p.product_id, p.account, p.livemode, p.currency; END
;
