"""Worker throughput: a burst of checkout events applied against a sandbox with Stripe's latency.

Usage: .venv/bin/python bench/worker_apply.py [--sessions 5000] [--latency-ms 150] [--rate-limit 25]
       [--database-url URL] [--threads 8] [--history 300 [--rounds 3] [--now T]]

The sandbox runs in its own process (bench/sandbox_burst.py). Its ``checkout.session.completed``
events are stored in a fresh index exactly as the webhook stores them, then ``Worker.run(once=True)``
is timed. Prints events/s, Stripe requests made (vs events) and where they went, events failed, and checks
the index holds a row for every line item. ``--history N`` applies instead every test-mode event of
a generated history of about N sessions (13 months: the stream of ``bench/peer/run.py``, sessions
far apart, every event family, both invoice shapes) and judges the answer against its truth. Targets (issue 4): >= 300 events/s at 150 ms with no rate limit;
>= 50 events/s with --rate-limit 25 --latency-ms 150 and no event failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from indexer import db, models  # noqa: E402
from indexer.ingest.event_store import store_event  # noqa: E402
from indexer.ingest.worker import Worker  # noqa: E402
from indexer.stripe_api import StripeAPI  # noqa: E402

KEY = "sk_test_bench"


def start_sandbox(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, str(ROOT / "bench" / "sandbox_burst.py"), "--sessions", str(args.sessions),
           "--port", str(args.port), "--latency-ms", str(args.latency_ms)]
    if args.rate_limit:
        cmd += ["--rate-limit", str(args.rate_limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def sandbox_events(url: str) -> list[str]:
    """Every checkout.session.completed event, read without the bench's latency budget in mind."""
    bodies: list[str] = []
    cursor = None
    while True:
        query = "types[]=checkout.session.completed&limit=100" + (f"&starting_after={cursor}" if cursor else "")
        req = urllib.request.Request(f"{url}/v1/events?{query}", headers={"Authorization": f"Bearer {KEY}"})
        for _ in range(50):
            try:
                page = json.load(urllib.request.urlopen(req))
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(0.2)
        bodies.extend(json.dumps(e) for e in page["data"])
        if not page["has_more"]:
            return bodies
        cursor = page["data"][-1]["id"]


def requests_by_family(url: str) -> list[tuple[str, int]]:
    """The sandbox's API requests per route (``GET /v1/checkout/sessions/{id}``...), most first."""
    stats = json.load(urllib.request.urlopen(f"{url}/sandbox/stats"))
    return sorted(((f, n) for f, n in stats["requests"].items() if " /v1" in f), key=lambda fn: -fn[1])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from ``/proc/<pid>/stat``; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids(engine: Any) -> set[int]:
    """The PostgreSQL backends serving this database (the worker's pool and this bench's own)."""
    with db.transaction(engine) as conn:
        return {pid for (pid,) in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        ))}


