"""The query API over HTTP semantics (Flask's client): Stripe's list shape, cursors, errors, tokens."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer import create_app
from indexer.config import Settings
from indexer.index.mapping import guest_key
from indexer.web.api import token_matches
from tests.conftest import T0, Shop, engine_url, many_buyers

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
