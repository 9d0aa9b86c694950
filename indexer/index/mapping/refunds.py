"""Refunds and disputes to rows, and the split of a refunded amount over a payment's lines.

A refund or dispute names a payment, not a line; ``allocate_refund`` is how the index spreads
it over the purchase rows of that payment.
"""

from __future__ import annotations

from indexer.index.mapping.fields import (
    account_of,
    dig,
    expand_id,
    int_field,
    livemode_of,
    str_field,
    stripe_object,
)
from indexer.index.mapping.rows import DisputeRow, MappingError, RefundRow


def refund_row(refund: dict, *, account: str = "", livemode: bool | None = None) -> RefundRow:
    """A Refund. Stripe's Refund object has no ``livemode``: it is taken from the object when a
    sandbox adds it, else from an expanded charge or PaymentIntent, else from ``livemode=``
    (the event's, or the API key's mode). Guessing would mix test and live data, so it raises."""
    refund = stripe_object(refund, "refund")
    candidates = [refund.get("livemode"), livemode]
    candidates += [dig(refund, key, "livemode") for key in ("charge", "payment_intent")]
    mode = next((value for value in candidates if isinstance(value, bool)), None)
    if mode is None:
        raise MappingError(f"refund {refund['id']}: livemode unknown; pass livemode=")
    return RefundRow(
        id=refund["id"],
        account=account_of(account),
        livemode=mode,
        charge=expand_id(refund.get("charge")),
        payment_intent=expand_id(refund.get("payment_intent")),
        amount=int_field(refund, "amount"),
        currency=str_field(refund, "currency") or "",
        status=str_field(refund, "status") or "",
        created=int_field(refund, "created"),
    )


def dispute_row(dispute: dict, *, account: str = "") -> DisputeRow:
    dispute = stripe_object(dispute, "dispute")
    return DisputeRow(
        id=dispute["id"],
        account=account_of(account),
        livemode=livemode_of(dispute),
        charge=expand_id(dispute.get("charge")),
        payment_intent=expand_id(dispute.get("payment_intent")),
        amount=int_field(dispute, "amount"),
        currency=str_field(dispute, "currency") or "",
        status=str_field(dispute, "status") or "",
        reason=str_field(dispute, "reason"),
        created=int_field(dispute, "created"),
    )


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
