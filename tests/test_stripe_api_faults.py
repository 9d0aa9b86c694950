"""The Stripe client under attack and under throttling: a payload's id never chooses a request's
path, and the pace adapts to the 429s it sees (``Retry-After``, ``Stripe-Rate-Limited-Reason``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import stripe

from indexer import pacing
from indexer.errors import StripeError
from indexer.pacing import ConcurrencyLimit, TokenBucket
from indexer.stripe_api import StripeAPI, object_path
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store

KEY = "sk_test_faults"


# --- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["../../v1/customers", "cs_1/../../v1/customers", "cs_1?expand[]=x", "cs 1",
                                   "cs_1%2F..", "", 5, None, "x" * 256, "cs_\u00e9"])
def test_an_id_that_is_not_stripe_shaped_never_reaches_a_path(value: Any) -> None:
    with pytest.raises(StripeError, match="not a Stripe id"):
        object_path("/v1/refunds/{}", value)


def test_the_client_refuses_paths_and_accounts_a_payload_could_have_chosen() -> None:
    api = StripeAPI(KEY, api_base="http://127.0.0.1:9", rate=1000, max_retries=0)
    for path in ("/v1/refunds/../customers", "/v1/refunds/re_1/..", "/v1/refunds/re_%2e%2e", "/v1/refunds?x=1",
                 "/v2/customers", "/v1//customers", "v1/refunds/re_1"):
        with pytest.raises(StripeError, match="not a Stripe API path"):
            api.get(path)
    with pytest.raises(StripeError, match="not a Connect account"):
        api.get("/v1/refunds/re_1", account="acct_1\r\nX-Evil: 1")
    assert api.request_count == 0
    assert object_path("/v1/checkout/sessions/{}/line_items", "cs_test_a1B2") == "/v1/checkout/sessions/cs_test_a1B2/line_items"


def test_retrieving_a_session_by_a_hostile_id_sends_nothing(sandbox: SandboxServer) -> None:
    api = StripeAPI(KEY, api_base=sandbox.url, rate=1000)
    with pytest.raises(StripeError):
        api.retrieve_session("../../v1/customers")
    with pytest.raises(StripeError):
        api.invoice_lines({"id": "in_1/../../customers", "lines": None})
    assert sandbox.request_count == {}


# --- pacing ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(pacing.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(pacing.time, "sleep", fake.sleep)
    return fake


def serve(bucket: TokenBucket, clock: FakeClock, seconds: float, limit: float) -> tuple[int, int]:
    """``seconds`` of requests at the bucket's pace to a server that accepts ``limit`` a second
    (a token bucket of one second's capacity, as Stripe's and the sandbox's); returns how many
    requests it accepted and refused."""
    end = clock.now + seconds
    credit, last = 0.0, clock.now
    accepted = refused = 0
    while clock.now < end:
        bucket.acquire()
        sent = clock.now
        credit, last = min(limit, credit + (clock.now - last) * limit), clock.now
        if credit >= 1:
            credit -= 1
            accepted += 1
            bucket.accepted()
        else:
            refused += 1
            bucket.throttled(sent)
    return accepted, refused


def test_429s_bring_the_pace_just_under_what_the_server_accepts_once_a_second_then_it_climbs_back(
    clock: FakeClock,
) -> None:
    bucket = TokenBucket(23)
    for _ in range(5):
        bucket.acquire()
        bucket.accepted()
    bucket.throttled()
    assert bucket.rate == 11.5  # the first 429 halves the pace
    bucket.throttled()  # the other requests in flight answer 429 too: one signal
    assert bucket.rate == 11.5
    serve(bucket, clock, 1.2, limit=8)
    assert 6.5 <= bucket.rate <= 8.5  # cut by what the server accepted: about its 8/s
    serve(bucket, clock, 120, limit=8)
    assert 6.8 <= bucket.rate <= 9.0  # it stays about the limit
    settled = bucket.rate
    clock.now += 10
    bucket.acquire()
    assert bucket.rate >= settled + 0.4  # and climbs on, slowly, while nothing is refused
    clock.now += 600
    bucket.acquire()
    assert bucket.rate == 23  # back to the ceiling within minutes


@pytest.mark.parametrize("limit", [2, 5, 25, 80])
def test_under_a_lower_limit_few_requests_are_refused_and_most_of_the_limit_is_used(
    clock: FakeClock, limit: float
) -> None:
    """After the first minute (the 429s that find the limit), under 3% of requests are refused
    and over 95% of the limit is used, whatever the limit below the ceiling."""
    bucket = TokenBucket(90)
    serve(bucket, clock, 60, limit=limit)
    accepted, refused = serve(bucket, clock, 540, limit=limit)
    assert refused < 0.03 * (accepted + refused), (accepted, refused)
    assert accepted > 0.95 * limit * 540, (accepted, refused)


def test_the_pace_never_drops_below_its_floor(clock: FakeClock) -> None:
    bucket = TokenBucket(23)
    for _ in range(30):  # refused every second whatever it sends
        bucket.throttled()
        clock.now += 1.0
    assert bucket.rate == bucket.floor == 0.5
    assert bucket.acquire() <= 2.0


def rate_limited(reason: str | None, retry_after: str | None = None) -> stripe.RateLimitError:
    headers = {"Stripe-Should-Retry": "true"}
    if reason:
        headers["Stripe-Rate-Limited-Reason"] = reason
    if retry_after:
        headers["Retry-After"] = retry_after
    return stripe.RateLimitError("Request rate limit exceeded.", http_status=429, headers=headers)


def test_the_limited_reason_says_what_to_slow_down(clock: FakeClock) -> None:
    api = StripeAPI(KEY, rate=20)
    for _ in range(20):
        api.bucket.acquire()
    api._throttled(rate_limited("resource-specific"))  # one object's own limit: only that request waits
    assert (api.bucket.rate, api.concurrency.cap) == (20, None)
    api.concurrency.active = 6
    api._throttled(rate_limited("global-concurrency"))
    assert api.concurrency.cap == 4 and api.bucket.rate == 20
    api._throttled(rate_limited("endpoint-rate"))
    assert api.bucket.rate < 15
    clock.now += 2
    api._throttled(rate_limited(None, retry_after="7"))  # no reason: the rate
    paused_until = clock.now + 7
    assert api.bucket.acquire() >= paused_until - clock.now - 7 + 7 - 0.01
    assert api.rate_limited == 4


def test_a_concurrency_cap_rises_back_while_nothing_is_refused(clock: FakeClock) -> None:
    limit = ConcurrencyLimit()
    limit.throttled(in_flight=8)
    assert limit.cap == 5
    for expected in (6, 7, 8):
        clock.now += ConcurrencyLimit.RISE_SECONDS
        limit._rise()
        assert limit.cap == expected


@pytest.mark.slow
def test_at_its_default_pace_the_client_settles_under_a_lower_limit_with_few_429s() -> None:
    """Stripe at 8 requests/s, the client's default test-mode pace 23/s, 8 threads: before the
    pace adapted, half the requests were 429s and some gave up."""
    server = SandboxServer(Store(), host="127.0.0.1", port=0, rate_limit=8, latency_ms=20).start()
    try:
        api = StripeAPI(KEY, api_base=server.url)
        errors: list[Exception] = []

        def work() -> None:
            for _ in range(10):
                try:
                    api.get("/v1/products", {"limit": 1})
                except Exception as exc:  # noqa: BLE001 - counted below
                    errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert errors == []
    assert api.rate_limited <= 0.15 * api.request_count, (api.rate_limited, api.request_count)
    assert api.bucket.rate < 8
    assert elapsed < 80 / 8 * 1.8
