"""``indexer sandbox``: runs the local Stripe sandbox in the foreground until interrupted."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from indexer.errors import UsageError

DEFAULT_PORT = 12111
DEFAULT_SEED_SESSIONS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--seed-data", nargs="?", type=int, const=DEFAULT_SEED_SESSIONS,
                        default=None, metavar="N",
                        help=f"fill with generated history of about N checkout sessions "
                        f"(default {DEFAULT_SEED_SESSIONS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the generated data")
    parser.add_argument("--webhook-url", help="deliver signed webhook events to this URL")
    parser.add_argument("--webhook-secret", help="endpoint signing secret (whsec_...)")
    parser.add_argument("--webhook-mode", choices=("test", "live", "all"), default="test",
                        help="which events the endpoint gets: a Stripe endpoint belongs to one mode "
                        "(default test)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every API request")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="N",
                        help="requests per second over all clients; above it, 429 rate_limit")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="F",
                        help="fraction of API requests answered 500 api_error")
    parser.add_argument("--report-delay", type=float, default=1.0, metavar="S",
                        help="seconds a report run takes before it succeeds (default 1)")
    parser.add_argument("--report-fail-rate", type=float, default=0.0, metavar="F",
                        help="fraction of report runs that fail")
    parser.add_argument("--test-mode-reports", action="store_true",
                        help="let test-mode keys run balance reports (Stripe needs live mode)")
    parser.add_argument("--api-version", default=None,
                        help="API version of events and of requests without Stripe-Version")


def _check(args: argparse.Namespace) -> None:
    if bool(args.webhook_url) != bool(args.webhook_secret):
        raise UsageError("--webhook-url and --webhook-secret go together")
    if args.webhook_secret and not args.webhook_secret.startswith("whsec_"):
        raise UsageError("--webhook-secret must start with whsec_")
    if not 0.0 <= args.fail_rate < 1.0:
        raise UsageError("--fail-rate must be in [0, 1)")
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise UsageError("--rate-limit must be positive")
    if args.report_delay < 0 or not 0.0 <= args.report_fail_rate <= 1.0:
        raise UsageError("--report-delay must not be negative, --report-fail-rate in [0, 1]")
    if args.latency_ms < 0:
        raise UsageError("--latency-ms must not be negative")
    if args.seed_data is not None and args.seed_data < 0:
        raise UsageError("--seed-data must not be negative")


def _optional(module: str, flag: str) -> Any:
    """The generator and webhook sender ship separately; say so if one is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise UsageError(f"{flag} needs {module}, which is not installed") from None


def run(args: argparse.Namespace) -> int:
    from .server import SandboxServer
    from .store import DEFAULT_API_VERSION, Store

    _check(args)
    store = Store(seed=args.seed, api_version=args.api_version or DEFAULT_API_VERSION)
    seeded = "no seed data"
    if args.seed_data:
        generator = _optional("stripe_sandbox.generator", "--seed-data")
        summary = generator.generate(store, args.seed_data, args.seed)
        objects = summary.get("objects", {})
        seeded = (f"{objects.get('checkout.session', 0)} sessions, "
                  f"{objects.get('invoice', 0)} invoices, {objects.get('event', 0)} events "
                  f"(seed {args.seed})")
    sender = None
    if args.webhook_url:
        webhooks = _optional("stripe_sandbox.webhooks", "--webhook-url")
        try:
            livemode = {"test": False, "live": True, "all": None}[args.webhook_mode]
            sender = webhooks.WebhookSender(store, args.webhook_url, args.webhook_secret, livemode=livemode)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        server = SandboxServer(store, args.host, args.port, latency_ms=args.latency_ms,
                               rate_limit=args.rate_limit, fail_rate=args.fail_rate,
                               webhooks=sender, report_delay=args.report_delay,
                               report_fail_rate=args.report_fail_rate,
                               test_mode_reports=args.test_mode_reports)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    if sender is not None:
        sender.start()
    knobs = [f"{k} {v}" for k, v in (("latency-ms", args.latency_ms or None),
                                     ("rate-limit", args.rate_limit),
                                     ("fail-rate", args.fail_rate or None)) if v]
    hooks = f", webhooks to {args.webhook_url}" if args.webhook_url else ""
    print(f"Stripe sandbox listening on {server.url} ({seeded}{hooks}"
          f"{', ' + ', '.join(knobs) if knobs else ''}); "
          f"use any sk_test_... key with STRIPE_API_BASE={server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if sender is not None:
            sender.stop()
        server.stop()
        sys.stdout.flush()
    return 0
