"""Compact internal records, one class per Stripe object.

Records are treated as immutable: a state change stores a modified copy (see
``Store.update``), so an event can keep a reference to the version it was emitted with
instead of a rendered snapshot. Prices, line items and amounts are ids and integers;
rendering to Stripe JSON happens in :mod:`render`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

Meta = dict[str, str]
# A checkout/payment-link line: (price id, quantity, description).
Line = tuple[str, int, str]
# Shipping/customer address: (line1, line2, city, state, postal_code, country).
Address = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


@dataclass(slots=True)
class Record:
    KIND: ClassVar[str] = ""
    id: str
    created: int
    live: bool
    account: str | None
    seq: int = 0

    def evolve(self, **changes: Any) -> Any:
        new = _copier(type(self))(self)
        for key, value in changes.items():
            setattr(new, key, value)
        return new


_COPIERS: dict[type, Callable[[Any], Any]] = {}


def _copier(cls: type) -> Callable[[Any], Any]:
    """A compiled shallow copy for a slots dataclass: much cheaper than copy.copy, which
    introspects the object on every call."""
    fn = _COPIERS.get(cls)
    if fn is None:
        names = [f.name for f in fields(cls)]
        body = "".join(f"    new.{n} = old.{n}\n" for n in names)
        scope: dict[str, Any] = {"new_of": object.__new__, "cls": cls}
        exec(f"def copy(old):\n    new = new_of(cls)\n{body}    return new\n", scope)
        fn = _COPIERS[cls] = scope["copy"]
    return fn


@dataclass(slots=True)
class Product(Record):
    KIND: ClassVar[str] = "product"
    name: str = ""
    description: str | None = None
    active: bool = True
    default_price: str | None = None
    metadata: Meta = field(default_factory=dict)
    updated: int = 0
    type: str = "service"
    url: str | None = None
    images: tuple[str, ...] = ()


@dataclass(slots=True)
class Price(Record):
    KIND: ClassVar[str] = "price"
    product: str = ""
    currency: str = "usd"
    unit_amount: int | None = 0
    interval: str | None = None
    interval_count: int = 1
    active: bool = True
    nickname: str | None = None
    lookup_key: str | None = None
    metadata: Meta = field(default_factory=dict)
    tax_behavior: str = "unspecified"

    @property
    def type(self) -> str:
        return "recurring" if self.interval else "one_time"


@dataclass(slots=True)
class Customer(Record):
    KIND: ClassVar[str] = "customer"
    email: str | None = None
    name: str | None = None
    description: str | None = None
    phone: str | None = None
    metadata: Meta = field(default_factory=dict)
    address: Address | None = None
    test_clock: str | None = None
    invoice_prefix: str = ""
    next_invoice_sequence: int = 1


@dataclass(slots=True)
class PaymentLink(Record):
    KIND: ClassVar[str] = "payment_link"
    lines: tuple[Line, ...] = ()
    currency: str = "usd"
    active: bool = True
    url: str = ""
    customer_creation: str = "if_required"
    invoice_creation: bool = False
    metadata: Meta = field(default_factory=dict)


@dataclass(slots=True)
class Session(Record):
    KIND: ClassVar[str] = "checkout.session"
    expires_at: int = 0
    mode: str = "payment"
    status: str = "open"
    payment_status: str = "unpaid"
    currency: str | None = "usd"
    amount_subtotal: int | None = 0
    amount_total: int | None = 0
    lines: tuple[Line, ...] = ()
    customer: str | None = None
    customer_email: str | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    address: Address | None = None
    shipping: tuple[str, Address] | None = None
    payment_intent: str | None = None
    setup_intent: str | None = None
    subscription: str | None = None
    invoice: str | None = None
    payment_link: str | None = None
    client_reference_id: str | None = None
    metadata: Meta = field(default_factory=dict)
    customer_creation: str | None = None
    invoice_creation: bool = False
    success_url: str | None = None
    cancel_url: str | None = None
    payment_method_types: tuple[str, ...] = ("card",)
    ui_mode: str = "hosted_page"
    submit_type: str | None = None
    locale: str | None = None


@dataclass(slots=True)
class PaymentIntent(Record):
    KIND: ClassVar[str] = "payment_intent"
    amount: int = 0
    amount_received: int = 0
    currency: str = "usd"
    status: str = "requires_payment_method"
    customer: str | None = None
    latest_charge: str | None = None
    payment_method: str | None = None
    payment_method_types: tuple[str, ...] = ("card",)
    description: str | None = None
    receipt_email: str | None = None
    invoice: str | None = None
    metadata: Meta = field(default_factory=dict)
    canceled_at: int | None = None


@dataclass(slots=True)
class Charge(Record):
    KIND: ClassVar[str] = "charge"
    amount: int = 0
    amount_refunded: int = 0
    currency: str = "usd"
    status: str = "succeeded"
    payment_intent: str | None = None
    customer: str | None = None
    payment_method: str | None = None
    method_type: str = "card"
    billing_email: str | None = None
    billing_name: str | None = None
    receipt_email: str | None = None
    description: str | None = None
    invoice: str | None = None
    disputed: bool = False
    failure_code: str | None = None
    failure_message: str | None = None
    balance_transaction: str | None = None
    metadata: Meta = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        return self.status == "succeeded"

    @property
    def refunded(self) -> bool:
        return self.amount_refunded >= self.amount > 0


@dataclass(slots=True)
class Refund(Record):
    KIND: ClassVar[str] = "refund"
    amount: int = 0
    currency: str = "usd"
    charge: str | None = None
    payment_intent: str | None = None
    status: str = "succeeded"
    reason: str | None = None
    metadata: Meta = field(default_factory=dict)
    balance_transaction: str | None = None


@dataclass(slots=True)
class Dispute(Record):
    KIND: ClassVar[str] = "dispute"
    amount: int = 0
    currency: str = "usd"
    charge: str = ""
    payment_intent: str | None = None
    status: str = "needs_response"
    reason: str = "fraudulent"
    metadata: Meta = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class InvoiceLine:
    """One invoice line. ``kind`` is the pre-basil ``line.type``."""

    kind: str
    amount: int
    quantity: int
    description: str | None
    period_start: int
    period_end: int
    price: str | None = None
    product: str | None = None
    subscription: str | None = None
    subscription_item: str | None = None
    invoice_item: str | None = None


@dataclass(slots=True)
class Invoice(Record):
    KIND: ClassVar[str] = "invoice"
    customer: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    status: str = "draft"
    billing_reason: str = "manual"
    collection_method: str = "charge_automatically"
    currency: str = "usd"
    lines: tuple[InvoiceLine, ...] = ()
    amount_paid: int = 0
    subscription: str | None = None
    payment_intent: str | None = None
    charge: str | None = None
    payments: tuple[str, ...] = ()
    number: str | None = None
    description: str | None = None
    period_start: int = 0
    period_end: int = 0
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    paid_out_of_band: bool = False
    auto_advance: bool = False
    due_date: int | None = None
    metadata: Meta = field(default_factory=dict)
    test_clock: str | None = None

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(slots=True)
class InvoiceItem(Record):
    KIND: ClassVar[str] = "invoiceitem"
    customer: str = ""
    amount: int = 0
    currency: str = "usd"
    description: str | None = None
    price: str | None = None
    product: str | None = None
    quantity: int = 1
    invoice: str | None = None
    subscription: str | None = None
    period_start: int = 0
    period_end: int = 0
    metadata: Meta = field(default_factory=dict)


@dataclass(slots=True)
class InvoicePayment(Record):
    KIND: ClassVar[str] = "invoice_payment"
    invoice: str = ""
    amount_requested: int = 0
    amount_paid: int | None = None
    currency: str = "usd"
    payment_intent: str | None = None
    status: str = "open"
    paid_at: int | None = None


@dataclass(slots=True)
class Subscription(Record):
    KIND: ClassVar[str] = "subscription"
    customer: str = ""
    status: str = "active"
    # (subscription item id, price id, quantity, created)
    items: tuple[tuple[str, str, int, int], ...] = ()
    currency: str = "usd"
    current_period_start: int = 0
    current_period_end: int = 0
    latest_invoice: str | None = None
    start_date: int = 0
    cancel_at_period_end: bool = False
    canceled_at: int | None = None
    ended_at: int | None = None
    collection_method: str = "charge_automatically"
    default_payment_method: str | None = None
    description: str | None = None
    metadata: Meta = field(default_factory=dict)
    test_clock: str | None = None


@dataclass(slots=True)
class PaymentFailureRefund(Refund):
    """The ``pyr_`` refund Stripe makes when a delayed payment (ACH, SEPA) fails: a balance
    transaction's source, never listed under ``/v1/refunds``."""

    KIND: ClassVar[str] = "payment_failure_refund"


