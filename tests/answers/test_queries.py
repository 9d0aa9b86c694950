"""The read side (``indexer.answers.queries``) on both databases, over rows written the real way.

Purchases go in as Stripe-shaped Checkout Sessions and Refunds, mapped by ``indexer.index.mapping``
and written by ``indexer.db``, exactly as the worker and the backfill write them, by the
``Shop`` of ``tests/conftest.py`` (shared with the API, dashboard, fuzz and CLI tests).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, text

from indexer import db
from indexer.answers import product_customers as product_customers_module
from indexer.answers import queries
from indexer.answers.queries import Created, Filters, Page
from indexer.errors import UsageError
from indexer.index.mapping import guest_key
from tests.conftest import README, T0, Shop, alembic, many_buyers


def customers(engine: Engine, product: str, filters: queries.Filters | None = None, **page: Any) -> queries.PageResult:
    with db.transaction(engine) as conn:
        return queries.product_customers(conn, product, filters or queries.Filters(), queries.Page(**page))


def by_id(result: queries.PageResult) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in result.data}


# --- customers of a product -----------------------------------------------------------------


def test_a_customer_entry_sums_their_purchases_of_the_product(engine: Engine, shop: Shop) -> None:
    shop.checkout(("prod_A", 1000, 2), ("prod_B", 500), customer="cus_1", email="ann@example.com", created=T0)
    shop.checkout(("prod_A", 3000), customer="cus_1", email="ann@example.com", created=T0 + 50)
    shop.checkout(("prod_A", 700), email="Bob@Example.com", name="Bob", created=T0 + 10)
    shop.checkout(("prod_A", 300), email="bob@example.COM", name="Bob", created=T0 + 20)

    entries = by_id(customers(engine, "prod_A"))

    assert set(entries) == {"cus_1", guest_key("bob@example.com")}
    ann = entries["cus_1"]
    assert {k: ann[k] for k in ("object", "customer", "email", "name", "purchases", "quantity", "amount_total",
                                "currency", "first_purchased_at", "last_purchased_at", "livemode", "product_id")} == {
        "object": "product_customer", "customer": "cus_1", "email": "ann@example.com", "name": "Ann",
        "purchases": 2, "quantity": 3, "amount_total": 4000, "currency": "usd",
        "first_purchased_at": T0, "last_purchased_at": T0 + 50, "livemode": False, "product_id": "prod_A",
    }
    bob = entries[guest_key("bob@example.com")]
    assert (bob["customer"], bob["purchases"], bob["amount_total"]) == (None, 2, 1000)


def test_amounts_in_two_currencies_are_never_added(engine: Engine, shop: Shop) -> None:
    shop.checkout(("prod_A", 1000), customer="cus_1", currency="usd", created=T0)
    shop.checkout(("prod_A", 900), customer="cus_1", currency="eur", created=T0 + 5)
    shop.checkout(("prod_A", 100), customer="cus_1", currency="eur", created=T0 + 9)

    [entry] = customers(engine, "prod_A").data

    assert entry["amount_total"] is None and entry["currency"] is None
    assert entry["purchases"] == 3
    assert [(a["currency"], a["amount_total"], a["purchases"]) for a in entry["amounts"]] == [
        ("eur", 1000, 2), ("usd", 1000, 1)
    ]
    with db.transaction(engine) as conn:
        view = conn.execute(text(
            "SELECT currency, amount_total FROM product_customers WHERE product_id = 'prod_A' ORDER BY currency"
        )).all()
    assert [tuple(r) for r in view] == [("eur", 1000), ("usd", 1000)]


def test_refunds_full_ones_leave_out_partial_ones_count(engine: Engine, shop: Shop) -> None:
    full = shop.checkout(("prod_A", 1000), customer="cus_full")
    partial = shop.checkout(("prod_A", 1000), customer="cus_part")
    shop.refund(full, 1000)
    shop.refund(partial, 250)

    entries = by_id(customers(engine, "prod_A"))
    assert set(entries) == {"cus_part"}
    assert (entries["cus_part"]["amount_total"], entries["cus_part"]["amount_refunded"]) == (1000, 250)

    everyone = by_id(customers(engine, "prod_A", queries.Filters(include_refunded=True)))
    assert set(everyone) == {"cus_full", "cus_part"}
    assert everyone["cus_full"]["amount_refunded"] == 1000


def test_modes_and_accounts_never_mix(engine: Engine, shop: Shop) -> None:
    shop.checkout(("prod_A", 100), customer="cus_test", livemode=False)
    assert set(by_id(customers(engine, "prod_A"))) == {"cus_test"}

    shop.checkout(("prod_A", 200), customer="cus_live", livemode=True)
    shop.checkout(("prod_A", 300), customer="cus_connect", account="acct_1")
    default = customers(engine, "prod_A")
    assert (set(by_id(default)), default.livemode) == ({"cus_live"}, True)
    assert set(by_id(customers(engine, "prod_A", queries.Filters(livemode=False)))) == {"cus_test"}
    assert set(by_id(customers(engine, "prod_A", queries.Filters(account="acct_1")))) == {"cus_connect"}
    with pytest.raises(queries.ResourceMissing):
        customers(engine, "prod_A", queries.Filters(account="acct_2"))


def test_a_product_known_only_from_the_catalog_has_no_customers(engine: Engine, shop: Shop) -> None:
    shop.product("prod_new", "New")
    assert customers(engine, "prod_new").data == []
    with pytest.raises(queries.ResourceMissing) as missing:
        customers(engine, "prod_nope")
    assert missing.value.param == "product"


@pytest.fixture(params=["narrow", "wide"])
def window_read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``created`` window is read whole when narrow, by walking customers when wide: run a
    test both ways by moving the line between them (``product_customers.WINDOW_CAP``)."""
    monkeypatch.setattr(product_customers_module, "WINDOW_CAP", 10**9 if request.param == "narrow" else 0)
    return str(request.param)


