"""``indexer customers`` and ``indexer products`` on both databases; ``--live`` against the sandbox."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from indexer.cli import main
from indexer.commands.answers import major_units
from indexer.commands.params import parse_time
from indexer.index.mapping import guest_key
from tests.conftest import T0, Shop, engine_url, many_buyers

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400


@pytest.fixture
def shop(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    return Shop(engine)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_customers_as_rfc4180_csv_in_a_pipe(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.checkout(("prod_A", 1500, 2), email="Jenny@Example.com", name='Rosen, Jenny "J"', created=T0)
    shop.checkout(("prod_A", 900), customer="cus_1", email="ann@example.com", name="Ann", currency="eur", created=T0 + 5)
    shop.checkout(("prod_A", 100), customer="cus_1", email="ann@example.com", name="Ann", currency="usd", created=T0 + 9)

    code, out, err = run(capsys, "customers", "prod_A")

    assert (code, err) == (0, "")
    assert out.startswith("id,customer,email,name,currency,purchases,quantity,amount_total,amount_refunded,"
                          "first_purchased_at,last_purchased_at\r\n")
    assert '"Rosen, Jenny ""J"""' in out
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["id"], r["currency"], r["amount_total"]) for r in rows] == [
        ("cus_1", "eur", "900"), ("cus_1", "usd", "100"), (guest_key("jenny@example.com"), "usd", "1500"),
    ]
    jenny = rows[2]
    assert (jenny["customer"], jenny["email"], jenny["name"], jenny["quantity"]) == ("", "Jenny@Example.com", 'Rosen, Jenny "J"', "2")
    assert jenny["first_purchased_at"] == str(T0)


