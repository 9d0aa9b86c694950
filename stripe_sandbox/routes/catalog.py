"""``/v1`` products, prices and customers."""

from __future__ import annotations

from typing import Any

from .. import billing
from .. import records as r
from ..endpoints import Check, Endpoints, Request, equal, given
from ..errors import invalid, missing_param
from ..params import (
    check_known,
    get_bool,
    get_dict,
    get_enum,
    get_int,
    get_list,
    get_metadata,
    get_str,
    merge_metadata,
)


class CatalogRoutes(Endpoints):
    """Products, prices and customers, with Stripe's rules and errors."""

    def add_routes(self) -> None:
        res = self.resource
        res("/v1/products", "product", "ProductRetrieveParams", create=self.create_product,
            listing=self.list_products, update=self.update_product, delete=self.delete_product)
        res("/v1/prices", "price", "PriceRetrieveParams", create=self.create_price,
            listing=self.list_prices)
        res("/v1/customers", "customer", "CustomerRetrieveParams", create=self.create_customer,
            listing=self.list_customers)
        super().add_routes()

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
        return self.filtered_page(req, "product", "/v1/products", "ProductListParams", checks=conds)

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
        return self.filtered_page(req, "price", "/v1/prices", "PriceListParams",
                                  given(("product", get_str(p, "product"))), conds)

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

