-- Each statement ends at a line holding only ';' (bodies use ';' too); they run one at a time, in order.
-- 0011_product_customer_counts, downgrade, SQLite: the counts and their triggers go.

DROP TRIGGER rollups_count_in
;

DROP TRIGGER rollups_count_out
;

DROP TABLE product_customer_counts
;
