"""Webhook ingest under gunicorn on PostgreSQL: our web process exactly as the ``Procfile`` runs
it, beside a minimal 20-line verify-and-insert receiver (``bench/minimal_receiver.py``) under
plain gunicorn (4 sync workers, ``--minimal-workers``; no config file, no access log), in one run.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/webhook_ingest.py
       [--events 20000] [--connections 16] [--duration 5] [--rounds 3]
       [--procfile Procfile] [--also Procfile.other ...] [--web-concurrency N] [--minimal-workers 4]
       [--variants core,view,minimal-procfile]

Load comes from ``wrk`` (a separate process, Debian package ``wrk``) replaying unique, pre-signed
``checkout.session.completed`` events of realistic size (Stripe's own fixture session object).
Each round sends events never sent before. Prints requests/s and latency percentiles of each
server (the median of the rounds, and each round), the ratio to the minimal receiver round by
round, and the rows stored: every event answered 200 must be in the database.

``--variants core`` runs our app once more under the same ``Procfile`` settings with the event
stored by plain SQLAlchemy Core (``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on a pooled
connection in autocommit) instead of ``event_store.insert_event_prepared`` (the same insert
prepared by psycopg on a connection of SQLAlchemy's pool): the figures that decide the
production path. A variant replaces ``event_store.store_event_row`` in its own gunicorn
processes only (``variant_app``); every other step of the request is ours. Besides events/s,
each server's CPU per event (its processes, and PostgreSQL's backends for its database) is
read from ``/proc``: a machine shared with other work blurs throughput far more than it.
``--variants view`` runs our app without ``webhooks.WebhookFastPath`` (every webhook through the
Flask view; under the ``Procfile``'s worker, ``indexer.web.asgi.Worker``, that also means without
its ``WebhookFront``: every request through the WSGI adapter): what the fast path saves. To compare
with the threaded worker it replaced, ``--also`` a Procfile whose ``web:`` line says
``--worker-class gthread``. ``--variants minimal-procfile`` runs the minimal receiver
under the ``Procfile`` command too: what the settings cost, apart from what our code costs.
``--also FILE`` (repeatable) runs our app once more under the ``web:`` line of another Procfile,
named after the file, in the same alternating rounds: how settings are compared on a machine
whose load moves from minute to minute. Each server holds up to one PostgreSQL connection per
thread: on a shared server, compare a few at a time.

Ports are picked free at start, and the databases are named after the one in the URL
(``<db>_ingest_minimal``...), so runs beside other databases of one server never collide.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_load  # noqa: E402
from indexer.ingest import signatures  # noqa: E402

SECRET = "whsec_bench_secret"
FIXTURES = ROOT / "tests" / "data" / "stripe" / "fixtures3.json"


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free right now, picked by the kernel: the machine is shared, so a
    fixed port may be another run's."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def make_requests(path: Path, count: int) -> int:
    """``count`` unique signed events, one ``signature<TAB>body`` a line; their mean size."""
    obj = json.loads(FIXTURES.read_text())["resources"]["checkout.session"]
    now = int(time.time())
    obj.update(id="cs_test_ID", created=now - 60, status="complete", payment_status="paid")
    event = {
        "id": "evt_ID", "object": "event", "api_version": "2026-10-28.endive",
        "created": now, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": "checkout.session.completed",
        "data": {"object": obj},
    }
    template = json.dumps(event, separators=(",", ":"))
    size = 0
    with path.open("w") as out:
        for _i in range(count):
            unique = uuid.uuid4().hex
            body = template.replace('"evt_ID"', f'"evt_{unique}"').replace('"cs_test_ID"', f'"cs_test_{unique}"')
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


def database_cpu(admin: str, name: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to database ``name``
    (a local server: its backends are processes of this machine)."""
    with psycopg.connect(pg(admin), autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    return sum(http_load.process_tree_cpu(pid) for pid in pids)


def store_core(engine: Any, row: dict[str, Any]) -> bool:
    """The ``core`` variant: one SQLAlchemy Core insert on a pooled connection in autocommit."""
    from indexer.ingest import event_store

    with engine.connect() as conn:
        return event_store.insert_event(conn.execution_options(isolation_level="AUTOCOMMIT"), row)


VARIANTS: dict[str, Callable[[Any, dict[str, Any]], bool]] = {"core": store_core}
#: Not our app: the minimal receiver run with the ``Procfile``'s settings, which tells what the
#: settings cost apart from what our code costs.
MINIMAL_UNDER_PROCFILE = "minimal-procfile"


#: Our app with every webhook answered by the Flask view, as before ``webhooks.WebhookFastPath``:
#: what the fast path saves, measured beside it.
VIEW_ONLY = "view"


def variant_app(name: str) -> Any:
    """Our app with the event stored the ``name`` way, or (``view``) without the webhook fast
    path (gunicorn: ``bench.webhook_ingest:variant_app('core')``)."""
    from indexer import create_app
    from indexer.ingest import event_store
    from indexer.web.webhooks import WebhookFastPath

    if name == VIEW_ONLY:
        app = create_app()
        assert isinstance(app.wsgi_app, WebhookFastPath)
        app.wsgi_app = app.wsgi_app.wsgi_app  # type: ignore[method-assign]
        return app
    event_store.store_event_row = VARIANTS[name]  # type: ignore[assignment]
    return create_app()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000, help="unique events per round")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per server, alternating")
    parser.add_argument("--procfile", type=Path, default=ROOT / "Procfile", help="whose web: line runs our app")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another Procfile whose web: line runs our app too (repeatable)")
    parser.add_argument("--minimal-workers", type=int, default=4,
                        help="sync workers of the minimal receiver (0: as many as the Procfile starts); "
                             "4 is the yardstick issue 17 was measured against")
    parser.add_argument("--web-concurrency", type=int, help="WEB_CONCURRENCY (default: the Procfile's own)")
    parser.add_argument("--variants", default="",
                        help=f"comma-separated, of {', '.join([*VARIANTS, VIEW_ONLY, MINIMAL_UNDER_PROCFILE])}")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if unknown := set(variants) - {*VARIANTS, VIEW_ONLY, MINIMAL_UNDER_PROCFILE}:
        sys.exit(f"unknown variants: {', '.join(sorted(unknown))}")
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (a database will be created beside it)")

    env = {"STRIPE_WEBHOOK_SECRET": SECRET}
    if args.web_concurrency:
        env["WEB_CONCURRENCY"] = str(args.web_concurrency)
    port_minimal, *ours_ports = free_ports(2 + len(variants) + len(args.also))
    command = http_load.procfile_web(args.procfile, ours_ports[0])
    workers = args.minimal_workers or http_load.procfile_workers(command, env)
    minimal_options = argparse.Namespace(workers=workers, worker_class="sync", threads=1)
    others = {path.name: http_load.procfile_web(path, ours_ports[0]) for path in args.also}
    if len(others) < len(args.also) or {"indexer", "minimal", *variants} & set(others):
        sys.exit("--also: give each Procfile a file name of its own")
    ours = ["indexer", *variants, *others]
    ports = {"minimal": port_minimal, **dict(zip(ours, ours_ports, strict=True))}
    # The databases are named after the admin URL's, so two runs beside different admin
    # databases (helpers sharing one PostgreSQL) never drop each other's.
    prefix = f"{pg(admin).rsplit('/', 1)[1]}_ingest_".replace("-", "_")
    dsns = {name: create_database(admin, prefix + name.replace("-", "_")) for name in ["minimal", *ours]}
    minimals = ["minimal", *[name for name in ours if name == MINIMAL_UNDER_PROCFILE]]
    for name in minimals:
        with psycopg.connect(dsns[name], autocommit=True) as conn:
            conn.execute("CREATE TABLE events (id text PRIMARY KEY, payload text NOT NULL)")
    urls = {name: dsns[name].replace("postgresql://", "postgresql+psycopg://") for name in ours if name not in minimals}
    for url in urls.values():
        subprocess.run([str(ROOT / ".venv/bin/indexer"), "migrate"], env={**os.environ, "DATABASE_URL": url},
                       check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        procs = {}
        procs["minimal"] = servers.enter_context(http_load.gunicorn("bench.minimal_receiver:app", port_minimal,
                                                 {**env, "MINIMAL_DSN": dsns["minimal"]}, minimal_options, "/",
                                                 config=False))
        for name in ours:
            app = None if name == "indexer" or name in others else f"'bench.webhook_ingest:variant_app(\"{name}\")'"
            database = {"DATABASE_URL": urls[name]} if name in urls else {"MINIMAL_DSN": dsns[name]}
            if name == MINIMAL_UNDER_PROCFILE:
                app = "bench.minimal_receiver:app"
            procs[name] = servers.enter_context(http_load.procfile_server(
                others.get(name, command).replace(f":{ours_ports[0]} ", f":{ports[name]} "), ports[name],
                {**env, **database}, Path(tmp) / f"{name}.log", app))
        sizes: list[int] = []

        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in ports}

        def run(name: str, port: int) -> Callable[[int], http_load.Round]:
            def one_round(number: int) -> http_load.Round:
                requests_file = Path(tmp) / f"{port}-{number}.txt"
                sizes.append(make_requests(requests_file, args.events))
                app_before = http_load.process_tree_cpu(procs[name].pid)
                db_before = database_cpu(admin, dsns[name].rsplit("/", 1)[1])
                result = http_load.wrk(port, "", args, script=ROOT / "bench" / "ingest.lua",
                                       env={"REQUESTS_FILE": str(requests_file), "WRK_THREADS": "2"})
                if number:
                    per_event = 1000 / max(result.requests, 1)
                    cpu[name].append(((http_load.process_tree_cpu(procs[name].pid) - app_before) * per_event,
                                      (database_cpu(admin, dsns[name].rsplit("/", 1)[1]) - db_before) * per_event))
                requests_file.unlink()
                if result.requests > args.events:
                    print(f"   note: {result.requests} requests from {args.events} unique events: raise --events")
                return result
            return one_round

        rounds = http_load.alternate({name: run(name, port) for name, port in ports.items()}, args.rounds)
        access_log = (Path(tmp) / "indexer.log").read_text()
    stored = {name: count_rows(dsns[name], "events" if name in minimals else "stripe_events") for name in ports}

    print(f"webhook ingest, PostgreSQL, unique signed checkout.session.completed events of {max(sizes)} bytes; "
          f"wrk -t2 -c{args.connections} -d{args.duration}s; warm-up + {args.rounds} rounds each, alternating")
    print(f"  minimal: plain gunicorn --workers {workers} (sync) bench.minimal_receiver:app")
    print(f"  indexer: {args.procfile.name} web: {command}" + (f"  (WEB_CONCURRENCY={env['WEB_CONCURRENCY']})"
                                                              if "WEB_CONCURRENCY" in env else ""))
    if stored_otherwise := [name for name in variants if name in VARIANTS]:
        print(f"  {', '.join(stored_otherwise)}: the same, the event stored another way (bench/webhook_ingest.py)")
    for name, other in others.items():
        print(f"  {name}: web: {other}")
    if VIEW_ONLY in variants:
        print(f"  {VIEW_ONLY}: the same, every webhook answered by the Flask view (no WebhookFastPath)")
    if MINIMAL_UNDER_PROCFILE in variants:
        print(f"  {MINIMAL_UNDER_PROCFILE}: the minimal receiver under the same Procfile command")
    results = {name: http_load.summarize(runs) for name, runs in rounds.items()}
    for name, summary in results.items():
        answered = sum(r.requests - r.non2xx for r in summary.rounds)
        print(f"  {summary.line(name, 'events/s')}  answered 2xx {answered}, stored {stored[name]} (warm-up included)")
    print("  CPU per event (median of rounds; the machine's other load does not blur it as it blurs events/s):")
    for name in ports:
        app_ms = statistics.median(a for a, _ in cpu[name])
        db_ms = statistics.median(d for _, d in cpu[name])
        print(f"    {name:<12} server {app_ms:.2f} ms + PostgreSQL {db_ms:.2f} ms")
    if "indexer.wsgi:app" in command and '"POST /webhooks/stripe HTTP/1.1" 200' not in access_log:
        print("  note: the Procfile run wrote no access log line")
    for name in ours:
        ratios = [ours_round.rps / base.rps for ours_round, base in zip(rounds[name], rounds["minimal"], strict=True)]
        print(f"  ratio {name}/minimal: median {statistics.median(ratios):.0%} (rounds {', '.join(f'{r:.0%}' for r in ratios)}); "
              f"p99 {results[name].p99:.1f} ms beside {results['minimal'].p99:.1f} ms")
    print("  targets (issue 17): indexer >= 75% of minimal, indexer p99 < 25 ms")


if __name__ == "__main__":
    main()
