"""Checkout Sessions, Payment Links and the line items both carry."""

from __future__ import annotations

from typing import Any

from .. import records as r
from ..ids import child_id
from ..store import Store
from .catalog import CatalogRendering
from .common import EMBEDDED_LIST_LIMIT, Version, address, metadata

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


class CheckoutRendering(CatalogRendering):
    """Render methods of Checkout, mixed into ``Renderer``."""

    store: Store

    def payment_link(self, link: r.PaymentLink, ver: Version) -> dict[str, Any]:
        return {
            "id": link.id, **PAYMENT_LINK_STATIC, "active": link.active,
            "currency": link.currency, "customer_creation": link.customer_creation,
            "invoice_creation": INVOICE_CREATION_ON if link.invoice_creation
            else INVOICE_CREATION_OFF,
            "livemode": link.live, "metadata": metadata(link.metadata), "url": link.url,
        }

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

