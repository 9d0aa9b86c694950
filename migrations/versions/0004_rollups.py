"""Rollups: the views' aggregates kept in tables, current in every committed transaction.

The views ``product_customers``, ``customer_products``, ``product_summary`` and
``product_sales_daily`` used to aggregate ``purchases`` when read: a product with 200,000 buyers
took a third of a second to sum up. They now read three tables that triggers on ``purchases``
keep equal to those aggregates (same columns, same rules: fully refunded purchases left out,
currencies never added together):

* ``product_customer_totals``: one row per product, customer and currency;
* ``product_totals``: one row per product and currency (``customers`` counts the rows above);
* ``product_daily_totals``: one row per product, UTC day and currency.

Every write path (webhooks, backfill, refunds, manual SQL) is covered because the triggers sit on
the table. A row is recomputed from ``purchases`` (a customer's few rows, a product's one day);
a product's totals move by the difference, so a product with many buyers costs the same to keep
as a small one.

PostgreSQL, with many writers: statement triggers note the touched keys in the unlogged table
``rollup_dirty`` and the transaction in ``rollup_pending``, whose deferred trigger settles them
as the transaction commits (once). It first locks the touched products' ``product_totals`` rows
in sorted order (so writers never deadlock); every customer and day row belongs to one product,
so those locks serialise the writers of each rollup row, and the recompute, in a statement that
starts after the locks are held, sees every transaction that settled the same rows before.
SQLite has one writer: row triggers recompute at once.

Revision ID: 0004_rollups
Revises: 0003_product_summary
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0004_rollups"
down_revision = "0003_product_summary"
branch_labels = None
depends_on = None

CUSTOMER_KEY = ("product_id", "account", "livemode", "customer_key", "currency")
PRODUCT_KEY = ("product_id", "account", "livemode", "currency")
DAY_KEY = ("product_id", "account", "livemode", "day", "currency")

#: The UTC day ('YYYY-MM-DD') of a day's first second.
DAY = {
    "postgresql": "to_char(to_timestamp({start}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "sqlite": "date({start}, 'unixepoch')",
}

#: What a purchases row contributes to: the columns whose change must be settled.
TRACKED = ("product_id", "account", "livemode", "customer_key", "currency", "customer_id", "email", "name",
           "payment_key", "quantity", "amount_total", "amount_refunded", "refunded", "purchased_at")

CUSTOMER_AGGREGATES = """
    MAX(p.customer_id) AS customer, MAX(p.email) AS email, MAX(p.name) AS name, COUNT(p.id) AS lines,
    COUNT(DISTINCT p.payment_key) AS purchases, COALESCE(SUM(p.quantity), 0) AS quantity,
    COALESCE(SUM(p.amount_total), 0) AS amount_total, COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded,
    MIN(p.purchased_at) AS first_purchased_at, MAX(p.purchased_at) AS last_purchased_at"""
CUSTOMER_COLUMNS = ("customer", "email", "name", "lines", "purchases", "quantity", "amount_total",
                    "amount_refunded", "first_purchased_at", "last_purchased_at")
DAY_AGGREGATES = """
    COUNT(DISTINCT p.payment_key) AS purchases, COUNT(DISTINCT p.customer_key) AS customers,
    COALESCE(SUM(p.quantity), 0) AS quantity, COALESCE(SUM(p.amount_total), 0) AS amount_total,
    COALESCE(SUM(p.amount_refunded), 0) AS amount_refunded"""
DAY_COLUMNS = ("purchases", "customers", "quantity", "amount_total", "amount_refunded")
SUMS = ("purchases", "quantity", "amount_total", "amount_refunded")


def _cols(names: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + n for n in names)


def _match(names: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{n} = {right}.{n}" for n in names)


# --- views -----------------------------------------------------------------------------------

PRODUCT_CUSTOMERS = """
CREATE VIEW product_customers AS
SELECT account, livemode, product_id, customer_key AS id, customer, email, name, currency, purchases,
       quantity, amount_total, amount_refunded, first_purchased_at, last_purchased_at
