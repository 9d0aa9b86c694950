"""Pure mapping from Stripe objects (plain dicts, as JSON) to index rows.

Webhooks, event catch-up and backfill all call these functions, so one purchase always
gives the same rows whichever way it arrived. Nothing here does I/O or reads the clock.

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

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "DisputeRow",
    "MappingError",
    "ProductRow",
    "PurchaseRow",
    "PurchaseSource",
    "RefundRow",
    "allocate_refund",
    "dispute_row",
    "expand_id",
    "guest_key",
    "invoice_needs_payments_lookup",
    "invoice_payment_intent",
    "invoice_purchase",
    "invoice_subscription",
    "is_purchase_session",
    "line_price",
    "line_product",
    "line_subscription",
    "product_row",
    "refund_row",
    "session_purchase",
]

PAID_SESSION_STATUSES = ("paid", "no_payment_required")


class MappingError(ValueError):
    """The object given is not the Stripe object the function maps (or is malformed)."""


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    account: str
    livemode: bool
    source_type: str
    source_id: str
    line_item_id: str
    product_id: str | None
    price_id: str | None
    customer_id: str | None
    email: str | None
    customer_key: str
    name: str | None
    description: str | None
    quantity: int
    currency: str
    amount_subtotal: int
    amount_total: int
    purchased_at: int
    payment_intent: str | None
    invoice: str | None
    subscription: str | None
    payment_link: str | None
    checkout_session: str | None


@dataclass(frozen=True, slots=True)
class PurchaseSource:
    """Everything one source object says; the db layer replaces that source's rows with ``rows``.

    ``payment_key`` names the payment so that a subscription (or ``invoice_creation``) Checkout
    Session and the invoice it created, which describe one payment, are counted once.
    """

    account: str
    livemode: bool
    source_type: str
    source_id: str
    payment_key: str
    invoice: str | None
    is_purchase: bool
    rows: tuple[PurchaseRow, ...]


@dataclass(frozen=True, slots=True)
class RefundRow:
    id: str
    account: str
    livemode: bool
    charge: str | None
    payment_intent: str | None
    amount: int
    currency: str
    status: str
    created: int


@dataclass(frozen=True, slots=True)
class DisputeRow:
    id: str
    account: str
    livemode: bool
    charge: str | None
    payment_intent: str | None
    amount: int
    currency: str
    status: str
    reason: str | None
    created: int


@dataclass(frozen=True, slots=True)
class ProductRow:
    id: str
    account: str
    livemode: bool
    name: str
    active: bool
    updated: int
    deleted: bool = False


# --- small readers that fail with a MappingError instead of a KeyError ---------------------


def _obj(value: Any, expected: str) -> dict[str, Any]:
    """Check that ``value`` is a dict of Stripe type ``expected`` with an id.

    A missing ``object`` key is tolerated (hand-built dicts); a different one is an error, which
    catches passing an event instead of its ``data.object``.
    """
    if not isinstance(value, dict):
        hint = " (convert a StripeObject with to_dict())" if hasattr(value, "to_dict") else ""
        raise MappingError(f"expected a {expected} dict, got {type(value).__name__}{hint}")
    kind = value.get("object")
    if kind is not None and kind != expected:
        raise MappingError(f"expected object {expected!r}, got {kind!r} (id {value.get('id')!r})")
    if not isinstance(value.get("id"), str) or not value["id"]:
        raise MappingError(f"{expected} has no id")
    return value


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _int(obj: Any, key: str, default: int | None = None) -> int:
    if not isinstance(obj, dict):
        raise MappingError(f"expected an object with {key!r}, got {obj!r:.80}")
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise MappingError(
            f"{obj.get('object', 'object')} {obj.get('id')}: {key} is not an integer"
        )
    return value


def _str(obj: Any, key: str) -> str | None:
    value = _dig(obj, key)
    return value if isinstance(value, str) and value else None


def _livemode(obj: dict[str, Any]) -> bool:
    value = obj.get("livemode")
    if not isinstance(value, bool):
        raise MappingError(f"{obj.get('object', 'object')} {obj.get('id')}: livemode is missing")
    return value


def _account(account: str | None) -> str:
    """``""`` (or None, as ``event.account`` is for the platform) or an ``acct_`` id."""
    if not account:
        return ""
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise MappingError(f"account must be '' or 'acct_...', got {account!r}")
    return account


def expand_id(value: Any) -> str | None:
    """The id of an expandable field: an id string, an expanded object, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    raise MappingError(f"expected an id or an expanded object, got {value!r:.80}")


def guest_key(email: str) -> str:
    """Stable key of a guest buyer: emails compare case-insensitively, as the contract says."""
    return "guest_" + hashlib.sha256(email.lower().encode()).hexdigest()[:24]


