"""``indexer.web.asgi``, the front the ``Procfile``'s workers serve, called as uvicorn calls it:
webhooks answered as the Flask view answers them, byte for byte and counted the same, with Flask
skipped for a stored delivery; every other request (the dashboard's session and forms, the CSV
download streamed, ``/metrics``, ``/healthz``, the query API's errors) answered by Flask as
before; the access log without query strings."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from a2wsgi import WSGIMiddleware
from flask import Flask
from sqlalchemy import Engine

from indexer import create_app
from indexer.config import Settings
from indexer.web import asgi, webhooks
from tests.conftest import WEBHOOK_SECRET, Shop, engine_url, many_buyers, signed
from tests.web.conftest import API_TOKEN, TOKEN, csrf_of, make_app
from tests.web.test_webhooks_fast_path import CASES, deliveries, event, view_only

SESSION_COOKIE = "indexer_dashboard"


class Answer:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status: int = start["status"]
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
        self.pieces = [m.get("body", b"") for m in messages[1:] if m["type"] == "http.response.body"]
        self.body = b"".join(self.pieces)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def call(app: Any, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         *, length: bool = True, piece: int = 4096) -> Answer:
    """``app`` called as uvicorn calls it, ``body`` sent in pieces of ``piece`` bytes (chunked,
    without a ``Content-Length``, when ``length`` is false)."""
    target = urllib.parse.urlsplit(path)
    sent = {k.lower(): v for k, v in (headers or {}).items()}
    if body is not None and length:
        sent["content-length"] = str(len(body))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": target.path, "raw_path": target.path.encode(), "query_string": target.query.encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent.items()],
    }
    data = body or b""
    incoming = [{"type": "http.request", "body": data[i:i + piece], "more_body": i + piece < len(data)}
                for i in range(0, max(len(data), 1), piece)]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    return Answer(messages)


@pytest.fixture
def pair(engine: Engine) -> Iterator[tuple[Flask, Flask]]:
    """The app as shipped and the same app without the fast path, on one database."""
    settings = Settings(database_url=engine_url(engine), webhook_secrets=(WEBHOOK_SECRET,),
                        webhook_max_bytes=10_000)
    apps = (create_app(settings), view_only(create_app(settings)))
    yield apps
    for app in apps:
        app.extensions["indexer.engine"].dispose()


def test_our_app_gets_the_front_and_any_other_wsgi_app_only_the_adapter(pair: tuple[Flask, Flask]) -> None:
    assert isinstance(asgi.front(pair[0], 4), asgi.WebhookFront)
    assert type(asgi.front(pair[1], 4)) is WSGIMiddleware
    assert type(asgi.front(Flask("other"), 4)) is WSGIMiddleware


@pytest.mark.parametrize("case", list(CASES))
def test_the_front_answers_webhooks_as_the_view_does(pair: tuple[Flask, Flask], case: str) -> None:
    """The view, served through the same adapter, is the reference: same status, same body,
    same headers, same count in ``/metrics``."""
    fronts = (asgi.front(pair[0], 2), asgi.front(pair[1], 2))
    body = event("evt_again")
    assert call(fronts[0], "POST", webhooks.PATH, body, signed(body)).status == 200
    before = deliveries(pair)
    answers = []
    for number, front in enumerate(fronts):
        sent, headers, options = CASES[case](f"evt_{case.replace(' ', '_')}_{number}")
        answer = call(front, options.get("method", "POST"), webhooks.PATH, sent, headers,
                      length=options.get("length", True))
        answers.append((answer.status, answer.header("content-type"), answer.header("content-length"), answer.body))
    assert answers[0] == answers[1]
    counted = [{k: v - was.get(k, 0) for k, v in now.items() if v != was.get(k, 0)}
               for now, was in zip(deliveries(pair), before, strict=True)]
    assert counted[0] == counted[1] and len(counted[0]) == (case not in ("GET", "PUT"))


def test_a_stored_delivery_skips_flask_and_a_refused_one_reaches_the_view_once(pair: tuple[Flask, Flask]) -> None:
    fast = pair[0].wsgi_app
    assert isinstance(fast, webhooks.WebhookFastPath)
    flask_calls: list[tuple[str, str | None]] = []
    inner = fast.wsgi_app

    def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        failure = environ.get(webhooks.HANDED_OVER)
        flask_calls.append((environ["PATH_INFO"], type(failure).__name__ if failure else None))
        return inner(environ, start_response)

    fast.wsgi_app = counted  # type: ignore[assignment]
    front = asgi.front(pair[0], 2)
    body = event("evt_front")
    stored = call(front, "POST", webhooks.PATH, body, signed(body))
    assert (stored.status, json.loads(stored.body)) == (200, {"received": True, "duplicate": False})
    again = call(front, "POST", webhooks.PATH, body, signed(body))
    assert json.loads(again.body) == {"received": True, "duplicate": True}
    assert flask_calls == []

    refused = call(front, "POST", webhooks.PATH, body, signed(body, "whsec_other"))
    assert refused.status == 400 and json.loads(refused.body)["error"]["type"] == "invalid_request_error"
    assert flask_calls == [(webhooks.PATH, "SignatureError")]  # the view answers with the front's failure

    assert call(front, "GET", webhooks.PATH).status == 405
    assert flask_calls[1:] == [(webhooks.PATH, None)]


def test_a_body_over_the_limit_is_refused_without_being_read_whole(pair: tuple[Flask, Flask]) -> None:
    """Sent chunked in pieces of 1,000 bytes, 100,000 bytes against a limit of 10,000: the
    front stops reading past the limit and the view answers 413."""
    read: list[int] = []
    front = asgi.front(pair[0], 2)
    body = b"x" * 100_000
    messages = [{"type": "http.request", "body": body[i:i + 1000], "more_body": True} for i in range(0, 100_000, 1000)]
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": webhooks.PATH, "raw_path": webhooks.PATH.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"stripe-signature", b"t=1,v1=00")], "client": ("127.0.0.1", 1), "server": ("x", 80)}

    async def receive() -> dict[str, Any]:
        read.append(1)
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    assert Answer(sent).status == 413
    assert 10 <= len(read) <= 12


def test_the_dashboard_signs_in_and_streams_the_csv_through_the_front(engine: Engine, shop: Shop) -> None:
    shop.product("prod_A", "Premiere")
    many_buyers(shop, "prod_A", 1200)
    app = make_app(engine)
    try:
        front = asgi.front(app, 2)
        form = call(front, "GET", "/dashboard/sign-in")
        assert form.status == 200
        cookie = (form.header("set-cookie") or "").split(";", 1)[0]
        fields = urllib.parse.urlencode({"token": TOKEN, "csrf_token": csrf_of(form.body.decode()), "next": "/dashboard/"})
        signed_in = call(front, "POST", "/dashboard/sign-in", fields.encode(),
                         {"content-type": "application/x-www-form-urlencoded", "cookie": cookie})
        assert signed_in.status == 302 and signed_in.header("location") == "/dashboard/"
        session = (signed_in.header("set-cookie") or "").split(";", 1)[0]
        assert session.startswith(f"{SESSION_COOKIE}=")
        assert call(front, "GET", "/dashboard/", headers={"cookie": session}).status == 200
        assert call(front, "GET", "/dashboard/").status == 302

        download = call(front, "GET", "/dashboard/products/prod_A/customers.csv", headers={"cookie": session})
        reference = app.test_client()
        reference.set_cookie(SESSION_COOKIE, session.split("=", 1)[1])
        expected = reference.get("/dashboard/products/prod_A/customers.csv")
        assert download.status == 200 and download.header("content-type") == expected.headers["Content-Type"]
        assert download.body == expected.data and download.body.count(b"\n") == 1201
        assert len([piece for piece in download.pieces if piece]) >= 2  # sent as it was written, not held whole
    finally:
        app.extensions["indexer.engine"].dispose()


def test_metrics_health_and_the_query_api_answer_as_before(engine: Engine) -> None:
    app = make_app(engine, webhook_secrets=(WEBHOOK_SECRET,))
    try:
        front = asgi.front(app, 2)
        body = event("evt_counted")
        assert call(front, "POST", webhooks.PATH, body, signed(body)).status == 200
        health = call(front, "GET", "/healthz")
        assert (health.status, json.loads(health.body)) == (200, {"status": "ok"})
        scrape = call(front, "GET", "/metrics")
        assert scrape.status == 200
        assert 'indexer_webhook_deliveries_total{outcome="stored"} 1.0' in scrape.body.decode()
        reference = app.test_client()
        bearer = {"authorization": f"Bearer {API_TOKEN}"}
        for path, headers in [("/v1/products/prod_1/customers", {}), ("/v1/products/prod_1/customers?limit=0", bearer),
                              ("/v1/products/prod_1/customers", bearer), ("/v1/nothing-here", bearer)]:
            answer = call(front, "GET", path, headers=headers)
            expected = reference.get(path, headers=headers)
            assert answer.status == expected.status_code and answer.status >= 400, path
            assert (answer.header("content-type"), answer.body) == (expected.headers["Content-Type"], expected.data)
            assert json.loads(answer.body)["error"]["message"].count("\n") == 0
    finally:
        app.extensions["indexer.engine"].dispose()


def test_the_access_log_line_keeps_the_path_without_its_query_string() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/v1/products/p/customers?token=tok_secret", "1.1", 401), None)
    assert asgi.AccessLogFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /v1/products/p/customers HTTP/1.1" 401'
