"""The sandbox over HTTP: Stripe's REST API (form bodies in, JSON out) on a threaded server.

``SandboxServer`` owns the transport and the knobs (auth, ``Stripe-Version``, ``Stripe-Account``,
latency, rate limit, injected failures, idempotency keys, ``Request-Id``); :class:`Api` owns the
routes. Every state change goes through :mod:`billing` (which emits the events), every response
body through :mod:`render`. Requests are handled one at a time under the store's lock: rendering
is CPU-bound (the GIL serialises it anyway) and billing's multi-step changes must not interleave.
Only the latency sleep happens outside the lock, so slow responses still overlap.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from . import billing
from . import records as r
from .errors import StripeError, invalid, missing
from .ids import child_id, request_id
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
    parse_form,
)
from .render import Renderer, Version, expand_tree, version
from .store import Scope, Store

log = logging.getLogger("indexer.sandbox")

KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
IDEMPOTENCY_CACHE = 10_000
DAY = 86400

#: the name Stripe uses for each object in "No such ..." messages
KIND_NAMES = {"checkout.session": "checkout.session", "invoiceitem": "invoiceitem"}


class Request:
    """One API call: what was asked, by whom (scope), and at which API version."""

    __slots__ = ("method", "path", "params", "scope", "ver", "request_id", "now")

    def __init__(self, method: str, path: str, params: dict[str, Any], scope: Scope,
                 ver: Version, req_id: str, now: int) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.scope = scope
        self.ver = ver
        self.request_id = req_id
        self.now = now


Handler = Callable[[Request, list[str]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    family: str
    handler: Handler


class Api:
    """Stripe's endpoints over a :class:`Store` (no HTTP here: params in, JSON-ready dict out)."""

    def __init__(self, store: Store, webhooks: Any = None) -> None:
        self.store = store
        self.webhooks = webhooks
        self.render = Renderer(store)
        self.routes: list[Route] = []
        #: what ``GET /sandbox/stats`` answers; the server sets it to its own counters
        self.stats: Callable[[], dict[str, Any]] = dict
        self._add_routes()

    # -- routing ----------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile("^" + re.sub(r"\{\w+\}", "([^/]+)", template) + "$")
        self.routes.append(Route(method, pattern, template, handler))

    def match(self, method: str, path: str) -> tuple[Route | None, list[str], bool]:
        """The route for a request, its path arguments, and whether the path exists at all."""
        path_known = False
        for rt in self.routes:
            m = rt.pattern.match(path)
            if m is None:
                continue
            path_known = True
            if rt.method == method:
                return rt, [unquote(g) for g in m.groups()], True
        return None, [], path_known

    def _add_routes(self) -> None:
        add = self.route
        add("POST", "/v1/products", self.create_product)
        add("GET", "/v1/products", self.list_products)
        add("GET", "/v1/products/{id}", self.retrieve("product", "ProductRetrieveParams"))
        add("POST", "/v1/products/{id}", self.update_product)
        add("DELETE", "/v1/products/{id}", self.delete_product)
        add("POST", "/v1/prices", self.create_price)
        add("GET", "/v1/prices", self.list_prices)
        add("GET", "/v1/prices/{id}", self.retrieve("price", "PriceRetrieveParams"))
        add("POST", "/v1/customers", self.create_customer)
        add("GET", "/v1/customers", self.list_customers)
        add("GET", "/v1/customers/{id}", self.retrieve("customer", "CustomerRetrieveParams"))
        add("POST", "/v1/payment_links", self.create_payment_link)
        add("GET", "/v1/payment_links", self.list_payment_links)
        add("GET", "/v1/payment_links/{id}",
            self.retrieve("payment_link", "PaymentLinkRetrieveParams"))
        add("GET", "/v1/payment_links/{id}/line_items", self.payment_link_line_items)
        add("POST", "/v1/checkout/sessions", self.create_session)
        add("GET", "/v1/checkout/sessions", self.list_sessions)
        add("GET", "/v1/checkout/sessions/{id}",
            self.retrieve("checkout.session", "checkout.SessionRetrieveParams"))
        add("GET", "/v1/checkout/sessions/{id}/line_items", self.session_line_items)
        add("POST", "/v1/checkout/sessions/{id}/expire", self.expire_session)
        add("GET", "/v1/payment_intents", self.list_payment_intents)
        add("GET", "/v1/payment_intents/{id}",
            self.retrieve("payment_intent", "PaymentIntentRetrieveParams"))
        add("GET", "/v1/charges", self.list_charges)
        add("GET", "/v1/charges/{id}", self.retrieve("charge", "ChargeRetrieveParams"))
        add("POST", "/v1/invoices", self.create_invoice)
        add("GET", "/v1/invoices", self.list_invoices)
        add("GET", "/v1/invoices/{id}", self.retrieve("invoice", "InvoiceRetrieveParams"))
        add("GET", "/v1/invoices/{id}/lines", self.invoice_lines)
        add("POST", "/v1/invoices/{id}/finalize", self.finalize_invoice)
        add("POST", "/v1/invoices/{id}/pay", self.pay_invoice)
        add("GET", "/v1/invoice_payments", self.list_invoice_payments)
        add("GET", "/v1/invoice_payments/{id}",
            self.retrieve("invoice_payment", "InvoicePaymentRetrieveParams"))
        add("POST", "/v1/invoiceitems", self.create_invoice_item)
        add("GET", "/v1/invoiceitems/{id}",
            self.retrieve("invoiceitem", "InvoiceItemRetrieveParams"))
        add("POST", "/v1/subscriptions", self.create_subscription)
        add("GET", "/v1/subscriptions", self.list_subscriptions)
        add("GET", "/v1/subscriptions/{id}",
            self.retrieve("subscription", "SubscriptionRetrieveParams"))
        add("DELETE", "/v1/subscriptions/{id}", self.cancel_subscription)
        add("POST", "/v1/refunds", self.create_refund)
        add("GET", "/v1/refunds", self.list_refunds)
        add("GET", "/v1/refunds/{id}", self.retrieve("refund", "RefundRetrieveParams"))
        add("GET", "/v1/disputes", self.list_disputes)
        add("GET", "/v1/disputes/{id}", self.retrieve("dispute", "DisputeRetrieveParams"))
        add("GET", "/v1/events", self.list_events)
        add("GET", "/v1/events/{id}", self.retrieve_event)
        # sandbox-only: what a buyer does in a browser, and what time does
        add("POST", "/sandbox/checkout/sessions/{id}/complete", self.sbx_complete)
        add("POST", "/sandbox/checkout/sessions/{id}/settle", self.sbx_settle)
        add("POST", "/sandbox/payment_links/{id}/sessions", self.sbx_open_link)
        add("POST", "/sandbox/subscriptions/{id}/advance", self.sbx_advance)
        add("POST", "/sandbox/disputes", self.sbx_create_dispute)
        add("POST", "/sandbox/disputes/{id}/close", self.sbx_close_dispute)
        add("GET", "/sandbox/webhooks", self.sbx_webhooks)
        add("GET", "/sandbox/stats", lambda req, args: self.stats())

    # -- helpers ----------------------------------------------------------------------------
    def ctx(self, req: Request, scope: Scope | None = None) -> billing.Ctx:
        return billing.Ctx(self.store, scope or req.scope, req.now, req.request_id)

    def get(self, req: Request, kind: str, obj_id: str | None, param: str = "id",
            status: int = 404) -> Any:
        """A record of ``kind`` in the request's scope, or Stripe's "No such ..." error."""
        name = KIND_NAMES.get(kind, kind)
        if obj_id is None:
            raise missing(name, "", param, status)
        rec = self.store.collections[kind].get(obj_id)
        if rec is None or (rec.live, rec.account) != req.scope:
            if rec is not None and rec.account == req.scope[1]:
                mode, other = ("live", "test") if req.scope[0] else ("test", "live")
                raise StripeError(
                    status, f"No such {name}: '{obj_id}'; a similar object exists in {other} "
                    f"mode, but a {mode} mode key was used to make this request.",
                    code="resource_missing", param=param)
            raise missing(name, obj_id, param, status)
        return rec

    def out(self, req: Request, rec: r.Record) -> dict[str, Any]:
        tree = expand_tree([str(x) for x in get_list(req.params, "expand")])
        return self.render.render(rec, req.ver, tree or None)

    def retrieve(self, kind: str, params_class: str) -> Handler:
        def handler(req: Request, args: list[str]) -> dict[str, Any]:
            check_known(req.params, params_class)
            return self.out(req, self.get(req, kind, args[0]))
        return handler

    def page(self, req: Request, kind: str, url: str, params_class: str, *,
             index: tuple[str, str] | None = None, where: Callable[[Any], bool] | None = None,
             created: tuple[int | None, int | None] | None = None,
             extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """One page of a reverse-chronological list, with Stripe's cursor and expand rules."""
        params = req.params
        check_known(params, params_class, extra)
        limit = get_int(params, "limit", minimum=1, maximum=100) or 10
        after_id = get_str(params, "starting_after") or None
        before_id = get_str(params, "ending_before") or None
        if after_id and before_id:
            raise invalid("You may only specify one of these parameters: ending_before, "
                          "starting_after.", "ending_before")
        after = self._cursor(req, kind, after_id, "starting_after")
        before = self._cursor(req, kind, before_id, "ending_before")
        if created is None:
            created = get_range(params, "created")
        tree = expand_tree([str(x) for x in get_list(params, "expand")])
        found, has_more = self.store.page(
            kind, req.scope, limit=limit, index=index, created=created, starting_after=after,
            ending_before=before, where=where)
        envelope = {"object": "list",
                    "data": [self.render.render(x, req.ver) for x in found],
                    "has_more": has_more, "url": url}
        if tree:
            self.render.expand(envelope, "list", tree, req.ver)
        return envelope

    def _cursor(self, req: Request, kind: str, obj_id: str | None, param: str) -> Any:
        if obj_id is None:
            return None
        return self.get(req, kind, obj_id, param, status=400)

    def child_page(self, req: Request, ids: list[str], build: Callable[[int], dict[str, Any]],
                   url: str, params_class: str) -> dict[str, Any]:
        """A list of line items or invoice lines: creation order, cursors by child id."""
        params = req.params
        check_known(params, params_class)
        limit = get_int(params, "limit", minimum=1, maximum=100) or 10
        after_id = get_str(params, "starting_after") or None
        before_id = get_str(params, "ending_before") or None
        if after_id and before_id:
            raise invalid("You may only specify one of these parameters: ending_before, "
                          "starting_after.", "ending_before")
        positions = {x: i for i, x in enumerate(ids)}
        for cursor, param in ((after_id, "starting_after"), (before_id, "ending_before")):
            if cursor is not None and cursor not in positions:
                raise invalid(f"Invalid {param}: no such object: '{cursor}'", param)
        if before_id is not None:
            end = positions[before_id]
            start = max(0, end - limit)
            has_more = start > 0
        else:
            start = positions[after_id] + 1 if after_id is not None else 0
            end = min(len(ids), start + limit)
            has_more = end < len(ids)
        envelope = {"object": "list", "data": [build(i) for i in range(start, end)],
                    "has_more": has_more, "url": url}
        tree = expand_tree([str(x) for x in get_list(params, "expand")])
        if tree:
            self.render.expand(envelope, "list", tree, req.ver)
        return envelope

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
        conds: list[Callable[[r.Product], bool]] = []
        active = get_bool(p, "active")
        if active is not None:
            conds.append(lambda x: x.active == active)
        ids = set(str(x) for x in get_list(p, "ids"))
        if ids:
            conds.append(lambda x: x.id in ids)
        url = get_str(p, "url")
        if url is not None:
            conds.append(lambda x: x.url == url)
        kind = get_enum(p, "type", ("good", "service"))
        if kind is not None:
            conds.append(lambda x: x.type == kind)
        get_bool(p, "shippable")
        return self.page(req, "product", "/v1/products", "ProductListParams",
                         where=_all(conds))

    # -- prices -----------------------------------------------------------------------------
    def _new_price(self, ctx: billing.Ctx, prod: r.Product, p: dict[str, Any],
                   prefix: str = "") -> r.Price:
        def name(field: str) -> str:
            return f"{prefix}[{field}]" if prefix else field
        currency = get_str(p, "currency")
        if not currency:
            raise invalid(f"Missing required param: {name('currency')}.", name("currency"),
                          "parameter_missing")
        unit_amount = get_int(p, "unit_amount", minimum=0)
        if unit_amount is None and "unit_amount_decimal" in p:
            unit_amount = int(float(str(p["unit_amount_decimal"])))
        if unit_amount is None:
            raise invalid(f"Missing required param: {name('unit_amount')}.",
                          name("unit_amount"), "parameter_missing")
        fields: dict[str, Any] = {"metadata": get_metadata(p) or {}}
        recurring = get_dict(p, "recurring")
        if recurring is not None:
            interval = get_enum(recurring, "interval", ("day", "week", "month", "year"))
            if interval is None:
                raise invalid(f"Missing required param: {name('recurring')}[interval].",
                              f"{name('recurring')}[interval]", "parameter_missing")
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
                raise invalid("Missing required param: product_data[name].",
                              "product_data[name]", "parameter_missing")
            prod = billing.create_product(ctx, pname,
                                          metadata=get_metadata(product_data) or {})
        else:
            prod = self.get(req, "product", get_str(p, "product", required=True), "product", 400)
        return self.out(req, self._new_price(ctx, prod, p))

    def list_prices(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        conds: list[Callable[[r.Price], bool]] = []
        active = get_bool(p, "active")
        if active is not None:
            conds.append(lambda x: x.active == active)
        kind = get_enum(p, "type", ("one_time", "recurring"))
        if kind is not None:
            conds.append(lambda x: x.type == kind)
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
                         index=("product", product) if product else None, where=_all(conds))

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
        if not items:
            raise invalid(f"Missing required param: {param}.", param, "parameter_missing")
        lines: list[r.Line] = []
        for i, item in enumerate(items):
            where = f"{param}[{i}]"
            if not isinstance(item, dict):
                raise invalid(f"Invalid object: {where}", where, "parameter_invalid_object")
            price = self.get(req, "price", get_str(item, "price"), f"{where}[price]", 400)
            if not price.active:
                raise invalid(f"The price specified ({price.id}) is inactive. This field only "
                              "accepts active prices.", f"{where}[price]")
            quantity = get_int(item, "quantity", minimum=1)
            if quantity is None:
                raise invalid(f"Missing required param: {where}[quantity].",
                              f"{where}[quantity]", "parameter_missing")
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

    def payment_link_line_items(self, req: Request, args: list[str]) -> dict[str, Any]:
        link = self.get(req, "payment_link", args[0])
        return self._line_items(req, link.id, link.lines,
                                f"/v1/payment_links/{link.id}/line_items",
                                "PaymentLinkListLineItemsParams")

    def _line_items(self, req: Request, parent: str, lines: tuple[r.Line, ...], url: str,
                    params_class: str) -> dict[str, Any]:
        ids = [child_id("li", parent, i) for i in range(len(lines))]
        return self.child_page(
            req, ids, lambda i: self.render.line_item(parent, i, lines[i], req.ver), url,
            params_class)

    # -- checkout ---------------------------------------------------------------------------
    def create_session(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "checkout.SessionCreateParams")
        mode = get_enum(p, "mode", ("payment", "setup", "subscription"))
        if mode is None:
            raise invalid("Missing required param: mode.", "mode", "parameter_missing")
        items = get_list(p, "line_items")
        lines = self._lines(req, items) if items or mode != "setup" else []
        self._check_mode(mode, lines)
        fields: dict[str, Any] = {"metadata": get_metadata(p) or {}}
        customer = get_str(p, "customer")
        email = get_str(p, "customer_email")
        if customer and email:
            raise invalid("You may only specify one of these parameters: customer, "
                          "customer_email.", "customer_email")
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
            raise invalid("Missing required param: currency.", "currency", "parameter_missing")
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
        filters: list[tuple[str, str]] = []
        for name in ("payment_intent", "subscription", "customer", "payment_link"):
            value = get_str(p, name)
            if value:
                filters.append((name, value))
        details = get_dict(p, "customer_details")
        if details is not None:
            email = get_str(details, "email", required=True)
            filters.append(("email", email or ""))
        conds: list[Callable[[r.Session], bool]] = [
            (lambda x, n=n, v=v: getattr(x, n) == v) for n, v in filters[1:]]
        status = get_enum(p, "status", ("complete", "expired", "open"))
        if status is not None:
            conds.append(lambda x: x.status == status)
        return self.page(req, "checkout.session", "/v1/checkout/sessions",
                         "checkout.SessionListParams", index=filters[0] if filters else None,
                         where=_all(conds))

    def session_line_items(self, req: Request, args: list[str]) -> dict[str, Any]:
        sess = self.get(req, "checkout.session", args[0])
        return self._line_items(req, sess.id, sess.lines,
                                f"/v1/checkout/sessions/{sess.id}/line_items",
                                "checkout.SessionListLineItemsParams")

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
        pi = get_str(p, "payment_intent")
        customer = get_str(p, "customer")
        index = ("payment_intent", pi) if pi else ("customer", customer) if customer else None
        where = (lambda x: x.customer == customer) if pi and customer else None
        return self.page(req, "charge", "/v1/charges", "ChargeListParams", index=index,
                         where=where)

    def create_refund(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "RefundCreateParams")
        charge_id = get_str(p, "charge")
        pi_id = get_str(p, "payment_intent")
        if charge_id and pi_id:
            raise invalid("You may only specify one of these parameters: charge, "
                          "payment_intent.", "payment_intent")
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
        charge = get_str(req.params, "charge")
        pi = get_str(req.params, "payment_intent")
        index = ("charge", charge) if charge else ("payment_intent", pi) if pi else None
        where = (lambda x: x.payment_intent == pi) if charge and pi else None
        return self.page(req, kind, url, params_class, index=index, where=where)

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
        sub = get_str(p, "subscription")
        customer = get_str(p, "customer")
        index = ("subscription", sub) if sub else ("customer", customer) if customer else None
        conds: list[Callable[[r.Invoice], bool]] = []
        if sub and customer:
            conds.append(lambda x: x.customer == customer)
        status = get_enum(p, "status", ("draft", "open", "paid", "uncollectible", "void"))
        if status is not None:
            conds.append(lambda x: x.status == status)
        method = get_enum(p, "collection_method", ("charge_automatically", "send_invoice"))
        if method is not None:
            conds.append(lambda x: x.collection_method == method)
        due = get_range(p, "due_date")
        if due != (None, None):
            conds.append(lambda x: x.due_date is not None and _within(x.due_date, due))
        return self.page(req, "invoice", "/v1/invoices", "InvoiceListParams", index=index,
                         where=_all(conds))

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
        index = ("invoice", invoice) if invoice else ("payment_intent", pi) if pi else None
        conds: list[Callable[[r.InvoicePayment], bool]] = []
        if invoice and pi:
            conds.append(lambda x: x.payment_intent == pi)
        status = get_enum(p, "status", ("canceled", "open", "paid"))
        if status is not None:
            conds.append(lambda x: x.status == status)
        return self.page(req, "invoice_payment", "/v1/invoice_payments",
                         "InvoicePaymentListParams", index=index, where=_all(conds))

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
        raw = get_list(p, "items")
        if not raw:
            raise invalid("Missing required param: items.", "items", "parameter_missing")
        items: list[tuple[r.Price, int]] = []
        for i, item in enumerate(raw):
            where = f"items[{i}]"
            if not isinstance(item, dict):
                raise invalid(f"Invalid object: {where}", where, "parameter_invalid_object")
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
        customer = get_str(p, "customer")
        clock = get_str(p, "test_clock")
        index = ("customer", customer) if customer else ("test_clock", clock) if clock else None
        conds: list[Callable[[r.Subscription], bool]] = []
        if customer and clock:
            conds.append(lambda x: x.test_clock == clock)
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
                conds.append(lambda x, n=name, b=bounds: _within(getattr(x, n), b))
        return self.page(req, "subscription", "/v1/subscriptions", "SubscriptionListParams",
                         index=index, where=_all(conds))

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
            raise invalid("You may only specify one of these parameters: type, types.", "types")
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

    # -- sandbox-only actions ---------------------------------------------------------------
    def _own(self, kind: str, obj_id: str) -> Any:
        """Sandbox actions act on an object wherever it lives (its own mode and account)."""
        rec = self.store.collections[kind].get(obj_id)
        if rec is None:
            raise missing(KIND_NAMES.get(kind, kind), obj_id, "id")
        return rec

    def _sbx_ctx(self, req: Request, rec: r.Record) -> billing.Ctx:
        return self.ctx(req, (rec.live, rec.account))

    def sbx_complete(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        sess = self._own("checkout.session", args[0])
        method = get_str(p, "payment_method_type")
        sess = billing.complete_session(
            self._sbx_ctx(req, sess), sess, email=get_str(p, "email"), name=get_str(p, "name"),
            outcome=get_str(p, "outcome") or "paid",
            create_customer=get_bool(p, "create_customer"), method_type=method,
            phone=get_str(p, "phone"))
        return self.render.render(sess, req.ver)

    def sbx_settle(self, req: Request, args: list[str]) -> dict[str, Any]:
        sess = self._own("checkout.session", args[0])
        succeeded = get_bool(req.params, "succeeded")
        sess = billing.settle_session(self._sbx_ctx(req, sess), sess,
                                      True if succeeded is None else succeeded)
        return self.render.render(sess, req.ver)

    def sbx_open_link(self, req: Request, args: list[str]) -> dict[str, Any]:
        """A buyer opens a payment link: Checkout makes a session from the link's items."""
        link = self._own("payment_link", args[0])
        if not link.active:
            raise invalid(f"The payment link {link.id} is inactive.", "id")
        recurring = any(self.store.prices[x[0]].interval for x in link.lines)
        fields: dict[str, Any] = {"payment_link": link.id, "metadata": dict(link.metadata)}
        if not recurring:
            fields["customer_creation"] = link.customer_creation
            fields["invoice_creation"] = link.invoice_creation
        email = get_str(req.params, "customer_email")
        if email:
            fields["customer_email"] = email
        sess = billing.create_session(self._sbx_ctx(req, link),
                                      "subscription" if recurring else "payment", link.lines,
                                      **fields)
        return self.render.render(sess, req.ver)

    def sbx_advance(self, req: Request, args: list[str]) -> dict[str, Any]:
        sub = self._own("subscription", args[0])
        inv = billing.advance_subscription(self._sbx_ctx(req, sub), sub)
        return self.render.render(inv, req.ver)

    def sbx_create_dispute(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        charge_id = get_str(p, "charge")
        pi_id = get_str(p, "payment_intent")
        if charge_id:
            charge = self._own("charge", charge_id)
        elif pi_id:
            pi = self._own("payment_intent", pi_id)
            if pi.latest_charge is None:
                raise invalid(f"PaymentIntent {pi.id} has no charge.", "payment_intent")
            charge = self.store.charges[pi.latest_charge]
        else:
            raise invalid("Missing required param: charge.", "charge", "parameter_missing")
        reason = get_str(p, "reason") or "fraudulent"
        dispute = billing.create_dispute(self._sbx_ctx(req, charge), charge, reason,
                                         get_int(p, "amount", minimum=1))
        return self.render.render(dispute, req.ver)

    def sbx_close_dispute(self, req: Request, args: list[str]) -> dict[str, Any]:
        dispute = self._own("dispute", args[0])
        won = bool(get_bool(req.params, "won"))
        dispute = billing.close_dispute(self._sbx_ctx(req, dispute), dispute, won)
        return self.render.render(dispute, req.ver)

    def sbx_webhooks(self, req: Request, args: list[str]) -> dict[str, Any]:
        if self.webhooks is None:
            return {"configured": False, "pending": 0}
        return {"configured": True, **self.webhooks.status()}


def _all(conds: list[Callable[[Any], bool]]) -> Callable[[Any], bool] | None:
    if not conds:
        return None
    if len(conds) == 1:
        return conds[0]
    return lambda x: all(c(x) for c in conds)


def _within(value: int, bounds: tuple[int | None, int | None]) -> bool:
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def _type_matcher(patterns: list[str]) -> Callable[[r.Event], bool] | None:
    """Stripe's event type filter: exact names, or ``prefix.*`` wildcards."""
    if not patterns:
        return None
    exact = {x for x in patterns if "*" not in x}
    prefixes = tuple(x[:-1] for x in patterns if x.endswith(".*"))
    return lambda e: e.type in exact or (bool(prefixes) and e.type.startswith(prefixes))


class _Bucket:
    """Token bucket over all clients: ``rate`` requests per second, bursts of one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is routine (timeouts, benches); say nothing."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        status, payload, headers = self.server.sandbox.handle(
            self.command, self.path, self.headers, body)
        reason = HTTPStatus(status).phrase
        head = [f"HTTP/1.1 {status} {reason}", "Server: stripe-sandbox",
                "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        head.extend(f"{k}: {v}" for k, v in headers.items())
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


class SandboxServer:
    """The sandbox served over HTTP: ``start()`` in a background thread, or ``serve_forever()``.

    Knobs (all off by default): ``latency_ms`` added to every ``/v1`` request, ``rate_limit``
    requests/second over all clients (429 ``rate_limit`` above it), ``fail_rate`` fraction of
    ``/v1`` requests answered 500 ``api_error`` before anything happens (so retrying is safe).
    ``/sandbox/`` endpoints are test controls: no latency, limit or failures, and no key needed.
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *,
                 latency_ms: float = 0, rate_limit: float | None = None,
                 fail_rate: float = 0.0, webhooks: Any = None, seed: int = 0) -> None:
        self.store = store
        self.host = host
        self.latency = latency_ms / 1000.0
        self.bucket = _Bucket(rate_limit) if rate_limit else None
        self.fail_rate = fail_rate
        self.api = Api(store, webhooks)
        self.api.stats = self.stats
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._idempotent: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()
        self.rate_limited = 0
        self.injected_failures = 0
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def webhooks(self) -> Any:
        return self.api.webhooks

    @webhooks.setter
    def webhooks(self, sender: Any) -> None:
        self.api.webhooks = sender

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def request_count(self) -> dict[str, int]:
        """Requests served per path family (route template), e.g. ``GET /v1/events``."""
        with self._count_lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._count_lock:
            self._counts.clear()
            self.rate_limited = self.injected_failures = 0

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request --------------------------------------------------------------------------
    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _request_id(self) -> str:
        with self._rng_lock:
            return request_id(self._rng)

    def stats(self) -> dict[str, Any]:
        counts = self.request_count
        return {
            "requests": counts, "total": sum(counts.values()),
            "rate_limited": self.rate_limited, "injected_failures": self.injected_failures,
            "objects": {kind: len(coll) for kind, coll in self.store.collections.items()},
        }

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes
               ) -> tuple[int, bytes, dict[str, str]]:
        """Answers one HTTP request: (status, JSON body, extra headers)."""
        req_id = self._request_id()
        out_headers = {"Request-Id": req_id}
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        route, args, known = self.api.match(method, path)
        family = f"{method} {route.family}" if route else f"{method} (unknown)"
        with self._count_lock:
            self._counts[family] = self._counts.get(family, 0) + 1
        is_api = path.startswith("/v1/")
        try:
            if is_api:
                if self.latency:
                    time.sleep(self.latency)
                if self.bucket is not None and not self.bucket.take():
                    with self._count_lock:
                        self.rate_limited += 1
                    out_headers["Stripe-Should-Retry"] = "true"
                    raise StripeError(
                        429, "Request rate limit exceeded. You can learn more about rate "
                        "limits here https://stripe.com/docs/rate-limits.", code="rate_limit")
                if self.fail_rate and self._random() < self.fail_rate:
                    with self._count_lock:
                        self.injected_failures += 1
                    out_headers["Stripe-Should-Retry"] = "true"
                    raise StripeError(500, "An unknown error occurred", type_="api_error")
            scope = self._scope(headers, required=is_api)
            ver_name = headers.get("Stripe-Version") or self.store.api_version
            if not VERSION_RE.match(ver_name):
                raise invalid(f"Invalid Stripe API version: {ver_name}", None,
                              "api_version_invalid")
            out_headers["Stripe-Version"] = ver_name
            if route is None:
                raise StripeError(404, f"Unrecognized request URL ({method}: {path}). Please "
                                  "see https://stripe.com/docs or we can help at "
                                  "https://support.stripe.com/.")
            params = self._params(split.query, headers, body, method)
            key = headers.get("Idempotency-Key") if method == "POST" and is_api else None
            cache_key = (scope, key, path) if key else None
            if cache_key is not None and cache_key in self._idempotent:
                status, payload = self._idempotent[cache_key]
                out_headers["Idempotent-Replayed"] = "true"
                return status, payload, out_headers
            req = Request(method, path, params, scope, version(ver_name), req_id,
                          self.store.now())
            with self.store.lock:
                result = route.handler(req, args)
            payload = _dump(result)
            if cache_key is not None:
                self._remember(cache_key, 200, payload)
            return 200, payload, out_headers
        except StripeError as err:
            out_headers.update(err.headers)
            return err.status, _dump(err.body(req_id)), out_headers
        except Exception:
            log.exception("sandbox: %s %s failed", method, target)
            err = StripeError(500, "An unknown error occurred", type_="api_error")
            return 500, _dump(err.body(req_id)), out_headers

    def _remember(self, key: tuple[Any, ...], status: int, payload: bytes) -> None:
        with self._count_lock:
            self._idempotent[key] = (status, payload)
            while len(self._idempotent) > IDEMPOTENCY_CACHE:
                self._idempotent.popitem(last=False)

    def _scope(self, headers: Mapping[str, str], required: bool) -> Scope:
        auth = headers.get("Authorization") or ""
        account = headers.get("Stripe-Account") or None
        if account is not None and not account.startswith("acct_"):
            raise StripeError(403, f"The provided key does not have access to account "
                              f"'{account}' (or that account does not exist). Application "
                              "access may have been revoked.")
        if not auth:
            if not required:
                return False, account
            raise StripeError(401, "You did not provide an API key. You need to provide your "
                              "API key in the Authorization header, using Bearer auth (e.g. "
                              "'Authorization: Bearer YOUR_SECRET_KEY'). See "
                              "https://stripe.com/docs/api#authentication for details, or we "
                              "can help at https://support.stripe.com/.")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not KEY_RE.match(key):
            shown = key[:8] + "*" * 12 + key[-4:] if len(key) > 12 else key
            raise StripeError(401, f"Invalid API Key provided: {shown}")
        return key.split("_", 2)[1] == "live", account

    @staticmethod
    def _params(query: str, headers: Mapping[str, str], body: bytes, method: str
                ) -> dict[str, Any]:
        params = parse_form(query) if query else {}
        if body:
            text = body.decode("utf-8", "replace")
            if (headers.get("Content-Type") or "").startswith("application/json"):
                try:
                    data = json.loads(text)
                except ValueError:
                    raise invalid("Invalid JSON body.") from None
                if not isinstance(data, dict):
                    raise invalid("Invalid JSON body: expected an object.")
                params.update({k: _form_value(v) for k, v in data.items()})
            else:
                params.update(parse_form(text))
        return params


def _form_value(value: Any) -> Any:
    """JSON values as the form parser would give them (strings), for the sandbox endpoints."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: _form_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_form_value(v) for v in value]
    return value


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
