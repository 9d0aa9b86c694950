"""GET /metrics: Prometheus' text format (read back with prometheus_client's own parser), the
same totals from every process, moving as webhooks are stored and workers apply them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, inspect, text

from indexer import create_app, db
from indexer.config import Settings
from indexer.index import rollups
from indexer.ingest import counters
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from tests.conftest import WEBHOOK_SECRET as SECRET
from tests.conftest import Shop, alembic, engine_url, make_event, signed

PRODUCT_EVENT = {"type": "product.created", "data": {"object": {
    "id": "prod_1", "object": "product", "name": "Course", "active": True, "created": 1_760_000_000,
    "updated": 1_760_000_000, "livemode": False}}}


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, labels), parsed as Prometheus would."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain" and "version=0.0.4" in response.content_type
    return samples(response.get_data(as_text=True))


def deliveries(metrics: dict, outcome: str) -> float:
    return metrics["indexer_webhook_deliveries_total", (("outcome", outcome),)]


def make_app(engine: Engine) -> Flask:
    return create_app(Settings(database_url=engine_url(engine), webhook_secrets=(SECRET,)))


def post(app: Flask, event_id: str, secret: str = SECRET) -> int:
    body = json.dumps(make_event(event_id, **PRODUCT_EVENT)).encode()
    return app.test_client().post("/webhooks/stripe", data=body, headers=signed(body, secret)).status_code


def test_counts_move_as_events_are_stored_and_applied(engine: Engine) -> None:
    app = make_app(engine)
    before = scrape(app)
    assert deliveries(before, "stored") == 0 and before["indexer_events_pending", ()] == 0
    assert before["indexer_worker_batch_seconds_count", ()] == 0
    assert [post(app, f"evt_{i}") for i in range(3)] == [200] * 3
    assert post(app, "evt_0") == 200  # a duplicate
    assert post(app, "evt_9", secret="whsec_wrong") == 400
    stored = scrape(app)
    assert [deliveries(stored, o) for o in ("stored", "duplicate", "rejected", "failed")] == [3, 1, 1, 0]
    assert stored["indexer_events_pending", ()] == 3 and stored["indexer_events_applied_total", ()] == 0
    assert stored["indexer_oldest_pending_event_age_seconds", ()] >= 0
    assert abs(stored["indexer_webhook_last_received_timestamp_seconds", ()] - time.time()) < 60
    worker = Worker(engine, StripeAPI("sk_test_metrics", api_base="http://127.0.0.1:9", rate=1000.0))
    try:
        assert worker.run(once=True).applied == 3  # product events need no Stripe request
    finally:
        worker.close()
    applied = scrape(app)
    assert applied["indexer_events_applied_total", ()] == 3 and applied["indexer_events_pending", ()] == 0
    assert applied["indexer_oldest_pending_event_age_seconds", ()] == 0
    assert applied["indexer_worker_batch_seconds_count", ()] == 1
    assert applied["indexer_worker_batch_seconds_bucket", (("le", "+Inf"),)] == 1
    assert 0 < applied["indexer_worker_batch_seconds_sum", ()] < 60
    assert applied["indexer_stripe_requests_total", (("process", "worker"),)] == 0
    assert "indexer_worker_last_batch_timestamp_seconds" in {name for name, _ in applied}
    app.extensions["indexer.engine"].dispose()


def test_failed_events_show_in_the_gauge_and_the_parked_counter(engine: Engine) -> None:
    app = make_app(engine)
    body = json.dumps(make_event("evt_bad", type="checkout.session.completed",
                                 data={"object": {"id": "cs_test_gone", "object": "checkout.session"}})).encode()
    assert app.test_client().post("/webhooks/stripe", data=body, headers=signed(body)).status_code == 200
    worker = Worker(engine, StripeAPI("sk_test_metrics", api_base="http://127.0.0.1:9", rate=1000.0, max_retries=0),
                    max_attempts=1)
    try:
        assert worker.run(once=True).failed == 1
    finally:
        worker.close()
    metrics = scrape(app)
    assert metrics["indexer_events_failed", ()] == 1 and metrics["indexer_events_parked_total", ()] == 1
    assert metrics["indexer_stripe_requests_total", (("process", "worker"),)] >= 1
    app.extensions["indexer.engine"].dispose()


def test_products_waiting_for_a_backfill_refresh_show_in_their_gauge(engine: Engine) -> None:
    app = make_app(engine)
    assert scrape(app)["indexer_rollups_stale_products", ()] == 0
    shop = Shop(engine, defer_rollups=True)  # as a backfill's pages write
    shop.checkout(("prod_A", 100), ("prod_B", 200), customer="cus_1")
    shop.checkout(("prod_A", 300), customer="cus_2")
    assert scrape(app)["indexer_rollups_stale_products", ()] == (2 if db.is_postgres(engine) else 0)
    rollups.refresh(engine)
    assert scrape(app)["indexer_rollups_stale_products", ()] == 0
    app.extensions["indexer.engine"].dispose()


def test_every_process_answers_with_the_totals_of_all(engine: Engine) -> None:
    """Two apps stand for two gunicorn processes: each counts its own deliveries, and a scrape
    of either gives the sum once the other has written its second's worth."""
    first, second = make_app(engine), make_app(engine)
    assert post(first, "evt_a") == 200 and post(first, "evt_b") == 200 and post(second, "evt_c") == 200
    tally, _flusher = first.extensions["indexer.metrics.tally"]
    tally.flush(first.extensions["indexer.engine"])
    assert deliveries(scrape(second), "stored") == 3
    assert deliveries(scrape(first), "stored") == 3


