"""Products, prices (and their legacy ``plan`` twin) and customers."""

from __future__ import annotations

from typing import Any

from .. import records as r
from ..store import Store
from .common import Version, address, metadata

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


class CatalogRendering:
    """Render methods of the catalog, mixed into ``Renderer``."""

    store: Store

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

