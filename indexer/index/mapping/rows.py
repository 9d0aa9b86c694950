"""The rows the mapping gives, and the one error it raises.

Frozen dataclasses, one per index table, so that the db layer (``indexer.index.writes``) can
write them without knowing any Stripe shape.
"""

from __future__ import annotations

from dataclasses import dataclass


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

