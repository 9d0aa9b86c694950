"""``indexer report enrich|fetch|monthly``: thin click commands over ``indexer.reports``.

Errors are the indexer's own (``indexer.errors``): one line on stderr, the error's exit code,
never a traceback; output files appear whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from indexer import db
from indexer.commands import resources
from indexer.config import Settings
from indexer.errors import IndexerError, UsageError
from indexer.reports import kept
from indexer.reports.enrich import enrich
from indexer.reports.period import Month
from indexer.reports.report_runs import fetch
from indexer.stripe_api import StripeAPI


class _ReportGroup(click.Group):
    """Errors below ``indexer report`` as one line naming the subcommand
    (``indexer report monthly: ...``) and the error's exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        def fail(message: str, exit_code: int) -> click.exceptions.Exit:
            name = " ".join(["indexer report", *filter(None, [ctx.invoked_subcommand])])
            click.echo(f"{name}: {message}", err=True)
            return click.exceptions.Exit(exit_code)

        try:
            return super().invoke(ctx)
        except IndexerError as err:
            raise fail(err.message, err.exit_code) from None
        except sa_exc.OperationalError as err:
            raise fail(f"database unavailable: {db.short_error(err)}", 5) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None


@click.group("report", cls=_ReportGroup,
             help="Stripe's itemized balance report: enrich it with products, fetch it through "
                  "Report Runs, and write one PDF per product per month.")
@click.option("-v", "--verbose", is_flag=True, help="log debug details")
def report(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _settings() -> tuple[Settings, Engine]:
    """The settings and the index, checked as every command checks it (``open_index``): an
    unmigrated database is one line naming `indexer migrate`, before any file or Stripe."""
    settings = Settings.from_env()
    return settings, resources.open_index()


def _api(settings: Settings) -> Callable[[], StripeAPI] | None:
    """A maker of the Stripe client, when a key is set (made only if Stripe is needed)."""
    if not settings.stripe_api_key:
        return None
    return lambda: StripeAPI.from_settings(settings)


def _progress() -> Callable[[str], None]:
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(message: str) -> None:
        now = dt.datetime.now().timestamp()
        if tty:
            click.echo(f"\r{message}\033[K", err=True, nl=False)
        elif now - last[0] >= 30 or not message.startswith("waiting"):
            click.echo(message, err=True)
            last[0] = now

    return show


account_option = click.option("--account", default="", metavar="acct_...",
                              help="a Connect account (default: your own account)")


@report.command("enrich")
@click.argument("csv_path", metavar="[CSV]", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="where to write the enriched CSV (default: standard output)")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="enrich the month's report kept by `report fetch` (instead of a CSV)")
@account_option
def enrich_command(csv_path: Path | None, output: Path | None, month: str | None, account: str) -> None:
    """Add product and buyer columns to an itemized balance report CSV."""
    if (csv_path is None) == (month is None):
        raise UsageError("give a report CSV, or --month for the month's kept report (not both)")
    settings, engine = _settings()
    if csv_path is not None:
        result = enrich(csv_path, output, engine=engine, account=account, api=_api(settings))
    else:
        wanted = Month.parse(month or "")
        livemode = settings.stripe_livemode if settings.stripe_api_key else None
        run = kept.kept_for_month(engine, account, livemode, wanted.label)
        if run is None:
            raise UsageError(f"no report of {wanted.label} is kept: run `indexer report fetch "
                             f"--month {wanted.label}` first", param="month")
        with tempfile.TemporaryDirectory(prefix="indexer-report-") as folder:
            local = Path(folder) / f"{run.id}.csv"
            with local.open("wb") as out:
                for piece in kept.file_pieces(engine, run.id):
                    out.write(piece)
            result = enrich(local, output, engine=engine, account=account, api=_api(settings),
                            label=f"the kept report of {wanted.label} ({run.id})")
    click.echo(f"indexer report enrich: {result.summary()}", err=True)


@report.command("fetch")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month to fetch")
@click.option("--timezone", default="Etc/UTC", show_default=True,
              help="the month's timezone (IANA), also the report's times")
@click.option("--report-type", default=None, metavar="ID",
              help="a report type (default: the newest balance_change_from_activity.itemized.N)")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="also write the report here (it is kept in the database either way)")
@click.option("--timeout", type=float, default=3600.0, show_default=True,
              help="seconds to wait for the run before giving up (run again to resume)")
@click.option("--no-wait", is_flag=True,
              help="start the run and return; the worker keeps the file when Stripe's webhook says it is ready")
@account_option
def fetch_command(month: str, timezone: str, report_type: str | None, output: Path | None,
                  timeout: float, no_wait: bool, account: str) -> None:
    """Request a month's itemized balance report through Report Runs, wait, download it."""
    wanted = Month.parse(month, timezone)
    settings, engine = _settings()
    api = StripeAPI.from_settings(settings)
    show = _progress()
    done = fetch(wanted, engine=engine, api=api, account=account, report_type=report_type,
                 output=output, wait=not no_wait, timeout=timeout, progress=show)
    if sys.stderr.isatty():
        click.echo("", err=True)
    if done.note:
        click.echo(f"note: {done.note}", err=True)
    if done.run.kept_at is None:
        click.echo(f"report run {done.run.id} started ({done.run.status}); `indexer worker` keeps "
                   f"the file when Stripe says it is ready, or run this command again to wait")
        return
    where = f", written to {done.output}" if done.output else ""
    click.echo(f"report run {done.run.id} ({done.run.report_type}) kept: {done.size} bytes{where}; "
               f"`indexer report monthly --month {wanted.label} -o DIR` uses it")


@report.command("monthly")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="a balance report CSV (raw or enriched); default: the month's kept report, "
                   "else the index alone")
@click.option("-o", "--output", "directory", required=True, type=click.Path(path_type=Path),
              help="the folder to write the PDFs and summary CSV into")
@click.option("--timezone", default="Etc/UTC", show_default=True, help="the month's timezone (IANA)")
@click.option("--livemode/--testmode", default=None,
              help="which mode's data (default: the API key's, else live if the index holds any)")
@account_option
def monthly_command(month: str, csv_path: Path | None, directory: Path, timezone: str,
                    livemode: bool | None, account: str) -> None:
    """Write one PDF per product with that month's transactions, and a summary CSV."""
    # Imported here: it loads the PDF library, which no other command needs.
    from indexer.reports.monthly import monthly

    wanted = Month.parse(month, timezone)
    settings, engine = _settings()
    if livemode is None and settings.stripe_api_key:
        livemode = settings.stripe_livemode
    done = monthly(wanted, directory, engine=engine, account=account, livemode=livemode,
                   csv_path=csv_path, api=_api(settings))
    if done.enrich is not None:
        click.echo(f"indexer report monthly: enriched {done.enrich.summary()}", err=True)
    click.echo(done.describe())
