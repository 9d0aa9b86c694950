"""Webhook ingest under gunicorn on PostgreSQL: our receiver beside a minimal 20-line one.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/webhook_ingest.py
       [--events 40000] [--duration 10] [--connections 32] [--workers 4]

Load comes from ``wrk`` (a separate process, Debian package ``wrk``) replaying unique, pre-signed
``checkout.session.completed`` events of realistic size (Stripe's own fixture session object).
Prints requests/s and latency percentiles of both receivers, their ratio, and checks that every
event answered 200 is in the database.
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
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer import signatures  # noqa: E402

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


def start_gunicorn(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--log-level", "warning", app],
        cwd=ROOT, env={**os.environ, **env},
    )
    for _ in range(100):
        try:
            subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"], check=True, timeout=1)
            return proc
        except subprocess.SubprocessError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


def run_wrk(port: int, requests_file: Path, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--latency",
         "-s", str(ROOT / "bench" / "ingest.lua"), f"http://127.0.0.1:{port}"],
        env={**os.environ, "REQUESTS_FILE": str(requests_file), "WRK_THREADS": "2"},
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "requests": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def count_rows(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
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

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, app, port, env in (
            ("minimal", "bench.minimal_receiver:app", 18101, {"MINIMAL_DSN": minimal_dsn}),
            ("indexer", "indexer.wsgi:app", 18102, {"DATABASE_URL": ours_url}),
        ):
            requests_file = Path(tmp) / f"{name}.txt"
            avg = make_requests(requests_file, args.events)
            server = start_gunicorn(app, port, args.workers, {"STRIPE_WEBHOOK_SECRET": SECRET, **env})
            try:
                results[name] = run_wrk(port, requests_file, args)
            finally:
                server.terminate()
                server.wait()
            results[name]["stored"] = count_rows(minimal_dsn if name == "minimal" else ours_dsn,
                                                 "events" if name == "minimal" else "stripe_events")
            results[name]["body_bytes"] = avg

    print(f"webhook ingest, gunicorn --workers {args.workers}, wrk -t2 -c{args.connections} -d{args.duration}s, PostgreSQL")
    for name, r in results.items():
        print(f"  {name:<8} {r['rps']:8.0f} events/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
              f"requests {r['requests']}  non-2xx {r['non2xx']}  stored {r['stored']}  body {r['body_bytes']} B")
    ratio = results["indexer"]["rps"] / results["minimal"]["rps"]
    print(f"  ratio indexer/minimal: {ratio:.0%} (target >= 75%); indexer p99 {results['indexer']['p99']:.1f} ms (target < 25 ms)")


if __name__ == "__main__":
    main()
