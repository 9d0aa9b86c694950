"""What a ``/metrics`` scrape costs the database as the event store grows, and the counts it avoids.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/metrics_scrape.py
       [--events 1000000] [--backlogs 0,10000,100000] [--scrapes 50]

Builds a database ``bench_metrics`` beside the given one, stores ``--events`` applied events
(``done``, about 1 KB of payload each), then for each backlog size adds that many ``pending``
events and times, ``--scrapes`` times each after a warm-up:

* ``GET /metrics`` through the app (the event store's pending and failed rows, the counters);
* the queries the counters table spares: events per status over the whole table, and the
  newest ``received_at``.

Prints p50 and p99 in milliseconds per backlog.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from indexer import create_app, db  # noqa: E402
from indexer.config import Settings, normalize_database_url  # noqa: E402

FILL = text("""
INSERT INTO stripe_events (id, type, api_version, created, livemode, account, object_id, payload, source,
                           status, attempts, available_at, received_at, processed_at)
SELECT :prefix || i, 'checkout.session.completed', '2026-10-28.endive', :now - i, false, '', 'cs_' || i,
       repeat('x', 1000), 'webhook', CAST(:status AS VARCHAR), 1, 0, :now - i, :processed
FROM generate_series(1, :count) AS i
""")


def database(admin_url: str) -> str:
    admin = create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS bench_metrics"))
        conn.execute(text("CREATE DATABASE bench_metrics"))
    admin.dispose()
    return db.make_engine(normalize_database_url(admin_url)).url.set(database="bench_metrics").render_as_string(
        hide_password=False)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backlogs", default="0,10000,100000")
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL database this script may create databases beside")
    url = database(admin_url)
    engine = db.make_engine(url)
    db.migrate(engine)
    now = int(time.time())
    started = time.perf_counter()
    with db.transaction(engine) as conn:
        conn.execute(FILL, {"prefix": "evt_done_", "now": now, "status": "done", "count": args.events,
                            "processed": now})
    db.refresh_statistics(engine, ("stripe_events",))
    print(f"{args.events:,} applied events stored in {time.perf_counter() - started:.1f} s")
    client = create_app(Settings(database_url=url, webhook_secrets=("whsec_bench",))).test_client()
    total_pending = 0
    for backlog in (int(b) for b in args.backlogs.split(",")):
        if backlog > total_pending:
            with db.transaction(engine) as conn:
                conn.execute(FILL, {"prefix": f"evt_pending_{backlog}_", "now": now, "status": "pending",
                                    "count": backlog - total_pending, "processed": None})
            total_pending = backlog
            db.refresh_statistics(engine, ("stripe_events",))

        def scrape() -> None:
            response = client.get("/metrics")
            assert response.status_code == 200, response.get_data(as_text=True)

        def by_status() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT status, count(*) FROM stripe_events GROUP BY status")).all()

        def newest() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT max(received_at) FROM stripe_events")).scalar()

        figures = [("GET /metrics", timed(scrape, args.scrapes)),
                   ("count per status (not used)", timed(by_status, max(5, args.scrapes // 10))),
                   ("newest received_at (not used)", timed(newest, max(5, args.scrapes // 10)))]
        print(f"backlog {backlog:,} pending of {args.events + backlog:,} events:")
        for name, (p50, p99) in figures:
            print(f"  {name:<30} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms")


if __name__ == "__main__":
    main()