@pytest.mark.usefixtures("window_read")
def test_created_filters_bound_the_purchase_time(engine: Engine, shop: Shop) -> None:
    for i in range(5):
        shop.checkout(("prod_A", 100), customer=f"cus_{i}", created=T0 + 10 * i)
    shop.checkout(("prod_A", 100), customer="cus_0", created=T0 + 100)

    def ids(**bounds: int) -> set[str]:
        return set(by_id(customers(engine, "prod_A", queries.Filters(created=queries.Created(**bounds)))))

    assert ids(gte=T0 + 20) == {"cus_0", "cus_2", "cus_3", "cus_4"}
    assert ids(gt=T0 + 20, lt=T0 + 40) == {"cus_3"}
    assert ids(lte=T0 + 10) == {"cus_0", "cus_1"}
    [entry] = [e for e in customers(engine, "prod_A", queries.Filters(created=queries.Created(lte=T0 + 10))).data
               if e["id"] == "cus_0"]
    assert (entry["purchases"], entry["last_purchased_at"]) == (1, T0)


def walk(engine: Engine, product: str, limit: int, backwards: bool) -> list[str]:
    """Page through every customer, following cursors the way a Stripe client does."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = {"ending_before": cursor} if backwards else {"starting_after": cursor}
        result = customers(engine, product, limit=limit, **page)
        assert len(result.data) <= limit
        ids = [e["id"] for e in result.data]
        seen = ids + seen if backwards else seen + ids
        if not result.has_more:
            return seen
        cursor = ids[0] if backwards else ids[-1]


def test_paging_returns_each_customer_once_in_both_directions(engine: Engine, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 23)
    shop.checkout(("prod_A", 5), customer="cus_0000", currency="eur")  # two currencies, still one entry
    assert walk(engine, "prod_A", 100, backwards=False) == expected
    for limit in (1, 4, 10, 23):
        assert walk(engine, "prod_A", limit, backwards=False) == expected
        # Back from the last entry (the last page's last id) to the start.
        backwards: list[str] = []
        cursor = expected[-1]
        while True:
            result = customers(engine, "prod_A", limit=limit, ending_before=cursor)
            backwards = [e["id"] for e in result.data] + backwards
            if not result.has_more:
                break
            cursor = result.data[0]["id"]
        assert backwards == expected[:-1]


def test_a_window_read_whole_or_by_walking_customers_gives_the_same_pages(
    engine: Engine, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries of a ``created`` window sum only the purchases inside it; both ways of finding
    a page's customers (``WINDOW_CAP``) give the same pages, in both directions."""
    many_buyers(shop, "prod_A", 14)
    shop.checkout(("prod_A", 5), customer="cus_0003", currency="eur", created=T0 + 7)
    shop.checkout(("prod_A", 9), customer="cus_0003", created=T0 + 30)
    shop.refund(shop.checkout(("prod_A", 40), customer="cus_0006", created=T0 + 8), 40)
    shop.checkout(("prod_B", 1), customer="cus_0009", created=T0 + 8)

    def pages(cap: int, window: Created, limit: int) -> list[queries.PageResult]:
        monkeypatch.setattr(product_customers_module, "WINDOW_CAP", cap)
        out, cursor = [], None
        while True:
            result = customers(engine, "prod_A", Filters(created=window), limit=limit, starting_after=cursor)
            out.append(result)
            if not result.has_more:
                break
            cursor = result.data[-1]["id"]
        out.append(customers(engine, "prod_A", Filters(created=window), limit=limit, ending_before=cursor))
        return out

    windows = (Created(gte=T0 + 3, lte=T0 + 9), Created(gt=T0 + 6), Created(gt=T0 + 7), Created(lt=T0 + 2), Created(gte=T0 + 99))
    for window in windows:
        with db.transaction(engine) as conn:
            expected = set(conn.execute(text(
                "SELECT customer_key FROM purchases WHERE product_id = 'prod_A' AND NOT refunded"
                f" AND {' AND '.join(f'purchased_at {sign} {value}' for sign, value in _signs(window))}"
            )).scalars())
        for limit in (1, 4):
            narrow, wide = pages(10**9, window, limit), pages(0, window, limit)
            assert narrow == wide
            assert {e["id"] for page in narrow[:-1] for e in page.data} == expected
    [entry] = [e for e in customers(engine, "prod_A", Filters(created=Created(gte=T0 + 3, lte=T0 + 9))).data
               if e["id"] == "cus_0003"]
    assert (entry["purchases"], entry["currency"], entry["first_purchased_at"]) == (2, None, T0 + 3)
    assert [a["amount_total"] for a in entry["amounts"]] == [5, 103]


