"""Products, prices, customers and Payment Links: what can be bought, and by whom."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import records as r
from .context import Ctx


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


