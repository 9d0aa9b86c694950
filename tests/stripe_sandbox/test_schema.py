"""Tests of the schema validator itself (``schema.py``, ``legacy_shapes.py``).

A validator that accepts everything proves nothing, so every kind of check is shown to fire on a
mutated object, and Stripe's own example objects (openapi ``fixtures3.json``) are shown to pass,
with each disagreement between a fixture and the installed SDK listed precisely below.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe._list_object import ListObject

try:  # tests/stripe_sandbox as a package, or as a rootdir-less directory (pytest "prepend" mode)
    from . import legacy_shapes, schema
except ImportError:
    import legacy_shapes  # type: ignore[no-redef]
    import schema  # type: ignore[no-redef]

DATA = Path(__file__).resolve().parents[1] / "data" / "stripe"
FIXTURES = DATA / "fixtures3.json"
PRE_BASIL_REFERENCE = DATA / "sdk_field_reference_pre-basil_2025-02-24.acacia.txt"

RELEVANT = (
    "checkout.session",
    "item",
    "invoice",
    "line_item",
    "invoice_payment",
    "event",
    "payment_link",
    "price",
    "product",
    "customer",
    "refund",
    "dispute",
    "charge",
    "payment_intent",
    "subscription",
)


@cache
def _fixtures() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]  # type: ignore[no-any-return]


def fixture(kind: str) -> dict[str, Any]:
    """A deep copy of Stripe's example object ``kind`` (safe to mutate)."""
    return copy.deepcopy(_fixtures()[kind])


def _problem_keys(problems: list[str]) -> set[str]:
    """``"path: missing"`` / ``"path: unknown"`` / ... : the path and the first word."""
    keys = set()
    for p in problems:
        path, _, rest = p.partition(": ")
        keys.add(f"{path}: {rest.split(' ')[0]}")
    return keys


# --------------------------------------------------------------------------------------------
# Stripe's fixtures vs the installed SDK
# --------------------------------------------------------------------------------------------

# fixtures3.json comes from stripe/openapi HEAD of mid-2026 (2026-07-29.dahlia era); the SDK is
# stripe-python 16.1.0 (2026-10-28.endive).  Every difference the validator reports for those
# fixtures is listed here with its cause; the test asserts the reported set is exactly this, so
# the check stays strict and any new difference fails.
_ENDIVE = (
    "new in 2026-10-28.endive: declared by stripe-python 16.1.0 but absent from stripe-node's "
    "2026-07-29.dahlia types, so the older fixture lacks it"
)
_ACCOUNT_STUB = (
    "fixtures3 renders this expanded Account as a stub {id, object}; a real expanded Account "
    "carries charges_enabled, details_submitted, email, payouts_enabled, type (required in the spec)"
)
_ACCOUNT_STUB_FIELDS = ("charges_enabled", "details_submitted", "email", "payouts_enabled", "type")


def _stub(prefix: str) -> dict[str, str]:
    return {f"{prefix}.{f}: missing": _ACCOUNT_STUB for f in _ACCOUNT_STUB_FIELDS}


