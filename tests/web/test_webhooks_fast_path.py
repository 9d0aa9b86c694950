"""``WebhookFastPath``: the same answers as the Flask view, byte for byte and counted the same,
with the view's machinery skipped when a delivery is stored and no step run twice when not."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine
from werkzeug.test import EnvironBuilder

from indexer import create_app
from indexer.config import Settings
from indexer.ingest import event_store, signatures
from indexer.web import metrics, webhooks
from tests.conftest import WEBHOOK_SECRET, engine_url, make_event, signed

Answer = tuple[str, list[tuple[str, str]], bytes]


def view_only(app: Flask) -> Flask:
    """``app`` answering every request through Flask, as before the fast path."""
    assert isinstance(app.wsgi_app, webhooks.WebhookFastPath)
    app.wsgi_app = app.wsgi_app.wsgi_app  # type: ignore[method-assign]
    return app


@pytest.fixture
def pair(engine: Engine) -> Iterator[tuple[Flask, Flask]]:
    """The app as shipped and the same app without the fast path, on one database."""
    settings = Settings(database_url=engine_url(engine), webhook_secrets=(WEBHOOK_SECRET,), webhook_max_bytes=10_000)
    apps = (create_app(settings), view_only(create_app(settings)))
    yield apps
    for app in apps:
        app.extensions["indexer.engine"].dispose()


def call(app: Flask, body: bytes | None, headers: dict[str, str], *, method: str = "POST",
         length: bool = True) -> Answer:
    """``app`` called as a WSGI server calls it; ``length=False`` sends ``body`` chunked."""
    environ = EnvironBuilder(path="/webhooks/stripe", method=method, headers=headers, data=body).get_environ()
    if not length:
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks: Iterable[bytes] = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    answer = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return started[0][0], started[0][1], answer


def event(event_id: str, **overrides: object) -> bytes:
    return json.dumps(make_event(event_id, **overrides)).encode()


def deliveries(pair: tuple[Flask, Flask]) -> list[dict[str, float]]:
    """Each app's webhook deliveries by outcome, as ``/metrics`` will add them."""
    tallies = [app.extensions.get(metrics.TALLY) for app in pair]
    return [{label: value for (name, label), value in (tally[0].pending() if tally else {}).items()
             if name == "webhook_deliveries"} for tally in tallies]


CASES: dict[str, Callable[[str], tuple[bytes | None, dict[str, str], dict[str, Any]]]] = {
    "stored": lambda n: (event(n), signed(event(n)), {}),
    "duplicate": lambda n: (event("evt_again"), signed(event("evt_again")), {}),
    "stored chunked": lambda n: (event(n), signed(event(n)), {"length": False}),
    "no signature": lambda n: (event(n), {}, {}),
    "another secret": lambda n: (event(n), signed(event(n), "whsec_other"), {}),
    "not JSON": lambda n: (b"{nope", signed(b"{nope"), {}),
    "not an event": lambda n: (b"[]", signed(b"[]"), {}),
    "a malformed id": lambda n: (event("x" + n), signed(event("x" + n)), {}),
    "too large": lambda n: (b"x" * 20_000, signed(b"x" * 20_000), {}),
    "too large chunked": lambda n: (b"x" * 20_000, signed(b"x" * 20_000), {"length": False}),
    "GET": lambda n: (None, {}, {"method": "GET"}),
    "PUT": lambda n: (event(n), signed(event(n)), {"method": "PUT"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_the_view_does(pair: tuple[Flask, Flask], case: str) -> None:
    body = event("evt_again")  # what "duplicate" sends once more
    assert call(pair[0], body, signed(body))[0] == "200 OK"
    before = deliveries(pair)
    answers = []
    for number, app in enumerate(pair):
        body, headers, options = CASES[case](f"evt_{case.replace(' ', '_')}_{number}")
        answers.append(call(app, body, headers, **options))
    fast, view = answers
    assert fast == view
    counted = [{k: v - was.get(k, 0) for k, v in now.items() if v != was.get(k, 0)}
               for now, was in zip(deliveries(pair), before, strict=True)]
    assert counted[0] == counted[1] and len(counted[0]) == (case not in ("GET", "PUT"))


def test_a_stored_delivery_skips_flask_and_a_refused_one_reaches_the_view_once(
        pair: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = pair[0].wsgi_app
    assert isinstance(fast, webhooks.WebhookFastPath)
    flask_calls: list[str] = []
    inner = fast.wsgi_app

    def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        flask_calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    fast.wsgi_app = counted  # type: ignore[assignment]
    verified: list[bytes] = []
    verify = signatures.verify
    monkeypatch.setattr(signatures, "verify", lambda payload, *a, **k: (verified.append(payload), verify(payload, *a, **k))[1])

    body = event("evt_fast")
    assert call(pair[0], body, signed(body))[0] == "200 OK"
    assert (flask_calls, verified) == ([], [body])

    assert call(pair[0], body, signed(body, "whsec_other"))[0] == "400 BAD REQUEST"
    assert (flask_calls, verified) == (["/webhooks/stripe"], [body, body])  # verified once, answered by the view

    assert call(pair[0], None, {}, method="GET")[0] == "405 METHOD NOT ALLOWED"
    assert flask_calls == ["/webhooks/stripe"] * 2


def test_a_database_outage_is_tried_once_and_answered_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing-dir/index.db", webhook_secrets=(WEBHOOK_SECRET,)))
    stores: list[str] = []
    store = event_store.store_event_row
    monkeypatch.setattr(event_store, "store_event_row", lambda engine, row: (stores.append(row["id"]), store(engine, row))[1])
    body = event("evt_outage")
    status, headers, answer = call(app, body, signed(body))
    assert status == "503 SERVICE UNAVAILABLE"
    assert json.loads(answer)["error"]["type"] == "api_error"
    assert stores == ["evt_outage"]
    assert app.extensions[metrics.TALLY][0].pending()[("webhook_deliveries", "failed")] == 1


def test_an_exception_after_the_store_is_the_views_500(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure past every step (here the counting) is answered as any unexpected error is."""
    app = create_app(Settings(database_url=engine_url(engine), webhook_secrets=(WEBHOOK_SECRET,)))
    real = metrics.count_webhook_answer

    def broken(target: Flask | None, status: int, *, duplicate: bool) -> None:
        if target is not None:
            raise RuntimeError("counting broke")
        real(target, status, duplicate=duplicate)

    monkeypatch.setattr(metrics, "count_webhook_answer", broken)
    body = event("evt_late")
    status, _, answer = call(app, body, signed(body))
    assert status == "500 INTERNAL SERVER ERROR"
    assert json.loads(answer)["error"]["message"] == "An unexpected error occurred."
    app.extensions["indexer.engine"].dispose()


def test_the_body_is_read_through_werkzeugs_limited_stream(pair: tuple[Flask, Flask]) -> None:
    """A client that sends less than its Content-Length is refused the same way by both paths."""
    body = event("evt_short")
    answers = []
    for app in pair:
        environ = EnvironBuilder(path="/webhooks/stripe", method="POST", headers=signed(body)).get_environ()
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body[:-10]), str(len(body))
        started: list[str] = []
        answer = b"".join(app(environ, lambda s, h, exc_info=None, into=started: into.append(s)))
        answers.append((started[0], answer))
    assert answers[0] == answers[1]
    assert answers[0][0].startswith("400")
