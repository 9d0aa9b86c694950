"""Rollups, PostgreSQL: a day's totals move by what a transaction changed, not recomputed.

Migration ``0004_rollups`` settled a touched day of ``product_daily_totals`` by summing the
product's purchases of that whole day again, under the product's lock: one more sale of a
product that sold 50,000 times that day read 50,000 rows and held the lock for 66 ms, so a
launch day slowed every writer of the product to some fifteen commits a second.

``rollup_dirty`` now notes each changed row with its sign (+1 as written, -1 as it was) and
what it adds up. At commit, under the same locks, a day's sums move by those rows; a customer
(a payment) counts in a day while it holds a non-refunded row there, so each touched customer
and payment of the day is looked up by its own index: the rows it holds now (this
transaction's included), against the rows it held before (now, less what this transaction
added, plus what it took away). Every earlier writer of the product had settled and committed
before the lock was granted, so "now" is exactly "before" plus this transaction. A settle costs
what the transaction wrote, whatever the day's size.

SQLite keeps 0004's row triggers (one writer, the embedded first-run database).

Revision ID: 0005_day_moves
Revises: 0004_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0005_day_moves"
down_revision = "0004_rollups"
branch_labels = None
depends_on = None

rollups = importlib.import_module("migrations.versions.0004_rollups")

ADDED = (("sign", "smallint NOT NULL DEFAULT 1"), ("payment_key", "varchar(255)"), ("quantity", "bigint"),
         ("amount_total", "bigint"), ("amount_refunded", "bigint"), ("refunded", "boolean"))

_MARK = """
        INSERT INTO rollup_dirty (txid, product_id, account, livemode, customer_key, currency, day_start, sign,
                                  payment_key, quantity, amount_total, amount_refunded, refunded)
        SELECT txid_current(), r.product_id, r.account, r.livemode, r.customer_key, r.currency,
               r.purchased_at - r.purchased_at % 86400, {sign}, r.payment_key, r.quantity, r.amount_total,
               r.amount_refunded, r.refunded
        FROM {rows} r
        WHERE r.product_id IS NOT NULL;"""

_CHANGED = rollups._PG_CHANGED.format(tracked=rollups._cols(rollups.TRACKED), this="{this}", other="{other}")

PG_MARK = f"""
CREATE OR REPLACE FUNCTION rollups_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK.format(rows="new_rows", sign=1)}
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK.format(rows="old_rows", sign=-1)}
    ELSE
        {_MARK.format(rows=_CHANGED.format(this="new_rows", other="old_rows"), sign=1)}
        {_MARK.format(rows=_CHANGED.format(this="old_rows", other="new_rows"), sign=-1)}
    END IF;
    INSERT INTO rollup_pending VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""

_DAY = ("product_id", "account", "livemode", "currency", "day_start")


def _held(cells: str, key: str, by: str) -> str:
    """Each cell (a day's customer, or payment) with its change in being counted: 1, 0 or -1."""
    return f"""
        SELECT {rollups._cols(_DAY, "c.")}, (n.held > 0)::int - (n.held - c.added > 0)::int AS counted
        FROM {cells} c, LATERAL (
            SELECT COUNT(*) AS held FROM purchases p
            WHERE p.account = c.account AND p.{key} = c.{key} AND {by} AND NOT p.refunded
              AND p.purchased_at >= c.day_start AND p.purchased_at < c.day_start + 86400
        ) n"""


_SAME = "p.product_id = c.product_id AND p.livemode = c.livemode AND p.currency = c.currency"

DAY_MOVES = f"""
    -- Days: move each touched day by this transaction's rows (see migration 0005_day_moves).
    WITH mine AS (
        SELECT * FROM rollup_dirty WHERE txid = tx AND NOT refunded
    ), buyers AS (
        SELECT {rollups._cols(_DAY)}, customer_key, SUM(sign) AS added FROM mine
        GROUP BY {rollups._cols(_DAY)}, customer_key
    ), payments AS (
        SELECT {rollups._cols(_DAY)}, payment_key, SUM(sign) AS added FROM mine
        GROUP BY {rollups._cols(_DAY)}, payment_key
    ), moves AS (
        SELECT {rollups._cols(_DAY)}, 0 AS purchases, counted AS customers, 0 AS quantity, 0 AS amount_total,
               0 AS amount_refunded
        FROM ({_held("buyers", "customer_key", _SAME)}) b
        UNION ALL
        SELECT {rollups._cols(_DAY)}, counted, 0, 0, 0, 0
        FROM ({_held("payments", "payment_key", _SAME)}) c
        UNION ALL
        SELECT {rollups._cols(_DAY)}, 0, 0, sign * quantity, sign * amount_total, sign * amount_refunded FROM mine
    ), days AS (
        SELECT {rollups._cols(_DAY)}, {", ".join(f"SUM({n}) AS {n}" for n in rollups.DAY_COLUMNS)}
        FROM moves GROUP BY {rollups._cols(_DAY)}
    )
    INSERT INTO product_daily_totals AS t ({rollups._cols(rollups.DAY_KEY)}, day_start, {rollups._cols(rollups.DAY_COLUMNS)})
    SELECT product_id, account, livemode, {rollups._DAY_OF_START}, currency, day_start, {rollups._cols(rollups.DAY_COLUMNS)}
    FROM days
    WHERE ({rollups._cols(rollups.DAY_COLUMNS)}) <> (0, 0, 0, 0, 0)
    ON CONFLICT ({rollups._cols(rollups.DAY_KEY)}) DO UPDATE SET
        {", ".join(f"{n} = t.{n} + excluded.{n}" for n in rollups.DAY_COLUMNS)};

    DELETE FROM product_daily_totals t
    USING (SELECT DISTINCT {rollups._cols(_DAY)} FROM rollup_dirty WHERE txid = tx) k
    WHERE t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode
      AND t.day = {rollups.DAY["postgresql"].format(start="k.day_start")} AND t.currency = k.currency
      AND t.purchases = 0;

"""

_DAYS_BEGIN = "    -- Days: recompute each touched day."
_DAYS_END = "    DELETE FROM rollup_dirty WHERE txid = tx;"


def _settle() -> str:
    """0004's settle with its day section replaced: customers and products are settled as before."""
    old = rollups.PG_SETTLE
    start, end = old.index(_DAYS_BEGIN), old.index(_DAYS_END)
    return (old[:start] + DAY_MOVES.lstrip("\n") + old[end:]).replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
    )


PG_SETTLE = _settle()


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE rollup_dirty {', '.join(f'ADD COLUMN {n} {t}' for n, t in ADDED)}")
    op.execute(PG_MARK)
    op.execute(PG_SETTLE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(rollups.PG_MARK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(rollups.PG_SETTLE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(f"ALTER TABLE rollup_dirty {', '.join(f'DROP COLUMN {n}' for n, _ in ADDED)}")
