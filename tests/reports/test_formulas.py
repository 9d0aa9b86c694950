"""CSV formula injection: product and buyer names are typed by people (a product named
``=HYPERLINK(...)``, a buyer named ``+1 555``). The enriched CSV and the summary CSV write such
a value with a leading ``'``, so a spreadsheet shows it as text; the PDF shows it as typed."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import Engine

from indexer import db
from indexer.index import mapping, writes
from indexer.reports.balance_csv import FORMULA_STARTS, safe_cell, unsafe_cell
from indexer.reports.enrich import enrich
from indexer.reports.monthly import monthly
from indexer.reports.period import Month

START = 1782864000  # 2026-07-01 UTC
NAMES = {"prod_eq": "=HYPERLINK(\"http://x.example\",\"hi\")", "prod_plus": "+1 Pass",
         "prod_minus": "-2 Bundle", "prod_at": "@SUM(A1)", "prod_ok": "Plain Course"}
BUYER = "=cmd|' /C calc'!A0"


@given(st.text(max_size=20))
def test_a_safe_cell_never_starts_a_formula_and_undoes_exactly(text: str) -> None:
    safe = safe_cell(text)
    assert not safe or safe[0] not in FORMULA_STARTS
    assert unsafe_cell(safe) == text
    assert safe == text or safe == "'" + text


def index_sales(engine: Engine) -> None:
    """One payment per product, and one that bought two of them (a split row)."""
    sales = [("pi_eq", ["prod_eq"]), ("pi_plus", ["prod_plus"]), ("pi_minus", ["prod_minus"]),
             ("pi_at", ["prod_at"]), ("pi_two", ["prod_ok", "prod_eq"])]
    sources = []
    for n, (pi, products) in enumerate(sales):
        session = {"object": "checkout.session", "id": f"cs_test_{pi}", "livemode": False,
                   "status": "complete", "payment_status": "paid", "payment_intent": pi,
                   "created": START + n * 60, "customer": None,
                   "customer_details": {"email": f"-{pi}@example.com", "name": BUYER}}
        items = [{"object": "item", "id": f"li_{pi}_{k}", "quantity": 1, "amount_subtotal": 1000,
                  "amount_total": 1000, "currency": "usd", "description": NAMES[product],
                  "price": {"id": f"price_{product}", "product": product}}
                 for k, product in enumerate(products)]
        sources.append(mapping.session_purchase(session, items))
    with db.transaction(engine) as conn:
        writes.write_sources(conn, sources)
        writes.write_products(conn, [mapping.ProductRow(pid, "", False, name, True, START)
                                     for pid, name in NAMES.items()])


def write_report(path: Path) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["balance_transaction_id", "created_utc", "currency", "gross", "fee", "net",
                      "reporting_category", "description", "payment_intent_id"])
        for n, pi in enumerate(["pi_eq", "pi_plus", "pi_minus", "pi_at"]):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + n * 60))
            out.writerow([f"txn_{pi}", when, "usd", "10.00", "0.59", "9.41", "charge", "=1+1", pi])
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + 300))
        out.writerow(["txn_two", when, "usd", "20.00", "0.88", "19.12", "charge", "", "pi_two"])


def test_names_that_look_like_formulas_are_text_in_every_csv(engine: Engine, tmp_path: Path) -> None:
    index_sales(engine)
    source, enriched = tmp_path / "july.csv", tmp_path / "enriched.csv"
    write_report(source)
    done = enrich(source, enriched, engine=engine)
    assert done.requests == 0 and done.rows_out == 6
    with enriched.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        assert row["product_name"] == "'" + NAMES[row["product_id"]] or row["product_id"] == "prod_ok"
        assert row["buyer_name"] == "'" + BUYER and row["buyer_email"].startswith("'-pi_")
        for name in ("product_name", "buyer_name", "buyer_email"):
            assert row[name][0] not in FORMULA_STARTS, row
    assert {r["description"] for r in rows} == {"=1+1", ""}, "the report's own cells are Stripe's, kept as they are"
    assert [r["product_name"] for r in rows if r["split"]] == ["Plain Course", "'" + NAMES["prod_eq"]]

    for csv_path in (enriched, source, None):  # enriched, raw (enriched on the way), the index alone
        out = tmp_path / f"pdfs-{csv_path.name if csv_path else 'index'}"
        result = monthly(Month.parse("2026-07"), out, engine=engine, csv_path=csv_path, livemode=False)
        with result.summary.open(newline="") as f:  # type: ignore[union-attr]
            lines = list(csv.DictReader(f))
        named = {line["product_id"]: line["product_name"] for line in lines if line["product_id"]}
        assert named == {pid: safe_cell(name) for pid, name in NAMES.items()}, csv_path
        text = "\n".join(page.extract_text() for page in PdfReader(str(out / "prod_plus-2026-07.pdf")).pages)
        assert "+1 Pass" in text and "'+1 Pass" not in text
