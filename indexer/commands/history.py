"""``indexer backfill`` and ``indexer catch-up``: the history before (and around) the webhooks."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from indexer.commands import params
from indexer.commands.resources import open_index, stripe_client
from indexer.errors import UsageError
from indexer.history import backfill as history_backfill
from indexer.ingest import catchup

log = logging.getLogger("indexer.history.backfill")


@click.command()
@click.option("--since", type=params.DAY_TYPE, show_default="all of it",
              help="First UTC day of the history to read.")
@click.option("--until", type=params.DAY_TYPE, show_default="now",
              help="Last UTC day, inclusive.")
@click.option("--product", type=params.PRODUCT_ID, help="Only the purchases of this product.")
@click.option("--links-only", is_flag=True, help="With --product: trust that every sale came through a payment link.")
@click.option("--account", type=params.ACCOUNT_ID, show_default="your own account",
              help="A Connect account's data.")
@click.option("--concurrency", type=params.POSITIVE, default=8, help="Parallel requests.")
@click.option("--rate", type=params.RATE, default=None, show_default="23 in test mode, 90 in live mode",
              help="Stripe requests per second.")
@click.option("--restart", is_flag=True, help="Forget the checkpoints of the range first.")
def backfill(since: dt.date | None, until: dt.date | None, product: str | None, links_only: bool,
             account: str | None, concurrency: int, rate: float | None, restart: bool) -> None:
    """Seed the index from Stripe's list APIs.

    Reads checkout sessions with their line items, invoices with their lines, refunds, disputes
    and products. Sharded, rate-limited and resumable: a rerun continues from its checkpoints. Shows progress
    on a terminal. Reads DATABASE_URL, STRIPE_API_KEY and STRIPE_API_BASE."""
    if since is not None and until is not None and since > until:
        raise UsageError("--since must not be after --until", param="since")
    if links_only and not product:
        raise UsageError("--links-only needs --product", param="links_only")
    api = stripe_client(rate=rate)
    engine = open_index()
    request = history_backfill.Request(
        since=history_backfill.EPOCH if since is None else params.day_start(since),
        until=None if until is None else params.day_start(until) + params.DAY - 1,
        product=product, links_only=links_only, account=account or "",
    )
    show = rich_progress if sys.stderr.isatty() else log_progress
    try:
        result = history_backfill.run(engine, api, request, concurrency=concurrency, restart=restart, show=show)
    finally:
        engine.dispose()
    click.echo(result.summary())


@click.command("catch-up")
@click.option("--since", type=params.DAY_TYPE, show_default="the newest stored event",
              help="Start of the gap.")
@click.option("--account", type=params.ACCOUNT_ID, show_default="your own account",
              help="A Connect account's events.")
def catch_up(since: dt.date | None, account: str | None) -> None:
    """Store missed events from Stripe's /v1/events.

    Reads the events since the newest one stored (or --since). Stripe keeps events 30 days:
    an older gap is reported with the backfill that closes it. `indexer worker` applies what
    is stored. Reads DATABASE_URL, STRIPE_API_KEY and STRIPE_API_BASE."""
    api = stripe_client()
    engine = open_index()
    try:
        result = catchup.catch_up(engine, api, account=account or "",
                                  since=None if since is None else params.day_start(since))
    finally:
        engine.dispose()
    click.echo(f"catch-up: {result.listed} event(s) listed, {result.stored} new stored; "
               "`indexer worker` applies them")
    if result.refused:
        click.echo(f"indexer catch-up: {result.refused} of them could not be read and are stored as failed; "
                   "`indexer events --failed` shows why", err=True)
    if result.gap_since is not None:
        when = datetime.fromtimestamp(result.gap_since, UTC).strftime("%Y-%m-%d")
        click.echo(
            f"indexer catch-up: the gap starts {when}, older than Stripe's 30-day event retention: "
            f"the events of its first days are gone from Stripe; run `indexer backfill --since {when}`",
            err=True,
        )


# --- progress -------------------------------------------------------------------------------


@contextmanager
def rich_progress(job: history_backfill.Backfill) -> Iterator[None]:
    """A bar per stream on a terminal: objects done, objects per second, time left (ETA from the
    share of the ``created`` range covered; Stripe gives no total count)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description:<10}"), BarColumn(),
        TextColumn("{task.fields[objects]:>8} objects"), TextColumn("{task.fields[rate]:>7.1f}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bars:
        tasks: dict[str, object] = {}

        def refresh() -> None:
            for name, stats in list(job.stats.items()):
                if name not in tasks:
                    tasks[name] = bars.add_task(stats.label, total=max(stats.span, 1), objects=0, rate=0.0)
                elapsed = (stats.finished or time.monotonic()) - stats.started
                bars.update(tasks[name], total=max(stats.span, 1), completed=stats.covered,  # type: ignore[arg-type]
                            objects=stats.objects_before + stats.objects,
                            rate=stats.objects / elapsed if elapsed > 0 else 0.0)

        with _ticking(0.2, refresh, refresh):
            yield


@contextmanager
def log_progress(job: history_backfill.Backfill, every: float = 10.0) -> Iterator[None]:
    """Plain log lines (not a terminal): each stream's state every ``every`` seconds and at the end."""
    reported: set[str] = set()

    def report(final: bool = False) -> None:
        for name, stats in list(job.stats.items()):
            if name in reported:
                continue
            share = 100.0 * stats.covered / stats.span if stats.span else 100.0
            state = "done" if stats.done else f"{share:.0f}% of the range"
            log.info("%s: %d objects (%d before), %d pages, %s", stats.label,
                     stats.objects_before + stats.objects, stats.objects_before, stats.pages, state)
            if stats.done or final:
                reported.add(name)

    with _ticking(every, report, lambda: report(final=True)):
        yield


@contextmanager
def _ticking(every: float, tick: Callable[[], None], last: Callable[[], None]) -> Iterator[None]:
    """Call ``tick`` every ``every`` seconds from a thread while the block runs, ``last`` after it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            tick()

    ticker = threading.Thread(target=loop, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        last()
