"""The index writes on both databases: one payment counted once, in any order, any number of times."""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from indexer import db, models
from indexer.index import writes
from indexer.index.mapping import DisputeRow, ProductRow, PurchaseRow, PurchaseSource, RefundRow


def row(source_id: str, line: str, **kw: Any) -> PurchaseRow:
    base = dict(
        account="", livemode=False, source_type="checkout.session" if source_id.startswith("cs_") else "invoice",
        source_id=source_id, line_item_id=line, product_id="prod_A", price_id="price_A",
        customer_id="cus_1", email="a@example.com", customer_key="cus_1", name="Ann", description="A",
        quantity=1, currency="usd", amount_subtotal=1000, amount_total=1000, purchased_at=1_700_000_000,
        payment_intent="pi_1", invoice=None, subscription=None, payment_link=None,
        checkout_session=source_id if source_id.startswith("cs_") else None,
    )
    base.update(kw)
    return PurchaseRow(**base)  # type: ignore[arg-type]


def source(source_id: str, rows: list[PurchaseRow], *, invoice: str | None = None, is_purchase: bool = True) -> PurchaseSource:
    return PurchaseSource(
        account="", livemode=False, source_type=rows[0].source_type if rows else "checkout.session",
        source_id=source_id, payment_key=invoice or (rows[0].payment_intent if rows else source_id) or source_id,
        invoice=invoice, is_purchase=is_purchase, rows=tuple(rows) if is_purchase else (),
    )


def purchases(engine: Engine) -> list[dict[str, Any]]:
    p = models.purchases_t.c
    with db.transaction(engine) as conn:
        rows = conn.execute(select(models.purchases_t).order_by(p.source_id, p.line_item_id)).all()
    return [{k: v for k, v in r._mapping.items() if k not in ("id", "updated_at")} for r in rows]


def apply(engine: Engine, *changes: Any) -> None:
    for write in changes:
        with db.transaction(engine) as conn:
            if isinstance(write, PurchaseSource):
                writes.write_source(conn, write)
            elif isinstance(write, RefundRow):
                writes.write_refunds(conn, [write])
            elif isinstance(write, DisputeRow):
                writes.write_disputes(conn, [write])


SUB_SESSION = source(
    "cs_sub", [row("cs_sub", "li_1", invoice="in_1", subscription="sub_1", payment_link="plink_1", payment_intent=None)],
    invoice="in_1",
)
SUB_INVOICE = source(
    "in_1", [row("in_1", "il_1", invoice="in_1", subscription="sub_1", checkout_session=None, payment_intent="pi_9")],
    invoice="in_1",
)


def test_writing_a_source_twice_changes_nothing(engine: Engine) -> None:
    session = source("cs_1", [row("cs_1", "li_1"), row("cs_1", "li_2", product_id="prod_B")])
    apply(engine, session)
    first = purchases(engine)
    apply(engine, session)
    assert purchases(engine) == first
    assert [r["line_item_id"] for r in first] == ["li_1", "li_2"]


def test_a_source_that_stops_counting_loses_its_rows(engine: Engine) -> None:
    apply(engine, source("cs_1", [row("cs_1", "li_1")]), source("cs_1", [], is_purchase=False))
    assert purchases(engine) == []


def test_sources_that_stop_counting_together_lose_their_rows_and_their_payments_are_reconciled(
    engine: Engine,
) -> None:
    """Removed in one write (the worker's batch of expired sessions): each source's rows go, the
    others' stay, and a refund of a payment shared with a source that stays is spread over what
    is left of that payment."""
    shared = [source("cs_1", [row("cs_1", "li_1", amount_total=600)]),
              source("cs_2", [row("cs_2", "li_2", amount_total=400)]),
              source("cs_3", [row("cs_3", "li_3", payment_intent="pi_3")])]
    kept = source("cs_4", [row("cs_4", "li_4", amount_total=1000, payment_intent="pi_4")])
    with db.transaction(engine) as conn:
        writes.write_sources(conn, [*shared, kept])
        writes.write_refunds(conn, [REFUND])
    assert [r["amount_refunded"] for r in purchases(engine)] == [300, 200, 0, 0]
    with db.transaction(engine) as conn:
        writes.write_sources(conn, [source("cs_1", [], is_purchase=False), source("cs_3", [], is_purchase=False),
                                    source("cs_9", [], is_purchase=False)])
    rows = purchases(engine)
    assert [(r["source_id"], r["amount_refunded"]) for r in rows] == [("cs_2", 400), ("cs_4", 0)]
    assert rows[0]["refunded"] and not rows[1]["refunded"]


