"""Webhook setup in one command each: register the Stripe endpoint that feeds the index, and
check that it does.

``register`` asks Stripe for an endpoint (``POST /v1/webhook_endpoints``) sending exactly the
event types the index applies (``event_store.APPLIED_TYPES``, the registry the worker applies
from, so the two cannot drift) at the API version the index reads (``StripeAPI.api_version``).
When the account already has an endpoint for that URL it sets that endpoint's event types
instead: a rerun never makes a second endpoint. ``check`` lists the account's endpoints, says
what the indexer's ones lack, and how the event store looks (last arrival, pending, failed).

An endpoint is the indexer's when its metadata says so (``register`` marks it) or its URL ends
in ``/webhooks/stripe``; the account's other endpoints are listed and left alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from indexer import db, schema
from indexer.errors import ConfigError, UsageError
from indexer.ingest import counters, event_store
from indexer.stripe_api import StripeAPI

#: metadata key marking the indexer's endpoints: ``account`` (events of the account itself) or
#: ``connect`` (events of its connected accounts)
SCOPE_KEY = "indexer"
WEBHOOK_PATH = "/webhooks/stripe"
DESCRIPTION = "Stripe purchase indexer"


@dataclass
class Registration:
    endpoint: dict[str, Any]
    created: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)

    @property
    def secret(self) -> str | None:
        """The signing secret: Stripe shows it in the create answer only."""
        return self.endpoint.get("secret")


@dataclass
class EndpointCheck:
    endpoint: dict[str, Any]
    ours: bool
    missing: list[str]

    @property
    def problems(self) -> list[str]:
        if not self.ours:
            return []
        e = self.endpoint
        found = []
        if e.get("status") != "enabled":
            found.append(f"{e['id']} is {e.get('status')}: Stripe sends it nothing (enable it in the Dashboard)")
        if self.missing:
            shown = ", ".join(self.missing[:3]) + (", ..." if len(self.missing) > 3 else "")
            found.append(
                f"{e['id']} lacks {len(self.missing)} event type(s) the index applies ({shown}): "
                f"run `indexer webhooks register {e['url']}`"
            )
        return found


@dataclass
class StoreState:
    pending: int
    failed: int
    oldest_pending_received_at: int | None
    last_received_at: int | None


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the URL must look like https://your-host{WEBHOOK_PATH}, got {url!r}", param="url")
    return url


def wanted_events(events: Iterable[str] | None) -> list[str]:
    """The event types to enable: every applied type, or the given ones (each must be one)."""
    if not events:
        return sorted(event_store.APPLIED_TYPES)
    unknown = sorted(set(events) - event_store.APPLIED_TYPES)
    if unknown:
        raise UsageError(f"the index does not apply {', '.join(unknown)}: choose among "
                         f"`indexer webhooks register --help`", param="events")
    return sorted(set(events))


def _scope(endpoint: dict[str, Any]) -> str:
    return (endpoint.get("metadata") or {}).get(SCOPE_KEY) or "account"


def register(api: StripeAPI, url: str, *, events: Iterable[str] | None = None, connect: bool = False) -> Registration:
    """Create the endpoint, or set the event types of the one the account has for ``url``."""
    url = check_url(url)
    wanted = wanted_events(events)
    scope = "connect" if connect else "account"
    same = [e for e in api.webhook_endpoints() if e.get("url") == url and _scope(e) == scope]
    if not same:
        endpoint = api.create_webhook_endpoint(url, wanted, connect=connect, metadata={SCOPE_KEY: scope},
                                               description=DESCRIPTION)
        return Registration(endpoint, created=True, added=wanted)
    endpoint, others = same[0], [e["id"] for e in same[1:]]
    before = set(endpoint.get("enabled_events") or [])
    if before != set(wanted) or SCOPE_KEY not in (endpoint.get("metadata") or {}):
        endpoint = api.update_webhook_endpoint(endpoint["id"], events=wanted, metadata={SCOPE_KEY: scope})
    return Registration(endpoint, created=False, added=sorted(set(wanted) - before),
                        removed=sorted(before - set(wanted)), others=others)


def is_ours(endpoint: dict[str, Any]) -> bool:
    return SCOPE_KEY in (endpoint.get("metadata") or {}) or urlsplit(endpoint.get("url") or "").path.rstrip(
        "/").endswith(WEBHOOK_PATH)


def endpoint_checks(api: StripeAPI) -> list[EndpointCheck]:
    checks = []
    for endpoint in api.webhook_endpoints():
        enabled = set(endpoint.get("enabled_events") or [])
        missing = [] if "*" in enabled else sorted(event_store.APPLIED_TYPES - enabled)
        checks.append(EndpointCheck(endpoint, is_ours(endpoint), missing))
    return checks


def store_state(engine: Engine) -> StoreState:
    """The event store as the worker sees it, and when the web app last took a webhook (kept in
    ``metric_counters``: a read of the event store's newest arrival would scan it whole).
    ``ConfigError`` when the schema is missing or old."""
    problem = schema.problem(engine)
    if problem is not None:
        raise ConfigError(problem)

    def read(conn: Any) -> StoreState:
        queue = event_store.queue_summary(conn)
        last = counters.read(conn).get(("webhook_last_received_at", ""))
        return StoreState(
            pending=int(queue["pending"] or 0), failed=int(queue["failed"] or 0),
            oldest_pending_received_at=queue["oldest_pending_received_at"],
            last_received_at=None if last is None else int(last),
        )

    return db.read(engine, read)


def problems(checks: list[EndpointCheck], state: StoreState | None) -> list[str]:
    found = [p for c in checks for p in c.problems]
    if not any(c.ours for c in checks):
        found.append(f"no webhook endpoint sends events to the indexer: run "
                     f"`indexer webhooks register https://your-host{WEBHOOK_PATH}`")
    if state is not None and state.failed:
        found.append(f"{state.failed} event(s) failed: see `indexer events --failed`, then "
                     "`indexer events retry --all`")
    return found


# --- what the commands print ------------------------------------------------------------------


def describe_registration(reg: Registration, api_version: str) -> list[str]:
    e = reg.endpoint
    mode = "live" if e.get("livemode") else "test"
    if reg.created:
        lines = [f"created webhook endpoint {e['id']} for {e['url']} ({mode} mode): "
                 f"{len(e.get('enabled_events') or [])} event types at API version {e.get('api_version')}"]
    elif reg.added or reg.removed:
        lines = [f"updated webhook endpoint {e['id']} for {e['url']} ({mode} mode): "
                 f"added {len(reg.added)} event type(s), removed {len(reg.removed)}"]
        lines += [f"  + {name}" for name in reg.added] + [f"  - {name}" for name in reg.removed]
    else:
        lines = [f"webhook endpoint {e['id']} for {e['url']} ({mode} mode) already has every event type: "
                 "nothing changed"]
    if not reg.created:
        lines.append("its signing secret is unchanged (Stripe shows a secret only when it makes the endpoint)")
        if e.get("api_version") != api_version:
            lines.append(f"it renders events at API version {e.get('api_version') or 'of the account'}, not "
                         f"{api_version}: the index reads both invoice shapes, but to change it make a new "
                         "endpoint (Stripe cannot change an endpoint's version)")
    if reg.others:
        lines.append(f"the account has other endpoints for this URL too ({', '.join(reg.others)}): each delivers "
                     "every event again; delete the extra ones in the Dashboard")
    return lines


def describe_endpoints(checks: list[EndpointCheck], api_version: str) -> list[str]:
    if not checks:
        return ["no webhook endpoints in this account and mode"]
    lines = []
    for check in checks:
        e = check.endpoint
        mode = "live" if e.get("livemode") else "test"
        whose = "" if check.ours else "  (not the indexer's: left alone)"
        lines.append(f"{e['id']}  {e.get('url')}  {e.get('status')}  {mode} mode{whose}")
        if not check.ours:
            continue
        version = e.get("api_version") or "the account's"
        note = "" if e.get("api_version") == api_version else f" (the index reads {api_version})"
        lines.append(f"  API version {version}{note}; {len(e.get('enabled_events') or [])} event types enabled")
        if check.missing:
            lines.append(f"  missing: {', '.join(check.missing)}")
        else:
            lines.append("  every event type the index applies is enabled")
    return lines


def describe_store(state: StoreState, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    if state.last_received_at is None:
        last = "no webhook has arrived yet"
    else:
        last = f"last webhook arrived {_ago(now - state.last_received_at)} ago ({_utc(state.last_received_at)})"
    pending = f"{state.pending} pending"
    if state.oldest_pending_received_at is not None:
        pending += f" (oldest received {_ago(now - state.oldest_pending_received_at)} ago)"
    return [f"event store: {last}; {pending}, {state.failed} failed"]


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
