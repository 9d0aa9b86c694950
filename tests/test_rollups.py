"""The rollup tables behind the views always equal the aggregates they replace.

``product_summary`` and ``product_sales_daily`` read tables that triggers on ``purchases`` keep
current, with ``product_customer_counts`` beside them (migration ``0014_lean_rollups``;
``product_customers`` and ``customer_products`` read ``purchases``, and read a rollup at the
revisions 0004 to 0013 that some tests migrate through). The reference here is what the views
were before any rollup: the same aggregates computed from ``purchases`` when read (the view
definitions of migrations 0001 to 0003), compared row for row after every kind of write, on both
databases, and under concurrent writers on PostgreSQL.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from indexer import db
from tests.conftest import T0, Shop, alembic, assert_rollups_match, query_rows, rollup_reference


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
    assert query_rows(engine, "SELECT id, purchases, amount_total FROM product_customers "
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
    assert query_rows(engine, "SELECT product_id FROM product_summary") == [("prod_A",), ("prod_A",)]
    assert query_rows(engine, "SELECT COUNT(*) FROM product_sales_daily WHERE product_id = 'prod_B'") == [(0,)]


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


def _run_at_once(writer: Callable[[int, threading.Barrier], None], threads: int) -> None:
    """Runs ``writer(n, barrier)`` for n in ``range(threads)``, each in its own thread, all
    sharing one barrier to meet at; fails with the first thread's error. A thread that fails
    breaks the barrier, so the others stop waiting for it rather than time out."""
    barrier = threading.Barrier(threads, timeout=30)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            writer(n, barrier)
        except BaseException as exc:  # noqa: BLE001 - reported by the calling thread
            errors.append(exc)
            barrier.abort()

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert errors == []


def test_concurrent_writers_keep_them_equal_and_never_deadlock(postgres_engine: Engine) -> None:
    """Eight threads write and refund purchases of the same products and buyers at once."""
    def writer(seed: int, _: threading.Barrier) -> None:
        rng = random.Random(seed)
        shop = Shop(postgres_engine, counter=itertools.count(seed * 10_000))
        for _ in range(40):
            lines = [(f"prod_{rng.randrange(3)}", rng.randrange(100, 900)) for _ in range(rng.randrange(1, 4))]
            session = shop.checkout(*lines, customer=f"cus_{rng.randrange(4)}", created=T0 + rng.randrange(2) * 86_400)
            if rng.random() < 0.3:
                shop.refund(session, rng.choice([100, 10_000]))

    _run_at_once(writer, 8)
    assert_rollups_match(postgres_engine)
    assert query_rows(postgres_engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]


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
    assert query_rows(engine, "SELECT customers, purchases FROM product_summary WHERE product_id = 'prod_A'") == [(4, 7)]


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
    assert query_rows(engine, "SELECT purchases, customers, amount_total FROM product_sales_daily "
                         "WHERE product_id = 'prod_A'") == [(2, 2, 500)]


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
    assert query_rows(engine, "SELECT product_id, customers, first_purchased_at FROM product_summary ORDER BY product_id") == [
        ("prod_A", 1, T0 - 86_400)]
    alembic(engine, "downgrade", "0007_reports")
    shop.checkout(("prod_B", 60), customer="cus_4", created=T0 + 30)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    with db.transaction(engine) as conn:  # a manual fix taking the first sale away
        conn.execute(text("DELETE FROM purchases WHERE product_id = 'prod_A' AND purchased_at = :t"), {"t": T0 - 86_400})
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id FROM product_summary ORDER BY product_id") == [("prod_B",)]


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
    assert query_rows(engine, "SELECT reltuples >= 1501 FROM pg_class WHERE oid = 'purchases'::regclass") == [(True,)]


_INSERT = text(
    "INSERT INTO purchases (account, livemode, source_type, source_id, line_item_id, payment_key, product_id, "
    "customer_id, customer_key, email, name, quantity, currency, amount_subtotal, amount_total, amount_refunded, "
    "refunded, disputed, purchased_at, updated_at) "
    "VALUES ('', false, 'checkout.session', :source, :line, :payment, :product, :customer, :customer, :email, :name, "
    ":quantity, :currency, :amount, :amount, :refunded_amount, :refunded, false, :at, :at)")


def _line(source: str, line: str, product: str, customer: str, amount: int, at: int, *, payment: str | None = None,
          email: str = "b@example.com", name: str | None = None, currency: str = "usd", quantity: int = 1,
          refunded: bool = False) -> dict[str, Any]:
    return {"source": source, "line": line, "payment": payment or f"pi_{source}", "product": product,
            "customer": customer, "email": email, "name": name, "quantity": quantity, "currency": currency,
            "amount": amount, "refunded_amount": amount if refunded else 0, "refunded": refunded, "at": at}


def test_new_keys_are_inserted_and_known_ones_updated_or_deleted_in_one_transaction(engine: Engine) -> None:
    """The settle creates the product, currency and day rows that were not there and moves or
    deletes those that were. One transaction mixes them: new keys, a customer whose earlier rows
    are all refunded (held nothing before, yet has rows in purchases), keys the same transaction
    also changes or empties, several lines of one payment in two statements, then a second
    transaction with an earlier first sale, a known day and a key refunded away."""
    with db.transaction(engine) as conn:
        conn.execute(_INSERT, [_line("cs_0", "li_0", "prod_A", "cus_old", 500, T0, refunded=True)])
    assert_rollups_match(engine)
    with db.transaction(engine) as conn:
        conn.execute(_INSERT, [
            _line("cs_1", "li_0", "prod_A", "cus_1", 100, T0 + 10, email="z@example.com", name="Zed"),
            _line("cs_1", "li_1", "prod_A", "cus_1", 200, T0 + 10, quantity=3, email="a@example.com"),
            _line("cs_2", "li_0", "prod_A", "cus_old", 300, T0 + 20),  # earlier rows refunded: no row yet
            _line("cs_3", "li_0", "prod_B", "cus_2", 400, T0 + 30),
            _line("cs_4", "li_0", "prod_B", "cus_3", 50, T0 + 40, refunded=True),  # adds nothing that counts
            _line("cs_5", "li_0", "prod_C", "cus_4", 60, T0 + 50, currency="eur"),
        ])
        conn.execute(_INSERT, [_line("cs_6", "li_0", "prod_A", "cus_1", 70, T0 + 60, payment="pi_cs_1")])  # one payment
        # the same transaction changes or removes rows it added
        conn.execute(text("UPDATE purchases SET amount_total = 250, email = 'b2@example.com' "
                          "WHERE source_id = 'cs_3'"))
        conn.execute(text("DELETE FROM purchases WHERE source_id = 'cs_5'"))
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT id, purchases, quantity, amount_total, email, name FROM product_customers "
                         "WHERE product_id = 'prod_A' ORDER BY id") == [
        ("cus_1", 1, 5, 370, "z@example.com", "Zed"), ("cus_old", 1, 1, 300, "b@example.com", None)]
    assert query_rows(engine, "SELECT purchases, customers FROM product_sales_daily WHERE product_id = 'prod_A'") == [(2, 2)]
    with db.transaction(engine) as conn:  # the days and customers exist now: updated
        conn.execute(_INSERT, [_line("cs_7", "li_0", "prod_A", "cus_1", 80, T0 - 86_400),
                               _line("cs_8", "li_0", "prod_A", "cus_1", 90, T0 + 70, payment="pi_cs_1"),
                               _line("cs_9", "li_0", "prod_C", "cus_7", 10, T0 + 80, currency="eur")])
        conn.execute(text("UPDATE purchases SET refunded = true, amount_refunded = amount_total WHERE source_id = 'cs_9'"))
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT customers, purchases, first_purchased_at FROM product_summary "
                         "WHERE product_id = 'prod_A'") == [(2, 3, T0 - 86_400)]
    assert query_rows(engine, "SELECT COUNT(*) FROM product_summary WHERE product_id = 'prod_C'") == [(0,)]
    if db.is_postgres(engine):
        assert query_rows(engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]


def test_the_inserts_migration_keeps_a_populated_index_both_ways(database_url_engine: Engine) -> None:
    """0009 changes only how PostgreSQL's settle writes the rows it recomputed: an index written
    before it stays equal to the aggregates across the upgrade and the downgrade, and writes on
    either side keep it equal."""
    engine = database_url_engine
    db.migrate(engine, "0008_rollup_locks")
    shop = Shop(engine)
    first = shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 300), customer="cus_2", created=T0 + 10)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 200), ("prod_C", 20), customer="cus_3", created=T0 + 86_400)  # a new day and keys
    shop.checkout(("prod_A", 250), customer="cus_1", created=T0 + 20)  # an existing customer and day
    shop.refund(first, 150)
    assert_rollups_match(engine)
    alembic(engine, "downgrade", "0008_rollup_locks")
    assert_rollups_match(engine)
    shop.checkout(("prod_B", 60), customer="cus_4", created=T0 + 2 * 86_400)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    shop.checkout(("prod_D", 70), customer="cus_5", created=T0 + 3 * 86_400)
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, customers FROM product_summary ORDER BY product_id") == [
        ("prod_A", 3), ("prod_B", 1), ("prod_C", 1), ("prod_D", 1)]


def test_two_transactions_writing_overlapping_products_in_opposite_orders_never_deadlock(
        postgres_engine: Engine) -> None:
    """Each of two connections writes products A then B (the other B then A) in separate
    statements, the statements interleaved, and both commit at once, many times over: each settle
    locks its products only at commit and in one order, so neither waits while holding what the
    other needs, and the rollups (new keys inserted, known ones updated) stay exact."""
    def writer(side: int, barrier: threading.Barrier) -> None:
        order = ["prod_A", "prod_B"] if side == 0 else ["prod_B", "prod_A"]
        for round_ in range(15):
            with db.transaction(postgres_engine) as conn:
                for n, product in enumerate(order):
                    source = f"cs_{side}_{round_}_{n}"
                    conn.execute(_INSERT, [
                        _line(source, "li_0", product, f"cus_{round_ % 3}", 100 + round_, T0 + round_ * 3_600),
                        _line(source, "li_1", product, f"cus_new_{side}_{round_}", 10, T0 + round_ * 3_600,
                              payment=f"pi_{source}_new")])
                    barrier.wait()
                if round_ % 4 == 3:
                    conn.execute(text("UPDATE purchases SET refunded = true, amount_refunded = amount_total "
                                      "WHERE source_id = :s"), {"s": f"cs_{side}_{round_ - 1}_0"})
                barrier.wait()

    _run_at_once(writer, 2)
    assert_rollups_match(postgres_engine)
    assert query_rows(postgres_engine, "SELECT product_id, customers FROM product_summary ORDER BY product_id") == [
        ("prod_A", 30), ("prod_B", 30)]  # 3 returning buyers, 30 new, 3 of them refunded
    assert query_rows(postgres_engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]


def _counts(engine: Engine, product: str = "prod_A") -> list[Any]:
    return query_rows(engine, f"SELECT customers FROM product_customer_counts WHERE product_id = '{product}'")


def test_a_buyer_in_two_currencies_counts_once_until_their_last_currency_goes(engine: Engine) -> None:
    """``product_customer_counts`` (migration ``0011_product_customer_counts``) counts a buyer once
    across currencies: their second currency adds nothing, losing one (fully refunded, or its rows
    deleted) leaves them counted through the other, losing the last takes them and then the
    product's row away; several currencies of one buyer arriving or leaving in one transaction too."""
    shop = Shop(engine)
    usd = shop.checkout(("prod_A", 100), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 90), customer="cus_1", currency="eur", created=T0 + 10)
    shop.checkout(("prod_A", 80), customer="cus_2", currency="eur", created=T0 + 20)
    assert_rollups_match(engine)
    assert _counts(engine) == [(2,)]
    assert query_rows(engine, "SELECT SUM(customers) FROM product_summary WHERE product_id = 'prod_A'") == [(3,)]
    shop.refund(usd, 100)  # fully: cus_1 stays through eur
    assert_rollups_match(engine)
    assert _counts(engine) == [(2,)]
    with db.transaction(engine) as conn:  # cus_1's last currency removed
        conn.execute(text("DELETE FROM purchases WHERE customer_key = 'cus_1' AND currency = 'eur'"))
    assert_rollups_match(engine)
    assert _counts(engine) == [(1,)]
    with db.transaction(engine) as conn:  # one transaction: a new buyer in two currencies, another's row moved
        conn.execute(_INSERT, [_line("cs_1", "li_0", "prod_A", "cus_3", 10, T0 + 30),
                               _line("cs_2", "li_0", "prod_A", "cus_3", 20, T0 + 40, currency="eur"),
                               _line("cs_3", "li_0", "prod_B", "cus_3", 30, T0 + 50, currency="gbp")])
        conn.execute(text("UPDATE purchases SET currency = 'usd' WHERE customer_key = 'cus_2'"))
    assert_rollups_match(engine)
    assert _counts(engine) == [(2,)]
    assert _counts(engine, "prod_B") == [(1,)]
    with db.transaction(engine) as conn:  # every currency of both buyers at once: no customer, no row
        conn.execute(text("UPDATE purchases SET refunded = true, amount_refunded = amount_total "
                          "WHERE product_id = 'prod_A' AND customer_key = 'cus_3'"))
        conn.execute(text("DELETE FROM purchases WHERE product_id = 'prod_A' AND customer_key = 'cus_2'"))
    assert_rollups_match(engine)
    assert _counts(engine) == []
    with db.transaction(engine) as conn:  # a new product whose only sale is fully refunded has no row
        conn.execute(_INSERT, [_line("cs_4", "li_0", "prod_C", "cus_4", 10, T0 + 60, refunded=True)])
    assert_rollups_match(engine)
    assert _counts(engine, "prod_C") == []
    if db.is_postgres(engine):
        assert query_rows(engine, "SELECT COUNT(*) FROM rollup_dirty") == [(0,)]


