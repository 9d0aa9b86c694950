"""Deferred rollups (``indexer.index.rollups``): what a backfill writes is summed again once, exactly.

A transaction that defers its rollups leaves its products marked in ``rollup_stale``; a refresh
computes their rollups again from ``purchases``. Whatever else happened meanwhile (writes that
settle as they commit, refunds, removals, other refreshes, a writer still open), the rollups
equal the aggregates over ``purchases`` once the marks are refreshed.
"""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from indexer import db
from indexer.index import rollups
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from tests.conftest import T0, Shop, alembic, assert_rollups_match, query_rows


def _stale(engine: Engine) -> list[Any]:
    return query_rows(engine, "SELECT DISTINCT product_id FROM rollup_stale ORDER BY product_id")


def _history(shop: Shop, seed: int, sessions: int = 40) -> None:
    rng = random.Random(seed)
    written = []
    for _ in range(sessions):
        lines = [(f"prod_{rng.randrange(4)}", rng.randrange(100, 5000), rng.randrange(1, 3))
                 for _ in range(rng.randrange(1, 4))]
        buyer = rng.randrange(6)
        written.append(shop.checkout(
            *lines, customer=f"cus_{buyer}" if buyer < 4 else None, email=f"b{buyer}@example.com",
            currency=rng.choice(["usd", "usd", "eur"]), created=T0 + rng.randrange(4 * 86_400),
        ))
        if rng.random() < 0.3:
            shop.refund(rng.choice(written), rng.choice([100, 100_000]))


def test_deferred_writes_mark_their_products_and_one_refresh_sums_them(postgres_engine: Engine) -> None:
    engine = postgres_engine
    _history(Shop(engine, defer_rollups=True), seed=1)
    assert query_rows(engine, "SELECT DISTINCT product_id FROM rollup_stale ORDER BY 1") == [
        ("prod_0",), ("prod_1",), ("prod_2",), ("prod_3",)]
    assert query_rows(engine, "SELECT COUNT(*) FROM product_totals") == [(0,)]
    assert query_rows(engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]
    with engine.connect() as conn:
        assert rollups.stale_products(conn) == 4

    assert rollups.refresh(engine) == 4
    assert _stale(engine) == []
    assert_rollups_match(engine)
    assert rollups.refresh(engine) == 0


def test_settled_and_deferred_writes_of_the_same_products_end_exact(postgres_engine: Engine) -> None:
    """Writes that settle as they commit go on while a product's rollups are deferred: the
    refresh replaces whatever they moved, and writes after it settle on the refreshed rows."""
    engine = postgres_engine
    settled, deferred = Shop(engine), Shop(engine, counter=itertools.count(10_000), defer_rollups=True)
    _history(settled, seed=2, sessions=20)
    first = deferred.checkout(("prod_0", 500), ("prod_9", 70), customer="cus_0", created=T0)
    _history(deferred, seed=3, sessions=20)
    _history(settled, seed=4, sessions=10)
    deferred.refund(first, 100_000)  # prod_9 loses its only buyer before any refresh
    with db.transaction(engine) as conn:
        rollups.defer(conn)
        conn.execute(text("DELETE FROM purchases WHERE customer_key = 'cus_1'"))
    rollups.refresh(engine)
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT COUNT(*) FROM product_summary WHERE product_id = 'prod_9'") == [(0,)]
    _history(settled, seed=5, sessions=10)
    assert_rollups_match(engine)


def test_a_write_still_open_during_a_refresh_leaves_its_own_mark(postgres_engine: Engine) -> None:
    engine = postgres_engine
    shop = Shop(engine, defer_rollups=True)
    shop.checkout(("prod_A", 100), customer="cus_1")
    with db.transaction(engine) as conn:
        conn.execute(text("UPDATE rollup_stale SET due = 0"))  # marked long ago
    with db.transaction(engine) as writing:
        rollups.defer(writing)
        writing.execute(text("UPDATE purchases SET amount_total = 250 WHERE product_id = 'prod_A'"))
        assert rollups.refresh(engine) == 1  # sums what was committed: 100
        assert query_rows(engine, "SELECT amount_total FROM product_summary") == [(100,)]
    assert _stale(engine) == [("prod_A",)]
    assert rollups.refresh(engine) == 1
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT amount_total FROM product_summary") == [(250,)]


