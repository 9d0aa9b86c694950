-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0011_product_customer_counts, upgrade, SQLite: a product's distinct customers across its
-- currencies (product_customer_counts), filled from the customer rows and kept by triggers on them:
-- the row triggers on purchases (0005) delete and insert a customer's row for each write.

CREATE TABLE product_customer_counts (
        product_id varchar(255) NOT NULL,
        account varchar(255) NOT NULL,
        livemode boolean NOT NULL,
        customers bigint NOT NULL,
        CONSTRAINT pk_product_customer_counts PRIMARY KEY (product_id, account, livemode)
    )
;

INSERT INTO product_customer_counts (product_id, account, livemode, customers)
SELECT product_id, account, livemode, COUNT(DISTINCT customer_key)
FROM product_customer_totals
GROUP BY product_id, account, livemode
;

-- A buyer arrives with their first row in any currency of the product...
CREATE TRIGGER rollups_count_in AFTER INSERT ON product_customer_totals
WHEN NOT EXISTS (SELECT 1 FROM product_customer_totals o
                 WHERE o.product_id = NEW.product_id AND o.account = NEW.account AND o.livemode = NEW.livemode
                   AND o.customer_key = NEW.customer_key AND o.currency <> NEW.currency) BEGIN
        INSERT INTO product_customer_counts (product_id, account, livemode, customers)
        VALUES (NEW.product_id, NEW.account, NEW.livemode, 1)
        ON CONFLICT (product_id, account, livemode) DO UPDATE SET customers = customers + 1;
    END
;

-- ...and leaves with their last; a product left without any has no count.
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
