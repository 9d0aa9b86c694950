"""Webhook setup against the sandbox over HTTP: register makes one endpoint with every applied
event type at the index's API version (a rerun updates it), check flags what an endpoint lacks,
and the registered endpoint's deliveries reach the indexer signed with its own secret."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from werkzeug.serving import make_server

from indexer import create_app, stripe_requests
from indexer.config import Settings
from indexer.errors import ConfigError, StripeAuthError, UsageError
from indexer.ingest import event_store, webhook_setup
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from tests.conftest import engine_url

KEY = "sk_test_webhook_setup"
URL = "https://indexer.example.com/webhooks/stripe"


def api(sandbox: Any, key: str = KEY) -> StripeAPI:
    return StripeAPI(key, api_base=sandbox.url, rate=1000.0)


def test_register_makes_one_endpoint_and_a_rerun_updates_it(sandbox: Any) -> None:
    client = api(sandbox)
    made = webhook_setup.register(client, URL)
    assert made.created and made.secret and made.secret.startswith("whsec_")
    assert sorted(made.endpoint["enabled_events"]) == sorted(event_store.APPLIED_TYPES) == made.added
    assert made.endpoint["api_version"] == client.api_version == stripe.api_version
    assert made.endpoint["metadata"] == {"indexer": "account"}
    record = sandbox.store.webhook_endpoints[made.endpoint["id"]]
    assert (record.secret, record.url, record.connect) == (made.secret, URL, False)

    again = webhook_setup.register(client, URL)
    assert (again.created, again.secret, again.added, again.removed) == (False, None, [], [])
    assert again.endpoint["id"] == made.endpoint["id"]
    narrowed = webhook_setup.register(client, URL, events=["invoice.paid", "product.created"])
    assert narrowed.removed == sorted(event_store.APPLIED_TYPES - {"invoice.paid", "product.created"})
    restored = webhook_setup.register(client, URL)
    assert restored.added == narrowed.removed and restored.removed == []
    assert sorted(sandbox.store.webhook_endpoints[made.endpoint["id"]].enabled_events) == sorted(event_store.APPLIED_TYPES)
    assert [e["id"] for e in client.webhook_endpoints()] == [made.endpoint["id"]]
    assert record.secret == sandbox.store.webhook_endpoints[made.endpoint["id"]].secret  # never rotated

    connect = webhook_setup.register(client, URL, connect=True)
    assert connect.created and connect.endpoint["id"] != made.endpoint["id"]
    assert sandbox.store.webhook_endpoints[connect.endpoint["id"]].connect is True
    assert not webhook_setup.register(client, URL, connect=True).created
    assert len(client.webhook_endpoints()) == 2


def test_an_endpoint_made_by_hand_for_the_url_is_updated_not_doubled(sandbox: Any) -> None:
    client = api(sandbox)
    by_hand = client.create_webhook_endpoint(URL, ["checkout.session.completed"])
    registered = webhook_setup.register(client, URL)
    assert not registered.created and registered.endpoint["id"] == by_hand["id"]
    assert registered.endpoint["metadata"] == {"indexer": "account"}
    assert len(registered.added) == len(event_store.APPLIED_TYPES) - 1


def test_register_refuses_bad_input_before_asking_stripe(sandbox: Any) -> None:
    client = api(sandbox)
    with pytest.raises(UsageError, match="https://your-host/webhooks/stripe"):
        webhook_setup.register(client, "indexer.example.com/webhooks/stripe")
    with pytest.raises(UsageError, match="does not apply customer.created"):
        webhook_setup.register(client, URL, events=["customer.created"])
    assert client.request_count == 0 and client.webhook_endpoints() == []


def test_a_key_that_may_not_write_endpoints_says_which_permission_it_lacks() -> None:
    refused = stripe.PermissionError("The provided key does not have the required permissions", http_status=403)
    error = stripe_requests._write_error(refused, "/v1/webhook_endpoints")
    assert isinstance(error, StripeAuthError) and error.exit_code == 4
    assert "restricted key with write access to Webhook Endpoints" in error.message


def test_check_flags_missing_types_and_leaves_other_endpoints_alone(sandbox: Any, engine: Engine) -> None:
    client = api(sandbox)
    state = webhook_setup.store_state(engine)
    assert (state.pending, state.failed, state.last_received_at) == (0, 0, None)
    assert webhook_setup.problems(webhook_setup.endpoint_checks(client), state) == [
        "no webhook endpoint sends events to the indexer: run "
        "`indexer webhooks register https://your-host/webhooks/stripe`"]

    client.create_webhook_endpoint("https://crm.example.com/hooks", ["customer.created"])
    webhook_setup.register(client, URL, events=["invoice.paid"])
    checks = webhook_setup.endpoint_checks(client)
    ours = [c for c in checks if c.ours]
    assert [c.endpoint["url"] for c in ours] == [URL] and len(checks) == 2
    assert ours[0].missing == sorted(event_store.APPLIED_TYPES - {"invoice.paid"})
    problems = webhook_setup.problems(checks, state)
    assert len(problems) == 1 and f"lacks {len(ours[0].missing)} event type(s)" in problems[0]
    assert f"indexer webhooks register {URL}" in problems[0]
    lines = webhook_setup.describe_endpoints(checks, client.api_version)
    assert any("not the indexer's: left alone" in line for line in lines)
    assert any(line.startswith("  missing: charge.dispute.closed") for line in lines)

    webhook_setup.register(client, URL)
    assert webhook_setup.problems(webhook_setup.endpoint_checks(client), state) == []
    client.post(f"/v1/webhook_endpoints/{ours[0].endpoint['id']}", {"disabled": True})
    assert "is disabled" in webhook_setup.problems(webhook_setup.endpoint_checks(client), state)[0]


def test_check_on_an_unmigrated_database_says_run_migrate(database_url_engine: Engine) -> None:
    with pytest.raises(ConfigError, match="run `indexer migrate`"):
        webhook_setup.store_state(database_url_engine)


@pytest.fixture
def served(engine: Engine, sandbox: Any) -> Iterator[tuple[str, Any]]:
    """The indexer's web app over real HTTP, its webhook registered in the sandbox."""
    client = api(sandbox)
    server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    registration = webhook_setup.register(client, url)
    app = create_app(Settings(database_url=engine_url(engine), webhook_secrets=(str(registration.secret),)))
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    app.extensions["indexer.engine"].dispose()


