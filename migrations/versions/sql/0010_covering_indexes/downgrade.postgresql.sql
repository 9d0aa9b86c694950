-- The indexes of 0001_initial and 0002_answers, without the included columns.
DROP INDEX ix_purchases_product_id_account_livemode_customer_key
;
CREATE INDEX ix_purchases_product_id_account_livemode_customer_key
    ON purchases (product_id, account, livemode, customer_key)
;
DROP INDEX ix_purchases_product_id_account_livemode_purchased_at_id
;
CREATE INDEX ix_purchases_product_id_account_livemode_purchased_at_id
    ON purchases (product_id, account, livemode, purchased_at, id)
;