def test_lines_that_disappear_from_a_source_are_removed(engine: Engine) -> None:
    apply(engine, source("cs_1", [row("cs_1", "li_1"), row("cs_1", "li_2")]), source("cs_1", [row("cs_1", "li_2")]))
    assert [r["line_item_id"] for r in purchases(engine)] == ["li_2"]


@pytest.mark.parametrize("order", [(SUB_SESSION, SUB_INVOICE), (SUB_INVOICE, SUB_SESSION)], ids=["session-first", "invoice-first"])
def test_a_subscription_checkout_and_its_invoice_are_one_purchase(engine: Engine, order: tuple) -> None:
    apply(engine, *order)
    [only] = purchases(engine)
    assert (only["source_id"], only["line_item_id"]) == ("in_1", "il_1")
    assert only["checkout_session"] == "cs_sub"
    assert only["payment_link"] == "plink_1"
    assert only["payment_intent"] == "pi_9"
    apply(engine, SUB_INVOICE, SUB_SESSION, SUB_INVOICE)
    assert purchases(engine) == [only]


def test_the_session_alone_counts_until_its_invoice_arrives(engine: Engine) -> None:
    apply(engine, SUB_SESSION)
    assert [r["source_id"] for r in purchases(engine)] == ["cs_sub"]


REFUND = RefundRow(id="re_1", account="", livemode=False, charge="ch_1", payment_intent="pi_1",
                   amount=500, currency="usd", status="succeeded", created=1_700_000_100)


@pytest.mark.parametrize("refund_first", [True, False])
def test_a_partial_refund_is_split_over_the_lines_in_any_order(engine: Engine, refund_first: bool) -> None:
    session = source("cs_1", [row("cs_1", "li_1", amount_total=3000), row("cs_1", "li_2", amount_total=1000)])
    apply(engine, *((REFUND, session) if refund_first else (session, REFUND)))
    rows = purchases(engine)
    assert [r["amount_refunded"] for r in rows] == [375, 125]
    assert not any(r["refunded"] for r in rows)


def test_a_full_refund_marks_every_line_refunded_and_deletes_nothing(engine: Engine) -> None:
    session = source("cs_1", [row("cs_1", "li_1", amount_total=600), row("cs_1", "li_2", amount_total=400)])
    apply(engine, session, REFUND, replace(REFUND, id="re_2"))
    rows = purchases(engine)
    assert [r["amount_refunded"] for r in rows] == [600, 400]
    assert all(r["refunded"] for r in rows)


def test_a_failed_refund_gives_the_money_back(engine: Engine) -> None:
    session = source("cs_1", [row("cs_1", "li_1")])
    apply(engine, session, REFUND, replace(REFUND, status="failed"))
    assert purchases(engine)[0]["amount_refunded"] == 0


def test_an_open_dispute_flags_the_purchase_until_won(engine: Engine) -> None:
    dispute = DisputeRow(id="du_1", account="", livemode=False, charge="ch_1", payment_intent="pi_1", amount=1000,
                         currency="usd", status="needs_response", reason="fraudulent", created=1_700_000_200)
    apply(engine, dispute, source("cs_1", [row("cs_1", "li_1")]))
    assert purchases(engine)[0]["disputed"]
    apply(engine, replace(dispute, status="won"))
    assert not purchases(engine)[0]["disputed"]


