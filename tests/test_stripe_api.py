"""The Stripe client: paging, retries, errors, pacing.

Error and retry behaviour is checked against a tiny scripted HTTP server (exact status codes
and headers on demand); paging and line items against the sandbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from indexer.errors import StripeAuthError, StripeError, StripeUnavailable
from indexer.stripe_api import StripeAPI, TokenBucket
from tests.conftest import Reply, Scripted


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(script: Callable[[str, dict[str, str], dict[str, str]], Reply]) -> Scripted:
        server = Scripted(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _api(url: str, **kwargs: Any) -> StripeAPI:
    kwargs.setdefault("rate", 1000)
    kwargs.setdefault("backoff", 0.01)
    return StripeAPI("sk_test_123", api_base=url, **kwargs)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def test_pages_follow_starting_after_until_has_more_is_false(scripted: Any) -> None:
    objects = [{"id": f"obj_{i:03d}", "object": "thing"} for i in range(250)]

    def script(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        limit = int(query["limit"])
        start = 0
        if "starting_after" in query:
            start = next(i for i, o in enumerate(objects) if o["id"] == query["starting_after"]) + 1
        chunk = objects[start : start + limit]
        return 200, {}, {"object": "list", "data": chunk, "has_more": start + limit < len(objects), "url": path}

    server = scripted(script)
    api = _api(server.url)
    got = list(api.list_all("/v1/things", {"status": "paid"}))
    assert [o["id"] for o in got] == [o["id"] for o in objects]
    assert api.request_count == 3
    assert all(q["limit"] == "100" and q["status"] == "paid" for _, q, _ in server.requests)
    assert isinstance(got[0], dict)


def test_account_becomes_the_stripe_account_header(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (200, {}, {"id": "re_1", "object": "refund"}))
    api = _api(server.url)
    assert api.retrieve("/v1/refunds/re_1", account="acct_42", expand=["charge"]) == {"id": "re_1", "object": "refund"}
    path, query, headers = server.requests[0]
    assert headers["stripe-account"] == "acct_42"
    assert query == {"expand[0]": "charge"}


def test_429_is_retried_honouring_retry_after_then_succeeds(scripted: Any) -> None:
    calls = {"n": 0}

    def script(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        calls["n"] += 1
        if calls["n"] <= 2:
            return 429, {"Stripe-Should-Retry": "true", "Retry-After": "0.2"}, _error("invalid_request_error", "rate limited")
        return 200, {}, {"id": "evt_1"}

    server = scripted(script)
    api = _api(server.url)
    started = time.monotonic()
    assert api.get("/v1/events/evt_1") == {"id": "evt_1"}
    assert time.monotonic() - started >= 0.4
    assert api.request_count == 3


def test_a_post_goes_through_the_same_retries_under_one_idempotency_key(scripted: Any) -> None:
    """``post`` shares ``get``'s loop: a 429 is retried after its ``Retry-After`` and slows the
    shared pace, and every attempt carries the same ``Idempotency-Key``."""
    calls = {"n": 0}

    def script(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "0.2"}, _error("invalid_request_error", "rate limited")
        if calls["n"] == 2:
            return 503, {}, _error("api_error", "busy")
        return 200, {}, {"id": "frr_1", "report_type": query["report_type"]}

    server = scripted(script)
    api = _api(server.url)
    made = api.post("/v1/reporting/report_runs", {"report_type": "balance.summary.1"}, idempotency_key="run-1",
                    account="acct_7")
    assert made == {"id": "frr_1", "report_type": "balance.summary.1"}
    assert [h[":method"] for _, _, h in server.requests] == ["POST"] * 3
    assert {h["idempotency-key"] for _, _, h in server.requests} == {"run-1"}
    assert {h["stripe-account"] for _, _, h in server.requests} == {"acct_7"}
    assert (api.request_count, api.retries, api.rate_limited) == (3, 2, 1)


def test_a_refused_post_names_the_write_and_is_not_retried(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (403, {}, _error("invalid_request_error", "restricted")))
    api = _api(server.url)
    with pytest.raises(StripeAuthError) as info:
        api.post("/v1/webhook_endpoints", {"url": "https://example.com/h"})
    assert "may not write /v1/webhook_endpoints" in str(info.value)
    assert api.request_count == 1
    with pytest.raises(StripeError, match="refusing to request"):
        api.post("/v1/../v1/customers", {})
    assert api.request_count == 1


def test_5xx_exhausts_retries_into_stripe_unavailable(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (500, {}, _error("api_error", "boom")))
    api = _api(server.url, max_retries=2)
    with pytest.raises(StripeUnavailable) as info:
        api.get("/v1/invoices")
    assert "GET /v1/invoices" in str(info.value)
    assert api.request_count == 3


def test_should_retry_false_is_not_retried(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (503, {"Stripe-Should-Retry": "false"}, _error("api_error", "no")))
    api = _api(server.url)
    with pytest.raises(StripeUnavailable):
        api.get("/v1/invoices")
    assert api.request_count == 1


def test_total_wait_is_capped(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (429, {"Retry-After": "30"}, _error("rate_limit_error", "slow")))
    api = _api(server.url, max_wait=5)
    started = time.monotonic()
    with pytest.raises(StripeUnavailable):
        api.get("/v1/invoices")
    assert time.monotonic() - started < 2
    assert api.request_count == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_clear_and_not_retried(scripted: Any, status: int) -> None:
    kind = "authentication_error" if status == 401 else "permission_error"
    server = scripted(lambda p, q, h: (status, {}, _error(kind, "Invalid API Key provided: sk_test_***123")))
    api = _api(server.url)
    with pytest.raises(StripeAuthError) as info:
        api.get("/v1/checkout/sessions")
    assert str(status) in str(info.value)
    assert api.request_count == 1


def test_other_4xx_names_the_request(scripted: Any) -> None:
    server = scripted(lambda p, q, h: (404, {}, _error("invalid_request_error", "No such refund: 're_x'")))
    api = _api(server.url)
    with pytest.raises(StripeError) as info:
        api.retrieve("/v1/refunds/re_x")
    assert not isinstance(info.value, (StripeUnavailable, StripeAuthError))
    assert "/v1/refunds/re_x" in str(info.value) and "No such refund" in str(info.value)


def test_network_error_becomes_stripe_unavailable() -> None:
    api = StripeAPI("sk_test_1", api_base="http://127.0.0.1:9", rate=1000, max_retries=1, backoff=0.01)
    with pytest.raises(StripeUnavailable):
        api.get("/v1/events")
    assert api.request_count == 2


def test_livemode_and_default_rate_come_from_the_key() -> None:
    assert StripeAPI("sk_live_1").livemode is True
    assert StripeAPI("rk_test_1").livemode is False
    assert StripeAPI("sk_live_1").rate > StripeAPI("sk_test_1").rate


def test_token_bucket_paces_all_threads_together() -> None:
    bucket = TokenBucket(50, burst=1)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.5  # 50 tokens at 50/s, the first one free


def test_invoice_lines_page_past_the_embedded_first_page(scripted: Any) -> None:
    lines = [{"id": f"il_{i:03d}", "object": "line_item"} for i in range(130)]

    def script(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        assert path == "/v1/invoices/in_1/lines"
        start = next(i for i, o in enumerate(lines) if o["id"] == query["starting_after"]) + 1
        return 200, {}, {"object": "list", "data": lines[start : start + 100], "has_more": start + 100 < 130}

    server = scripted(script)
    api = _api(server.url)
    invoice = {"id": "in_1", "object": "invoice", "lines": {"object": "list", "data": lines[:10], "has_more": True}}
    assert [line["id"] for line in api.invoice_lines(invoice)] == [line["id"] for line in lines]
    assert api.request_count == 2
    invoice_small = {"id": "in_2", "lines": {"data": lines[:3], "has_more": False}}
    assert len(api.invoice_lines(invoice_small)) == 3
    assert api.request_count == 2


def test_success_bodies_are_plain_dicts_and_bodies_are_logged_only_when_asked(
    scripted: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client decodes 2xx bodies itself (plain dicts, not the SDK's OrderedDicts), and the
    SDK formats its debug line with the whole body when ``stripe`` logs at DEBUG, and only then."""
    formatted_bodies = []
    logfmt = stripe._util.logfmt

    def counting_logfmt(props: dict[str, Any]) -> str:
        if "body" in props:
            formatted_bodies.append(props["body"])
        return logfmt(props)

    monkeypatch.setattr(stripe._util, "logfmt", counting_logfmt)
    server = scripted(lambda p, q, h: (200, {}, {"id": "re_1", "object": "refund", "metadata": {"k": "v"}}))
    api = _api(server.url)
    with caplog.at_level(logging.INFO, logger="stripe"):
        found = api.retrieve("/v1/refunds/re_1")
    assert type(found) is dict and type(found["metadata"]) is dict
    assert formatted_bodies == []
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        api.retrieve("/v1/refunds/re_1")
    assert any("API response body" in r.getMessage() and "re_1" in r.getMessage() for r in caplog.records)