def test_one_buyer_written_in_two_currencies_at_once_counts_once(postgres_engine: Engine) -> None:
    """Two connections write the same buyers of one product in different currencies and commit
    together, many times over, adding and then removing them: each settle takes the product's
    count lock (across currencies) before reading the buyer's rows, so the second sees the first's
    row and neither counts a buyer twice, nor takes one away twice."""
    def writer(side: int, barrier: threading.Barrier) -> None:
        currency = ["usd", "eur"][side]
        for round_ in range(12):
            with db.transaction(postgres_engine) as conn:
                source = f"cs_{side}_{round_}"
                if round_ % 3 == 2:  # both take the buyer of the round before away, each its currency
                    conn.execute(text("DELETE FROM purchases WHERE customer_key = :c AND currency = :cur"),
                                 {"c": f"cus_{round_ - 1}", "cur": currency})
                else:
                    conn.execute(_INSERT, [_line(source, "li_0", "prod_A", f"cus_{round_}", 100, T0 + round_,
                                                 currency=currency)])
                barrier.wait()

    _run_at_once(writer, 2)
    assert_rollups_match(postgres_engine)
    assert _counts(postgres_engine) == [(4,)]  # cus_0, 3, 6, 9 stay; cus_1, 4, 7, 10 were removed


def test_the_counts_migration_fills_a_populated_index_and_keeps_it_both_ways(database_url_engine: Engine) -> None:
    """0011 fills ``product_customer_counts`` from an index written before it, keeps it across
    writes, and its downgrade brings back 0009's settle (PostgreSQL) with the views still exact."""
    engine = database_url_engine
    db.migrate(engine, "0010_covering_indexes")
    shop = Shop(engine)
    first = shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 300), customer="cus_1", currency="eur", created=T0 + 10)
    shop.checkout(("prod_A", 200), customer="cus_2", currency="eur", created=T0 + 20)
    alembic(engine, "upgrade", "head")
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, customers FROM product_customer_counts ORDER BY product_id") == [
        ("prod_A", 2), ("prod_B", 1)]
    shop.refund(first, 150)
    shop.checkout(("prod_A", 250), customer="cus_3", currency="eur", created=T0 + 30)
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, customers FROM product_customer_counts ORDER BY product_id") == [
        ("prod_A", 3)]
    alembic(engine, "downgrade", "0010_covering_indexes")
    assert "product_customer_counts" not in _tables(engine)
    shop.checkout(("prod_B", 60), customer="cus_4", currency="eur", created=T0 + 40)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    shop.checkout(("prod_B", 70), customer="cus_4", created=T0 + 50)
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, customers FROM product_customer_counts ORDER BY product_id") == [
        ("prod_A", 3), ("prod_B", 1)]


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return db_tables(conn)