FROM product_customer_totals
"""

CUSTOMER_PRODUCTS = """
CREATE VIEW customer_products AS
SELECT t.account, t.livemode, t.customer_key, t.customer, t.email, t.product_id, pr.name AS product_name,
       t.currency, t.purchases, t.quantity, t.amount_total, t.amount_refunded, t.first_purchased_at,
       t.last_purchased_at
FROM product_customer_totals t
LEFT JOIN products pr ON pr.account = t.account AND pr.id = t.product_id
"""

PRODUCT_SUMMARY = """
CREATE VIEW product_summary AS
SELECT t.account, t.livemode, t.product_id, pr.name AS product_name, t.currency, t.customers, t.purchases,
       t.quantity, t.amount_total, t.amount_refunded, t.first_purchased_at, t.last_purchased_at
FROM product_totals t
LEFT JOIN products pr ON pr.account = t.account AND pr.id = t.product_id
"""

PRODUCT_SALES_DAILY = """
CREATE VIEW product_sales_daily AS
SELECT account, livemode, product_id, day, currency, purchases, customers, quantity, amount_total,
       amount_refunded
FROM product_daily_totals
"""

# --- filling the tables from what is already indexed -------------------------------------------

FILL_CUSTOMERS = f"""
INSERT INTO product_customer_totals ({_cols(CUSTOMER_KEY)}, {_cols(CUSTOMER_COLUMNS)})
SELECT {_cols(CUSTOMER_KEY, "p.")}, {CUSTOMER_AGGREGATES}
FROM purchases p
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY {_cols(CUSTOMER_KEY, "p.")}
"""

FILL_PRODUCTS = f"""
INSERT INTO product_totals ({_cols(PRODUCT_KEY)}, customers, {_cols(SUMS)}, first_purchased_at, last_purchased_at)
SELECT {_cols(PRODUCT_KEY)}, COUNT(*), {", ".join(f"SUM({s})" for s in SUMS)},
       MIN(first_purchased_at), MAX(last_purchased_at)
FROM product_customer_totals
GROUP BY {_cols(PRODUCT_KEY)}
"""

FILL_DAYS = """
INSERT INTO product_daily_totals ({key}, day_start, {columns})
SELECT p.product_id, p.account, p.livemode, {day}, p.currency, p.purchased_at - p.purchased_at % 86400,
       {aggregates}
FROM purchases p
WHERE p.product_id IS NOT NULL AND NOT p.refunded
GROUP BY p.product_id, p.account, p.livemode, p.currency, p.purchased_at - p.purchased_at % 86400
"""

# --- PostgreSQL: note the keys, settle them at commit -------------------------------------------

PG_DIRTY = [
    """CREATE UNLOGGED TABLE rollup_dirty (
        txid bigint NOT NULL,
        product_id varchar(255) NOT NULL,
        account varchar(255) NOT NULL,
        livemode boolean NOT NULL,
        customer_key varchar(255) NOT NULL,
        currency varchar(8) NOT NULL,
        day_start bigint NOT NULL
    )""",
    "CREATE INDEX ix_rollup_dirty_txid ON rollup_dirty (txid)",
    "CREATE UNLOGGED TABLE rollup_pending (txid bigint NOT NULL, CONSTRAINT pk_rollup_pending PRIMARY KEY (txid))",
]

_MARK = """
        INSERT INTO rollup_dirty
        SELECT DISTINCT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400
        FROM {rows} r
        WHERE r.product_id IS NOT NULL;"""

# An updated row counts when a tracked column changed: rows of one side that the other side
# does not hold (EXCEPT hashes or sorts; a join of the two transition tables, which have no
# statistics, was planned as a nested loop).
_PG_CHANGED = "(SELECT id, {tracked} FROM {this} EXCEPT SELECT id, {tracked} FROM {other})"

PG_MARK = f"""
CREATE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK.format(rows="new_rows")}
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK.format(rows="old_rows")}
    ELSE
        {_MARK.format(rows=_PG_CHANGED.format(tracked=_cols(TRACKED), this="new_rows", other="old_rows"))}
        {_MARK.format(rows=_PG_CHANGED.format(tracked=_cols(TRACKED), this="old_rows", other="new_rows"))}
    END IF;
    INSERT INTO rollup_pending VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""

