"""``indexer sandbox``: runs the local Stripe sandbox in the foreground until interrupted.

A click command of its own (the ``indexer`` command registers it): the sandbox imports nothing
from ``indexer``, so its usage errors are click's.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

DEFAULT_PORT = 12111
DEFAULT_SEED_SESSIONS = 1000


def _optional(module: str, flag: str) -> Any:
    """The generator and webhook sender ship separately; say so if one is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise click.UsageError(f"{flag} needs {module}, which is not installed") from None


def _webhook_secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith("whsec_"):
        raise click.BadParameter(f"expected an endpoint signing secret (whsec_...), got {value!r}", ctx, param)
    return value


@click.command()
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, metavar="PORT",
              help="Port to listen on (0 picks a free one).")
@click.option("--seed-data", type=click.IntRange(min=0), is_flag=False, flag_value=DEFAULT_SEED_SESSIONS,
              default=None, metavar="[N]",
              help=f"Fill with about 13 months of generated history of about N checkout sessions "
                   f"(N defaults to {DEFAULT_SEED_SESSIONS}).")
@click.option("--seed", type=int, default=0, help="Random seed of the generated data.")
@click.option("--webhook-url", help="Deliver signed webhook events to this URL (with --webhook-secret).")
@click.option("--webhook-secret", callback=_webhook_secret, help="Endpoint signing secret (whsec_...).")
@click.option("--webhook-mode", type=click.Choice(["test", "live", "all"]), default="test",
              help="Which events the endpoint gets: a Stripe endpoint belongs to one mode.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, metavar="MS",
              help="Milliseconds added to every API request.")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N",
              show_default="none", help="Requests per second over all clients; above it, 429 rate_limit.")
@click.option("--fail-rate", type=click.FloatRange(0, 1, max_open=True), default=0.0, metavar="F",
              help="Fraction of API requests answered 500 api_error.")
@click.option("--report-delay", type=click.FloatRange(min=0), default=1.0, metavar="S",
              help="Seconds a report run takes before it succeeds.", show_default=True)
@click.option("--report-fail-rate", type=click.FloatRange(0, 1), default=0.0, metavar="F",
              help="Fraction of report runs that fail.", show_default=True)
@click.option("--test-mode-reports", is_flag=True, default=False,
              help="Let test-mode keys run balance reports (Stripe needs live mode).")
@click.option("--api-version", default=None, show_default="the newest the sandbox renders",
              help="API version of events and of requests without Stripe-Version.")
def sandbox(host: str, port: int, seed_data: int | None, seed: int, webhook_url: str | None,
            webhook_secret: str | None, webhook_mode: str, latency_ms: float, rate_limit: float | None,
            fail_rate: float, report_delay: float, report_fail_rate: float, test_mode_reports: bool,
            api_version: str | None) -> None:
    """Run the local Stripe sandbox (a fake Stripe).

    A stateful fake of the parts of Stripe's API the indexer uses, for demos and tests. Point
    STRIPE_API_BASE at it and use any sk_test_... key (sk_live_... reads live-mode data)."""
    from .server import SandboxServer
    from .store import DEFAULT_API_VERSION, Store

    if bool(webhook_url) != bool(webhook_secret):
        raise click.UsageError("--webhook-url and --webhook-secret go together")
    store = Store(seed=seed, api_version=api_version or DEFAULT_API_VERSION)
    seeded = "no seed data"
    if seed_data:
        generator = _optional("stripe_sandbox.generator", "--seed-data")
        summary = generator.generate(store, seed_data, seed)
        objects = summary.get("objects", {})
        seeded = (f"{objects.get('checkout.session', 0)} sessions, "
                  f"{objects.get('invoice', 0)} invoices, {objects.get('event', 0)} events "
                  f"(seed {seed})")
    sender = None
    if webhook_url:
        webhooks = _optional("stripe_sandbox.webhooks", "--webhook-url")
        try:
            livemode = {"test": False, "live": True, "all": None}[webhook_mode]
            sender = webhooks.WebhookSender(store, webhook_url, webhook_secret, livemode=livemode)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        server = SandboxServer(store, host, port, latency_ms=latency_ms, rate_limit=rate_limit,
                               fail_rate=fail_rate, webhooks=sender, report_delay=report_delay,
                               report_fail_rate=report_fail_rate, test_mode_reports=test_mode_reports)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                               "choose another --port (0 picks a free one)") from None
    if sender is not None:
        sender.start()
    knobs = [f"{k} {v}" for k, v in (("latency-ms", latency_ms or None), ("rate-limit", rate_limit),
                                     ("fail-rate", fail_rate or None)) if v]
    hooks = f", webhooks to {webhook_url}" if webhook_url else ""
    click.echo(f"Stripe sandbox listening on {server.url} ({seeded}{hooks}"
               f"{', ' + ', '.join(knobs) if knobs else ''}); "
               f"use any sk_test_... key with STRIPE_API_BASE={server.url}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if sender is not None:
            sender.stop()
        server.stop()
        sys.stdout.flush()