def test_customers_as_json_and_as_a_table(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.checkout(("prod_A", 150000), customer="cus_1", email="ann@example.com", name="Ann", created=T0)
    shop.checkout(("prod_A", 500), email="yen@example.com", name="Yen", currency="jpy", created=T0 + 60)

    code, out, _ = run(capsys, "customers", "prod_A", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [(d["id"], d["amount_total"], d["currency"]) for d in data] == [
        ("cus_1", 150000, "usd"), (guest_key("yen@example.com"), 500, "jpy")
    ]

    code, out, _ = run(capsys, "customers", "prod_A", "--format", "table")
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split()[:4] == ["id", "customer", "email", "name"]
    assert "1,500.00 usd" in first and "2025-11-24 16:00" in first
    assert "500 jpy" in second


def test_dates_and_refunds_filter_the_customers(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.checkout(("prod_A", 100), customer="cus_old", created=T0 - 3 * DAY)
    shop.checkout(("prod_A", 100), customer="cus_new", created=T0)
    refunded = shop.checkout(("prod_A", 100), customer="cus_gone", created=T0)
    shop.refund(refunded, 100)
    day = "2025-11-24"  # the UTC day of T0

    def ids(*extra: str) -> list[str]:
        code, out, err = run(capsys, "customers", "prod_A", "--format", "json", *extra)
        assert code == 0, err
        return [d["id"] for d in json.loads(out)]

    assert parse_time(day) <= T0 < parse_time(day, end_of_day=True)
    assert ids() == ["cus_new", "cus_old"]
    assert ids("--since", day) == ["cus_new"]
    assert ids("--until", "2025-11-21") == ["cus_old"]
    assert ids("--since", day, "--until", day, "--include-refunded") == ["cus_gone", "cus_new"]
    assert ids("--since", str(T0 + 1)) == []


def test_bad_dates_and_unknown_products_are_one_line_errors(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.checkout(("prod_A", 100))
    code, out, err = run(capsys, "customers", "prod_A", "--since", "2025-02-30")
    assert (code, out) == (2, "")
    assert err == "indexer customers: --since: expected a date YYYY-MM-DD or Unix seconds, got '2025-02-30'\n"
    code, _, err = run(capsys, "customers", "prod_A", "--since", "2025-03-02", "--until", "2025-03-01")
    assert code == 2 and len(err.splitlines()) == 1
    code, out, err = run(capsys, "customers", "prod_nope")
    assert (code, out, err) == (3, "", "indexer customers: No such product: 'prod_nope'\n")
    with pytest.raises(ValueError):
        parse_time("yesterday", end_of_day=True)


def test_products_with_customers_and_revenue_per_currency(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.product("prod_A", "Course, the video")
    shop.checkout(("prod_A", 1000), ("prod_B", 300), customer="cus_1")
    shop.checkout(("prod_A", 2000), email="g@example.com")
    shop.checkout(("prod_A", 700), email="g@example.com", currency="eur")

    code, out, _ = run(capsys, "products")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["product_id"], r["name"], r["currency"], r["customers"], r["amount_total"], r["livemode"]) for r in rows] == [
        ("prod_A", "Course, the video", "eur", "1", "700", "false"),
        ("prod_A", "Course, the video", "usd", "2", "3000", "false"),
        ("prod_B", "", "usd", "1", "300", "false"),
    ]
    code, out, _ = run(capsys, "products", "--format", "table")
    assert code == 0 and "30.00 usd" in out and "test" in out


def test_products_of_one_account_and_mode(shop: Shop, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --account, --livemode or --testmode: every account and mode. With any of them: one
    account in one mode, the same bytes as ``/v1/products.csv`` with the same parameters."""
    from indexer import create_app
    from indexer.config import Settings

    shop.product("prod_A", "Course")
    shop.checkout(("prod_A", 1000), customer="cus_1")
    shop.checkout(("prod_A", 2000), customer="cus_2", livemode=True)
    shop.checkout(("prod_B", 300), customer="cus_3", livemode=True, account="acct_1")
    shop.checkout(("prod_C", 400), customer="cus_4", account="acct_1")

    def listed(*argv: str) -> list[tuple[str, str, str, str]]:
        code, out, err = run(capsys, "products", "--format", "csv", *argv)
        assert (code, err) == (0, ""), argv
        return [(r["product_id"], r["account"], r["livemode"], r["amount_total"])
                for r in csv.DictReader(io.StringIO(out, newline=""))]

    assert listed() == [("prod_A", "", "false", "1000"), ("prod_A", "", "true", "2000"),
                        ("prod_B", "acct_1", "true", "300"), ("prod_C", "acct_1", "false", "400")]
    assert listed("--livemode") == [("prod_A", "", "true", "2000")]
    assert listed("--testmode") == [("prod_A", "", "false", "1000")]
    assert listed("--account", "acct_1") == [("prod_B", "acct_1", "true", "300")]
    assert listed("--account", "acct_1", "--testmode") == [("prod_C", "acct_1", "false", "400")]
    assert listed("--account", "acct_2") == []

    app = create_app(Settings(database_url=engine_url(engine), api_tokens=("tok",)))
    client = app.test_client()
    for argv, query in ((["--livemode"], "livemode=true"), (["--account", "acct_1"], "account=acct_1"),
                        (["--account", "acct_1", "--testmode", "--include-refunded"],
                         "account=acct_1&livemode=false&include_refunded=true")):
        code, out, _ = run(capsys, "products", "--format", "csv", *argv)
        response = client.get(f"/v1/products.csv?{query}", headers={"Authorization": "Bearer tok"})
        assert (code, response.status_code, response.get_data(as_text=True)) == (0, 200, out), argv
    app.extensions["indexer.engine"].dispose()

    code, out, _ = run(capsys, "products", "--account", "acct_1", "--format", "table")
    assert code == 0 and "3.00 usd" in out and "live" in out and "prod_C" not in out
    code, _, err = run(capsys, "products", "--account", "cus_1")
    assert code == 2 and err.startswith("indexer products: --account: expected a Connect account id")


def test_an_empty_index_lists_no_products(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "products", "--format", "json") == (0, "[]\n", "")
    assert run(capsys, "products", "--format", "table") == (0, "(none)\n", "")


def test_streams_many_customers_through_a_pipe(engine: Engine, shop: Shop) -> None:
    """A real process writing into a pipe that closes early (``| head``): no traceback, exit 0."""
    expected = many_buyers(shop, "prod_A", 520)  # just over one page of 500
    env = {**os.environ, "DATABASE_URL": engine_url(engine)}
    full = subprocess.run([sys.executable, "-m", "indexer.cli", "customers", "prod_A"], env=env,
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert [row["id"] for row in csv.DictReader(io.StringIO(full.stdout, newline=""))] == expected
    head = subprocess.run(f"{sys.executable} -m indexer.cli customers prod_A | head -n 3", shell=True, env=env,
                          capture_output=True, text=True, cwd=ROOT)
    assert (head.returncode, len(head.stdout.splitlines()), head.stderr) == (0, 3, "")


def test_a_database_without_the_index_says_to_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out, err = run(capsys, "customers", "prod_A")
    assert (code, out) == (2, "")
    assert err == "indexer customers: the database holds no index yet: run `indexer migrate` first\n"


def test_major_units_follow_the_currency() -> None:
    assert major_units(123456, "usd") == "1,234.56 usd"
    assert major_units(-5, "eur") == "-0.05 eur"
    assert major_units(1500, "JPY") == "1,500 jpy"
    assert major_units(1234, "kwd") == "1.234 kwd"
    assert major_units(None, "usd") == ""


def test_live_reads_stripe_not_the_index(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("indexer.answers.live")
    from stripe_sandbox import billing as b

    ctx = b.Ctx(sandbox.store, (False, None), now=T0)
    course = b.create_product(ctx, "Course")
    price = b.create_price(ctx, course, "usd", 4900)
    for email in ("Buyer@Example.com", "buyer@example.com", "other@example.com"):
        session = b.create_session(ctx, "payment", [(price.id, 1, "Course")])
        b.complete_session(ctx, session, email=email, name=email.split("@")[0])
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_cli")
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-created.db'}")

    code, out, err = run(capsys, "customers", course.id, "--live", "--format", "json")

    assert code == 0, err
    entries = {d["id"]: d for d in json.loads(out)}
    assert set(entries) == {guest_key("buyer@example.com"), guest_key("other@example.com")}
    assert (entries[guest_key("buyer@example.com")]["purchases"], entries[guest_key("buyer@example.com")]["amount_total"]) == (2, 9800)
    assert not (tmp_path / "never-created.db").exists()
    code, _, err = run(capsys, "customers", course.id, "--live", "--since", "2025-01-01")
    assert code == 2 and "--live" in err


def test_customer_lists_what_a_buyer_bought_by_id_or_email(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.product("prod_A", "@Course")
    shop.checkout(("prod_A", 1000), ("prod_B", 300), customer="cus_1", email="Ann@Example.com", created=T0)
    shop.checkout(("prod_A", 700), email="ann@example.com", currency="eur", created=T0 + DAY)  # a guest, too
    shop.checkout(("prod_C", 50), email="other@example.com", created=T0)

    code, out, err = run(capsys, "customer", "ANN@example.com")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["product_id"], r["product_name"], r["currency"], r["amount_total"]) for r in rows] == [
        ("prod_A", "'@Course", "eur", "700"), ("prod_A", "'@Course", "usd", "1000"), ("prod_B", "", "usd", "300")]
    code, out, _ = run(capsys, "customer", "cus_1", "--format", "json")
    assert [(d["product_id"], d["amount_total"]) for d in json.loads(out)] == [("prod_A", 1000), ("prod_B", 300)]
    code, out, _ = run(capsys, "customer", "ann@example.com", "--since", "2025-11-25", "--format", "table")
    assert code == 0 and "7.00 eur" in out and "prod_B" not in out
    assert run(capsys, "customer", "nobody@example.com") == (3, "", "indexer customer: No such customer: 'nobody@example.com'\n")


def test_the_cli_and_the_api_write_the_same_csv(shop: Shop, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """``indexer products|customers|customer --format csv`` and the API's ``.csv`` paths: the same bytes."""
    from indexer import create_app
    from indexer.config import Settings

    shop.product("prod_A", "=cmd|' /C calc'!A0")
    shop.checkout(("prod_A", 1000, 2), ("prod_B", 300), customer="cus_1", name="-Ann", created=T0)
    shop.checkout(("prod_A", 700), customer="cus_1", name="-Ann", currency="eur", created=T0 + 5)
    shop.checkout(("prod_A", 900), email="+g@example.com", name="\tG", created=T0 + 6)
    app = create_app(Settings(database_url=engine_url(engine), api_tokens=("tok",)))
    client = app.test_client()
    pairs = [(["products"], "/v1/products.csv"), (["customers", "prod_A"], "/v1/products/prod_A/customers.csv"),
             (["customer", "cus_1"], "/v1/customers/cus_1/products.csv")]
    printed = {}
    for argv, path in pairs:
        code, out, err = run(capsys, *argv, "--format", "csv")
        assert (code, err) == (0, "")
        response = client.get(path, headers={"Authorization": "Bearer tok"})
        assert response.status_code == 200
        assert response.get_data(as_text=True) == out, argv
        printed[argv[0]] = out
    assert "prod_A,'=cmd|' /C calc'!A0,," in printed["products"]
    assert ",'-Ann," in printed["customers"] and ",'+g@example.com,'\tG," in printed["customers"]
    app.extensions["indexer.engine"].dispose()