def test_connect_accounts_and_modes_never_mix(engine: Engine) -> None:
    platform = source("cs_1", [row("cs_1", "li_1")])
    connected = replace(platform, account="acct_1", rows=tuple(replace(r, account="acct_1") for r in platform.rows))
    apply(engine, platform, connected, replace(REFUND, account="acct_1", amount=1000))
    rows = purchases(engine)
    assert {(r["account"], bool(r["refunded"])) for r in rows} == {("", False), ("acct_1", True)}


def test_product_view_answers_the_seed_question(engine: Engine) -> None:
    apply(
        engine,
        source("cs_1", [row("cs_1", "li_1", customer_id=None, customer_key="guest_x", email="Bob@Example.com", name="Bob")]),
        source("cs_2", [row("cs_2", "li_1", customer_id=None, customer_key="guest_x", email="bob@example.com", name="Bob",
                            payment_intent="pi_2")]),
        source("cs_3", [row("cs_3", "li_1", payment_intent="pi_3")]),
    )
    with db.transaction(engine) as conn:
        answer = conn.execute(
            select(db.text("email, name, purchases")).select_from(db.text("product_customers"))
            .where(db.text("product_id = 'prod_A'")).order_by(db.text("name"))
        ).all()
    assert [(r.name, r.purchases) for r in answer] == [("Ann", 1), ("Bob", 2)]


def test_an_older_product_event_never_overwrites_a_newer_one(engine: Engine) -> None:
    new = ProductRow(id="prod_A", account="", livemode=False, name="New name", active=True, updated=200)
    old = replace(new, name="Old name", updated=100)
    for write in (new, old):
        with db.transaction(engine) as conn:
            writes.write_products(conn, [write])
    with db.transaction(engine) as conn:
        assert conn.execute(select(models.products_t.c.name)).scalar_one() == "New name"


def test_every_order_of_session_invoice_and_refund_converges(engine: Engine) -> None:
    refund = replace(REFUND, payment_intent="pi_9", amount=1000)
    results = []
    for order in permutations([SUB_SESSION, SUB_INVOICE, refund]):
        with db.transaction(engine) as conn:
            conn.execute(models.purchases_t.delete())
            conn.execute(models.refunds_t.delete())
        apply(engine, *order)
        results.append(purchases(engine))
    assert all(r == results[0] for r in results)
    assert results[0][0]["refunded"]


def test_writing_in_batches_gives_the_same_rows_as_one_by_one(engine: Engine) -> None:
    """``write_sources`` (the worker's and the backfill's path) against ``write_source``."""
    plain = source("cs_1", [row("cs_1", "li_1"), row("cs_1", "li_2", product_id="prod_B")])
    other = source("cs_2", [row("cs_2", "li_3", payment_intent="pi_2")])
    every = [SUB_SESSION, SUB_INVOICE, plain, other]

    def reset() -> None:
        with db.transaction(engine) as conn:
            conn.execute(models.purchases_t.delete())

    apply(engine, *every)
    expected = purchases(engine)
    assert {r["source_id"] for r in expected} == {"in_1", "cs_1", "cs_2"}
    for order in permutations(every):
        reset()
        with db.transaction(engine) as conn:
            writes.write_sources(conn, list(order))
        assert purchases(engine) == expected, [s.source_id for s in order]
        for split in range(1, len(order)):
            reset()
            for part in (order[:split], order[split:]):
                with db.transaction(engine) as conn:
                    writes.write_sources(conn, list(part))
            assert purchases(engine) == expected, ([s.source_id for s in order], split)


