"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, on an index
seeded from the Stripe sandbox (backfill), on SQLite and PostgreSQL.

A person signs in, finds a product, pages through its customers both ways, filters by dates,
downloads the CSV (compared with ``indexer customers --format csv``), looks a customer up and
retries a failed event, and downloads a month's PDF from the reports page (the month fetched
through Report Runs, as ``indexer report fetch`` does). A screenshot of each page, on a laptop and on a phone, is kept under
``tests/artifacts/dashboard/``. Skipped where Chromium (``apt-get install -y chromium``) or
Playwright is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from werkzeug.serving import make_server

from indexer import create_app, db
from indexer.answers import queries
from indexer.config import Settings
from indexer.history import backfill
from indexer.ingest import event_store
from indexer.ingest.worker import Worker
from indexer.reports.period import Month
from indexer.reports.report_runs import fetch
from indexer.stripe_api import StripeAPI
from tests.conftest import engine_url, make_event
from tests.reports.test_monthly import pdf_text

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
TOKEN = "browser-token-" + "b" * 32
INDEXER = Path(sys.executable).with_name("indexer")
LAPTOP, PHONE = {"width": 1280, "height": 860}, {"width": 390, "height": 844}

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():
    pytest.skip("no Chromium at /usr/bin/chromium: `apt-get install -y chromium` to run the dashboard's browser test",
                allow_module_level=True)


@pytest.fixture
def seeded(engine: Engine, sandbox: Any) -> Engine:
    """The sandbox's seed history, backfilled; and one event the worker had to park as failed
    (a live-mode event, read with a test-mode key)."""
    from stripe_sandbox import generator

    generator.generate(sandbox.store, 300, 5)
    api = StripeAPI("sk_test_browser", api_base=sandbox.url, rate=500.0)
    backfill.run(engine, api, backfill.Request(), concurrency=4)
    event = make_event("evt_live_browser", obj={"id": "cs_live_browser", "object": "checkout.session"},
                       api_version="2025-03-31.basil", created=int(time.time()), livemode=True, account=None)
    with db.transaction(engine) as conn:
        event_store.store_event(conn, json.dumps(event), source="webhook")
    worker = Worker(engine, api)
    try:
        assert worker.run(once=True).failed == 1
    finally:
        worker.close()
    return engine


@pytest.fixture
def site(seeded: Engine) -> Iterator[str]:
    app = create_app(Settings(database_url=engine_url(seeded), dashboard_tokens=(TOKEN,), secret_key="s" * 48))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["indexer.engine"].dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shoot(page: Any, name: str, request: pytest.FixtureRequest) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    database = request.node.callspec.params.get("database_url_engine", "db")
    page.screenshot(path=str(ARTIFACTS / f"{database}-{name}.png"), full_page=True)


def emails_on(page: Any) -> list[str]:
    return [cell.strip() for cell in page.locator("table.customers td.email").all_inner_texts()]


def cli_csv(engine: Engine, *args: str) -> bytes:
    command = [str(INDEXER)] if INDEXER.exists() else [sys.executable, "-c", "import sys; from indexer.cli import main; sys.exit(main())"]
    return subprocess.run([*command, "customers", *args, "--format", "csv"], capture_output=True, check=True,
                          env={**os.environ, "DATABASE_URL": engine_url(engine)}).stdout


def fetch_a_month(engine: Engine, sandbox: Any, product_id: str) -> Month:
    """The month of the product's latest sale, fetched through Report Runs and kept, as
    `indexer report fetch --month` does (the sandbox lets a test-mode key run reports)."""
    sandbox.api.reports.allow_test_mode = True
    sandbox.api.reports.delay = 0.0
    with db.transaction(engine) as conn:
        newest = conn.execute(text(
            "SELECT max(purchased_at) FROM purchases WHERE product_id = :p"), {"p": product_id}).scalar()
    month = Month.parse(time.strftime("%Y-%m", time.gmtime(newest)))
    api = StripeAPI("sk_test_browser", api_base=sandbox.url, rate=500.0)
    done = fetch(month, engine=engine, api=api, poll=0.05, timeout=60)
    assert done.run.kept_at is not None
    return month


