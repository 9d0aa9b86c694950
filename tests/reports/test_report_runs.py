"""``indexer report fetch`` against the sandbox's Report Runs: the newest itemized type with
explicit id columns, the month clamped to Stripe's data, the run recorded and resumed, the
worker keeping the file when the webhook says the run succeeded, failures and timeouts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from indexer import db
from indexer.errors import ReportPending, StripeError, UsageError
from indexer.ingest import event_store
from indexer.ingest.worker import Worker
from indexer.reports import kept
from indexer.reports.monthly import monthly
from indexer.reports.period import Month
from indexer.reports.report_runs import fetch
from indexer.stripe_api import StripeAPI
from stripe_sandbox.render import Renderer, version
from stripe_sandbox.server import SandboxServer
from tests.reports.conftest import JULY as JULY_UTC
from tests.reports.conftest import NOW, Shop

JULY = Month.parse("2026-07", "Europe/Paris")


def posts(shop: Shop) -> int:
    return shop.server.request_count.get("POST /v1/reporting/report_runs", 0)


def test_fetch_waits_keeps_and_resumes(engine: Engine, shop: Shop, tmp_path: Path) -> None:
    said: list[str] = []
    out = tmp_path / "july.csv"
    done = fetch(JULY, engine=engine, api=shop.api(), output=out, poll=0.02, progress=said.append)
    assert done.run.report_type == "balance_change_from_activity.itemized.7"
    assert done.run.kept_at is not None and done.size == out.stat().st_size
    header = out.read_text().splitlines()[0].split(",")
    assert header[:9] == ["balance_transaction_id", "created", "available_on", "currency", "gross",
                          "fee", "net", "reporting_category", "description"]
    assert {"created_utc", "payment_intent_id", "charge_id", "invoice_id", "source_id"} <= set(header)
    run = shop.store.report_runs[done.run.id]
    assert run.parameters["timezone"] == "Europe/Paris"
    # Paris's July starts two hours before the sandbox's data (1 July, UTC): clamped, and said
    assert JULY.bounds()[0] < JULY_UTC == run.parameters["interval_start"]
    assert done.note is not None and "data starts" in done.note
    assert said[0].startswith("started report run")
    again = fetch(JULY, engine=engine, api=shop.api(), poll=0.02)
    assert again.resumed and again.run.id == done.run.id and posts(shop) == 1


def test_no_wait_then_the_worker_keeps_the_file(engine: Engine, shop: Shop, tmp_path: Path) -> None:
    shop.server.api.reports.delay = 0.01
    started = fetch(JULY, engine=engine, api=shop.api(), wait=False)
    assert started.run.kept_at is None and started.run.status == "pending"
    time.sleep(0.05)
    shop.server.api.reports.finish_due()
    events = [e for e in shop.store.events.values() if e.type == "reporting.report_run.succeeded"]
    assert len(events) == 1
    body = Renderer(shop.store).render(events[0], version(events[0].api_version))
    with db.transaction(engine) as conn:
        assert event_store.store_event(conn, json.dumps(body), source="webhook")
    worker = Worker(engine, shop.api(), batch_size=10, threads=2)
    try:
        worker.run(once=True)
    finally:
        worker.close()
    found = kept.kept_for_month(engine, "", False, "2026-07")
    assert found is not None and found.id == started.run.id and found.status == "succeeded"
    assert b"".join(kept.file_pieces(engine, found.id)).startswith(b"balance_transaction_id,")
    done = monthly(Month.parse("2026-07"), tmp_path / "pdfs", engine=engine, livemode=False,
                   api=shop.api)
    assert done.source.startswith("the kept report of 2026-07") and len(done.pdfs) == 4
    # the waiting command finds the file kept and asks nothing more of Stripe's runs
    again = fetch(JULY, engine=engine, api=shop.api(), poll=0.02)
    assert again.resumed and again.run.kept_at is not None and posts(shop) == 1


def test_a_failed_run_is_reported_and_a_new_one_started_next_time(engine: Engine, shop: Shop) -> None:
    shop.server.api.reports.fail_rate = 1.0
    with pytest.raises(StripeError, match="failed: The report could not be generated"):
        fetch(JULY, engine=engine, api=shop.api(), poll=0.02)
    shop.server.api.reports.fail_rate = 0.0
    done = fetch(JULY, engine=engine, api=shop.api(), poll=0.02)
    assert not done.resumed and done.run.kept_at is not None and posts(shop) == 2


def test_months_without_data_and_clamped_months(engine: Engine, shop: Shop) -> None:
    with pytest.raises(UsageError, match="no data for 2026-09 yet"):
        fetch(Month.parse("2026-09"), engine=engine, api=shop.api())
    done = fetch(Month.parse("2026-08"), engine=engine, api=shop.api(), poll=0.02)
    assert done.note is not None and "before the end of 2026-08" in done.note
    assert shop.store.report_runs[done.run.id].parameters["interval_end"] == NOW


def test_timeout_says_how_to_resume(engine: Engine, shop: Shop) -> None:
    shop.server.api.reports.delay = 3600
    with pytest.raises(ReportPending, match="run the same command again"):
        fetch(JULY, engine=engine, api=shop.api(), timeout=0.1, poll=0.02)
    assert posts(shop) == 1


def test_live_mode_is_required_as_stripe_requires_it(engine: Engine, shop: Shop) -> None:
    strict = SandboxServer(shop.store).start()
    try:
        api = StripeAPI("sk_test_strict", api_base=strict.url, rate=1000)
        with pytest.raises(StripeError, match="live-mode API key"):
            fetch(JULY, engine=engine, api=api)
        assert kept.attempts(engine, kept.RunRequest("", False, "x", 0, 0, "", ())) == 0
    finally:
        strict.stop()
