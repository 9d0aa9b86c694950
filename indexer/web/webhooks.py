"""``POST /webhooks/stripe``: verify, store durably, answer. No Stripe call happens here.

The answer is 2xx only after the event row is committed, so Stripe retries anything we could not
keep; a duplicate delivery is 200 and changes nothing; what cannot be verified is 400 and leaves
no trace. A body larger than ``INDEXER_WEBHOOK_MAX_BYTES`` is 413 before it is read whole, so an
unsigned flood costs no memory.

The steps live in ``accept``, which two callers share: the Flask view ``receive``, and
``WebhookFastPath``, the WSGI middleware that answers a stored (or duplicate) webhook without
Flask's per-request machinery. Whatever does not succeed there is handed to the view, so every
error is answered by Flask's one error mapping and counted by its hooks, exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from flask import Blueprint, Flask, Response, request
from sqlalchemy import Engine
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length, get_input_stream

from indexer.config import Settings
from indexer.errors import ConfigError
from indexer.ingest import event_store, signatures
from indexer.ingest.event_store import event_row, parse_event
from indexer.web import engine, metrics, settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("webhooks", __name__)
PATH = "/webhooks/stripe"
_RECEIVED = b'{"received": true, "duplicate": false}\n'
_DUPLICATE = b'{"received": true, "duplicate": true}\n'
_CHUNK = 64 * 1024
#: The environ key under which ``WebhookFastPath`` hands the view the exception a step raised.
HANDED_OVER = "indexer.webhook_failure"
log = logging.getLogger(__name__)


@bp.post(PATH)
def receive() -> tuple[Response, int]:
    failure = request.environ.pop(HANDED_OVER, None)
    if failure is not None:
        raise failure
    stored = accept(settings(), engine(), request.stream, request.content_length,
                    request.headers.get("Stripe-Signature"))
    return Response(answer_body(stored), mimetype="application/json"), 200


def answer_body(stored: bool) -> bytes:
    """The body of a 200: the same bytes whoever answers (the view, ``WebhookFastPath``,
    ``indexer.web.asgi.WebhookFront``), which ``/metrics`` reads to count duplicates."""
    return _RECEIVED if stored else _DUPLICATE


def accept(config: Settings, db_engine: Engine, stream: IO[bytes], length: int | None,
           signature: str | None) -> bool:
    """Every step of a delivery, in order: the secret is configured, the body is small enough,
    the signature matches, the body is a storable Stripe event, the row is committed. True when
    stored, False for a duplicate; a failed step raises what the error mapping answers."""
    if not config.webhook_secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set; refusing to store unverified events")
    payload = read_body(stream, length, config.webhook_max_bytes)
    signatures.verify(payload, signature, config.webhook_secrets)
    event = parse_event(payload)
    return event_store.store_event_row(db_engine, event_row(event, payload, source="webhook"))


def read_body(stream: IO[bytes], length: int | None, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed ``limit`` bytes: at once from
    ``Content-Length``, else (a chunked body) once ``limit + 1`` bytes have been read."""
    if length is not None and length > limit:
        raise RequestEntityTooLarge(_too_large(limit))
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


def accept_counted(app: Flask, stream: IO[bytes], length: int | None, signature: str | None) -> bool:
    """``accept`` with ``app``'s settings and engine, a stored delivery counted in ``/metrics``
    as the view counts it: what both front doors (``WebhookFastPath``, ``asgi.WebhookFront``)
    do before answering 200 themselves."""
    stored = accept(app.config["INDEXER_SETTINGS"], app.extensions["indexer.engine"], stream, length, signature)
    metrics.count_webhook_answer(app, 200, duplicate=not stored)
    return stored

class WebhookFastPath:
    """WSGI middleware (``app.wsgi_app``) that answers ``POST /webhooks/stripe`` itself when
    every step of ``accept`` succeeds, and hands anything else to Flask.

    Why: a webhook is the one request that arrives in bursts of thousands, and Flask's
    per-request machinery (request and app contexts, the session the dashboard signs, URL
    matching, the response object and its hooks) cost the web process about as much CPU as
    the delivery's own steps, on CPU it shares with PostgreSQL (``bench/webhook_ingest.py``).
    The answer is the view's, byte for byte, counted in ``/metrics`` as the view's is. A step
    that raises hands its exception to the view (``HANDED_OVER``), which raises it again, so
    errors keep their one mapping, their logging and their counting; no step runs twice.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        app = self.app
        try:
            stored = accept_counted(app, get_input_stream(environ, max_content_length=app.config["MAX_CONTENT_LENGTH"]),
                                    get_content_length(environ), environ.get("HTTP_STRIPE_SIGNATURE"))
        except Exception as exc:  # noqa: BLE001 - handed to the view, which raises it again
            environ[HANDED_OVER] = exc
            return self.wsgi_app(environ, start_response)
        body = answer_body(stored)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def install(app: Flask) -> None:
    """Put ``WebhookFastPath`` in front of ``app``'s own WSGI callable (every server and the
    test client go through it)."""
    app.wsgi_app = WebhookFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
