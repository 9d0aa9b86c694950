"""Catch-up from ``/v1/events``, and the three ways of filling the index giving the same rows.

Webhooks are played by storing the sandbox's own events (listed over HTTP, as Stripe renders
them) in the event store, exactly as the webhook endpoint does, then running the worker.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from indexer import db, models
from indexer.cli import main
from indexer.ingest import catchup
from tests.conftest import engine_url, make_event, product_object
from tests.history.conftest import (
    Crashing,
    History,
    client,
    customers,
    history,
    run,
    snapshot,
    view,
)
from tests.ingest.conftest import deliver_events, sandbox_events, work

DAY = 86400


@pytest.fixture
def shop(sandbox: Any) -> History:
    return history(sandbox.store, sessions=24, invoices=6)


def stored(engine: Engine, source: str | None = None) -> int:
    query = select(func.count()).select_from(models.events_t)
    if source:
        query = query.where(models.events_t.c.source == source)
    with db.transaction(engine) as conn:
        return int(conn.execute(query).scalar_one())


def test_catch_up_alone_gives_the_backfilled_index(
    engine: Engine, sandbox: Any, shop: History, tmp_path: Any
) -> None:
    api = client(sandbox)
    result = catchup.catch_up(engine, api)
    assert result.listed == len(sandbox_events(api)) and result.stored == result.listed
    assert not result.backfill_needed
    assert stored(engine, "catch-up") == result.stored
    work(engine, api)
    assert customers(engine) == shop.expected

    other = db.make_engine(f"sqlite:///{tmp_path / 'backfilled.db'}")
    db.migrate(other)
    run(other, client(sandbox))
    assert snapshot(engine) == snapshot(other)
    assert view(engine) == view(other)


def test_backfill_after_partial_webhooks_gives_the_same_index(
    engine: Engine, sandbox: Any, shop: History, tmp_path: Any
) -> None:
    api = client(sandbox)
    every = sandbox_events(api)
    deliver_events(engine, every[: len(every) // 2])
    work(engine, api)
    run(engine, client(sandbox))

    only_backfill = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    db.migrate(only_backfill)
    run(only_backfill, client(sandbox))
    only_webhooks = db.make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    db.migrate(only_webhooks)
    deliver_events(only_webhooks, every)
    work(only_webhooks, client(sandbox))

    assert snapshot(engine) == snapshot(only_backfill) == snapshot(only_webhooks)
    assert view(engine) == view(only_backfill) == view(only_webhooks)
    assert customers(engine) == shop.expected


def test_catch_up_stores_only_what_is_missing(engine: Engine, sandbox: Any, shop: History) -> None:
    api = client(sandbox)
    every = sandbox_events(api)
    deliver_events(engine, every[: len(every) - 10])
    result = catchup.catch_up(engine, api)
    assert result.stored == 10
    assert stored(engine) == len(every)
    assert stored(engine, "catch-up") == 10
    # from the newest stored event on, not the whole retention window
    assert result.listed < len(every)
    again = catchup.catch_up(engine, client(sandbox))
    assert again.stored == 0


def test_interrupted_catch_up_resumes(
    engine: Engine, sandbox: Any, shop: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer import stripe_api

    monkeypatch.setattr(stripe_api, "PAGE_LIMIT", 10)
    api = client(sandbox)
    every = sandbox_events(api)
    crashing = Crashing("sk_test_catchup", api_base=sandbox.url, rate=500.0, path="/v1/events", after=3)
    with pytest.raises(KeyboardInterrupt):
        catchup.catch_up(engine, crashing)
    partial = stored(engine)
    assert 0 < partial < len(every)
    # the newest events are stored, but the rerun still finishes the older part of the range
    catchup.catch_up(engine, client(sandbox))
    assert stored(engine) == len(every)


def test_a_gap_older_than_the_event_retention_is_reported(
    engine: Engine, sandbox: Any, shop: History, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = int(time.time()) - 40 * DAY
    event = make_event("evt_old", obj=product_object("prod_old", "Old", created=old), type="product.updated",
                       created=old, api_version="2025-03-31.basil")
    deliver_events(engine, [event])
    result = catchup.catch_up(engine, client(sandbox))
    assert result.backfill_needed and result.gap_since == old
    assert result.stored == len(sandbox_events(client(sandbox)))  # what Stripe still has is kept

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_cli")
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    with db.transaction(engine) as conn:
        conn.execute(models.events_t.delete().where(models.events_t.c.id != "evt_old"))
        conn.execute(models.progress_t.delete())
    assert main(["catch-up"]) == 0
    captured = capsys.readouterr()
    day = time.strftime("%Y-%m-%d", time.gmtime(old))
    assert "older than Stripe's 30-day event retention" in captured.err
    assert f"indexer backfill --since {day}" in captured.err
    assert captured.out.startswith("catch-up: ")
