"""Checkout Sessions to purchase rows.

A session's amounts are Stripe's own per item (``amount_subtotal``, ``amount_total``); the
buyer is what the buyer typed, never the merchant's prefill.
"""

from __future__ import annotations

from dataclasses import replace

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
from indexer.index.mapping.rows import PurchaseRow, PurchaseSource

PAID_SESSION_STATUSES = ("paid", "no_payment_required")


def is_purchase_session(session: dict) -> bool:
    """Complete and paid (or free). ``complete`` alone is not paid: delayed methods stay
    ``unpaid`` until ``async_payment_succeeded``, and stay so for good when they fail."""
    session = stripe_object(session, "checkout.session")
    return (
        session.get("status") == "complete"
        and session.get("payment_status") in PAID_SESSION_STATUSES
    )


def session_purchase(session: dict, line_items: list[dict], *, account: str = "") -> PurchaseSource:
    """Rows of a Checkout Session; ``line_items`` are all its items (they never come in events).

    The buyer is ``customer_details`` (what the buyer typed, or the Customer's details), never
    ``customer_email``, which is only the prefill the merchant passed when creating the session.
    ``purchased_at`` is ``created``: a session records no completion time. Line items are not
    read when the session is no purchase, so a caller may pass ``[]`` then.
    """
    session = stripe_object(session, "checkout.session")
    account = account_of(account)
    source_id = session["id"]
    livemode = livemode_of(session)
    invoice = expand_id(session.get("invoice"))
    payment_intent = expand_id(session.get("payment_intent"))
    is_purchase = is_purchase_session(session)
    source = PurchaseSource(
        account=account,
        livemode=livemode,
        source_type="checkout.session",
        source_id=source_id,
        payment_key=invoice or payment_intent or source_id,
        invoice=invoice,
        is_purchase=is_purchase,
        rows=(),
    )
    if not is_purchase:
        return source
    items = purchase_items(source, line_items, "item", dig(session, "line_items", "data"), "line items")

    customer_id = expand_id(session.get("customer"))
    details = session.get("customer_details") or {}
    email = str_field(details, "email")
    customer_key = buyer_key(customer_id, email, source_id)
    created = int_field(session, "created")
    subscription = expand_id(session.get("subscription"))
    payment_link = expand_id(session.get("payment_link"))
    rows = []
    for item in items:
        price = item.get("price")
        rows.append(
            PurchaseRow(
                account=account,
                livemode=livemode,
                source_type="checkout.session",
                source_id=source_id,
                line_item_id=item["id"],
                product_id=expand_id(dig(price, "product")),
                price_id=expand_id(price),
                customer_id=customer_id,
                email=email,
                customer_key=customer_key,
                name=str_field(details, "name"),
                description=str_field(item, "description"),
                quantity=int_field(item, "quantity", 1),
                currency=str_field(item, "currency") or str_field(session, "currency") or "",
                amount_subtotal=int_field(item, "amount_subtotal"),
                amount_total=int_field(item, "amount_total"),
                purchased_at=created,
                payment_intent=payment_intent,
                invoice=invoice,
                subscription=subscription,
                payment_link=payment_link,
                checkout_session=source_id,
            )
        )
    return replace(source, rows=tuple(rows))


