"""``POST /webhooks/stripe``: verify, store durably, answer. No Stripe call happens here.

The answer is 2xx only after the event row is committed, so Stripe retries anything we could not
keep; a duplicate delivery is 200 and changes nothing; what cannot be verified is 400 and leaves
no trace. A body larger than ``INDEXER_WEBHOOK_MAX_BYTES`` is 413 before it is read whole, so an
unsigned flood costs no memory.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from indexer.errors import ConfigError
from indexer.ingest import event_store, signatures
from indexer.ingest.event_store import event_row, parse_event
from indexer.web import engine, settings

bp = Blueprint("webhooks", __name__)
_RECEIVED = b'{"received": true, "duplicate": false}\n'
_DUPLICATE = b'{"received": true, "duplicate": true}\n'
_CHUNK = 64 * 1024
log = logging.getLogger(__name__)


@bp.post("/webhooks/stripe")
def receive() -> tuple[Response, int]:
    config = settings()
    if not config.webhook_secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set; refusing to store unverified events")
    payload = read_body(config.webhook_max_bytes)
    signatures.verify(payload, request.headers.get("Stripe-Signature"), config.webhook_secrets)
    event = parse_event(payload)
    stored = event_store.store_event_row(engine(), event_row(event, payload, source="webhook"))
    return Response(_RECEIVED if stored else _DUPLICATE, mimetype="application/json"), 200


def read_body(limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed ``limit`` bytes: at once from
    ``Content-Length``, else (a chunked body) once ``limit + 1`` bytes have been read."""
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge(_too_large(limit))
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(_too_large(limit))


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes (INDEXER_WEBHOOK_MAX_BYTES); Stripe's events are far smaller."
