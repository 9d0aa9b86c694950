"""``indexer report enrich`` on Stripe's sample file and on sandbox-made reports of every
version, with the Dashboard's default columns too: every row kept, split rows adding up
exactly, each row matched the way the contract says, Stripe asked as little as it promises."""

from __future__ import annotations

import csv
import math
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from indexer.errors import BadInput, ConfigError
from indexer.index import mapping, writes
from indexer.reports.balance_csv import ENRICH_COLUMNS
from indexer.reports.enrich import enrich
from indexer.reports.resolve import NO_PAYMENT_CATEGORIES
from stripe_sandbox.reporting import ITEMIZED_1, ITEMIZED_2, ITEMIZED_3, ITEMIZED_4
from tests.reports.conftest import QUOTED, Shop, report_csv

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "stripe" / "sample_balance_change_itemized.csv"
TYPES = [f"balance_change_from_activity.itemized.{n}" for n in range(1, 8)]


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def check_faithful(source: Path, output: Path) -> list[dict[str, str]]:
    """Every input row is in the output, in order, its cells unchanged but for the amounts of
    split rows, whose parts add up to the original exactly."""
    header_in, rows_in = read(source)
    header_out, rows_out = read(output)
    assert header_out == header_in + list(ENRICH_COLUMNS)
    groups: dict[int, list[dict[str, str]]] = defaultdict(list)
    i = 0
    for number in range(len(rows_in)):
        first = rows_out[i]
        parts = int(first["split"].split("/")[1]) if first["split"] else 1
        groups[number] = rows_out[i : i + parts]
        i += parts
    assert i == len(rows_out)
    for number, original in enumerate(rows_in):
        parts = groups[number]
        for k, part in enumerate(parts, start=1):
            assert part["split"] == ("" if len(parts) == 1 else f"{k}/{len(parts)}")
            for name in header_in:
                if name in ("gross", "fee", "net") and len(parts) > 1:
                    continue
                assert part[name] == original[name], (name, original, part)
        if len(parts) > 1:
            for name in ("gross", "fee", "net"):
                if name in original:
                    total = sum(Decimal(p[name]) for p in parts)
                    assert total == Decimal(original[name]), (name, original[name], parts)
                    decimals = len(original[name].partition(".")[2])
                    assert all(len(p[name].partition(".")[2]) == decimals for p in parts)
    return rows_out


# --- Stripe's sample file ---------------------------------------------------------------------


def index_sample(engine: Engine) -> None:
    """Index three of the sample's payments: a guest's single product, a customer's two
    products (later disputed), and the two-line subscription invoice (later refunded)."""

    def session(pi: str, email: str, items: list[tuple[str, str, int, int]]) -> mapping.PurchaseSource:
        obj = {"object": "checkout.session", "id": f"cs_test_{pi[-10:]}", "livemode": False,
               "status": "complete", "payment_status": "paid", "payment_intent": pi,
               "created": 1782900000, "customer": None,
               "customer_details": {"email": email, "name": email.split("@")[0].title()}}
        lines = [{"object": "item", "id": f"li_{pi[-6:]}{n}", "quantity": qty,
                  "amount_subtotal": amount, "amount_total": amount, "currency": "usd",
                  "description": name, "price": {"id": f"price_{n}{pi[-4:]}", "product": product}}
                 for n, (product, name, qty, amount) in enumerate(items)]
        return mapping.session_purchase(obj, lines)

    def invoice(inv: str, pi: str, email: str, items: list[tuple[str, str, int]]) -> mapping.PurchaseSource:
        obj = {"object": "invoice", "id": inv, "livemode": False, "status": "paid",
               "customer": "cus_" + email[:6], "customer_email": email, "customer_name": "Mei Chen",
               "created": 1782900000, "payment_intent": pi, "status_transitions": {"paid_at": 1782900000}}
        lines = [{"object": "line_item", "id": f"il_{inv[-6:]}{n}", "amount": amount, "currency": "usd",
                  "quantity": 1, "description": product, "price": {"id": f"price_{product}", "product": product}}
                 for n, (product, _, amount) in enumerate(items)]
        return mapping.invoice_purchase(obj, lines)

    sources = [
        session("pi_3RjA1bLq8ZcW4nB01Gx5wE2r", "guest@example.com", [("prod_Course", "Video Course", 1, 4900)]),
        session("pi_3RjC7hLq8ZcW4nB00pH4sD1m", "ana.lopez@example.com",
                [("prod_Course", "Video Course", 1, 4900), ("prod_Work", "Workshop", 4, 8000)]),
        invoice("in_1RjT9qLq8ZcW4nB0sD3fG6hJ", "pi_3RjT9sLq8ZcW4nB00mN8bV1c", "m.chen@example.org",
                [("prod_Pro", "Pro Plan", 1900), ("prod_Addon", "Add-on", 1000)]),
        invoice("in_1RkAe3Lq8ZcW4nB0xC2vB4nM", "pi_3RkB2wLq8ZcW4nB01fG4hJ6k", "billing@acme-widgets.example",
                [("prod_Pro", "Pro Plan", 9900)]),
        invoice("in_1RkK4zLq8ZcW4nB0aS2dF4gH", "pi_3RkK5pLq8ZcW4nB00nM5bV7c", "billing@acme-widgets.example",
                [("prod_Pro", "Pro Plan", 150000)]),
        session("pi_3RlP7uLq8ZcW4nB01qW7eR9t", "orders@northwind.example",
                [("prod_Course", "Video Course", 2, 9800), ("prod_Work", "Workshop", 7, 14000),
                 ("prod_Pro", "Pro Plan", 1, 200)]),
    ]
    with engine.begin() as conn:
        writes.write_sources(conn, sources)
        writes.write_products(conn, [mapping.ProductRow("prod_Course", "", False, "Video Course", True, 1)])


