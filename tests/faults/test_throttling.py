"""The worker at its default pace against a Stripe that allows far less, and fails a fifth of
its requests with a 500: a low limit and a flaky Stripe cost time, never an event. Every event
is applied at the first attempt, few requests are refused, and the index equals the truth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox import generator
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store
from tests.ingest.conftest import deliver, event_bodies, event_status, index_customers

pytestmark = pytest.mark.slow
KEY = "sk_test_throttled"


@pytest.fixture
def busy_stripe() -> Iterator[SandboxServer]:
    store = Store()
    generator.generate(store, size=20, seed=8)
    server = SandboxServer(store, host="127.0.0.1", port=0, rate_limit=6, fail_rate=0.2, latency_ms=30, seed=4)
    server.start()
    yield server
    server.stop()


def test_a_low_rate_limit_and_5xx_cost_time_never_an_event(busy_stripe: SandboxServer, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the worker's pace does not depend on the database")
    deliver(engine, event_bodies(busy_stripe.store, live=False))
    api = StripeAPI(KEY, api_base=busy_stripe.url)  # the default test-mode pace, 23/s
    worker = Worker(engine, api, once_retry_patience=0)
    try:
        stats = worker.run(once=True)
    finally:
        worker.close()
    assert (stats.retried, stats.failed) == (0, 0), str(stats)
    assert set(event_status(engine)) <= {"done", "skipped"}
    assert api.rate_limited <= 0.15 * api.request_count, (api.rate_limited, api.request_count)
    assert busy_stripe.injected_failures > 0
    assert index_customers(engine, live=False) == generator.truth(busy_stripe.store, live=False, account=None)