def test_an_unmigrated_database_answers_503_with_the_reason(database_url_engine: Engine) -> None:
    response = make_app(database_url_engine).test_client().get("/metrics")
    assert response.status_code == 503 and "run `indexer migrate`" in response.get_data(as_text=True)


def test_counts_kept_while_the_database_is_away_are_written_later(engine: Engine) -> None:
    tally = counters.Tally()
    tally.count("webhook_deliveries", "stored", 2)
    tally.latest("webhook_last_received_at", 100.0)
    away = db.make_engine("postgresql+psycopg://indexer@127.0.0.1:9/nowhere?connect_timeout=2")
    assert tally.flush(away) is False
    tally.count("webhook_deliveries", "stored")
    tally.latest("webhook_last_received_at", 50.0)
    assert tally.pending() == {("webhook_deliveries", "stored"): 3.0, ("webhook_last_received_at", ""): 100.0}
    assert tally.flush(engine) is True and tally.pending() == {}
    tally.latest("webhook_last_received_at", 70.0)  # an older time never replaces a newer one
    tally.flush(engine)
    totals = db.read(engine, counters.read)
    assert totals[("webhook_deliveries", "stored")] == 3 and totals[("webhook_last_received_at", "")] == 100


def test_batch_latency_buckets() -> None:
    assert [counters.batch_bucket(s) for s in (0.01, 0.05, 0.051, 7, 120, 121)] == [
        "0.05", "0.05", "0.1", "10", "120", "+Inf"]


def test_the_migration_starts_the_counters_from_the_event_store(database_url_engine: Engine) -> None:
    engine = database_url_engine
    db.migrate(engine, "0005_day_moves")
    rows = [("evt_1", "done", "webhook", 10), ("evt_2", "skipped", "webhook", 30), ("evt_3", "failed", "webhook", 20),
            ("evt_4", "pending", "catch-up", 40)]
    with db.transaction(engine) as conn:
        for event_id, status, source, received in rows:
            conn.execute(text(
                "INSERT INTO stripe_events (id, type, created, livemode, account, payload, source, status, "
                "attempts, available_at, received_at) VALUES (:id, 'product.created', 1, false, '', '{}', "
                ":source, :status, 1, 0, :received)"), {"id": event_id, "status": status, "source": source,
                                                        "received": received})
    seeded = {("webhook_deliveries", "stored"): 3, ("events_applied", ""): 2, ("events_parked", ""): 1,
              ("webhook_last_received_at", ""): 30}
    db.migrate(engine)
    assert db.read(engine, counters.read) == seeded
    alembic(engine, "downgrade", "0005_day_moves")
    assert not db.read(engine, lambda conn: inspect(conn).has_table("metric_counters"))
    db.migrate(engine)
    assert db.read(engine, counters.read) == seeded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(120)
def test_under_gunicorn_every_worker_process_reports_every_delivery(engine: Engine, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": engine_url(engine), "STRIPE_WEBHOOK_SECRET": SECRET}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "3", "indexer.wsgi:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gunicorn.log", "w"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200)
        for i in range(30):  # a new connection each: the requests spread over the processes
            body = json.dumps(make_event(f"evt_g{i}", **PRODUCT_EVENT)).encode()
            request = urllib.request.Request(f"{base}/webhooks/stripe", data=body, headers=signed(body))
            assert urllib.request.urlopen(request, timeout=10).status == 200

        def every_scrape_counts_30() -> bool:
            scrapes = [samples(urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()) for _ in range(6)]
            return all(deliveries(s, "stored") == 30 and s["indexer_events_pending", ()] == 30 for s in scrapes)

        _wait_for(every_scrape_counts_30)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)
