"""Webhook endpoints in the sandbox, over HTTP through the official SDK: Stripe's shapes (checked
against the SDK's own schema), its errors, and deliveries to each registered endpoint, signed
with that endpoint's secret and filtered by its mode, account and ``enabled_events``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import stripe

from indexer.errors import SignatureError
from indexer.ingest import signatures
from stripe_sandbox import billing as b
from stripe_sandbox.generator import OLD_API_VERSION
from stripe_sandbox.server import SandboxServer
from tests.stripe_sandbox.conftest import Receiver

try:  # tests/stripe_sandbox as a package, or as a rootdir-less directory
    from . import schema
except ImportError:
    import schema  # type: ignore[no-redef]

KEY = "sk_test_endpoints01"
LIVE_KEY = "sk_live_endpoints01"


def client(url: str, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)


def raw(method: str, url: str, key: str = KEY, **kw: Any) -> Any:
    resp = requests.request(method, url, headers={"Authorization": f"Bearer {key}"}, timeout=10, **kw)
    return resp.status_code, resp.json()


@pytest.fixture
def receivers() -> Any:
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for rec in made:
        rec.close()


def wait_delivered(sandbox: SandboxServer, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        status = requests.get(f"{sandbox.url}/sandbox/webhooks", timeout=5).json()
        if (status.get("delivered", 0) >= count and status["pending"] == 0) or time.monotonic() > deadline:
            return status  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_shapes_conform_to_the_sdk_and_the_secret_is_shown_once(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/v1/webhook_endpoints"
    status, made = raw("POST", url, data={
        "url": "https://example.com/webhooks/stripe", "enabled_events[0]": "invoice.paid",
        "enabled_events[1]": "checkout.session.completed", "api_version": OLD_API_VERSION,
        "metadata[indexer]": "account", "description": "mine"})
    assert status == 200, made
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 30
    assert made["id"].startswith("we_") and made["status"] == "enabled" and made["livemode"] is False
    assert (made["api_version"], made["enabled_events"]) == (OLD_API_VERSION, ["invoice.paid", "checkout.session.completed"])
    assert schema.validate_object(made) == []
    status, got = raw("GET", f"{url}/{made['id']}")
    assert status == 200 and "secret" not in got and schema.validate_object(got) == []
    assert got == {k: v for k, v in made.items() if k != "secret"}
    status, page = raw("GET", url)
    assert status == 200 and [e["id"] for e in page["data"]] == [made["id"]] and page["url"] == "/v1/webhook_endpoints"
    assert schema.validate_list(page, stripe.WebhookEndpoint) == []
    status, changed = raw("POST", f"{url}/{made['id']}", data={"enabled_events[0]": "*", "disabled": "true"})
    assert status == 200 and changed["enabled_events"] == ["*"] and changed["status"] == "disabled"
    assert "secret" not in changed and schema.validate_object(changed) == []
    status, deleted = raw("DELETE", f"{url}/{made['id']}")
    # stripe-node's DeletedWebhookEndpoint: exactly these three fields
    assert status == 200 and deleted == {"id": made["id"], "object": "webhook_endpoint", "deleted": True}
    status, gone = raw("GET", f"{url}/{made['id']}")
    assert status == 404 and gone["error"]["code"] == "resource_missing"
    assert raw("GET", url)[1]["data"] == []


def test_the_schema_check_would_catch_a_secret_on_retrieve_or_a_missing_field() -> None:
    good = {"id": "we_1", "object": "webhook_endpoint", "api_version": None, "application": None,
            "created": 1, "description": None, "enabled_events": ["*"], "livemode": False,
            "metadata": {}, "status": "enabled", "url": "https://example.com/x"}
    assert schema.validate_object(good) == []
    assert schema.validate_object({**good, "secret": None}) != []
    assert schema.validate_object({k: v for k, v in good.items() if k != "status"}) != []


def test_errors_name_the_parameter(sandbox: SandboxServer) -> None:
    sdk = client(sandbox.url)
    cases = [
        ({"url": "ftp://example.com", "enabled_events": ["*"]}, "url"),
        ({"url": "https://example.com/x", "enabled_events": ["invoice.pad"]}, "enabled_events[0]"),
        ({"url": "https://example.com/x", "enabled_events": ["*"], "api_version": "2099-01-01.zeta"}, "api_version"),
        ({"url": "https://example.com/x", "enabled_events": ["*"], "colour": "red"}, "colour"),
        ({"url": "https://example.com/x"}, "enabled_events"),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as err:
            sdk.v1.webhook_endpoints.create(params=params)  # type: ignore[arg-type]
        assert err.value.param == param, params
        assert schema.validate_error_body(err.value.json_body) == []
    made = sdk.v1.webhook_endpoints.create(params={"url": "https://example.com/x", "enabled_events": ["*"]})
    assert made.api_version is None  # events then render at their own (the account's) version
    with pytest.raises(stripe.InvalidRequestError):  # another mode's key sees no such endpoint
        client(sandbox.url, LIVE_KEY).v1.webhook_endpoints.retrieve(made.id)


def test_each_endpoint_gets_its_types_of_its_mode_signed_with_its_own_secret(
    sandbox: SandboxServer, receivers: Any,
) -> None:
    products, sessions, live = receivers(), receivers(), receivers()
    sdk = client(sandbox.url)
    first = sdk.v1.webhook_endpoints.create(params={"url": products.url, "enabled_events": ["product.created"]})
    second = sdk.v1.webhook_endpoints.create(params={
        "url": sessions.url, "enabled_events": ["checkout.session.completed", "product.created"],
        "api_version": OLD_API_VERSION})
    third = client(sandbox.url, LIVE_KEY).v1.webhook_endpoints.create(params={"url": live.url, "enabled_events": ["*"]})
    assert len({first.secret, second.secret, third.secret}) == 3
    prod = sdk.v1.products.create(params={"name": "Course"})
    price = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd", "unit_amount": 500})
    sess = sdk.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "https://example.com/ok", "line_items": [{"price": price.id, "quantity": 1}]})
    requests.post(f"{sandbox.url}/sandbox/checkout/sessions/{sess.id}/complete", json={"email": "a@example.com"},
                  timeout=10).raise_for_status()
    status = wait_delivered(sandbox, 3)
    assert status["failed"] == 0 and {e["id"] for e in status["endpoints"]} == {first.id, second.id, third.id}
    assert [e["type"] for e in products.events()] == ["product.created"]
    assert sorted(e["type"] for e in sessions.events()) == ["checkout.session.completed", "product.created"]
    assert {e["api_version"] for e in sessions.events()} == {OLD_API_VERSION}
    assert live.events() == []  # a live endpoint gets no test-mode event
    for rec, secret in ((products, first.secret), (sessions, second.secret)):
        for headers, body in rec.requests:
            assert signatures.verify(body, headers["Stripe-Signature"], (secret,)) > 0
            with pytest.raises(SignatureError):
                signatures.verify(body, headers["Stripe-Signature"], (third.secret,))
    # an update changes what is delivered from then on; a deleted endpoint gets nothing more
    sdk.v1.webhook_endpoints.update(first.id, params={"enabled_events": ["product.updated"]})
    sdk.v1.webhook_endpoints.delete(second.id)
    sdk.v1.products.update(prod.id, params={"name": "Course 2"})
    sdk.v1.products.create(params={"name": "Book"})
    wait_delivered(sandbox, 2)  # a deleted endpoint's deliveries leave the sums
    assert [e["type"] for e in products.events()] == ["product.created", "product.updated"]
    assert len(sessions.events()) == 2


def test_connect_endpoints_get_connected_accounts_events(sandbox: SandboxServer, receivers: Any) -> None:
    own, connect = receivers(), receivers()
    sdk = client(sandbox.url)
    sdk.v1.webhook_endpoints.create(params={"url": own.url, "enabled_events": ["customer.created"]})
    sdk.v1.webhook_endpoints.create(params={"url": connect.url, "enabled_events": ["customer.created"], "connect": True})
    b.create_customer(b.Ctx(sandbox.store, (False, None)), email="own@example.com")
    b.create_customer(b.Ctx(sandbox.store, (False, "acct_1Connected0000001")), email="acct@example.com")
    wait_delivered(sandbox, 2)
    assert [e["data"]["object"]["email"] for e in own.events()] == ["own@example.com"]
    assert [(e["account"], e["data"]["object"]["email"]) for e in connect.events()] == [
        ("acct_1Connected0000001", "acct@example.com")]


def test_generate_makes_history_that_reaches_registered_endpoints(sandbox: SandboxServer, receivers: Any) -> None:
    rec = receivers()
    client(sandbox.url).v1.webhook_endpoints.create(params={"url": rec.url, "enabled_events": ["checkout.session.completed"]})
    made = requests.post(f"{sandbox.url}/sandbox/generate", json={"sessions": 30, "seed": 2}, timeout=30).json()
    assert made["sessions"] >= 30 and made["events"] > made["sessions"]
    completed = [e for e in sandbox.store.events.values()
                 if e.type == "checkout.session.completed" and not e.live and not e.account]
    wait_delivered(sandbox, len(completed))
    assert sorted(e["id"] for e in rec.events()) == sorted(e.id for e in completed)
