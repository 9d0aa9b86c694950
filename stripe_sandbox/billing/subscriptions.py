"""Subscriptions: the first invoice, renewals each period, cancellation."""

from __future__ import annotations

from collections.abc import Sequence

from .. import records as r
from ..errors import StripeError, invalid
from .context import Ctx, add_interval
from .invoices import create_invoice, finalize_invoice, mark_invoice_paid, pay_invoice
from .payments import start_payment, succeed_payment


def _sub_lines(ctx: Ctx, sub: r.Subscription, start: int, end: int) -> list[r.InvoiceLine]:
    lines = []
    for si_id, price_id, quantity, _ in sub.items:
        price = ctx.store.prices[price_id]
        product = ctx.store.products[price.product]
        lines.append(r.InvoiceLine(
            kind="subscription", amount=(price.unit_amount or 0) * quantity, quantity=quantity,
            description=f"{quantity} × {product.name} (at {_money(price)} / {price.interval})",
            period_start=start, period_end=end, price=price_id, product=price.product,
            subscription=sub.id, subscription_item=si_id,
        ))
    return lines


def _money(price: r.Price) -> str:
    amount = price.unit_amount or 0
    if price.currency in ZERO_DECIMAL:
        return f"{amount} {price.currency.upper()}"
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(price.currency, "")
    return f"{symbol}{amount / 100:.2f}" if symbol else f"{amount / 100:.2f} {price.currency.upper()}"


ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xaf", "xof", "bif", "djf", "gnf",
                "kmf", "mga", "rwf", "vuv", "xpf"}


def create_subscription(
    ctx: Ctx, customer: r.Customer, items: Sequence[tuple[r.Price, int]],
    extra_lines: Sequence[r.Line] = (), method_type: str = "card", delayed: bool = False,
    metadata: dict[str, str] | None = None, billing_reason: str = "subscription_create",
    pi_first: bool = False,
) -> tuple[r.Subscription, r.Invoice]:
    """A new subscription and its first invoice (paid unless ``delayed``)."""
    store = ctx.store
    if not items:
        raise invalid("Missing required param: items.", "items", "parameter_missing")
    first = items[0][0]
    end = add_interval(ctx.now, first.interval or "month", first.interval_count)
    sub = r.Subscription(
        **ctx.base("sub"), customer=customer.id, status="incomplete" if delayed else "active",
        items=tuple((store.new_id("si"), p.id, q, ctx.now) for p, q in items),
        currency=first.currency, current_period_start=ctx.now, current_period_end=end,
        start_date=ctx.now, default_payment_method=None, metadata=dict(metadata or {}),
        test_clock=customer.test_clock,
    )
    lines = _sub_lines(ctx, sub, ctx.now, end)
    for price_id, quantity, description in extra_lines:
        price = store.prices[price_id]
        lines.append(r.InvoiceLine(
            kind="invoiceitem", amount=(price.unit_amount or 0) * quantity, quantity=quantity,
            description=description, period_start=ctx.now, period_end=ctx.now, price=price_id,
            product=price.product, subscription=sub.id, invoice_item=ctx.new_id("ii"),
        ))
    if pi_first:
        # Basil-era Checkout: the payment is taken before the subscription and invoice exist.
        total = sum(ln.amount for ln in lines)
        pre_pi = start_payment(ctx, total, sub.currency, customer, customer.email,
                                customer.name, method_type, "Subscription creation")
        if not delayed:
            pre_pi = succeed_payment(ctx, pre_pi)
    store.insert(sub, customer=customer.id, test_clock=customer.test_clock)
    ctx.emit("customer.subscription.created", sub)
    inv = create_invoice(ctx, customer, billing_reason=billing_reason, subscription=sub.id,
                         lines=lines, currency=sub.currency, period=(ctx.now, ctx.now))
    if pi_first:
        inv = finalize_with(ctx, inv, pre_pi)
        if not delayed:
            inv = mark_invoice_paid(ctx, inv, pre_pi)
    else:
        inv = finalize_invoice(ctx, inv, method_type)
        if not delayed and inv.status != "paid":
            inv = pay_invoice(ctx, inv)
    sub = store.update(store.subscriptions[sub.id], latest_invoice=inv.id)
    return sub, inv


def finalize_with(ctx: Ctx, inv: r.Invoice, pi: r.PaymentIntent) -> r.Invoice:
    store = ctx.store
    cus = store.customers[inv.customer]  # type: ignore[index]
    number = f"{cus.invoice_prefix}-{cus.next_invoice_sequence:04d}"
    store.update(cus, next_invoice_sequence=cus.next_invoice_sequence + 1)
    pay = r.InvoicePayment(
        **ctx.base("inpay"), invoice=inv.id, amount_requested=inv.total, currency=inv.currency,
        payment_intent=pi.id, status="open",
    )
    store.insert(pay, invoice=inv.id, payment_intent=pi.id)
    store.update(pi, invoice=inv.id)
    store.update(store.charges[pi.latest_charge], invoice=inv.id)  # type: ignore[index]
    inv = store.update(inv, status="open", number=number, finalized_at=ctx.now,
                       payment_intent=pi.id, charge=pi.latest_charge, payments=(pay.id,))
    ctx.emit("invoice.finalized", inv)
    return inv


def subscribe_from_session(
    ctx: Ctx, sess: r.Session, cus: r.Customer, method_type: str, delayed: bool
) -> tuple[r.Subscription, r.Invoice]:
    store = ctx.store
    recurring = [(store.prices[p], q) for p, q, _ in sess.lines if store.prices[p].interval]
    one_time = [line for line in sess.lines if not store.prices[line[0]].interval]
    return create_subscription(ctx, cus, recurring, one_time, method_type, delayed,
                               metadata=None, pi_first=True)


def advance_subscription(ctx: Ctx, sub: r.Subscription) -> r.Invoice:
    """Moves a subscription into its next period: a new, paid ``subscription_cycle`` invoice."""
    store = ctx.store
    sub = store.subscriptions[sub.id]
    if sub.status not in ("active", "past_due", "trialing"):
        raise invalid(f"Subscription {sub.id} is {sub.status}; it cannot be advanced.", None)
    first = store.prices[sub.items[0][1]]
    start = sub.current_period_end
    end = add_interval(start, first.interval or "month", first.interval_count)
    prev = {"current_period_start": sub.current_period_start,
            "current_period_end": sub.current_period_end, "latest_invoice": sub.latest_invoice}
    sub = store.update(sub, current_period_start=start, current_period_end=end)
    cus = store.customers[sub.customer]
    inv = create_invoice(ctx, cus, billing_reason="subscription_cycle", subscription=sub.id,
                         lines=_sub_lines(ctx, sub, start, end), currency=sub.currency,
                         period=(prev["current_period_start"], start))
    inv = finalize_invoice(ctx, inv)
    if inv.status != "paid":
        inv = pay_invoice(ctx, inv)
    sub = store.update(store.subscriptions[sub.id], latest_invoice=inv.id)
    ctx.emit("customer.subscription.updated", sub, prev)
    return inv


def cancel_subscription(ctx: Ctx, sub: r.Subscription) -> r.Subscription:
    sub = ctx.store.subscriptions[sub.id]
    if sub.status == "canceled":
        raise StripeError(400, f"Subscription {sub.id} is already canceled.")
    sub = ctx.store.update(sub, status="canceled", canceled_at=ctx.now, ended_at=ctx.now)
    ctx.emit("customer.subscription.deleted", sub)
    return sub