PG_MARK_TRIGGERS = [
    "CREATE TRIGGER rollups_mark_insert AFTER INSERT ON purchases REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()",
    "CREATE TRIGGER rollups_mark_update AFTER UPDATE ON purchases "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()",
    "CREATE TRIGGER rollups_mark_delete AFTER DELETE ON purchases REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION rollups_mark()",
]

_KEYS = f"SELECT DISTINCT {_cols(CUSTOMER_KEY)} FROM rollup_dirty WHERE txid = tx"
_PRODUCTS = f"SELECT DISTINCT {_cols(PRODUCT_KEY)} FROM rollup_dirty WHERE txid = tx"
_DAY_OF_START = DAY["postgresql"].format(start="day_start")

PG_SETTLE = f"""
CREATE FUNCTION rollups_settle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx bigint := txid_current();
BEGIN
    -- Lock the touched products' rows, sorted (a placeholder for a new product). Every key
    -- below (a customer's, a day's) belongs to one product, so these locks serialise all the
    -- writers of each row that follows.
    INSERT INTO product_totals AS t ({_cols(PRODUCT_KEY)}, customers, {_cols(SUMS)})
    SELECT {_cols(PRODUCT_KEY)}, 0, 0, 0, 0, 0 FROM ({_PRODUCTS}) k ORDER BY {_cols(PRODUCT_KEY)}
    ON CONFLICT ({_cols(PRODUCT_KEY)}) DO UPDATE SET customers = t.customers;

    -- A new statement sees everything committed by the earlier holders of those locks:
    -- recompute each customer row, and move its product's totals by the difference (the main
    -- statement reads product_customer_totals as it was before its CTEs wrote). A product's
    -- first or last sale is only looked up again when a customer who held it lost it.
    WITH keys AS ({_KEYS}), fresh AS (
        SELECT {_cols(CUSTOMER_KEY, "k.")}, {CUSTOMER_AGGREGATES}
        FROM keys k
        LEFT JOIN purchases p ON {_match(CUSTOMER_KEY, "p", "k")} AND NOT p.refunded
        GROUP BY {_cols(CUSTOMER_KEY, "k.")}
    ), written AS (
        INSERT INTO product_customer_totals AS t ({_cols(CUSTOMER_KEY)}, {_cols(CUSTOMER_COLUMNS)})
        SELECT {_cols(CUSTOMER_KEY)}, {_cols(CUSTOMER_COLUMNS)} FROM fresh WHERE lines > 0
        ON CONFLICT ({_cols(CUSTOMER_KEY)}) DO UPDATE SET
            ({_cols(CUSTOMER_COLUMNS)}) = ({_cols(CUSTOMER_COLUMNS, "excluded.")})
    ), gone AS (
        DELETE FROM product_customer_totals t USING fresh f
        WHERE {_match(CUSTOMER_KEY, "t", "f")} AND f.lines = 0
    )
    UPDATE product_totals t SET
        {", ".join(f"{n} = t.{n} + s.{n}" for n in ("customers", *SUMS))},
        first_purchased_at = CASE WHEN s.lost_first <= t.first_purchased_at THEN NULL
                                  ELSE LEAST(t.first_purchased_at, s.first_purchased_at) END,
        last_purchased_at = CASE WHEN s.lost_last >= t.last_purchased_at THEN NULL
                                 ELSE GREATEST(t.last_purchased_at, s.last_purchased_at) END
    FROM (SELECT {_cols(PRODUCT_KEY, "f.")},
                 COUNT(*) FILTER (WHERE f.lines > 0) - COUNT(o.lines) AS customers,
                 {", ".join(f"SUM(f.{n}) - COALESCE(SUM(o.{n}), 0) AS {n}" for n in SUMS)},
                 MIN(f.first_purchased_at) AS first_purchased_at, MAX(f.last_purchased_at) AS last_purchased_at,
                 MIN(o.first_purchased_at) FILTER (WHERE f.first_purchased_at IS NULL
                                                   OR f.first_purchased_at > o.first_purchased_at) AS lost_first,
                 MAX(o.last_purchased_at) FILTER (WHERE f.last_purchased_at IS NULL
                                                  OR f.last_purchased_at < o.last_purchased_at) AS lost_last
          FROM fresh f LEFT JOIN product_customer_totals o ON {_match(CUSTOMER_KEY, "o", "f")}
          GROUP BY {_cols(PRODUCT_KEY, "f.")}) s
    WHERE {_match(PRODUCT_KEY, "t", "s")};

    DELETE FROM product_totals t USING ({_PRODUCTS}) k
    WHERE {_match(PRODUCT_KEY, "t", "k")} AND t.customers = 0;

    UPDATE product_totals t SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE {_match(PRODUCT_KEY, "p", "t")} AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE {_match(PRODUCT_KEY, "p", "t")} AND NOT p.refunded)
    FROM ({_PRODUCTS}) k
    WHERE {_match(PRODUCT_KEY, "t", "k")} AND (t.first_purchased_at IS NULL OR t.last_purchased_at IS NULL);

    -- Days: recompute each touched day.
    WITH days AS (
        SELECT DISTINCT product_id, account, livemode, {_DAY_OF_START} AS day, currency, day_start
        FROM rollup_dirty WHERE txid = tx
    ), fresh AS (
        SELECT k.product_id, k.account, k.livemode, k.day, k.currency, k.day_start, {DAY_AGGREGATES}
        FROM days k
        LEFT JOIN purchases p ON {_match(PRODUCT_KEY, "p", "k")} AND NOT p.refunded
             AND p.purchased_at >= k.day_start AND p.purchased_at < k.day_start + 86400
        GROUP BY k.product_id, k.account, k.livemode, k.day, k.currency, k.day_start
    ), written AS (
        INSERT INTO product_daily_totals AS t ({_cols(DAY_KEY)}, day_start, {_cols(DAY_COLUMNS)})
        SELECT {_cols(DAY_KEY)}, day_start, {_cols(DAY_COLUMNS)} FROM fresh WHERE purchases > 0
        ON CONFLICT ({_cols(DAY_KEY)}) DO UPDATE SET ({_cols(DAY_COLUMNS)}) = ({_cols(DAY_COLUMNS, "excluded.")})
    )
    DELETE FROM product_daily_totals t USING fresh f
    WHERE {_match(DAY_KEY, "t", "f")} AND f.purchases = 0;

    DELETE FROM rollup_dirty WHERE txid = tx;
    DELETE FROM rollup_pending WHERE txid = tx;
    RETURN NULL;
END
$$
"""