def test_sample_file(engine: Engine, sandbox: Any, tmp_path: Path) -> None:
    index_sample(engine)
    out = tmp_path / "out.csv"
    api = Shop(sandbox.store, sandbox).api()
    result = enrich(SAMPLE, out, engine=engine, api=lambda: api)
    rows = check_faithful(SAMPLE, out)
    by_txn = defaultdict(list)
    for row in rows:
        by_txn[row["balance_transaction_id"]].append(row)
    single = by_txn["txn_3RjA1bLq8ZcW4nB01kQ2v9Xe"]
    assert [(r["product_id"], r["product_name"], r["match"]) for r in single] == [
        ("prod_Course", "Video Course", "index")]
    refund = by_txn["txn_3RjA1bLq8ZcW4nB01wE4rT6y"]
    assert refund[0]["product_id"] == "prod_Course" and refund[0]["gross"] == "-49.00"
    dispute = by_txn["txn_1RlD4eLq8ZcW4nB0aQ1wE2r3"]
    assert [r["gross"] for r in dispute] == ["-49.00", "-80.00"]
    assert [r["fee"] for r in dispute] == ["5.70", "9.30"]
    assert [r["net"] for r in dispute] == ["-54.70", "-89.30"]
    sub_refund = by_txn["txn_3RjT9sLq8ZcW4nB00sD5fG7h"]
    assert [(r["product_id"], r["gross"]) for r in sub_refund] == [("prod_Pro", "-6.55"), ("prod_Addon", "-3.45")]
    assert sub_refund[0]["buyer_email"] == "m.chen@example.org"
    quoted = by_txn["txn_3RlP7uLq8ZcW4nB01xC9vB1n"]
    assert quoted[0]["description"] == 'Order #1042, "Deluxe" bundle'
    assert [r["split"] for r in quoted] == ["1/3", "2/3", "3/3"]
    for txn in ("txn_1RkZ0aLq8ZcW4nB0pO9iU8y7", "txn_1RkZ0bLq8ZcW4nB0tR5eW3q2", "txn_1RkZ0cLq8ZcW4nB0yT6uI8o9"):
        assert by_txn[txn][0]["match"] == "no_payment"
    # the rest name payments no index and no Stripe knows: asked once each, unmatched
    assert by_txn["txn_3RjQ4mLq8ZcW4nB01aZ7cV2b"][0]["match"] == "unmatched"
    assert result.matches == {"index": 9, "no_payment": 3, "unmatched": 4}
    assert result.rows_in == 16 and result.rows_out == 16 + 1 + 2 + 1 + 2
    # three payments neither the index nor Stripe knows: each one's session asked once; their
    # rows leave invoice_id empty, so no invoice is asked for (Stripe fills it for an invoice's)
    assert result.requests == 3


def test_sample_without_a_key_says_stripe_is_needed(engine: Engine, tmp_path: Path) -> None:
    index_sample(engine)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        enrich(SAMPLE, folder / "out.csv", engine=engine, api=None)
    assert list(folder.iterdir()) == []


