"""``POST /webhooks/stripe``: verify, store durably, answer. No Stripe call happens here.

The answer is 2xx only after the event row is committed, so Stripe retries anything we could not
keep; a duplicate delivery is 200 and changes nothing; what cannot be verified is 400 and leaves
no trace.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from indexer.errors import ConfigError
from indexer.ingest import event_store, signatures
from indexer.ingest.event_store import event_row, parse_event
from indexer.web import engine, settings

bp = Blueprint("webhooks", __name__)
_RECEIVED = b'{"received": true, "duplicate": false}\n'
_DUPLICATE = b'{"received": true, "duplicate": true}\n'
log = logging.getLogger(__name__)


@bp.post("/webhooks/stripe")
def receive() -> tuple[Response, int]:
    secrets = settings().webhook_secrets
    if not secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set; refusing to store unverified events")
    payload = request.get_data(cache=False)
    signatures.verify(payload, request.headers.get("Stripe-Signature"), secrets)
    event = parse_event(payload)
    stored = event_store.store_event_row(engine(), event_row(event, payload, source="webhook"))
    return Response(_RECEIVED if stored else _DUPLICATE, mimetype="application/json"), 200
