"""The query API against its own OpenAPI document, fuzzed by schemathesis (in-process WSGI).

The app runs on a real database (SQLite and PostgreSQL) holding purchases under the ids the
document gives as examples, so generated requests reach real answers as well as 400s and 404s.
Every check schemathesis has runs: no 5xx, status codes, content types and bodies as
documented, invalid input rejected, auth enforced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from indexer import create_app
from indexer.config import Settings
from indexer.web.openapi import EXAMPLE_CUSTOMER, EXAMPLE_EMAIL, EXAMPLE_PRODUCT, document
from tests.conftest import T0, Shop, engine_url

TOKEN = "fuzz-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def seed(shop: Shop) -> None:
    """A small shop: a customer in two currencies, guests, a refund, a live sale, a Connect sale."""
    shop.product(EXAMPLE_PRODUCT, "Video course")
    shop.checkout((EXAMPLE_PRODUCT, 4900, 2), ("prod_QfHkEbook", 900), customer=EXAMPLE_CUSTOMER,
                  email="ann@example.com", name="Ann Lee", created=T0)
    shop.checkout((EXAMPLE_PRODUCT, 4500), customer=EXAMPLE_CUSTOMER, currency="eur", created=T0 + 60)
    shop.checkout((EXAMPLE_PRODUCT, 4900), email=EXAMPLE_EMAIL.upper(), name="Jenny Rosen", created=T0 + 120)
    shop.checkout(("prod_QfHkEbook", 900), email=EXAMPLE_EMAIL, name="Jenny Rosen", created=T0 + 180)
    refunded = shop.checkout((EXAMPLE_PRODUCT, 4900), email="gone@example.com", created=T0 + 240)
    shop.refund(refunded, 4900)
    shop.checkout((EXAMPLE_PRODUCT, 4900), email="live@example.com", livemode=True, created=T0 + 300)
    shop.checkout((EXAMPLE_PRODUCT, 4900), email="connect@example.com", account="acct_1QfHk", created=T0 + 360)
    for i in range(12):
        shop.checkout((EXAMPLE_PRODUCT, 100 + i), email=f"buyer{i}@example.com", created=T0 + 400 + i)


class CurrentApp:
    """A WSGI app handing each request to the app of the running test (its own database)."""

    target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.target(environ, start_response)


CURRENT = CurrentApp()
# Built from the document the app serves (checked equal below) and bound to CURRENT, so that
# every request schemathesis sends, probes included, reaches the test's app in-process.
# (schemathesis' lazy fixture loader does not run under pytest 9.)
schema = schemathesis.openapi.from_dict(document())
schema.app = CURRENT


@pytest.fixture
def app(engine: Engine) -> Iterator[Any]:
    seed(Shop(engine))
    app = create_app(Settings(database_url=engine_url(engine), api_tokens=(TOKEN,)))
    CURRENT.target = app
    yield app
    CURRENT.target = None
    app.extensions["indexer.engine"].dispose()


# What the document can say only in words: 400s that schema-valid parameters may still get.
CROSS_PARAMETER_RULES = (
    "You may only specify one of these parameters",  # both cursors at once, as Stripe answers
    "No such purchase",  # a cursor naming no purchase of this product (Stripe: `No such charge`)
)


@schemathesis.check
def valid_data_accepted_but_for_cursor_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except for the two cursor rules above, with ``param`` named."""
    if response.status_code == 400:
        error = response.json()["error"]
        if error.get("param") in ("starting_after", "ending_before") and error["message"].startswith(CROSS_PARAMETER_RULES):
            return None
    return positive_data_acceptance(ctx, response, case)


EXCLUDED = [positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_the_promises_of_its_document(case: Any, app: Any) -> None:
    # The token replaces the one generated; a case that leaves the header out (a negative one)
    # goes without, or the real token would make it valid and its rejection could not be checked.
    headers = AUTH if "Authorization" in (case.headers or {}) else {}
    case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)


def test_a_405_names_the_allowed_methods(app: Any) -> None:
    response = app.test_client().post(f"/v1/products/{EXAMPLE_PRODUCT}/customers", headers=AUTH)
    assert response.status_code == 405
    assert "GET" in response.headers.get("Allow", "")


def test_the_document_is_openapi_3_1_and_served(engine: Engine) -> None:
    app = create_app(Settings(database_url=engine_url(engine), api_tokens=(TOKEN,)))
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()
    assert document()["openapi"] == "3.1.0"
    lists = {"/v1/products", "/v1/products/{product}/customers", "/v1/products/{product}/purchases",
             "/v1/customers/{customer}/products"}
    assert set(document()["paths"]) == lists | {f"{path}.csv" for path in lists}
    app.extensions["indexer.engine"].dispose()
