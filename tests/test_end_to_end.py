"""The whole path, as a user runs it: the sandbox delivers its seeded history as signed webhooks
(with duplicates, out of order, and some deliveries refused so they are retried) to the real web
app over HTTP; the worker applies what was stored; ``product_customers`` then says exactly what
the sandbox's own records say, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from werkzeug.serving import make_server

from indexer import create_app
from indexer.config import Settings
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox import generator
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store
from stripe_sandbox.webhooks import WebhookSender
from tests.conftest import assert_rollups_match, engine_url

SECRET = "whsec_end_to_end"


class RefuseFirstTry:
    """WSGI middleware: answers 503 to the first delivery of about one event in five."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.seen: set[bytes] = set()
        self.refused = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signature = environ.get("HTTP_STRIPE_SIGNATURE", "").encode()
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        key = body[:200]
        with self.lock:
            first = key not in self.seen
            self.seen.add(key)
        if first and zlib.crc32(key) % 5 == 0 and signature:
            with self.lock:
                self.refused += 1
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"try again"]
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


@pytest.fixture
def web(engine: Engine) -> Iterator[tuple[str, RefuseFirstTry]]:
    app = create_app(Settings(database_url=engine_url(engine), webhook_secrets=(SECRET,)))
    flaky = RefuseFirstTry(app.wsgi_app)
    server = make_server("127.0.0.1", 0, flaky, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/stripe", flaky
    server.shutdown()
    app.extensions["indexer.engine"].dispose()


def test_webhooks_with_duplicates_reordering_and_retries_give_the_true_customers(
    engine: Engine, web: tuple[str, RefuseFirstTry]
) -> None:
    url, flaky = web
    store = Store()
    generator.generate(store, size=120, seed=3)
    stripe = SandboxServer(store, host="127.0.0.1", port=0)
    stripe.start()
    sender = WebhookSender(store, url, SECRET, livemode=False, duplicate_rate=0.2, shuffle=25, seed=9,
                           backoff=0.05, max_backoff=0.2, pretty=False)
    try:
        sender.start()
        assert sender.wait_idle(120)
        status = sender.status()
        assert status["failed"] == 0 and status["duplicates"] > 0 and flaky.refused > 0
        worker = Worker(engine, StripeAPI("sk_test_e2e", api_base=stripe.url, rate=1000.0))
        worker.run(once=True)
        worker.close()
        assert worker.stats.failed == 0
    finally:
        sender.stop()
        stripe.stop()

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM stripe_events")).scalar_one()
        rows = conn.execute(text("SELECT account, product_id, customer, email FROM product_customers "
                                 "WHERE livemode = :f"), {"f": False}).all()
    assert stored == sum(1 for e in store.events.values() if not e.live)
    for account in ["", *sorted(store.accounts)]:
        found: dict[str, set[str]] = {}
        for acct, product, customer, email in rows:
            if acct == account:
                found.setdefault(product, set()).add(customer or email.lower())
        assert found == generator.truth(store, live=False, account=account or None), account
    assert_rollups_match(engine)
