"""``/v1`` PaymentIntents, charges, refunds and disputes."""

from __future__ import annotations

from typing import Any

from .. import billing
from ..endpoints import Endpoints, Request, given, only_one
from ..errors import invalid
from ..params import (
    check_known,
    get_enum,
    get_int,
    get_metadata,
    get_str,
)


class PaymentRoutes(Endpoints):
    """PaymentIntents, charges, refunds and disputes, with Stripe's rules and errors."""

    def add_routes(self) -> None:
        res = self.resource
        res("/v1/payment_intents", "payment_intent", "PaymentIntentRetrieveParams",
            listing=self.list_payment_intents)
        res("/v1/charges", "charge", "ChargeRetrieveParams", listing=self.list_charges)
        res("/v1/refunds", "refund", "RefundRetrieveParams", create=self.create_refund,
            listing=self.list_refunds)
        res("/v1/disputes", "dispute", "DisputeRetrieveParams", listing=self.list_disputes)
        super().add_routes()

    def list_payment_intents(self, req: Request, args: list[str]) -> dict[str, Any]:
        return self.filtered_page(req, "payment_intent", "/v1/payment_intents", "PaymentIntentListParams",
                                  given(("customer", get_str(req.params, "customer"))))

    def list_charges(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        return self.filtered_page(req, "charge", "/v1/charges", "ChargeListParams",
                                  given(("payment_intent", get_str(p, "payment_intent")), ("customer", get_str(p, "customer"))))

    def create_refund(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "RefundCreateParams")
        charge_id = get_str(p, "charge")
        pi_id = get_str(p, "payment_intent")
        if charge_id and pi_id:
            raise only_one("charge", "payment_intent", param="payment_intent")
        if charge_id:
            charge = self.get(req, "charge", charge_id, "charge", 400)
        elif pi_id:
            pi = self.get(req, "payment_intent", pi_id, "payment_intent", 400)
            if pi.latest_charge is None or pi.status != "succeeded":
                raise invalid(f"This PaymentIntent ({pi.id}) does not have a successful charge "
                              "to refund.", "payment_intent", "charge_not_refundable")
            charge = self.store.charges[pi.latest_charge]
        else:
            raise invalid("One of the following params should be provided for this request: "
                          "payment_intent or charge.", None, "parameter_missing")
        reason = get_enum(p, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
        refund = billing.create_refund(self.ctx(req), charge, get_int(p, "amount", minimum=1),
                                       reason, get_metadata(p))
        return self.out(req, refund)

    def list_refunds(self, req: Request, args: list[str]) -> dict[str, Any]:
        return self._by_charge(req, "refund", "/v1/refunds", "RefundListParams")

    def list_disputes(self, req: Request, args: list[str]) -> dict[str, Any]:
        return self._by_charge(req, "dispute", "/v1/disputes", "DisputeListParams")

    def _by_charge(self, req: Request, kind: str, url: str, params_class: str
                   ) -> dict[str, Any]:
        p = req.params
        return self.filtered_page(req, kind, url, params_class,
                                  given(("charge", get_str(p, "charge")), ("payment_intent", get_str(p, "payment_intent"))))

