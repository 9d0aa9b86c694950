"""Backfill against the sandbox over HTTP, on SQLite and PostgreSQL.

The shop's history and the helpers are in ``tests/history/conftest.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from indexer import models
from indexer.cli import main
from indexer.history import checkpoints
from indexer.history.checkpoints import Scope
from indexer.index import rollups
from tests.conftest import assert_rollups_match
from tests.history.conftest import DAY, Crashing, History, client, customers, history, run, snapshot


def test_full_backfill_gives_who_bought_what(engine: Engine, sandbox: Any, shop: History, small_pages: None) -> None:
    sandbox.latency = 0.01  # as over a network: idle threads get the time to cut the sessions
    api = client(sandbox)
    result = run(engine, api)
    assert customers(engine) == shop.expected
    sessions = result.streams["sessions"]
    assert sessions.objects == sum(1 for s in shop.store.sessions.values() if s.status == "complete")
    assert sessions.shards > 1, "idle threads should have cut the sessions' range"
    with engine.begin() as conn:
        names = dict(conn.execute(select(models.products_t.c.id, models.products_t.c.name)).all())
        # the 120 line items of one session were all read, past the embedded first page
        collector = conn.execute(text("SELECT count(*) FROM purchases WHERE email = 'collector@example.com'")).scalar()
    assert names[shop.products["stickers"]] == "Sticker Pack"
    assert collector == 120


def test_backfill_matches_generated_truth(engine: Engine, sandbox: Any) -> None:
    generator = pytest.importorskip("stripe_sandbox.generator")
    generator.generate(sandbox.store, 300, 0)
    run(engine, client(sandbox), concurrency=8)
    assert customers(engine) == generator.truth(sandbox.store)
    assert_rollups_match(engine)
    with engine.connect() as conn:
        assert rollups.stale_products(conn) == 0  # the pages deferred them; the run refreshed them as it ended


def test_rerun_of_finished_range_sends_nothing_and_changes_nothing(
    engine: Engine, sandbox: Any, shop: History, small_pages: None
) -> None:
    api = client(sandbox)
    until = int(time.time())
    run(engine, api, until=until)
    with engine.begin() as conn:
        before = [tuple(r) for r in conn.execute(select(models.purchases_t).order_by(models.purchases_t.c.id))]
    again = client(sandbox)
    result = run(engine, again, until=until)
    assert again.request_count == 0
    assert result.objects == 0
    with engine.begin() as conn:
        after = [tuple(r) for r in conn.execute(select(models.purchases_t).order_by(models.purchases_t.c.id))]
    assert after == before
    # a narrower range inside the finished one is finished too
    narrower = client(sandbox)
    run(engine, narrower, since=until - 10 * DAY, until=until - DAY)
    assert narrower.request_count == 0


@pytest.mark.parametrize("path", ["/v1/checkout/sessions", "/v1/invoices"])
def test_killed_backfill_resumes_with_no_gap_and_no_duplicate(
    engine: Engine, sandbox: Any, shop: History, small_pages: None, path: str
) -> None:
    until = int(time.time())
    crashing = Crashing("sk_test_backfill", api_base=sandbox.url, rate=500.0, path=path, after=3)
    with pytest.raises(KeyboardInterrupt):
        run(engine, crashing, until=until, concurrency=2)
    assert_rollups_match(engine)  # what was written before the crash is summed
    stream = "sessions" if "sessions" in path else "invoices"
    with engine.begin() as conn:
        progress = checkpoints.load(conn, Scope("", False), stream, 0, until)
    assert progress and not all(s.done for s in progress)
    resumed = run(engine, client(sandbox), until=until, concurrency=2)
    assert customers(engine) == shop.expected
    # every object was listed exactly once over both runs
    for name, stats in resumed.streams.items():
        total = stats.objects_before + stats.objects
        if name == "sessions":
            assert total == sum(1 for s in shop.store.sessions.values() if s.status == "complete")
        if name == "invoices":
            assert total == sum(1 for i in shop.store.invoices.values() if i.status == "paid")
    fresh_db = snapshot(engine)
    with engine.begin() as conn:
        dupes = conn.execute(text(
            "SELECT count(*) FROM (SELECT source_id, line_item_id FROM purchases "
            "GROUP BY source_id, line_item_id HAVING count(*) > 1) d"
        )).scalar()
    assert dupes == 0 and fresh_db


def test_product_route_finds_the_same_customers(engine: Engine, sandbox: Any, shop: History) -> None:
    for key in ("ebook", "course", "plan", "stickers"):
        product = shop.products[key]
        api = client(sandbox)
        run(engine, api, product=product)
        assert customers(engine).get(product) == shop.expected[product], key


def test_product_route_through_links_only(engine: Engine, sandbox: Any, shop: History) -> None:
    """Only link sessions, but of every link holding the product, and none of other links."""
    product = shop.products["ebook"]
    api = client(sandbox)
    run(engine, api, product=product, links_only=True)
    with engine.begin() as conn:
        links = {r[0] for r in conn.execute(text("SELECT DISTINCT payment_link FROM purchases"))}
    assert links == {shop.links["ebook"]}
    link_buyers = {f"buyer{i}@example.com" for i in range(20)}
    assert customers(engine)[product] == link_buyers


def test_product_route_of_a_subscription_product_uses_its_subscriptions(
    engine: Engine, sandbox: Any, shop: History
) -> None:
    api = client(sandbox)
    run(engine, api, product=shop.products["plan"])
    with engine.begin() as conn:
        sources = {r[0] for r in conn.execute(text("SELECT DISTINCT source_type FROM purchases"))}
    assert sources == {"invoice"}  # the session and its invoice are one payment: the invoice's rows
    assert customers(engine) == {shop.products["plan"]: shop.expected[shop.products["plan"]]}


def test_requests_stay_near_the_minimum(engine: Engine, sandbox: Any, small_pages: None) -> None:
    """Pages of 5: the minimum is one page per 5 objects of each stream (plus line-item pages)."""
    shop = history(sandbox.store, sessions=200)
    api = client(sandbox)
    result = run(engine, api, concurrency=4)
    minimum = sum(-(-stats.objects // 5) for stats in result.streams.values())
    extra_lines = 120 // 5  # the 120-item session: a page of the embedded list, then 23 more
    assert customers(engine) == shop.expected
    assert api.request_count <= 1.1 * (minimum + extra_lines) + 2


def test_cli_rejects_bad_dates_with_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")
    assert main(["backfill", "--since", "2024-13-01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "indexer backfill: --since: expected a date YYYY-MM-DD, got '2024-13-01'"
    assert main(["backfill", "--since", "2024-05-02", "--until", "2024-05-01"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_needs_an_api_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["backfill"]) == 2
    assert "STRIPE_API_KEY is not set" in capsys.readouterr().err


def test_cli_backfill_prints_a_summary(
    engine: Engine, sandbox: Any, shop: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import engine_url

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_cli")
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    assert main(["backfill", "--rate", "500", "--concurrency", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backfill: products 4, sessions ")
    assert customers(engine) == shop.expected
