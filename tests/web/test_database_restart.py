"""A PostgreSQL restart between requests costs no request an error.

Every connection the app kept open dies with the server. A webhook insert and a page read are
safe to run again, so each is retried once on a fresh connection instead of answering 503 (to
Stripe, a 503 means a retry minutes or hours later; to an API client, an error for nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from indexer import create_app, db
from indexer.config import Settings
from tests.pgcluster import Cluster
from tests.web.test_webhooks import SECRET, make_event, signed, stored

TOKEN = "restart-token"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        cluster = Cluster()
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster here: {exc}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_requests_after_a_restart_are_answered_on_fresh_connections(cluster: Cluster) -> None:
    app = create_app(Settings(database_url=cluster.url, webhook_secrets=(SECRET,), api_tokens=(TOKEN,)))
    engine = app.extensions["indexer.engine"]
    db.migrate(engine)
    client: FlaskClient = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def deliver(event_id: str) -> int:
        body = json.dumps(make_event(event_id)).encode()
        return client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code

    def read() -> int:
        """404 is the database's answer: it holds no such customer."""
        return client.get("/v1/customers/cus_nobody/products", headers=auth).status_code

    try:
        assert (deliver("evt_before"), read(), client.get("/healthz").status_code) == (200, 404, 200)
        cluster.stop()
        cluster.start()
        assert deliver("evt_after") == 200
        assert read() == 404
        assert client.get("/healthz").status_code == 200
        assert sorted(e["id"] for e in stored(engine)) == ["evt_after", "evt_before"]
    finally:
        engine.dispose()


def test_a_database_that_stays_down_is_still_503(cluster: Cluster) -> None:
    app = create_app(Settings(database_url=cluster.url, webhook_secrets=(SECRET,), api_tokens=(TOKEN,)))
    engine = app.extensions["indexer.engine"]
    db.migrate(engine)
    client = app.test_client()
    body = json.dumps(make_event("evt_1")).encode()
    try:
        assert client.post("/webhooks/stripe", data=body, headers=signed(body)).status_code == 200
        assert client.get("/v1/customers/cus_nobody/products", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        cluster.stop()
        webhook = client.post("/webhooks/stripe", data=body, headers=signed(body))
        page = client.get("/v1/customers/cus_nobody/products", headers={"Authorization": f"Bearer {TOKEN}"})
        health = client.get("/healthz")
        assert (webhook.status_code, page.status_code, health.status_code) == (503, 503, 503)
        assert page.get_json()["error"] == {"type": "api_error", "message": "The database is unavailable; retry later."}
        for response in (webhook, page, health):
            assert str(cluster.port) not in response.get_data(as_text=True)  # the server's address stays in the log
    finally:
        engine.dispose()
