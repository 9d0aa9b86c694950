"""``indexer report ...`` as a user runs it: one line on stderr and a non-zero exit for bad
input, nothing half-written; the enriched file and the PDFs when all is well."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from indexer.cli import main
from tests.conftest import engine_url
from tests.reports.conftest import KEY, Shop, report_csv


@pytest.fixture
def env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, code, message", [
    (["monthly", "--month", "2026-13", "-o", "{tmp}/out"], 2, "--month must be a month as YYYY-MM"),
    (["fetch", "--month", "July"], 2, "--month must be a month as YYYY-MM"),
    (["monthly", "--month", "2026-07", "--timezone", "Mars/Olympus", "-o", "{tmp}/out"], 2, "unknown timezone"),
    (["enrich", "{tmp}/missing.csv", "-o", "{tmp}/out.csv"], 2, "no such file"),
    (["enrich", "{tmp}/people.csv", "-o", "{tmp}/out.csv"], 2, "is not an itemized balance report"),
    (["enrich", "--month", "2026-07"], 2, "no report of 2026-07 is kept"),
    (["enrich"], 2, "give a report CSV, or --month"),
    (["fetch", "--month", "2026-07"], 2, "STRIPE_API_KEY is not set"),
    (["monthly", "--month", "2026-07", "--csv", "{tmp}/people.csv", "-o", "{tmp}/out"], 2,
     "is not an itemized balance report"),
])
def test_bad_input_is_one_line_and_writes_nothing(
    env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], code: int, message: str,
) -> None:
    (tmp_path / "people.csv").write_text("name,email\nAnn,ann@example.com\n")
    got, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert got == code, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("indexer report") or err.startswith("Usage:") or "Error" in err
    leftovers = {p.name for p in tmp_path.rglob("*")} - {"people.csv", "out", "index.db",
                                                          "index.db-wal", "index.db-shm"}
    assert leftovers == set()
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize("args", [
    ["enrich", "{tmp}/july.csv", "-o", "{tmp}/out.csv"],
    ["enrich", "--month", "2026-07"],
    ["fetch", "--month", "2026-07"],
    ["monthly", "--month", "2026-07", "-o", "{tmp}/out"],
    ["monthly", "--month", "2026-07", "--csv", "{tmp}/july.csv", "-o", "{tmp}/out"],
])
def test_an_unmigrated_database_is_one_line_naming_migrate(
    database_url_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path, args: list[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", engine_url(database_url_engine))
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    (tmp_path / "july.csv").write_text("balance_transaction_id,currency,gross,reporting_category\n"
                                       "txn_1,usd,10.00,charge\n")
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and not out
    assert err.startswith(f"indexer report {args[0]}: ") and "run `indexer migrate`" in err
    assert {p.name for p in tmp_path.iterdir()} <= {"july.csv", "index.db"}


def test_enrich_then_monthly(env: None, engine: Engine, shop: Shop, capsys: pytest.CaptureFixture[str],
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", shop.url)
    source = report_csv(shop, "balance_change_from_activity.itemized.3", None, path=tmp_path / "july.csv")
    code, out, err = run(capsys, "enrich", str(source), "-o", str(tmp_path / "enriched.csv"))
    assert code == 0, err
    assert err.startswith("indexer report enrich: 14 rows in, 21 rows out:") and "unmatched" in err
    code, out, err = run(capsys, "enrich", str(source))
    written = (tmp_path / "enriched.csv").read_text().splitlines()
    assert code == 0 and [line.rsplit(",", 1)[0] for line in out.splitlines()] == [
        line.rsplit(",", 1)[0] for line in written]  # to stdout; now from the index (last column)
    code, out, err = run(capsys, "monthly", "--month", "2026-07", "--csv", str(tmp_path / "enriched.csv"),
                         "-o", str(tmp_path / "pdfs"))
    assert code == 0, err
    assert "4 product PDFs and summary-2026-07.csv" in out
    assert len(list((tmp_path / "pdfs").glob("prod_*-2026-07.pdf"))) == 4
    code, out, err = run(capsys, "fetch", "--month", "2026-07", "-o", str(tmp_path / "fetched.csv"))
    assert code == 0, err
    assert "kept" in out and (tmp_path / "fetched.csv").read_text().startswith("balance_transaction_id,")