def test_the_lean_migration_keeps_a_populated_index_both_ways(database_url_engine: Engine) -> None:
    """0014 drops ``product_customer_totals`` and moves the other rollups by the rows: an index
    written before it stays exact across the upgrade, writes after it (new products, known
    customers, refunds, a removal) keep it exact, and the downgrade fills the customer rows again
    from ``purchases`` so that 0013's views and settle carry on."""
    engine = database_url_engine
    db.migrate(engine, "0013_pending_received_index")
    shop = Shop(engine)
    first = shop.checkout(("prod_A", 100), ("prod_B", 50), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 300), customer="cus_2", currency="eur", created=T0 + 10)
    alembic(engine, "upgrade", "head")
    assert "product_customer_totals" not in _tables(engine)
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 200), customer="cus_1", created=T0 + 86_400)  # a known customer, a new day
    shop.checkout(("prod_C", 20), customer="cus_3", created=T0 + 20)  # a product new to the index
    shop.refund(first, 150)  # fully: prod_B loses its only customer
    with db.transaction(engine) as conn:
        conn.execute(text("DELETE FROM purchases WHERE customer_key = 'cus_2'"))
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, customers, purchases, first_purchased_at FROM product_summary "
                         "ORDER BY product_id") == [("prod_A", 1, 1, T0 + 86_400), ("prod_C", 1, 1, T0 + 20)]
    alembic(engine, "downgrade", "0013_pending_received_index")
    assert "product_customer_totals" in _tables(engine)
    assert_rollups_match(engine)
    shop.checkout(("prod_A", 400), customer="cus_4", created=T0 + 30)
    assert_rollups_match(engine)
    alembic(engine, "upgrade", "head")
    assert_rollups_match(engine)


