"""``indexer report monthly``: a PDF per product whose totals, read back from the PDF's text,
equal the summary's and the enriched CSV's; the index-alone fallback says it has no fees."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from indexer.errors import BadInput
from indexer.reports.enrich import enrich
from indexer.reports.monthly import monthly
from indexer.reports.period import Month
from tests.reports.conftest import Shop, report_csv

JULY = Month.parse("2026-07")


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def pdf_totals(path: Path) -> dict[str, tuple[int, Decimal, Decimal | None, Decimal | None]]:
    """The "Totals" table of a statement, read from the PDF's text: each currency code, then
    its numbers (transactions, gross, and fee and net when known)."""
    tokens = pdf_text(path).rsplit("Totals", 1)[1].split()
    found: dict[str, tuple[int, Decimal, Decimal | None, Decimal | None]] = {}
    current: list[str] = []

    def close() -> None:
        if len(current) >= 3:
            nums = [Decimal(c.replace(",", "")) for c in current[1:]]
            fee, net = (nums[2], nums[3]) if len(nums) == 4 else (None, None)
            found[current[0].lower()] = (int(nums[0]), nums[1], fee, net)
        current.clear()

    for token in tokens:
        if current and re.fullmatch(r"-?[\d,]+(\.\d+)?", token):
            current.append(token)
            continue
        close()
        if re.fullmatch(r"[A-Z]{3}", token):
            current.append(token)
    close()
    return found


def summary(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_pdfs_from_a_report_match_the_enriched_csv(engine: Engine, shop: Shop, tmp_path: Path) -> None:
    source = report_csv(shop, "balance_change_from_activity.itemized.7", None, path=tmp_path / "july.csv")
    api = shop.api()
    enriched = tmp_path / "enriched.csv"
    enrich(source, enriched, engine=engine, api=lambda: api)
    out = tmp_path / "pdfs"
    done = monthly(JULY, out, engine=engine, csv_path=enriched, livemode=False)
    ids = shop.ids
    names = {p.name for p in out.iterdir()}
    assert names == {f"{ids[k]}-2026-07.pdf" for k in ("course", "workshop", "tokyo", "plan")} | {
        "summary-2026-07.csv"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    expected: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    with enriched.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        key = (row["product_id"], row["currency"])
        entry = expected[key]
        entry[0] += 1
        for i, name in enumerate(("gross", "fee", "net"), start=1):
            entry[i] += Decimal(row[name])
    lines = summary(done.summary)  # type: ignore[arg-type]
    assert sum(int(x["transactions"]) for x in lines) == len(rows)
    found: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for line in lines:
        entry = found[(line["product_id"], line["currency"])]
        for i, name in enumerate(("transactions", "gross", "fee", "net")):
            entry[i] += Decimal(line[name])
    assert found == expected
    assert {x["product_name"] for x in lines if not x["product_id"]} == {
        "(payments that bought no indexed product)", "(no payment: Stripe fees, payouts, adjustments)"}
    for line in lines:
        want = expected[(line["product_id"], line["currency"])]
        if line["product_id"]:
            totals = pdf_totals(out / f"{line['product_id']}-2026-07.pdf")
            assert totals[line["currency"]] == tuple(want[:1]) + tuple(want[1:]), line
    course = pdf_text(out / f"{ids['course']}-2026-07.pdf")
    assert "Video Course" in course and ids["course"] in course and "July 2026" in course
    assert "test mode" in course and "Dispute" in course and "Refund" not in course.split("Totals")[1]
    assert "Page 1 of" in course
    tokyo = pdf_totals(out / f"{ids['tokyo']}-2026-07.pdf")
    assert tokyo["jpy"][1] == Decimal(3000)


def test_a_raw_report_is_enriched_on_the_way(engine: Engine, shop: Shop, tmp_path: Path) -> None:
    source = report_csv(shop, "balance_change_from_activity.itemized.3", None, path=tmp_path / "july.csv")
    api = shop.api()
    done = monthly(JULY, tmp_path / "pdfs", engine=engine, csv_path=source, livemode=False,
                   api=lambda: api)
    assert done.enrich is not None and done.enrich.rows_out == done.rows and done.enrich.rows_in == 14
    assert len(done.pdfs) == 4


def test_many_rows_flow_over_pages_with_repeated_headers(engine: Engine, tmp_path: Path) -> None:
    head = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,description,"
    head += "product_id,product_name,price_id,quantity,buyer_customer_id,buyer_email,buyer_name,"
    head += "checkout_session_id,split,match\n"
    lines = [head]
    for i in range(120):
        lines.append(f"txn_{i},2026-07-{1 + i % 28:02d} 10:00:00,eur,10.00,0.45,9.55,charge,"
                     f"\"Seat {i}, row \"\"B\"\"\",prod_A,Seats,price_1,1,,b{i}@example.com,Buyer {i},,,index\n")
    enriched = tmp_path / "e.csv"
    enriched.write_text("".join(lines))
    done = monthly(JULY, tmp_path / "out", engine=engine, csv_path=enriched, livemode=True)
    reader = PdfReader(str(done.pdfs[0]))
    assert len(reader.pages) >= 3
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert "Date" in text and "Gross" in text and f"Page {number} of {len(reader.pages)}" in text
    assert pdf_totals(done.pdfs[0])["eur"] == (120, Decimal("1200.00"), Decimal("54.00"), Decimal("1146.00"))


def test_without_a_report_the_index_alone_gross_only(engine: Engine, shop: Shop, tmp_path: Path) -> None:
    done = monthly(JULY, tmp_path / "out", engine=engine, livemode=False)
    assert done.source == "the index alone"
    text = pdf_text(tmp_path / "out" / f"{shop.ids['plan']}-2026-07.pdf")
    assert "index alone" in text and "fees" in text
    lines = {(x["product_id"], x["currency"]): x for x in summary(done.summary)}  # type: ignore[arg-type]
    plan = lines[(shop.ids["plan"], "usd")]
    # the subscription's 29.00, less its share of the 10.00 refund (29/49 of it)
    assert (plan["transactions"], plan["gross"], plan["fee"], plan["net"]) == ("2", "23.08", "", "")
    assert pdf_totals(tmp_path / "out" / f"{shop.ids['plan']}-2026-07.pdf")["usd"] == (
        2, Decimal("23.08"), None, None)


def test_bad_csv_leaves_no_file(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    out = tmp_path / "out"
    with pytest.raises(BadInput):
        monthly(JULY, out, engine=engine, csv_path=bad, livemode=False)
    assert list(out.iterdir()) == []
