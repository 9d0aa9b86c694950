"""PaymentIntents, charges, refunds and disputes."""

from __future__ import annotations

from typing import Any

from .. import records as r
from ..store import Store
from .common import ADDRESS_NULL, Version, metadata

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



class PaymentRendering:
    """Render methods of payments, mixed into ``Renderer``."""

    store: Store

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