FIXTURE_EXCEPTIONS: dict[str, dict[str, str]] = {
    "checkout.session": {
        "allowed_payment_method_types: missing": _ENDIVE,
        "payment_method_options.sequra: missing": _ENDIVE,
    },
    "invoice": {
        "payment_settings.payment_method_options.billie: missing": _ENDIVE,
        "payment_settings.payment_method_options.blik: missing": _ENDIVE,
        "status_details: missing": _ENDIVE,
        "subscription: unknown": (
            "stale in the fixture: Invoice.subscription was removed in 2025-03-31.basil "
            "(now parent.subscription_details.subscription); the SDK no longer declares it"
        ),
    },
    "event": {
        "data.object.aggregate_usage: unknown": (
            "stale in the fixture: Plan.aggregate_usage was removed in 2025-03-31.basil; the "
            "example event (api_version null) embeds an old Plan"
        ),
    },
    "payment_link": {
        "subscription_data.invoice_settings.account_tax_ids: missing": _ENDIVE,
        "subscription_data.invoice_settings.custom_fields: missing": _ENDIVE,
        "subscription_data.invoice_settings.description: missing": _ENDIVE,
        "subscription_data.invoice_settings.footer: missing": _ENDIVE,
        **_stub("transfer_data.destination"),
    },
    "product": {"tax_details: missing": _ENDIVE},
    "dispute": {
        "evidence.appeal: missing": _ENDIVE,
        "evidence_details.submission_method: missing": _ENDIVE,
        "intended_submission_method: missing": _ENDIVE,
    },
    "charge": {
        "payment_method_details.card.electronic_commerce_indicator: missing": _ENDIVE,
        "payment_method_details.card.setup_credential_usage: missing": _ENDIVE,
        "payment_method_details.card.stored_credential_usage: missing": _ENDIVE,
        "payment_method_details.paypay: missing": _ENDIVE,
        "payment_method_details.sequra: missing": _ENDIVE,
        **_stub("transfer_data.destination"),
    },
    "payment_intent": {
        "payment_method_options.paypay: missing": _ENDIVE,
        "payment_method_options.sequra: missing": _ENDIVE,
        "payment_record: missing": _ENDIVE,
        **_stub("transfer_data.destination"),
    },
    "subscription": {
        "cancellation_details.feedback_option: missing": _ENDIVE,
        "items.data[0].current_trial: missing": _ENDIVE,
        "payment_settings.payment_method_options.billie: missing": _ENDIVE,
        "payment_settings.payment_method_options.blik: missing": _ENDIVE,
        "pending_update.cancel_at_period_end: missing": _ENDIVE,
        "status_details: missing": _ENDIVE,
        "trial_settings.end_behavior.billing_cycle_anchor: missing": _ENDIVE,
        **_stub("transfer_data.destination"),
    },
}


@pytest.mark.parametrize("kind", RELEVANT)
def test_stripe_fixture_conforms_except_documented_version_gaps(kind: str) -> None:
    problems = schema.validate_object(fixture(kind))
    assert _problem_keys(problems) == set(FIXTURE_EXCEPTIONS.get(kind, {})), "\n".join(problems)


# fixtures3 uses placeholder values for some enums ("status": "status"), and the envelope of
# line items inside an invoice; strict enum checks are exercised on those separately.
@pytest.mark.parametrize("kind", RELEVANT)
def test_stripe_fixture_enum_values_are_known(kind: str) -> None:
    problems = [p for p in schema.validate_object(fixture(kind)) if "is not one of" in p]
    expected = {"invoice_payment": {"status: 'status'"}}.get(kind, set())
    assert {p.split(" is not")[0] for p in problems} <= expected, problems


# --------------------------------------------------------------------------------------------
# each check fires
# --------------------------------------------------------------------------------------------


def test_flags_unknown_field() -> None:
    item = fixture("item")
    item["product_name"] = "T-shirt"
    assert schema.validate(item, stripe.LineItem) == [
        "product_name: unknown field (not declared on LineItem) = 'T-shirt'"
    ]


def test_flags_unknown_nested_field() -> None:
    session = fixture("checkout.session")
    session["customer_details"]["email_verified"] = True
    problems = schema.validate_object(session)
    assert any(p.startswith("customer_details.email_verified: unknown field") for p in problems)


def test_flags_missing_field_nullable_or_not() -> None:
    item = fixture("item")
    del item["amount_total"]  # int
    del item["description"]  # Optional[str]: nullable still means "always sent"
    problems = schema.validate(item, stripe.LineItem)
    assert _problem_keys(problems) == {"amount_total: missing", "description: missing"}


def test_flags_wrong_type() -> None:
    item = fixture("item")
    item["amount_total"] = "1000"
    assert schema.validate(item, stripe.LineItem) == ["amount_total: expected int, got str '1000'"]


def test_bool_is_not_an_int_and_int_is_not_a_bool() -> None:
    item = fixture("item")
    item["quantity"] = True
    item["price"]["active"] = 1
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {
        "quantity: expected",
        "price.active: expected",
    }


def test_flags_null_in_non_nullable_field() -> None:
    item = fixture("item")
    item["currency"] = None
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {"currency: null,"}


