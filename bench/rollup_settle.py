"""What one more sale costs to commit on a product that already sold a lot that day.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/rollup_settle.py
       [--day-sales 50000] [--commits 300] [--revision head] [--sqlite] [--database bench_settle]

Builds a database ``--database`` (dropped first if it exists) beside the given one (with
``--sqlite``, a file in a temporary folder) at ``--revision`` (``0004_rollups`` for the settle that summed a touched day
again), writes ``--day-sales`` purchases of ``prod_hot`` in one UTC day and 100 of
``prod_quiet``, then times single-purchase transactions (insert and commit, the rollup triggers
settling) on each product, alternating. A settle that costs what the transaction wrote shows
the same figures for both. Checks ``product_sales_daily`` against the aggregate over
``purchases`` at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, create_engine, inspect, text  # noqa: E402

from indexer import db  # noqa: E402

DAY = 1_706_000_000 - 1_706_000_000 % 86_400
COLUMNS = ("account, livemode, source_type, source_id, line_item_id, payment_key, product_id, price_id, "
           "customer_id, customer_key, email, name, description, quantity, currency, amount_subtotal, "
           "amount_total, amount_refunded, refunded, disputed, purchased_at, updated_at")
BULK = text(f"""
WITH RECURSIVE n(i) AS (SELECT CAST(:first AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < :last)
INSERT INTO purchases ({COLUMNS})
SELECT '', false, 'checkout.session', 'cs_' || :product || i, 'li_0', 'pi_' || :product || i, :product,
       'price_x', 'cus_' || i, 'cus_' || i, 'b' || i || '@example.com', 'B', 'Item', 1, 'usd', 1000, 1000, 0,
       false, false, :day + i % 86400, :day
FROM n
""")
ONE = text(f"""
INSERT INTO purchases ({COLUMNS})
VALUES ('', false, 'checkout.session', :session, 'li_0', :session, :product, 'price_x', :customer,
        :customer, 'new@example.com', 'N', 'Item', 1, 'usd', 500, 500, 0, false, false, :at, :day)
""")
VIEW = text("SELECT product_id, purchases, customers, amount_total FROM product_sales_daily ORDER BY product_id")
AGGREGATE = text("""
SELECT product_id, COUNT(DISTINCT payment_key), COUNT(DISTINCT customer_key), SUM(amount_total)
FROM purchases WHERE NOT refunded GROUP BY product_id, purchased_at - purchased_at % 86400 ORDER BY product_id
""")


def _database_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise argparse.ArgumentTypeError(f"{name!r} is not a plain database name (a-z, 0-9, _)")
    return name


def database(args: argparse.Namespace) -> str:
    if args.sqlite:
        return f"sqlite:///{tempfile.mkdtemp(prefix='bench_settle_')}/index.db"
    admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        sys.exit(f"set BENCH_DATABASE_URL to a PostgreSQL URL (a database {args.database} is created beside "
                 "it), or pass --sqlite")
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{args.database}"'))
        conn.execute(text(f'CREATE DATABASE "{args.database}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + args.database


def load(conn: Connection, day_sales: int) -> None:
    """A first thousand rows, statistics, then the rest, as the backfill does
    (``db.GrowthStatistics``): planned from the statistics of empty tables, the settle of one
    big statement looks each customer up by a prefix of the wrong index."""
    conn.execute(BULK, {"product": "prod_hot", "day": DAY, "first": 1, "last": min(1000, day_sales)})
    conn.execute(BULK, {"product": "prod_quiet", "day": DAY, "first": 1, "last": 100})
    conn.commit()
    for table in db.WRITTEN_TABLES:
        if inspect(conn).has_table(table):  # --revision may predate it
            conn.exec_driver_sql(f"ANALYZE {table}")
    conn.commit()
    conn.execute(BULK, {"product": "prod_hot", "day": DAY, "first": 1001, "last": day_sales})
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day-sales", type=int, default=50_000)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--revision", default="head")
    parser.add_argument("--sqlite", action="store_true", help="an embedded SQLite file, not PostgreSQL")
    parser.add_argument("--database", default="bench_settle", type=_database_name,
                        help="the PostgreSQL database to build (dropped first if it exists)")
    args = parser.parse_args()
    engine = create_engine(database(args))
    revision = db.migrate(engine, args.revision)

    with engine.connect() as conn:
        started = time.perf_counter()
        load(conn, args.day_sales)
        print(f"{engine.dialect.name}, revision {revision}: {args.day_sales:,} sales of prod_hot and 100 of "
              f"prod_quiet on one day, written in {time.perf_counter() - started:.1f} s")
        times: dict[str, list[float]] = {"prod_hot": [], "prod_quiet": []}
        for i in range(args.commits * 2 + 20):
            product = "prod_hot" if i % 2 else "prod_quiet"
            params = {"session": f"cs_one_{i}", "product": product, "customer": f"cus_one_{i}",
                      "at": DAY + 43_200 + i, "day": DAY}
            started = time.perf_counter()
            conn.execute(ONE, params)
            conn.commit()
            if i >= 20:
                times[product].append((time.perf_counter() - started) * 1000)
        print(f"one purchase, insert and commit, {args.commits} each:")
        for product, samples in times.items():
            ordered = sorted(samples)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            print(f"   {product:<11} p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms")
        same = [tuple(r) for r in conn.execute(VIEW)] == [tuple(r) for r in conn.execute(AGGREGATE)]
        print(f"product_sales_daily equals the aggregate over purchases: {same}")
    engine.dispose()
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
