-- The walk of a product's customers in key order reads each row's time and refund flag here.
DROP INDEX ix_purchases_product_id_account_livemode_customer_key
;
CREATE INDEX ix_purchases_product_id_account_livemode_customer_key
    ON purchases (product_id, account, livemode, customer_key)
    INCLUDE (purchased_at, refunded)
;
-- A narrow window, read whole in time order, reads each row's customer and refund flag here.
DROP INDEX ix_purchases_product_id_account_livemode_purchased_at_id
;
CREATE INDEX ix_purchases_product_id_account_livemode_purchased_at_id
    ON purchases (product_id, account, livemode, purchased_at, id)
    INCLUDE (customer_key, refunded)
;
