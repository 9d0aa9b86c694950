"""Invoices, their lines and payments, invoice items and subscriptions (basil switches their shape)."""

from __future__ import annotations

from typing import Any

from .. import records as r
from ..ids import child_id
from ..store import Store
from .catalog import CatalogRendering
from .common import EMBEDDED_LIST_LIMIT, Version, metadata

INVOICE_STATIC: dict[str, Any] = {
    "object": "invoice",
    "account_country": "US",
    "account_name": "Sandbox Merchant",
    "account_tax_ids": None,
    "amount_overpaid": 0,
    "amount_shipping": 0,
    "application": None,
    "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None,
                      "provider": None, "status": None},
    "automatically_finalizes_at": None,
    "custom_fields": None,
    "customer_account": None,
    "customer_address": None,
    "customer_phone": None,
    "customer_shipping": None,
    "customer_tax_exempt": "none",
    "customer_tax_ids": [],
    "default_payment_method": None,
    "default_source": None,
    "default_tax_rates": [],
    "discounts": [],
    "ending_balance": 0,
    "footer": None,
    "from_invoice": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "latest_revision": None,
    "on_behalf_of": None,
    "payment_settings": {"default_mandate": None, "payment_method_options": None,
                         "payment_method_types": None},
    "post_payment_credit_notes_amount": 0,
    "pre_payment_credit_notes_amount": 0,
    "receipt_number": None,
    "rendering": None,
    "shipping_cost": None,
    "shipping_details": None,
    "starting_balance": 0,
    "statement_descriptor": None,
    "status_details": None,
    "subtotal_excluding_tax": None,
    "test_clock": None,
    "total_discount_amounts": [],
    "total_pretax_credit_amounts": [],
    "total_taxes": [],
}
INVOICE_PRE_BASIL_DROP = ("parent", "total_taxes", "amount_overpaid", "customer_account")
SUBSCRIPTION_STATIC: dict[str, Any] = {
    "object": "subscription", "application": None, "application_fee_percent": None,
    "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
    "billing_cycle_anchor_config": None, "billing_mode": {"type": "flexible", "flexible": None},
    "billing_schedules": [], "billing_thresholds": None,
    "cancellation_details": {"comment": None, "feedback": None, "feedback_option": None,
                             "reason": None},
    "customer_account": None, "days_until_due": None, "default_source": None,
    "default_tax_rates": [], "discounts": [],
    "invoice_settings": {"account_tax_ids": None, "custom_fields": None, "description": None,
                         "footer": None, "issuer": {"type": "self"}},
    "managed_payments": None, "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
    "pause_collection": None,
    "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                         "save_default_payment_method": "off"},
    "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
    "schedule": None, "status_details": None, "transfer_data": None, "trial_end": None,
    "trial_settings": {"end_behavior": {"billing_cycle_anchor": None,
                                        "missing_payment_method": "create_invoice"}},
    "trial_start": None,
}


