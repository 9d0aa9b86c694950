"""Records -> Stripe JSON, per API version, with ``expand[]``.

Field sets follow Stripe's own example objects (openapi ``fixtures3.json``) and the installed
SDK's resource classes: a key is present when Stripe always sends it, and conditional or
includable keys (``line_items``, ``payments``, ``refunds``) only when they apply or are expanded.
Invoices, invoice lines, subscriptions and sessions switch shape at 2025-03-31 (basil); see
``Version``. Nested constant sub-objects are shared between renders and must not be mutated.
"""


from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import records as r
from .. import reporting
from ..errors import invalid
from ..store import Store
from .billing import BillingRendering
from .catalog import CatalogRendering
from .checkout import CheckoutRendering
from .common import EMBEDDED_LIST_LIMIT, Version, metadata, version
from .payments import PaymentRendering

MAX_EXPAND_DEPTH = 4


class Renderer(CheckoutRendering, BillingRendering, PaymentRendering, CatalogRendering):
    """Renders any record by its kind; each resource family's methods live in its own module."""

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
