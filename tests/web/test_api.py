"""The query API over HTTP semantics (Flask's client): Stripe's list shape, cursors, errors, tokens."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer import create_app
from indexer.answers import export, queries
from indexer.config import Settings
from indexer.index.mapping import guest_key
from indexer.web import api
from indexer.web.api import token_matches
from indexer.web.openapi import document
from tests.conftest import README, T0, Shop, engine_url, many_buyers

TOKEN = "tok_" + "x" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def app_client(engine: Engine, tokens: tuple[str, ...] = ("other-token", TOKEN)) -> Any:
    return create_app(Settings(database_url=engine_url(engine), api_tokens=tokens))


@pytest.fixture
def client(engine: Engine) -> Iterator[FlaskClient]:
    app = app_client(engine)
    yield app.test_client()
    app.extensions["indexer.engine"].dispose()


def get(client: FlaskClient, path: str, **params: Any) -> Any:
    response = client.get(path, query_string=params, headers=AUTH)
    assert response.mimetype == "application/json"
    return response


def test_customers_of_a_product_in_stripe_list_shape(client: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 1500, 2), email="Jenny@Example.com", name="Jenny Rosen", created=T0)
    shop.checkout(("prod_A", 900), customer="cus_1", email="ann@example.com", currency="eur", created=T0 + 5)

    response = get(client, "/v1/products/prod_A/customers")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["object"], body["url"], body["has_more"]) == ("list", "/v1/products/prod_A/customers", False)
    entries = {e["id"]: e for e in body["data"]}
    jenny = entries[guest_key("jenny@example.com")]
    assert {k: jenny[k] for k in ("customer", "email", "name", "purchases", "quantity", "amount_total", "currency",
                                  "first_purchased_at", "last_purchased_at")} == {
        "customer": None, "email": "Jenny@Example.com", "name": "Jenny Rosen", "purchases": 1, "quantity": 2,
        "amount_total": 1500, "currency": "usd", "first_purchased_at": T0, "last_purchased_at": T0,
    }
    assert (entries["cus_1"]["customer"], entries["cus_1"]["currency"]) == ("cus_1", "eur")


def test_paging_over_http_gives_each_customer_once_both_ways(client: FlaskClient, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 14)
    forward: list[str] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        body = get(client, "/v1/products/prod_A/customers", **params).get_json()
        forward += [e["id"] for e in body["data"]]
        if not body["has_more"]:
            break
        params = {"limit": 4, "starting_after": forward[-1]}
    assert forward == expected

    backward = [expected[-1]]
    params = {"limit": 5, "ending_before": expected[-1]}
    while True:
        body = get(client, "/v1/products/prod_A/customers", **params).get_json()
        backward = [e["id"] for e in body["data"]] + backward
        if not body["has_more"]:
            break
        params = {"limit": 5, "ending_before": backward[0]}
    assert backward == expected


def test_filters_refunds_and_modes(client: FlaskClient, shop: Shop) -> None:
    early = shop.checkout(("prod_A", 100), customer="cus_early", created=T0)
    shop.checkout(("prod_A", 100), customer="cus_late", created=T0 + 100)
    shop.checkout(("prod_A", 100), customer="cus_live", livemode=True, created=T0 + 200)
    shop.refund(early, 100)

    def ids(**params: Any) -> list[str]:
        response = get(client, "/v1/products/prod_A/customers", **params)
        assert response.status_code == 200, response.get_json()
        return [e["id"] for e in response.get_json()["data"]]

    assert ids() == ["cus_live"]
    assert ids(livemode="false") == ["cus_late"]
    assert ids(livemode="false", include_refunded="true") == ["cus_early", "cus_late"]
    assert ids(**{"livemode": "false", "include_refunded": "true", "created[lt]": T0 + 100}) == ["cus_early"]
    assert ids(**{"livemode": "false", "created[gte]": T0 + 100, "created[lte]": T0 + 100}) == ["cus_late"]
    assert ids(livemode="false", created=T0 + 100) == ["cus_late"]


def test_purchases_and_products_of_a_customer(client: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Course A")
    shop.checkout(("prod_A", 1000), ("prod_B", 50), customer="cus_1", email="Ann@Example.com", created=T0)
    shop.checkout(("prod_A", 2000), email="bo@example.com", created=T0 + 1)

    rows = get(client, "/v1/products/prod_A/purchases", limit=1).get_json()
    assert (rows["has_more"], rows["data"][0]["amount_total"], rows["data"][0]["object"]) == (True, 2000, "purchase")
    after = get(client, "/v1/products/prod_A/purchases", starting_after=rows["data"][0]["id"]).get_json()
    assert [r["amount_total"] for r in after["data"]] == [1000]

    for who in ("cus_1", "ann@example.com", "ANN@EXAMPLE.COM"):
        body = get(client, f"/v1/customers/{who}/products").get_json()
        assert [(e["id"], e["product_name"]) for e in body["data"]] == [("prod_A", "Course A"), ("prod_B", None)], who
        assert body["url"] == f"/v1/customers/{who}/products"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"include_refunded": "yes"}, "include_refunded"),
        ({"livemode": "1"}, "livemode"),
        ({"starting_after": "a", "ending_before": "b"}, "ending_before"),
        ({"colour": "blue"}, "colour"),
        ({"account": "not-an-account"}, "account"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(client: FlaskClient, shop: Shop, params: dict, param: str) -> None:
    shop.checkout(("prod_A", 100))
    response = get(client, "/v1/products/prod_A/customers", **params)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"]


def test_a_repeated_parameter_and_a_bad_purchase_cursor_are_400(client: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 100))
    response = client.get("/v1/products/prod_A/customers?limit=1&limit=2", headers=AUTH)
    assert (response.status_code, response.get_json()["error"]["param"]) == (400, "limit")
    for cursor in ("999999", "2147483648", "999999999999999999"):  # past INTEGER too (was a 500 on PostgreSQL)
        response = get(client, "/v1/products/prod_A/purchases", starting_after=cursor)
        assert (response.status_code, response.get_json()["error"]["param"]) == (400, "starting_after")
    response = get(client, "/v1/products/prod_A/customers", starting_after="a\x11b")
    assert (response.status_code, response.get_json()["error"]["param"]) == (400, "starting_after")


def test_unknown_things_are_404_in_stripe_shape(client: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 100), customer="cus_1")
    for path in ("/v1/products/prod_nope/customers", "/v1/products/prod_nope/purchases",
                 "/v1/customers/cus_nope/products", "/v1/customers/nobody@example.com/products"):
        response = get(client, path)
        assert response.status_code == 404, path
        error = response.get_json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", path.split("/")[2][:-1])
        assert error["message"].startswith("No such ")
    response = get(client, "/v1/nothing-here")
    assert (response.status_code, response.get_json()["error"]["type"]) == (404, "invalid_request_error")


def test_tokens_are_required_and_checked(engine: Engine, shop: Shop) -> None:
    shop.checkout(("prod_A", 100))
    app = app_client(engine)
    client = app.test_client()
    path = "/v1/products/prod_A/customers"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"},
                    {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}x"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["error"]["type"] == "authentication_error"
    assert client.get(path, headers=AUTH).status_code == 200
    basic = base64.b64encode(f"{TOKEN}:".encode()).decode()
    assert client.get(path, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/openapi.json").status_code == 200
    app.extensions["indexer.engine"].dispose()

    closed = app_client(engine, tokens=())
    response = closed.test_client().get(path, headers=AUTH)
    assert response.status_code == 401
    assert "INDEXER_API_TOKENS" in response.get_json()["error"]["message"]
    closed.extensions["indexer.engine"].dispose()


def test_token_comparison_tries_every_token() -> None:
    assert token_matches("b", ("a", "b", "c"))
    assert not token_matches("", ("a",))
    assert not token_matches("a" * 10_000, ("a",))
    assert not token_matches("\udcff", ("a",))


def test_an_unreachable_database_is_a_503() -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2",
                              api_tokens=(TOKEN,)))
    response = app.test_client().get("/v1/products/prod_A/customers", headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["type"] == "api_error"
    app.extensions["indexer.engine"].dispose()


# --- /v1/products, CSV, days as times ---------------------------------------------------------


def test_products_list_customers_and_revenue_per_currency_paged(client: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Course A")
    shop.checkout(("prod_A", 1000), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 800), customer="cus_1", currency="eur", created=T0 + 5)  # one buyer, two currencies
    shop.checkout(("prod_A", 500), email="g@example.com", created=T0 + 9)
    for i in range(5):
        shop.checkout((f"prod_P{i}", 100 + i), customer=f"cus_p{i}", created=T0 + 10 + i)
    shop.checkout(("prod_L", 100), customer="cus_live", livemode=True)

    body = get(client, "/v1/products", livemode="false", limit=2).get_json()
    assert (body["object"], body["url"], body["has_more"]) == ("list", "/v1/products", True)
    [a, p0] = body["data"]
    assert (a["id"], a["object"], a["name"], a["livemode"], a["account"]) == ("prod_A", "product_summary", "Course A", False, "")
    assert (a["customers"], a["purchases"], a["quantity"], a["first_purchased_at"], a["last_purchased_at"]) == (2, 3, 3, T0, T0 + 9)
    assert [(m["currency"], m["customers"], m["amount_total"]) for m in a["amounts"]] == [("eur", 1, 800), ("usd", 2, 1500)]
    assert (p0["id"], p0["name"], p0["customers"]) == ("prod_P0", None, 1)

    ids = [p0["id"]]
    while body["has_more"]:
        body = get(client, "/v1/products", livemode="false", limit=2, starting_after=ids[-1]).get_json()
        ids += [e["id"] for e in body["data"]]
    assert ids == [f"prod_P{i}" for i in range(5)]
    back = get(client, "/v1/products", livemode="false", limit=3, ending_before="prod_P3").get_json()
    assert ([e["id"] for e in back["data"]], back["has_more"]) == (["prod_P0", "prod_P1", "prod_P2"], True)

    assert [e["id"] for e in get(client, "/v1/products").get_json()["data"]] == ["prod_L"]  # live when any
    assert get(client, "/v1/products", account="acct_1").get_json()["data"] == []
    window = get(client, "/v1/products", **{"livemode": "false", "created[lte]": T0 + 5}).get_json()["data"]
    assert [(e["id"], e["customers"], [m["amount_total"] for m in e["amounts"]]) for e in window] == [("prod_A", 1, [800, 1000])]


def test_created_takes_a_utc_day_or_unix_seconds(client: FlaskClient, shop: Shop) -> None:
    day = 1_764_028_800  # 2025-11-25 00:00:00 UTC
    shop.checkout(("prod_A", 100), customer="cus_before", created=day - 1)
    shop.checkout(("prod_A", 100), customer="cus_first", created=day)
    shop.checkout(("prod_A", 100), customer="cus_last", created=day + 86_399)
    shop.checkout(("prod_A", 100), customer="cus_after", created=day + 86_400)

    def ids(**params: Any) -> list[str]:
        response = get(client, "/v1/products/prod_A/customers", **params)
        assert response.status_code == 200, response.get_json()
        return sorted(e["id"] for e in response.get_json()["data"])

    assert ids(created="2025-11-25") == ["cus_first", "cus_last"]
    assert ids(**{"created[gte]": "2025-11-25", "created[lte]": "2025-11-25"}) == ["cus_first", "cus_last"]
    assert ids(**{"created[gt]": "2025-11-25"}) == ["cus_after"]
    assert ids(**{"created[lt]": "2025-11-25"}) == ["cus_before"]
    assert ids(**{"created[gte]": str(day), "created[lt]": "2025-11-26"}) == ["cus_first", "cus_last"]
    for bad in ("2025-02-30", "2025-1-01", "2025-11-25T00:00", "1e9"):  # 20251125 is Unix seconds
        response = get(client, "/v1/products/prod_A/customers", **{"created[gte]": bad})
        assert (response.status_code, response.get_json()["error"]["param"]) == (400, "created[gte]"), bad


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert (response.status_code, response.mimetype) == (200, "text/csv"), response.data[:300]
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_every_list_is_csv_with_every_page(client: FlaskClient, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 1103)  # more than two CSV pages of 500
    shop.checkout(("prod_A", 900), customer=expected[0], email="x@example.com", currency="eur")
    shop.product("prod_A", "=HYPERLINK(\"http://evil\")")

    by_suffix = client.get("/v1/products/prod_A/customers.csv", headers=AUTH)
    rows = csv_rows(by_suffix)
    assert list(rows[0]) == list(export.CUSTOMER_COLUMNS)
    assert [r["id"] for r in rows] == [expected[0], *expected]  # two currencies: two lines
    assert (rows[0]["currency"], rows[1]["currency"]) == ("eur", "usd")
    by_accept = client.get("/v1/products/prod_A/customers", headers={**AUTH, "Accept": "text/csv"})
    assert by_accept.get_data() == by_suffix.get_data()

    products = csv_rows(client.get("/v1/products.csv", headers=AUTH))
    assert [(r["product_id"], r["name"], r["currency"]) for r in products] == [
        ("prod_A", "'=HYPERLINK(\"http://evil\")", "eur"), ("prod_A", "'=HYPERLINK(\"http://evil\")", "usd")]
    purchases = csv_rows(client.get("/v1/products/prod_A/purchases.csv?created[gte]=2025-11-24", headers=AUTH))
    assert len(purchases) == 1104 and list(purchases[0]) == list(queries.PURCHASE_FIELDS)
    assert purchases[0]["refunded"] == "false"
    bought = csv_rows(client.get(f"/v1/customers/{expected[0]}/products.csv", headers=AUTH))
    assert [(r["product_id"], r["currency"]) for r in bought] == [("prod_A", "eur"), ("prod_A", "usd")]

    response = client.get("/v1/products/prod_A/customers.csv?limit=5", headers=AUTH)
    assert (response.status_code, response.get_json()["error"]["param"]) == (400, "limit")
    assert client.get("/v1/products/prod_nope/customers.csv", headers=AUTH).status_code == 404
    assert client.get("/v1/products.csv").status_code == 401
    assert get(client, "/v1/products/prod_A/customers", limit=1).status_code == 200  # */* is JSON


def test_a_csv_streams_page_by_page(client: FlaskClient, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The body is read a page at a time as the client reads it, not gathered first."""
    many_buyers(shop, "prod_A", 12)
    monkeypatch.setattr(api, "CSV_PAGE", 5)
    monkeypatch.setattr(api, "CSV_CHUNK", 1)  # a write per line
    pages: list[int] = []
    real = queries.product_customers

    def counted(*args: Any) -> Any:
        pages.append(1)
        return real(*args)

    monkeypatch.setattr(queries, "product_customers", counted)
    response = client.get("/v1/products/prod_A/customers.csv", headers=AUTH, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert len(pages) == 1  # the first page, read before the answer starts
    body = iter(response.response)
    lines = [next(body) for _ in range(6)]  # the header and the first page's five lines
    assert len(pages) == 1
    lines += list(body)
    assert len(pages) == 3 and len(lines) == 13


def test_the_readme_and_the_document_name_every_path_and_parameter(engine: Engine) -> None:
    app = app_client(engine)
    paths = {re.sub(r"<path:(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1/")}
    app.extensions["indexer.engine"].dispose()
    assert paths == set(document()["paths"])
    section = README.read_text().split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    for path in paths:
        assert f"`GET {path}`" in section or f"/{path.rsplit('/', 1)[1]}`" in section, path
    for name in api.LIST_PARAMS:
        assert f"`{name}`" in section, name
    for path in ("/openapi.json", "/healthz", "/metrics", "Authorization: Bearer"):
        assert path in section
