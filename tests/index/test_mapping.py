"""A catalogue of Stripe cases and the rows they give (``indexer.index.mapping``).

Objects live in ``tests/data/purchases/``: hand-written after Stripe's shapes (each file says
which case and API version it stands for), plus a verbatim subset of stripe/openapi's
``fixtures3.json``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from indexer.index.mapping import (
    MappingError,
    PurchaseSource,
    allocate_refund,
    dispute_row,
    expand_id,
    guest_key,
    invoice_needs_payments_lookup,
    invoice_payment_intent,
    invoice_purchase,
    invoice_subscription,
    is_purchase_session,
    line_price,
    line_product,
    line_subscription,
    product_row,
    refund_row,
    session_purchase,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "purchases"


@cache
def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def load(name: str) -> Any:
    return copy.deepcopy(_load(name))


def fixture3(kind: str) -> dict:
    return load("fixtures3_subset.json")[kind]


def changed(obj: dict, **fields: Any) -> dict:
    return {**copy.deepcopy(obj), **fields}


def cli_session() -> tuple[dict, list[dict]]:
    case = load("session_cli_trigger.json")
    return case["session"], case["line_items"]


def sha(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:24]


# --- Checkout Sessions ---------------------------------------------------------------------


def test_cli_checkout_trigger_is_a_guest_purchase():
    session, items = cli_session()
    source = session_purchase(session, items)

    assert source.is_purchase
    assert (source.source_type, source.source_id) == ("checkout.session", session["id"])
    assert source.payment_key == "pi_3CliTriggerGuest0001"
    assert source.invoice is None
    assert (source.account, source.livemode) == ("", False)
    (row,) = source.rows
    assert row.line_item_id == "li_1CliTriggerGuest0001"
    assert (row.product_id, row.price_id) == ("prod_CliTriggerGuest1", "price_1CliTriggerGuest0001")
    assert row.customer_id is None
    assert (row.email, row.name) == ("stripe@example.com", "Jenny Rosen")
    assert row.customer_key == "guest_" + sha("stripe@example.com")
    assert (row.quantity, row.currency) == (2, "usd")
    assert (row.amount_subtotal, row.amount_total) == (3000, 3000)
    assert row.purchased_at == session["created"]
    assert row.payment_intent == "pi_3CliTriggerGuest0001"
    assert (row.invoice, row.subscription, row.payment_link) == (None, None, None)
    assert row.checkout_session == session["id"]
    assert row.description == "myproduct"


def test_guest_email_case_does_not_split_the_buyer():
    session, items = cli_session()
    other = changed(session, id="cs_test_other")
    other["customer_details"]["email"] = "Stripe@Example.COM"

    first = session_purchase(session, items).rows[0]
    second = session_purchase(other, items).rows[0]

    assert first.customer_key == second.customer_key == guest_key("STRIPE@example.com")
    assert second.email == "Stripe@Example.COM"


def test_guest_key_is_a_short_hash_of_the_lowercased_email():
    assert guest_key("A@B.c") == "guest_" + sha("a@b.c")
    assert len(guest_key("a@b.c")) == len("guest_") + 24


def test_customer_email_is_only_the_prefill_and_is_ignored():
    """``customer_email`` is what the merchant passed at creation, not who paid."""
    case = load("session_subscription.json")
    row = session_purchase(case["session"], case["line_items"]).rows[0]
    assert row.email == "Ada@Example.com"

    session, items = cli_session()
    session["customer_email"] = "prefill@example.com"
    session["customer_details"]["email"] = None
    row = session_purchase(session, items).rows[0]
    assert row.email is None
    assert row.customer_key == "anon_" + session["id"]


def test_session_without_customer_details_is_anonymous():
    session, items = cli_session()
    session["customer_details"] = None
    row = session_purchase(session, items).rows[0]
    assert (row.email, row.name, row.customer_key) == (None, None, "anon_" + session["id"])


def test_customer_session_is_keyed_by_customer():
    case = load("session_subscription.json")
    row = session_purchase(case["session"], case["line_items"]).rows[0]
    assert row.customer_id == row.customer_key == "cus_SubscriberAda01"
    assert row.name == "Ada Lovelace"


def test_subscription_mode_session_shares_its_payment_key_with_its_invoice():
    case = load("session_subscription.json")
    source = session_purchase(case["session"], case["line_items"])

    assert source.payment_key == source.invoice == "in_1SubscriptionFirst01"
    (row,) = source.rows
    assert row.payment_intent is None
    assert row.invoice == "in_1SubscriptionFirst01"
    assert row.subscription == "sub_1SubscriptionAda01"
    assert row.payment_link == "plink_1SubscriptionLink1"
    assert (row.currency, row.amount_total) == ("eur", 2000)


def test_invoice_creation_session_with_expanded_fields_on_a_connect_account():
    case = load("session_invoice_creation.json")
    session = case["session"]
    source = session_purchase(session, case["line_items"], account="acct_1Connected0001")

    assert source.payment_key == source.invoice == "in_1InvoiceCreation0001"
    assert (source.account, source.livemode) == ("acct_1Connected0001", True)
    assert [r.product_id for r in source.rows] == ["prod_Book00000001", "prod_Mug000000001"]
    assert [r.quantity for r in source.rows] == [1, 2]
    assert [(r.amount_subtotal, r.amount_total) for r in source.rows] == [
        (3000, 2750),
        (2000, 2380),
    ]
    assert sum(r.amount_total for r in source.rows) == session["amount_total"]
    assert {r.customer_id for r in source.rows} == {"cus_InvoiceCreation1"}
    assert {r.payment_intent for r in source.rows} == {"pi_3InvoiceCreation0001"}
    assert {r.account for r in source.rows} == {"acct_1Connected0001"}
    assert {r.livemode for r in source.rows} == {True}


def test_expanded_or_not_the_same_session_gives_the_same_rows():
    """A webhook payload has ids; a backfill may have expanded objects."""
    case = load("session_invoice_creation.json")
    session, items = case["session"], case["line_items"]
    flat = changed(
        session, customer="cus_InvoiceCreation1", payment_intent="pi_3InvoiceCreation0001"
    )
    flat_items = copy.deepcopy(items)
    for item in flat_items:
        item["price"]["product"] = item["price"]["product"]["id"]

    assert session_purchase(flat, flat_items) == session_purchase(session, items)


@pytest.mark.parametrize(
    ("status", "payment_status", "case"),
    [
        ("open", "unpaid", "still open"),
        ("expired", "unpaid", "expired"),
        ("complete", "unpaid", "delayed payment pending, or async_payment_failed"),
    ],
)
def test_unpaid_sessions_are_no_purchase(status, payment_status, case):
    session, items = cli_session()
    session = changed(session, status=status, payment_status=payment_status)

    source = session_purchase(session, items)

    assert not is_purchase_session(session)
    assert not source.is_purchase, case
    assert source.rows == ()
    assert source.payment_key == "pi_3CliTriggerGuest0001"
    assert session_purchase(session, []) == source


def test_async_payment_succeeded_makes_the_session_a_purchase():
    session, items = cli_session()
    pending = changed(session, payment_status="unpaid")
    assert not session_purchase(pending, items).is_purchase
    assert session_purchase(changed(pending, payment_status="paid"), items).is_purchase


def test_no_payment_required_session_counts_with_zero_amounts():
    session, items = cli_session()
    session = changed(
        session, payment_status="no_payment_required", amount_total=0, payment_intent=None
    )
    items[0].update(amount_discount=3000, amount_total=0)

    source = session_purchase(session, items)

    assert source.is_purchase
    assert source.payment_key == session["id"]
    assert [(r.amount_subtotal, r.amount_total) for r in source.rows] == [(3000, 0)]


def test_setup_mode_session_counts_but_has_no_rows():
    session, _ = cli_session()
    session = changed(
        session,
        mode="setup",
        payment_status="no_payment_required",
        payment_intent=None,
        setup_intent="seti_1Setup",
        amount_total=None,
        amount_subtotal=None,
        currency=None,
    )
    source = session_purchase(session, [])
    assert source.is_purchase
    assert source.rows == ()


def test_more_than_a_hundred_line_items_all_become_rows():
    session, (item,) = cli_session()
    items = []
    for n in range(250):
        extra = copy.deepcopy(item)
        extra["id"] = f"li_{n:04d}"
        extra["price"]["product"] = f"prod_{n % 7}"
        items.append(extra)

    rows = session_purchase(session, items).rows

    assert [r.line_item_id for r in rows] == [f"li_{n:04d}" for n in range(250)]
    assert len({r.product_id for r in rows}) == 7


def test_null_quantity_counts_as_one():
    session, items = cli_session()
    items[0]["quantity"] = None
    assert session_purchase(session, items).rows[0].quantity == 1


def test_repeated_line_items_are_kept_once():
    session, items = cli_session()
    assert len(session_purchase(session, items + items).rows) == 1


def test_line_items_that_exist_but_were_not_given_are_an_error():
    case = load("session_invoice_creation.json")
    with pytest.raises(MappingError, match="none were given"):
        session_purchase(case["session"], [])


# --- Invoices: old shape (before 2025-03-31.basil) ------------------------------------------


def old_invoice() -> tuple[dict, list[dict]]:
    case = load("invoice_old_shape.json")
    return case["invoice"], case["all_lines"]


def test_old_shape_invoice():
    invoice, lines = old_invoice()
    source = invoice_purchase(invoice, lines)

    assert source.is_purchase
    assert source.source_type == "invoice"
    assert source.payment_key == source.invoice == source.source_id == "in_1OldShapeCycle00001"
    assert [r.line_item_id for r in source.rows] == [
        "il_1OldShapeSeat000001",
        "il_1OldShapeSetupFee01",
        "il_1OldShapeProration1",
    ]
    assert [r.product_id for r in source.rows] == [
        "prod_OldShapeSeat01",
        "prod_OldShapeSetup1",
        "prod_OldShapeSeat01",
    ]
    assert [r.price_id for r in source.rows] == [
        "price_1OldShapeSeat00001",
        "price_1OldShapeSetup0001",
        "price_1OldShapeSeat00001",
    ]
    assert [r.quantity for r in source.rows] == [2, 1, 1]
    assert [r.subscription for r in source.rows] == ["sub_1OldShapeSub000001"] * 3
    assert {r.payment_intent for r in source.rows} == {"pi_3OldShapeCycle00001"}
    assert {r.purchased_at for r in source.rows} == {1740003700}
    assert {(r.customer_key, r.email, r.name) for r in source.rows} == {
        ("cus_OldShapeCustomer", "old@example.com", "Old Shape")
    }
    assert {(r.checkout_session, r.payment_link) for r in source.rows} == {(None, None)}


def test_invoice_line_total_is_after_discounts_and_exclusive_taxes():
    """Seat: 2000 - 200 discount + 180 exclusive tax; setup fee: inclusive tax is already in
    the amount; proration credit: negative. Together: the invoice total."""
    invoice, lines = old_invoice()
    rows = invoice_purchase(invoice, lines).rows
    assert [(r.amount_subtotal, r.amount_total) for r in rows] == [
        (2000, 1980),
        (800, 800),
        (-300, -300),
    ]
    assert sum(r.amount_total for r in rows) == invoice["total"]


def test_old_shape_invoice_helpers():
    invoice, _ = old_invoice()
    assert invoice_payment_intent(invoice) == "pi_3OldShapeCycle00001"
    assert not invoice_needs_payments_lookup(invoice)
    assert invoice_subscription(invoice) == "sub_1OldShapeSub000001"


def test_old_shape_invoice_without_payment_intent_needs_no_lookup():
    """The key is there and null (a zero-amount invoice, or paid out of band)."""
    invoice, lines = old_invoice()
    invoice["payment_intent"] = None
    assert not invoice_needs_payments_lookup(invoice)
    assert {r.payment_intent for r in invoice_purchase(invoice, lines).rows} == {None}


# --- Invoices: new shape (2025-03-31.basil and later) ---------------------------------------


def new_invoice() -> tuple[dict, list[dict]]:
    case = load("invoice_new_shape.json")
    return case["invoice"], case["all_lines"]


def test_new_shape_invoice():
    invoice, lines = new_invoice()
    source = invoice_purchase(invoice, lines)

    assert source.is_purchase
    assert source.livemode is True
    assert [(r.product_id, r.price_id) for r in source.rows] == [
        ("prod_NewShapePro001", "price_1NewShapeSeatGbp01"),
        ("prod_NewShapeAddon01", "price_1NewShapeAddonGbp"),
    ]
    assert [r.subscription for r in source.rows] == ["sub_1NewShapeSub000001"] * 2
    assert {r.payment_intent for r in source.rows} == {"pi_3NewShapePaid00001"}
    assert [r.quantity for r in source.rows] == [3, 1]
    assert {r.currency for r in source.rows} == {"gbp"}


def test_new_shape_line_total_counts_a_discount_once_and_subtracts_credit_grants():
    """``discount_amounts`` and ``pretax_credit_amounts`` both list the discount."""
    invoice, lines = new_invoice()
    rows = invoice_purchase(invoice, lines).rows
    assert [r.amount_total for r in rows] == [3000 - 300 - 200 + 250, 500]
    assert sum(r.amount_total for r in rows) == invoice["total"]


def test_new_shape_payment_intent_comes_from_the_paid_default_payment():
    invoice, _ = new_invoice()
    assert invoice_payment_intent(invoice) == "pi_3NewShapePaid00001"
    assert not invoice_needs_payments_lookup(invoice)
    assert invoice_subscription(invoice) == "sub_1NewShapeSub000001"

    payments = invoice["payments"]["data"]
    payments.insert(
        0,
        changed(
            payments[1],
            is_default=False,
            payment={"type": "payment_intent", "payment_intent": "pi_partial"},
        ),
    )
    assert invoice_payment_intent(invoice) == "pi_3NewShapePaid00001"


def test_new_shape_invoice_without_expanded_payments_takes_the_callers_payment_intent():
    invoice, lines = new_invoice()
    del invoice["payments"]

    assert invoice_needs_payments_lookup(invoice)
    assert invoice_payment_intent(invoice) is None
    source = invoice_purchase(invoice, lines, payment_intent="pi_3FromInvoicePayments")
    assert {r.payment_intent for r in source.rows} == {"pi_3FromInvoicePayments"}


def test_new_shape_is_told_by_parent_even_with_a_null_payment_intent_key():
    invoice, _ = new_invoice()
    del invoice["payments"]
    invoice["payment_intent"] = None
    assert invoice_needs_payments_lookup(invoice)


def test_new_shape_payments_first_page_without_a_paid_payment_needs_a_lookup():
    invoice, _ = new_invoice()
    invoice["payments"]["data"] = invoice["payments"]["data"][:1]
    invoice["payments"]["has_more"] = True
    assert invoice_needs_payments_lookup(invoice)


def test_invoice_paid_out_of_band_counts_without_a_payment_intent():
    invoice, lines = new_invoice()
    invoice["payments"]["data"] = []
    invoice["amount_paid_off_stripe"] = invoice["amount_paid"]

    source = invoice_purchase(invoice, lines)

    assert source.is_purchase
    assert {r.payment_intent for r in source.rows} == {None}
    assert not invoice_needs_payments_lookup(invoice)


def test_mixed_line_shapes_in_one_invoice():
    case = load("invoice_mixed_lines.json")
    invoice, lines = case["invoice"], case["all_lines"]

    rows = invoice_purchase(invoice, lines).rows

    assert [(r.line_item_id, r.product_id, r.price_id, r.quantity) for r in rows] == [
        ("il_1MixedSeat000000001", "prod_MixedSeat00001", "price_1MixedSeat0000001", 1),
        ("il_1MixedUsage00000001", "prod_MixedUsage0001", "price_1MixedUsage000001", 1),
    ]
    assert {r.subscription for r in rows} == {"sub_1MixedLines0000001"}
    assert {r.payment_intent for r in rows} == {"pi_3MixedLines00000001"}
    assert {r.customer_key for r in rows} == {"cus_MixedLines000001"}
    assert {r.purchased_at for r in rows} == {invoice["created"]}, (
        "no paid_at: falls back to created"
    )
    assert sum(r.amount_total for r in rows) == invoice["total"]


def test_cli_invoice_paid_trigger_amount_only_item():
    """One-off invoice, amount-only invoice item (no price, no product), Customer without email."""
    invoice = load("invoice_cli_trigger_paid.json")["invoice"]
    lines = invoice["lines"]["data"]

    source = invoice_purchase(invoice, lines)

    assert source.is_purchase
    (row,) = source.rows
    assert (row.product_id, row.price_id) == (None, None)
    assert (row.customer_id, row.customer_key) == ("cus_CliTriggerNoMail", "cus_CliTriggerNoMail")
    assert (row.email, row.name) == (None, None)
    assert (row.amount_subtotal, row.amount_total, row.quantity) == (2000, 2000, 1)
    assert row.subscription is None
    assert row.purchased_at == 1764200002
    assert row.payment_intent is None
    assert invoice_needs_payments_lookup(invoice)
    assert invoice_subscription(invoice) is None


@pytest.mark.parametrize("status", ["draft", "open", "void", "uncollectible", None])
def test_invoice_not_paid_is_no_purchase(status):
    invoice, lines = new_invoice()
    invoice["status"] = status

    source = invoice_purchase(invoice, lines)

    assert not source.is_purchase
    assert source.rows == ()
    assert source.payment_key == invoice["id"]
    assert invoice_purchase(invoice, []) == source
    assert not invoice_needs_payments_lookup(invoice)


def test_a_line_of_another_invoice_is_an_error():
    invoice, lines = new_invoice()
    lines[0]["invoice"] = "in_someone_else"
    with pytest.raises(MappingError, match="in_someone_else"):
        invoice_purchase(invoice, lines)


def test_invoice_lines_that_exist_but_were_not_given_are_an_error():
    invoice = load("invoice_cli_trigger_paid.json")["invoice"]
    with pytest.raises(MappingError, match="none were given"):
        invoice_purchase(invoice, [])


# --- Invoice line readers, one shape per case ------------------------------------------------

PRICE = {"id": "price_A", "object": "price", "product": "prod_A"}

LINE_CASES = {
    "old: price object, product id": (
        {"price": PRICE, "subscription": "sub_A"},
        ("prod_A", "price_A", "sub_A"),
    ),
    "old: product expanded": (
        {"price": {**PRICE, "product": {"id": "prod_A", "object": "product"}}},
        ("prod_A", "price_A", None),
    ),
    "old: subscription expanded": (
        {"price": PRICE, "subscription": {"id": "sub_A", "object": "subscription"}},
        ("prod_A", "price_A", "sub_A"),
    ),
    "old: plan only": (
        {"plan": {"id": "plan_A", "object": "plan", "product": "prod_A"}},
        ("prod_A", "plan_A", None),
    ),
    "new: price id": (
        {
            "pricing": {
                "type": "price_details",
                "price_details": {"price": "price_A", "product": "prod_A"},
            }
        },
        ("prod_A", "price_A", None),
    ),
    "new: price expanded (clover+)": (
        {
            "pricing": {
                "type": "price_details",
                "price_details": {"price": PRICE, "product": "prod_A"},
            }
        },
        ("prod_A", "price_A", None),
    ),
    "new: subscription item parent": (
        {
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {"subscription": "sub_A"},
            }
        },
        (None, None, "sub_A"),
    ),
    "new: invoice item parent on a subscription": (
        {
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {"subscription": "sub_A"},
            }
        },
        (None, None, "sub_A"),
    ),
    "new: parent of the other type is not read": (
        {
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {"subscription": None},
                "subscription_item_details": {"subscription": "sub_stale"},
            }
        },
        (None, None, None),
    ),
    "new: pricing null (amount-only item)": ({"pricing": None, "parent": None}, (None, None, None)),
    "new: price_details absent": (
        {"pricing": {"type": "price_details", "unit_amount_decimal": None}},
        (None, None, None),
    ),
}


@pytest.mark.parametrize(("fields", "expected"), LINE_CASES.values(), ids=LINE_CASES.keys())
def test_line_readers(fields, expected):
    line = {"id": "il_A", "object": "line_item", **fields}
    assert (line_product(line), line_price(line), line_subscription(line)) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"subscription": "sub_old"}, "sub_old"),
        ({"subscription": {"id": "sub_old", "object": "subscription"}}, "sub_old"),
        (
            {
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": "sub_new"},
                }
            },
            "sub_new",
        ),
        ({"parent": {"type": "quote_details", "quote_details": {"quote": "qt_A"}}}, None),
        ({"parent": None}, None),
    ],
)
def test_invoice_subscription_both_shapes(fields, expected):
    assert invoice_subscription({"id": "in_A", "object": "invoice", **fields}) == expected


# --- fixtures3.json (stripe/openapi): synthetic values, real shapes -------------------------


def test_fixtures3_open_session_is_no_purchase():
    session = fixture3("checkout.session")
    source = session_purchase(session, [fixture3("item")])
    assert not source.is_purchase
    assert source.payment_key == session["payment_intent"]


def test_fixtures3_session_completed_with_its_item():
    session = changed(fixture3("checkout.session"), status="complete", payment_status="paid")
    (row,) = session_purchase(session, [fixture3("item")]).rows
    assert (row.product_id, row.price_id) == (
        "prod_QXg1hqf4jFNsqG",
        "price_1PgafmB7WZ01zgkW02Hf9z6c",
    )
    assert row.customer_key == guest_key("example@example.com")
    assert (row.quantity, row.amount_total, row.description) == (1, 0, "T-shirt")


def test_fixtures3_draft_invoice_and_its_paid_variant():
    invoice = fixture3("invoice")
    assert not invoice_purchase(invoice, invoice["lines"]["data"]).is_purchase

    paid = changed(invoice, status="paid")
    (row,) = invoice_purchase(paid, paid["lines"]["data"]).rows
    assert (row.product_id, row.price_id) == (None, None)
    assert row.subscription is None, (
        "parent.type says invoice_item_details; its subscription is null"
    )
    assert invoice_subscription(paid) is None, "parent.type is quote_details"
    assert row.purchased_at == invoice["created"]
    assert invoice_needs_payments_lookup(paid)


def test_fixtures3_line_item_and_invoice_payment():
    line = fixture3("line_item")
    assert (line_product(line), line_price(line), line_subscription(line)) == (None, None, None)

    invoice = fixture3("invoice")
    invoice["payments"] = {
        "object": "list",
        "data": [fixture3("invoice_payment")],
        "has_more": False,
    }
    assert invoice_payment_intent(invoice) is None


def test_fixtures3_refund_dispute_product():
    refund = refund_row(fixture3("refund"), livemode=False)
    assert (refund.id, refund.charge, refund.payment_intent) == (
        "re_1Pgc72B7WZ01zgkWqPvrRrPE",
        "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        None,
    )
    assert (refund.amount, refund.currency, refund.status, refund.created) == (
        100,
        "usd",
        "succeeded",
        1234567890,
    )

    dispute = dispute_row(fixture3("dispute"), account="acct_1Connected0001")
    assert (dispute.id, dispute.account, dispute.livemode) == (
        "dp_1Pgc71B7WZ01zgkWMevJiAUx",
        "acct_1Connected0001",
        False,
    )
    assert (dispute.charge, dispute.amount, dispute.status, dispute.reason) == (
        "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        1000,
        "warning_needs_response",
        "general",
    )

    product = product_row(fixture3("product"))
    assert (product.id, product.name, product.active, product.updated, product.deleted) == (
        "prod_QXg1hqf4jFNsqG",
        "T-shirt",
        True,
        1234567890,
        False,
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda e: session_purchase(e, []),
        lambda e: invoice_purchase(e, []),
        lambda e: refund_row(e, livemode=False),
        lambda e: dispute_row(e),
        lambda e: product_row(e),
    ],
    ids=["session", "invoice", "refund", "dispute", "product"],
)
def test_fixtures3_event_instead_of_its_object_is_an_error(call):
    with pytest.raises(MappingError, match="'event'"):
        call(fixture3("event"))


# --- Refunds, disputes, products -------------------------------------------------------------


def test_refund_livemode_is_never_guessed():
    """Stripe's Refund object has no livemode field."""
    refund = fixture3("refund")
    with pytest.raises(MappingError, match="livemode"):
        refund_row(refund)
    assert refund_row(refund, livemode=True).livemode is True
    refund["charge"] = {"id": "ch_1", "object": "charge", "livemode": True}
    assert refund_row(refund).livemode is True
    assert refund_row(refund).charge == "ch_1"