def test_flags_wrong_nested_type() -> None:
    item = fixture("item")
    item["price"]["recurring"]["interval_count"] = "1"
    invoice = fixture("invoice")
    invoice["lines"]["data"][0]["period"]["start"] = 1.5
    assert schema.validate(item, stripe.LineItem) == [
        "price.recurring.interval_count: expected int, got str '1'"
    ]
    assert schema.validate(invoice, stripe.Invoice, absent_ok=_endive_invoice_gaps()) == [
        "lines.data[0].period.start: expected int, got float 1.5",
        "subscription: unknown field (not declared on Invoice) = None",
    ]


def _endive_invoice_gaps() -> list[str]:
    return [
        "invoice:PaymentSettings.PaymentMethodOptions.billie",
        "invoice:PaymentSettings.PaymentMethodOptions.blik",
        "invoice:status_details",
    ]


def test_flags_wrong_object_discriminator() -> None:
    item = fixture("item")
    item["object"] = "line_item"
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {"object: expected"}


def test_decimal_fields_travel_as_decimal_strings() -> None:
    item = fixture("item")
    assert schema.validate(item, stripe.LineItem) == []
    item["price"]["unit_amount_decimal"] = "1000.125"
    assert schema.validate(item, stripe.LineItem) == []
    item["price"]["unit_amount_decimal"] = 1000
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {
        "price.unit_amount_decimal: expected"
    }
    item["price"]["unit_amount_decimal"] = "ten"
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {
        "price.unit_amount_decimal: expected"
    }


def test_enums_are_strict_by_default() -> None:
    session = fixture("checkout.session")
    session["status"] = "completed"  # Stripe says "complete"
    problems = schema.validate_object(session)
    assert "status: 'completed' is not one of the SDK's enum values" in "\n".join(problems)
    relaxed = schema.validate_object(session, strict_enums=False)
    assert not any(p.startswith("status:") for p in relaxed)
    session["status"] = 3
    assert any(p.startswith("status: expected") for p in schema.validate_object(session))


def test_expandable_field_is_an_id_or_a_valid_expanded_object() -> None:
    item = fixture("item")
    assert isinstance(item["price"]["product"], str)
    product = fixture("product")
    item["price"]["product"] = product
    assert schema.validate(item, stripe.LineItem) == [
        "price.product.tax_details: missing (Product.tax_details is declared as object "
        "Product.TaxDetails or null; Stripe always returns it)"
    ]
    product["tax_details"] = None
    assert schema.validate(item, stripe.LineItem) == []
    product["name"] = 7
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {"price.product.name: expected"}
    item["price"]["product"] = 42
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {"price.product: expected"}
    item["price"]["product"] = ""
    assert _problem_keys(schema.validate(item, stripe.LineItem)) == {"price.product: empty"}


def test_includable_fields_may_be_absent_but_are_validated_when_present() -> None:
    session = fixture("checkout.session")
    assert "line_items" not in session
    base = _problem_keys(schema.validate_object(session))
    good = fixture("item")
    session["line_items"] = {
        "object": "list",
        "data": [good],
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session['id']}/line_items",
    }
    assert _problem_keys(schema.validate_object(session)) == base
    bad = fixture("item")
    bad["amount_total"] = None
    session["line_items"]["data"].append(bad)
    assert _problem_keys(schema.validate_object(session)) - base == {
        "line_items.data[1].amount_total: null,"
    }


def test_polymorphic_members_may_be_absent() -> None:
    payment = fixture("invoice_payment")
    assert payment["payment"] == {"type": "payment_intent"}  # no payment_intent member at all
    assert schema.validate(payment, stripe.InvoicePayment, strict_enums=False) == []
    payment["payment"]["payment_intent"] = "pi_123"
    assert schema.validate(payment, stripe.InvoicePayment, strict_enums=False) == []
    payment["payment"]["payment_intent"] = 5
    assert _problem_keys(schema.validate(payment, stripe.InvoicePayment, strict_enums=False)) == {
        "payment.payment_intent: expected"
    }


def test_null_where_stripe_omits_is_reported() -> None:
    session = fixture("checkout.session")
    base = _problem_keys(schema.validate_object(session))
    session["total_details"]["breakdown"] = None  # `breakdown?: Breakdown`: omitted, never null
    session["branding_settings"] = None
    assert _problem_keys(schema.validate_object(session)) - base == {
        "total_details.breakdown: null,",
        "branding_settings: null,",
    }
    assert _problem_keys(schema.validate_object(session, strict_nulls=False)) == base


