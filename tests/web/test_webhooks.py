"""POST /webhooks/stripe: verified, stored durably once, answered without calling Stripe."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from indexer import create_app, db, models
from indexer.config import Settings
from indexer.ingest import signatures
from tests.conftest import engine_url

SECRET = "whsec_test_secret"
OLD_SECRET = "whsec_old_secret"


def make_event(event_id: str = "evt_1", **overrides: object) -> dict:
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_760_000_000,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_1", "object": "checkout.session", "created": 1_760_000_000}},
    }
    event.update(overrides)
    return event


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {"Stripe-Signature": f"t={t},v1={signatures.sign(body, secret, t)}", "Content-Type": "application/json"}


@pytest.fixture
def client(engine: Engine) -> Iterator[FlaskClient]:
    settings = Settings(database_url=engine_url(engine), webhook_secrets=(OLD_SECRET, SECRET))
    app = create_app(settings)
    yield app.test_client()
    app.extensions["indexer.engine"].dispose()


def stored(engine: Engine) -> list[dict]:
    with db.transaction(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(select(models.events_t))]


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
