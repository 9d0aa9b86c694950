"""Records -> Stripe JSON, per API version, with ``expand[]``.

Field sets follow Stripe's own example objects (openapi ``fixtures3.json``) and the installed
SDK's resource classes: a key is present when Stripe always sends it, and conditional or
includable keys (``line_items``, ``payments``, ``refunds``) only when they apply or are expanded.
Invoices, invoice lines, subscriptions and sessions switch shape at 2025-03-31 (basil); see
``Version``. Nested constant sub-objects are shared between renders and must not be mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from . import records as r
from . import reporting
from .errors import invalid
from .ids import child_id
from .store import Store

EMBEDDED_LIST_LIMIT = 10
MAX_EXPAND_DEPTH = 4

ADDRESS_NULL = {"city": None, "country": None, "line1": None, "line2": None,
                "postal_code": None, "state": None}


class Version:
    """What changed between API versions, as flags on a parsed ``Stripe-Version``."""

    __slots__ = ("name", "pre_basil", "pre_clover", "pre_dahlia")

    def __init__(self, name: str) -> None:
        self.name = name
        date = name[:10]
        self.pre_basil = date < "2025-03-31"
        self.pre_clover = date < "2025-09-30"
        self.pre_dahlia = date < "2026-03-25"


@lru_cache(maxsize=64)
def version(name: str) -> Version:
    return Version(name)


def address(addr: r.Address | None) -> dict[str, Any] | None:
    if addr is None:
        return None
    line1, line2, city, state, postal_code, country = addr
    return {"city": city, "country": country, "line1": line1, "line2": line2,
            "postal_code": postal_code, "state": state}


def metadata(meta: dict[str, str] | None) -> dict[str, str]:
    return dict(meta) if meta else {}


def empty_list(url: str) -> dict[str, Any]:
    return {"object": "list", "data": [], "has_more": False, "url": url}


# -- static parts -------------------------------------------------------------------------

SESSION_STATIC: dict[str, Any] = {
    "object": "checkout.session",
    "adaptive_pricing": {"enabled": False},
    "after_expiration": None,
    "allowed_payment_method_types": None,
    "allow_promotion_codes": None,
    "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
    "billing_address_collection": None,
    "client_secret": None,
    "consent": None,
    "consent_collection": None,
    "currency_conversion": None,
    "custom_fields": [],
    "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                    "terms_of_service_acceptance": None},
    "customer_account": None,
    "discounts": [],
    "integration_identifier": None,
    "managed_payments": None,
    "origin_context": None,
    "payment_method_configuration_details": None,
    "payment_method_options": {},
    "permissions": None,
    "phone_number_collection": {"enabled": False},
    "recovered_from": None,
    "saved_payment_method_options": None,
    "shipping_address_collection": None,
    "shipping_cost": None,
    "shipping_options": [],
    "tax_id_collection": {"enabled": False, "required": "never"},
    "wallet_options": None,
}
UI_MODE_PRE_DAHLIA = {"hosted_page": "hosted", "embedded_page": "embedded", "elements": "custom",
                      "form": "custom"}
INVOICE_CREATION_DATA = {
    "account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
    "issuer": {"type": "self"}, "metadata": {}, "rendering_options": None,
}
INVOICE_CREATION_OFF = {"enabled": False, "invoice_data": INVOICE_CREATION_DATA}
INVOICE_CREATION_ON = {"enabled": True, "invoice_data": INVOICE_CREATION_DATA}

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

PRICE_STATIC: dict[str, Any] = {
    "object": "price", "billing_scheme": "per_unit", "custom_unit_amount": None,
    "tiers_mode": None, "transform_quantity": None,
}
PRODUCT_STATIC: dict[str, Any] = {
    "object": "product", "marketing_features": [], "package_dimensions": None,
    "shippable": None, "statement_descriptor": None, "tax_code": None, "tax_details": None,
    "unit_label": None,
}
CUSTOMER_STATIC: dict[str, Any] = {
    "object": "customer", "balance": 0, "currency": None, "default_source": None,
    "delinquent": False, "discount": None, "preferred_locales": [], "shipping": None,
    "tax_exempt": "none",
    "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                         "rendering_options": None},
}
PI_STATIC: dict[str, Any] = {
    "object": "payment_intent", "amount_capturable": 0, "amount_details": {"tip": {}},
    "application": None, "application_fee_amount": None,
    "automatic_payment_methods": None, "cancellation_reason": None,
    "capture_method": "automatic", "confirmation_method": "automatic",
    "customer_account": None, "excluded_payment_method_types": None,
    "last_payment_error": None, "managed_payments": None, "next_action": None,
    "on_behalf_of": None, "payment_method_configuration_details": None,
    "payment_method_options": {}, "payment_record": None, "processing": None, "review": None,
    "setup_future_usage": None, "shipping": None, "source": None,
    "statement_descriptor": None, "statement_descriptor_suffix": None,
    "transfer_data": None, "transfer_group": None,
}
CHARGE_STATIC: dict[str, Any] = {
    "object": "charge", "application": None, "application_fee": None,
    "application_fee_amount": None, "calculated_statement_descriptor": "SANDBOX",
    "captured": True, "failure_balance_transaction": None, "fraud_details": {},
    "on_behalf_of": None, "receipt_number": None, "review": None, "shipping": None,
    "source": None, "source_transfer": None, "statement_descriptor": None,
    "statement_descriptor_suffix": None, "transfer_data": None, "transfer_group": None,
}
CARD_DETAILS = {
    "amount_authorized": None, "authorization_code": None, "brand": "visa",
    "checks": {"address_line1_check": None, "address_postal_code_check": None,
               "cvc_check": "pass"},
    "country": "US", "electronic_commerce_indicator": None, "exp_month": 12, "exp_year": 2034,
    "fingerprint": "sbxFingerprint01", "funding": "credit",
    "installments": None, "last4": "4242", "mandate": None,
    "network": "visa", "network_token": {"used": False}, "network_transaction_id": None,
    "regulated_status": "unregulated", "setup_credential_usage": None,
    "stored_credential_usage": None, "three_d_secure": None, "transaction_link_id": None,
    "wallet": None,
}
BANK_DETAILS: dict[str, dict[str, Any]] = {
    "sepa_debit": {"bank_code": "37040044", "branch_code": None, "country": "DE",
                   "fingerprint": "sbxSepaFingerprint", "last4": "3000",
                   "mandate": "mandate_1SbxSepaMandate0001"},
    "us_bank_account": {"account_holder_type": "individual", "account_type": "checking",
                        "bank_name": "STRIPE TEST BANK", "fingerprint": "sbxAchFingerprint",
                        "last4": "6789", "payment_reference": None,
                        "routing_number": "110000000"},
}
PAYMENT_LINK_STATIC: dict[str, Any] = {
    "object": "payment_link",
    "after_completion": {"hosted_confirmation": {"custom_message": None},
                         "type": "hosted_confirmation"},
    "allow_promotion_codes": False, "application": None, "application_fee_amount": None,
    "application_fee_percent": None,
    "automatic_tax": {"enabled": False, "liability": None},
    "billing_address_collection": "auto", "consent_collection": None, "custom_fields": [],
    "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                    "terms_of_service_acceptance": None},
    "inactive_message": None, "managed_payments": None, "on_behalf_of": None,
    "payment_intent_data": None, "payment_method_collection": "always",
    "payment_method_options": None, "payment_method_types": None,
    "phone_number_collection": {"enabled": False}, "restrictions": None,
    "shipping_address_collection": None, "shipping_options": [], "submit_type": "auto",
    "subscription_data": None, "tax_id_collection": {"enabled": False, "required": "never"},
    "transfer_data": None,
}
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
DISPUTE_STATIC: dict[str, Any] = {
    "object": "dispute", "enhanced_eligibility_types": [], "intended_submission_method": None,
    "evidence": {"appeal": None, "enhanced_evidence": {}} | {k: None for k in (
        "access_activity_log", "billing_address", "cancellation_policy",
        "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
        "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
        "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
        "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
        "refund_refusal_explanation", "service_date", "service_documentation",
        "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation",
        "shipping_tracking_number", "uncategorized_file", "uncategorized_text")},
    "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                        "network": "visa", "network_reason_code": "10.4"},
                               "type": "card"},
}


class Renderer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_kind: dict[str, Callable[[Any, Version], dict[str, Any]]] = {
            "product": self.product,
            "price": self.price,
            "customer": self.customer,
            "payment_link": self.payment_link,
            "checkout.session": self.session,
            "payment_intent": self.payment_intent,
            "charge": self.charge,
            "refund": self.refund,
            "dispute": self.dispute,
            "invoice": self.invoice,
            "invoiceitem": self.invoice_item,
            "invoice_payment": self.invoice_payment,
            "subscription": self.subscription,
            "event": self.event,
            "webhook_endpoint": self.webhook_endpoint,
            "payment_failure_refund": self.refund,
            "balance_transaction": lambda x, ver: reporting.balance_transaction(self.store, x),
            "reporting.report_run": lambda x, ver: reporting.report_run(self.store, x),
            "file": lambda x, ver: reporting.file(self.store, x),
        }

    def render(self, rec: r.Record, ver: Version, expand: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        obj = self._by_kind[rec.KIND](rec, ver)
        if expand:
            self.expand(obj, rec.KIND, expand, ver)
        return obj

    # -- catalog ----------------------------------------------------------------------------
    def product(self, p: r.Product, ver: Version) -> dict[str, Any]:
        return {
            "id": p.id, **PRODUCT_STATIC, "active": p.active, "created": p.created,
            "default_price": p.default_price, "description": p.description,
            "images": list(p.images), "livemode": p.live, "metadata": metadata(p.metadata),
            "name": p.name, "type": p.type, "updated": p.updated, "url": p.url,
        }

    def price(self, p: r.Price, ver: Version) -> dict[str, Any]:
        return {
            "id": p.id, **PRICE_STATIC, "active": p.active, "created": p.created,
            "currency": p.currency, "livemode": p.live, "lookup_key": p.lookup_key,
            "metadata": metadata(p.metadata), "nickname": p.nickname, "product": p.product,
            "recurring": {"interval": p.interval, "interval_count": p.interval_count,
                          "meter": None, "trial_period_days": None, "usage_type": "licensed"}
            if p.interval else None,
            "tax_behavior": p.tax_behavior, "type": p.type, "unit_amount": p.unit_amount,
            "unit_amount_decimal": None if p.unit_amount is None else str(p.unit_amount),
        }

    def plan(self, p: r.Price, ver: Version | None = None) -> dict[str, Any]:
        """A legacy Plan; ``aggregate_usage`` was removed in basil."""
        obj = {
            "id": p.id, "object": "plan", "active": p.active, "aggregate_usage": None,
            "amount": p.unit_amount, "amount_decimal": str(p.unit_amount or 0),
            "billing_scheme": "per_unit", "created": p.created, "currency": p.currency,
            "interval": p.interval, "interval_count": p.interval_count, "livemode": p.live,
            "metadata": metadata(p.metadata), "meter": None, "nickname": p.nickname,
            "product": p.product, "tiers_mode": None, "transform_usage": None,
            "trial_period_days": None, "usage_type": "licensed",
        }
        if ver is not None and not ver.pre_basil:
            del obj["aggregate_usage"]
        return obj

    def customer(self, c: r.Customer, ver: Version) -> dict[str, Any]:
        return {
            "id": c.id, **CUSTOMER_STATIC, "address": address(c.address), "created": c.created,
            "description": c.description, "email": c.email, "invoice_prefix": c.invoice_prefix,
            "livemode": c.live, "metadata": metadata(c.metadata), "name": c.name,
            "next_invoice_sequence": c.next_invoice_sequence, "phone": c.phone,
            "test_clock": c.test_clock,
        }

    def payment_link(self, link: r.PaymentLink, ver: Version) -> dict[str, Any]:
        return {
            "id": link.id, **PAYMENT_LINK_STATIC, "active": link.active,
            "currency": link.currency, "customer_creation": link.customer_creation,
            "invoice_creation": INVOICE_CREATION_ON if link.invoice_creation
            else INVOICE_CREATION_OFF,
            "livemode": link.live, "metadata": metadata(link.metadata), "url": link.url,
        }

    # -- checkout ---------------------------------------------------------------------------
    def session(self, s: r.Session, ver: Version) -> dict[str, Any]:
        complete = s.status == "complete"
        details = None
        if complete or s.email:
            details = {
                "address": address(s.address) if complete else None,
                "business_name": None, "email": s.email, "individual_name": None,
                "name": s.name if complete else None, "phone": s.phone if complete else None,
                "tax_exempt": "none" if complete else None, "tax_ids": [] if complete else None,
            }
        shipping = None
        if s.shipping is not None:
            shipping = {"address": address(s.shipping[1]), "name": s.shipping[0]}
        amount = s.amount_total
        url = None
        if s.status == "open" and s.ui_mode == "hosted_page":
            url = f"https://checkout.stripe.com/c/pay/{s.id}"
        obj = {
            "id": s.id,
            **SESSION_STATIC,
            "amount_subtotal": s.amount_subtotal,
            "amount_total": amount,
            "cancel_url": s.cancel_url,
            "client_reference_id": s.client_reference_id,
            "collected_information": {"business_name": None, "individual_name": None,
                                      "shipping_details": shipping} if complete else None,
            "created": s.created,
            "currency": s.currency,
            "customer": s.customer,
            "customer_creation": s.customer_creation,
            "customer_details": details,
            "customer_email": s.customer_email,
            "expires_at": s.expires_at,
            "invoice": s.invoice,
            "invoice_creation": (INVOICE_CREATION_ON if s.invoice_creation
                                 else INVOICE_CREATION_OFF) if s.mode == "payment" else None,
            "livemode": s.live,
            "locale": s.locale,
            "metadata": metadata(s.metadata),
            "mode": s.mode,
            "payment_intent": s.payment_intent,
            "payment_link": s.payment_link,
            "payment_method_collection": "always",
            "payment_method_types": list(s.payment_method_types),
            "payment_status": s.payment_status,
            "setup_intent": s.setup_intent,
            "status": s.status,
            "submit_type": s.submit_type,
            "subscription": s.subscription,
            "success_url": s.success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
            if amount is not None else None,
            "ui_mode": UI_MODE_PRE_DAHLIA.get(s.ui_mode, s.ui_mode) if ver.pre_dahlia
            else s.ui_mode,
            "url": url,
        }
        if ver.pre_basil:
            obj["shipping_details"] = shipping
        return obj

    def line_item(self, parent_id: str, index: int, line: r.Line, ver: Version
                  ) -> dict[str, Any]:
        price_id, quantity, description = line
        price = self.store.prices[price_id]
        amount = (price.unit_amount or 0) * quantity
        return {
            "id": child_id("li", parent_id, index), "object": "item",
            "adjustable_quantity": None, "amount_discount": 0, "amount_subtotal": amount,
            "amount_tax": 0, "amount_total": amount, "currency": price.currency,
            "description": description, "metadata": {}, "price": self.price(price, ver),
            "quantity": quantity,
        }

    def line_items_list(self, parent_id: str, lines: tuple[r.Line, ...], ver: Version,
                        url: str) -> dict[str, Any]:
        first = lines[:EMBEDDED_LIST_LIMIT]
        return {
            "object": "list",
            "data": [self.line_item(parent_id, i, ln, ver) for i, ln in enumerate(first)],
            "has_more": len(lines) > EMBEDDED_LIST_LIMIT,
            "url": url,
        }

    # -- payments ---------------------------------------------------------------------------
    def payment_intent(self, pi: r.PaymentIntent, ver: Version) -> dict[str, Any]:
        obj = {
            "id": pi.id, **PI_STATIC, "amount": pi.amount, "amount_received": pi.amount_received,
            "canceled_at": pi.canceled_at,
            "client_secret": f"{pi.id}_secret_{pi.id[-12:]}sbx{pi.id[5:14]}",
            "created": pi.created, "currency": pi.currency, "customer": pi.customer,
            "description": pi.description, "latest_charge": pi.latest_charge,
            "livemode": pi.live, "metadata": metadata(pi.metadata),
            "payment_method": pi.payment_method,
            "payment_method_types": list(pi.payment_method_types),
            "receipt_email": pi.receipt_email, "status": pi.status,
        }
        if pi.status == "requires_payment_method" and pi.latest_charge:
            obj["last_payment_error"] = {
                "type": "invalid_request_error", "code": "payment_intent_payment_attempt_failed",
                "message": "The latest payment attempt of this PaymentIntent has failed.",
            }
        if ver.pre_basil:
            obj["invoice"] = pi.invoice
        return obj

    def charge(self, c: r.Charge, ver: Version) -> dict[str, Any]:
        if c.method_type == "card":
            details: dict[str, Any] = {"card": CARD_DETAILS, "type": "card"}
        else:
            details = {c.method_type: BANK_DETAILS.get(c.method_type, {}), "type": c.method_type}
        obj = {
            "id": c.id, **CHARGE_STATIC, "amount": c.amount,
            "amount_captured": c.amount if c.status == "succeeded" else 0,
            "amount_refunded": c.amount_refunded, "balance_transaction": c.balance_transaction,
            "billing_details": {"address": ADDRESS_NULL, "email": c.billing_email,
                                "name": c.billing_name, "phone": None, "tax_id": None},
            "created": c.created, "currency": c.currency, "customer": c.customer,
            "description": c.description, "disputed": c.disputed,
            "failure_code": c.failure_code, "failure_message": c.failure_message,
            "livemode": c.live, "metadata": metadata(c.metadata),
            "outcome": {"advice_code": None, "network_advice_code": None,
                        "network_decline_code": None, "network_status": "approved_by_network",
                        "reason": None, "risk_level": "normal", "seller_message":
                        "Payment complete.", "type": "authorized"}
            if c.status != "failed" else None,
            "paid": c.paid, "payment_intent": c.payment_intent,
            "payment_method": c.payment_method, "payment_method_details": details,
            "receipt_email": c.receipt_email,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{c.id}",
            "refunded": c.refunded, "status": c.status,
        }
        if ver.pre_basil:
            obj["invoice"] = c.invoice
        return obj

    def refund(self, x: r.Refund, ver: Version) -> dict[str, Any]:
        charge = self.store.charges.get(x.charge) if x.charge else None
        card = charge is not None and charge.method_type == "card"
        obj = {
            "id": x.id, "object": "refund", "amount": x.amount,
            "balance_transaction": x.balance_transaction, "charge": x.charge,
            "created": x.created, "currency": x.currency,
            "customer": charge.customer if charge else None, "customer_account": None,
            "destination_details": {"card": {"reference_status": "available",
                                             "reference_type": "acquirer_reference_number",
                                             "type": "refund"}, "type": "card"} if card else None,
            "metadata": metadata(x.metadata), "payment_intent": x.payment_intent,
            "payment_method": charge.payment_method if charge else None,
            "reason": x.reason, "receipt_number": None, "source_transfer_reversal": None,
            "status": x.status, "transfer_reversal": None,
        }
        if obj["destination_details"] is None:  # omitted, never null (spec: optional)
            del obj["destination_details"]
        return obj

    def dispute(self, d: r.Dispute, ver: Version) -> dict[str, Any]:
        closed = d.status in ("won", "lost")
        return {
            "id": d.id, **DISPUTE_STATIC, "amount": d.amount, "balance_transactions": [],
            "charge": d.charge, "created": d.created, "currency": d.currency,
            "evidence_details": {"due_by": d.created + 7 * 86400, "enhanced_eligibility": {},
                                 "has_evidence": False, "past_due": False,
                                 "submission_count": 0, "submission_method": "not_submitted"},
            "is_charge_refundable": False, "livemode": d.live, "metadata": metadata(d.metadata),
            "payment_intent": d.payment_intent, "reason": d.reason,
            "status": d.status if closed else "needs_response",
        }

    # -- invoices ---------------------------------------------------------------------------
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

    def event(self, e: r.Event, ver: Version) -> dict[str, Any]:
        """An event; its payload is rendered at the event's own (frozen) API version."""
        assert e.obj is not None
        data: dict[str, Any] = {"object": self.render(e.obj, version(e.api_version))}
        if e.previous is not None:
            data["previous_attributes"] = self._previous(e, data["object"])
        obj: dict[str, Any] = {
            "id": e.id, "object": "event", "api_version": e.api_version, "created": e.created,
            "data": data, "livemode": e.live, "pending_webhooks": 0,
            "request": {"id": e.request_id, "idempotency_key": None},
            "type": e.type,
        }
        if e.account:
            obj["account"] = e.account
        return obj

    def webhook_endpoint(self, w: r.WebhookEndpoint, ver: Version) -> dict[str, Any]:
        """An endpoint as retrieved: its ``secret`` is Stripe's to show once, on creation."""
        return {
            "id": w.id, "object": "webhook_endpoint", "api_version": w.api_version,
            "application": None, "created": w.created, "description": w.description,
            "enabled_events": list(w.enabled_events), "livemode": w.live,
            "metadata": metadata(w.metadata), "status": w.status, "url": w.url,
        }

    @staticmethod
    def _previous(e: r.Event, obj: dict[str, Any]) -> dict[str, Any]:
        """Previous values as of the event's version: since basil a subscription's period
        lives on its items, so an old period shows as the previous ``items``."""
        prev = e.previous or {}
        periods = ("current_period_start", "current_period_end")
        if obj.get("object") != "subscription" or "current_period_start" in obj or not any(
                k in prev for k in periods):
            return prev
        out = {k: v for k, v in prev.items() if k not in periods}
        items = obj["items"]
        out["items"] = {**items, "data": [
            {**item, **{k: prev[k] for k in periods if k in prev}} for item in items["data"]]}
        return out

    # -- expand -----------------------------------------------------------------------------
    def expand(self, obj: dict[str, Any], kind: str, tree: dict[str, Any], ver: Version,
               path: str = "") -> None:
        for key, sub in tree.items():
            full = f"{path}{key}"
            if key == "data" and obj.get("object") == "list":
                for item in obj["data"]:
                    if sub:
                        self.expand(item, item.get("object", ""), sub, ver, full + ".")
                continue
            value = obj.get(key, _ABSENT)
            if value is _ABSENT:
                included = self._include(obj, kind, key, ver)
                if included is None:
                    raise _not_expandable(full)
                obj[key] = value = included
            elif isinstance(value, str):
                if key in ("id", "object") or (kind, key) in NOT_EXPANDABLE:
                    raise _not_expandable(full)
                if PREFIX_KINDS.get(value.split("_", 1)[0]) is None:
                    raise _not_expandable(full)  # a plain string such as ``mode``
                target = self._lookup(value)
                if target is None:
                    continue
                obj[key] = value = self.render(target, ver)
            elif value is None:
                continue
            elif not isinstance(value, dict):
                raise _not_expandable(full)
            if sub and isinstance(value, dict):
                self.expand(value, value.get("object", ""), sub, ver, full + ".")

    def _include(self, obj: dict[str, Any], kind: str, key: str, ver: Version
                 ) -> dict[str, Any] | None:
        if key not in INCLUDABLE.get(kind, ()):
            return None
        obj_id = obj["id"]
        if kind == "checkout.session":
            sess = self.store.sessions[obj_id]
            return self.line_items_list(obj_id, sess.lines, ver,
                                        f"/v1/checkout/sessions/{obj_id}/line_items")
        if kind == "payment_link":
            link = self.store.payment_links[obj_id]
            return self.line_items_list(obj_id, link.lines, ver,
                                        f"/v1/payment_links/{obj_id}/line_items")
        if kind == "invoice":
            if ver.pre_basil:  # invoice.payments arrived with basil
                return None
            return self.payments_list(self.store.invoices[obj_id], ver)
        if kind == "charge":
            charge = self.store.charges[obj_id]
            refunds = self.store.page("refund", (charge.live, charge.account),
                                      limit=EMBEDDED_LIST_LIMIT, index=("charge", obj_id))
            return {"object": "list", "data": [self.refund(x, ver) for x in refunds[0]],
                    "has_more": refunds[1], "url": f"/v1/charges/{obj_id}/refunds"}
        return None

    def _lookup(self, value: str) -> r.Record | None:
        prefix = value.split("_", 1)[0]
        kind = PREFIX_KINDS.get(prefix)
        if kind is None:
            return None
        return self.store.collections[kind].get(value)


_ABSENT = object()

INCLUDABLE: dict[str, tuple[str, ...]] = {
    "checkout.session": ("line_items",),
    "payment_link": ("line_items",),
    "invoice": ("payments",),
    "charge": ("refunds",),
}
NOT_EXPANDABLE = {("line_item", "invoice"), ("", "product")}
PREFIX_KINDS = {
    "prod": "product", "price": "price", "cus": "customer", "plink": "payment_link",
    "cs": "checkout.session", "pi": "payment_intent", "ch": "charge", "py": "charge",
    "re": "refund", "dp": "dispute", "in": "invoice", "ii": "invoiceitem",
    "inpay": "invoice_payment", "sub": "subscription", "pyr": "payment_failure_refund",
    "txn": "balance_transaction", "frr": "reporting.report_run", "file": "file",
}


def _not_expandable(path: str) -> Exception:
    return invalid(f"This property cannot be expanded ({path}).", "expand")


def expand_tree(paths: list[str], prefix_data: bool = False) -> dict[str, Any]:
    """Parses ``expand[]`` into a tree; Stripe allows at most four levels."""
    tree: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                f"Property: {path}", "expand",
            )
        if any(not p for p in parts):
            raise invalid(f"Invalid expand path: {path}", "expand")
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
    return tree
