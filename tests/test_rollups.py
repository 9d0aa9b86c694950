"""The rollup tables behind the views always equal the aggregates they replace.

``product_customers``, ``customer_products``, ``product_summary`` and ``product_sales_daily``
read tables that triggers on ``purchases`` keep current (migration ``0004_rollups``). The
reference here is what those views were before: the same aggregates computed from ``purchases``
when read (the view definitions of migrations 0001 to 0003), compared row for row after every
kind of write, on both databases, and under concurrent writers on PostgreSQL.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from indexer import db
from tests.conftest import T0, Shop, alembic, assert_rollups_match, rollup_reference


@pytest.fixture(params=["moves", "sums"])
def engine(request: pytest.FixtureRequest, database_url_engine: Engine) -> Iterator[Engine]:
    """A migrated index on each database. On PostgreSQL a day is settled either way (migration
    ``0005_day_moves``): moved by the rows written, or summed again as for a bulk load; the
    setting ``indexer.day_sums_factor`` picks one for every transaction of the test."""
    db.migrate(database_url_engine)
    if not db.is_postgres(database_url_engine):
        if request.param == "sums":
            pytest.skip("SQLite moves each day by each row")
        yield database_url_engine
        return
    url = database_url_engine.url
    factor = "0" if request.param == "moves" else "1000000000"
    options = f"{url.query.get('options', '')} -cindexer.day_sums_factor={factor}".strip()
    engine = db.make_engine(url.update_query_dict({"options": options}).render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_every_kind_of_write_keeps_the_views_equal_to_the_aggregates(engine: Engine) -> None:
    shop = Shop(engine)
    shop.product("prod_A", "Course A")
    first = shop.checkout(("prod_A", 1000), ("prod_A", 500, 2), customer="cus_1", created=T0)
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 700), ("prod_B", 300), customer="cus_1", created=T0 + 86_400)
    shop.checkout(("prod_A", 900), email="Guest@Example.com", name="Gus", currency="eur", created=T0 + 5)
    assert_rollups_match(engine)
    shop.refund(first, 600)  # partly: stays in, with its share refunded
    assert_rollups_match(engine)
    shop.refund(first, 900)  # now fully: leaves every view
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT id, purchases, amount_total FROM product_customers "
                         "WHERE product_id = 'prod_A' AND currency = 'usd'") == [("cus_1", 1, 700)]
    shop.checkout(("prod_B", 100), customer="cus_2", created=T0 + 3 * 86_400, paid=False)  # not a purchase
    assert_rollups_match(engine)
    with db.transaction(engine) as conn:  # a manual fix in SQL is followed too
        conn.execute(text("UPDATE purchases SET purchased_at = purchased_at + 86400, email = 'new@example.com' "
                          "WHERE product_id = 'prod_B'"))
    assert_rollups_match(engine)
    with db.transaction(engine) as conn:
        conn.execute(text("DELETE FROM purchases WHERE product_id = 'prod_B'"))
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT product_id FROM product_summary") == [("prod_A",), ("prod_A",)]
    assert _rows(engine, "SELECT COUNT(*) FROM product_sales_daily WHERE product_id = 'prod_B'") == [(0,)]


def test_a_random_history_keeps_them_equal(engine: Engine) -> None:
    rng = random.Random(7)
    shop = Shop(engine)
    sessions = []
    for _ in range(60):
        lines = [(f"prod_{rng.randrange(4)}", rng.randrange(100, 5000), rng.randrange(1, 3))
                 for _ in range(rng.randrange(1, 4))]
        buyer = rng.randrange(8)
        sessions.append(shop.checkout(
            *lines, customer=f"cus_{buyer}" if buyer < 5 else None, email=f"b{buyer}@example.com",
            currency=rng.choice(["usd", "usd", "eur"]), created=T0 + rng.randrange(5 * 86_400),
        ))
        if rng.random() < 0.3:
            shop.refund(rng.choice(sessions), rng.randrange(100, 6000))
    assert_rollups_match(engine)


def test_concurrent_writers_keep_them_equal_and_never_deadlock(postgres_engine: Engine) -> None:
    """Eight threads write and refund purchases of the same products and buyers at once."""
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        shop = Shop(postgres_engine, counter=itertools.count(seed * 10_000))
        try:
            for _ in range(40):
                lines = [(f"prod_{rng.randrange(3)}", rng.randrange(100, 900)) for _ in range(rng.randrange(1, 4))]
                session = shop.checkout(*lines, customer=f"cus_{rng.randrange(4)}", created=T0 + rng.randrange(2) * 86_400)
                if rng.random() < 0.3:
                    shop.refund(session, rng.choice([100, 10_000]))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_rollups_match(postgres_engine)
    assert _rows(postgres_engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]


def test_the_migration_fills_the_tables_from_an_existing_index(database_url_engine: Engine) -> None:
    engine = database_url_engine
    db.migrate(engine)
    shop = Shop(engine)
    for i in range(6):
        shop.checkout(("prod_A", 100 * (i + 1)), ("prod_B", 50), customer=f"cus_{i % 3}", created=T0 + i * 40_000)
    alembic(engine, "downgrade", "0003_product_summary")
    assert_rollups_match_old_views(engine)
    shop.checkout(("prod_A", 999), customer="cus_9", created=T0)  # written while no trigger runs
    alembic(engine, "upgrade", "head")
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT customers, purchases FROM product_summary WHERE product_id = 'prod_A'") == [(4, 7)]


def assert_rollups_match_old_views(engine: Engine) -> None:
    """After a downgrade the views are the old aggregates again, and the rollup tables are gone."""
    with engine.connect() as conn:
        for view, aggregate in rollup_reference(engine).items():
            assert sorted(conn.execute(text(f"SELECT * FROM {view}"))) == sorted(conn.execute(text(aggregate)))
        assert "product_totals" not in db_tables(conn)


def db_tables(conn: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


def test_days_are_kept_across_the_day_moves_migration_both_ways(database_url_engine: Engine) -> None:
    """0005 changes how days are settled on both databases; writes before, between and after agree."""
    engine = database_url_engine
    db.migrate(engine)
    shop = Shop(engine)
    first = shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    alembic(engine, "downgrade", "0004_rollups")
    shop.checkout(("prod_A", 200), customer="cus_2", created=T0 + 60)
    shop.refund(first, 150)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    shop.checkout(("prod_A", 300), customer="cus_1", created=T0 + 120)
    shop.refund(first, 150)
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT purchases, customers, amount_total FROM product_sales_daily "
                         "WHERE product_id = 'prod_A'") == [(2, 2, 500)]


@pytest.fixture
def postgres_engine(engine: Engine) -> Engine:
    if not db.is_postgres(engine):
        pytest.skip("one writer at a time on SQLite")
    return engine


def test_the_lock_migration_keeps_a_populated_index_and_both_settles_agree(database_url_engine: Engine) -> None:
    """0008 changes only how PostgreSQL's settle locks and what it looks at: an index written
    before it stays equal to the aggregates across the upgrade and the downgrade, and writes
    that remove rows, refund them fully or only add keep them equal on either side."""
    engine = database_url_engine
    db.migrate(engine, "0007_reports")
    shop = Shop(engine)
    first = shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    only_refunded = shop.checkout(("prod_C", 70), customer="cus_2", created=T0 + 10)
    shop.refund(only_refunded, 70)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 300), customer="cus_1", created=T0 - 86_400)  # only adds: an earlier first sale
    lone = shop.checkout(("prod_D", 40), customer="cus_3", created=T0 + 20)
    shop.refund(lone, 40)  # prod_D loses its only customer
    shop.refund(first, 150)  # fully: prod_A keeps cus_1 through the later sale, prod_B is emptied
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT product_id, customers, first_purchased_at FROM product_summary ORDER BY product_id") == [
        ("prod_A", 1, T0 - 86_400)]
    alembic(engine, "downgrade", "0007_reports")
    shop.checkout(("prod_B", 60), customer="cus_4", created=T0 + 30)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    with db.transaction(engine) as conn:  # a manual fix taking the first sale away
        conn.execute(text("DELETE FROM purchases WHERE product_id = 'prod_A' AND purchased_at = :t"), {"t": T0 - 86_400})
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT product_id FROM product_summary ORDER BY product_id") == [("prod_B",)]


def test_a_load_larger_than_the_statistics_knew_refreshes_them_and_keeps_the_views_equal(
        postgres_engine: Engine) -> None:
    """One statement writing more rows than ``purchases`` held at its last ANALYZE (here: never
    analyzed) has the settle refresh its statistics first (migration ``0008_rollup_locks``)."""
    engine = postgres_engine
    Shop(engine).checkout(("prod_A", 100), customer="cus_0", created=T0)
    with db.transaction(engine) as conn:
        conn.execute(text(
            "INSERT INTO purchases (account, livemode, source_type, source_id, line_item_id, payment_key, product_id, "
            "customer_id, customer_key, email, quantity, currency, amount_subtotal, amount_total, amount_refunded, "
            "refunded, disputed, purchased_at, updated_at) "
            "SELECT '', false, 'checkout.session', 'cs_bulk_' || i, 'li_0', 'pi_bulk_' || i, 'prod_' || (i % 3), "
            "'cus_' || (i % 700), 'cus_' || (i % 700), 'b@example.com', 1, 'usd', 100, 100, "
            "CASE WHEN i % 50 = 0 THEN 100 ELSE 0 END, i % 50 = 0, false, :t0 + i * 600, :t0 "
            "FROM generate_series(1, 1500) AS i"), {"t0": T0})
    assert_rollups_match(engine)
    assert _rows(engine, "SELECT reltuples >= 1501 FROM pg_class WHERE oid = 'purchases'::regclass") == [(True,)]
