"""What a ``/metrics`` scrape and a worker's claim cost the database as the event store grows.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/metrics_scrape.py
       [--events 1000000] [--backlogs 0,10000,100000] [--scrapes 50] [--claims 20] [--batch 500] [--leased 1000]
       [--database bench_metrics]

Builds a database ``bench_metrics`` (``--database``) beside the given one, stores ``--events`` applied events
(``done``, about 1 KB of payload each), then for each backlog size adds that many ``pending``
events and times, ``--scrapes`` times each after a warm-up:

* ``GET /metrics`` through the app (the event store's pending and failed rows, the counters);
* the queries the counters table spares: events per status over the whole table, and the
  newest ``received_at``;
* a worker's claim of ``--batch`` due events (``event_store.claim_events``, undone after each
  one so the backlog stays), with ``--leased`` of the oldest pending events leased (not due) in
  front, with and without the pending index of migration 0012 (dropped inside the undone
  transaction: the schema of 0011), ``--claims`` times each, alternating;
* what a scrape reads of the event store (``event_store.queue_summary``: the pending and failed
  counts, the oldest pending arrival) with and without the arrival index of migration 0013
  (dropped the same way: the schema of 0012), ``--scrapes`` times each, alternating.

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

from sqlalchemy import Connection, Engine, create_engine, text  # noqa: E402

from indexer import create_app, db  # noqa: E402
from indexer.config import Settings, normalize_database_url  # noqa: E402
from indexer.ingest import event_store  # noqa: E402

#: Migration 0012's index; without it a claim can only read ``(status, available_at)``.
PENDING_INDEX = "ix_stripe_events_pending_claim_order"
#: Migration 0013's index; without it the oldest pending arrival reads every pending row.
AGE_INDEX = "ix_stripe_events_pending_received_at"
UNLEASE = text("UPDATE stripe_events SET available_at = 0 WHERE status = 'pending' AND available_at > 0")
LEASE = text("""
UPDATE stripe_events SET available_at = :until
WHERE id IN (SELECT id FROM stripe_events WHERE status = 'pending' ORDER BY created, id LIMIT :count)
""")

FILL = text("""
INSERT INTO stripe_events (id, type, api_version, created, livemode, account, object_id, payload, source,
                           status, attempts, available_at, received_at, processed_at)
SELECT :prefix || i, 'checkout.session.completed', '2026-10-28.endive', :now - i, false, '', 'cs_' || i,
       repeat('x', 1000), 'webhook', CAST(:status AS VARCHAR), 1, 0, :now - i, :processed
FROM generate_series(1, :count) AS i
""")


def database(admin_url: str, name: str) -> str:
    admin = create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return db.make_engine(normalize_database_url(admin_url)).url.set(database=name).render_as_string(
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


def undone_ms(engine: Engine, work: Callable[[Connection], object], drop: str | None) -> tuple[float, object]:
    """``work``'s time and result in a transaction that is then undone, with the index ``drop``
    dropped inside it first (the schema before the migration that made it)."""
    with engine.connect() as conn, conn.begin() as transaction:
        if drop is not None:
            conn.execute(text(f"DROP INDEX {drop}"))
        started = time.perf_counter()
        result = work(conn)
        elapsed = (time.perf_counter() - started) * 1000
        transaction.rollback()
    return elapsed, result


def with_and_without(engine: Engine, work: Callable[[Connection], object], index: str,
                     runs: int) -> dict[bool, tuple[float, float, object]]:
    """p50, p99 and the result of ``work``, without (False) and with (True) ``index``, the two
    alternating run by run after a warm-up of each."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    results = {has: undone_ms(engine, work, None if has else index)[1] for has in samples}
    for _ in range(runs):
        for has, times in samples.items():
            times.append(undone_ms(engine, work, None if has else index)[0])
    figures = {}
    for has, times in samples.items():
        times.sort()
        figures[has] = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], results[has]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backlogs", default="0,10000,100000")
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--database", default="bench_metrics", help="the database built (dropped first)")
    parser.add_argument("--claims", type=int, default=20, help="claims timed per backlog and index (0: none)")
    parser.add_argument("--batch", type=int, default=500, help="events per claim (the worker's default)")
    parser.add_argument("--leased", type=int, default=1000, help="oldest pending events leased in front")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL database this script may create databases beside")
    url = database(admin_url, args.database)
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
            with db.transaction(engine) as conn:
                conn.execute(UNLEASE)
                conn.execute(LEASE, {"until": now + 86_400, "count": args.leased})
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
        ages = with_and_without(engine, event_store.queue_summary, AGE_INDEX, args.scrapes)
        for index, label in ((False, "0012: every pending row read"), (True, "0013: pending arrival index")):
            p50, p99, _ = ages[index]
            print(f"  the scrape's reads, {label:<29} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms")
        print(f"  the scrape's reads, p50 ratio 0012/0013 {ages[False][0] / ages[True][0]:.1f}x"
              f"   load average {Path('/proc/loadavg').read_text().split()[0]}")
        if args.claims:
            def claim(conn: Connection) -> int:
                return len(event_store.claim_events(conn, limit=args.batch, lease_seconds=30))

            by_index = with_and_without(engine, claim, PENDING_INDEX, args.claims)
            for index, label in ((False, "0011: (status, available_at)"), (True, "0012: pending claim order")):
                p50, p99, claimed = by_index[index]
                print(f"  claim {args.batch} via {label:<29} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms"
                      f"   ({claimed} claimed, {min(args.leased, backlog)} leased in front)")
            print(f"  claim p50 ratio 0011/0012 {by_index[False][0] / by_index[True][0]:.1f}x"
                  f"   load average {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
