"""``indexer.answers.payments``: the reads enrichment makes of every report row, on both
databases."""

from __future__ import annotations

from sqlalchemy import Engine

from indexer import db
from indexer.answers import payments
from indexer.index import mapping, writes


def session(pi: str, n: int, items: list[tuple[str, int]], *, account: str = "") -> mapping.PurchaseSource:
    obj = {"object": "checkout.session", "id": f"cs_test_{n}{account}", "livemode": False,
           "status": "complete", "payment_status": "paid", "payment_intent": pi, "created": 1782900000 + n,
           "customer": None, "customer_details": {"email": f"b{n}@example.com", "name": f"Buyer {n}"}}
    lines = [{"object": "item", "id": f"li_{n}_{k}{account}", "quantity": 1 + k, "amount_subtotal": amount,
              "amount_total": amount, "currency": "usd", "description": f"{product} text",
              "price": {"id": f"price_{product}", "product": product}}
             for k, (product, amount) in enumerate(items)]
    return mapping.session_purchase(obj, lines, account=account)


def invoice(inv: str, pi: str, items: list[tuple[str, int]]) -> mapping.PurchaseSource:
    obj = {"object": "invoice", "id": inv, "livemode": False, "status": "paid", "customer": "cus_mei",
           "customer_email": "mei@example.org", "customer_name": "Mei", "created": 1782900000,
           "payment_intent": pi, "status_transitions": {"paid_at": 1782900000}}
    lines = [{"object": "line_item", "id": f"il_{inv}{k}", "amount": amount, "currency": "usd", "quantity": 1,
              "description": product, "price": {"id": f"price_{product}", "product": product}}
             for k, (product, amount) in enumerate(items)]
    return mapping.invoice_purchase(obj, lines)


def test_part_lines_groups_each_payments_lines_in_their_order(engine: Engine) -> None:
    many = [(f"prod_{k:03d}", 100 + k) for k in range(150)]  # past SQLite's inline IN list
    sources = [session("pi_one", 1, [("prod_b", 500)]),
               session("pi_two", 2, [("prod_z", 300), ("prod_a", 200), ("prod_z", 100)]),
               session("pi_many", 3, many),
               session("pi_one", 4, [("prod_other_account", 900)], account="acct_x"),
               invoice("in_sub", "pi_sub", [("prod_pro", 1900), ("prod_addon", 1000)])]
    with db.transaction(engine) as conn:
        writes.write_sources(conn, sources)
    intents = ["pi_one", "pi_two", "pi_many", "pi_sub", "pi_absent"] + [f"pi_pad{k}" for k in range(100)]

    def read(key: str, values: list[str], account: str = "") -> dict[str, list[payments.PartLine]]:
        return db.read(engine, lambda c: payments.part_lines(c, account, key, values))

    found = read("payment_intent", intents)
    assert set(found) == {"pi_one", "pi_two", "pi_many", "pi_sub"}
    assert found["pi_one"] == [payments.PartLine("prod_b", "price_prod_b", 1, 500, None, "b1@example.com",
                                                 "Buyer 1", "cs_test_1", "prod_b text")]
    assert [(x.product_id, x.quantity, x.amount_total) for x in found["pi_two"]] == [
        ("prod_z", 1, 300), ("prod_a", 2, 200), ("prod_z", 3, 100)]
    assert [(x.product_id, x.amount_total) for x in found["pi_many"]] == many
    assert [x.product_id for x in found["pi_sub"]] == ["prod_pro", "prod_addon"]
    assert read("payment_intent", ["pi_one"], "acct_x")["pi_one"][0].product_id == "prod_other_account"
    by_invoice = read("invoice", ["in_sub", "in_absent"])
    assert list(by_invoice) == ["in_sub"] and by_invoice["in_sub"] == found["pi_sub"]
    assert read("invoice", []) == {}
