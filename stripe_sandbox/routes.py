"""Stripe's ``/v1`` endpoints: validation of each call's params, list filters, then billing.

Handlers take a :class:`~.endpoints.Request` and the path arguments and return the JSON-ready body;
state changes go through :mod:`.billing`, bodies through :mod:`.render`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import billing
from . import records as r
from .endpoints import (
    Check,
    Endpoints,
    Handler,
    Request,
    all_of,
    equal,
    given,
    index_and_checks,
    only_one,
    within,
)
from .errors import invalid, missing, missing_param
from .ids import child_id
from .params import (
    check_known,
    get_bool,
    get_dict,
    get_enum,
    get_int,
    get_list,
    get_metadata,
    get_range,
    get_str,
    merge_metadata,
)

DAY = 86400


class StripeRoutes(Endpoints):
    """The ``/v1`` endpoints the indexer and its tests use, with Stripe's rules and errors."""

    def add_routes(self) -> None:
        res = self.resource
        res("/v1/products", "product", "ProductRetrieveParams", create=self.create_product,
            listing=self.list_products, update=self.update_product, delete=self.delete_product)
        res("/v1/prices", "price", "PriceRetrieveParams", create=self.create_price,
            listing=self.list_prices)
        res("/v1/customers", "customer", "CustomerRetrieveParams", create=self.create_customer,
            listing=self.list_customers)
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
        res("/v1/payment_intents", "payment_intent", "PaymentIntentRetrieveParams",
            listing=self.list_payment_intents)
        res("/v1/charges", "charge", "ChargeRetrieveParams", listing=self.list_charges)
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
        res("/v1/refunds", "refund", "RefundRetrieveParams", create=self.create_refund,
            listing=self.list_refunds)
        res("/v1/disputes", "dispute", "DisputeRetrieveParams", listing=self.list_disputes)
        self.route("GET", "/v1/events", self.list_events)
        self.route("GET", "/v1/events/{id}", self.retrieve_event)
        super().add_routes()

    def resource(self, path: str, kind: str, retrieve_params: str, *,
                 create: Handler | None = None, listing: Handler | None = None,
                 update: Handler | None = None, delete: Handler | None = None) -> None:
        """The routes of one object kind: ``path`` to create and list, ``path/{id}`` to
        retrieve (always), update and delete."""
        one = path + "/{id}"
        for method, template, handler in (
                ("POST", path, create), ("GET", path, listing),
                ("GET", one, self.retrieve(kind, retrieve_params)), ("POST", one, update),
                ("DELETE", one, delete)):
            if handler is not None:
                self.route(method, template, handler)

    # -- products ---------------------------------------------------------------------------
    def create_product(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "ProductCreateParams")
        name = get_str(p, "name", required=True)
        if not name:
            raise invalid("You must supply a non-empty name.", "name")
        fields: dict[str, Any] = {
            "description": get_str(p, "description"), "metadata": get_metadata(p) or {},
            "url": get_str(p, "url"), "images": tuple(str(x) for x in get_list(p, "images")),
        }
        active = get_bool(p, "active")
        if active is not None:
            fields["active"] = active
        kind = get_enum(p, "type", ("good", "service"))
        if kind:
            fields["type"] = kind
        custom_id = get_str(p, "id")
        if custom_id:
            if custom_id in self.store.products:
                raise invalid(f"Product already exists. ({custom_id})", "id",
                              "resource_already_exists")
            fields["id"] = custom_id
        price_data = get_dict(p, "default_price_data")
        ctx = self.ctx(req)
        prod = billing.create_product(ctx, name, **fields)
        if price_data is not None:
            price = self._new_price(ctx, prod, price_data, "default_price_data")
            prod = billing.update_product(ctx, prod, default_price=price.id)
        return self.out(req, prod)

    def update_product(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "ProductUpdateParams")
        prod = self.get(req, "product", args[0])
        changes: dict[str, Any] = {}
        for name in ("name", "description", "url"):
            if name in p:
                changes[name] = get_str(p, name) or None
        if "name" in changes and not changes["name"]:
            raise invalid("You must supply a non-empty name.", "name")
        active = get_bool(p, "active")
        if active is not None:
            changes["active"] = active
        if "images" in p:
            changes["images"] = tuple(str(x) for x in get_list(p, "images"))
        if "default_price" in p:
            price_id = get_str(p, "default_price") or None
            if price_id is not None:
                price = self.get(req, "price", price_id, "default_price", 400)
                if price.product != prod.id:
                    raise invalid("The price must belong to this product.", "default_price")
            changes["default_price"] = price_id
        meta = get_metadata(p)
        if meta is not None:
            changes["metadata"] = merge_metadata(prod.metadata, meta)
        prod = billing.update_product(self.ctx(req), prod, **changes)
        return self.out(req, prod)

    def delete_product(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "ProductDeleteParams")
        prod = self.get(req, "product", args[0])
        if self.store.page("price", req.scope, limit=1, index=("product", prod.id))[0]:
            raise invalid("This product cannot be deleted because it has one or more "
                          "user-created prices.", None, "product_has_prices")
        self.ctx(req).emit("product.deleted", prod)
        self.store.delete(prod)
        return {"id": prod.id, "object": "product", "deleted": True}

    def list_products(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        conds: list[Check] = []
        equal(conds, "active", get_bool(p, "active"))
        ids = set(str(x) for x in get_list(p, "ids"))
        if ids:
            conds.append(lambda x: x.id in ids)
        equal(conds, "url", get_str(p, "url"))
        equal(conds, "type", get_enum(p, "type", ("good", "service")))
        get_bool(p, "shippable")
        return self.page(req, "product", "/v1/products", "ProductListParams",
                         where=all_of(conds))

    # -- prices -----------------------------------------------------------------------------
    def _new_price(self, ctx: billing.Ctx, prod: r.Product, p: dict[str, Any],
                   prefix: str = "") -> r.Price:
        def name(field: str) -> str:
            return f"{prefix}[{field}]" if prefix else field
        currency = get_str(p, "currency")
        if not currency:
            raise missing_param(name("currency"))
        unit_amount = get_int(p, "unit_amount", minimum=0)
        if unit_amount is None and "unit_amount_decimal" in p:
            unit_amount = int(float(str(p["unit_amount_decimal"])))
        if unit_amount is None:
            raise missing_param(name("unit_amount"))
        fields: dict[str, Any] = {"metadata": get_metadata(p) or {}}
        recurring = get_dict(p, "recurring")
        if recurring is not None:
            interval = get_enum(recurring, "interval", ("day", "week", "month", "year"))
            if interval is None:
                raise missing_param(f"{name('recurring')}[interval]")
            fields["interval"] = interval
            fields["interval_count"] = get_int(recurring, "interval_count", minimum=1) or 1
        for field in ("nickname", "lookup_key"):
            if field in p:
                fields[field] = get_str(p, field)
        behavior = get_enum(p, "tax_behavior", ("exclusive", "inclusive", "unspecified"))
        if behavior:
            fields["tax_behavior"] = behavior
        active = get_bool(p, "active")
        if active is not None:
            fields["active"] = active
        return billing.create_price(ctx, prod, currency, unit_amount, **fields)

    def create_price(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "PriceCreateParams")
        ctx = self.ctx(req)
        product_data = get_dict(p, "product_data")
        if product_data is not None:
            pname = get_str(product_data, "name")
            if not pname:
                raise missing_param("product_data[name]")
            prod = billing.create_product(ctx, pname,
                                          metadata=get_metadata(product_data) or {})
        else:
            prod = self.get(req, "product", get_str(p, "product", required=True), "product", 400)
        return self.out(req, self._new_price(ctx, prod, p))

    def list_prices(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        conds: list[Check] = []
        equal(conds, "active", get_bool(p, "active"))
        equal(conds, "type", get_enum(p, "type", ("one_time", "recurring")))
        currency = get_str(p, "currency")
        if currency:
            conds.append(lambda x: x.currency == currency.lower())
        keys = set(str(x) for x in get_list(p, "lookup_keys"))
        if keys:
            conds.append(lambda x: x.lookup_key in keys)
        recurring = get_dict(p, "recurring")
        if recurring:
            interval = get_str(recurring, "interval")
            if interval:
                conds.append(lambda x: x.interval == interval)
        product = get_str(p, "product")
        return self.page(req, "price", "/v1/prices", "PriceListParams",
                         index=("product", product) if product else None, where=all_of(conds))

    # -- customers --------------------------------------------------------------------------
    def create_customer(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "CustomerCreateParams")
        fields: dict[str, Any] = {
            "email": get_str(p, "email") or None, "name": get_str(p, "name") or None,
            "description": get_str(p, "description") or None,
            "phone": get_str(p, "phone") or None, "metadata": get_metadata(p) or {},
        }
        addr = get_dict(p, "address")
        if addr:
            fields["address"] = tuple(get_str(addr, k) for k in (
                "line1", "line2", "city", "state", "postal_code", "country"))
        return self.out(req, billing.create_customer(self.ctx(req), **fields))

    def list_customers(self, req: Request, args: list[str]) -> dict[str, Any]:
        email = get_str(req.params, "email")
        clock = get_str(req.params, "test_clock")
        index = ("email", email) if email else ("test_clock", clock) if clock else None
        return self.page(req, "customer", "/v1/customers", "CustomerListParams", index=index)

    # -- payment links ----------------------------------------------------------------------
    def _lines(self, req: Request, items: list[Any], param: str = "line_items"
               ) -> list[r.Line]:
        lines: list[r.Line] = []
        for where, item in _objects(items, param):
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
        where = None if active is None else (lambda x: x.active == active)
        return self.page(req, "payment_link", "/v1/payment_links", "PaymentLinkListParams",
                         where=where)

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

    # -- checkout ---------------------------------------------------------------------------
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
        index, conds = index_and_checks(filters)
        equal(conds, "status", get_enum(p, "status", ("complete", "expired", "open")))
        return self.page(req, "checkout.session", "/v1/checkout/sessions",
                         "checkout.SessionListParams", index=index, where=all_of(conds))

    def expire_session(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "checkout.SessionExpireParams")
        sess = self.get(req, "checkout.session", args[0])
        return self.out(req, billing.expire_session(self.ctx(req), sess))

    # -- payments ---------------------------------------------------------------------------
    def list_payment_intents(self, req: Request, args: list[str]) -> dict[str, Any]:
        customer = get_str(req.params, "customer")
        return self.page(req, "payment_intent", "/v1/payment_intents",
                         "PaymentIntentListParams",
                         index=("customer", customer) if customer else None)

    def list_charges(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        index, conds = index_and_checks(given(("payment_intent", get_str(p, "payment_intent")),
                                              ("customer", get_str(p, "customer"))))
        return self.page(req, "charge", "/v1/charges", "ChargeListParams", index=index,
                         where=all_of(conds))

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
        index, conds = index_and_checks(given(("charge", get_str(p, "charge")),
                                              ("payment_intent", get_str(p, "payment_intent"))))
        return self.page(req, kind, url, params_class, index=index, where=all_of(conds))

    # -- invoices ---------------------------------------------------------------------------
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
        index, conds = index_and_checks(given(("subscription", get_str(p, "subscription")),
                                              ("customer", get_str(p, "customer"))))
        equal(conds, "status",
              get_enum(p, "status", ("draft", "open", "paid", "uncollectible", "void")))
        equal(conds, "collection_method",
              get_enum(p, "collection_method", ("charge_automatically", "send_invoice")))
        due = get_range(p, "due_date")
        if due != (None, None):
            conds.append(lambda x: x.due_date is not None and within(x.due_date, due))
        return self.page(req, "invoice", "/v1/invoices", "InvoiceListParams", index=index,
                         where=all_of(conds))

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
        index, conds = index_and_checks(given(("invoice", invoice), ("payment_intent", pi)))
        equal(conds, "status", get_enum(p, "status", ("canceled", "open", "paid")))
        return self.page(req, "invoice_payment", "/v1/invoice_payments",
                         "InvoicePaymentListParams", index=index, where=all_of(conds))

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

    # -- subscriptions ----------------------------------------------------------------------
    def create_subscription(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "SubscriptionCreateParams")
        cus = self.get(req, "customer", get_str(p, "customer", required=True), "customer", 400)
        items: list[tuple[r.Price, int]] = []
        for where, item in _objects(get_list(p, "items"), "items"):
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
        index, conds = index_and_checks(given(("customer", get_str(p, "customer")),
                                              ("test_clock", get_str(p, "test_clock"))))
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
        return self.page(req, "subscription", "/v1/subscriptions", "SubscriptionListParams",
                         index=index, where=all_of(conds))

    def cancel_subscription(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "SubscriptionCancelParams")
        sub = self.get(req, "subscription", args[0])
        return self.out(req, billing.cancel_subscription(self.ctx(req), sub))

    # -- events -----------------------------------------------------------------------------
    def _oldest_event(self, req: Request) -> int | None:
        days = self.store.event_retention_days
        return None if days is None else req.now - days * DAY

    def retrieve_event(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "EventRetrieveParams")
        event = self.get(req, "event", args[0])
        oldest = self._oldest_event(req)
        if oldest is not None and event.created < oldest:
            raise missing("event", event.id, "id")
        return self.out(req, event)

    def list_events(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        if "type" in p and "types" in p:
            raise only_one("type", "types", param="types")
        patterns = [str(x) for x in get_list(p, "types")]
        if len(patterns) > 20:
            raise invalid("You may only specify up to 20 event types.", "types")
        one = get_str(p, "type")
        if one:
            patterns = [one]
        get_bool(p, "delivery_success")
        low, high = get_range(p, "created")
        oldest = self._oldest_event(req)
        if oldest is not None:
            low = oldest if low is None else max(low, oldest)
        return self.page(req, "event", "/v1/events", "EventListParams",
                         where=_type_matcher(patterns), created=(low, high))



def _type_matcher(patterns: list[str]) -> Check | None:
    """Stripe's event type filter: exact names, or ``prefix.*`` wildcards."""
    if not patterns:
        return None
    exact = {x for x in patterns if "*" not in x}
    prefixes = tuple(x[:-1] for x in patterns if x.endswith(".*"))
    return lambda e: e.type in exact or (bool(prefixes) and e.type.startswith(prefixes))


def _objects(items: list[Any], param: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of a required list of objects (``line_items``, ``items``), each with the
    name errors give it (``items[0]``)."""
    if not items:
        raise missing_param(param)
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"Invalid object: {where}", where, "parameter_invalid_object")
        yield where, item
