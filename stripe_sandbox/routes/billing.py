"""``/v1`` invoices, invoice items, invoice payments and subscriptions."""

from __future__ import annotations

from typing import Any

from .. import billing
from .. import records as r
from ..endpoints import Check, Endpoints, Request, equal, given, within
from ..errors import invalid
from ..ids import child_id
from ..params import (
    check_known,
    get_bool,
    get_dict,
    get_enum,
    get_int,
    get_list,
    get_metadata,
    get_range,
    get_str,
    list_of_objects,
)


class BillingRoutes(Endpoints):
    """Invoices and subscriptions, with Stripe's rules and errors."""

    def add_routes(self) -> None:
        res = self.resource
        res("/v1/invoices", "invoice", "InvoiceRetrieveParams", create=self.create_invoice,
            listing=self.list_invoices)
        self.route("GET", "/v1/invoices/{id}/lines", self.invoice_lines)
        self.route("POST", "/v1/invoices/{id}/finalize", self.finalize_invoice)
        self.route("POST", "/v1/invoices/{id}/pay", self.pay_invoice)
        res("/v1/invoice_payments", "invoice_payment", "InvoicePaymentRetrieveParams",
            listing=self.list_invoice_payments)
        res("/v1/invoiceitems", "invoiceitem", "InvoiceItemRetrieveParams",
            create=self.create_invoice_item)
        res("/v1/subscriptions", "subscription", "SubscriptionRetrieveParams",
            create=self.create_subscription, listing=self.list_subscriptions,
            delete=self.cancel_subscription)
        super().add_routes()

    def create_invoice(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "InvoiceCreateParams")
        cus = self.get(req, "customer", get_str(p, "customer", required=True), "customer", 400)
        behavior = get_enum(p, "pending_invoice_items_behavior", ("exclude", "include"))
        method = get_enum(p, "collection_method", ("charge_automatically", "send_invoice"))
        sub_id = get_str(p, "subscription")
        if sub_id:
            self.get(req, "subscription", sub_id, "subscription", 400)
        currency = get_str(p, "currency")
        inv = billing.create_invoice(
            self.ctx(req), cus, include_pending=behavior == "include", subscription=sub_id,
            currency=currency.lower() if currency else None,
            description=get_str(p, "description"),
            collection_method=method or "charge_automatically",
            auto_advance=get_bool(p, "auto_advance"), metadata=get_metadata(p))
        return self.out(req, inv)

    def finalize_invoice(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "InvoiceFinalizeInvoiceParams")
        inv = self.get(req, "invoice", args[0])
        return self.out(req, billing.finalize_invoice(self.ctx(req), inv))

    def pay_invoice(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "InvoicePayParams")
        inv = self.get(req, "invoice", args[0])
        oob = bool(get_bool(req.params, "paid_out_of_band"))
        return self.out(req, billing.pay_invoice(self.ctx(req), inv, oob))

    def list_invoices(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        filters = given(("subscription", get_str(p, "subscription")), ("customer", get_str(p, "customer")))
        conds: list[Check] = []
        equal(conds, "status",
              get_enum(p, "status", ("draft", "open", "paid", "uncollectible", "void")))
        equal(conds, "collection_method",
              get_enum(p, "collection_method", ("charge_automatically", "send_invoice")))
        due = get_range(p, "due_date")
        if due != (None, None):
            conds.append(lambda x: x.due_date is not None and within(x.due_date, due))
        return self.filtered_page(req, "invoice", "/v1/invoices", "InvoiceListParams", filters, conds)

    def invoice_lines(self, req: Request, args: list[str]) -> dict[str, Any]:
        inv = self.get(req, "invoice", args[0])
        ids = [child_id("il", inv.id, i) for i in range(len(inv.lines))]
        return self.child_page(
            req, ids, lambda i: self.render.invoice_line(inv, i, inv.lines[i], req.ver),
            f"/v1/invoices/{inv.id}/lines", "InvoiceListLinesParams")

    def list_invoice_payments(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        invoice = get_str(p, "invoice")
        payment = get_dict(p, "payment")
        pi = get_str(payment, "payment_intent") if payment else None
        conds: list[Check] = []
        equal(conds, "status", get_enum(p, "status", ("canceled", "open", "paid")))
        return self.filtered_page(req, "invoice_payment", "/v1/invoice_payments", "InvoicePaymentListParams",
                                  given(("invoice", invoice), ("payment_intent", pi)), conds)

    def create_invoice_item(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "InvoiceItemCreateParams")
        cus = self.get(req, "customer", get_str(p, "customer", required=True), "customer", 400)
        pricing = get_dict(p, "pricing")
        price_id = get_str(pricing, "price") if pricing else None
        price = self.get(req, "price", price_id, "pricing[price]", 400) if price_id else None
        inv_id = get_str(p, "invoice")
        inv = self.get(req, "invoice", inv_id, "invoice", 400) if inv_id else None
        if inv is not None and inv.status != "draft":
            raise invalid(f"You can only add invoice items to draft invoices; {inv.id} is "
                          f"{inv.status}.", "invoice", "invoice_not_editable")
        sub_id = get_str(p, "subscription")
        if sub_id:
            self.get(req, "subscription", sub_id, "subscription", 400)
        item = billing.create_invoice_item(
            self.ctx(req), cus, amount=get_int(p, "amount"), currency=get_str(p, "currency"),
            price=price, quantity=get_int(p, "quantity", minimum=1) or 1,
            description=get_str(p, "description"), invoice=inv, subscription=sub_id,
            metadata=get_metadata(p))
        return self.out(req, item)

    def create_subscription(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "SubscriptionCreateParams")
        cus = self.get(req, "customer", get_str(p, "customer", required=True), "customer", 400)
        items: list[tuple[r.Price, int]] = []
        for where, item in list_of_objects(get_list(p, "items"), "items"):
            price = self.get(req, "price", get_str(item, "price", required=True),
                             f"{where}[price]", 400)
            if not price.interval:
                raise invalid(f"The price specified ({price.id}) is not a recurring price.",
                              f"{where}[price]")
            items.append((price, get_int(item, "quantity", minimum=1) or 1))
        behavior = get_enum(p, "payment_behavior", (
            "allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"))
        sub, _ = billing.create_subscription(
            self.ctx(req), cus, items, delayed=behavior == "default_incomplete",
            metadata=get_metadata(p))
        return self.out(req, self.store.subscriptions[sub.id])

    def list_subscriptions(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        filters = given(("customer", get_str(p, "customer")), ("test_clock", get_str(p, "test_clock")))
        conds: list[Check] = []
        price = get_str(p, "price") or get_str(p, "plan")
        if price:
            conds.append(lambda x: any(item[1] == price for item in x.items))
        status = get_enum(p, "status", (
            "active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
            "past_due", "paused", "trialing", "unpaid"))
        if status is None:
            conds.append(lambda x: x.status not in ("canceled", "incomplete_expired"))
        elif status == "ended":
            conds.append(lambda x: x.status in ("canceled", "incomplete_expired"))
        elif status != "all":
            conds.append(lambda x: x.status == status)
        for name in ("current_period_start", "current_period_end"):
            bounds = get_range(p, name)
            if bounds != (None, None):
                conds.append(lambda x, n=name, b=bounds: within(getattr(x, n), b))
        return self.filtered_page(req, "subscription", "/v1/subscriptions", "SubscriptionListParams",
                                  filters, conds)

    def cancel_subscription(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "SubscriptionCancelParams")
        sub = self.get(req, "subscription", args[0])
        return self.out(req, billing.cancel_subscription(self.ctx(req), sub))