PG_SETTLE_TRIGGER = (
    "CREATE CONSTRAINT TRIGGER rollups_settle AFTER INSERT ON rollup_pending "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rollups_settle()"
)

# --- SQLite: one writer, recompute at once --------------------------------------------------------

_SQLITE_RECOMPUTE = """
    DELETE FROM product_customer_totals
    WHERE product_id = {r}.product_id AND account = {r}.account AND livemode = {r}.livemode
      AND customer_key = {r}.customer_key AND currency = {r}.currency;
    INSERT INTO product_customer_totals ({customer_key}, {customer_columns})
    SELECT {customer_key_p}, {customer_aggregates}
    FROM purchases p
    WHERE p.product_id = {r}.product_id AND p.account = {r}.account AND p.livemode = {r}.livemode
      AND p.customer_key = {r}.customer_key AND p.currency = {r}.currency AND NOT p.refunded
    GROUP BY {customer_key_p};
    DELETE FROM product_totals
    WHERE product_id = {r}.product_id AND account = {r}.account AND livemode = {r}.livemode
      AND currency = {r}.currency AND customers = 0;
    UPDATE product_totals SET
        first_purchased_at = (SELECT MIN(p.purchased_at) FROM purchases p
                              WHERE p.product_id = {r}.product_id AND p.account = {r}.account
                                AND p.livemode = {r}.livemode AND p.currency = {r}.currency AND NOT p.refunded),
        last_purchased_at = (SELECT MAX(p.purchased_at) FROM purchases p
                             WHERE p.product_id = {r}.product_id AND p.account = {r}.account
                               AND p.livemode = {r}.livemode AND p.currency = {r}.currency AND NOT p.refunded)
    WHERE product_id = {r}.product_id AND account = {r}.account AND livemode = {r}.livemode
      AND currency = {r}.currency;
    DELETE FROM product_daily_totals
    WHERE product_id = {r}.product_id AND account = {r}.account AND livemode = {r}.livemode
      AND day = {row_day} AND currency = {r}.currency;
    INSERT INTO product_daily_totals ({day_key}, day_start, {day_columns})
    SELECT p.product_id, p.account, p.livemode, {day}, p.currency, p.purchased_at - p.purchased_at % 86400,
           {day_aggregates}
    FROM purchases p
    WHERE p.product_id = {r}.product_id AND p.account = {r}.account AND p.livemode = {r}.livemode
      AND p.currency = {r}.currency AND NOT p.refunded
      AND p.purchased_at >= {row_start} AND p.purchased_at < {row_start} + 86400
    GROUP BY p.product_id, p.account, p.livemode, p.currency;"""


