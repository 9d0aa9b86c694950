"""The ``indexer`` command: a click group whose commands (``indexer.commands``) parse, call the
modules, and print. Errors become exit codes here, in one place (``exit_status``): each error of
``indexer.errors`` carries its code, and a user error is one line on stderr, never a traceback.

A command group from another module joins with one line: ``cli.add_command(group)``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import click
from sqlalchemy import exc as sa_exc

from indexer.commands import answers, events, history, reports, service, webhooks
from indexer.errors import (
    DatabaseUnavailable,
    IndexerError,
    NotFound,
    StripeAuthError,
    StripeError,
    UsageError,
)

EXIT_INTERRUPTED = 130

#: What to do, added to an error's own message where the message cannot know it.
HINTS: dict[type[IndexerError], str] = {
    DatabaseUnavailable: "check DATABASE_URL and that the database server is up",
    StripeAuthError: "check STRIPE_API_KEY",
}

EPILOG = f"""\b
Environment:
  DATABASE_URL          the index: postgresql://user@host/db, or sqlite:///path
                        (default: sqlite:///indexer.db)
  STRIPE_API_KEY        sk_... or rk_... key; read access is enough (Stripe commands)
  STRIPE_API_BASE       Stripe's address (default: https://api.stripe.com; a sandbox:
                        http://127.0.0.1:12111)
  STRIPE_WEBHOOK_SECRET whsec_..., comma-separated while rotating (serve)
  INDEXER_API_TOKENS    bearer tokens of the query API, comma-separated (serve)
Each command reads only the variables it uses.

\b
Exit status:
  0    success
  {events.FAILED_EVENTS_EXIT}    `indexer events --failed` found failed events
  {UsageError.exit_code}    bad usage or configuration, or a database that needs `indexer migrate`
  {NotFound.exit_code}    not found (e.g. a product the index does not hold)
  {StripeError.exit_code}    Stripe refused the request or could not be reached
  {DatabaseUnavailable.exit_code}    the database cannot be reached or refused the connection
  {EXIT_INTERRUPTED}  interrupted
Errors are one line on stderr.

\b
Examples:
  indexer migrate && indexer serve --port 8000
  indexer customers prod_... --format csv > buyers.csv
  indexer events --failed || indexer events retry --all
  indexer COMMAND --help"""


class Root(click.Group):
    """The top-level group; errors raised below it become one line and an exit status here."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            status = exit_status(exc, f"{ctx.command_path} {ctx.invoked_subcommand or ''}".strip())
            if status is None:
                raise
            raise click.exceptions.Exit(status) from exc


@click.group(
    cls=Root, epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100},
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details (SQL migrations, every Stripe request).")
def cli(verbose: bool) -> None:
    """Index Stripe purchases: which customers bought this product?

    Webhooks and a backfill fill the index; commands, an HTTP API and SQL read it."""
    _configure_logging(verbose)


cli.add_command(service.migrate)
cli.add_command(service.serve)
cli.add_command(service.worker)
cli.add_command(events.events)
cli.add_command(history.backfill)
cli.add_command(history.catch_up)
cli.add_command(answers.customers)
cli.add_command(answers.customer)
cli.add_command(answers.products)
cli.add_command(webhooks.webhooks)
cli.add_command(reports.report)
try:
    from stripe_sandbox.cli import sandbox
except ImportError:  # the sandbox is a package of its own; an install may leave it out
    pass
else:
    cli.add_command(sandbox)


def exit_status(exc: BaseException, command: str) -> int | None:
    """Print ``exc`` as one line on stderr and return its exit status; None for a bug (which
    keeps its traceback)."""
    if isinstance(exc, click.UsageError):
        _say(command, _usage_line(exc))
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        _say(command, exc.format_message())
        return exc.exit_code
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        exc = DatabaseUnavailable(f"database unavailable: {str(exc.orig).strip().splitlines()[0]}")
    if isinstance(exc, IndexerError):
        hint = next((text for kind, text in HINTS.items() if isinstance(exc, kind)), None)
        _say(command, f"{exc.message}; {hint}" if hint and hint not in exc.message else exc.message)
        return exc.exit_code
    return None


def _usage_line(exc: click.UsageError) -> str:
    """``--since: expected a date ...`` for a bad value; click's message and where to read more
    for the rest (an unknown option, a missing argument)."""
    param = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter) and param is not None:
        names = [name for name in param.opts if name.startswith("--")] or param.opts
        label = names[0] if isinstance(param, click.Option) else (param.metavar or param.name or "").upper()
        return f"{label}: {exc.message}"
    where = exc.ctx.command_path if exc.ctx is not None else "indexer"
    message = exc.format_message().strip()
    return f"{message}{'' if message.endswith(('.', '?', '!')) else '.'} See `{where} --help`."


def _say(command: str, message: str) -> None:
    line = " ".join(message.split())
    click.echo(f"{command}: {line}", err=True)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        for noisy in ("stripe", "alembic", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``indexer`` with ``argv`` (default: the process's arguments); the exit status."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="indexer", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        return exit_status(exc, "indexer") or 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