# --- sandbox-made reports ---------------------------------------------------------------------


def _expectations(shop: Shop, rows: list[dict[str, str]], indexed: str = "index") -> None:
    """What each kind of row must say, found by the sandbox's own records; ``indexed`` is the
    match of rows of indexed payments (``stripe`` when their balance transactions were
    listed in this run)."""
    store, ids = shop.store, shop.ids
    by_txn: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_txn[row["balance_transaction_id"]].append(row)
    categories = {row["reporting_category"] for row in rows}
    assert {"charge", "refund", "dispute", "dispute_reversal", "charge_failure", "fee", "tax"} <= categories

    def charge_txn(pi: str) -> str:
        return store.charges[store.payment_intents[pi].latest_charge or ""].balance_transaction or ""

    two = by_txn[charge_txn(ids["two_products_pi"])]
    assert [(r["product_id"], r["quantity"], r["split"], r["match"]) for r in two] == [
        (ids["course"], "1", "1/2", indexed), (ids["workshop"], "2", "2/2", indexed)]
    assert [r["gross"] for r in two] == ["49.00", "40.00"]
    assert two[0]["buyer_email"] == "bo@example.com" and two[0]["checkout_session_id"].startswith("cs_test_")
    yen = by_txn[charge_txn(ids["jpy_pi"])]
    assert yen[0]["gross"] == "3000" and yen[0]["currency"] == "jpy" and yen[0]["match"] == indexed
    refund = [r for r in rows if r["reporting_category"] == "refund"]
    assert [(r["product_id"], r["gross"]) for r in refund] == [
        (ids["plan"], "-5.92"), (ids["workshop"], "-4.08")]
    dispute = [r for r in rows if r["reporting_category"] == "dispute"]
    assert [(r["product_id"], r["gross"], r["fee"]) for r in dispute] == [
        (ids["course"], "-49.00", "10.65"), (ids["workshop"], "-20.00", "4.35")]
    won = [r for r in rows if r["reporting_category"] == "dispute_reversal"]
    assert [(r["gross"], r["fee"]) for r in won] == [("49.00", "-10.65"), ("20.00", "-4.35")]
    failure = [r for r in rows if r["reporting_category"] == "charge_failure"]
    assert [(r["product_id"], r["gross"]) for r in failure] == [(ids["course"], "-49.00")]
    bare = [r for r in rows if r["description"] == QUOTED]
    assert [r["match"] for r in bare] == ["unmatched"]
    assert {r["match"] for r in rows if r["reporting_category"] in ("fee", "tax")} == {"no_payment"}
    late = by_txn[charge_txn(ids["late_pi"])]
    assert [(r["product_id"], r["gross"], r["match"]) for r in late] == [
        (ids["course"], "49.00", "stripe"), (ids["workshop"], "60.00", "stripe")]
    renewal = store.invoices[ids["renewal_invoice"]]
    assert [r["match"] for r in by_txn[store.charges[renewal.charge or ""].balance_transaction or ""]] == ["stripe"]