class BillingRendering(CatalogRendering):
    """Render methods of Billing, mixed into ``Renderer``."""

    store: Store

    def invoice_line(self, inv: r.Invoice, index: int, ln: r.InvoiceLine, ver: Version
                     ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": child_id("il", inv.id, index), "object": "line_item", "amount": ln.amount,
            "currency": inv.currency, "description": ln.description, "discount_amounts": [],
            "discountable": ln.kind == "invoiceitem", "discounts": [], "invoice": inv.id,
            "livemode": inv.live, "metadata": {},
            "period": {"end": ln.period_end, "start": ln.period_start},
            "pretax_credit_amounts": [], "quantity": ln.quantity,
            "subscription": ln.subscription,
        }
        price = self.store.prices.get(ln.price) if ln.price else None
        if ver.pre_basil:
            obj.update(
                amount_excluding_tax=ln.amount, invoice_item=ln.invoice_item,
                plan=self.plan(price) if price is not None and price.interval else None,
                price=self.price(price, ver) if price is not None else None,
                proration=False, proration_details={"credited_items": None},
                subscription_item=ln.subscription_item, tax_amounts=[], tax_rates=[],
                type="subscription" if ln.kind == "subscription" else "invoiceitem",
                unit_amount_excluding_tax=str(price.unit_amount) if price is not None
                else str(ln.amount // max(ln.quantity, 1)),
            )
            return obj
        if ln.kind == "subscription":
            parent = {"type": "subscription_item_details", "invoice_item_details": None,
                      "subscription_item_details": {
                          "invoice_item": None, "proration": False, "proration_details":
                          {"credited_items": None}, "subscription": ln.subscription,
                          "subscription_item": ln.subscription_item}}
        else:
            parent = {"type": "invoice_item_details", "subscription_item_details": None,
                      "invoice_item_details": {
                          "invoice_item": ln.invoice_item, "proration": False,
                          "proration_details": {"credited_items": None},
                          "subscription": ln.subscription}}
        unit = price.unit_amount if price is not None else ln.amount // max(ln.quantity, 1)
        obj.update(
            parent=parent,
            pricing={"type": "price_details",
                     "price_details": {"price": price.id, "product": price.product},
                     "unit_amount_decimal": str(unit)} if price is not None else None,
            subtotal=ln.amount, taxes=[],
        )
        if not ver.pre_dahlia:
            obj["quantity_decimal"] = str(ln.quantity)
        return obj

    def invoice_lines_list(self, inv: r.Invoice, ver: Version) -> dict[str, Any]:
        first = inv.lines[:EMBEDDED_LIST_LIMIT]
        return {
            "object": "list",
            "data": [self.invoice_line(inv, i, ln, ver) for i, ln in enumerate(first)],
            "has_more": len(inv.lines) > EMBEDDED_LIST_LIMIT,
            "url": f"/v1/invoices/{inv.id}/lines",
        }

    def invoice(self, inv: r.Invoice, ver: Version) -> dict[str, Any]:
        total = inv.total
        paid = inv.status == "paid"
        due = 0 if inv.status == "void" else total
        obj = {
            "id": inv.id, **INVOICE_STATIC, "amount_due": due, "amount_paid": inv.amount_paid,
            "amount_remaining": max(due - inv.amount_paid, 0), "attempt_count":
            1 if inv.payment_intent and paid else 0, "attempted": paid and not inv.paid_out_of_band,
            "auto_advance": inv.auto_advance if inv.status == "draft" else False,
            "billing_reason": inv.billing_reason, "collection_method": inv.collection_method,
            "created": inv.created, "currency": inv.currency, "customer": inv.customer,
            "customer_email": inv.customer_email, "customer_name": inv.customer_name,
            "description": inv.description, "due_date": inv.due_date,
            "effective_at": inv.finalized_at,
            "hosted_invoice_url": None if inv.status == "draft" else
            f"https://invoice.stripe.com/i/{inv.id}",
            "invoice_pdf": None if inv.status == "draft" else
            f"https://pay.stripe.com/invoice/{inv.id}/pdf",
            "lines": self.invoice_lines_list(inv, ver), "livemode": inv.live,
            "metadata": metadata(inv.metadata),
            "next_payment_attempt": None if inv.status != "draft" or not inv.auto_advance
            else inv.created + 3600,
            "number": inv.number, "period_end": inv.period_end,
            "period_start": inv.period_start, "status": inv.status,
            "status_transitions": {"finalized_at": inv.finalized_at,
                                   "marked_uncollectible_at": None, "paid_at": inv.paid_at,
                                   "voided_at": inv.voided_at},
            "subtotal": total, "subtotal_excluding_tax": total, "test_clock": inv.test_clock,
            "total": total, "total_excluding_tax": total,
            "webhooks_delivered_at": None if inv.status == "draft" else inv.created,
        }
        if ver.pre_basil:
            for key in INVOICE_PRE_BASIL_DROP:
                obj.pop(key, None)
            sub = self.store.subscriptions.get(inv.subscription) if inv.subscription else None
            obj.update(
                application_fee_amount=None, charge=inv.charge, discount=None, paid=paid,
                paid_out_of_band=inv.paid_out_of_band, payment_intent=inv.payment_intent,
                quote=None, subscription=inv.subscription,
                subscription_details={"metadata": metadata(sub.metadata)} if sub else None,
                subscription_proration_date=None, tax=None, total_tax_amounts=[],
                transfer_data=None,
            )
            return obj
        obj["parent"] = {
            "type": "subscription_details", "quote_details": None,
            "subscription_details": {"metadata": metadata(
                self.store.subscriptions[inv.subscription].metadata), "subscription":
                inv.subscription},
        } if inv.subscription else None
        if inv.paid_out_of_band:
            obj["amount_paid_off_stripe"] = inv.amount_paid
        return obj

    def invoice_payment(self, p: r.InvoicePayment, ver: Version) -> dict[str, Any]:
        return {
            "id": p.id, "object": "invoice_payment", "amount_paid": p.amount_paid,
            "amount_requested": p.amount_requested, "created": p.created,
            "currency": p.currency, "invoice": p.invoice, "is_default": True,
            "livemode": p.live,
            "payment": {"type": "payment_intent", "payment_intent": p.payment_intent},
            "status": p.status,
            "status_transitions": {"canceled_at": None if p.status != "canceled" else p.created,
                                   "paid_at": p.paid_at},
        }

    def payments_list(self, inv: r.Invoice, ver: Version) -> dict[str, Any]:
        pays = [self.store.invoice_payments[x] for x in inv.payments]
        return {
            "object": "list",
            "data": [self.invoice_payment(p, ver) for p in pays[:EMBEDDED_LIST_LIMIT]],
            "has_more": len(pays) > EMBEDDED_LIST_LIMIT,
            "url": f"/v1/invoice_payments?invoice={inv.id}",
        }

    def invoice_item(self, ii: r.InvoiceItem, ver: Version) -> dict[str, Any]:
        price = self.store.prices.get(ii.price) if ii.price else None
        obj: dict[str, Any] = {
            "id": ii.id, "object": "invoiceitem", "amount": ii.amount, "currency": ii.currency,
            "customer": ii.customer, "customer_account": None, "date": ii.created,
            "description": ii.description, "discountable": True, "discounts": [],
            "invoice": ii.invoice, "livemode": ii.live, "metadata": metadata(ii.metadata),
            "period": {"end": ii.period_end, "start": ii.period_start}, "proration": False,
            "quantity": ii.quantity, "tax_rates": [], "test_clock": None,
        }
        if not ver.pre_basil:
            obj.update(frozen_fields=None, invoicing_rules=None)
        if ver.pre_basil:
            obj.update(price=self.price(price, ver) if price else None, plan=None,
                       subscription=ii.subscription, subscription_item=None,
                       unit_amount=ii.amount // max(ii.quantity, 1),
                       unit_amount_decimal=str(ii.amount // max(ii.quantity, 1)))
        else:
            obj.update(
                net_amount=ii.amount,
                parent={"type": "subscription_details", "subscription_details":
                        {"subscription": ii.subscription, "subscription_item": None}}
                if ii.subscription else None,
                pricing={"type": "price_details", "price_details": {
                    "price": price.id, "product": price.product},
                    "unit_amount_decimal": str(price.unit_amount)} if price else None,
            )
            if not ver.pre_dahlia:
                obj["quantity_decimal"] = str(ii.quantity)
        return obj

    def subscription(self, s: r.Subscription, ver: Version) -> dict[str, Any]:
        items = []
        for si_id, price_id, quantity, created in s.items:
            price = self.store.prices[price_id]
            item: dict[str, Any] = {
                "id": si_id, "object": "subscription_item", "billing_thresholds": None,
                "created": created, "discounts": [], "metadata": {},
                "plan": self.plan(price, ver), "price": self.price(price, ver),
                "quantity": quantity, "subscription": s.id, "tax_rates": [],
            }
            if not ver.pre_basil:
                item["current_period_end"] = s.current_period_end
                item["current_period_start"] = s.current_period_start
                item["current_trial"] = None
            items.append(item)
        obj = {
            "id": s.id, **SUBSCRIPTION_STATIC,
            "billing_cycle_anchor": s.start_date,
            "cancel_at": s.current_period_end if s.cancel_at_period_end else None,
            "cancel_at_period_end": s.cancel_at_period_end, "canceled_at": s.canceled_at,
            "collection_method": s.collection_method, "created": s.created,
            "currency": s.currency, "customer": s.customer,
            "default_payment_method": s.default_payment_method, "description": s.description,
            "ended_at": s.ended_at,
            "items": {"object": "list", "data": items, "has_more": False,
                      "url": f"/v1/subscription_items?subscription={s.id}"},
            "latest_invoice": s.latest_invoice, "livemode": s.live,
            "metadata": metadata(s.metadata), "start_date": s.start_date, "status": s.status,
            "test_clock": s.test_clock,
        }
        if ver.pre_basil:
            obj["current_period_end"] = s.current_period_end
            obj["current_period_start"] = s.current_period_start
            obj.pop("billing_mode", None)
        return obj

