"""``GET /metrics``: Prometheus' text format, the same answer from whichever process is asked.

No token, like ``/healthz``: the figures are counts and ages, no customer, product or amount.

Two sources, both in the database, because a scrape reaches one of several gunicorn processes
and the workers run elsewhere:

* the event store at scrape time, for what is waiting: pending and failed events, and the age
  of the oldest pending one (``event_store.queue_summary``, which reads the pending rows only),
  and the products whose rollups a backfill deferred (``indexer.index.rollups``);
* ``metric_counters`` for totals that only grow: webhook deliveries (counted here, after each
  answer of ``POST /webhooks/stripe``, and added by each process once a second), events applied,
  retried and parked by workers, worker batch latency, Stripe requests and 429s (added by each
  worker after each batch; see ``indexer.ingest.counters``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.index import rollups
from indexer.ingest import counters, event_store
from indexer.ingest.counters import Key
from indexer.web import engine, health

bp = Blueprint("metrics", __name__)

WEBHOOK_OUTCOMES = ("stored", "duplicate", "rejected", "failed")
#: how the webhook's answer says a delivery was already stored (read as bytes: a JSON parse
#: would cost each webhook more than the rest of its counting)
DUPLICATE = b'"duplicate": true'

TALLY = "indexer.metrics.tally"


def _tally() -> counters.Tally:
    return _counting()[0]


def _counting(app: Flask | None = None) -> tuple[counters.Tally, counters.Flusher]:
    """This app's tally and flusher (``app`` or the current one), made at its first use."""
    extensions = (app or current_app).extensions
    found = extensions.get(TALLY)
    if found is None:
        tally = counters.Tally()
        found = extensions.setdefault(TALLY, (tally, counters.Flusher(tally, extensions["indexer.engine"])))
    return found  # type: ignore[no-any-return]


def webhook_outcome(status: int, duplicate: bool) -> str:
    """``stored`` or ``duplicate`` (2xx), ``rejected`` (4xx: bad signature or body, nothing
    kept), ``failed`` (5xx: not stored, Stripe will retry)."""
    if status < 300:
        return "duplicate" if duplicate else "stored"
    return "rejected" if status < 500 else "failed"


@bp.after_app_request
def _count_webhook(response: Response) -> Response:
    if request.endpoint != "webhooks.receive":
        return response
    status = response.status_code
    count_webhook_answer(None, status, duplicate=status < 300 and DUPLICATE in response.get_data())
    return response


def count_webhook_answer(app: Flask | None, status: int, *, duplicate: bool) -> None:
    """Count one answer of ``POST /webhooks/stripe`` in ``app`` (or the current app): the view's,
    through the hook above, and ``webhooks.WebhookFastPath``'s, which answers without Flask."""
    tally, flusher = _counting(app)
    tally.count("webhook_deliveries", webhook_outcome(status, duplicate))
    if status < 300:
        tally.latest("webhook_last_received_at", time.time())
    flusher.ensure_running()


@bp.get("/metrics")
def metrics() -> Response:
    try:
        problem = health.current_schema_problem()
        if problem is not None:
            return Response(f"# {problem}\n", status=503, mimetype="text/plain")
        _tally().flush(engine())
        queue, totals = db.read(engine(), lambda conn: (
            {**event_store.queue_summary(conn), "rollups_stale": rollups.stale_products(conn)}, counters.read(conn)))
    except DatabaseUnavailable as exc:
        return Response(f"# {exc.public_message}\n", status=503, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(queue, totals, time.time()))
    encode, content_type = choose_encoder(request.headers.get("Accept"))
    return Response(encode(registry), content_type=content_type)


class Snapshot(Collector):
    """The metric families of one scrape, from figures already read."""

    def __init__(self, queue: dict[str, int | None], totals: dict[Key, float], now: float) -> None:
        self.queue = queue
        self.totals = totals
        self.now = now

    def total(self, name: str, label: str = "") -> float:
        return self.totals.get((name, label), 0.0)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        deliveries = CounterMetricFamily(
            "indexer_webhook_deliveries", "Stripe webhook deliveries answered, by outcome: stored, "
            "duplicate (already stored), rejected (bad signature or body), failed (not stored; Stripe retries)",
            labels=["outcome"])
        for outcome in WEBHOOK_OUTCOMES:
            deliveries.add_metric([outcome], self.total("webhook_deliveries", outcome))
        yield deliveries
        for name, key, doc in (
            ("indexer_events_applied", "events_applied", "Events applied to the index (or skipped as not needed)"),
            ("indexer_events_retried", "events_retried", "Event attempts that failed transiently and were rescheduled"),
            ("indexer_events_parked", "events_parked", "Events parked as failed (see `indexer events --failed`)"),
        ):
            yield CounterMetricFamily(name, doc, value=self.total(key))
        queue = self.queue
        yield GaugeMetricFamily("indexer_events_pending", "Stored events not applied yet",
                                value=queue["pending"] or 0)
        yield GaugeMetricFamily("indexer_events_failed", "Events in state failed now, waiting for "
                                "`indexer events retry`", value=queue["failed"] or 0)
        oldest = queue["oldest_pending_received_at"]
        yield GaugeMetricFamily(
            "indexer_oldest_pending_event_age_seconds",
            "Seconds since the oldest pending event was received (0 when none is pending)",
            value=max(0.0, self.now - oldest) if oldest is not None else 0.0)
        yield GaugeMetricFamily(
            "indexer_rollups_stale_products",
            "Products whose summaries wait for a backfill's refresh of their rollups (0 when none is deferred)",
            value=queue["rollups_stale"] or 0)
        yield self.batch_latency()
        for name, key, doc in (
            ("indexer_stripe_requests", "stripe_requests", "HTTP requests sent to Stripe, retries included"),
            ("indexer_stripe_rate_limited", "stripe_rate_limited", "Stripe answers 429 (rate limited)"),
        ):
            family = CounterMetricFamily(name, doc, labels=["process"])
            family.add_metric(["worker"], self.total(key, "worker"))
            yield family
        for name, key, doc in (
            ("indexer_webhook_last_received_timestamp_seconds", "webhook_last_received_at",
             "When the newest verified webhook delivery arrived (Unix time)"),
            ("indexer_worker_last_batch_timestamp_seconds", "worker_last_batch_at",
             "When a worker last finished a batch of events (Unix time)"),
        ):
            if (key, "") in self.totals:
                yield GaugeMetricFamily(name, doc, value=self.total(key))

    def batch_latency(self) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        cumulative = 0.0
        for bound in (*(f"{b:g}" for b in counters.BATCH_BUCKETS), counters.INF):
            cumulative += self.total("worker_batch_seconds_bucket", bound)
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(
            "indexer_worker_batch_seconds", "Seconds a worker took to claim, apply and settle a batch",
            buckets=buckets, sum_value=self.total("worker_batch_seconds_sum"))
