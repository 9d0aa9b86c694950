-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0014_lean_rollups, upgrade, SQLite: no per-customer rollup. product_customer_totals and its
-- triggers are dropped (its views sum purchases again, as 0001's did); the row triggers on
-- purchases move product_totals, product_customer_counts and product_daily_totals by the row.
-- A distinct count (customers, purchases) moves when the row is the only one of its cell (a
-- customer's or a payment's, in the product and currency, the product, or the day) as it
-- arrives, or was the last as it leaves. A payment's cell is counted through (account,
-- payment_key): the terms that must not choose another index are written with a unary +.

DROP TRIGGER rollups_insert
;

DROP TRIGGER rollups_delete
;

DROP TRIGGER rollups_update
;

DROP VIEW product_customers
;

DROP VIEW customer_products
;

DROP TABLE product_customer_totals
;

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

CREATE TRIGGER rollups_insert AFTER INSERT ON purchases BEGIN
    INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT NEW.product_id, NEW.account, NEW.livemode, NEW.currency, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded) = 1,
           NEW.quantity, NEW.amount_total, NEW.amount_refunded, NEW.purchased_at, NEW.purchased_at
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET
        customers = customers + excluded.customers, purchases = purchases + excluded.purchases, quantity = quantity + excluded.quantity,
        amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded,
        first_purchased_at = min(first_purchased_at, excluded.first_purchased_at), last_purchased_at = max(last_purchased_at, excluded.last_purchased_at);
    INSERT INTO product_customer_counts (product_id, account, livemode, customers)
    SELECT NEW.product_id, NEW.account, NEW.livemode, 1
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded AND (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND NOT p.refunded) = 1
    ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = customers + 1;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT NEW.product_id, NEW.account, NEW.livemode, date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch'), NEW.currency, NEW.purchased_at - NEW.purchased_at % 86400,
           (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, NEW.quantity, NEW.amount_total, NEW.amount_refunded
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
        purchases = purchases + excluded.purchases, customers = customers + excluded.customers, quantity = quantity + excluded.quantity,
        amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded; END
;

CREATE TRIGGER rollups_delete AFTER DELETE ON purchases BEGIN
    UPDATE product_totals SET
        customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded) = 0), purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded) = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded
      AND (first_purchased_at >= OLD.purchased_at OR last_purchased_at <= OLD.purchased_at);
    UPDATE product_customer_counts SET customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND NOT p.refunded) = 0)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_customer_counts WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND customers = 0;
    UPDATE product_daily_totals SET
        purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) = 0), customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_daily_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND purchases = 0; END
;

-- The old side leaves, then the new side arrives. Where the new side shares the old side's cell,
-- the old side's leaving leaves it out of that cell's rows and its arrival counts it again.
CREATE TRIGGER rollups_update AFTER UPDATE ON purchases WHEN OLD.product_id IS NOT NEW.product_id OR OLD.account IS NOT NEW.account OR OLD.livemode IS NOT NEW.livemode OR OLD.customer_key IS NOT NEW.customer_key OR OLD.currency IS NOT NEW.currency OR OLD.payment_key IS NOT NEW.payment_key OR OLD.quantity IS NOT NEW.quantity OR OLD.amount_total IS NOT NEW.amount_total OR OLD.amount_refunded IS NOT NEW.amount_refunded OR OLD.refunded IS NOT NEW.refunded OR OLD.purchased_at IS NOT NEW.purchased_at BEGIN
    UPDATE product_totals SET
        customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.customer_key = OLD.customer_key) = 0), purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.payment_key = OLD.payment_key) = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded
      AND (first_purchased_at >= OLD.purchased_at OR last_purchased_at <= OLD.purchased_at);
    UPDATE product_customer_counts SET customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND NOT p.refunded) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.customer_key = OLD.customer_key) = 0)
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_customer_counts WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND customers = 0;
    UPDATE product_daily_totals SET
        purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.payment_key = OLD.payment_key AND NEW.purchased_at - NEW.purchased_at % 86400 = OLD.purchased_at - OLD.purchased_at % 86400) = 0), customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.customer_key = OLD.customer_key AND NEW.purchased_at - NEW.purchased_at % 86400 = OLD.purchased_at - OLD.purchased_at % 86400) = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_daily_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND purchases = 0;
    INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at)
    SELECT NEW.product_id, NEW.account, NEW.livemode, NEW.currency, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded) = 1,
           NEW.quantity, NEW.amount_total, NEW.amount_refunded, NEW.purchased_at, NEW.purchased_at
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET
        customers = customers + excluded.customers, purchases = purchases + excluded.purchases, quantity = quantity + excluded.quantity,
        amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded,
        first_purchased_at = min(first_purchased_at, excluded.first_purchased_at), last_purchased_at = max(last_purchased_at, excluded.last_purchased_at);
    INSERT INTO product_customer_counts (product_id, account, livemode, customers)
    SELECT NEW.product_id, NEW.account, NEW.livemode, 1
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded AND (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND NOT p.refunded) = 1
    ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = customers + 1;
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT NEW.product_id, NEW.account, NEW.livemode, date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch'), NEW.currency, NEW.purchased_at - NEW.purchased_at % 86400,
           (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, NEW.quantity, NEW.amount_total, NEW.amount_refunded
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
        purchases = purchases + excluded.purchases, customers = customers + excluded.customers, quantity = quantity + excluded.quantity,
        amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded; END
;
