"""``indexer backfill`` and ``indexer catch-up``: the history before (and around) the webhooks."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from indexer import db
from indexer.config import Settings
from indexer.errors import UsageError
from indexer.history import backfill
from indexer.ingest import catchup
from indexer.stripe_api import StripeAPI

log = logging.getLogger("indexer.history.backfill")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("backfill", help="seed the index from Stripe's list APIs (resumable)")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="first day (UTC) of the history to read")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="last day (UTC), inclusive; default: now")
    p.add_argument("--product", metavar="prod_...", help="only the purchases of this product")
    p.add_argument("--links-only", action="store_true",
                   help="with --product: trust that every sale came through a payment link")
    p.add_argument("--account", default="", metavar="acct_...", help="a Connect account's data")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="parallel requests (default 8)")
    p.add_argument("--rate", type=float, metavar="R",
                   help="requests per second (default 23 in test mode, 90 in live mode)")
    p.add_argument("--restart", action="store_true", help="forget the checkpoints of the range first")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("catch-up", help="store events from /v1/events missed since the newest one stored")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="start of the gap (default: the newest stored event)")
    p.add_argument("--account", default="", metavar="acct_...", help="a Connect account's events")
    p.set_defaults(func=cmd_catch_up)


def parse_day(value: str | None, param: str, *, end: bool = False) -> int | None:
    """``YYYY-MM-DD`` (UTC) as Unix seconds: the day's first second, or its last with ``end``."""
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"--{param} must be a date as YYYY-MM-DD, got {value!r}", param=param) from None
    return int(day.timestamp()) + (86399 if end else 0)


def _quiet_sdk(args: argparse.Namespace) -> None:
    """The SDK logs every request at INFO: only with ``--verbose``."""
    if not getattr(args, "verbose", False):
        logging.getLogger("stripe").setLevel(logging.WARNING)


def cmd_backfill(args: argparse.Namespace) -> int:
    _quiet_sdk(args)
    since = parse_day(args.since, "since")
    until = parse_day(args.until, "until", end=True)
    if since is not None and until is not None and since > until:
        raise UsageError("--since must not be after --until", param="since")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1", param="concurrency")
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be positive", param="rate")
    if args.links_only and not args.product:
        raise UsageError("--links-only needs --product", param="links_only")
    if args.product and not args.product.startswith("prod_"):
        raise UsageError(f"--product must be a product id (prod_...), got {args.product!r}", param="product")
    settings = Settings.from_env()
    api = StripeAPI.from_settings(settings, rate=args.rate)
    engine = db.make_engine(settings.database_url)
    db.ping(engine)
    request = backfill.Request(
        since=backfill.EPOCH if since is None else since, until=until, product=args.product,
        links_only=args.links_only, account=args.account,
    )
    show = rich_progress if sys.stderr.isatty() else log_progress
    result = backfill.run(engine, api, request, concurrency=args.concurrency, restart=args.restart, show=show)
    print(result.summary())
    return 0


def cmd_catch_up(args: argparse.Namespace) -> int:
    _quiet_sdk(args)
    since = parse_day(args.since, "since")
    settings = Settings.from_env()
    api = StripeAPI.from_settings(settings)
    engine = db.make_engine(settings.database_url)
    db.ping(engine)
    result = catchup.catch_up(engine, api, account=args.account, since=since)
    print(f"catch-up: {result.listed} event(s) listed, {result.stored} new stored; "
          "`indexer worker` applies them")
    if result.gap_since is not None:
        when = datetime.fromtimestamp(result.gap_since, UTC).strftime("%Y-%m-%d")
        print(
            f"indexer catch-up: the gap starts {when}, older than Stripe's 30-day event retention: "
            f"the events of its first days are gone from Stripe; run `indexer backfill --since {when}`",
            file=sys.stderr,
        )
    return 0


# --- progress -------------------------------------------------------------------------------


@contextmanager
def rich_progress(job: backfill.Backfill) -> Iterator[None]:
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
def log_progress(job: backfill.Backfill, every: float = 10.0) -> Iterator[None]:
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
