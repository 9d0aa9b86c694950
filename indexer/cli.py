"""The ``indexer`` command: a click group whose commands (``indexer.commands``) parse, call the
modules, and print. Errors become exit codes here, in one place (``exit_status``): each error of
``indexer.errors`` carries its code, and a user error is one line on stderr, never a traceback.

The group is lazy (click's "LazyGroup" pattern): ``COMMANDS`` names each command's module and
its line in ``indexer --help``, and a command's module is imported only when that command runs
or shows its own help. So ``indexer products`` does not pay for the Stripe SDK, Flask or the PDF
library, and ``indexer --help`` imports none of them (``tests/test_cli.py``). A new
command is one line in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import click

from indexer.commands import FAILED_EVENTS_EXIT
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
  {FAILED_EVENTS_EXIT}    `indexer events --failed` found failed events
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


class Lazy(NamedTuple):
    """Where a command lives (``module:attribute``) and its line in ``indexer --help``, which
    must be the command's own short help (``tests/test_cli.py`` checks that they agree)."""

    target: str
    short_help: str


#: Every command of ``indexer``, by name. Those in ``OPTIONAL`` are left out where their package is
#: not installed (the sandbox is a package of its own; an install may leave it out).
COMMANDS: dict[str, Lazy] = {
    "backfill": Lazy("indexer.commands.history:backfill", "Seed the index from Stripe's list APIs."),
    "catch-up": Lazy("indexer.commands.history:catch_up", "Store missed events from Stripe's /v1/events."),
    "customer": Lazy("indexer.commands.answers:customer", "What a customer bought."),
    "customers": Lazy("indexer.commands.answers:customers", "The customers who bought a product."),
    "events": Lazy("indexer.commands.events:events", "Stored webhook events and their state."),
    "migrate": Lazy("indexer.commands.service:migrate", "Bring the schema to the newest revision."),
    "products": Lazy("indexer.commands.answers:products", "Indexed products, their customers and revenue."),
    "report": Lazy("indexer.commands.reports:report",
                   "Stripe's itemized balance report: enrich it with products, fetch it through Report Runs, "
                   "and write one PDF per product per month."),
    "sandbox": Lazy("stripe_sandbox.cli:sandbox", "Run the local Stripe sandbox (a fake Stripe)."),
    "serve": Lazy("indexer.commands.service:serve", "Run the web app: webhooks, health, query API."),
    "webhooks": Lazy("indexer.commands.webhooks:webhooks",
                     "The Stripe webhook endpoint that feeds the index: make it, and check it works."),
    "worker": Lazy("indexer.commands.service:worker", "Apply stored webhook events to the index."),
}
OPTIONAL = {"sandbox"}


def installed(name: str) -> bool:
    """Whether command ``name``'s top-level package is installed, found without importing it."""
    package = COMMANDS[name].target.split(".", 1)[0]
    return name not in OPTIONAL or importlib.util.find_spec(package) is not None


def load(name: str) -> click.Command:
    """Import command ``name`` from its module."""
    module, attribute = COMMANDS[name].target.split(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name].target} is not a click command")
    return command


class Root(click.Group):
    """The top-level group: its commands load on use (``COMMANDS``), and errors raised below it
    become one line and an exit status here."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *(name for name in COMMANDS if installed(name))})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS and installed(cmd_name):
            self.add_command(load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' lines from ``COMMANDS``, shortened as click shortens them, without
        importing a single command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name) or click.Command(name, help=COMMANDS[name].short_help)
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, with "Did you mean ...?" drawn from every command, loaded or not."""
        no_such_command = getattr(click.exceptions, "NoSuchCommand", None)  # click >= 8.4
        if no_such_command is None:
            return super().resolve_command(ctx, args)
        try:
            return super().resolve_command(ctx, args)
        except no_such_command as exc:
            raise no_such_command(exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

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


def exit_status(exc: BaseException, command: str) -> int | None:
    """Print ``exc`` as one line on stderr and return its exit status; None for a bug (which
    keeps its traceback)."""
    if isinstance(exc, click.UsageError):
        _say(command, _usage_line(exc))
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        _say(command, exc.format_message())
        return exc.exit_code
    if _database_unreachable(exc):
        exc = DatabaseUnavailable(f"database unavailable: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}")
    if isinstance(exc, IndexerError):
        hint = next((text for kind, text in HINTS.items() if isinstance(exc, kind)), None)
        _say(command, f"{exc.message}; {hint}" if hint and hint not in exc.message else exc.message)
        return exc.exit_code
    return None


def _database_unreachable(exc: BaseException) -> bool:
    """SQLAlchemy's errors for a database it cannot reach; SQLAlchemy is imported here only when
    the command has imported it already (an error cannot come from a module never loaded)."""
    if "sqlalchemy.exc" not in sys.modules:
        return False
    from sqlalchemy import exc as sa_exc

    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)


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