def vacuum(engine: Any) -> None:
    """Clear what the last round left dead, so that each round starts from the same tables: the
    claim walks the pending events' index entries, dead ones included, until a vacuum."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")


def purchase_rows_digest(engine: Any) -> str:
    """A digest of every purchase, refund, dispute and product row but their ids and write
    times: two runs that wrote the same rows, row for row, print the same digest."""
    digest = hashlib.sha256()
    with db.transaction(engine) as conn:
        for table in (models.purchases_t, models.refunds_t, models.disputes_t, models.products_t):
            columns = [c for c in table.c if not (c.name == "updated_at" or (c.name == "id" and table is models.purchases_t))]
            for row in conn.execute(select(*columns).order_by(*columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:16]


def history(args: argparse.Namespace) -> None:
    """Every test-mode event of a generated history, stored as the webhook stores them, applied
    by one worker; the requests by route and the answer judged as the peer bench judges it.

    With ``--rounds N`` the same stream is applied N times into an emptied index, each round by
    a new worker. CPU per event is the worker's (this process, where nothing else runs during
    the apply) and that of the database's backends (PostgreSQL only): on a machine whose cores
    the web, the worker and PostgreSQL share, it bounds applied throughput more than wall time.
    """
    from bench import backfill
    from bench.peer import run as peer
    from stripe_sandbox import generator
    from stripe_sandbox.store import Store

    store = Store()
    generator.generate(store, args.history, 0, now=args.now)
    tmp = tempfile.TemporaryDirectory()
    pid, url = backfill.serve(store, latency_ms=args.latency_ms, rate_limit=args.rate_limit)
    try:
        stream = Path(tmp.name) / "events.jsonl"
        peer.event_stream(store, stream)
        bodies = stream.read_text().splitlines()
        engine = db.make_engine(args.database_url or f"sqlite:///{tmp.name}/bench.db")
        db.migrate(engine)
        postgres = db.is_postgres(engine)
        limit = f"rate limit {args.rate_limit:g}/s" if args.rate_limit else "no rate limit"
        for round_ in range(1, args.rounds + 1):
            with db.transaction(engine) as conn:
                for table in (models.purchases_t, models.refunds_t, models.disputes_t, models.products_t,
                              models.events_t):
                    conn.execute(table.delete())
            if postgres:
                vacuum(engine)
            with db.transaction(engine) as conn:
                stored = sum(store_event(conn, body, source="webhook") for body in bodies)
            api = StripeAPI(KEY, api_base=url, rate=args.rate_limit or 10_000.0)
            requests_before = dict(requests_by_family(url))
            worker = Worker(engine, api, threads=args.threads, batch_size=args.batch_size)
            backends = backend_pids(engine) if postgres else set()
            db_cpu = {b: process_cpu(b) for b in backends}
            cpu = time.process_time()
            started = time.perf_counter()
            stats = worker.run(once=True)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            if postgres:
                backends |= backend_pids(engine)
            db_seconds = sum(process_cpu(b) - db_cpu.get(b, 0.0) for b in backends)
            worker.close()
            with db.transaction(engine) as conn:
                found = {(prod, who): int(n) for prod, who, n in conn.execute(text(peer.OURS_SQL))}
            judged = peer.Truth(store).judge(found)
            load = Path("/proc/loadavg").read_text().split()[0]
            print(f"worker apply, history of {args.history} sessions, round {round_}/{args.rounds}: {stored} events "
                  f"({len(bodies) - stored} duplicates not stored), sandbox latency {args.latency_ms} ms, {limit}, "
                  f"{engine.dialect.name}, {args.threads} threads, batches of {args.batch_size}, load average {load}")
            print(f"  {stored / elapsed:8.1f} events/s   ({elapsed:.2f} s)   {stats}")
            print(f"  CPU per event: worker {1000 * cpu / stored:.3f} ms + database {1000 * db_seconds / stored:.3f} ms"
                  f" = {1000 * (cpu + db_seconds) / stored:.3f} ms   rows digest {purchase_rows_digest(engine)}")
            print(f"  Stripe requests {api.request_count} ({api.request_count / max(1, stored):.3f} per event, "
                  f"{api.retries} retries)   answer right: {judged['right']} (missed {judged['missed']}, "
                  f"extra {judged['extra']}, payments {judged['payments']}/{judged['payments true']})")
            went = [(family, n - requests_before.get(family, 0)) for family, n in requests_by_family(url)]
            print("  where the requests went: " + ", ".join(f"{n} {family}" for family, n in went if n))
    finally:
        backfill.stop(pid)
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--port", type=int, default=12190)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=500, help="the worker's batch (the `indexer worker` default: 500)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--history", type=int, default=0, help="the peer bench's stream of a history of N sessions")
    parser.add_argument("--rounds", type=int, default=1, help="with --history: apply the stream this many times")
    parser.add_argument("--now", type=int, default=None,
                        help="with --history: the history ends at this Unix time (default: now), so that two "
                             "runs, of two versions of the worker, can compare their rows digests")
    args = parser.parse_args()
    if args.history:
        history(args)
        return

    proc, url = start_sandbox(args)
    tmp = tempfile.TemporaryDirectory()
    try:
        engine = db.make_engine(args.database_url or f"sqlite:///{tmp.name}/bench.db")
        db.migrate(engine)
        with db.transaction(engine) as conn:
            for table in (models.purchases_t, models.events_t):
                conn.execute(table.delete())
        bodies = sandbox_events(url)
        with db.transaction(engine) as conn:
            for body in bodies:
                store_event(conn, body, source="webhook")
        with db.transaction(engine) as conn:
            duplicates_stored = sum(store_event(conn, body, source="webhook") for body in bodies)
        rate = (args.rate_limit * 0.95) if args.rate_limit else 10_000.0
        api = StripeAPI(KEY, api_base=url, rate=rate)
        worker = Worker(engine, api, threads=args.threads)
        started = time.perf_counter()
        stats = worker.run(once=True)
        elapsed = time.perf_counter() - started
        worker.close()
        with db.transaction(engine) as conn:
            sessions = conn.execute(select(func.count(func.distinct(models.purchases_t.c.source_id)))).scalar_one()
            failed = conn.execute(
                select(func.count()).select_from(models.events_t).where(models.events_t.c.status != "done")
            ).scalar_one()
        limit = f"rate limit {args.rate_limit:g}/s" if args.rate_limit else "no rate limit"
        print(f"worker apply: {len(bodies)} checkout.session.completed events, sandbox latency "
              f"{args.latency_ms} ms, {limit}, {engine.dialect.name}, {args.threads} threads")
        print(f"  {len(bodies) / elapsed:8.1f} events/s   ({elapsed:.1f} s)   {stats}")
        print(f"  Stripe requests {api.request_count} ({api.request_count / max(1, len(bodies)):.3f} per event, "
              f"{api.retries} retries)   sessions indexed {sessions}/{len(bodies)}   events not done {failed}")
        print(f"  every event delivered twice: {duplicates_stored} duplicates stored, so the second "
              "deliveries cost 0 Stripe requests")
        print("  where the requests went: " + ", ".join(f"{n} {family}" for family, n in requests_by_family(url)))
    finally:
        proc.terminate()
        proc.wait()
        tmp.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
