"""POST /webhooks/stripe: verified, stored durably once, answered without calling Stripe."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import EnvironBuilder

from indexer import create_app, db
from indexer.config import Settings
from indexer.errors import ConfigError
from indexer.ingest import signatures
from tests.conftest import WEBHOOK_SECRET, engine_url, make_event, signed, stored

SECRET = WEBHOOK_SECRET
OLD_SECRET = "whsec_old_secret"


@pytest.fixture
def client(engine: Engine) -> Iterator[FlaskClient]:
    settings = Settings(database_url=engine_url(engine), webhook_secrets=(OLD_SECRET, SECRET))
    app = create_app(settings)
    yield app.test_client()
    app.extensions["indexer.engine"].dispose()


def test_a_verified_event_is_stored_verbatim(client: FlaskClient, engine: Engine) -> None:
    body = json.dumps(make_event(account="acct_123"), indent=1).encode() + b"\n"
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 200
    [row] = stored(engine)
    assert row["payload"] == body.decode()
    assert (row["id"], row["type"], row["status"], row["account"], row["livemode"]) == (
        "evt_1", "checkout.session.completed", "pending", "acct_123", False)
    assert row["api_version"] == "2026-10-28.endive"
    assert row["object_id"] == "cs_test_1"


def test_a_duplicate_delivery_is_2xx_and_changes_nothing(client: FlaskClient, engine: Engine) -> None:
    body = json.dumps(make_event()).encode()
    assert client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code == 200
    before = stored(engine)
    again = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True
    assert stored(engine) == before


def test_the_old_secret_still_verifies_while_rotating(client: FlaskClient, engine: Engine) -> None:
    body = json.dumps(make_event()).encode()
    assert client.post("/webhooks/stripe", data=body, headers=signed(body, OLD_SECRET)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "t=1,v1=deadbeef"},
        "wrong-secret",
        "stale",
    ],
    ids=["missing", "garbage", "wrong-secret", "stale"],
)
def test_unverifiable_requests_are_400_and_store_nothing(
    client: FlaskClient, engine: Engine, headers: object
) -> None:
    body = json.dumps(make_event()).encode()
    if headers == "wrong-secret":
        headers = signed(body, "whsec_forged")
    elif headers == "stale":
        headers = signed(body, timestamp=int(time.time()) - 301)
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert stored(engine) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"object": "charge"}).encode(),
     json.dumps(make_event(id="nope")).encode(), json.dumps(make_event(data={})).encode()],
)
def test_signed_bodies_that_are_not_stripe_events_are_400(client: FlaskClient, engine: Engine, body: bytes) -> None:
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 400
    assert stored(engine) == []


def test_without_a_configured_secret_the_endpoint_is_500_and_stores_nothing(engine: Engine) -> None:
    app = create_app(Settings(database_url=engine_url(engine)))
    body = json.dumps(make_event()).encode()
    response = app.test_client().post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 500
    assert "STRIPE_WEBHOOK_SECRET" in response.get_json()["error"]["message"]
    assert stored(engine) == []


def test_a_database_outage_is_5xx_so_stripe_retries(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/missing-dir/index.db", webhook_secrets=(SECRET,))
    body = json.dumps(make_event()).encode()
    response = create_app(settings).test_client().post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 503
    assert response.get_json()["error"]["type"] == "api_error"


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing-dir/index.db"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_a_postgres_outage_mid_traffic_is_503_then_stores_again_when_it_is_back(pg_cluster: Any) -> None:
    """The pooled connections die with the server; nothing answered 200 is lost."""
    settings = Settings(database_url=pg_cluster.url, webhook_secrets=(SECRET,))
    app = create_app(settings)
    engine = app.extensions["indexer.engine"]
    db.migrate(engine)
    client = app.test_client()

    def deliver(event_id: str) -> int:
        body = json.dumps(make_event(event_id)).encode()
        return client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code

    try:
        assert deliver("evt_before") == 200
        pg_cluster.stop()
        response_codes = [deliver(f"evt_down_{i}") for i in range(3)]
        assert response_codes == [503, 503, 503]
        pg_cluster.start()
        assert deliver("evt_down_0") == 200
        assert deliver("evt_before") == 200
        engine.dispose()  # the pool still holds connections from before the restart
        assert sorted(e["id"] for e in stored(engine)) == ["evt_before", "evt_down_0"]
    finally:
        engine.dispose()


# --- hardening (issue 16): what a signed or unsigned attacker can send ---------------------


class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes that counts how much of it the app read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b"{" * n
        self.read_bytes += n
        return n


@pytest.fixture
def small_app(engine: Engine) -> Iterator[Any]:
    """The app with ``INDEXER_WEBHOOK_MAX_BYTES`` at 10,000."""
    settings = Settings(database_url=engine_url(engine), webhook_secrets=(SECRET,), webhook_max_bytes=10_000)
    app = create_app(settings)
    yield app
    app.extensions["indexer.engine"].dispose()


def post_stream(app: Any, stream: Any, headers: dict[str, str], content_length: int | None) -> tuple[int, dict]:
    """POST ``stream`` as the body the way a WSGI server hands it over: with a Content-Length,
    or chunked (no length; the server marks the input as terminated)."""
    environ = EnvironBuilder(path="/webhooks/stripe", method="POST", headers=headers).get_environ()
    environ["wsgi.input"] = stream
    if content_length is None:
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
    return int(status[0].split()[0]), json.loads(body)


def test_a_body_over_the_limit_is_413_before_it_is_read(small_app: Any, engine: Engine) -> None:
    stream = CountingStream(50_000_000)
    status, answer = post_stream(small_app, stream, {"Stripe-Signature": "t=1,v1=00"}, 50_000_000)
    assert status == 413
    assert answer["error"]["type"] == "invalid_request_error"
    assert "INDEXER_WEBHOOK_MAX_BYTES" in answer["error"]["message"]
    assert stream.read_bytes == 0
    assert stored(engine) == []


def test_a_chunked_body_over_the_limit_is_413_once_the_limit_is_passed(small_app: Any, engine: Engine) -> None:
    """No Content-Length (``Transfer-Encoding: chunked``): the read stops just past the limit."""
    stream = CountingStream(50_000_000)
    status, _ = post_stream(small_app, stream, {"Stripe-Signature": "t=1,v1=00"}, None)
    assert status == 413
    assert stream.read_bytes <= 10_001 + 64 * 1024
    assert stored(engine) == []


def test_a_chunked_body_under_the_limit_is_stored(small_app: Any, engine: Engine) -> None:
    body = json.dumps(make_event()).encode()
    status, answer = post_stream(small_app, io.BytesIO(body), signed(body), None)
    assert (status, answer) == (200, {"received": True, "duplicate": False})
    assert [row["payload"] for row in stored(engine)] == [body.decode()]


def event_of_size(size: int, event_id: str) -> bytes:
    event = make_event(event_id)
    event["data"]["object"]["padding"] = ""
    bare = len(json.dumps(event).encode())
    event["data"]["object"]["padding"] = "x" * (size - bare)
    body = json.dumps(event).encode()
    assert len(body) == size
    return body


def test_the_default_limit_is_one_mebibyte(client: FlaskClient, engine: Engine) -> None:
    for size, status in ((1024 * 1024, 200), (1024 * 1024 + 1, 413)):
        body = event_of_size(size, f"evt_size_{size}")
        assert client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code == status
    assert [row["id"] for row in stored(engine)] == [f"evt_size_{1024 * 1024}"]


def test_the_limit_is_a_setting() -> None:
    assert Settings.from_env({"INDEXER_WEBHOOK_MAX_BYTES": "2048"}).webhook_max_bytes == 2048
    assert Settings.from_env({}).webhook_max_bytes == 1024 * 1024
    for bad in ("0", "-1", "1e6", "lots"):
        with pytest.raises(ConfigError, match="INDEXER_WEBHOOK_MAX_BYTES"):
            Settings.from_env({"INDEXER_WEBHOOK_MAX_BYTES": bad})


@pytest.mark.parametrize("v1", ["é" * 64, "ÿ", "\x7f" * 64, "a" * 10_000])
def test_any_v1_value_is_a_mismatch_never_an_error(client: FlaskClient, engine: Engine, v1: str) -> None:
    body = json.dumps(make_event()).encode()
    header = f"t={int(time.time())},v1={v1}".encode().decode("latin-1")
    response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert stored(engine) == []


@pytest.mark.parametrize("t", ["١٢٣", "1_760_000_000", "+1760000000", "9" * 400, ""])
def test_a_timestamp_that_is_not_plain_digits_is_400(client: FlaskClient, t: str) -> None:
    body = json.dumps(make_event()).encode()
    header = f"t={t},v1={signatures.sign(body, SECRET, 0)}".encode().decode("latin-1")
    assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header}).status_code == 400


def with_object(**fields: Any) -> dict:
    event = make_event()
    event["data"]["object"].update(fields)
    return event


SIGNED_BUT_UNSTORABLE = {
    "id over 255": make_event("evt_" + "x" * 252),
    "type over 128": make_event(type="checkout.session." + "x" * 112),
    "api_version over 64": make_event(api_version="2026-10-28." + "x" * 60),
    "account over 255": make_event(account="acct_" + "x" * 251),
    "object id over 255": with_object(id="cs_" + "x" * 253),
    "created true": make_event(created=True),
    "created 2**70": make_event(created=2**70),
    "created negative": make_event(created=-1),
    "created float": make_event(created=1.5),
    "NUL in id": make_event("evt_\x00"),
    "NUL in type": make_event(type="checkout.session.completed\x00"),
    "NUL in a nested value": with_object(customer_details={"name": "Ann\x00Lee"}),
    "NUL in a key": with_object(**{"meta\x00data": "x"}),
    "unpaired surrogate": with_object(customer_details={"name": "Ann\ud800"}),
}


@pytest.mark.parametrize("event", SIGNED_BUT_UNSTORABLE.values(), ids=SIGNED_BUT_UNSTORABLE.keys())
def test_signed_events_the_columns_cannot_take_are_400_not_500(
    client: FlaskClient, engine: Engine, event: dict
) -> None:
    """Stripe retries a 5xx for three days; a body that can never be stored is a 400 at once."""
    body = json.dumps(event).encode()
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 400, response.get_json()
    assert stored(engine) == []


def test_a_body_that_is_not_utf8_is_400(client: FlaskClient, engine: Engine) -> None:
    for body in (json.dumps(make_event()).encode("utf-16"), b'{"id": "evt_\xff"}'):
        assert client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code == 400
    assert stored(engine) == []


def test_escaped_text_that_a_database_takes_is_kept_verbatim(client: FlaskClient, engine: Engine) -> None:
    """A literal backslash before ``u0000``, an escaped emoji pair, escaped accents: all fine."""
    event = with_object(customer_details={"name": "Zoë \\u0000 😀"})
    body = json.dumps(event).encode()
    assert b"\\\\u0000" in body and b"\\ud83d\\ude00" in body
    assert client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code == 200
    assert [row["payload"] for row in stored(engine)] == [body.decode()]