def _customer_key(customer_id: str | None, email: str | None, source_id: str) -> str:
    if customer_id:
        return customer_id
    if email:
        return guest_key(email)
    return "anon_" + source_id


def _unique_by_id(items: Iterable[Any], expected: str) -> list[dict[str, Any]]:
    """Drop repeated ids, keeping the first.

    A caller may join an event's embedded first page (rendered at the event's API version) with
    pages fetched later at the SDK's version, so one line can arrive twice in two shapes.
    """
    if isinstance(items, (dict, str)):
        raise MappingError(f"expected a list of {expected} objects, got {type(items).__name__}")
    seen: set[str] = set()
    out = []
    for item in items:
        item = _obj(item, expected)
        if item["id"] not in seen:
            seen.add(item["id"])
            out.append(item)
    return out


# --- Checkout Sessions ---------------------------------------------------------------------


def is_purchase_session(session: dict) -> bool:
    """Complete and paid (or free). ``complete`` alone is not paid: delayed methods stay
    ``unpaid`` until ``async_payment_succeeded``, and stay so for good when they fail."""
    session = _obj(session, "checkout.session")
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
    session = _obj(session, "checkout.session")
    account = _account(account)
    source_id = session["id"]
    livemode = _livemode(session)
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
    items = _unique_by_id(line_items, "item")
    if not items and _dig(session, "line_items", "data"):
        raise MappingError(f"checkout.session {source_id}: line items exist but none were given")

    customer_id = expand_id(session.get("customer"))
    details = session.get("customer_details") or {}
    email = _str(details, "email")
    customer_key = _customer_key(customer_id, email, source_id)
    created = _int(session, "created")
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
                product_id=expand_id(_dig(price, "product")),
                price_id=expand_id(price),
                customer_id=customer_id,
                email=email,
                customer_key=customer_key,
                name=_str(details, "name"),
                description=_str(item, "description"),
                quantity=_int(item, "quantity", 1),
                currency=_str(item, "currency") or _str(session, "currency") or "",
                amount_subtotal=_int(item, "amount_subtotal"),
                amount_total=_int(item, "amount_total"),
                purchased_at=created,
                payment_intent=payment_intent,
                invoice=invoice,
                subscription=subscription,
                payment_link=payment_link,
                checkout_session=source_id,
            )
        )
    return replace(source, rows=tuple(rows))


# --- Invoices ------------------------------------------------------------------------------


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
    invoice = _obj(invoice, "invoice")
    old = expand_id(invoice.get("payment_intent"))
    if old or _is_old_invoice(invoice):
        return old
    payments = _dig(invoice, "payments", "data") or []
    paid = [p for p in payments if isinstance(p, dict) and p.get("status") == "paid"]
    paid.sort(key=lambda p: not p.get("is_default"))
    for payment in paid:
        pi = expand_id(_dig(payment, "payment", "payment_intent"))
        if pi:
            return pi
    return None


def invoice_needs_payments_lookup(invoice: dict) -> bool:
    """True when a paid new-shape invoice does not say its PaymentIntent: ``payments`` is not
    expanded, or its first page has no paid PaymentIntent and more pages exist. The caller then
    lists ``/v1/invoice_payments?invoice=...``. An unpaid invoice never needs it (no rows)."""
    invoice = _obj(invoice, "invoice")
    if invoice.get("status") != "paid" or _is_old_invoice(invoice) or invoice.get("payment_intent"):
        return False
    payments = invoice.get("payments")
    if not isinstance(payments, dict) or not isinstance(payments.get("data"), list):
        return True
    return invoice_payment_intent(invoice) is None and bool(payments.get("has_more"))


def invoice_subscription(invoice: dict) -> str | None:
    """``invoice.subscription`` (old) or ``parent.subscription_details.subscription`` (new)."""
    invoice = _obj(invoice, "invoice")
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
            value = _dig(parent, candidate, key)
            if value:
                return value
    return None


def line_price(line: dict) -> str | None:
    """``line.price`` (old: a full Price) or ``line.pricing.price_details.price`` (new: an id,
    expandable since clover)."""
    line = _obj(line, "line_item")
    new = _dig(line, "pricing", "price_details", "price")
    if new:
        return expand_id(new)
    return expand_id(line.get("price")) or expand_id(_dig(line, "plan", "id"))


def line_product(line: dict) -> str | None:
    """The catalog product of an invoice line, or None for an amount-only invoice item."""
    line = _obj(line, "line_item")
    new = _dig(line, "pricing", "price_details", "product")
    if new:
        return expand_id(new)
    return expand_id(_dig(line, "price", "product")) or expand_id(_dig(line, "plan", "product"))


def line_subscription(line: dict) -> str | None:
    """``line.parent.*_details.subscription`` (new), else the deprecated ``line.subscription``."""
    line = _obj(line, "line_item")
    new = _parent_details(
        line.get("parent"), "subscription_item_details", "invoice_item_details", "subscription"
    )
    return expand_id(new) or expand_id(line.get("subscription"))


