"""Invoices to purchase rows, in both of Stripe's invoice shapes.

Two invoice shapes are understood, and may be mixed within one invoice's lines:

* before 2025-03-31.basil: ``invoice.subscription``, ``invoice.payment_intent``,
  ``line.price`` (a full Price), ``line.subscription``, ``line.tax_amounts``;
* basil and later: ``invoice.parent.subscription_details``, ``invoice.payments`` (only when
  expanded), ``line.pricing.price_details``, ``line.parent.*_details``, ``line.taxes``.

Amounts are integers in minor units. A row's ``amount_total`` is what the buyer paid for the
line after discounts and taxes, for both sources:

* session item: Stripe's own ``amount_total``;
* invoice line: ``amount`` minus its ``discount_amounts`` (which already carry the line's share
  of invoice-level discounts) minus pretax credits from credit grants, plus exclusive taxes
  (inclusive taxes are already inside ``amount``). The lines of an invoice thus add up to
  ``invoice.total``; a customer balance applied to the payment is not spread over lines.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from indexer.index.mapping.fields import (
    account_of,
    buyer_key,
    dig,
    expand_id,
    int_field,
    livemode_of,
    purchase_items,
    str_field,
    stripe_object,
)
from indexer.index.mapping.rows import MappingError, PurchaseRow, PurchaseSource


def _is_old_invoice(invoice: dict) -> bool:
    """Pre-basil invoices always carry the ``payment_intent`` key (null when there is none) and
    never ``parent``, which basil and later always render (null when there is none)."""
    return "payment_intent" in invoice and "parent" not in invoice


def invoice_payment_intent(invoice: dict) -> str | None:
    """The PaymentIntent that paid the invoice, when the object says it.

    Old shape: ``invoice.payment_intent``. New shape: the expanded ``payments`` list, taking a
    ``paid`` payment, the default one first. None for out-of-band payments, PI-less charges,
    or when ``payments`` was not expanded (see ``invoice_needs_payments_lookup``).
    """
    invoice = stripe_object(invoice, "invoice")
    old = expand_id(invoice.get("payment_intent"))
    if old or _is_old_invoice(invoice):
        return old
    payments = dig(invoice, "payments", "data") or []
    paid = [p for p in payments if isinstance(p, dict) and p.get("status") == "paid"]
    paid.sort(key=lambda p: not p.get("is_default"))
    for payment in paid:
        pi = expand_id(dig(payment, "payment", "payment_intent"))
        if pi:
            return pi
    return None


def invoice_needs_payments_lookup(invoice: dict) -> bool:
    """True when a paid new-shape invoice does not say its PaymentIntent: ``payments`` is not
    expanded, or its first page has no paid PaymentIntent and more pages exist. The caller then
    lists ``/v1/invoice_payments?invoice=...``. An unpaid invoice never needs it (no rows)."""
    invoice = stripe_object(invoice, "invoice")
    if invoice.get("status") != "paid" or _is_old_invoice(invoice) or invoice.get("payment_intent"):
        return False
    payments = invoice.get("payments")
    if not isinstance(payments, dict) or not isinstance(payments.get("data"), list):
        return True
    return invoice_payment_intent(invoice) is None and bool(payments.get("has_more"))


def invoice_subscription(invoice: dict) -> str | None:
    """``invoice.subscription`` (old) or ``parent.subscription_details.subscription`` (new)."""
    invoice = stripe_object(invoice, "invoice")
    old = expand_id(invoice.get("subscription"))
    if old:
        return old
    return expand_id(_parent_details(invoice.get("parent"), "subscription_details", "subscription"))


def _parent_details(parent: Any, *kinds_then_key: str) -> Any:
    """Read ``key`` from the first of ``kinds`` that ``parent`` holds.

    When ``parent.type`` is set only that kind is read: other kinds may be present but stale.
    """
    *kinds, key = kinds_then_key
    if not isinstance(parent, dict):
        return None
    kind = parent.get("type")
    for candidate in kinds:
        if kind is None or kind == candidate:
            value = dig(parent, candidate, key)
            if value:
                return value
    return None


def line_price(line: dict) -> str | None:
    """``line.price`` (old: a full Price) or ``line.pricing.price_details.price`` (new: an id,
    expandable since clover)."""
    line = stripe_object(line, "line_item")
    new = dig(line, "pricing", "price_details", "price")
    if new:
        return expand_id(new)
    return expand_id(line.get("price")) or expand_id(dig(line, "plan", "id"))


def line_product(line: dict) -> str | None:
    """The catalog product of an invoice line, or None for an amount-only invoice item."""
    line = stripe_object(line, "line_item")
    new = dig(line, "pricing", "price_details", "product")
    if new:
        return expand_id(new)
    return expand_id(dig(line, "price", "product")) or expand_id(dig(line, "plan", "product"))


def line_subscription(line: dict) -> str | None:
    """``line.parent.*_details.subscription`` (new), else the deprecated ``line.subscription``."""
    line = stripe_object(line, "line_item")
    new = _parent_details(
        line.get("parent"), "subscription_item_details", "invoice_item_details", "subscription"
    )
    return expand_id(new) or expand_id(line.get("subscription"))


def _line_total(line: dict) -> int:
    """What the buyer paid for the line; see the module docstring."""
    total = int_field(line, "amount")
    for discount in line.get("discount_amounts") or ():
        total -= int_field(discount, "amount")
    for credit in line.get("pretax_credit_amounts") or ():
        if dig(credit, "type") == "credit_balance_transaction":
            total -= int_field(credit, "amount")
    for tax in line.get("taxes") or ():
        if dig(tax, "tax_behavior") == "exclusive":
            total += int_field(tax, "amount")
    for tax in line.get("tax_amounts") or ():
        if dig(tax, "inclusive") is False:
            total += int_field(tax, "amount")
    return total


def invoice_purchase(
    invoice: dict,
    lines: list[dict],
    *,
    account: str = "",
    payment_intent: str | None = None,
) -> PurchaseSource:
    """Rows of an invoice; ``lines`` are all its lines (past ``lines.has_more``), in any shape.

    Counts when ``status == "paid"``, which includes invoices marked paid out of band. The buyer
    is the invoice's snapshot (``customer_email``, ``customer_name``) as frozen at finalization.
    ``payment_intent`` is the caller's answer for new-shape invoices (from ``invoice_payments``);
    otherwise it is read from the invoice. ``purchased_at`` is ``status_transitions.paid_at``.
    Lines are not read when the invoice is no purchase.
    """
    invoice = stripe_object(invoice, "invoice")
    account = account_of(account)
    source_id = invoice["id"]
    livemode = livemode_of(invoice)
    is_purchase = invoice.get("status") == "paid"
    source = PurchaseSource(
        account=account,
        livemode=livemode,
        source_type="invoice",
        source_id=source_id,
        payment_key=source_id,
        invoice=source_id,
        is_purchase=is_purchase,
        rows=(),
    )
    if not is_purchase:
        return source
    items = purchase_items(source, lines, "line_item", dig(invoice, "lines", "data"), "lines")

    customer_id = expand_id(invoice.get("customer"))
    email = str_field(invoice, "customer_email")
    customer_key = buyer_key(customer_id, email, source_id)
    paid_at = dig(invoice, "status_transitions", "paid_at")
    purchased_at = paid_at if isinstance(paid_at, int) else int_field(invoice, "created")
    payment_intent = payment_intent or invoice_payment_intent(invoice)
    subscription = invoice_subscription(invoice)
    rows = []
    for line in items:
        if line.get("invoice") not in (None, source_id):
            raise MappingError(f"line {line['id']} belongs to {line['invoice']}, not {source_id}")
        rows.append(
            PurchaseRow(
                account=account,
                livemode=livemode,
                source_type="invoice",
                source_id=source_id,
                line_item_id=line["id"],
                product_id=line_product(line),
                price_id=line_price(line),
                customer_id=customer_id,
                email=email,
                customer_key=customer_key,
                name=str_field(invoice, "customer_name"),
                description=str_field(line, "description"),
                quantity=int_field(line, "quantity", 1),
                currency=str_field(line, "currency") or str_field(invoice, "currency") or "",
                amount_subtotal=int_field(line, "amount"),
                amount_total=_line_total(line),
                purchased_at=purchased_at,
                payment_intent=payment_intent,
                invoice=source_id,
                subscription=line_subscription(line) or subscription,
                payment_link=None,
                checkout_session=None,
            )
        )
    return replace(source, rows=tuple(rows))


