"""The dashboard's pages over the 1,000,000-row index of ``bench/query_api.py``, on PostgreSQL.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboard_pages.py
       [--database bench_dashboard] [--port 18211] [--reuse] [--samples 200] [--rows 1000000]
       [--products 10000] [--big 200000] [--events 200000] [--worker-class sync] [--threads 1]

Builds a database ``--database`` beside the given one (``--reuse`` keeps a loaded one) with
the same rows as ``bench/query_api.py`` (built by its ``prepare``: one product, ``prod_big``, with
``--big`` buyers; the rest spread over ``--products`` products) plus ``--events`` stored webhook
events (1% failed with an error, 0.5% pending, 4% skipped, the rest done). Then it serves the
app under gunicorn (one worker, ``--worker-class`` sync by default; ``indexer.web.asgi.Worker``
with ``--threads 4`` is the ``Procfile``'s; requests are sent one at a time), signs in once over HTTP as a
browser does, and prints p50/p99 latency (ms) of each page with 100 rows where it lists rows:
the products list (first page, sorted by name from the middle, by revenue, by customers, by id
backwards, a search, a search sorted by purchases), the product page of ``prod_big`` (first,
middle and last pages, a week's range with refunded purchases, a year's range; each draws the
chart of its range) and of a typical product, a customer looked up by
email, and the events page; beside them, in the same server, two yardsticks that move with the
machine's load as the pages do: the sign-in page (no database), the query API's page of 100
customers of ``prod_big`` and its ``/v1/products`` page that holds ``prod_big`` (which counts
``prod_big``'s buyers across its two currencies, as the dashboard's products and product pages do). Last, the wall time of the CSV download of a typical product and of
``prod_big`` (every buyer, streamed). The target is p99 < 50 ms per page.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_load, query_api  # noqa: E402

TOKEN = "bench-dashboard-" + "0" * 32
SECRET_KEY = "bench-dashboard-secret-" + "1" * 32

LOAD_EVENTS = """
INSERT INTO stripe_events (id, type, api_version, created, livemode, account, object_id, payload, source,
                           status, attempts, last_error, available_at, received_at, processed_at)
SELECT 'evt_bench_' || i, 'checkout.session.completed', '2025-03-31.basil', :t0 + i * 10, false, '',
       'cs_' || i, '{}', 'webhook',
       CASE WHEN i % 100 = 0 THEN 'failed' WHEN i % 200 = 1 THEN 'pending' WHEN i % 25 = 2 THEN 'skipped'
            ELSE 'done' END,
       CASE WHEN i % 100 = 0 THEN 8 ELSE 1 END,
       CASE WHEN i % 100 = 0 THEN 'StripeUnavailable: Stripe answered 503 for GET /v1/checkout/sessions/cs_' || i END,
       0, extract(epoch from now())::bigint - (:events - i), extract(epoch from now())::bigint - (:events - i)