def test_the_covering_indexes_migration_keeps_the_window_pages_both_ways(
    database_url_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration ``0010_covering_indexes`` (PostgreSQL) rebuilds the two indexes a window is
    read through with the columns its pages check (``INCLUDE``), under the same names: the
    pages, read whole or by walking customers, are the same before, after and after going back."""
    engine = database_url_engine
    if not db.is_postgres(engine):
        pytest.skip("SQLite has no INCLUDE; the migration leaves it as it is")
    db.migrate(engine, "0008_rollup_locks")
    shop = Shop(engine)
    many_buyers(shop, "prod_A", 12)
    shop.refund(shop.checkout(("prod_A", 40), customer="cus_0006", created=T0 + 8), 40)

    def pages() -> list[Any]:
        out = []
        for cap in (10**9, 0):
            monkeypatch.setattr(product_customers_module, "WINDOW_CAP", cap)
            for window in (Created(gte=T0 + 3, lte=T0 + 9), Created(gt=T0 + 6)):
                out.append(customers(engine, "prod_A", Filters(created=window), limit=3, starting_after="cus_0003"))
        return out

    def included() -> dict[str, str]:
        with engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT indexname, substring(indexdef FROM 'INCLUDE \\((.*)\\)') FROM pg_indexes WHERE indexname IN "
                "('ix_purchases_product_id_account_livemode_customer_key', "
                "'ix_purchases_product_id_account_livemode_purchased_at_id')")).all())

    before = pages()
    assert included() == {"ix_purchases_product_id_account_livemode_customer_key": None,
                          "ix_purchases_product_id_account_livemode_purchased_at_id": None}
    db.migrate(engine, "0010_covering_indexes")
    assert included() == {"ix_purchases_product_id_account_livemode_customer_key": "purchased_at, refunded",
                          "ix_purchases_product_id_account_livemode_purchased_at_id": "customer_key, refunded"}
    assert pages() == before
    db.migrate(engine)  # 0014 puts the customer before the mode in the first one, as the view walks it
    assert pages() == before
    alembic(engine, "downgrade", "0008_rollup_locks")
    assert set(included().values()) == {None}
    assert pages() == before
    assert [[e["id"] for e in page.data][0] for page in before] == ["cus_0006", "cus_0009"] * 2


def _signs(window: Created) -> list[tuple[str, int]]:
    signs = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
    return [(signs[op], value) for op, value in window.bounds().items()]


@pytest.mark.usefixtures("window_read")
def test_pages_without_a_range_equal_pages_in_a_range_that_holds_everything(engine: Engine, shop: Shop) -> None:
    """The usual page walks the product's customers who hold a purchase that counts; a date range
    finds its page's customers by the range (read whole, or walked and filtered). A range that
    holds everything must give the same entries, page after page, both directions."""
    many_buyers(shop, "prod_A", 17)
    shop.checkout(("prod_A", 5), ("prod_A", 7, 3), customer="cus_0003", currency="eur", created=T0 + 99)
    shop.refund(shop.checkout(("prod_A", 40), customer="cus_0006", created=T0 + 5), 40)
    shop.refund(shop.checkout(("prod_A", 40), customer="cus_0009", created=T0 + 6), 15)
    everything = Filters(created=Created(gte=0))
    for limit in (1, 5, 100):
        cursor: str | None = None
        while True:
            page = Page(limit=limit, starting_after=cursor)
            with db.transaction(engine) as conn:
                plain = queries.product_customers(conn, "prod_A", Filters(), page)
                summed = queries.product_customers(conn, "prod_A", everything, page)
            assert plain == summed
            if not plain.has_more:
                break
            cursor = plain.data[-1]["id"]
        with db.transaction(engine) as conn:
            before = Page(limit=limit, ending_before=cursor)
            assert queries.product_customers(conn, "prod_A", Filters(), before) == \
                queries.product_customers(conn, "prod_A", everything, before)


def test_a_page_after_the_last_entry_is_empty(engine: Engine, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 3)
    end = customers(engine, "prod_A", starting_after=expected[-1])
    assert (end.data, end.has_more) == ([], False)
    start = customers(engine, "prod_A", ending_before=expected[0])
    assert (start.data, start.has_more) == ([], False)
    with pytest.raises(UsageError):
        queries.Page(starting_after="a", ending_before="b")


def test_streaming_every_customer_in_small_pages(engine: Engine, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 12)
    shop.checkout(("prod_A", 1), customer="cus_live", livemode=True)
    streamed = [e["id"] for e in queries.iter_product_customers(engine, "prod_A", queries.Filters(livemode=False), page_size=5)]
    assert streamed == expected
    assert [e["id"] for e in queries.iter_product_customers(engine, "prod_A", queries.Filters())] == ["cus_live"]


# --- purchases of a product ------------------------------------------------------------------


def purchases(engine: Engine, product: str, **page: Any) -> queries.PageResult:
    with db.transaction(engine) as conn:
        return queries.product_purchases(conn, product, queries.Filters(), queries.Page(**page))


def test_purchases_are_rows_newest_first_paged_without_gaps(engine: Engine, shop: Shop) -> None:
    for i in range(7):
        shop.checkout(("prod_A", 100 + i), ("prod_B", 1), customer=f"cus_{i}", created=T0 + i // 3)  # ties
    everything = purchases(engine, "prod_A", limit=100).data
    assert [r["amount_total"] for r in everything] == [106, 105, 104, 103, 102, 101, 100]
    assert all(r["object"] == "purchase" and r["product_id"] == "prod_A" for r in everything)
    assert everything[0]["livemode"] is False and everything[0]["refunded"] is False

    ids = [str(r["id"]) for r in everything]
    forward: list[str] = []
    page = purchases(engine, "prod_A", limit=3)
    while True:
        forward += [str(r["id"]) for r in page.data]
        if not page.has_more:
            break
        page = purchases(engine, "prod_A", limit=3, starting_after=forward[-1])
    assert forward == ids

    back = purchases(engine, "prod_A", limit=2, ending_before=ids[-1])
    assert ([str(r["id"]) for r in back.data], back.has_more) == (ids[-3:-1], True)

    with pytest.raises(UsageError) as bad:
        purchases(engine, "prod_A", starting_after="not-a-row")
    assert bad.value.param == "starting_after"
    other = purchases(engine, "prod_B").data[0]["id"]
    with pytest.raises(UsageError):
        purchases(engine, "prod_A", starting_after=str(other))


# --- products of a customer ------------------------------------------------------------------


def test_a_buyer_is_found_by_id_or_by_email_case_insensitively(engine: Engine, shop: Shop) -> None:
    shop.product("prod_A", "Course A")
    shop.checkout(("prod_A", 1000), ("prod_B", 200), customer="cus_1", email="Ann@Example.com")
    shop.checkout(("prod_C", 300), email="ann@example.com")  # the same person as a guest
    shop.checkout(("prod_D", 300), email="someone@example.com")

    with db.transaction(engine) as conn:
        by_customer = queries.customer_products(conn, "cus_1", queries.Filters(), queries.Page())
        by_email = queries.customer_products(conn, "ANN@example.com", queries.Filters(), queries.Page(limit=2))
        rest = queries.customer_products(conn, "ann@example.com", queries.Filters(), queries.Page(starting_after="prod_B"))
        with pytest.raises(queries.ResourceMissing):
            queries.customer_products(conn, "nobody@example.com", queries.Filters(), queries.Page())

    assert [(e["id"], e["product_name"], e["amount_total"]) for e in by_customer.data] == [
        ("prod_A", "Course A", 1000), ("prod_B", None, 200)
    ]
    assert by_customer.data[0]["object"] == "customer_product"
    assert ([e["id"] for e in by_email.data], by_email.has_more) == (["prod_A", "prod_B"], True)
    assert ([e["id"] for e in rest.data], rest.has_more) == (["prod_C"], False)


# --- products --------------------------------------------------------------------------------


def test_products_list_customers_and_revenue_per_currency(engine: Engine, shop: Shop) -> None:
    shop.product("prod_A", "Course A")
    shop.checkout(("prod_A", 1000), customer="cus_1")
    shop.checkout(("prod_A", 500), customer="cus_1")
    shop.checkout(("prod_A", 800), email="g@example.com", currency="eur")
    shop.checkout(("prod_B", 100), customer="cus_2")
    refunded = shop.checkout(("prod_C", 100), customer="cus_3")
    shop.refund(refunded, 100)

    rows = [(r["product_id"], r["name"], r["currency"], r["customers"], r["amount_total"])
            for r in queries.iter_products(engine, page_size=1)]
    assert rows == [("prod_A", "Course A", "eur", 1, 800), ("prod_A", "Course A", "usd", 1, 1500),
                    ("prod_B", None, "usd", 1, 100)]
    assert [r["product_id"] for r in queries.iter_products(engine, include_refunded=True)][-1] == "prod_C"


def products_pages(engine: Engine, filters: Filters, limit: int, before: str | None = None) -> list[dict[str, Any]]:
    """Every ``/v1/products`` entry, following the cursors forwards, or backwards from ``before``."""
    seen: list[dict[str, Any]] = []
    cursor, backwards = before, before is not None
    while True:
        page = Page(limit=limit, ending_before=cursor) if backwards else Page(limit=limit, starting_after=cursor)
        with db.transaction(engine) as conn:
            result = queries.products_list(conn, filters, page)
        assert len(result.data) <= limit
        seen = result.data + seen if backwards else seen + result.data
        if not result.has_more:
            return seen
        cursor = result.data[0]["id"] if backwards else result.data[-1]["id"]


def test_the_products_list_gives_the_lines_of_indexer_products(engine: Engine, shop: Shop) -> None:
    """``/v1/products`` and ``indexer products`` answer the same: an entry's lines (one per
    currency) are the lines ``iter_products`` gives for that account and mode, rollups or not."""
    shop.product("prod_A", "Course A")
    shop.checkout(("prod_A", 1000, 2), ("prod_B", 300), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 700), customer="cus_1", currency="eur", created=T0 + 5)
    shop.checkout(("prod_A", 900), email="g@example.com", currency="eur", created=T0 + 6)
    shop.refund(shop.checkout(("prod_C", 100), customer="cus_3", created=T0 + 7), 100)
    shop.refund(shop.checkout(("prod_B", 50), customer="cus_4", created=T0 + 8), 20)
    for i in range(4):
        shop.checkout((f"prod_P{i}", 10 + i), email=f"p{i}@example.com", created=T0 + 10 + i)
    shop.checkout(("prod_A", 5), customer="cus_live", livemode=True)
    shop.checkout(("prod_A", 6), customer="cus_acct", account="acct_1")

    def lines(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**{k: e[k] for k in ("product_id", "name", "account", "livemode")},
                 **{k: a[k] for k in ("currency", "customers", "purchases", "quantity", "amount_total", "amount_refunded")}}
                for e in entries for a in e["amounts"]]

    for include_refunded in (False, True):
        everything = list(queries.iter_products(engine, include_refunded=include_refunded))
        for account, livemode in (("", False), ("", True), ("acct_1", False)):
            filters = Filters(account=account, livemode=livemode, include_refunded=include_refunded)
            expected = [r for r in everything if (r["account"], r["livemode"]) == (account, livemode)]
            assert expected
            for limit in (1, 3, 100):
                forward = products_pages(engine, filters, limit)
                assert lines(forward) == expected
                assert products_pages(engine, filters, limit, before=forward[-1]["id"]) == forward[:-1]
            summed = Filters(account=account, livemode=livemode, include_refunded=include_refunded,
                             created=Created(gte=0))  # sums purchases: the same answer
            assert products_pages(engine, summed, 2) == products_pages(engine, filters, 2)

    [a] = [e for e in products_pages(engine, Filters(livemode=False), 100) if e["id"] == "prod_A"]
    assert (a["name"], a["customers"], a["purchases"], a["quantity"]) == ("Course A", 2, 3, 4)  # cus_1 once
    assert [(m["currency"], m["customers"]) for m in a["amounts"]] == [("eur", 2), ("usd", 1)]
    assert [e["id"] for e in products_pages(engine, Filters(include_refunded=True), 100)] == ["prod_A"]  # live first
    with db.transaction(engine) as conn:
        window = queries.products_list(conn, Filters(livemode=False, created=Created(gt=T0 + 5, lt=T0 + 11)), Page())
    assert [(e["id"], e["customers"], [m["amount_total"] for m in e["amounts"]]) for e in window.data] == [
        ("prod_A", 1, [900]), ("prod_B", 1, [50]), ("prod_P0", 1, [10])]  # partly refunded counts


# --- the README's SQL ------------------------------------------------------------------------


def readme_sql() -> list[str]:
    section = README.read_text().split("## Querying with SQL", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def test_the_readme_sql_examples_run_and_answer(engine: Engine, shop: Shop) -> None:
    shop.product("prod_A", "Course A")
    for i in range(3):
        shop.checkout(("prod_A", 1000), customer=f"cus_{i}", email=f"c{i}@example.com", created=T0 + 86_400 * i)
    shop.checkout(("prod_A", 900), email="Guest@Example.com", currency="eur", created=T0)
    examples = readme_sql()
    assert len(examples) >= 4
    with db.transaction(engine) as conn:
        for sql in examples:
            rows = conn.execute(text(sql.replace("prod_...", "prod_A").replace("cus_...", "cus_1")
                                     .replace("buyer@example.com", "guest@example.com"))).all()
            assert rows, sql