@dataclass(slots=True)
class BalanceTransaction(Record):
    """Money in or out of the balance; ``source`` is the object it comes from (None for
    Stripe's own fees). ``amount`` and ``fee`` are minor units, ``net`` is their difference."""

    KIND: ClassVar[str] = "balance_transaction"
    amount: int = 0
    fee: int = 0
    currency: str = "usd"
    type: str = "charge"
    reporting_category: str = "charge"
    source: str | None = None
    description: str | None = None
    available_on: int = 0
    fee_type: str = "stripe_fee"

    @property
    def net(self) -> int:
        return self.amount - self.fee


@dataclass(slots=True)
class ReportRun(Record):
    """A report run: ``pending`` until the sandbox's runner succeeds or fails it."""

    KIND: ClassVar[str] = "reporting.report_run"
    report_type: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    error: str | None = None
    result: str | None = None
    succeeded_at: int | None = None


@dataclass(slots=True)
class File(Record):
    """A file Stripe made (a report run's result); ``data`` is what ``.../contents`` serves."""

    KIND: ClassVar[str] = "file"
    purpose: str = "finance_report_run"
    filename: str = ""
    title: str | None = None
    type: str = "csv"
    data: bytes = b""
    expires_at: int | None = None


@dataclass(slots=True)
class Event(Record):
    KIND: ClassVar[str] = "event"
    type: str = ""
    obj: Record | None = None
    previous: dict[str, Any] | None = None
    api_version: str = ""
    request_id: str | None = None


@dataclass(slots=True)
class WebhookEndpoint(Record):
    """Where the sandbox delivers events: ``enabled_events`` of its mode (and of Connect
    accounts when ``connect``), rendered at ``api_version``, signed with ``secret``."""

    KIND: ClassVar[str] = "webhook_endpoint"
    url: str = ""
    enabled_events: tuple[str, ...] = ()
    api_version: str | None = None
    secret: str = ""
    connect: bool = False
    description: str | None = None
    metadata: Meta = field(default_factory=dict)
    status: str = "enabled"


KINDS: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        Product, Price, Customer, PaymentLink, Session, PaymentIntent, Charge, Refund, Dispute,
        Invoice, InvoiceItem, InvoicePayment, Subscription, Event, WebhookEndpoint,
        PaymentFailureRefund,
        BalanceTransaction, ReportRun, File,
    )
}
