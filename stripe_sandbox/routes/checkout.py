"""``/v1`` Payment Links and Checkout Sessions, and the line items both list."""

from __future__ import annotations

from typing import Any

from .. import billing
from .. import records as r
from ..endpoints import Check, Endpoints, Handler, Request, equal, given, only_one
from ..errors import invalid, missing_param
from ..ids import child_id
from ..params import (
    check_known,
    get_bool,
    get_dict,
    get_enum,
    get_int,
    get_list,
    get_metadata,
    get_str,
    list_of_objects,
)


class CheckoutRoutes(Endpoints):
    """Payment Links and Checkout Sessions, with Stripe's rules and errors."""

    def add_routes(self) -> None:
        res = self.resource
        res("/v1/payment_links", "payment_link", "PaymentLinkRetrieveParams",
            create=self.create_payment_link, listing=self.list_payment_links)
        self.route("GET", "/v1/payment_links/{id}/line_items",
                   self.line_items("payment_link", "/v1/payment_links",
                                   "PaymentLinkListLineItemsParams"))
        res("/v1/checkout/sessions", "checkout.session", "checkout.SessionRetrieveParams",
            create=self.create_session, listing=self.list_sessions)
        self.route("GET", "/v1/checkout/sessions/{id}/line_items",
                   self.line_items("checkout.session", "/v1/checkout/sessions",
                                   "checkout.SessionListLineItemsParams"))
        self.route("POST", "/v1/checkout/sessions/{id}/expire", self.expire_session)
        super().add_routes()

    def _lines(self, req: Request, items: list[Any], param: str = "line_items"
               ) -> list[r.Line]:
        lines: list[r.Line] = []
        for where, item in list_of_objects(items, param):
            price = self.get(req, "price", get_str(item, "price"), f"{where}[price]", 400)
            if not price.active:
                raise invalid(f"The price specified ({price.id}) is inactive. This field only "
                              "accepts active prices.", f"{where}[price]")
            quantity = get_int(item, "quantity", minimum=1)
            if quantity is None:
                raise missing_param(f"{where}[quantity]")
            lines.append((price.id, quantity, self.store.products[price.product].name))
        return lines

    def create_payment_link(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "PaymentLinkCreateParams")
        lines = self._lines(req, get_list(p, "line_items"))
        self._one_currency(lines)
        fields: dict[str, Any] = {"metadata": get_metadata(p) or {}}
        creation = get_enum(p, "customer_creation", ("always", "if_required"))
        if creation:
            fields["customer_creation"] = creation
        inv = get_dict(p, "invoice_creation")
        if inv is not None:
            fields["invoice_creation"] = bool(get_bool(inv, "enabled"))
        return self.out(req, billing.create_payment_link(self.ctx(req), lines, **fields))

    def _one_currency(self, lines: list[r.Line]) -> None:
        currencies = {self.store.prices[x[0]].currency for x in lines}
        if len(currencies) > 1:
            raise invalid("All line items must use the same currency.", "line_items")

    def list_payment_links(self, req: Request, args: list[str]) -> dict[str, Any]:
        active = get_bool(req.params, "active")
        conds: list[Check] = []
        equal(conds, "active", active)
        return self.filtered_page(req, "payment_link", "/v1/payment_links", "PaymentLinkListParams", checks=conds)

    def line_items(self, kind: str, path: str, params_class: str) -> Handler:
        """``GET path/{id}/line_items`` of a payment link or checkout session."""
        def handler(req: Request, args: list[str]) -> dict[str, Any]:
            parent = self.get(req, kind, args[0])
            lines: tuple[r.Line, ...] = parent.lines
            ids = [child_id("li", parent.id, i) for i in range(len(lines))]
            return self.child_page(
                req, ids, lambda i: self.render.line_item(parent.id, i, lines[i], req.ver),
                f"{path}/{parent.id}/line_items", params_class)
        return handler

    def create_session(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "checkout.SessionCreateParams")
        mode = get_enum(p, "mode", ("payment", "setup", "subscription"))
        if mode is None:
            raise missing_param("mode")
        items = get_list(p, "line_items")
        lines = self._lines(req, items) if items or mode != "setup" else []
        self._check_mode(mode, lines)
        fields: dict[str, Any] = {"metadata": get_metadata(p) or {}}
        customer = get_str(p, "customer")
        email = get_str(p, "customer_email")
        if customer and email:
            raise only_one("customer", "customer_email", param="customer_email")
        if customer:
            fields["customer"] = self.get(req, "customer", customer, "customer", 400).id
        if email:
            fields["customer_email"] = email
        creation = get_enum(p, "customer_creation", ("always", "if_required"))
        if creation:
            if mode != "payment":
                raise invalid("`customer_creation` can only be used in `payment` mode.",
                              "customer_creation")
            fields["customer_creation"] = creation
        inv = get_dict(p, "invoice_creation")
        if inv is not None and get_bool(inv, "enabled"):
            if mode != "payment":
                raise invalid("`invoice_creation` can only be used in `payment` mode.",
                              "invoice_creation")
            fields["invoice_creation"] = True
        for name in ("success_url", "cancel_url", "client_reference_id", "locale"):
            value = get_str(p, name)
            if value:
                fields[name] = value
        submit = get_enum(p, "submit_type", ("auto", "book", "donate", "pay", "subscribe"))
        if submit:
            fields["submit_type"] = submit
        ui_mode = get_str(p, "ui_mode")
        if ui_mode:
            fields["ui_mode"] = {"hosted": "hosted_page", "embedded": "embedded_page",
                                 "custom": "elements"}.get(ui_mode, ui_mode)
        methods = get_list(p, "payment_method_types")
        if methods:
            fields["payment_method_types"] = tuple(str(x) for x in methods)
        expires = get_int(p, "expires_at")
        if expires is not None:
            if not req.now + 1800 <= expires <= req.now + billing.SESSION_TTL:
                raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 "
                              "hours from Checkout Session creation.", "expires_at")
            fields["expires_at"] = expires
        currency = get_str(p, "currency")
        if currency:
            fields["currency"] = currency.lower()
        elif mode == "setup" and not lines:
            raise missing_param("currency")
        return self.out(req, billing.create_session(self.ctx(req), mode, lines, **fields))

    def _check_mode(self, mode: str, lines: list[r.Line]) -> None:
        recurring = [x for x in lines if self.store.prices[x[0]].interval]
        if mode == "subscription" and not recurring:
            raise invalid("You must provide at least one recurring price in `subscription` "
                          "mode when using prices.", "line_items")
        if mode == "payment" and recurring:
            raise invalid("You specified `payment` mode but passed a recurring price. Either "
                          "switch to `subscription` mode or use only one-time prices.",
                          "line_items")

    def list_sessions(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        filters = given(*((name, get_str(p, name)) for name in (
            "payment_intent", "subscription", "customer", "payment_link")))
        details = get_dict(p, "customer_details")
        if details is not None:
            email = get_str(details, "email", required=True)
            filters.append(("email", email or ""))
        conds: list[Check] = []
        equal(conds, "status", get_enum(p, "status", ("complete", "expired", "open")))
        return self.filtered_page(req, "checkout.session", "/v1/checkout/sessions", "checkout.SessionListParams",
                                  filters, conds)

    def expire_session(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "checkout.SessionExpireParams")
        sess = self.get(req, "checkout.session", args[0])
        return self.out(req, billing.expire_session(self.ctx(req), sess))

