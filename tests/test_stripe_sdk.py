"""The seam over stripe-python's private internals (``indexer.stripe_sdk``).

Each test exercises one private name the seam relies on, through the SDK's own code, so that
an upgrade of stripe-python that moves or changes one fails here, by name, rather than as a
slower backfill or a debug line that silently stops (or starts) costing a tenth of its CPU.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from stripe import _api_requestor, _util

from indexer import stripe_sdk
from tests.conftest import Scripted


@pytest.fixture
def server() -> Iterator[Scripted]:
    """Answers ``/v1/refunds/re_1`` with a refund, ``/v1/limited`` with a 429, the rest 404."""

    def script(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path == "/v1/refunds/re_1":
            return 200, {}, {"id": "re_1", "object": "refund", "metadata": {"k": "v"}}
        if path == "/v1/limited":
            return 429, {"Retry-After": "3", "Stripe-Should-Retry": "true"}, {
                "error": {"type": "invalid_request_error", "code": "rate_limit", "message": "slow down"}}
        return 404, {}, {"error": {"type": "invalid_request_error", "message": "no such thing"}}

    scripted = Scripted(script)
    yield scripted
    scripted.stop()


def _client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_sdk", base_addresses={"api": url}, max_network_retries=0,
                               http_client=stripe.RequestsClient(timeout=10))


def test_the_private_names_the_seam_uses_still_exist_with_the_signatures_it_calls() -> None:
    client = _client("http://127.0.0.1:9")
    requestor = client._requestor
    inspect.signature(requestor.request_raw).bind(
        "get", "/v1/x", params={}, options={}, base_address="api", api_mode="V1", usage=["raw_request"])
    inspect.signature(requestor._interpret_response).bind(b"{}", 200, {}, "V1")
    assert callable(_api_requestor.log_debug)
    assert hasattr(_util, "STRIPE_LOG")
    assert stripe_sdk.api_version(client) == stripe.api_version


def test_request_options_are_split_from_parameters_as_raw_request_does() -> None:
    from stripe._request_options import extract_options_from_dict

    options, params = extract_options_from_dict(
        {"limit": 3, "stripe_account": "acct_1", "idempotency_key": "k1", "expand": ["data.x"]})
    assert options == {"stripe_account": "acct_1", "idempotency_key": "k1"}
    assert params == {"limit": 3, "expand": ["data.x"]}


def test_a_success_body_is_plain_dicts_sent_with_the_pinned_version_and_options(server: Scripted) -> None:
    client = _client(server.url)
    found = stripe_sdk.request_json(client, "get", "/v1/refunds/re_1", {"expand": ["charge"], "stripe_account": "acct_9"})
    assert found == {"id": "re_1", "object": "refund", "metadata": {"k": "v"}}
    assert type(found) is dict and type(found["metadata"]) is dict
    path, query, headers = server.requests[-1]
    assert (path, query) == ("/v1/refunds/re_1", {"expand[0]": "charge"})
    assert headers["stripe-account"] == "acct_9"
    assert headers["stripe-version"] == stripe_sdk.api_version(client)


def test_the_public_path_gives_the_same_answer_in_the_sdks_ordered_dicts(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the benchmark compares the fast path with: the same data, decoded by the SDK."""
    monkeypatch.setattr(stripe_sdk, "FAST", False)
    found = stripe_sdk.request_json(_client(server.url), "get", "/v1/refunds/re_1", {})
    assert found == {"id": "re_1", "object": "refund", "metadata": {"k": "v"}}
    assert type(found) is OrderedDict


@pytest.mark.parametrize("fast", [True, False])
def test_an_error_body_raises_the_sdks_error_with_status_and_headers(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    monkeypatch.setattr(stripe_sdk, "FAST", fast)
    client = _client(server.url)
    with pytest.raises(stripe.RateLimitError) as limited:
        stripe_sdk.request_json(client, "get", "/v1/limited", {})
    assert limited.value.http_status == 429
    assert limited.value.headers["Retry-After"] == "3"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_sdk.request_json(client, "get", "/v1/nothing", {})
    assert missing.value.http_status == 404 and "no such thing" in str(missing.value)


def test_the_requestor_calls_the_gated_debug_log_which_formats_bodies_only_when_asked(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``request_raw`` looks ``log_debug`` up in ``stripe._api_requestor`` at each call: the
    gate replaces it there. Off DEBUG no response body is formatted; at DEBUG the SDK's own
    line is logged as before."""
    assert stripe_sdk.debug_log_gated()
    formatted_bodies: list[Any] = []
    logfmt = _util.logfmt

    def counting_logfmt(props: dict[str, Any]) -> str:
        if "body" in props:
            formatted_bodies.append(props["body"])
        return logfmt(props)

    monkeypatch.setattr(_util, "logfmt", counting_logfmt)
    client = _client(server.url)
    with caplog.at_level(logging.INFO, logger="stripe"):
        stripe_sdk.request_json(client, "get", "/v1/refunds/re_1", {})
    assert formatted_bodies == []
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        stripe_sdk.request_json(client, "get", "/v1/refunds/re_1", {})
    assert len(formatted_bodies) == 1
    assert any("API response body" in r.getMessage() and "re_1" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(_util, "STRIPE_LOG", "debug")
    with caplog.at_level(logging.INFO, logger="stripe"):
        stripe_sdk.request_json(client, "get", "/v1/refunds/re_1", {})
    assert len(formatted_bodies) == 2


def test_ungating_restores_the_sdks_own_debug_log(server: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    formatted: list[Any] = []
    logfmt = _util.logfmt
    monkeypatch.setattr(_util, "logfmt", lambda props: formatted.append(props) or logfmt(props))
    stripe_sdk.ungate_debug_log()
    try:
        assert not stripe_sdk.debug_log_gated()
        stripe_sdk.request_json(_client(server.url), "get", "/v1/refunds/re_1", {})
        assert any("body" in props for props in formatted)
    finally:
        stripe_sdk.gate_debug_log()
    assert stripe_sdk.debug_log_gated()
