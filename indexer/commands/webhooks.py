"""``indexer webhooks register URL`` and ``indexer webhooks check``: thin click skins over
``indexer.ingest.webhook_setup``.

``register`` prints the new endpoint's signing secret on stdout as one ``export`` line (and the
rest on stderr), so ``eval "$(indexer webhooks register URL)"`` sets it in a shell. ``check``
exits 1 when it finds a problem (an endpoint missing event types or disabled, no endpoint of the
indexer's, failed events), for cron and CI. Errors become one line and an exit status where every
command's do: ``indexer.cli.exit_status``.
"""

from __future__ import annotations

import sys

import click

from indexer import db
from indexer.config import Settings
from indexer.ingest import event_store, webhook_setup
from indexer.stripe_api import StripeAPI

PROBLEMS_FOUND = 1


@click.group("webhooks")
def webhooks() -> None:
    """The Stripe webhook endpoint that feeds the index: make it, and check it works.

    Both read STRIPE_API_KEY (register needs a secret key, or a restricted key with write
    access to Webhook Endpoints) and STRIPE_API_BASE; check reads DATABASE_URL too.
    """


@webhooks.command("register", short_help="Create or update the webhook endpoint for URL.")
@click.argument("url")
@click.option("--events", "events", multiple=True, type=click.Choice(sorted(event_store.APPLIED_TYPES)),
              metavar="TYPE", help="Enable only these event types (repeat the option); "
              "default: every type the index applies.")
@click.option("--connect", is_flag=True, default=False,
              help="An endpoint for the events of your connected accounts (Connect), beside the "
              "account's own.")
def register(url: str, events: tuple[str, ...], connect: bool) -> None:
    """Create the webhook endpoint for URL (e.g. https://your-host/webhooks/stripe), or update
    the event types of the one the account already has for URL.

    A new endpoint's signing secret is printed once, as
    `export STRIPE_WEBHOOK_SECRET=whsec_...`: set it where `indexer serve` runs.
    """
    api = StripeAPI.from_settings(Settings.from_env())
    registration = webhook_setup.register(api, url, events=events or None, connect=connect)
    for line in webhook_setup.describe_registration(registration, api.api_version):
        click.echo(line, err=True)
    if registration.secret:
        click.echo("its signing secret, shown this once (several comma-separated while rotating):", err=True)
        click.echo(f"export STRIPE_WEBHOOK_SECRET={registration.secret}")


@webhooks.command("check", short_help="Check the endpoints and the event store.")
def check() -> None:
    """List the account's webhook endpoints, flag event types the indexer's ones lack, and say
    when the last event arrived and how many are pending or failed. Exits 1 on a problem."""
    settings = Settings.from_env()
    api = StripeAPI.from_settings(settings)
    checks = webhook_setup.endpoint_checks(api)
    for line in webhook_setup.describe_endpoints(checks, api.api_version):
        click.echo(line)
    state = webhook_setup.store_state(db.make_engine(settings.database_url))
    for line in webhook_setup.describe_store(state):
        click.echo(line)
    problems = webhook_setup.problems(checks, state)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(PROBLEMS_FOUND)
    click.echo("ok")

