"""The worker at its default pace against a Stripe whose rate limit is lower than that pace.

Usage: .venv/bin/python bench/worker_throttled.py [--seed-data 300] [--rate-limit 5] [--latency-ms 50]
       [--database-url URL] [--rate R] [--timeout 900]

A seeded sandbox (``indexer sandbox --seed-data N``: sessions spread over a year, invoices, refunds,
disputes, so most events need a Stripe request of their own) runs in its own process with
``--rate-limit``. Its test-mode events are stored as the webhook stores them, then the worker
runs as ``indexer worker`` does (its default pace unless ``--rate``) until no event is pending,
waiting for retries as they come due. Prints the share of Stripe requests answered 429, the
client's retries, the events parked as failed (with their errors) and the time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from indexer import db, models  # noqa: E402
from indexer.ingest.event_store import store_event  # noqa: E402
from indexer.ingest.worker import Worker  # noqa: E402
from indexer.stripe_api import StripeAPI  # noqa: E402

KEY = "sk_test_throttled"


def start_sandbox(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "indexer.cli", "sandbox", "--port", str(args.port), "--seed-data",
           str(args.seed_data), "--seed", "3", "--rate-limit", str(args.rate_limit),
           "--latency-ms", str(args.latency_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, f"http://127.0.0.1:{args.port}"


def fetch(url: str) -> dict:
    """One GET, waiting out the sandbox's own 429s (reading the events is not what is measured)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})
    while True:
        try:
            return json.load(urllib.request.urlopen(request))
        except urllib.error.HTTPError as exc:
            if exc.code != 429:
                raise
            time.sleep(0.3)


def sandbox_events(url: str) -> list[str]:
    bodies: list[str] = []
    cursor = None
    while True:
        page = fetch(f"{url}/v1/events?limit=100" + (f"&starting_after={cursor}" if cursor else ""))
        bodies.extend(json.dumps(e) for e in page["data"])
        if not page["has_more"]:
            return bodies
        cursor = page["data"][-1]["id"]


def sandbox_counts(url: str) -> tuple[int, int]:
    stats = json.load(urllib.request.urlopen(f"{url}/sandbox/stats"))
    return stats["total"], stats["rate_limited"]


def status_counts(engine) -> dict[str, int]:  # noqa: ANN001
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return dict(conn.execute(select(e.status, func.count()).group_by(e.status)).all())


def next_due(engine) -> int | None:  # noqa: ANN001
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return conn.execute(select(func.min(e.available_at)).where(e.status == "pending")).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-data", type=int, default=300)
    parser.add_argument("--rate-limit", type=float, default=5.0)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=None, help="client pace (default: the worker's own)")
    parser.add_argument("--port", type=int, default=12193)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for retries after this")
    args = parser.parse_args()

    proc, url = start_sandbox(args)
    tmp = tempfile.TemporaryDirectory()
    try:
        engine = db.make_engine(args.database_url or f"sqlite:///{tmp.name}/bench.db")
        db.migrate(engine)
        with db.transaction(engine) as conn:
            for table in (models.purchases_t, models.refunds_t, models.disputes_t, models.events_t):
                conn.execute(table.delete())
        bodies = sandbox_events(url)
        with db.transaction(engine) as conn:
            for body in bodies:
                store_event(conn, body, source="webhook")
        time.sleep(1.5)  # let the sandbox's bucket refill after the reads above
        before_total, before_429 = sandbox_counts(url)
        api = StripeAPI(KEY, api_base=url, rate=args.rate)
        worker = Worker(engine, api)
        started = time.monotonic()
        try:
            while True:
                worker.run(once=True)
                due = next_due(engine)
                if due is None or time.monotonic() - started > args.timeout:
                    break
                time.sleep(max(0.2, due - time.time() + 0.1))
        finally:
            worker.close()
        elapsed = time.monotonic() - started
        total, limited = sandbox_counts(url)
        requests, throttled = total - before_total, limited - before_429
        statuses = status_counts(engine)
        e = models.events_t.c
        with db.transaction(engine) as conn:
            errors = Counter(
                (r.last_error or "")[:90]
                for r in conn.execute(select(e.last_error).where(e.status == "failed"))
            )
        pace = f"{args.rate:g}/s" if args.rate else f"default ({api.rate:g}/s)"
        print(f"worker at pace {pace} against sandbox --rate-limit {args.rate_limit:g} --latency-ms "
              f"{args.latency_ms}: {len(bodies)} events (seed data {args.seed_data}), {engine.dialect.name}")
        print(f"  {elapsed:.1f} s   {worker.stats}   events by status {statuses}")
        print(f"  Stripe requests {requests}, answered 429: {throttled} ({100 * throttled / max(1, requests):.1f}%), "
              f"client retries {api.retries}")
        print(f"  parked as failed: {statuses.get('failed', 0)}   still pending: {statuses.get('pending', 0)}")
        for error, count in errors.most_common(5):
            print(f"    {count} x {error}")
    finally:
        proc.terminate()
        proc.wait()
        tmp.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
