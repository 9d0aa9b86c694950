"""The dashboard's reports page through Flask's test client, on SQLite and PostgreSQL: a month's
kept report run (from the sandbox) is listed with its enriched CSV, its summary and one PDF per
product, each made on demand from the kept report and the index, behind the sign-in."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer.reports import kept
from indexer.reports.enrich import enrich
from indexer.reports.report_runs import columns_for
from tests.reports import conftest as report_fixtures
from tests.reports.conftest import JULY, Shop, _at, report_csv
from tests.reports.test_monthly import pdf_text, pdf_totals

shop = report_fixtures.shop  # the sandbox's July, mostly indexed (tests/reports/conftest.py)
REPORT_TYPE = "balance_change_from_activity.itemized.3"
LIST = "/dashboard/reports"


def keep_july(engine: Engine, shop: Shop, tmp_path: Path, *, account: str = "",
              livemode: bool = False) -> Path:
    """July's report as the sandbox makes it with the columns ``report fetch`` asks for, kept
    as ``report fetch`` keeps a run's file."""
    columns = columns_for(shop.api().retrieve(f"/v1/reporting/report_types/{REPORT_TYPE}"))
    source = report_csv(shop, REPORT_TYPE, list(columns),
                        path=tmp_path / f"july-{account or 'own'}-{livemode}.csv")
    request = kept.RunRequest(account, livemode, REPORT_TYPE, JULY, _at(31), "Etc/UTC", columns, "2026-07")
    run_id = f"frr_{account or 'own'}_{int(livemode)}"
    kept.record(engine, request, {"id": run_id, "status": "succeeded", "created": _at(32)})
    with source.open("rb") as f:
        kept.keep_file(engine, run_id, f)
    return source


def links(page: str) -> dict[str, str]:
    """Each download link's text -> its address."""
    return {text.strip(): href.replace("&amp;", "&") for href, text in
            re.findall(r'<a href="(/dashboard/reports/[^"]+)"[^>]*>([^<]+)</a>', page)}


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_no_kept_run_says_how_to_get_one(signed_in: FlaskClient) -> None:
    page = signed_in.get(LIST)
    assert page.status_code == 200
    assert "No report run is kept yet" in page.text and "indexer report fetch" in page.text


def test_a_kept_month_lists_and_serves_its_files(
        engine: Engine, shop: Shop, signed_in: FlaskClient, app: Flask, tmp_path: Path) -> None:
    source = keep_july(engine, shop, tmp_path)
    ids = shop.ids
    page = signed_in.get(LIST)
    assert page.status_code == 200
    found = links(page.text)
    names = {k: v.split("?")[0].rsplit("/", 1)[1] for k, v in found.items()}
    assert names == {
        "Balance report with products": "enriched-2026-07.csv",
        "Summary per product": "summary-2026-07.csv",
        "Video Course": f"{ids['course']}-2026-07.pdf",
        "Workshop Ticket": f"{ids['workshop']}-2026-07.pdf",
        "Tokyo Pass": f"{ids['tokyo']}-2026-07.pdf",
        "Pro Plan": f"{ids['plan']}-2026-07.pdf"}
    assert all("mode=test" in href for href in found.values())
    assert "sk_test" not in page.text and "frr_" not in "".join(found.values())

    # The enriched CSV: every row of the kept report; what the index holds matches what
    # `indexer report enrich` (with Stripe) says, and what only Stripe knows is unmatched.
    enriched = signed_in.get(found["Balance report with products"])
    assert enriched.status_code == 200 and enriched.is_streamed
    assert enriched.headers["Content-Disposition"] == 'attachment; filename="enriched-2026-07.csv"'
    served = rows_of(enriched.data)
    api = shop.api()
    cli = tmp_path / "cli.csv"
    enrich(source, cli, engine=engine, api=lambda: api)
    by_cli = rows_of(cli.read_bytes())
    assert {r["match"] for r in by_cli} >= {"index", "stripe"}
    assert [r["balance_transaction_id"] for r in served if r["match"] != "unmatched"] == [
        r["balance_transaction_id"] for r in by_cli if r["match"] in ("index", "no_payment")]
    assert [r for r in served if r["match"] in ("index", "no_payment")] == [
        r for r in by_cli if r["match"] in ("index", "no_payment")]
    late = {r["balance_transaction_id"] for r in by_cli if r["match"] == "stripe"}
    assert late and late <= {r["balance_transaction_id"] for r in served if r["match"] == "unmatched"}

    # The summary adds up the enriched CSV; each PDF's totals are the summary's.
    expected: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for row in served:
        entry = expected[(row["product_id"], row["currency"])]
        entry[0] += 1
        for i, name in enumerate(("gross", "fee", "net"), start=1):
            entry[i] += Decimal(row[name])
    summary = rows_of(signed_in.get(found["Summary per product"]).data)
    got: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for line in summary:
        entry = got[(line["product_id"], line["currency"])]
        for i, name in enumerate(("transactions", "gross", "fee", "net")):
            entry[i] += Decimal(line[name])
    assert got == expected
    course = signed_in.get(found["Video Course"])
    assert course.status_code == 200 and course.mimetype == "application/pdf"
    assert course.data.startswith(b"%PDF")
    pdf = tmp_path / "course.pdf"
    pdf.write_bytes(course.data)
    text = pdf_text(pdf)
    assert "Video Course" in text and "July 2026" in text and "test mode" in text
    want = expected[(ids["course"], "usd")]
    assert pdf_totals(pdf)["usd"] == (int(want[0]), want[1], want[2], want[3])

    # Only the names listed for that month, account and mode; nothing without the sign-in.
    month = "/dashboard/reports/2026-07/"
    for path in (month + "secret.txt", month + "..%2Fsummary-2026-07.csv", month + "prod_nope-2026-07.pdf",
                 "/dashboard/reports/2026-06/summary-2026-06.csv", month + "summary-2026-07.csv?mode=live",
                 month + "summary-2026-07.csv?account=acct_other"):
        assert signed_in.get(path).status_code == 404, path
    anonymous = app.test_client()
    for path in (LIST, found["Video Course"], found["Balance report with products"]):
        response = anonymous.get(path)
        assert response.status_code in (302, 401) and b"%PDF" not in response.data, path


def test_a_kept_file_that_is_no_report_is_said_on_its_month(
        engine: Engine, signed_in: FlaskClient) -> None:
    request = kept.RunRequest("", False, REPORT_TYPE, JULY, _at(31), "Etc/UTC", (), "2026-07")
    kept.record(engine, request, {"id": "frr_bad", "status": "succeeded"})
    kept.keep_file(engine, "frr_bad", io.BytesIO(b"hello,world\n1,2\n"))
    page = signed_in.get(LIST)
    assert page.status_code == 200
    assert "July 2026" in page.text and "cannot be read" in page.text and "not an itemized balance report" in page.text
    assert signed_in.get("/dashboard/reports/2026-07/summary-2026-07.csv").status_code == 404