def test_list_envelope() -> None:
    envelope = {"object": "list", "data": [fixture("item")], "has_more": False, "url": "/v1/x"}
    assert schema.validate_list(envelope, stripe.LineItem) == []
    assert schema.validate_object(envelope) == []
    broken = {"object": "list", "data": [fixture("item")], "total_count": 1, "url": "x"}
    assert _problem_keys(schema.validate_list(broken, stripe.LineItem)) == {
        "has_more: missing",
        "total_count: unknown",
        "url: expected",
    }
    assert _problem_keys(schema.validate_list(envelope, stripe.LineItem, url="/v1/y")) == {
        "<root>.url: expected"
    }
    envelope["data"][0]["price"]["id"] = None
    assert _problem_keys(schema.validate_list(envelope, stripe.LineItem)) == {
        "data[0].price.id: null,"
    }


def test_error_body() -> None:
    good = {
        "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such customer: 'cus_x'",
            "param": "id",
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_x?t=1",
            "type": "invalid_request_error",
        }
    }
    assert schema.validate_error_body(good) == []
    assert schema.validate_error_body({"error": {"type": "api_error", "message": "x"}}) == []
    bad = copy.deepcopy(good)
    bad["error"]["status"] = 404
    bad["error"]["type"] = "not_found"
    bad["error"]["param"] = 1
    del bad["error"]["message"]
    assert _problem_keys(schema.validate_error_body(bad)) == {
        "error.status: unknown",
        "error.type: expected",
        "error.param: expected",
        "error.message: missing",
    }
    assert _problem_keys(schema.validate_error_body({"message": "x"})) == {
        "<root>: unknown",
        "<root>.error: missing",
    }


def test_event_data_object_is_validated_against_its_class() -> None:
    event = fixture("event")
    event["data"]["object"] = fixture("item")
    event["type"] = "checkout.session.completed"
    problems = schema.validate_event(event)
    assert (
        "data.object.object: a 'checkout.session.completed' event carries a 'checkout.session'"
        in ("\n".join(problems))
    )
    event["data"]["object"] = fixture("checkout.session")
    event["data"]["object"]["amount_total"] = "3000"
    assert "data.object.amount_total: expected int" in "\n".join(schema.validate_event(event))
    event["data"]["object"] = {"object": "checkout.session.v9", "id": "x"}
    assert "is not an object type known to stripe-python" in "\n".join(schema.validate_event(event))


def test_event_previous_attributes_must_name_fields_of_the_object() -> None:
    event = fixture("event")
    event["type"] = "product.updated"
    event["data"]["object"] = fixture("product")
    event["data"]["object"]["tax_details"] = None
    event["data"]["previous_attributes"] = {"name": "old"}
    assert schema.validate_event(event) == []
    event["data"]["previous_attributes"] = {"title": "old"}
    assert _problem_keys(schema.validate_event(event)) == {"data.previous_attributes.title: not"}


# --------------------------------------------------------------------------------------------
# pre-basil shapes
# --------------------------------------------------------------------------------------------


def legacy_invoice() -> dict[str, Any]:
    """A well-formed pre-basil invoice with one pre-basil line (built from the legacy shapes)."""
    line = schema.synthesize(
        legacy_shapes.LegacyInvoiceLineItem,
        overrides={
            "id": "il_1",
            "invoice": "in_1",
            "type": "subscription",
            "price": fixture("price"),
        },
    )
    invoice = schema.synthesize(legacy_shapes.LegacyInvoice, overrides={"id": "in_1"})
    invoice["subscription"] = "sub_1"
    invoice["paid"] = True
    invoice["lines"] = {
        "object": "list",
        "data": [line],
        "has_more": False,
        "url": "/v1/invoices/in_1/lines",
    }
    return invoice


def test_legacy_invoice_validates_against_legacy_shape_only() -> None:
    old = legacy_invoice()
    assert schema.validate_object(old, api_version="2024-06-20") == []
    problems = _problem_keys(schema.validate_object(old))  # as if it were current
    assert {"subscription: unknown", "paid: unknown", "parent: missing"} <= problems
    assert {"lines.data[0].price: unknown", "lines.data[0].pricing: missing"} <= problems