def test_refund_of_a_payment_intent():
    refund = changed(
        fixture3("refund"), charge=None, payment_intent="pi_3Refunded", status="pending"
    )
    row = refund_row(refund, account="acct_1Connected0001", livemode=False)
    assert (row.charge, row.payment_intent, row.status, row.account) == (
        None,
        "pi_3Refunded",
        "pending",
        "acct_1Connected0001",
    )


def test_deleted_product_is_kept_marked_deleted():
    product = product_row(fixture3("product"), deleted=True)
    assert (product.deleted, product.active, product.name) == (True, False, "T-shirt")
    assert product_row(changed(fixture3("product"), deleted=True)).deleted


# --- Allocating a payment's refund over its rows ---------------------------------------------


@pytest.mark.parametrize(
    ("refunded", "totals", "expected"),
    [
        (1000, [600, 400], [600, 400]),
        (500, [600, 400], [300, 200]),
        (5000, [600, 400], [600, 400]),
        (2, [1, 1, 1], [1, 1, 0]),
        (100, [333, 333, 334], [33, 33, 34]),
        (700, [1000, -300], [700, 0]),
        (0, [600, 400], [0, 0]),
        (-5, [600, 400], [0, 0]),
        (100, [0, 0], [0, 0]),
        (100, [], []),
    ],
)
def test_allocate_refund_examples(refunded, totals, expected):
    assert allocate_refund(refunded, totals) == expected


