"""The query API and the README's SQL over 1,000,000 purchase rows on PostgreSQL.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/query_api.py
       [--rows 1000000] [--products 10000] [--big 200000] [--samples 300] [--reuse] [--skip PARTS]
       [--database bench_query] [--connections 8] [--duration 5] [--rounds 3] [--workers 3]
       [--worker-class sync|gthread] [--threads N]

Builds a database ``--database`` (``bench_query``) beside the given one (``--reuse`` keeps a loaded one): the
schema by ``indexer migrate``, then the rows in one server-side ``INSERT ... SELECT`` over
``generate_series`` (skewed: one product, ``prod_big``, has ``--big`` buyers; the other rows
spread over the other products and a pool of 300,000 buyers, two in seven of them guests; every
tenth payment in eur, every fiftieth fully refunded; ``cus_`` ids random, as Stripe's are, so
that their order says nothing of time). Then it prints:

1. p50/p99 latency of the first, a middle and the last page of
   ``/v1/products/prod_big/customers`` (and of a typical product), also with
   ``include_refunded`` and with ``created`` windows of a week, a day and an hour (the first and
   a middle page of each) and the windows a page of 100 costs most in, either side of the line
   between reading a window whole and walking customers (``queries.WINDOW_CAP``),
   sequential requests over HTTP to gunicorn;
2. p50/p99 of every SQL example in README "Querying with SQL", on a typical product and on
   ``prod_big``, and of the query the README mentions without an example (every buyer of
   ``prod_big`` at once);
3. requests/s of the middle page under ``wrk`` (a separate process) against gunicorn, beside a
   minimal Flask endpoint (``minimal_app`` below: one indexed 10-row SELECT) in the same run,
   same gunicorn options, alternating rounds after a warm-up (``bench/http_load.py``);
4. wall time and peak RSS of ``indexer customers prod_big --format csv`` (200,000 buyers), beside
   the same export of a typical product: flat memory means the two peaks are alike;
5. the product summary (the ``product_totals`` rollup): p50/p99 of ``product_summary``'s rows of
   ``prod_big`` in SQL and of ``queries.product_overview`` (p99 target < 10 ms), and the wall
   time of the whole ``indexer products --format csv`` command over every product, beside the
   command's start-up alone (``indexer --help``) and the import times (``python -X importtime``)
   of ``indexer.cli`` and of the command's module with what it needs (SQLAlchemy): what the
   command costs besides its query.

``bench/dashboard_pages.py`` builds its database with ``prepare`` here.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_load  # noqa: E402
from indexer.answers import queries  # noqa: E402

TOKEN = "bench-token-" + "0" * 32
T0 = 1_700_000_000
PORT_OURS = 18201

LOAD_PURCHASES = """
INSERT INTO purchases (
    account, livemode, source_type, source_id, line_item_id, payment_key, product_id, price_id,
    customer_id, customer_key, email, name, description, quantity, currency, amount_subtotal,
    amount_total, amount_refunded, refunded, disputed, purchased_at, payment_intent, invoice,
    subscription, payment_link, checkout_session, updated_at)
SELECT '', false, 'checkout.session', 'cs_' || i, 'li_' || i, 'pi_' || i, product,
       'price_' || product, CASE WHEN guest THEN NULL ELSE buyer_key END, buyer_key,
       'buyer' || buyer || '@example.com', 'Buyer ' || buyer, 'Item', 1 + (i % 3),
       CASE WHEN i % 10 = 0 THEN 'eur' ELSE 'usd' END, 1000 + (i % 5000), 1000 + (i % 5000),
       CASE WHEN i % 50 = 0 THEN 1000 + (i % 5000) ELSE 0 END, i % 50 = 0, false,
       :t0 + i * 30, 'pi_' || i, NULL, NULL, NULL, 'cs_' || i, :t0