def test_sqlite_transactions_take_the_write_lock_up_front(tmp_path: Any) -> None:
    """A read-then-write transaction cannot interleave with another process's writer."""
    import threading

    engine = db.make_engine(f"sqlite:///{tmp_path}/locks.db")
    db.migrate(engine)
    second_done = threading.Event()

    def second_writer() -> None:
        apply(engine, source("cs_2", [row("cs_2", "li_2", payment_intent="pi_2")]))
        second_done.set()

    with db.transaction(engine) as first:
        first.execute(select(models.purchases_t.c.id)).all()
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not second_done.wait(0.5), "the second writer waits for the first transaction"
        writes.write_source(first, source("cs_1", [row("cs_1", "li_1")]))
    thread.join(30)
    assert second_done.is_set()
    assert [r["source_id"] for r in purchases(engine)] == ["cs_1", "cs_2"]
    engine.dispose()


def many_sources(count: int, *, amount: int = 1000) -> list[PurchaseSource]:
    return [
        source(f"cs_{n:03}", [row(f"cs_{n:03}", f"li_{n:03}", payment_intent=f"pi_{n:03}", amount_total=amount)])
        for n in range(count)
    ]


def test_a_big_batch_upserts_like_small_ones(engine: Engine) -> None:
    """Many rows at once take the bulk path on PostgreSQL (``COPY`` into a staging table);
    a second write of the same sources updates them, with no row written twice."""
    count = db.COPY_AT_LEAST * 3
    with db.transaction(engine) as conn:
        writes.write_sources(conn, many_sources(count))
    with db.transaction(engine) as conn:
        writes.write_sources(conn, many_sources(count, amount=1500))
    rows = purchases(engine)
    assert len(rows) == count
    assert {r["amount_total"] for r in rows} == {1500}


def test_a_session_and_its_invoice_in_two_bulk_batches_of_one_write_are_one_purchase(engine: Engine) -> None:
    """``write_sources`` writes a hundred sources at a time in one transaction; the second bulk
    batch must not bring back rows of the first that it replaced (the staging table is emptied
    before each use)."""
    others = many_sources(99 + db.COPY_AT_LEAST)
    db_sources = [SUB_SESSION, *others[:99], SUB_INVOICE, *others[99:]]
    with db.transaction(engine) as conn:
        writes.write_sources(conn, db_sources)
    rows = [r for r in purchases(engine) if r["invoice"] == "in_1"]
    assert [(r["source_id"], r["checkout_session"]) for r in rows] == [("in_1", "cs_sub")]
    assert len(purchases(engine)) == 100 + db.COPY_AT_LEAST


def test_a_rolled_back_batch_leaves_the_next_one_working(engine: Engine) -> None:
    """The staging table made in a transaction that is rolled back is gone with it; the next
    bulk write on the same pooled connection makes it again."""
    with pytest.raises(RuntimeError), db.transaction(engine) as conn:
        writes.write_sources(conn, many_sources(db.COPY_AT_LEAST))
        raise RuntimeError("rolled back")
    assert purchases(engine) == []
    for _ in range(2):
        with db.transaction(engine) as conn:
            writes.write_sources(conn, many_sources(db.COPY_AT_LEAST))
    assert len(purchases(engine)) == db.COPY_AT_LEAST


def test_refresh_statistics_runs_on_both_databases(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        writes.write_sources(conn, many_sources(3))
    db.refresh_statistics(engine)
    assert len(purchases(engine)) == 3


def test_refresh_statistics_covers_every_rollup_table(engine: Engine) -> None:
    """Each table the rollups fill is analyzed as the index grows: one left without statistics
    is scanned whole by a page's lookups (``product_customer_counts`` was, for each page of
    products)."""
    rollups = {name for name in models.Base.metadata.tables if name.startswith("product_")}
    assert rollups <= set(db.WRITTEN_TABLES)
    if engine.dialect.name != "postgresql":
        return
    with db.transaction(engine) as conn:
        writes.write_sources(conn, many_sources(3))
    db.refresh_statistics(engine)
    with engine.connect() as conn:
        never = conn.execute(
            text("SELECT relname FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r' AND reltuples < 0"),
            {"names": list(db.WRITTEN_TABLES)},
        ).scalars().all()
    assert never == []
