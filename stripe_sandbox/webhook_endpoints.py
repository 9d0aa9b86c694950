"""Stripe's ``/v1/webhook_endpoints``, and the deliveries each registered endpoint then gets.

An endpoint made through the API gets a :class:`~.webhooks.WebhookSender` of its own, from the
moment it exists (Stripe sends a new endpoint no history): the events of its mode and account
(with ``connect``, those of connected accounts instead), of its ``enabled_events``, rendered at
its ``api_version`` (or each event's own version when it has none) and signed with its own
``secret``. The secret is in the create response only: Stripe shows it once. An update changes
what the sender delivers from then on; a disabled or deleted endpoint gets nothing more.

Parameters and event types are checked against the SDK's generated params classes, as the other
routes are.
"""

from __future__ import annotations

import secrets
import typing
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import stripe.params as sdk_params

from . import records as r
from .endpoints import Endpoints, Request
from .errors import invalid, missing_param
from .params import check_known, get_bool, get_list, get_metadata, get_str, merge_metadata

SECRET_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ENDPOINT_SENDER_THREADS = 2


@cache
def _literals(params_class: str, field: str) -> frozenset[str]:
    """The values an SDK params class allows for ``field`` (a ``Literal`` or a list of one)."""
    annotation = getattr(sdk_params, params_class).__annotations__[field]
    while typing.get_origin(annotation) is not typing.Literal:
        annotation = typing.get_args(annotation)[0]
    return frozenset(typing.get_args(annotation))


def event_types() -> frozenset[str]:
    """Every value ``enabled_events`` accepts, ``*`` included."""
    return _literals("WebhookEndpointCreateParams", "enabled_events")


def api_versions() -> frozenset[str]:
    return _literals("WebhookEndpointCreateParams", "api_version")


class WebhookEndpointRoutes(Endpoints):
    """Create, retrieve, update, list and delete webhook endpoints; each one delivers."""

    def add_routes(self) -> None:
        add = self.route
        add("POST", "/v1/webhook_endpoints", self.create_webhook_endpoint)
        add("GET", "/v1/webhook_endpoints", self.list_webhook_endpoints)
        add("GET", "/v1/webhook_endpoints/{id}",
            self.retrieve("webhook_endpoint", "WebhookEndpointRetrieveParams"))
        add("POST", "/v1/webhook_endpoints/{id}", self.update_webhook_endpoint)
        add("DELETE", "/v1/webhook_endpoints/{id}", self.delete_webhook_endpoint)
        super().add_routes()

    def create_webhook_endpoint(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "WebhookEndpointCreateParams")
        url = _url(get_str(p, "url", required=True))
        if "enabled_events" not in p:
            raise missing_param("enabled_events")
        events = _events(p)
        api_version = get_str(p, "api_version") or None
        if api_version is not None and api_version not in api_versions():
            raise invalid(f"Invalid api_version: {api_version}", "api_version")
        live, account = req.scope
        endpoint = r.WebhookEndpoint(
            id=self.store.new_id("we", live), created=req.now, live=live, account=account,
            url=url, enabled_events=events, api_version=api_version,
            secret="whsec_" + "".join(secrets.choice(SECRET_ALPHABET) for _ in range(32)),
            connect=bool(get_bool(p, "connect")), description=get_str(p, "description") or None,
            metadata=get_metadata(p) or {})
        self.store.insert(endpoint)
        self._deliver_to(endpoint)
        return {**self.out(req, endpoint), "secret": endpoint.secret}

    def update_webhook_endpoint(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "WebhookEndpointUpdateParams")
        endpoint = self.get(req, "webhook_endpoint", args[0])
        changes: dict[str, Any] = {}
        if "url" in p:
            changes["url"] = _url(get_str(p, "url"))
        if "enabled_events" in p:
            changes["enabled_events"] = _events(p)
        if "description" in p:
            changes["description"] = get_str(p, "description") or None
        disabled = get_bool(p, "disabled")
        if disabled is not None:
            changes["status"] = "disabled" if disabled else "enabled"
        meta = get_metadata(p)
        if meta is not None:
            changes["metadata"] = merge_metadata(endpoint.metadata, meta)
        endpoint = self.store.update(endpoint, **changes)
        self._deliver_to(endpoint)
        return self.out(req, endpoint)

    def list_webhook_endpoints(self, req: Request, args: list[str]) -> dict[str, Any]:
        return self.page(req, "webhook_endpoint", "/v1/webhook_endpoints",
                         "WebhookEndpointListParams")

    def delete_webhook_endpoint(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "WebhookEndpointDeleteParams")
        endpoint = self.get(req, "webhook_endpoint", args[0])
        self.store.delete(endpoint)
        sender = self.endpoint_senders.pop(endpoint.id, None)
        if sender is not None:
            sender.stop(timeout=0)
        return {"id": endpoint.id, "object": "webhook_endpoint", "deleted": True}

    # -- deliveries -------------------------------------------------------------------------
    def _deliver_to(self, endpoint: r.WebhookEndpoint) -> None:
        """Start (or re-aim) the endpoint's sender; a new URL means a new sender."""
        sender = self.endpoint_senders.get(endpoint.id)
        if sender is not None and sender.url != endpoint.url:
            sender.stop(timeout=0)
            sender = None
        if sender is None:
            from .webhooks import WebhookSender

            sender = WebhookSender(
                self.store, endpoint.url, endpoint.secret, api_version=endpoint.api_version,
                backlog=False, concurrency=ENDPOINT_SENDER_THREADS, livemode=endpoint.live,
                connect=endpoint.connect if endpoint.account is None else None,
                account=None if endpoint.connect else endpoint.account,
                events=endpoint.enabled_events)
            self.endpoint_senders[endpoint.id] = sender.start()
        sender.events = frozenset(endpoint.enabled_events)
        sender.enabled = endpoint.status == "enabled"

    def stop_deliveries(self) -> None:
        for sender in self.endpoint_senders.values():
            sender.stop(timeout=1)
        self.endpoint_senders.clear()


def _url(url: str | None) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"Invalid URL: {url!r}: must be an http(s) URL with a host", "url",
                      "url_invalid")
    return url or ""


def _events(p: dict[str, Any]) -> tuple[str, ...]:
    events = [str(x) for x in get_list(p, "enabled_events")]
    if not events:
        raise invalid("enabled_events must name at least one event type, or '*'.",
                      "enabled_events")
    known = event_types()
    for i, name in enumerate(events):
        if name not in known:
            raise invalid(f"Invalid enabled_events[{i}]: {name!r} is not an event type",
                          f"enabled_events[{i}]")
    return tuple(dict.fromkeys(events))
