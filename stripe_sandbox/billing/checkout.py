"""Checkout Sessions: creation, completion (payment, subscription or invoice), async settling, expiry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import records as r
from ..errors import invalid
from ..store import Store
from .catalog import create_customer as _new_customer
from .context import SESSION_TTL, Ctx
from .invoices import mark_invoice_paid, post_payment_invoice
from .payments import fail_payment, start_payment, succeed_payment
from .subscriptions import subscribe_from_session


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
            pi = start_payment(ctx, total, sess.currency or "usd", cus, email, name, method_type,
                                description=None)
            changes["payment_intent"] = pi.id
            if not delayed:
                pi = succeed_payment(ctx, pi)
            changes["payment_status"] = "unpaid" if delayed else "paid"
    else:
        sub, inv = subscribe_from_session(ctx, sess, cus, method_type, delayed)  # type: ignore[arg-type]
        changes["subscription"] = sub.id
        changes["invoice"] = inv.id
        changes["payment_status"] = "unpaid" if delayed else ("paid" if inv.status == "paid" else "no_payment_required")
    sess = store.update(sess, **changes)
    if sess.mode == "payment" and sess.invoice_creation and not delayed and cus is not None:
        inv = post_payment_invoice(ctx, sess, cus)
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
        pi = succeed_payment(ctx, pi)
        if inv is not None:
            mark_invoice_paid(ctx, inv, pi)
            sub = store.subscriptions[inv.subscription]  # type: ignore[index]
            prev = {"status": sub.status}
            sub = store.update(sub, status="active")
            ctx.emit("customer.subscription.updated", sub, prev)
        sess = store.update(sess, payment_status="paid")
        if sess.mode == "payment" and sess.invoice_creation and sess.customer:
            new_inv = post_payment_invoice(ctx, sess, store.customers[sess.customer])
            sess = store.update(sess, invoice=new_inv.id)
        ctx.emit("checkout.session.async_payment_succeeded", sess)
    else:
        fail_payment(ctx, pi)
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