FROM generate_series(1, :events) AS i
"""


def load_events(conn: Any, params: dict[str, Any]) -> str:
    """``--events`` stored webhook events, in the loading transaction of ``query_api.prepare``."""
    from sqlalchemy import text

    conn.execute(text(LOAD_EVENTS), params)
    return f"{params['events']:,} events"


def prepare(admin_url: str, args: argparse.Namespace) -> str:
    """``--database``: the rows of ``bench/query_api.py`` (its ``prepare``) and the events."""
    return query_api.prepare(admin_url, args, args.database,
                             lambda conn, params: load_events(conn, {**params, "events": args.events}))


def positions(url: str) -> dict[str, Any]:
    """Cursors and names for the pages to time (found with OFFSET here, in setup only)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        def one(sql: str, **params: Any) -> Any:
            return conn.execute(text(sql), params).scalar_one()

        buyers = one("SELECT count(DISTINCT customer_key) FROM purchases WHERE product_id = 'prod_big' AND NOT refunded")
        middle = one("SELECT DISTINCT customer_key FROM purchases WHERE product_id = 'prod_big' AND NOT refunded "
                     "ORDER BY customer_key OFFSET :n LIMIT 1", n=buyers // 2)
        end = one("SELECT max(customer_key) FROM purchases WHERE product_id = 'prod_big' AND NOT refunded")
        typical = one("SELECT product_id FROM product_totals WHERE product_id <> 'prod_big' "
                      "ORDER BY customers DESC, product_id LIMIT 1 OFFSET 5000")
        by_name = one("SELECT id FROM products ORDER BY lower(name), id OFFSET 5000 LIMIT 1")
        email = one("SELECT email FROM purchases WHERE product_id = :p AND customer_id IS NULL LIMIT 1", p=typical)
        newest = one("SELECT max(purchased_at) FROM purchases WHERE product_id = 'prod_big'")
        before_big = one("SELECT product_id FROM product_totals WHERE product_id < 'prod_big' "
                         "ORDER BY product_id DESC OFFSET 50 LIMIT 1")
    engine.dispose()
    week = (time.strftime("%Y-%m-%d", time.gmtime(newest - 6 * 86_400)), time.strftime("%Y-%m-%d", time.gmtime(newest)))
    year = (time.strftime("%Y-%m-%d", time.gmtime(newest - 364 * 86_400)), week[1])
    return {"buyers": buyers, "middle": middle, "end": end, "typical": typical, "by_name": by_name, "email": email,
            "week": week, "year": year, "before_big": before_big}


def sign_in(port: int) -> str:
    """The session cookie, got as a browser gets it: the form's CSRF token, then the POST."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/dashboard/sign-in")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"token": TOKEN, "csrf_token": csrf, "next": "/dashboard/"})
    conn.request("POST", "/dashboard/sign-in", body=body,
                 headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in answered {response.status}")
    conn.close()
    return response.getheader("Set-Cookie", "").split(";", 1)[0]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(port: int, path: str, headers: dict[str, str], samples: int, warmup: int = 10) -> tuple[float, float, int]:
    times, size = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(samples + warmup):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
        if i >= warmup:
            times.append(elapsed)
            size = len(body)
    conn.close()
    p50, p99 = percentiles(times)
    return p50, p99, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--database", default="bench_dashboard", help="the database to build beside the given one")
    parser.add_argument("--port", type=int, default=18211, help="the port gunicorn serves the app on")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded --database")
    parser.add_argument("--worker-class", default="sync",
                        help="gunicorn worker class (the Procfile's: indexer.web.asgi.Worker)")
    parser.add_argument("--threads", type=int, default=1, help="threads of that worker")
    args = parser.parse_args()
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (the --database is created beside it)")

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures scale with it)")
    url = prepare(admin, args)
    c = positions(url)
    q = urllib.parse.quote
    big = "/dashboard/products/prod_big"
    since, until = c["week"]
    pages = {
        "products, first page (last sale)": "/dashboard/?limit=100",
        "products by name, middle page": f"/dashboard/?limit=100&sort=name&order=asc&starting_after={c['by_name']}",
        "products by revenue (usd)": "/dashboard/?limit=100&sort=revenue:usd&order=desc",
        "products by customers": "/dashboard/?limit=100&sort=customers&order=desc",
        "products by id, backwards": f"/dashboard/?limit=100&sort=product_id&order=asc&ending_before={c['typical']}",
        "products search 'Product 12'": "/dashboard/?limit=100&q=Product+12",
        "products search, by purchases": "/dashboard/?limit=100&q=Product+12&sort=purchases&order=desc",
        "prod_big first page": f"{big}?limit=100",
        "prod_big middle page": f"{big}?limit=100&starting_after={q(c['middle'])}",
        "prod_big last page (ending_before)": f"{big}?limit=100&ending_before={q(c['end'])}",
        "prod_big a week, include refunded": f"{big}?limit=100&since={since}&until={until}&include_refunded=1",
        "prod_big its year (chart per week)": f"{big}?limit=100&since={c['year'][0]}&until={c['year'][1]}",
        f"{c['typical']} first page": f"/dashboard/products/{c['typical']}?limit=100",
        "customer by email": f"/dashboard/customers?q={q(c['email'])}",
        f"events ({args.events:,} stored)": "/dashboard/events",
    }
    print(f"prod_big: {c['buyers']:,} customers; typical product {c['typical']}")
    env = {"DATABASE_URL": url, "INDEXER_DASHBOARD_TOKENS": TOKEN, "INDEXER_API_TOKENS": TOKEN,
           "INDEXER_SECRET_KEY": SECRET_KEY}
    options = argparse.Namespace(workers=1, worker_class=args.worker_class, threads=args.threads)
    with http_load.gunicorn("indexer.wsgi:app", args.port, env, options):
        cookie = sign_in(args.port)
        print(f"\n1. sequential requests to gunicorn (1 {args.worker_class} worker, {args.threads} threads), "
              f"{args.samples} each, signed in (p99 target < 50 ms)")
        for name, path in pages.items():
            p50, p99, size = timed(args.port, path, {"Cookie": cookie}, args.samples)
            print(f"   {name:<36} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({size:,} bytes)")
        yardsticks = {
            "sign-in page (no session)": ("/dashboard/sign-in", {}),
            "API: prod_big middle, limit=100": (f"/v1/products/prod_big/customers?limit=100&starting_after={q(c['middle'])}",
                                                {"Authorization": f"Bearer {TOKEN}"}),
            "API: /v1/products, page of prod_big": (f"/v1/products?limit=100&starting_after={c['before_big']}",
                                                    {"Authorization": f"Bearer {TOKEN}"}),
        }
        print("   yardsticks, in the same server (they move with the machine's load as the pages do):")
        for name, (path, headers) in yardsticks.items():
            p50, p99, size = timed(args.port, path, headers, args.samples)
            print(f"   {name:<36} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({size:,} bytes)")
        print("\n2. Download CSV (every buyer, streamed)")
        for product in (c["typical"], "prod_big"):
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", args.port)
            conn.request("GET", f"/dashboard/products/{product}/customers.csv", headers={"Cookie": cookie})
            response = conn.getresponse()
            lines = response.read().count(b"\n") - 1
            conn.close()
            print(f"   {product:<12} {lines:>8,} lines  {time.perf_counter() - started:6.2f} s")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
