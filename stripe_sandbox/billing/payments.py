"""PaymentIntents and their charges, refunds and disputes, with their balance transactions."""

from __future__ import annotations

from .. import balance
from .. import records as r
from ..errors import invalid
from .context import DELAYED_METHODS, Ctx


def start_payment(
    ctx: Ctx, amount: int, currency: str, cus: r.Customer | None, email: str | None,
    name: str | None, method_type: str, description: str | None, invoice: str | None = None,
) -> r.PaymentIntent:
    store = ctx.store
    delayed = method_type in DELAYED_METHODS
    pm_id = ctx.new_id("pm")
    pi = r.PaymentIntent(
        **ctx.base("pi"), amount=amount, currency=currency,
        status="processing" if delayed else "requires_confirmation",
        customer=cus.id if cus else None, payment_method=pm_id,
        payment_method_types=(method_type,), description=description, receipt_email=email,
        invoice=invoice,
    )
    charge = r.Charge(
        **ctx.base("py" if delayed else "ch"), amount=amount, currency=currency,
        status="pending" if delayed else "succeeded", payment_intent=pi.id,
        customer=pi.customer, payment_method=pm_id, method_type=method_type,
        billing_email=email, billing_name=name, receipt_email=email, description=description,
        invoice=invoice, balance_transaction=None if delayed else ctx.new_id("txn"),
    )
    pi.latest_charge = charge.id
    store.insert(pi, customer=pi.customer)
    store.insert(charge, customer=charge.customer, payment_intent=pi.id)
    if delayed:
        ctx.emit("payment_intent.processing", pi)
        ctx.emit("charge.pending", charge)
    return pi


def succeed_payment(ctx: Ctx, pi: r.PaymentIntent) -> r.PaymentIntent:
    store = ctx.store
    charge = store.charges[pi.latest_charge]  # type: ignore[index]
    if charge.status != "succeeded" or charge.balance_transaction is None:
        charge = store.update(charge, status="succeeded", balance_transaction=ctx.new_id("txn"))
    balance.record_charge(ctx, charge)
    pi = store.update(pi, status="succeeded", amount_received=pi.amount)
    ctx.emit("charge.succeeded", charge)
    ctx.emit("payment_intent.succeeded", pi)
    return pi


def fail_payment(ctx: Ctx, pi: r.PaymentIntent) -> r.PaymentIntent:
    store = ctx.store
    charge = store.charges[pi.latest_charge]  # type: ignore[index]
    if charge.method_type in DELAYED_METHODS and charge.balance_transaction is None:
        charge = balance.record_payment_failure(ctx, charge)
    charge = store.update(
        charge, status="failed", failure_code="insufficient_funds",
        failure_message="The customer's account has insufficient funds to cover this payment.",
    )
    pi = store.update(pi, status="requires_payment_method")
    ctx.emit("charge.failed", charge)
    ctx.emit("payment_intent.payment_failed", pi)
    return pi


def create_payment(
    ctx: Ctx, amount: int, currency: str, customer: r.Customer | None = None,
    email: str | None = None, description: str | None = None, method_type: str = "card",
) -> r.PaymentIntent:
    """A PaymentIntent confirmed directly (e.g. through Elements), with no Checkout Session."""
    pi = start_payment(ctx, amount, currency, customer, email, customer.name if customer else None,
                        method_type, description)
    return succeed_payment(ctx, pi) if method_type not in DELAYED_METHODS else pi


def create_refund(
    ctx: Ctx, charge: r.Charge, amount: int | None = None, reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> r.Refund:
    store = ctx.store
    charge = store.charges[charge.id]
    remaining = charge.amount - charge.amount_refunded
    if charge.status != "succeeded":
        raise invalid(f"Charge {charge.id} has not succeeded; it cannot be refunded.", "charge")
    if remaining <= 0:
        raise invalid(
            f"Charge {charge.id} has already been refunded.", None, "charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount <= 0:
        raise invalid("Invalid positive integer", "amount", "parameter_invalid_integer")
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            "amount", "amount_too_large",
        )
    pending = charge.method_type in DELAYED_METHODS
    refund = r.Refund(
        **ctx.base("re"), amount=amount, currency=charge.currency, charge=charge.id,
        payment_intent=charge.payment_intent, status="pending" if pending else "succeeded",
        reason=reason, metadata=dict(metadata or {}),
        balance_transaction=ctx.new_id("txn"),
    )
    store.insert(refund, charge=charge.id, payment_intent=charge.payment_intent)
    balance.record_refund(ctx, refund, charge)
    prev = {"amount_refunded": charge.amount_refunded, "refunded": charge.refunded}
    charge = store.update(charge, amount_refunded=charge.amount_refunded + amount)
    ctx.emit("refund.created", refund)
    ctx.emit("charge.refunded", charge, prev)
    if pending:
        refund = store.update(refund, status="succeeded")
        ctx.emit("refund.updated", refund, {"status": "pending"})
        ctx.emit("charge.refund.updated", refund, {"status": "pending"})
    return refund


def create_dispute(ctx: Ctx, charge: r.Charge, reason: str = "fraudulent",
                   amount: int | None = None) -> r.Dispute:
    store = ctx.store
    charge = store.charges[charge.id]
    if charge.disputed:
        raise invalid(f"Charge {charge.id} is already disputed.", "charge")
    dispute = r.Dispute(
        **ctx.base("dp"), amount=charge.amount - charge.amount_refunded if amount is None else amount,
        currency=charge.currency, charge=charge.id, payment_intent=charge.payment_intent,
        reason=reason,
    )
    store.insert(dispute, charge=charge.id, payment_intent=charge.payment_intent)
    store.update(charge, disputed=True)
    balance.record_dispute(ctx, dispute)
    ctx.emit("charge.dispute.created", dispute)
    ctx.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(ctx: Ctx, dispute: r.Dispute, won: bool) -> r.Dispute:
    dispute = ctx.store.disputes[dispute.id]
    if dispute.status in ("won", "lost"):
        raise invalid(f"Dispute {dispute.id} is already closed.", None)
    prev = {"status": dispute.status}
    dispute = ctx.store.update(dispute, status="won" if won else "lost")
    if won:
        balance.record_dispute_won(ctx, dispute)
        ctx.emit("charge.dispute.funds_reinstated", dispute)
    ctx.emit("charge.dispute.closed", dispute, prev)
    return dispute


