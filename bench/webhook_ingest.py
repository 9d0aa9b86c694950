"""Webhook ingest under gunicorn on PostgreSQL: our receiver beside a minimal 20-line one.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/webhook_ingest.py
       [--events 20000] [--connections 8] [--duration 5] [--rounds 3] [--workers 3]
       [--worker-class sync|gthread] [--threads N]

Load comes from ``wrk`` (a separate process, Debian package ``wrk``) replaying unique, pre-signed
``checkout.session.completed`` events of realistic size (Stripe's own fixture session object).
Each round sends events never sent before. Prints requests/s and latency percentiles of both
receivers (the median of the rounds, and each round), their ratio, and the rows stored: every
event answered 200 must be in the database.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_load  # noqa: E402
from indexer.ingest import signatures  # noqa: E402

SECRET = "whsec_bench_secret"
FIXTURES = ROOT / "tests" / "data" / "stripe" / "fixtures3.json"


def make_requests(path: Path, count: int) -> int:
    session = json.loads(FIXTURES.read_text())["resources"]["checkout.session"]
    now = int(time.time())
    size = 0
    with path.open("w") as out:
        for _i in range(count):
            obj = copy.deepcopy(session)
            obj["id"] = f"cs_test_{uuid.uuid4().hex}"
            obj["created"] = now - 60
            obj["status"], obj["payment_status"] = "complete", "paid"
            event = {
                "id": f"evt_{uuid.uuid4().hex}", "object": "event", "api_version": "2026-10-28.endive",
                "created": now, "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}, "type": "checkout.session.completed",
                "data": {"object": obj},
            }
            body = json.dumps(event, separators=(",", ":"))
            size += len(body)
            sig = f"t={now},v1={signatures.sign(body.encode(), SECRET, now)}"
            out.write(f"{sig}\t{body}\n")
    return size // count


def pg(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(pg(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg(admin_url).rsplit("/", 1)[0] + "/" + name


def count_rows(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000, help="unique events per round")
    http_load.add_load_arguments(parser, connections=8, workers=3)
    args = parser.parse_args()
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (a database will be created beside it)")

    ours_dsn = create_database(admin, "bench_ingest_ours")
    minimal_dsn = create_database(admin, "bench_ingest_minimal")
    with psycopg.connect(minimal_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id text PRIMARY KEY, payload text NOT NULL)")
    ours_url = ours_dsn.replace("postgresql://", "postgresql+psycopg://")
    subprocess.run([str(ROOT / ".venv/bin/indexer"), "migrate"], env={**os.environ, "DATABASE_URL": ours_url},
                   check=True, capture_output=True)

    env = {"STRIPE_WEBHOOK_SECRET": SECRET}
    with tempfile.TemporaryDirectory() as tmp, \
            http_load.gunicorn("bench.minimal_receiver:app", 18101, {**env, "MINIMAL_DSN": minimal_dsn}, args, "/"), \
            http_load.gunicorn("indexer.wsgi:app", 18102, {**env, "DATABASE_URL": ours_url}, args):
        sizes: list[int] = []

        def run(port: int) -> Callable[[int], http_load.Round]:
            def one_round(number: int) -> http_load.Round:
                requests_file = Path(tmp) / f"{port}-{number}.txt"
                sizes.append(make_requests(requests_file, args.events))
                result = http_load.wrk(port, "", args, script=ROOT / "bench" / "ingest.lua",
                                       env={"REQUESTS_FILE": str(requests_file), "WRK_THREADS": "2"})
                requests_file.unlink()
                if result.requests > args.events:
                    print(f"   note: {result.requests} requests from {args.events} unique events: raise --events")
                return result
            return one_round

        rounds = http_load.alternate({"minimal": run(18101), "indexer": run(18102)}, args.rounds)
    stored = {"minimal": count_rows(minimal_dsn, "events"), "indexer": count_rows(ours_dsn, "stripe_events")}

    print(f"webhook ingest, PostgreSQL, unique signed checkout.session.completed events of {max(sizes)} bytes")
    print(f"  {http_load.describe(args)}")
    results = {name: http_load.summarize(runs) for name, runs in rounds.items()}
    for name, summary in results.items():
        print(f"  {summary.line(name, 'events/s')}  stored {stored[name]}")
    ratio = results["indexer"].rps / results["minimal"].rps
    print(f"  ratio indexer/minimal: {ratio:.0%} (target >= 75%); indexer p99 {results['indexer'].p99:.1f} ms "
          f"(target < 25 ms); minimal p99 {results['minimal'].p99:.1f} ms")


if __name__ == "__main__":
    main()