FROM (
    SELECT i, product, buyer, buyer % 7 < 2 AS guest,
           CASE WHEN buyer % 7 < 2 THEN 'guest_' || substr(md5(buyer::text), 1, 24)
                ELSE 'cus_' || substr(md5('cus' || buyer), 1, 14) END AS buyer_key
    FROM (
        SELECT i,
               CASE WHEN i <= :big THEN 'prod_big'
                    ELSE 'prod_' || lpad((1 + (i::bigint * 7) % (:products - 1))::text, 5, '0') END AS product,
               CASE WHEN i <= :big THEN 1000000 + i ELSE (i::bigint * 7919) % 300000 END AS buyer
        FROM generate_series(1, :rows) AS i
    ) AS raw
) AS g
"""

LOAD_PRODUCTS = """
INSERT INTO products (account, id, livemode, name, active, deleted, updated)
SELECT '', 'prod_' || lpad(n::text, 5, '0'), false, 'Product ' || n, true, false, :t0
FROM generate_series(1, :products - 1) AS n
UNION ALL SELECT '', 'prod_big', false, 'The big one', true, false, :t0
"""


# --- the yardstick ---------------------------------------------------------------------------


def _minimal() -> Any:
    """A minimal Flask endpoint: one indexed 10-row SELECT, JSON out, no auth, no checks."""
    from flask import Flask, jsonify
    from sqlalchemy import create_engine, text

    app = Flask("minimal")
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=2)
    query = text(
        "SELECT customer_key, email, amount_total FROM purchases WHERE product_id = :p "
        "AND customer_key > :after ORDER BY product_id, customer_key LIMIT 10"
    )

    @app.get("/minimal/<product>")
    def minimal(product: str) -> Any:
        from flask import request

        with engine.connect() as conn:
            rows = conn.execute(query, {"p": product, "after": request.args.get("after", "")}).all()
        return jsonify([dict(r._mapping) for r in rows])

    return app


def __getattr__(name: str) -> Any:  # gunicorn bench.query_api:minimal_app, built only there
    if name == "minimal_app":
        return _minimal()
    raise AttributeError(name)


# --- setup -----------------------------------------------------------------------------------


def sa_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql+psycopg://", url)


def prepare(admin_url: str, args: argparse.Namespace, database: str = "bench_query",
            more: Callable[[Any, dict[str, Any]], str] | None = None) -> str:
    """The URL of ``database`` beside ``admin_url``, migrated and loaded with ``--rows`` purchases
    and ``--products`` products (kept as it is with ``--reuse`` when it exists). ``more(conn,
    params)`` loads more in the same transaction and says what, for the line printed."""
    from sqlalchemy import create_engine, text

    admin = create_engine(sa_url(admin_url), isolation_level="AUTOCOMMIT")
    url = sa_url(admin_url).rsplit("/", 1)[0] + "/" + database
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first()
        if not (exists and args.reuse):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    subprocess.run([str(ROOT / ".venv/bin/indexer"), "migrate"], env={**os.environ, "DATABASE_URL": url},
                   check=True, capture_output=True)
    if exists and args.reuse:
        return url
    engine = create_engine(url)
    started = time.perf_counter()
    extra = ""
    with engine.begin() as conn:
        params = {"t0": T0, "big": args.big, "products": args.products, "rows": args.rows}
        conn.execute(text(LOAD_PURCHASES), params)
        conn.execute(text(LOAD_PRODUCTS), params)
        if more is not None:
            extra = " and " + more(conn, params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"loaded {args.rows:,} purchase rows ({args.products:,} products, prod_big with {args.big:,} buyers)"
          f"{extra} in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return url


def cursors(url: str) -> dict[str, Any]:
    """Cursors for the middle and last pages (found with OFFSET here, in setup only)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text(
            "SELECT count(DISTINCT customer_key) FROM purchases WHERE product_id = 'prod_big' AND NOT refunded"
        )).scalar_one()

        def at(n: int) -> str:
            return conn.execute(text(
                "SELECT DISTINCT customer_key FROM purchases WHERE product_id = 'prod_big' AND NOT refunded "
                "ORDER BY customer_key OFFSET :n LIMIT 1"), {"n": n}).scalar_one()

        typical = conn.execute(text(
            "SELECT product_id FROM purchases WHERE product_id <> 'prod_big' GROUP BY product_id "
            "ORDER BY count(*) DESC, product_id LIMIT 1 OFFSET 5000"
        )).scalar_one()
        middle, last, end = at(count // 2), at(count - 11), at(count - 1)
        newest = conn.execute(text("SELECT max(purchased_at) FROM purchases WHERE product_id = 'prod_big'")).scalar_one()
        windows = {}
        # The worst windows for a page of 100 are at the line between the two ways of reading a
        # window (queries.WINDOW_CAP): just wide enough to be walked, just narrow enough to be
        # read whole. A row every 30 s, so a window of 30 * n seconds holds about n rows.
        line = int(queries.WINDOW_CAP * math.sqrt(101))
        for name, since, until in (("week", newest - 7 * 86_400, newest + 1),
                                   ("day", newest - 35 * 86_400, newest - 34 * 86_400),
                                   ("hour", newest - 35 * 86_400, newest - 35 * 86_400 + 3_600),
                                   ("line", newest - 30 * (line + 2), newest + 1),
                                   ("below line", newest - 30 * (line - 3), newest + 1)):
            buyers = conn.execute(text(
                "SELECT count(DISTINCT customer_key) FROM purchases WHERE product_id = 'prod_big' AND NOT refunded "
                "AND purchased_at >= :since AND purchased_at < :until"), {"since": since, "until": until}).scalar_one()
            mid = conn.execute(text(
                "SELECT DISTINCT customer_key FROM purchases WHERE product_id = 'prod_big' AND NOT refunded "
                "AND purchased_at >= :since AND purchased_at < :until ORDER BY customer_key OFFSET :n LIMIT 1"),
                {"since": since, "until": until, "n": buyers // 2}).scalar_one()
            windows[name] = f"created[gte]={since}&created[lt]={until}", mid, buyers
        guest_email = conn.execute(text(
            "SELECT email FROM purchases WHERE product_id = :p AND customer_id IS NULL LIMIT 1"), {"p": typical}
        ).scalar_one()
        customer = conn.execute(text(
            "SELECT customer_key FROM purchases WHERE product_id = :p AND customer_id IS NOT NULL LIMIT 1"),
            {"p": typical}).scalar_one()
    engine.dispose()
    return {"middle": middle, "last": last, "end": end, "typical": typical, "email": guest_email, "customer": customer,
            "count": count, "windows": windows}


# --- measurements ----------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def http_latency(port: int, path: str, samples: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for i in range(samples + 20):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        if i >= 20:
            times.append(elapsed)
            size = len(body)
    p50, p99 = percentiles(times)
    return p50, p99, size


def readme_examples() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Querying with SQL", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def sql_latency(url: str, sql: str, samples: int) -> tuple[float, float, int]:
    import psycopg

    times = []
    rows = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for i in range(samples + 10):
            started = time.perf_counter()
            rows = len(conn.execute(sql).fetchall())
            if i >= 10:
                times.append((time.perf_counter() - started) * 1000)
    p50, p99 = percentiles(times)
    return p50, p99, rows


def export(url: str, product: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and lines of one ``indexer customers --format csv`` process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-c",
         "import resource, sys\n"
         "from indexer.cli import main\n"
         "code = main(sys.argv[1:])\n"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
         "sys.exit(code)\n",
         "customers", product, "--format", "csv"],
        env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    lines = 0
    assert proc.stdout is not None
    for _ in proc.stdout:
        lines += 1
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"export failed: {err}")
    peak_kib = int(err.strip().splitlines()[-1])
    return time.perf_counter() - started, peak_kib / 1024, lines - 1


def overview_latency(url: str, product: str, samples: int) -> tuple[float, float]:
    """p50/p99 (ms) of ``queries.product_overview`` (what the API and dashboard read) in one session."""
    from indexer import db

    engine = db.make_engine(url, reads=True)
    times = []
    with engine.connect() as conn:
        for i in range(samples + 10):
            started = time.perf_counter()
            queries.product_overview(conn, product, "", False)
            if i >= 10:
                times.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return percentiles(times)


def command_seconds(url: str, args: list[str], runs: int = 5) -> tuple[float, int]:
    """The median wall time of ``indexer ARGS`` as a whole process, and its output lines."""
    times, lines = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([str(ROOT / ".venv/bin/indexer"), *args], env={**os.environ, "DATABASE_URL": url},
                              check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        lines = done.stdout.count("\n")
    return statistics.median(times), lines


def import_seconds(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter (``-X importtime``), seconds."""
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "-X", "importtime", "-c", f"import {module}"],
                          check=True, capture_output=True, text=True)
    last = [line for line in done.stderr.splitlines() if line.rstrip().endswith(f"| {module}")][-1]
    return int(last.split("|")[1]) / 1e6


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=300)
    http_load.add_load_arguments(parser, connections=8, workers=3)
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded bench_query database")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: pages,sql,wrk,export,summary")
    parser.add_argument("--database", default="bench_query", help="the database to build beside the given one")
    parser.add_argument("--port", type=int, default=PORT_OURS, help="gunicorn's port (the minimal app's is the next)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    ours, minimal = args.port, args.port + 1
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (a database bench_query is created beside it)")

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures scale with it)")
    url = prepare(admin, args, args.database)
    c = cursors(url)
    big = "/v1/products/prod_big/customers"
    q = urllib.parse.quote
    pages = {
        "prod_big first page": big,
        "prod_big middle page": f"{big}?starting_after={q(c['middle'])}",
        "prod_big last page": f"{big}?starting_after={q(c['last'])}",
        "prod_big last page (ending_before)": f"{big}?ending_before={q(c['end'])}",
        "prod_big middle, limit=100": f"{big}?limit=100&starting_after={q(c['middle'])}",
        "prod_big middle, include_refunded": f"{big}?include_refunded=true&starting_after={q(c['middle'])}",
        **{
            f"prod_big {window} ({buyers:,} buyers) {where}": f"{big}?{created}{after}"
            for window, (created, middle, buyers) in c["windows"].items()
            for where, after in (("first", ""), ("middle", f"&starting_after={q(middle)}"))
            if "line" not in window
        },
        "prod_big line, limit=100, middle": f"{big}?limit=100&{c['windows']['line'][0]}"
                                            f"&starting_after={q(c['windows']['line'][1])}",
        "prod_big below line, limit=100, middle": f"{big}?limit=100&{c['windows']['below line'][0]}"
                                                  f"&starting_after={q(c['windows']['below line'][1])}",
        f"{c['typical']} first page": f"/v1/products/{c['typical']}/customers",
        f"{c['typical']} purchases": f"/v1/products/{c['typical']}/purchases",
        "customer by email": f"/v1/customers/{q(c['email'])}/products",
    }
    print(f"prod_big: {c['count']:,} customers; typical product {c['typical']}")
    env = {"DATABASE_URL": url, "INDEXER_API_TOKENS": TOKEN}

    if "pages" not in skip:
        with http_load.gunicorn("indexer.wsgi:app", ours, env, args):
            print(f"\n1. sequential HTTP requests to gunicorn, {args.samples} each (p99 target < 10 ms)")
            for name, path in pages.items():
                p50, p99, size = http_latency(ours, path, args.samples)
                print(f"   {name:<38} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({size:,} bytes)")

    if "sql" not in skip:
        print(f"\n2. README 'Querying with SQL' examples, psycopg, {args.samples} runs each (p99 target < 10 ms)")
        for n, example in enumerate(readme_examples(), 1):
            first_line = " ".join(example.split())[:70]
            for label, product in (("typical", c["typical"]), ("prod_big", "prod_big")):
                sql = (example.replace("prod_...", product).replace("cus_...", c["customer"])
                       .replace("buyer@example.com", c["email"]))
                if label == "prod_big" and "prod_..." not in example:
                    continue
                p50, p99, rows = sql_latency(url, sql, args.samples if label == "typical" else max(20, args.samples // 15))
                print(f"   #{n} {label:<8} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  rows {rows:>7,}  {first_line}")
        everyone = "SELECT email, name FROM product_customers WHERE product_id = 'prod_big'"
        p50, p99, rows = sql_latency(url, everyone, max(20, args.samples // 15))
        print(f"   every buyer at once (README prose, grows with the answer): p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
              f"rows {rows:,}  {everyone}")

    if "wrk" not in skip:
        print(f"\n3. middle page of prod_big under load: {http_load.describe(args)}")
        auth = (f"Authorization: Bearer {TOKEN}",)
        with http_load.gunicorn("indexer.wsgi:app", ours, env, args), \
                http_load.gunicorn("bench.query_api:minimal_app", minimal, env, args, "/minimal/none"):
            rounds = http_load.alternate({
                "minimal": lambda _: http_load.wrk(minimal, f"/minimal/prod_big?after={q(c['middle'])}", args),
                "indexer": lambda _: http_load.wrk(ours, pages["prod_big middle page"], args, headers=auth),
            }, args.rounds)
        results = {name: http_load.summarize(runs) for name, runs in rounds.items()}
        for name, summary in results.items():
            print(f"   {summary.line(name, 'req/s')}")
        ratio = results["indexer"].rps / results["minimal"].rps
        print(f"   indexer / minimal = {ratio:.0%} (targets: >= 1,500 req/s and >= 50%)")

    if "export" not in skip:
        print("\n4. indexer customers PRODUCT --format csv (streamed; peak RSS of the process)")
        for product in (c["typical"], "prod_big"):
            seconds, peak, lines = export(url, product)
            print(f"   {product:<10} {lines:>8,} lines  {seconds:6.2f} s  peak RSS {peak:6.1f} MiB")

    if "summary" not in skip:
        print(f"\n5. the product summary of prod_big ({c['count']:,} customers; p99 target < 10 ms)")
        summary = "SELECT * FROM product_summary WHERE product_id = 'prod_big'"
        p50, p99, rows = sql_latency(url, summary, args.samples)
        print(f"   SQL, {args.samples} runs      p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  rows {rows}  {summary}")
        p50, p99 = overview_latency(url, "prod_big", args.samples)
        print(f"   queries.product_overview  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        seconds, lines = command_seconds(url, ["products", "--format", "csv"])
        startup, _ = command_seconds(url, ["--help"])
        print(f"   indexer products --format csv: {seconds:.2f} s for {lines - 1:,} lines (median of 5 runs); "
              f"indexer --help alone {startup:.2f} s; import indexer.cli {import_seconds('indexer.cli'):.2f} s, "
              f"indexer.commands.answers (the command, SQLAlchemy) {import_seconds('indexer.commands.answers'):.2f} s")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