def test_current_invoice_is_not_a_legacy_invoice() -> None:
    new = fixture("invoice")
    problems = _problem_keys(schema.validate_object(new, api_version="2024-06-20"))
    assert {
        "parent: unknown",  # basil field
        "total_taxes: unknown",
        "paid: missing",
        "payment_intent: missing",
        "subscription_details: missing",
        "lines.data[0].parent: unknown",
        "lines.data[0].pricing: unknown",
        "lines.data[0].price: missing",
        "lines.data[0].type: missing",
    } <= problems


def test_legacy_objects_accept_additive_fields_but_not_basil_ones() -> None:
    old = legacy_invoice()
    old["customer_account"] = None  # added after acacia, additively: every version gets it
    old["automatic_tax"]["provider"] = None
    assert schema.validate_object(old, api_version="2024-06-20") == []
    old["customer_account"] = 5
    assert _problem_keys(schema.validate_object(old, api_version="2024-06-20")) == {
        "customer_account: expected"
    }
    old["customer_account"] = None
    old["lines"]["data"][0]["pricing"] = None
    assert _problem_keys(schema.validate_object(old, api_version="2024-06-20")) == {
        "lines.data[0].pricing: unknown"
    }


def test_event_data_object_uses_the_events_own_api_version() -> None:
    event = fixture("event")
    event["type"] = "invoice.paid"
    event["data"]["object"] = legacy_invoice()
    event["api_version"] = "2024-06-20"
    assert schema.validate_event(event) == []
    event["api_version"] = "2026-10-28.endive"
    assert "data.object.parent: missing" in "\n".join(schema.validate_event(event))
    event["api_version"] = "2025-02-24.acacia"
    assert schema.validate_event(event) == []
    assert legacy_shapes.is_pre_basil("2025-02-24.acacia")
    assert not legacy_shapes.is_pre_basil("2025-03-31.basil")
    assert not legacy_shapes.is_pre_basil(None)


