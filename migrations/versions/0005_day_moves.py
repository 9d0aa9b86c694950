"""Rollups: a day's totals move by what a transaction changed, not summed again.

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
what the transaction wrote, whatever the day's size. A transaction that wrote more than a tenth
of what its days held (a bulk load) still sums them again, which is cheaper then: a lookup per
row made loading a million rows in one statement take over nine minutes instead of one.

SQLite's row triggers (one writer) did the same per row, so one statement writing 20,000 sales
of a day took three minutes; they now move the day by the row: its sums, and a customer (a
payment) arriving in the day when the row is its first there, leaving when it was its last.

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
_TOUCHED_DAYS = f"SELECT DISTINCT {rollups._cols(_DAY)} FROM rollup_dirty WHERE txid = tx"


#: A ``product_daily_totals`` row ``t`` of a touched day ``k``.
_TOUCHED_DAY_ROW = (
    "t.product_id = k.product_id AND t.account = k.account AND t.livemode = k.livemode "
    f"AND t.day = {rollups.DAY['postgresql'].format(start='k.day_start')} AND t.currency = k.currency"
)


def _cell_changes(cells: str, key: str) -> str:
    """Each cell (a day's customer, or payment) with its change in being counted: 1, 0 or -1."""
    return f"""
        SELECT {rollups._cols(_DAY, "c.")}, (n.held > 0)::int - (n.held - c.added > 0)::int AS counted
        FROM {cells} c, LATERAL (
            SELECT COUNT(*) AS held FROM purchases p
            WHERE p.account = c.account AND p.{key} = c.{key} AND p.product_id = c.product_id
              AND p.livemode = c.livemode AND p.currency = c.currency AND NOT p.refunded
              AND p.purchased_at >= c.day_start AND p.purchased_at < c.day_start + 86400
        ) n"""


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
        FROM ({_cell_changes("buyers", "customer_key")}) b
        UNION ALL
        SELECT {rollups._cols(_DAY)}, counted, 0, 0, 0, 0
        FROM ({_cell_changes("payments", "payment_key")}) c
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

    DELETE FROM product_daily_totals t USING ({_TOUCHED_DAYS}) k
    WHERE {_TOUCHED_DAY_ROW} AND t.purchases = 0;

"""

_DAYS_BEGIN = "    -- Days: recompute each touched day."
_DAYS_END = "    DELETE FROM rollup_dirty WHERE txid = tx;"

#: A transaction that wrote more rows than a tenth of what its days held (a bulk load, a first
#: backfill page) has its days summed again, as 0004 did: cheaper then than a lookup per row.
#: The setting ``indexer.day_sums_factor`` (10 when unset) moves that line; tests set it to 0 (always
#: move) and to a billion (always sum) to check both ways.
BULK = f"""
    IF COALESCE(NULLIF(current_setting('indexer.day_sums_factor', true), ''), '10')::numeric
       * (SELECT COUNT(*) FROM rollup_dirty WHERE txid = tx) > (
        SELECT COALESCE(SUM(t.purchases), 0) FROM product_daily_totals t JOIN ({_TOUCHED_DAYS}) k
        ON {_TOUCHED_DAY_ROW}
    ) THEN
"""


def _settle() -> str:
    """0004's settle with its day section chosen between 0004's sums and the moves: customers and
    products are settled as before."""
    old = rollups.PG_SETTLE
    start, end = old.index(_DAYS_BEGIN), old.index(_DAYS_END)
    return (
        old[:start] + BULK.lstrip("\n") + old[start:end] + "    ELSE\n" + DAY_MOVES.lstrip("\n") + "    END IF;\n\n"
        + old[end:]
    ).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


PG_SETTLE = _settle()

# --- SQLite: move the day by each row -----------------------------------------------------------

_START = "{r}.purchased_at - {r}.purchased_at % 86400"
_COUNTED = "{r}.product_id IS NOT NULL AND NOT {r}.refunded"
# A cell is read through its own index: SQLite prefers the index that matches the most terms,
# and (product_id, account, livemode, purchased_at) matches a payment's terms better than
# (account, payment_key) does, so the terms that must not choose the index are written with a
# unary + (SQLite's way to keep a term out of index selection).
_CELL = {
    "customers": "p.product_id = {r}.product_id AND p.account = {r}.account AND p.livemode = {r}.livemode "
                 "AND p.customer_key = {r}.customer_key",
    "purchases": "p.account = {r}.account AND p.payment_key = {r}.payment_key AND +p.product_id = {r}.product_id "
                 "AND +p.livemode = {r}.livemode",
}
_CELL_KEY = {"customers": "customer_key", "purchases": "payment_key"}


def _held(r: str, cell: str) -> str:
    """The rows the table now holds in ``r``'s cell: its customer's (payment's) rows of the day."""
    start = _START.format(r=r)
    return (f"(SELECT COUNT(*) FROM purchases p WHERE {_CELL[cell].format(r=r)} AND p.currency = {r}.currency "
            f"AND NOT p.refunded AND +p.purchased_at >= {start} AND +p.purchased_at < {start} + 86400)")


def _day_of(r: str) -> str:
    return rollups.DAY["sqlite"].format(start=_START.format(r=r))


def _arrive(r: str) -> str:
    """``r`` is in the table now: its day gains its sums, and a customer (a payment) whose only row there it is."""
    return f"""
    INSERT INTO product_daily_totals ({rollups._cols(rollups.DAY_KEY)}, day_start, {rollups._cols(rollups.DAY_COLUMNS)})
    SELECT {r}.product_id, {r}.account, {r}.livemode, {_day_of(r)}, {r}.currency, {_START.format(r=r)},
           {_held(r, "purchases")} = 1, {_held(r, "customers")} = 1, {r}.quantity, {r}.amount_total, {r}.amount_refunded
    WHERE {_COUNTED.format(r=r)}
    ON CONFLICT ({rollups._cols(rollups.DAY_KEY)}) DO UPDATE SET
        {", ".join(f"{n} = {n} + excluded.{n}" for n in rollups.DAY_COLUMNS)};"""


def _leave(r: str, stayed: dict[str, str]) -> str:
    """``r`` is gone: its day loses its sums, and a customer (a payment) left with no row there.
    ``stayed[cell]`` is 1 when the table's count of the cell includes a row that came in its
    place (the new side of an update) and must not be counted."""
    key = (f"product_id = {r}.product_id AND account = {r}.account AND livemode = {r}.livemode "
           f"AND day = {_day_of(r)} AND currency = {r}.currency")
    return f"""
    UPDATE product_daily_totals SET
        purchases = purchases - ({_held(r, "purchases")} - {stayed["purchases"]} = 0),
        customers = customers - ({_held(r, "customers")} - {stayed["customers"]} = 0),
        {", ".join(f"{n} = {n} - {r}.{n}" for n in ("quantity", "amount_total", "amount_refunded"))}
    WHERE {key} AND {_COUNTED.format(r=r)};
    DELETE FROM product_daily_totals WHERE {key} AND purchases = 0;"""


def _same_cell(cell: str) -> str:
    """1 when the new side of an update is counted in the old side's cell (customer or payment)."""
    same = " AND ".join(f"NEW.{n} = OLD.{n}" for n in ("product_id", "account", "livemode", "currency",
                                                      _CELL_KEY[cell]))
    return f"({_COUNTED.format(r='NEW')} AND {same} AND {_START.format(r='NEW')} = {_START.format(r='OLD')})"


_DAYS_SQLITE = "    DELETE FROM product_daily_totals"


def _customers_and_products(r: str) -> str:
    """0004's row recompute without its day: customers and products are kept as before."""
    text = rollups._sqlite_recompute(r)
    return text[: text.index(_DAYS_SQLITE)]


SQLITE_TRIGGERS = [
    "CREATE TRIGGER rollups_insert AFTER INSERT ON purchases BEGIN "
    f"{_customers_and_products('NEW')} {_arrive('NEW')} END",
    "CREATE TRIGGER rollups_delete AFTER DELETE ON purchases BEGIN "
    f"{_customers_and_products('OLD')} {_leave('OLD', {'customers': '0', 'purchases': '0'})} END",
    f"CREATE TRIGGER rollups_update AFTER UPDATE ON purchases WHEN {rollups._CHANGED} BEGIN "
    f"{_customers_and_products('OLD')} {_customers_and_products('NEW')} "
    f"{_leave('OLD', {cell: _same_cell(cell) for cell in _CELL})} {_arrive('NEW')} END",
]
_ROW_TRIGGERS = ("rollups_insert", "rollups_delete", "rollups_update")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in _ROW_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        return
    op.execute(f"ALTER TABLE rollup_dirty {', '.join(f'ADD COLUMN {n} {t}' for n, t in ADDED)}")
    op.execute(PG_MARK)
    op.execute(PG_SETTLE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in _ROW_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
        for trigger in rollups.SQLITE_TRIGGERS[: len(_ROW_TRIGGERS)]:
            op.execute(trigger)
        return
    op.execute(rollups.PG_MARK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(rollups.PG_SETTLE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(f"ALTER TABLE rollup_dirty {', '.join(f'DROP COLUMN {n}' for n, _ in ADDED)}")
