"""Invoice items and invoices: drafting, finalizing, paying (also out of band)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import records as r
from ..errors import invalid
from .context import Ctx
from .payments import start_payment, succeed_payment


def create_invoice_item(
    ctx: Ctx, customer: r.Customer, *, amount: int | None = None, currency: str | None = None,
    price: r.Price | None = None, quantity: int = 1, description: str | None = None,
    invoice: r.Invoice | None = None, subscription: str | None = None,
    metadata: dict[str, str] | None = None,
) -> r.InvoiceItem:
    if price is not None:
        amount = (price.unit_amount or 0) * quantity
        currency = price.currency
        if description is None:
            description = ctx.store.products[price.product].name
    if amount is None or currency is None:
        raise invalid("You must specify either `amount` and `currency`, or `price`.", "amount")
    item = r.InvoiceItem(
        **ctx.base("ii"), customer=customer.id, amount=amount, currency=currency.lower(),
        description=description, price=price.id if price else None,
        product=price.product if price else None, quantity=quantity,
        invoice=invoice.id if invoice else None, subscription=subscription,
        period_start=ctx.now, period_end=ctx.now, metadata=dict(metadata or {}),
    )
    ctx.store.insert(item, customer=customer.id, pending=customer.id if invoice is None else None)
    ctx.emit("invoiceitem.created", item)
    if invoice is not None:
        _attach_items(ctx, ctx.store.invoices[invoice.id], [item])
    return item


def _item_line(item: r.InvoiceItem) -> r.InvoiceLine:
    return r.InvoiceLine(
        kind="invoiceitem", amount=item.amount, quantity=item.quantity,
        description=item.description, period_start=item.period_start,
        period_end=item.period_end, price=item.price, product=item.product,
        subscription=item.subscription, invoice_item=item.id,
    )


def _attach_items(ctx: Ctx, inv: r.Invoice, items: Sequence[r.InvoiceItem]) -> r.Invoice:
    store = ctx.store
    for item in items:
        store.update(item, invoice=inv.id)
    lines = inv.lines + tuple(_item_line(store.invoice_items[i.id]) for i in items)
    return store.update(inv, lines=lines)


def create_invoice(
    ctx: Ctx, customer: r.Customer, *, include_pending: bool = False,
    billing_reason: str = "manual", subscription: str | None = None,
    lines: Sequence[r.InvoiceLine] = (), currency: str | None = None,
    description: str | None = None, collection_method: str = "charge_automatically",
    auto_advance: bool | None = None, metadata: dict[str, str] | None = None,
    period: tuple[int, int] | None = None,
) -> r.Invoice:
    store = ctx.store
    pending: list[r.InvoiceItem] = []
    if include_pending:
        pending = [
            i for i in store.invoice_items.values()
            if i.customer == customer.id and i.invoice is None and i.live == ctx.live
            and i.account == ctx.account
        ]
        pending.sort(key=lambda i: i.seq)
    currency = currency or (pending[0].currency if pending else None)
    if currency is None:
        price_id = next((ln.price for ln in lines if ln.price), None)
        currency = store.prices[price_id].currency if price_id else "usd"
    start, end = period or (ctx.now, ctx.now)
    inv = r.Invoice(
        **ctx.base("in"), customer=customer.id, customer_email=customer.email,
        customer_name=customer.name, status="draft", billing_reason=billing_reason,
        collection_method=collection_method, currency=currency, lines=tuple(lines),
        subscription=subscription, description=description, period_start=start,
        period_end=end, auto_advance=bool(auto_advance if auto_advance is not None
                                          else subscription is not None),
        metadata=dict(metadata or {}), test_clock=customer.test_clock,
        due_date=ctx.now + 30 * 86400 if collection_method == "send_invoice" else None,
    )
    store.insert(inv, customer=customer.id, subscription=subscription,
                 test_clock=customer.test_clock)
    if pending:
        inv = _attach_items(ctx, inv, pending)
    ctx.emit("invoice.created", inv)
    return inv


def finalize_invoice(ctx: Ctx, inv: r.Invoice, method_type: str = "card") -> r.Invoice:
    store = ctx.store
    inv = store.invoices[inv.id]
    if inv.status != "draft":
        raise invalid(f"This invoice is already finalized (status: {inv.status}).", None,
                      "invoice_not_editable")
    cus = store.customers[inv.customer] if inv.customer else None
    if cus is not None:
        number = f"{cus.invoice_prefix}-{cus.next_invoice_sequence:04d}"
        store.update(cus, next_invoice_sequence=cus.next_invoice_sequence + 1)
    else:
        number = None
    changes: dict[str, Any] = {
        "status": "open", "number": number, "finalized_at": ctx.now,
        "customer_email": cus.email if cus else None, "customer_name": cus.name if cus else None,
    }
    if inv.total > 0 and inv.collection_method == "charge_automatically":
        pi = start_payment(ctx, inv.total, inv.currency, cus, cus.email if cus else None,
                            cus.name if cus else None, method_type,
                            f"Subscription {'creation' if inv.billing_reason == 'subscription_create' else 'update'}"
                            if inv.subscription else "Payment for Invoice", invoice=inv.id)
        pay = r.InvoicePayment(
            **ctx.base("inpay"), invoice=inv.id, amount_requested=inv.total,
            currency=inv.currency, payment_intent=pi.id, status="open",
        )
        store.insert(pay, invoice=inv.id, payment_intent=pi.id)
        changes.update(payment_intent=pi.id, charge=pi.latest_charge, payments=(pay.id,))
    inv = store.update(inv, **changes)
    ctx.emit("invoice.finalized", inv)
    if inv.total == 0:
        inv = store.update(inv, status="paid", paid_at=ctx.now)
        ctx.emit("invoice.paid", inv)
        ctx.emit("invoice.payment_succeeded", inv)
    return inv


def mark_invoice_paid(ctx: Ctx, inv: r.Invoice, pi: r.PaymentIntent | None) -> r.Invoice:
    store = ctx.store
    inv = store.invoices[inv.id]
    inv = store.update(inv, status="paid", amount_paid=inv.total, paid_at=ctx.now,
                       paid_out_of_band=pi is None)
    for pay_id in inv.payments:
        pay = store.update(store.invoice_payments[pay_id], status="paid",
                           amount_paid=inv.total, paid_at=ctx.now)
        ctx.emit("invoice_payment.paid", pay)
    ctx.emit("invoice.paid", inv)
    if pi is not None:
        ctx.emit("invoice.payment_succeeded", inv)
    if inv.subscription:
        sub = store.subscriptions[inv.subscription]
        store.update(sub, latest_invoice=inv.id)
    return inv


def pay_invoice(ctx: Ctx, inv: r.Invoice, paid_out_of_band: bool = False) -> r.Invoice:
    store = ctx.store
    inv = store.invoices[inv.id]
    if inv.status == "draft":
        inv = finalize_invoice(ctx, inv)
    if inv.status == "paid":
        raise invalid("Invoice is already paid.")
    if inv.status != "open":
        raise invalid(f"You cannot pay an invoice with status {inv.status}.", None)
    if paid_out_of_band:
        for pay_id in inv.payments:
            pay = store.invoice_payments[pay_id]
            store.update(pay, status="canceled")
            if pay.payment_intent:
                pi = store.payment_intents[pay.payment_intent]
                store.update(pi, status="canceled", canceled_at=ctx.now)
        inv = store.update(inv, payments=(), payment_intent=None, charge=None)
        return mark_invoice_paid(ctx, inv, None)
    pi = store.payment_intents[inv.payment_intent] if inv.payment_intent else None
    if pi is not None and pi.status != "succeeded":
        pi = succeed_payment(ctx, pi)
    return mark_invoice_paid(ctx, inv, pi)


def post_payment_invoice(ctx: Ctx, sess: r.Session, cus: r.Customer) -> r.Invoice:
    """The paid invoice Checkout makes for ``invoice_creation[enabled]=true`` sessions."""
    store = ctx.store
    lines = []
    for price_id, quantity, description in sess.lines:
        price = store.prices[price_id]
        lines.append(r.InvoiceLine(
            kind="invoiceitem", amount=(price.unit_amount or 0) * quantity, quantity=quantity,
            description=description, period_start=ctx.now, period_end=ctx.now,
            price=price_id, product=price.product, invoice_item=ctx.new_id("ii"),
        ))
    inv = create_invoice(ctx, cus, lines=lines, currency=sess.currency)
    pi = store.payment_intents[sess.payment_intent] if sess.payment_intent else None
    inv = store.update(inv, status="open", finalized_at=ctx.now,
                       number=f"{cus.invoice_prefix}-{cus.next_invoice_sequence:04d}")
    store.update(store.customers[cus.id], next_invoice_sequence=cus.next_invoice_sequence + 1)
    if pi is not None:
        pay = r.InvoicePayment(
            **ctx.base("inpay"), invoice=inv.id, amount_requested=inv.total,
            currency=inv.currency, payment_intent=pi.id, status="open",
        )
        store.insert(pay, invoice=inv.id, payment_intent=pi.id)
        inv = store.update(inv, payments=(pay.id,), payment_intent=pi.id, charge=pi.latest_charge)
    ctx.emit("invoice.finalized", inv)
    return mark_invoice_paid(ctx, inv, pi)


