"""Live answers (``customers --live``): straight from the sandbox, equal to the index's answer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from indexer.answers import queries
from indexer.answers.live import live_customers
from indexer.errors import NotFound
from tests.history.conftest import History, client, history, run


@pytest.fixture
def shop(sandbox: Any) -> History:
    return history(sandbox.store, sessions=16, invoices=4)


def indexed(engine: Engine, product: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(queries.iter_product_customers(engine, product, queries.Filters(livemode=False, **kwargs)))


def test_live_customers_equal_the_index(engine: Engine, sandbox: Any, shop: History) -> None:
    run(engine, client(sandbox))
    for key, product in shop.products.items():
        live = list(live_customers(client(sandbox), product))
        assert live == indexed(engine, product), key
        keys = {e["customer"] or e["email"].lower() for e in live}
        assert keys == shop.expected[product], key


def test_live_customers_entries_have_the_contract_keys(sandbox: Any, shop: History) -> None:
    entries = list(live_customers(client(sandbox), shop.products["ebook"]))
    mixed = next(e for e in entries if (e["email"] or "").lower() == "mixed.case@example.com")
    for key in ("id", "customer", "email", "name", "purchases", "quantity", "amount_total", "currency",
                "first_purchased_at", "last_purchased_at"):
        assert key in mixed
    assert mixed["customer"] is None and mixed["id"].startswith("guest_")
    assert mixed["purchases"] == 2 and mixed["currency"] is None  # paid in usd and in eur
    assert {a["currency"] for a in mixed["amounts"]} == {"usd", "eur"}


def test_live_refunded_buyers_only_on_request(engine: Engine, sandbox: Any, shop: History) -> None:
    stickers = shop.products["stickers"]
    emails = {e["email"] for e in live_customers(client(sandbox), stickers)}
    assert "refunded@example.com" not in emails and "partly@example.com" in emails
    every = list(live_customers(client(sandbox), stickers, include_refunded=True))
    assert "refunded@example.com" in {e["email"] for e in every}
    run(engine, client(sandbox))
    assert every == indexed(engine, stickers, include_refunded=True)


def test_live_unknown_product_is_not_found(sandbox: Any, shop: History) -> None:
    with pytest.raises(NotFound, match="no such product: prod_nope"):
        list(live_customers(client(sandbox), "prod_nope"))