def _parse_reference(text: str) -> dict[str, dict[str, str]]:
    """``section -> {dotted field path: annotation}`` from the pre-basil reference dump."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            title = re.split(r" \(| @", line[3:])[0].strip()
            current = sections.setdefault(title, {})
            continue
        m = re.match(r"^\s*([a-z_][\w.]*): (.+?)  -- ", line)
        if current is not None and m:
            current[m.group(1)] = m.group(2)
    return sections


@cache
def _legacy_annotations() -> dict[str, dict[str, str]]:
    """``qualname -> {field: annotation source}`` read from legacy_shapes.py."""
    tree = ast.parse(Path(legacy_shapes.__file__).read_text())
    out: dict[str, dict[str, str]] = {}

    def walk(node: ast.ClassDef, prefix: str) -> None:
        qual = f"{prefix}{node.name}"
        fields = out.setdefault(qual, {})
        for stmt in node.body:
            if isinstance(stmt, ast.ClassDef):
                walk(stmt, qual + ".")
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                fields[stmt.target.id] = ast.unparse(stmt.annotation)

    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            walk(node, "")
    return out


def _nested_class(cls: type, field: str) -> type:
    node: Any = schema.declared_fields(cls)[field].type
    while not isinstance(node, schema.ClassT):
        node = node.inner if isinstance(node, schema.NullableT) else node.item
    return node.cls


def _norm(annotation: str) -> str:
    """Quotes and spacing normalised; the ``Legacy`` prefix of renamed classes dropped."""
    return re.sub(r"\s+", "", annotation.replace('"', "'")).replace("'Legacy", "'")


@pytest.mark.parametrize(
    ("section", "cls"),
    [
        ("InvoiceLineItem", legacy_shapes.LegacyInvoiceLineItem),
        ("Invoice subset", legacy_shapes.LegacyInvoice),
        ("checkout.Session subset", legacy_shapes.LegacySession),
    ],
)
def test_legacy_shapes_match_the_pre_basil_reference(section: str, cls: type) -> None:
    reference = _parse_reference(PRE_BASIL_REFERENCE.read_text())[section]
    assert len(reference) > 10
    annotations = _legacy_annotations()
    for path, expected in reference.items():
        if path == "OBJECT_NAME":
            continue
        *parents, name = path.split(".")
        owner = cls
        for parent in parents:
            owner = _nested_class(owner, parent)
        got = annotations[owner.__qualname__].get(name)
        assert got is not None, f"{section}: {path} missing from legacy_shapes"
        assert _norm(got) == _norm(expected), f"{section}: {path}: {got} != {expected}"
    if section == "InvoiceLineItem":  # complete there: nothing extra at top level
        top = {p for p in reference if "." not in p and p != "OBJECT_NAME"}
        assert top == set(schema.declared_fields(cls))


# --------------------------------------------------------------------------------------------
# the machinery
# --------------------------------------------------------------------------------------------


def test_object_to_class_mapping() -> None:
    assert schema.OBJECT_TO_CLASS["checkout.session"] is stripe.checkout.Session
    assert schema.OBJECT_TO_CLASS["item"] is stripe.LineItem
    assert schema.OBJECT_TO_CLASS["line_item"] is stripe.InvoiceLineItem
    assert schema.OBJECT_TO_CLASS["invoice"] is stripe.Invoice
    assert schema.OBJECT_TO_CLASS["invoice_payment"] is stripe.InvoicePayment
    assert schema.OBJECT_TO_CLASS["event"] is stripe.Event
    assert schema.OBJECT_TO_CLASS["list"] is ListObject
    assert schema.class_for_object("nope") is None
    for kind in RELEVANT:
        assert schema.class_for_object(kind) is not None, kind
    assert legacy_shapes.legacy_class_for("invoice", "2024-06-20") is legacy_shapes.LegacyInvoice
    assert legacy_shapes.legacy_class_for("invoice", "2026-10-28.endive") is None


def _reachable(roots: list[type]) -> set[type]:
    seen: set[type] = set()
    todo = list(roots)
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for spec in schema.declared_fields(cls).values():
            todo.extend(_classes_in(spec.type))
    return seen


def _classes_in(node: Any) -> list[type]:
    if isinstance(node, schema.ClassT):
        return [node.cls]
    if isinstance(node, schema.NullableT | schema.ExpandableT):
        return _classes_in(node.inner if isinstance(node, schema.NullableT) else node.target)
    if isinstance(node, schema.ListT | schema.EnvelopeT):
        return _classes_in(node.item)
    if isinstance(node, schema.MapT):
        return _classes_in(node.value)
    if isinstance(node, schema.UnionT):
        return [c for o in node.options for c in _classes_in(o)]
    return []


def test_every_annotation_reachable_from_the_relevant_objects_resolves() -> None:
    roots = [schema.OBJECT_TO_CLASS[k] for k in RELEVANT]
    roots += list(legacy_shapes.LEGACY_CLASSES.values())
    classes = _reachable(roots)  # raises on an unresolvable forward reference
    assert len(classes) > 500
    # forward references resolved to the intended classes, not to same-named nested classes
    assert _classes_in(schema.declared_fields(stripe.LineItem.Discount)["discount"].type) == [
        stripe.Discount
    ]
    assert _classes_in(schema.declared_fields(stripe.LineItem)["price"].type) == [stripe.Price]
    lines = schema.declared_fields(legacy_shapes.LegacyInvoice)["lines"].type
    assert _classes_in(lines) == [legacy_shapes.LegacyInvoiceLineItem]


def test_field_keys_and_absence_reasons() -> None:
    assert schema.field_key(stripe.checkout.Session, "line_items") == "checkout.session:line_items"
    key = schema.field_key(stripe.InvoicePayment.Payment, "charge")
    assert key == "invoice_payment:Payment.charge"
    assert schema.absence_reason(stripe.checkout.Session, "line_items") is not None
    assert schema.absence_reason(stripe.InvoicePayment.Payment, "charge") is not None
    assert schema.absence_reason(stripe.checkout.Session, "customer_details") is None
    assert schema.absence_reason(stripe.Invoice, "payments") is not None
    assert schema.absence_reason(legacy_shapes.LegacyInvoice, "subscription") is None
    assert schema.absence_reason(stripe.Invoice.Parent, "quote_details") is None  # sent as null


def test_includable_fields_are_spec_optional() -> None:
    table = schema.spec_optional()
    for key in schema.INCLUDABLE:
        assert key in table, key


def test_synthesize_builds_valid_objects() -> None:
    for kind in RELEVANT:
        cls = schema.OBJECT_TO_CLASS[kind]
        assert schema.validate(schema.synthesize(cls), cls) == [], kind
