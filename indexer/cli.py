"""The ``indexer`` command: parses arguments, calls the modules, maps errors to exit codes.

Exit status 0 on success; otherwise a one-line message on stderr and the error's ``exit_code``
(see ``indexer.errors``), never a traceback for a user error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from collections.abc import Sequence

from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.config import Settings
from indexer.errors import IndexerError, UsageError
from indexer.ingest import event_store

log = logging.getLogger("indexer")

COMMAND_MODULES = ("indexer.commands.answers", "indexer.commands.history")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="indexer", description="Index Stripe purchases: which customers bought this product?"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="bring the database schema to the newest revision")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the web app (webhooks, query API) for development")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="apply stored webhook events to the index")
    p.add_argument("--once", action="store_true", help="drain what is pending, then exit 0")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--threads", type=int, default=8, help="concurrent Stripe requests")
    p.add_argument("--rate", type=float, default=None,
                   help="Stripe requests per second (default: 23 in test mode, 90 in live mode)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("events", help="show stored webhook events; `events retry ID|--all` replays failed ones")
    p.add_argument("--failed", action="store_true", help="only events parked as failed")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_events)
    events_sub = p.add_subparsers(dest="events_action", metavar="ACTION")
    retry = events_sub.add_parser("retry", help="put failed events back in the queue")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every failed event")
    retry.set_defaults(func=cmd_events_retry)

    try:
        from stripe_sandbox import cli as sandbox_cli
    except ImportError:
        sandbox_cli = None
    if sandbox_cli is not None:
        p = sub.add_parser("sandbox", help="run the local Stripe sandbox (a stateful fake Stripe)")
        sandbox_cli.add_arguments(p)
        p.set_defaults(func=sandbox_cli.run)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    revision = db.migrate(db.make_engine(settings.database_url))
    print(f"database at revision {revision}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from indexer import create_app

    app = create_app()
    db.ping(app.extensions["indexer.engine"])
    log.info("serving on http://%s:%d (production: gunicorn, see Procfile)", args.host, args.port)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from indexer.ingest.worker import Worker
    from indexer.stripe_api import StripeAPI

    settings = Settings.from_env()
    engine = db.make_engine(settings.database_url)
    db.ping(engine)
    worker = Worker(engine, StripeAPI.from_settings(settings, rate=args.rate), batch_size=args.batch_size, threads=args.threads)
    try:
        stats = worker.run(once=args.once)
    finally:
        worker.close()
    print(f"worker: {stats}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    engine = db.make_engine(settings.database_url)
    with db.transaction(engine) as conn:
        rows = event_store.list_events(conn, failed=args.failed, limit=args.limit)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["created"]))
        error = f"  {row['last_error']}" if row["last_error"] else ""
        print(f"{row['id']}  {row['type']:<42} {row['status']:<8} attempts={row['attempts']}  {when}{error}")
    if not rows:
        print("no failed events" if args.failed else "no events stored yet")
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise UsageError("give failed event ids or --all (not both)", param="ids")
    settings = Settings.from_env()
    engine = db.make_engine(settings.database_url)
    with db.transaction(engine) as conn:
        count = event_store.requeue_events(conn, None if args.all else args.ids)
    if args.ids and count < len(set(args.ids)):
        print(f"requeued {count} of {len(set(args.ids))}: the others are not failed events", file=sys.stderr)
        return 3
    print(f"requeued {count} event(s); `indexer worker` will apply them")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["report"]:
        from indexer.commands import reports

        try:
            reports.report.main(args=words[1:], prog_name="indexer report")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for noisy in ("stripe", "alembic.runtime.plugins", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except IndexerError as err:
        print(f"indexer {args.command}: {err.message}", file=sys.stderr)
        return err.exit_code
    except sa_exc.OperationalError as err:
        print(f"indexer {args.command}: database unavailable: {str(err.orig).strip().splitlines()[0]}", file=sys.stderr)
        return 5
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
