"""What Stripe does when something happens: the state changes and the events they emit.

The HTTP handlers and the seed generator both go through these functions, so API-created and
generated data follow the same rules. Every function takes the moment it happens at (``now``),
which lets the generator write history and the server act at wall-clock time.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from . import balance
from . import records as r
from .errors import StripeError, invalid
from .store import Scope, Store

DELAYED_METHODS = {"sepa_debit", "us_bank_account", "bacs_debit", "acss_debit"}
SESSION_TTL = 24 * 3600


class Ctx:
    """Who acts (mode and Connect account), when, and for which API request."""

    __slots__ = ("store", "live", "account", "now", "request_id")

    def __init__(
        self, store: Store, scope: Scope, now: int | None = None, request_id: str | None = None
    ) -> None:
        self.store = store
        self.live, self.account = scope
        self.now = now if now is not None else store.now()
        self.request_id = request_id

    def new_id(self, prefix: str) -> str:
        return self.store.new_id(prefix, self.live)

    def emit(self, type_: str, obj: r.Record, previous: dict[str, Any] | None = None) -> None:
        self.store.emit(type_, obj, self.now, previous, self.request_id)

    def base(self, prefix: str) -> dict[str, Any]:
        return {
            "id": self.new_id(prefix),
            "created": self.now,
            "live": self.live,
            "account": self.account,
        }


def add_interval(ts: int, interval: str, count: int) -> int:
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    dt = datetime.fromtimestamp(ts, UTC)
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(dt.month - 1 + months, 12)
    year += dt.year
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return int(dt.replace(year=year, month=month + 1, day=day).timestamp())


# -- catalog ------------------------------------------------------------------------------


def create_product(ctx: Ctx, name: str, **fields: Any) -> r.Product:
    base = ctx.base("prod")
    custom_id = fields.pop("id", None)
    if custom_id:
        base["id"] = custom_id
    prod = r.Product(**base, name=name, updated=ctx.now, **fields)
    ctx.store.insert(prod)
    ctx.emit("product.created", prod)
    return prod


def update_product(ctx: Ctx, prod: r.Product, **changes: Any) -> r.Product:
    previous = {k: _plain(getattr(prod, k)) for k, v in changes.items() if getattr(prod, k) != v}
    if not previous:
        return prod
    prod = ctx.store.update(prod, updated=ctx.now, **changes)
    if "metadata" in previous:
        previous["metadata"] = _metadata_diff(previous["metadata"], changes["metadata"])
    if "updated" not in previous:
        previous["updated"] = ctx.store.products[prod.id].updated
    ctx.emit("product.updated", prod, previous)
    return prod


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _metadata_diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str | None]:
    diff: dict[str, str | None] = {k: v for k, v in old.items() if new.get(k) != v}
    diff.update({k: None for k in new if k not in old})
    return diff


def create_price(ctx: Ctx, product: r.Product, currency: str, unit_amount: int | None,
                 **fields: Any) -> r.Price:
    price = r.Price(
        **ctx.base("price"), product=product.id, currency=currency.lower(),
        unit_amount=unit_amount, **fields,
    )
    ctx.store.insert(price, product=product.id)
    ctx.emit("price.created", price)
    if fields.get("interval"):
        ctx.emit("plan.created", price)
    return price


def create_customer(ctx: Ctx, **fields: Any) -> r.Customer:
    cus = r.Customer(**ctx.base("cus"), **fields)
    cus.invoice_prefix = cus.id[4:12].upper()
    ctx.store.insert(cus, email=cus.email, test_clock=cus.test_clock)
    ctx.emit("customer.created", cus)
    return cus


_new_customer = create_customer


def create_payment_link(ctx: Ctx, lines: Sequence[r.Line], **fields: Any) -> r.PaymentLink:
    link_id = ctx.new_id("plink")
    prefix = "https://buy.stripe.com/" + ("" if ctx.live else "test_")
    currency = ctx.store.prices[lines[0][0]].currency
    link = r.PaymentLink(
        id=link_id, created=ctx.now, live=ctx.live, account=ctx.account, lines=tuple(lines),
        currency=currency, url=prefix + link_id[7:21], **fields,
    )
    ctx.store.insert(link)
    ctx.emit("payment_link.created", link)
    return link


# -- checkout -----------------------------------------------------------------------------


def create_session(ctx: Ctx, mode: str, lines: Sequence[r.Line], **fields: Any) -> r.Session:
    store = ctx.store
    requested = fields.pop("currency", None)
    currency: str | None = None
    subtotal = 0
    for price_id, quantity, _ in lines:
        price = store.prices[price_id]
        currency = currency or price.currency
        if price.currency != currency:
            raise invalid(
                "All line items must use the same currency.", "line_items", "parameter_invalid_string"
            )
        subtotal += (price.unit_amount or 0) * quantity
    if requested and currency and requested.lower() != currency:
        raise invalid(
            f"The currency {requested.lower()} does not match the currency of the line items ({currency}).",
            "currency", "parameter_invalid_string",
        )
    sess_id = ctx.new_id("cs")
    amount: int | None = subtotal
    if mode == "setup":
        amount = None
    sess = r.Session(
        id=sess_id, created=ctx.now, live=ctx.live, account=ctx.account,
        expires_at=fields.pop("expires_at", None) or ctx.now + SESSION_TTL, mode=mode,
        currency=currency or (requested.lower() if requested else None), amount_subtotal=amount,
        amount_total=amount, lines=tuple(lines), **fields,
    )
    if sess.customer:
        cus = store.customers[sess.customer]
        sess.email = cus.email
    elif sess.customer_email:
        sess.email = sess.customer_email
    store.insert(sess, payment_link=sess.payment_link, customer=sess.customer)
    return sess


def complete_session(
    ctx: Ctx,
    sess: r.Session,
    *,
    email: str | None = None,
    name: str | None = None,
    outcome: str = "paid",
    create_customer: bool | None = None,
    method_type: str | None = None,
    address: r.Address | None = None,
    phone: str | None = None,
) -> r.Session:
    """What happens when the buyer submits the Checkout page.

    ``outcome``: ``paid`` (card), ``delayed`` (a delayed method; the session completes unpaid
    and waits for :func:`settle_session`), ``delayed_succeeded`` / ``delayed_failed`` (both steps).
    """
    store = ctx.store
    sess = store.sessions[sess.id]
    if sess.status != "open":
        raise invalid(f"This Checkout Session is no longer active (status: {sess.status}).")
    if outcome not in ("paid", "delayed", "delayed_succeeded", "delayed_failed"):
        raise invalid(
            "Invalid outcome: must be one of paid, delayed, delayed_succeeded or delayed_failed",
            "outcome", "parameter_invalid_string",
        )
    delayed = outcome != "paid"
    if method_type is None:
        method_type = ("sepa_debit" if sess.currency == "eur" else "us_bank_account") if delayed else "card"
    cus = store.customers.get(sess.customer) if sess.customer else None
    if cus is not None:
        email = email or cus.email
        name = name or cus.name
    email = email or sess.customer_email
    wants_customer = (
        sess.mode == "subscription"
        or sess.customer_creation == "always"
        or bool(create_customer)
        or (sess.mode == "payment" and sess.invoice_creation and sess.customer_creation != "if_required")
    )
    if cus is None and wants_customer:
        # (the ``create_customer`` flag shadows the function of that name here)
        cus = _new_customer(ctx, email=email, name=name, address=address, phone=phone)
    changes: dict[str, Any] = {
        "status": "complete",
        "email": email,
        "name": name,
        "address": address or sess.address or (None, None, None, None, None, "US"),
        "phone": phone,
        "customer": cus.id if cus else None,
    }
    total = sess.amount_total or 0
    if sess.mode == "setup":
        changes["setup_intent"] = ctx.new_id("seti")
        changes["payment_status"] = "no_payment_required"
    elif sess.mode == "payment":
        if total == 0:
            changes["payment_status"] = "no_payment_required"
        else:
            pi = _start_payment(ctx, total, sess.currency or "usd", cus, email, name, method_type,
                                description=None)
            changes["payment_intent"] = pi.id
            if not delayed:
                pi = _succeed_payment(ctx, pi)
            changes["payment_status"] = "unpaid" if delayed else "paid"
    else:
        sub, inv = _subscribe_from_session(ctx, sess, cus, method_type, delayed)  # type: ignore[arg-type]
        changes["subscription"] = sub.id
        changes["invoice"] = inv.id
        changes["payment_status"] = "unpaid" if delayed else ("paid" if inv.status == "paid" else "no_payment_required")
    sess = store.update(sess, **changes)
    if sess.mode == "payment" and sess.invoice_creation and not delayed and cus is not None:
        inv = _post_payment_invoice(ctx, sess, cus)
        sess = store.update(sess, invoice=inv.id)
    _index_session(store, sess)
    ctx.emit("checkout.session.completed", sess)
    if outcome in ("delayed_succeeded", "delayed_failed"):
        sess = settle_session(ctx, sess, outcome == "delayed_succeeded")
    return sess


def _index_session(store: Store, sess: r.Session) -> None:
    store.add_to_index(sess, "customer", sess.customer)
    store.add_to_index(sess, "payment_intent", sess.payment_intent)
    store.add_to_index(sess, "subscription", sess.subscription)
    store.add_to_index(sess, "email", sess.email)


def settle_session(ctx: Ctx, sess: r.Session, succeeded: bool) -> r.Session:
    """The delayed payment of a completed, unpaid session finally succeeds or fails."""
    store = ctx.store
    sess = store.sessions[sess.id]
    if sess.status != "complete" or sess.payment_status != "unpaid":
        raise invalid("This Checkout Session has no pending delayed payment.", None)
    if sess.mode == "subscription":
        inv = store.invoices[sess.invoice]  # type: ignore[index]
        pi = store.payment_intents[inv.payment_intent]  # type: ignore[index]
    else:
        inv = None
        pi = store.payment_intents[sess.payment_intent]  # type: ignore[index]
    if succeeded:
        pi = _succeed_payment(ctx, pi)
        if inv is not None:
            _mark_invoice_paid(ctx, inv, pi)
            sub = store.subscriptions[inv.subscription]  # type: ignore[index]
            prev = {"status": sub.status}
            sub = store.update(sub, status="active")
            ctx.emit("customer.subscription.updated", sub, prev)
        sess = store.update(sess, payment_status="paid")
        if sess.mode == "payment" and sess.invoice_creation and sess.customer:
            new_inv = _post_payment_invoice(ctx, sess, store.customers[sess.customer])
            sess = store.update(sess, invoice=new_inv.id)
        ctx.emit("checkout.session.async_payment_succeeded", sess)
    else:
        _fail_payment(ctx, pi)
        if inv is not None:
            ctx.emit("invoice.payment_failed", inv)
        ctx.emit("checkout.session.async_payment_failed", sess)
    return sess


def expire_session(ctx: Ctx, sess: r.Session) -> r.Session:
    sess = ctx.store.sessions[sess.id]
    if sess.status != "open":
        raise invalid(
            'Only Checkout Sessions with a status in ["open"] can be expired.', None,
        )
    sess = ctx.store.update(sess, status="expired", expires_at=min(sess.expires_at, ctx.now))
    ctx.emit("checkout.session.expired", sess)
    return sess


# -- payments -----------------------------------------------------------------------------


def _start_payment(
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


def _succeed_payment(ctx: Ctx, pi: r.PaymentIntent) -> r.PaymentIntent:
    store = ctx.store
    charge = store.charges[pi.latest_charge]  # type: ignore[index]
    if charge.status != "succeeded" or charge.balance_transaction is None:
        charge = store.update(charge, status="succeeded", balance_transaction=ctx.new_id("txn"))
    balance.record_charge(ctx, charge)
    pi = store.update(pi, status="succeeded", amount_received=pi.amount)
    ctx.emit("charge.succeeded", charge)
    ctx.emit("payment_intent.succeeded", pi)
    return pi


def _fail_payment(ctx: Ctx, pi: r.PaymentIntent) -> r.PaymentIntent:
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
    pi = _start_payment(ctx, amount, currency, customer, email, customer.name if customer else None,
                        method_type, description)
    return _succeed_payment(ctx, pi) if method_type not in DELAYED_METHODS else pi


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


# -- invoices -----------------------------------------------------------------------------


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
        pi = _start_payment(ctx, inv.total, inv.currency, cus, cus.email if cus else None,
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


def _mark_invoice_paid(ctx: Ctx, inv: r.Invoice, pi: r.PaymentIntent | None) -> r.Invoice:
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
        return _mark_invoice_paid(ctx, inv, None)
    pi = store.payment_intents[inv.payment_intent] if inv.payment_intent else None
    if pi is not None and pi.status != "succeeded":
        pi = _succeed_payment(ctx, pi)
    return _mark_invoice_paid(ctx, inv, pi)


def _post_payment_invoice(ctx: Ctx, sess: r.Session, cus: r.Customer) -> r.Invoice:
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
    return _mark_invoice_paid(ctx, inv, pi)


# -- subscriptions ------------------------------------------------------------------------


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
        pre_pi = _start_payment(ctx, total, sub.currency, customer, customer.email,
                                customer.name, method_type, "Subscription creation")
        if not delayed:
            pre_pi = _succeed_payment(ctx, pre_pi)
    store.insert(sub, customer=customer.id, test_clock=customer.test_clock)
    ctx.emit("customer.subscription.created", sub)
    inv = create_invoice(ctx, customer, billing_reason=billing_reason, subscription=sub.id,
                         lines=lines, currency=sub.currency, period=(ctx.now, ctx.now))
    if pi_first:
        inv = _finalize_with(ctx, inv, pre_pi)
        if not delayed:
            inv = _mark_invoice_paid(ctx, inv, pre_pi)
    else:
        inv = finalize_invoice(ctx, inv, method_type)
        if not delayed and inv.status != "paid":
            inv = pay_invoice(ctx, inv)
    sub = store.update(store.subscriptions[sub.id], latest_invoice=inv.id)
    return sub, inv


def _finalize_with(ctx: Ctx, inv: r.Invoice, pi: r.PaymentIntent) -> r.Invoice:
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


def _subscribe_from_session(
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
