-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0014_lean_rollups, downgrade, SQLite: 0013's rollups again (copies of what 0004, 0005 and 0011
-- made). product_customer_totals is made and filled from purchases before its triggers exist, so
-- that filling it moves no totals; then the triggers and views that read it.

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

CREATE TABLE product_customer_totals (
	product_id VARCHAR(255) NOT NULL, 
	account VARCHAR(255) NOT NULL, 
	livemode BOOLEAN NOT NULL, 
	customer_key VARCHAR(255) NOT NULL, 
	currency VARCHAR(8) NOT NULL, 
	customer VARCHAR(255), 
	email VARCHAR(512), 
	name VARCHAR(512), 
	lines BIGINT NOT NULL, 
	purchases BIGINT NOT NULL, 
	quantity BIGINT NOT NULL, 
	amount_total BIGINT NOT NULL, 
	amount_refunded BIGINT NOT NULL, 
	first_purchased_at BIGINT, 
	last_purchased_at BIGINT, 
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

CREATE TRIGGER rollups_customer_in AFTER INSERT ON product_customer_totals BEGIN
        INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity, amount_total, amount_refunded)
        VALUES (NEW.product_id, NEW.account, NEW.livemode, NEW.currency, 1, NEW.purchases, NEW.quantity, NEW.amount_total, NEW.amount_refunded)
        ON CONFLICT (product_id, account, livemode, currency) DO UPDATE SET
            customers = customers + excluded.customers, purchases = purchases + excluded.purchases, quantity = quantity + excluded.quantity, amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded;
    END
;

CREATE TRIGGER rollups_customer_out AFTER DELETE ON product_customer_totals BEGIN
        UPDATE product_totals SET customers = customers - 1, purchases = purchases - OLD.purchases, quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
        WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
          AND currency = OLD.currency;
    END
;

CREATE TRIGGER rollups_count_in AFTER INSERT ON product_customer_totals
WHEN NOT EXISTS (SELECT 1 FROM product_customer_totals o
                 WHERE o.product_id = NEW.product_id AND o.account = NEW.account AND o.livemode = NEW.livemode
                   AND o.customer_key = NEW.customer_key AND o.currency <> NEW.currency) BEGIN
        INSERT INTO product_customer_counts (product_id, account, livemode, customers)
        VALUES (NEW.product_id, NEW.account, NEW.livemode, 1)
        ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = customers + 1;
    END
;

CREATE TRIGGER rollups_count_out AFTER DELETE ON product_customer_totals
WHEN NOT EXISTS (SELECT 1 FROM product_customer_totals o
                 WHERE o.product_id = OLD.product_id AND o.account = OLD.account AND o.livemode = OLD.livemode
                   AND o.customer_key = OLD.customer_key) BEGIN
        UPDATE product_customer_counts SET customers = customers - 1
        WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode;
        DELETE FROM product_customer_counts
        WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND customers = 0;
    END
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
 
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT NEW.product_id, NEW.account, NEW.livemode, date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch'), NEW.currency, NEW.purchased_at - NEW.purchased_at % 86400,
           (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, NEW.quantity, NEW.amount_total, NEW.amount_refunded
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
        purchases = purchases + excluded.purchases, customers = customers + excluded.customers, quantity = quantity + excluded.quantity, amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded; END
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
 
    UPDATE product_daily_totals SET
        purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - 0 = 0),
        customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - 0 = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_daily_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND purchases = 0; END
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
 
    UPDATE product_daily_totals SET
        purchases = purchases - ((SELECT COUNT(*) FROM purchases p WHERE p.account = OLD.account AND p.payment_key = OLD.payment_key AND +p.product_id = OLD.product_id AND +p.livemode = OLD.livemode AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.payment_key = OLD.payment_key AND NEW.purchased_at - NEW.purchased_at % 86400 = OLD.purchased_at - OLD.purchased_at % 86400) = 0),
        customers = customers - ((SELECT COUNT(*) FROM purchases p WHERE p.product_id = OLD.product_id AND p.account = OLD.account AND p.livemode = OLD.livemode AND p.customer_key = OLD.customer_key AND p.currency = OLD.currency AND NOT p.refunded AND +p.purchased_at >= OLD.purchased_at - OLD.purchased_at % 86400 AND +p.purchased_at < OLD.purchased_at - OLD.purchased_at % 86400 + 86400) - (NEW.product_id IS NOT NULL AND NOT NEW.refunded AND NEW.product_id = OLD.product_id AND NEW.account = OLD.account AND NEW.livemode = OLD.livemode AND NEW.currency = OLD.currency AND NEW.customer_key = OLD.customer_key AND NEW.purchased_at - NEW.purchased_at % 86400 = OLD.purchased_at - OLD.purchased_at % 86400) = 0),
        quantity = quantity - OLD.quantity, amount_total = amount_total - OLD.amount_total, amount_refunded = amount_refunded - OLD.amount_refunded
    WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND OLD.product_id IS NOT NULL AND NOT OLD.refunded;
    DELETE FROM product_daily_totals WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode AND day = date(OLD.purchased_at - OLD.purchased_at % 86400, 'unixepoch') AND currency = OLD.currency AND purchases = 0; 
    INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases, customers, quantity, amount_total, amount_refunded)
    SELECT NEW.product_id, NEW.account, NEW.livemode, date(NEW.purchased_at - NEW.purchased_at % 86400, 'unixepoch'), NEW.currency, NEW.purchased_at - NEW.purchased_at % 86400,
           (SELECT COUNT(*) FROM purchases p WHERE p.account = NEW.account AND p.payment_key = NEW.payment_key AND +p.product_id = NEW.product_id AND +p.livemode = NEW.livemode AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, (SELECT COUNT(*) FROM purchases p WHERE p.product_id = NEW.product_id AND p.account = NEW.account AND p.livemode = NEW.livemode AND p.customer_key = NEW.customer_key AND p.currency = NEW.currency AND NOT p.refunded AND +p.purchased_at >= NEW.purchased_at - NEW.purchased_at % 86400 AND +p.purchased_at < NEW.purchased_at - NEW.purchased_at % 86400 + 86400) = 1, NEW.quantity, NEW.amount_total, NEW.amount_refunded
    WHERE NEW.product_id IS NOT NULL AND NOT NEW.refunded
    ON CONFLICT (product_id, account, livemode, day, currency) DO UPDATE SET
        purchases = purchases + excluded.purchases, customers = customers + excluded.customers, quantity = quantity + excluded.quantity, amount_total = amount_total + excluded.amount_total, amount_refunded = amount_refunded + excluded.amount_refunded; END
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
