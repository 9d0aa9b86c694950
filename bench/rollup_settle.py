"""What one more sale costs to commit on a product that already sold a lot that day.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/rollup_settle.py
       [--day-sales 50000] [--commits 300] [--revision head]

Builds a database ``bench_settle`` beside the given one at ``--revision`` (``0004_rollups`` for
the settle that recomputed a touched day), writes ``--day-sales`` purchases of ``prod_hot`` in one
UTC day and 100 of ``prod_quiet``, then times single-purchase transactions (insert and commit,
the rollup triggers settling at commit) on each product, alternating. A settle that costs what
the transaction wrote shows the same figures for both. Checks ``product_sales_daily`` against the
aggregate over ``purchases`` at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from indexer import db  # noqa: E402

DAY = 1_706_000_000 - 1_706_000_000 % 86_400
COLUMNS = ("account, livemode, source_type, source_id, line_item_id, payment_key, product_id, price_id, "
           "customer_id, customer_key, email, name, description, quantity, currency, amount_subtotal, "
           "amount_total, amount_refunded, refunded, disputed, purchased_at, updated_at")
BULK = f"""
INSERT INTO purchases ({COLUMNS})
SELECT '', false, 'checkout.session', 'cs_' || %(product)s || i, 'li_0', 'pi_' || %(product)s || i, %(product)s,
       'price_x', 'cus_' || i, 'cus_' || i, 'b' || i || '@example.com', 'B', 'Item', 1, 'usd', 1000, 1000, 0,
       false, false, %(day)s + i %% 86400, %(day)s
FROM generate_series(%(first)s::int, %(last)s::int) AS i
"""
ONE = f"""
INSERT INTO purchases ({COLUMNS})
VALUES ('', false, 'checkout.session', %(session)s, 'li_0', %(session)s, %(product)s, 'price_x', %(customer)s,
        %(customer)s, 'new@example.com', 'N', 'Item', 1, 'usd', 500, 500, 0, false, false, %(at)s, %(day)s)
"""
CHECK = """
SELECT (SELECT array_agg(array[purchases, customers, amount_total] ORDER BY product_id) FROM product_sales_daily),
       (SELECT array_agg(array[n, c, s] ORDER BY product_id) FROM (
            SELECT product_id, COUNT(DISTINCT payment_key) AS n, COUNT(DISTINCT customer_key) AS c,
                   SUM(amount_total) AS s
            FROM purchases WHERE NOT refunded GROUP BY product_id, purchased_at - purchased_at % 86400) a)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day-sales", type=int, default=50_000)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--revision", default="head")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (a database bench_settle is created beside it)")
    admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS bench_settle")
        admin.execute("CREATE DATABASE bench_settle")
    url = admin_url.rsplit("/", 1)[0] + "/bench_settle"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    revision = db.migrate(engine, args.revision)
    engine.dispose()

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        # A first thousand rows, then ANALYZE, as the backfill does (db.refresh_statistics): planned
        # from the statistics of empty tables, the settle of one big statement looks up each
        # customer by a prefix of the wrong index, reading the whole product for each.
        conn.execute(BULK, {"product": "prod_hot", "day": DAY, "first": 1, "last": min(1000, args.day_sales)})
        conn.execute(BULK, {"product": "prod_quiet", "day": DAY, "first": 1, "last": 100})
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
        conn.autocommit = False
        conn.execute(BULK, {"product": "prod_hot", "day": DAY, "first": 1001, "last": args.day_sales})
        conn.commit()
        print(f"revision {revision}: {args.day_sales:,} sales of prod_hot and 100 of prod_quiet on one day, "
              f"written in {time.perf_counter() - started:.1f} s")
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        conn.autocommit = False
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
        got, want = conn.execute(CHECK).fetchone() or (None, None)
        print(f"product_sales_daily equals the aggregate over purchases: {got == want}")
        if got != want:
            sys.exit(1)


if __name__ == "__main__":
    main()