def _line_total(line: dict) -> int:
    """What the buyer paid for the line; see the module docstring."""
    total = _int(line, "amount")
    for discount in line.get("discount_amounts") or ():
        total -= _int(discount, "amount")
    for credit in line.get("pretax_credit_amounts") or ():
        if _dig(credit, "type") == "credit_balance_transaction":
            total -= _int(credit, "amount")
    for tax in line.get("taxes") or ():
        if _dig(tax, "tax_behavior") == "exclusive":
            total += _int(tax, "amount")
    for tax in line.get("tax_amounts") or ():
        if _dig(tax, "inclusive") is False:
            total += _int(tax, "amount")
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
    invoice = _obj(invoice, "invoice")
    account = _account(account)
    source_id = invoice["id"]
    livemode = _livemode(invoice)
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
    items = _unique_by_id(lines, "line_item")
    if not items and _dig(invoice, "lines", "data"):
        raise MappingError(f"invoice {source_id}: lines exist but none were given")

    customer_id = expand_id(invoice.get("customer"))
    email = _str(invoice, "customer_email")
    customer_key = _customer_key(customer_id, email, source_id)
    paid_at = _dig(invoice, "status_transitions", "paid_at")
    purchased_at = paid_at if isinstance(paid_at, int) else _int(invoice, "created")
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
                name=_str(invoice, "customer_name"),
                description=_str(line, "description"),
                quantity=_int(line, "quantity", 1),
                currency=_str(line, "currency") or _str(invoice, "currency") or "",
                amount_subtotal=_int(line, "amount"),
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


# --- Refunds, disputes, products -----------------------------------------------------------


def refund_row(refund: dict, *, account: str = "", livemode: bool | None = None) -> RefundRow:
    """A Refund. Stripe's Refund object has no ``livemode``: it is taken from the object when a
    sandbox adds it, else from an expanded charge or PaymentIntent, else from ``livemode=``
    (the event's, or the API key's mode). Guessing would mix test and live data, so it raises."""
    refund = _obj(refund, "refund")
    candidates = [refund.get("livemode"), livemode]
    candidates += [_dig(refund, key, "livemode") for key in ("charge", "payment_intent")]
    mode = next((value for value in candidates if isinstance(value, bool)), None)
    if mode is None:
        raise MappingError(f"refund {refund['id']}: livemode unknown; pass livemode=")
    return RefundRow(
        id=refund["id"],
        account=_account(account),
        livemode=mode,
        charge=expand_id(refund.get("charge")),
        payment_intent=expand_id(refund.get("payment_intent")),
        amount=_int(refund, "amount"),
        currency=_str(refund, "currency") or "",
        status=_str(refund, "status") or "",
        created=_int(refund, "created"),
    )


def dispute_row(dispute: dict, *, account: str = "") -> DisputeRow:
    dispute = _obj(dispute, "dispute")
    return DisputeRow(
        id=dispute["id"],
        account=_account(account),
        livemode=_livemode(dispute),
        charge=expand_id(dispute.get("charge")),
        payment_intent=expand_id(dispute.get("payment_intent")),
        amount=_int(dispute, "amount"),
        currency=_str(dispute, "currency") or "",
        status=_str(dispute, "status") or "",
        reason=_str(dispute, "reason"),
        created=_int(dispute, "created"),
    )


def product_row(product: dict, *, account: str = "", deleted: bool = False) -> ProductRow:
    """A Product; ``deleted`` (or the object's own ``deleted: true``) keeps it, marked deleted,
    so that past purchases keep their product name."""
    product = _obj(product, "product")
    deleted = deleted or product.get("deleted") is True
    return ProductRow(
        id=product["id"],
        account=_account(account),
        livemode=_livemode(product),
        name=_str(product, "name") or "",
        active=product.get("active") is True and not deleted,
        updated=_int(product, "updated", _int(product, "created", 0)),
        deleted=deleted,
    )


# --- Refund allocation ---------------------------------------------------------------------


def allocate_refund(amount_refunded: int, line_totals: list[int]) -> list[int]:
    """Split a payment-level refunded amount over its line rows, in proportion to their totals.

    Largest-remainder rounding, ties to the earlier line: the shares are integers, each between
    0 and its line's total, summing to exactly ``min(amount_refunded, sum(line_totals))``.
    Negative lines (credit prorations) take no share; they already lowered what was paid.
    """
    weights = [max(total, 0) for total in line_totals]
    target = max(0, min(amount_refunded, sum(line_totals)))
    whole = sum(weights)
    if target == 0 or whole == 0:
        return [0] * len(line_totals)
    shares = [target * weight // whole for weight in weights]
    remainders = [target * weight % whole for weight in weights]
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[: target - sum(shares)]:
        shares[i] += 1
    return shares
