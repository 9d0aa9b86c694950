"""The sandbox's own ``/sandbox/`` endpoints: what a buyer does in a browser, what time does,
and what the tests ask of the sandbox itself (webhook delivery, request stats).

They need no key and act on an object wherever it lives (its own mode and account).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import billing
from . import records as r
from .endpoints import KIND_NAMES, Endpoints, Request
from .errors import invalid, missing
from .params import get_bool, get_int, get_str

#: the delivery counters ``GET /sandbox/webhooks`` adds up over all senders
SUMMED_COUNTS = ("pending", "retrying", "delivered", "failed", "attempts", "retries", "duplicates")
MAX_GENERATED = 20_000


class SandboxActions(Endpoints):
    """Test controls: complete or settle a checkout, open a payment link, advance a
    subscription, open and close disputes, generate more history, webhook and request stats."""

    #: what ``GET /sandbox/stats`` answers; the server sets it to its own counters
    stats: Callable[[], dict[str, Any]] = dict

    def add_routes(self) -> None:
        add = self.route
        add("POST", "/sandbox/checkout/sessions/{id}/complete", self.sbx_complete)
        add("POST", "/sandbox/checkout/sessions/{id}/settle", self.sbx_settle)
        add("POST", "/sandbox/payment_links/{id}/sessions", self.sbx_open_link)
        add("POST", "/sandbox/subscriptions/{id}/advance", self.sbx_advance)
        add("POST", "/sandbox/disputes", self.sbx_create_dispute)
        add("POST", "/sandbox/disputes/{id}/close", self.sbx_close_dispute)
        add("GET", "/sandbox/webhooks", self.sbx_webhooks)
        add("POST", "/sandbox/generate", self.sbx_generate)
        add("GET", "/sandbox/stats", lambda req, args: self.stats())
        super().add_routes()

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
        """Deliveries of the ``--webhook-url`` sender and of every registered endpoint: the
        counters summed at the top, each endpoint's own under ``endpoints``."""
        endpoints = [{"id": endpoint_id, **sender.status()}
                     for endpoint_id, sender in list(self.endpoint_senders.items())]
        if self.webhooks is None and not endpoints:
            return {"configured": False, "pending": 0}
        out: dict[str, Any] = {"configured": True}
        if self.webhooks is not None:
            out.update(self.webhooks.status())
        for status in endpoints:
            for key in SUMMED_COUNTS:
                if key in status:
                    out[key] = out.get(key, 0) + status[key]
        if endpoints:
            out["endpoints"] = endpoints
        return out

    def sbx_generate(self, req: Request, args: list[str]) -> dict[str, Any]:
        """More history, made now: about ``sessions`` checkout sessions (and what follows from
        them) over the past months, whose events reach the registered endpoints."""
        from .generator import generate

        sessions = get_int(req.params, "sessions", minimum=1, maximum=MAX_GENERATED) or 100
        before = len(self.store.sessions), len(self.store.events)
        generate(self.store, sessions, get_int(req.params, "seed", minimum=0) or 0)
        return {"sessions": len(self.store.sessions) - before[0],
                "events": len(self.store.events) - before[1]}