def scrape(base: str) -> dict[str, float]:
    body = requests.get(f"{base}/metrics", timeout=10).text
    return {s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


@pytest.mark.timeout(120)
def test_deliveries_reach_the_registered_endpoint_and_show_in_check_and_metrics(
    served: tuple[str, Any], sandbox: Any, engine: Engine,
) -> None:
    base, _app = served
    before = scrape(base)
    made = requests.post(f"{sandbox.url}/sandbox/generate", json={"sessions": 20}, timeout=60).json()
    assert made["events"] > 0
    wanted = [e for e in sandbox.store.events.values()
              if e.type in event_store.APPLIED_TYPES and not e.live and not e.account]
    deadline = time.monotonic() + 60
    while (status := requests.get(f"{sandbox.url}/sandbox/webhooks", timeout=5).json())["pending"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["failed"] == 0 and status["delivered"] == len(wanted) > 0
    stored = scrape(base)  # also writes the serving process's counts, as its next second would
    state = webhook_setup.store_state(engine)
    assert state.pending == len(wanted) and abs(time.time() - (state.last_received_at or 0)) < 60
    assert stored["indexer_webhook_deliveries_total{stored}"] - before["indexer_webhook_deliveries_total{stored}"] == len(wanted)
    assert stored["indexer_webhook_deliveries_total{rejected}"] == 0
    assert stored["indexer_events_pending"] == len(wanted)

    worker = Worker(engine, api(sandbox))
    try:
        assert worker.run(once=True).failed == 0
    finally:
        worker.close()
    applied = scrape(base)
    assert applied["indexer_events_applied_total"] == len(wanted) and applied["indexer_events_pending"] == 0
    assert applied["indexer_stripe_requests_total{worker}"] > 0
    assert applied["indexer_worker_batch_seconds_count"] >= 1
    assert webhook_setup.problems(webhook_setup.endpoint_checks(api(sandbox)), webhook_setup.store_state(engine)) == []