@pytest.mark.parametrize("report_type", TYPES)
def test_every_version_with_all_its_columns(engine: Engine, shop: Shop, tmp_path: Path, report_type: str) -> None:
    version = int(report_type.rsplit(".", 1)[1])
    columns = {1: ITEMIZED_1, 2: ITEMIZED_2, 3: ITEMIZED_3}.get(version, ITEMIZED_4)
    source = report_csv(shop, report_type, list(columns), timezone="America/New_York" if version >= 3 else None,
                        path=tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    api = shop.api()
    result = enrich(source, out, engine=engine, api=lambda: api)
    rows = check_faithful(source, out)
    _expectations(shop, rows)
    # ids in every row: no balance transaction listed; asked once each: the late Checkout
    # payment's and the failed SEPA payment's sessions, the renewal's invoice, and the bare
    # PaymentIntent's session (its empty invoice_id says it paid no invoice: not asked)
    assert "invoice_id" in columns
    assert result.prefetched.pages == 0
    assert result.requests == 1 + 1 + 1 + 1
    assert result.matches["stripe"] == 4  # input rows: late, renewal, failed payment and its failure


@pytest.mark.parametrize("report_type", [TYPES[2], TYPES[6]])
def test_default_columns_without_ids_then_again_from_the_index(
    engine: Engine, shop: Shop, tmp_path: Path, report_type: str,
) -> None:
    """Versions 1-3 default to created_utc, 4-7 to the Dashboard's local ``created``: no id
    columns, so the month's balance transactions are listed once (and kept)."""
    source = report_csv(shop, report_type, None, timezone="Asia/Tokyo", path=tmp_path / "in.csv")
    header, rows_in = read(source)
    assert not {"charge_id", "payment_intent_id", "source_id"} & set(header)
    out = tmp_path / "out.csv"
    api = shop.api()
    first = enrich(source, out, engine=engine, api=lambda: api)
    rows = check_faithful(source, out)
    _expectations(shop, rows, indexed="stripe")
    # one listing page (14 rows), the lookup of a file with local times only (its last
    # transaction: the file's offset from UTC), and each unindexed payment once: the late
    # Checkout payment, the renewal (its row reads "Subscription update", so its invoice is
    # asked first), the failed SEPA payment, and the bare PaymentIntent, twice (neither a
    # session nor an invoice has it)
    local_bounds = 0 if "created_utc" in header else 1
    unindexed, bare = 4, 1
    assert first.prefetched.pages == math.ceil(len(rows_in) / 100) == 1
    assert first.requests == math.ceil(len(rows_in) / 100) + local_bounds + unindexed + bare
    again = tmp_path / "again.csv"
    api2 = shop.api()
    second = enrich(source, again, engine=engine, api=lambda: api2)
    rows2 = check_faithful(source, again)
    _expectations(shop, rows2)
    assert [r["product_id"] for r in rows2] == [r["product_id"] for r in rows]
    assert second.prefetched.pages == 0
    payment_rows = [r for r in rows2 if r["reporting_category"] not in NO_PAYMENT_CATEGORIES]
    assert {r["match"] for r in payment_rows} == {"index", "stripe", "unmatched"}
    assert second.requests == unindexed + bare


def test_many_invoice_payments_are_listed_with_their_invoices_not_asked_one_by_one(
    engine: Engine, shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past ``INVOICE_LISTING_MIN`` unindexed payments that read like invoices', the range's
    invoice payments are listed with their invoices (here the threshold is one: the renewal),
    and the rows come out the same as when each is asked."""
    from indexer.reports import prefetch as module

    monkeypatch.setattr(module, "INVOICE_LISTING_MIN", 1)
    source = report_csv(shop, TYPES[6], None, timezone="Asia/Tokyo", path=tmp_path / "in.csv")
    _, rows_in = read(source)
    out = tmp_path / "out.csv"
    api = shop.api()
    asked: list[str] = []
    real = api.get
    api.get = lambda path, params=None, *, account="": asked.append(path) or real(path, params, account=account)  # type: ignore[method-assign]
    result = enrich(source, out, engine=engine, api=lambda: api)
    _expectations(shop, check_faithful(source, out), indexed="stripe")
    assert (result.prefetched.invoice_pages, result.prefetched.invoices) == (1, 1)
    # as in the test above, less the renewal's invoice_payments lookup, plus the listing page
    unindexed, bare = 4, 1
    assert result.requests == math.ceil(len(rows_in) / 100) + 1 + 1 + (unindexed - 1) + bare
    assert asked.count("/v1/invoice_payments") == 1 + bare


def test_bad_input_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    not_report = tmp_path / "people.csv"
    not_report.write_text("name,email\nAnn,ann@example.com\n")
    out = tmp_path / "out.csv"
    with pytest.raises(BadInput, match="not an itemized balance report"):
        enrich(not_report, out, engine=engine)
    with pytest.raises(BadInput, match="no such file"):
        enrich(tmp_path / "missing.csv", out, engine=engine)
    broken = tmp_path / "broken.csv"
    shutil.copy(SAMPLE, broken)
    with broken.open("a") as f:
        f.write("txn_x,2026-07-01 00:00:00\n")
    with pytest.raises(BadInput, match="line 18: 2 fields"):
        enrich(broken, out, engine=engine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv", "people.csv"]


def test_a_file_that_is_not_utf8_is_one_line_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    """In the header or in a row (read for the prefetch, then for the output): the same one line."""
    out = tmp_path / "out.csv"
    cases = {
        "header.csv": (b"\xff\xfe\x00b\x00a\x00d\n", "is not UTF-8 text: not a CSV report"),
        "row.csv": (SAMPLE.read_bytes() + "Caf\u00e9,\n".encode("latin-1"), "is not UTF-8 text: not a CSV report"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BadInput, match=f"{name}.*{message}"):
            enrich(tmp_path / name, out, engine=engine)
    assert not out.exists()



def test_a_cell_too_large_for_a_csv_reader_is_one_line_naming_the_line(engine: Engine, tmp_path: Path) -> None:
    """Python's csv reader refuses a cell over its field limit (16 MiB here): no report has one,
    so it is a file that is not a report, told in one line with the line it is on."""
    source = tmp_path / "huge.csv"
    with source.open("wb") as f:
        f.write(SAMPLE.read_bytes())
        f.write(b'txn_huge,"' + b"x" * (16 * 1024 * 1024 + 1) + b'"\n')
    out = tmp_path / "out.csv"
    with pytest.raises(BadInput, match=r"huge\.csv, line 18: field larger than field limit") as raised:
        enrich(source, out, engine=engine)
    assert "\n" not in str(raised.value)
    assert not out.exists()

def test_crlf_bom_and_line_breaks_in_cells_are_kept(engine: Engine, sandbox: Any, tmp_path: Path) -> None:
    """A file saved by a spreadsheet: a byte-order mark, CRLF line ends, a description with a
    line break; rows that are not split come out byte for byte, with CRLF."""
    index_sample(engine)
    text = SAMPLE.read_text().replace('"Order #1042, ""Deluxe"" bundle"', '"Order #1042,\nline two"')
    source = tmp_path / "excel.csv"
    source.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    out = tmp_path / "out.csv"
    api = Shop(sandbox.store, sandbox).api()
    enrich(source, out, engine=engine, api=lambda: api)
    rows = check_faithful(source, out)
    assert "Order #1042,\r\nline two" in {r["description"] for r in rows}
    written = out.read_bytes()
    assert written.count(b"\r\n") == len(rows) + 1 + 3  # each row, the header, the cells' own breaks
    first = text.splitlines()[1]
    assert (first + ",prod_Course,Video Course,").encode() in written


def test_the_collectors_thresholds_are_raised_while_enriching_and_restored_after() -> None:
    import gc

    from indexer.reports import enrich as module

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    with module._fewer_collections():
        seen.append(gc.get_threshold())
        with module._fewer_collections():  # a second run at the same time
            seen.append(gc.get_threshold())
        seen.append(gc.get_threshold())
    assert seen == [(module.GC_THRESHOLD, *before[1:])] * 3
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), module._fewer_collections():
        raise RuntimeError("a run that fails")
    assert gc.get_threshold() == before


@pytest.mark.parametrize("columns", [
    ["balance_transaction_id", "description", "currency", "gross", "fee", "net", "reporting_category"],
    ["gross", "currency", "reporting_category", "description", "net"],  # amounts first and last
    ["description", "gross", "currency", "reporting_category"],
])
def test_split_rows_written_as_text_are_what_the_csv_module_writes(columns: list[str]) -> None:
    """``split_text`` encodes the cells around the amounts once per row: the same bytes as
    ``expand_row`` through ``csv.writer``, whatever the cells hold."""
    import io

    from indexer.reports.balance_csv import ReportHeader
    from indexer.reports.enrich import RowShape, expand_row, split_text
    from indexer.reports.parts import Part, Resolved

    shape = RowShape(ReportHeader.parse(columns, "test"))
    values = {"balance_transaction_id": "", "currency": "usd", "gross": "10.00", "fee": "0.59",
              "net": "9.41", "reporting_category": "charge"}
    parts = (Part("prod_a", '=A "1", x', "price_a", 1, 700, "", "a@example.com", "Ann\nB", "cs_1"),
             Part("prod_b", "B", "", 2, 300, "cus_1", "", "", ""))
    resolved = Resolved.of("index", parts)
    for description in ("", "plain", 'Order 7, "gift"', "two\r\nlines", " "):
        row = [values.get(c, description) for c in columns]
        for newline in ("\n", "\r\n"):
            expected = io.StringIO()
            csv.writer(expected, lineterminator=newline).writerows(expand_row(shape, row, resolved, "test"))
            assert split_text(shape, row, resolved, "test", newline) == expected.getvalue()
    # a payment of one part: its cells after the input's own text, a line break kept in its cell
    one = Resolved.of("index", parts[:1])
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerow(["x", *one.cells])
    assert "x" + one.text + "\n" == written.getvalue()
    assert '"Ann\nB"' in one.text