def test_one_transaction_of_many_keys_per_buyer_counts_each_once_for_known_and_new_products(engine: Engine) -> None:
    """A buyer and a payment with rows on several days and in several currencies, written in one
    transaction, count once per day, once per currency and once per product: for a product the
    index already knew (whose keys are looked up) and for a new one (whose keys are not)."""
    with db.transaction(engine) as conn:
        conn.execute(_INSERT, [_line("cs_0", "li_0", "prod_known", "cus_1", 100, T0)])
    rows = []
    for product in ("prod_known", "prod_new"):
        for n, (currency, at) in enumerate([("usd", T0 + 10), ("usd", T0 + 86_400), ("eur", T0 + 20), ("eur", T0 + 30)]):
            rows.append(_line(f"cs_{product}_{n}", "li_0", product, "cus_1", 10 + n, at, currency=currency,
                              payment=f"pi_{product}_{currency}"))
        rows.append(_line(f"cs_{product}_9", "li_0", product, "cus_2", 5, T0 + 40))
    with db.transaction(engine) as conn:
        conn.execute(_INSERT, rows)
        conn.execute(text("DELETE FROM purchases WHERE source_id = 'cs_prod_new_9'"))  # added and taken away
    assert_rollups_match(engine)
    assert query_rows(engine, "SELECT product_id, currency, customers, purchases FROM product_summary "
                         "ORDER BY product_id, currency") == [
        ("prod_known", "eur", 1, 1), ("prod_known", "usd", 2, 3), ("prod_new", "eur", 1, 1), ("prod_new", "usd", 1, 1)]
    assert _counts(engine, "prod_known") == [(2,)]
    assert _counts(engine, "prod_new") == [(1,)]


def test_a_page_of_the_customers_view_reads_only_the_page_on_postgresql(postgres_engine: Engine) -> None:
    """The README's paged query over ``product_customers`` walks the product's customers in key
    order and sums only the page's (migration ``0014_lean_rollups``): its plan stops after the
    page instead of summing every buyer first."""
    shop = Shop(postgres_engine)
    for n in range(30):
        shop.checkout(("prod_A", 100 + n), customer=f"cus_{n:03d}", created=T0 + n)
    with postgres_engine.connect() as conn:
        conn.execute(text("ANALYZE purchases"))
        plan = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, email, name, purchases "
            "FROM product_customers WHERE product_id = 'prod_A' AND account = '' AND NOT livemode AND id > 'cus_010' "
            "ORDER BY id LIMIT 5")))
        rows = conn.execute(text("SELECT id FROM product_customers WHERE product_id = 'prod_A' AND account = '' "
                                 "AND NOT livemode AND id > 'cus_010' ORDER BY id LIMIT 5")).scalars().all()
    assert rows == [f"cus_{n:03d}" for n in range(11, 16)]
    assert "Unique (actual rows=5 loops=1)" in plan  # the walk of the customers stopped at the page