def _sqlite_recompute(row: str) -> str:
    row_start = f"{row}.purchased_at - {row}.purchased_at % 86400"
    return _SQLITE_RECOMPUTE.format(
        r=row, row_start=row_start, row_day=DAY["sqlite"].format(start=row_start),
        customer_key=_cols(CUSTOMER_KEY), customer_columns=_cols(CUSTOMER_COLUMNS),
        customer_key_p=_cols(CUSTOMER_KEY, "p."), customer_aggregates=CUSTOMER_AGGREGATES,
        day_key=_cols(DAY_KEY), day_columns=_cols(DAY_COLUMNS),
        day=DAY["sqlite"].format(start="p.purchased_at - p.purchased_at % 86400"), day_aggregates=DAY_AGGREGATES,
    )


_CHANGED = " OR ".join(f"OLD.{n} IS NOT NEW.{n}" for n in TRACKED)

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER rollups_insert AFTER INSERT ON purchases BEGIN {_sqlite_recompute('NEW')} END",
    f"CREATE TRIGGER rollups_delete AFTER DELETE ON purchases BEGIN {_sqlite_recompute('OLD')} END",
    f"CREATE TRIGGER rollups_update AFTER UPDATE ON purchases WHEN {_CHANGED} "
    f"BEGIN {_sqlite_recompute('OLD')} {_sqlite_recompute('NEW')} END",
    # A customer row's arrival and departure move its product's totals.
    f"""CREATE TRIGGER rollups_customer_in AFTER INSERT ON product_customer_totals BEGIN
        INSERT INTO product_totals ({_cols(PRODUCT_KEY)}, customers, {_cols(SUMS)})
        VALUES ({_cols(PRODUCT_KEY, "NEW.")}, 1, {_cols(SUMS, "NEW.")})
        ON CONFLICT ({_cols(PRODUCT_KEY)}) DO UPDATE SET
            {", ".join(f"{n} = {n} + excluded.{n}" for n in ("customers", *SUMS))};
    END""",
    f"""CREATE TRIGGER rollups_customer_out AFTER DELETE ON product_customer_totals BEGIN
        UPDATE product_totals SET customers = customers - 1, {", ".join(f"{n} = {n} - OLD.{n}" for n in SUMS)}
        WHERE product_id = OLD.product_id AND account = OLD.account AND livemode = OLD.livemode
          AND currency = OLD.currency;
    END""",
]