def test_a_person_finds_the_buyers_of_a_product_and_downloads_them(
    site: str, seeded: Engine, sandbox: Any, browser: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with db.transaction(seeded) as conn:
        product_id, name, buyers = conn.execute(text(
            "SELECT t.product_id, p.name, count(*) FROM product_customers t JOIN products p "
            "ON p.id = t.product_id AND p.account = t.account WHERE t.account = '' AND NOT t.livemode "
            "GROUP BY t.product_id, p.name ORDER BY count(*) DESC, t.product_id LIMIT 1")).one()
    assert buyers > 100, "the seed should give one product more than a page of buyers"
    everyone = [e["email"] for e in queries.iter_product_customers(seeded, product_id, queries.Filters(livemode=False))]

    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{site}/dashboard/")
    assert page.url.startswith(f"{site}/dashboard/sign-in")
    shoot(page, "1-sign-in", request)
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "That token is not valid." in page.inner_text("main")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("table.products")
    shoot(page, "2-products", request)

    page.fill("#q", name.split()[0])
    page.click("form.search button[type=submit]")
    page.click(f"table.products a:text-is('{name}')")
    page.wait_for_selector("table.customers")
    assert page.inner_text("h1") == name
    shoot(page, "3-product", request)

    first_page = emails_on(page)
    page.click("a[rel=next]")
    page.wait_for_load_state()
    second_page = emails_on(page)
    assert first_page + second_page == everyone[: len(first_page) + len(second_page)]
    assert len(first_page) == 100 and second_page
    page.click("a[rel=prev]")
    page.wait_for_load_state()
    assert emails_on(page) == first_page

    newest = max(e["last_purchased_at"] for e in queries.iter_product_customers(seeded, product_id, queries.Filters(livemode=False)))
    since = time.strftime("%Y-%m-%d", time.gmtime(newest - 60 * 86_400))
    until = time.strftime("%Y-%m-%d", time.gmtime(newest - 10 * 86_400))
    page.fill("input[name=since]", since)
    page.fill("input[name=until]", until)
    page.check("input[name=include_refunded]")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("section.chart-card")
    window = queries.Created(gte=_day(since), lt=_day(until) + 86_400)
    in_window = [e["email"] for e in queries.iter_product_customers(
        seeded, product_id, queries.Filters(livemode=False, created=window, include_refunded=True))]
    assert 0 < len(in_window) < 100
    assert emails_on(page) == in_window
    assert page.locator("section.chart-card svg g.bar").count() == 51
    shoot(page, "4-product-dates", request)

    with page.expect_download() as download:
        page.click("text=Download CSV")
    saved = tmp_path / "download.csv"
    download.value.save_as(saved)
    assert saved.read_bytes() == cli_csv(seeded, product_id, "--testmode", "--since", since, "--until", until,
                                         "--include-refunded")
    assert download.value.suggested_filename == f"{product_id}-customers-{since}-{until}.csv"

    page.locator("table.customers td a").first.click()
    page.wait_for_selector("h1:text('Customers')")
    assert page.locator(f"table a:text-is('{name}')").count() == 1
    shoot(page, "5-customer", request)

    page.click("nav >> text=Events")
    page.wait_for_selector("table.events")
    assert "evt_live_browser" in page.inner_text("table.events")
    assert "STRIPE_API_KEY reads the other mode" in page.inner_text("table.events")
    shoot(page, "6-events", request)
    page.click("table.events button:text('Retry')")
    page.wait_for_selector("p.notice.ok")
    assert "Event evt_live_browser is queued again" in page.inner_text("p.notice.ok")
    with db.transaction(seeded) as conn:
        assert event_store.count_events(conn) == {"pending": 1, "failed": 0, "skipped": 0, "done": 0}
    shoot(page, "7-events-retried", request)

    month = fetch_a_month(seeded, sandbox, product_id)
    page.click("nav >> text=Reports")
    page.wait_for_selector("h1:text('Monthly reports')")
    card = page.locator(f"section.month:has(h2:text('{month.title}'))")
    assert card.locator(f"a:text-is('{name}')").count() == 1
    shoot(page, "8-reports", request)
    with page.expect_download() as download:
        card.locator(f"a:text-is('{name}')").click()
    assert download.value.suggested_filename == f"{product_id}-{month.label}.pdf"
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF") and name in pdf_text(pdf)
    with page.expect_download() as download:
        card.locator("a:text-is('Balance report with products')").click()
    enriched = tmp_path / "enriched.csv"
    download.value.save_as(enriched)
    assert product_id in enriched.read_text() and download.value.suggested_filename == f"enriched-{month.label}.csv"

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                storage_state=context.storage_state())
    small = phone.new_page()
    for path, shot in (("/dashboard/", "9-phone-products"), (f"/dashboard/products/{product_id}?mode=test", "10-phone-product")):
        small.goto(site + path)
        assert small.url == site + path, "the session should carry over"
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone: only tables may scroll"
        shoot(small, shot, request)
    phone.close()

    page.click("button:text('Sign out')")
    page.goto(f"{site}/dashboard/products/{product_id}")
    assert page.url.startswith(f"{site}/dashboard/sign-in")
    context.close()


def _day(value: str) -> int:
    return calendar.timegm(time.strptime(value, "%Y-%m-%d"))
