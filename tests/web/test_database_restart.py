"""A PostgreSQL restart between requests costs no request an error.

Every connection the app kept open dies with the server. A webhook insert and a page read are
safe to run again, so each is retried once on a fresh connection instead of answering 503 (to
Stripe, a 503 means a retry minutes or hours later; to an API client, an error for nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer import create_app, db
from indexer.config import Settings
from tests.conftest import WEBHOOK_SECRET as SECRET
from tests.conftest import make_event, signed, stored

TOKEN = "restart-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(pg_cluster: Any) -> Iterator[Flask]:
    app = create_app(Settings(database_url=pg_cluster.url, webhook_secrets=(SECRET,), api_tokens=(TOKEN,)))
    db.migrate(app.extensions["indexer.engine"])
    yield app
    app.extensions["indexer.engine"].dispose()


def deliver(client: FlaskClient, event_id: str) -> Any:
    body = json.dumps(make_event(event_id)).encode()
    return client.post("/webhooks/stripe", data=body, headers=signed(body))


def read(client: FlaskClient) -> Any:
    """A 404 is the database's answer: it holds no such customer."""
    return client.get("/v1/customers/cus_nobody/products", headers=AUTH)


def test_requests_after_a_restart_are_answered_on_fresh_connections(app: Flask, pg_cluster: Any) -> None:
    client = app.test_client()
    assert (deliver(client, "evt_before").status_code, read(client).status_code) == (200, 404)
    assert client.get("/healthz").status_code == 200
    pg_cluster.stop()
    pg_cluster.start()
    assert deliver(client, "evt_after").status_code == 200
    assert read(client).status_code == 404
    assert client.get("/healthz").status_code == 200
    assert sorted(e["id"] for e in stored(app.extensions["indexer.engine"])) == ["evt_after", "evt_before"]


def test_a_database_that_stays_down_is_503_without_its_address(app: Flask, pg_cluster: Any) -> None:
    client = app.test_client()
    assert (deliver(client, "evt_1").status_code, read(client).status_code) == (200, 404)
    pg_cluster.stop()
    webhook, page, health = deliver(client, "evt_1"), read(client), client.get("/healthz")
    assert (webhook.status_code, page.status_code, health.status_code) == (503, 503, 503)
    assert page.get_json()["error"] == {"type": "api_error", "message": "The database is unavailable; retry later."}
    for response in (webhook, page, health):
        assert str(pg_cluster.port) not in response.get_data(as_text=True)  # the address stays in the log