def _key() -> list[sa.Column]:
    return [sa.Column("product_id", sa.String(255), nullable=False),
            sa.Column("account", sa.String(255), nullable=False),
            sa.Column("livemode", sa.Boolean(), nullable=False)]


def _sums() -> list[sa.Column]:
    return [sa.Column(n, sa.BigInteger(), nullable=False) for n in SUMS]


def _span() -> list[sa.Column]:
    return [sa.Column("first_purchased_at", sa.BigInteger()), sa.Column("last_purchased_at", sa.BigInteger())]


def _create_tables() -> None:
    op.create_table(
        "product_customer_totals",
        *_key(),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("customer", sa.String(255)),
        sa.Column("email", sa.String(512)),
        sa.Column("name", sa.String(512)),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        *_sums(),
        *_span(),
        sa.PrimaryKeyConstraint(*CUSTOMER_KEY, name="pk_product_customer_totals"),
    )
    op.create_index("ix_product_customer_totals_customer_key_account_livemode", "product_customer_totals",
                    ["customer_key", "account", "livemode"])
    op.create_table(
        "product_totals",
        *_key(),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        *_sums(),
        *_span(),
        sa.PrimaryKeyConstraint(*PRODUCT_KEY, name="pk_product_totals"),
    )
    op.create_table(
        "product_daily_totals",
        *_key(),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("day_start", sa.BigInteger(), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(*DAY_KEY, name="pk_product_daily_totals"),
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in ("product_customers", "customer_products", "product_summary", "product_sales_daily"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    _create_tables()
    op.execute(FILL_CUSTOMERS)
    op.execute(FILL_PRODUCTS)
    op.execute(FILL_DAYS.format(key=_cols(DAY_KEY), columns=_cols(DAY_COLUMNS), aggregates=DAY_AGGREGATES,
                                day=DAY[dialect].format(start="p.purchased_at - p.purchased_at % 86400")))
    if dialect == "postgresql":
        for statement in PG_DIRTY:
            op.execute(statement)
        op.execute(PG_MARK)
        for trigger in PG_MARK_TRIGGERS:
            op.execute(trigger)
        op.execute(PG_SETTLE)
        op.execute(PG_SETTLE_TRIGGER)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    for view in (PRODUCT_CUSTOMERS, CUSTOMER_PRODUCTS, PRODUCT_SUMMARY, PRODUCT_SALES_DAILY):
        op.execute(view)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in ("product_customers", "customer_products", "product_summary", "product_sales_daily"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    if dialect == "postgresql":
        op.execute("DROP TABLE rollup_pending")
        op.execute("DROP TABLE rollup_dirty")
        for trigger in ("rollups_mark_insert", "rollups_mark_update", "rollups_mark_delete"):
            op.execute(f"DROP TRIGGER {trigger} ON purchases")
        op.execute("DROP FUNCTION rollups_settle()")
        op.execute("DROP FUNCTION rollups_mark()")
    else:
        for trigger in ("rollups_insert", "rollups_delete", "rollups_update"):
            op.execute(f"DROP TRIGGER {trigger}")
    for table in ("product_daily_totals", "product_totals", "product_customer_totals"):
        op.drop_table(table)
    initial = importlib.import_module("migrations.versions.0001_initial")
    answers = importlib.import_module("migrations.versions.0002_answers")
    summary = importlib.import_module("migrations.versions.0003_product_summary")
    op.execute(initial.PRODUCT_CUSTOMERS)
    op.execute(answers.PRODUCT_SALES_DAILY.format(day=answers.DAY[dialect]))
    op.execute(answers.CUSTOMER_PRODUCTS)
    op.execute(summary.PRODUCT_SUMMARY)
