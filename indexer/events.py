"""The event store: one row per Stripe event id, its payload kept verbatim.

Webhooks and the catch-up both land here; the worker (``indexer.worker``) applies what is stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, func, select

from indexer.db import events_t, insert_event
from indexer.errors import SignatureError

SESSION_TYPES = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
INVOICE_TYPES = frozenset(
    {"invoice.paid", "invoice.payment_succeeded", "invoice.voided", "invoice.marked_uncollectible"}
)
REFUND_TYPES = frozenset(
    {"charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
)
DISPUTE_TYPES = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
PRODUCT_TYPES = frozenset({"product.created", "product.updated", "product.deleted"})
APPLIED_TYPES = SESSION_TYPES | INVOICE_TYPES | REFUND_TYPES | DISPUTE_TYPES | PRODUCT_TYPES


def parse_event(payload: bytes) -> dict[str, Any]:
    """Parse and sanity-check a Stripe event; anything else is a ``SignatureError`` (HTTP 400)."""
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise SignatureError("body is not a Stripe event")
    problems = [
        name
        for name, ok in (
            ("id", isinstance(event.get("id"), str) and event["id"].startswith("evt_")),
            ("type", isinstance(event.get("type"), str) and event["type"] != ""),
            ("created", isinstance(event.get("created"), int)),
            ("livemode", isinstance(event.get("livemode"), bool)),
            ("data.object", isinstance(event.get("data"), dict) and isinstance(event["data"].get("object"), dict)),
            ("account", event.get("account") is None or isinstance(event.get("account"), str)),
        )
        if not ok
    ]
    if problems:
        raise SignatureError(f"Stripe event has a missing or malformed {', '.join(problems)}")
    return event


def event_row(event: dict[str, Any], payload: bytes | str, *, source: str) -> dict[str, Any]:
    now = int(time.time())
    obj = event["data"]["object"]
    return {
        "id": event["id"],
        "type": event["type"],
        "api_version": event.get("api_version"),
        "created": event["created"],
        "livemode": event["livemode"],
        "account": event.get("account") or "",
        "object_id": obj.get("id") if isinstance(obj.get("id"), str) else None,
        "payload": payload.decode() if isinstance(payload, bytes) else payload,
        "source": source,
        "status": "pending",
        "attempts": 0,
        "available_at": 0,
        "received_at": now,
    }


def store_event(conn: Connection, payload: bytes | str, *, source: str) -> bool:
    """Store one event verbatim; False when it was already stored (a duplicate changes nothing)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    event = parse_event(raw)
    return insert_event(conn, event_row(event, raw, source=source))


def newest_event_created(conn: Connection, *, account: str, livemode: bool) -> int | None:
    e = events_t.c
    return conn.execute(
        select(func.max(e.created)).where(e.account == account, e.livemode == livemode)
    ).scalar_one_or_none()
