"""The balance: a balance transaction for every movement of money, as Stripe books it.

:mod:`billing` calls these as charges succeed, refunds are made, disputes open and close and a
delayed payment fails, so the balance always agrees with the charges, refunds and disputes the
store holds; the seed generator adds Stripe's monthly fees. The reporting category follows the
type, as in Stripe's reporting-categories table: ``charge``/``payment`` -> ``charge``,
``refund``/``payment_refund`` -> ``refund``, ``payment_failure_refund`` -> ``charge_failure``,
``adjustment`` -> ``dispute``/``dispute_reversal``, ``stripe_fee`` -> ``fee``, ``tax_fee`` ->
``tax``. Ids the store did not already hand out are derived from the source (``child_id``), so
recording the balance never shifts the ids of a seeded history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import records as r
from .ids import child_id

if TYPE_CHECKING:
    from .billing import Ctx

DAY = 86400
DELAYED_METHODS = {"sepa_debit", "us_bank_account", "bacs_debit", "acss_debit"}
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}
#: Stripe's dispute fee, in minor units of the dispute's currency (15.00 in two-decimal ones).
DISPUTE_FEE = 1500


def processing_fee(amount: int, currency: str, method_type: str) -> int:
    """A plausible Stripe fee: 2.9% + 0.30 on cards, 0.8% capped at 5.00 on bank debits
    (minor units; zero-decimal currencies pay the percentage only)."""
    if method_type in DELAYED_METHODS:
        return min(round(amount * 0.008), 500 if currency not in ZERO_DECIMAL else 700)
    fixed = 0 if currency in ZERO_DECIMAL else 30
    return round(amount * 0.029) + fixed


def available_on(created: int, days: int) -> int:
    """The midnight (UTC) ``days`` after ``created``: when the funds become available."""
    return (created // DAY + days) * DAY


def _insert(ctx: Ctx, bt: r.BalanceTransaction) -> r.BalanceTransaction:
    """Book ``bt`` once: a transaction already booked under its id stays as it was."""
    booked = ctx.store.balance_transactions.get(bt.id)
    if booked is not None:
        return booked
    ctx.store.insert(bt, source=bt.source, type=bt.type)
    return bt


def record_charge(ctx: Ctx, charge: r.Charge, created: int | None = None) -> r.BalanceTransaction:
    """The charge's own transaction (``charge.balance_transaction``), once it has succeeded,
    or, for a delayed method, once it is submitted."""
    assert charge.balance_transaction is not None
    delayed = charge.method_type in DELAYED_METHODS
    when = ctx.now if created is None else created
    return _insert(ctx, r.BalanceTransaction(
        id=charge.balance_transaction, created=when, live=charge.live, account=charge.account,
        amount=charge.amount, fee=processing_fee(charge.amount, charge.currency, charge.method_type),
        currency=charge.currency, type="payment" if charge.id.startswith("py_") else "charge",
        reporting_category="charge", source=charge.id, description=charge.description,
        available_on=available_on(when, 7 if delayed else 2),
    ))


def record_refund(ctx: Ctx, refund: r.Refund, charge: r.Charge) -> r.BalanceTransaction:
    assert refund.balance_transaction is not None
    said = f" ({charge.description})" if charge.description else ""
    return _insert(ctx, r.BalanceTransaction(
        id=refund.balance_transaction, created=ctx.now, live=refund.live, account=refund.account,
        amount=-refund.amount, fee=0, currency=refund.currency,
        type="payment_refund" if charge.id.startswith("py_") else "refund",
        reporting_category="refund", source=refund.id, description=f"REFUND FOR CHARGE{said}",
        available_on=ctx.now,
    ))


def record_dispute(ctx: Ctx, dispute: r.Dispute) -> r.BalanceTransaction:
    """Funds withdrawn: the disputed amount, and the dispute fee on top."""
    return _insert(ctx, r.BalanceTransaction(
        id=child_id("txn", dispute.id, 0), created=ctx.now, live=dispute.live,
        account=dispute.account, amount=-dispute.amount, fee=DISPUTE_FEE,
        currency=dispute.currency, type="adjustment", reporting_category="dispute",
        source=dispute.id, description=f"Chargeback withdrawal for {dispute.charge}",
        available_on=ctx.now, fee_type="stripe_fee",
    ))


def record_dispute_won(ctx: Ctx, dispute: r.Dispute) -> r.BalanceTransaction:
    """Funds reinstated: the disputed amount and the fee come back."""
    return _insert(ctx, r.BalanceTransaction(
        id=child_id("txn", dispute.id, 1), created=ctx.now, live=dispute.live,
        account=dispute.account, amount=dispute.amount, fee=-DISPUTE_FEE,
        currency=dispute.currency, type="adjustment", reporting_category="dispute_reversal",
        source=dispute.id, description=f"Chargeback reversal for {dispute.charge}",
        available_on=ctx.now,
    ))


def record_payment_failure(ctx: Ctx, charge: r.Charge) -> r.Charge:
    """A delayed payment that failed: it had been booked when submitted, and Stripe books it
    back with a ``pyr_`` refund. Returns the charge with its ``balance_transaction`` set."""
    store = ctx.store
    txn = child_id("txn", charge.id, 0)
    charge = store.update(charge, balance_transaction=txn)
    booked = record_charge(ctx, charge, created=charge.created)
    pyr = r.PaymentFailureRefund(
        id=child_id("pyr", charge.id, 0), created=ctx.now, live=charge.live,
        account=charge.account, amount=charge.amount, currency=charge.currency,
        charge=charge.id, payment_intent=charge.payment_intent, status="succeeded",
        balance_transaction=child_id("txn", charge.id, 1),
    )
    store.insert(pyr)
    _insert(ctx, r.BalanceTransaction(
        id=pyr.balance_transaction or "", created=ctx.now, live=charge.live,
        account=charge.account, amount=-charge.amount, fee=-booked.fee, currency=charge.currency,
        type="payment_failure_refund", reporting_category="charge_failure", source=pyr.id,
        description="Payment failure refund", available_on=ctx.now,
    ))
    return charge


def record_stripe_fee(ctx: Ctx, key: str, amount: int, currency: str, description: str, *,
                      tax: bool = False) -> r.BalanceTransaction:
    """One of Stripe's own fees (``stripe_fee``, or ``tax_fee`` with ``tax``): money out, no
    source. ``key`` names it, so that the same fee is never booked twice."""
    return _insert(ctx, r.BalanceTransaction(
        id=child_id("txn", f"{key}:{ctx.live}:{ctx.account}", 0), created=ctx.now,
        live=ctx.live, account=ctx.account, amount=-amount, fee=0, currency=currency,
        type="tax_fee" if tax else "stripe_fee", reporting_category="tax" if tax else "fee",
        source=None, description=description, available_on=ctx.now,
    ))