def test_the_worker_refreshes_only_marks_nobody_pushed_on_for_ten_minutes(postgres_engine: Engine) -> None:
    engine = postgres_engine
    shop = Shop(engine, defer_rollups=True)
    shop.checkout(("prod_A", 100), customer="cus_1")
    shop.checkout(("prod_B", 100), customer="cus_1")
    assert rollups.refresh(engine, overdue_only=True) == 0
    with db.transaction(engine) as conn:  # prod_A's backfill stopped eleven minutes ago
        conn.execute(text("UPDATE rollup_stale SET due = due - 660 WHERE product_id = 'prod_A'"))
    shop.checkout(("prod_A", 100), customer="cus_2")  # a mark of the last minute keeps waiting
    assert rollups.refresh(engine, overdue_only=True) == 0
    with db.transaction(engine) as conn:
        conn.execute(text("UPDATE rollup_stale SET due = due - 660 WHERE product_id = 'prod_A'"))
    worker = Worker(engine, StripeAPI("sk_test_rollups", api_base="http://127.0.0.1:9", rate=1000.0))
    try:
        worker.refresh_overdue_rollups(now=100.0)
        assert _stale(engine) == [("prod_B",)]
        assert query_rows(engine, "SELECT product_id FROM product_summary") == [("prod_A",)]
        with db.transaction(engine) as conn:
            conn.execute(text("UPDATE rollup_stale SET due = 0"))
        worker.refresh_overdue_rollups(now=130.0)  # looked a minute ago: not yet
        assert _stale(engine) == [("prod_B",)]
        worker.refresh_overdue_rollups(now=160.0)
        assert _stale(engine) == []
    finally:
        worker.close()
    assert_rollups_match(engine)


def test_concurrent_settled_and_deferred_writers_and_refreshes_never_deadlock_and_end_exact(
    postgres_engine: Engine,
) -> None:
    engine = postgres_engine
    errors: list[BaseException] = []
    done = threading.Event()

    def write(seed: int) -> None:
        try:
            rng = random.Random(seed)
            shop = Shop(engine, counter=itertools.count(seed * 10_000), defer_rollups=seed % 2 == 0)
            for _ in range(30):
                lines = [(f"prod_{rng.randrange(3)}", rng.randrange(100, 900)) for _ in range(rng.randrange(1, 4))]
                session = shop.checkout(*lines, customer=f"cus_{rng.randrange(4)}",
                                        created=T0 + rng.randrange(2) * 86_400)
                if rng.random() < 0.3:
                    shop.refund(session, rng.choice([100, 10_000]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def refresh() -> None:
        try:
            while not done.is_set():
                rollups.refresh(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    refresher = threading.Thread(target=refresh)
    for thread in [*writers, refresher]:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    refresher.join()
    assert errors == []
    rollups.refresh(engine)
    assert _stale(engine) == []
    assert_rollups_match(engine)


def test_on_sqlite_nothing_is_deferred(engine: Engine) -> None:
    if db.is_postgres(engine):
        pytest.skip("SQLite only")
    _history(Shop(engine, defer_rollups=True), seed=6, sessions=10)
    assert_rollups_match(engine)
    assert rollups.refresh(engine) == 0
    with engine.connect() as conn:
        assert rollups.stale_products(conn) == 0


def test_the_deferred_migration_refreshes_every_mark_before_it_goes(database_url_engine: Engine) -> None:
    engine = database_url_engine
    db.migrate(engine)
    shop = Shop(engine, defer_rollups=True)
    shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    alembic(engine, "downgrade", "0014_lean_rollups")
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 300), customer="cus_2", created=T0 + 10)  # 0014 settles it, deferred or not
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    shop.checkout(("prod_C", 300), customer="cus_2", created=T0 + 10)
    rollups.refresh(engine)
    assert_rollups_match(engine)
