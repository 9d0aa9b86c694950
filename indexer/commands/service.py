"""``indexer migrate``, ``serve`` and ``worker``: the schema and the processes that keep the index."""

from __future__ import annotations

import logging
import signal
import socket
import threading

import click

from indexer import db
from indexer.commands import params
from indexer.commands.resources import open_database, open_index, stripe_client
from indexer.errors import UsageError

log = logging.getLogger("indexer")


@click.command()
def migrate() -> None:
    """Bring the schema to the newest revision.

    Idempotent: a current schema is left as it is. Creates the SQLite file of DATABASE_URL if
    it does not exist yet."""
    steps = logging.getLogger("alembic.runtime.migration")
    quiet_level = steps.level
    steps.setLevel(min(logging.INFO, steps.getEffectiveLevel()))  # each revision applied, as a log line
    engine = open_database()
    try:
        revision = db.migrate(engine)
    finally:
        engine.dispose()
        steps.setLevel(quiet_level)
    click.echo(f"database at revision {revision}")


@click.command()
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=params.Port(), default=8000, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the web app: webhooks, health, query API.

    For development; production runs the same app under gunicorn (see Procfile). Reads DATABASE_URL,
    STRIPE_WEBHOOK_SECRET and INDEXER_API_TOKENS."""
    from indexer import create_app

    open_index().dispose()
    app = create_app()
    _require_free_port(host, port)
    log.info("serving on http://%s:%d (production: gunicorn, see Procfile)", host, port)
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def _require_free_port(host: str, port: int) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                         "choose another --port or --host", param="port") from None


@click.command()
@click.option("--once", is_flag=True,
              help="Drain what is pending, then exit 0; events whose retry is further than 30 s ahead are "
                   "left for the next run, and said on stderr.")
@click.option("--batch-size", type=params.POSITIVE, default=500, help="Events claimed per batch.")
@click.option("--threads", type=params.POSITIVE, default=8, help="Concurrent Stripe requests.")
@click.option("--rate", type=params.RATE, default=None, show_default="23 in test mode, 90 in live mode",
              help="Stripe requests per second.")
def worker(once: bool, batch_size: int, threads: int, rate: float | None) -> None:
    """Apply stored webhook events to the index.

    Runs until interrupted (SIGTERM: after the batch in hand, exit 0). With --once it drains what is pending (it waits for events leased
    to a worker that died, and for retries due within 30 s) and exits 0, as cron or a release
    phase expects; events that wait for a later retry (Stripe unavailable) are left to the next
    run and counted on stderr; events parked as failed are in `indexer events --failed`. Run as
    many as you like on PostgreSQL: they share the queue. Reads DATABASE_URL, STRIPE_API_KEY
    and STRIPE_API_BASE."""
    from indexer.ingest.worker import EventsWaiting, Worker

    api = stripe_client(rate=rate)
    engine = open_index()
    runner = Worker(engine, api, batch_size=batch_size, threads=threads)
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        # SIGTERM (a platform's restart, `kill`): finish the batch in hand, then exit 0.
        previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: runner.stop())
    try:
        stats = runner.run(once=once)
    except EventsWaiting as waiting:
        click.echo(f"worker: {waiting.stats}")
        click.echo(f"indexer worker: {waiting.notice}", err=True)
        return
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
        runner.close()
        engine.dispose()
    click.echo(f"worker: {stats}")