amounts = st.integers(min_value=-(10**6), max_value=10**9)


@given(refunded=amounts, totals=st.lists(amounts, max_size=30))
def test_allocate_refund_properties(refunded, totals):
    shares = allocate_refund(refunded, totals)

    assert len(shares) == len(totals)
    assert sum(shares) == max(0, min(refunded, sum(totals)))
    assert all(0 <= share <= max(total, 0) for share, total in zip(shares, totals, strict=True))
    assert shares == allocate_refund(refunded, list(totals))


@given(totals=st.lists(st.integers(min_value=0, max_value=10**9), max_size=30))
def test_full_refund_gives_every_line_its_total(totals):
    assert allocate_refund(sum(totals), totals) == totals


# --- Bad input -------------------------------------------------------------------------------


def test_mapping_error_is_a_value_error():
    assert issubclass(MappingError, ValueError)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, i: session_purchase({k: v for k, v in s.items() if k != "id"}, i), "no id"),
        (lambda s, i: session_purchase(changed(s, object="invoice"), i), "'invoice'"),
        (lambda s, i: invoice_purchase(s, i), "'checkout.session'"),
        (lambda s, i: session_purchase(s, {"object": "list", "data": i}), "list of item"),
        (lambda s, i: session_purchase(s, [changed(i[0], object="line_item")]), "'line_item'"),
        (lambda s, i: session_purchase(s, [changed(i[0], amount_total="30.00")]), "amount_total"),
        (
            lambda s, i: session_purchase({k: v for k, v in s.items() if k != "livemode"}, i),
            "livemode",
        ),
        (lambda s, i: session_purchase(s, i, account="platform"), "acct_"),
        (
            lambda s, i: session_purchase(
                stripe.checkout.Session.construct_from(s, "sk_test_x"), i
            ),
            "to_dict",
        ),
        (lambda s, i: session_purchase(changed(s, customer=42), i), "expanded object"),
        (lambda s, i: is_purchase_session(None), "dict"),
    ],
    ids=[
        "missing id",
        "wrong object",
        "invoice function given a session",
        "list object instead of its data",
        "invoice line in a session",
        "amount not an integer",
        "no livemode",
        "bad account",
        "StripeObject not converted",
        "bad expandable",
        "None",
    ],
)
def test_bad_input_raises_mapping_error(call, message):
    session, items = cli_session()
    with pytest.raises(MappingError, match=message):
        call(session, items)


def test_expand_id():
    assert expand_id("cus_A") == "cus_A"
    assert expand_id({"id": "cus_A", "object": "customer"}) == "cus_A"
    assert expand_id(None) is None
    with pytest.raises(MappingError):
        expand_id({"object": "customer"})


def test_platform_account_may_be_given_as_none():
    session, items = cli_session()
    assert session_purchase(session, items, account=None).account == ""  # type: ignore[arg-type]


# --- Purity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["invoice_old_shape.json", "invoice_new_shape.json", "invoice_mixed_lines.json"]
)
def test_mapping_is_pure(case):
    data = load(case)
    before = copy.deepcopy(data)
    first = invoice_purchase(data["invoice"], data["all_lines"])
    second = invoice_purchase(data["invoice"], data["all_lines"])
    assert first == second
    assert isinstance(first, PurchaseSource)
    assert data == before
    assert hash(first) == hash(second)
