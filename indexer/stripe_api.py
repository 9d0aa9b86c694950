"""The Stripe client the indexer calls: a thin, thread-safe client over the official SDK.

``StripeAPI`` holds the resource calls: it returns plain ``dict``s (decoded JSON, never
``StripeObject``), pages lists in full and completes embedded lists (a session's line items,
an invoice's lines). How each request goes out (pacing, retries, errors) is its base class's,
``indexer.stripe_requests.StripeRequests``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from indexer.index.mapping import invoice_payment_intent as _payments_intent
from indexer.pacing import ConcurrencyLimit, TokenBucket
from indexer.stripe_requests import (
    DEFAULT_LIVE_RATE,
    DEFAULT_TEST_RATE,
    StripeRequests,
    is_stripe_id,
    object_path,
)

if TYPE_CHECKING:
    from indexer.config import Settings

__all__ = [
    "DEFAULT_LIVE_RATE", "DEFAULT_TEST_RATE", "ConcurrencyLimit", "Page", "StripeAPI", "TokenBucket", "is_stripe_id",
    "object_path", "session_list_params",
]

PAGE_LIMIT = 100


class Page:
    """One page of a Stripe list: its objects, and whether more follow."""

    __slots__ = ("data", "has_more")

    def __init__(self, data: list[dict[str, Any]], has_more: bool) -> None:
        self.data = data
        self.has_more = has_more

    @property
    def last_id(self) -> str | None:
        return self.data[-1]["id"] if self.data else None


class StripeAPI(StripeRequests):
    """Typed reads of the Stripe API (and the few writes of webhook setup). Safe to share
    between threads."""

    @classmethod
    def from_settings(cls, settings: Settings, *, rate: float | None = None) -> StripeAPI:
        """``ConfigError`` when ``STRIPE_API_KEY`` is not set."""
        return cls(settings.require_stripe_key(), api_base=settings.stripe_api_base, rate=rate)

    # --- lists ------------------------------------------------------------------------------

    def page(
        self, path: str, params: Mapping[str, Any], *, starting_after: str | None = None, account: str = ""
    ) -> Page:
        """One page (``limit`` 100 unless given) after the ``starting_after`` cursor."""
        query = {"limit": PAGE_LIMIT, **params}
        if starting_after:
            query["starting_after"] = starting_after
        body = self.get(path, query, account=account)
        return Page(list(body.get("data") or []), bool(body.get("has_more")))

    def pages(
        self, path: str, params: Mapping[str, Any], *, starting_after: str | None = None, account: str = ""
    ) -> Iterator[Page]:
        """Every page, newest first (Stripe's order), following ``starting_after`` while
        ``has_more``. A caller that records ``page.last_id`` can resume with it."""
        cursor = starting_after
        while True:
            page = self.page(path, params, starting_after=cursor, account=account)
            yield page
            if not page.has_more or not page.data:
                return
            cursor = page.last_id

    def list_all(self, path: str, params: Mapping[str, Any], *, account: str = "") -> Iterator[dict[str, Any]]:
        """Every object of a list (e.g. ``"/v1/invoices"``), newest first."""
        for page in self.pages(path, params, account=account):
            yield from page.data

    def _rest_of(self, embedded: Any, path: str, *, account: str = "") -> list[dict[str, Any]]:
        """All items of an embedded list: its first page plus ``path`` past ``has_more``."""
        if not isinstance(embedded, dict):
            return list(self.list_all(path, {}, account=account))
        items = list(embedded.get("data") or [])
        if embedded.get("has_more") and items:
            for page in self.pages(path, {}, starting_after=items[-1]["id"], account=account):
                items.extend(page.data)
        return items

    # --- Checkout Sessions ------------------------------------------------------------------

    def complete_session(self, session: dict[str, Any], *, account: str = "") -> dict[str, Any]:
        """``session`` with ``line_items.data`` holding ALL its items (a request only when the
        embedded list says ``has_more``, or was not embedded at all)."""
        embedded = session.get("line_items")
        if isinstance(embedded, dict) and not embedded.get("has_more"):
            return session
        path = object_path("/v1/checkout/sessions/{}/line_items", session["id"])
        items = self._rest_of(embedded, path, account=account)
        session["line_items"] = {"object": "list", "data": items, "has_more": False, "url": path}
        return session

    def retrieve_session(self, session_id: str, *, account: str = "") -> dict[str, Any]:
        """A session with ``line_items`` expanded and complete."""
        path = object_path("/v1/checkout/sessions/{}", session_id)
        session = self.get(path, {"expand": ["line_items"]}, account=account)
        return self.complete_session(session, account=account)

    # --- invoices ---------------------------------------------------------------------------

    def invoice_lines(self, invoice: dict[str, Any], *, account: str = "") -> list[dict[str, Any]]:
        """All lines: the embedded first page plus ``/v1/invoices/{id}/lines`` past ``has_more``."""
        return self._rest_of(invoice.get("lines"), object_path("/v1/invoices/{}/lines", invoice["id"]), account=account)

    def invoice_payment_intent(self, invoice_id: str, *, account: str = "") -> str | None:
        """The PaymentIntent that paid an invoice, via ``GET /v1/invoice_payments?invoice=``.
        The choice among payments (paid, default first) is ``purchases.invoice_payment_intent``'s."""
        payments = list(self.list_all("/v1/invoice_payments", {"invoice": invoice_id}, account=account))
        stub = {"object": "invoice", "id": invoice_id, "payments": {"data": payments}}
        return _payments_intent(stub)

    # --- the rest ---------------------------------------------------------------------------

    def refunds_for_charge(self, charge_id: str, *, account: str = "") -> list[dict[str, Any]]:
        return list(self.list_all("/v1/refunds", {"charge": charge_id}, account=account))

    def retrieve(self, path: str, *, account: str = "", expand: list[str] | None = None) -> dict[str, Any]:
        """One object, e.g. ``"/v1/refunds/re_..."``."""
        return self.get(path, {"expand": expand} if expand else None, account=account)

    def list_events(
        self, *, created_gt: int | None, types: list[str], account: str = "",
        created_lte: int | None = None, starting_after: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events of ``types`` (at most 20, Stripe's limit for ``types[]``) created after
        ``created_gt``, **newest first** (Stripe's order; a caller that must survive an
        interruption records the last id and resumes with ``starting_after``)."""
        for page in self.event_pages(created_gt=created_gt, types=types, account=account,
                                     created_lte=created_lte, starting_after=starting_after):
            yield from page.data

    def event_pages(
        self, *, created_gt: int | None, types: list[str], account: str = "",
        created_lte: int | None = None, starting_after: str | None = None,
    ) -> Iterator[Page]:
        if len(types) > 20:
            raise ValueError("Stripe accepts at most 20 event types per request")
        created: dict[str, int] = {}
        if created_gt is not None:
            created["gt"] = created_gt
        if created_lte is not None:
            created["lte"] = created_lte
        params: dict[str, Any] = {"types": list(types)}
        if created:
            params["created"] = created
        return self.pages("/v1/events", params, starting_after=starting_after, account=account)


    # --- reports: balance transactions, the payments behind rows, report runs ----------------

    def balance_transaction_pages(
        self, created_gte: int, created_lte: int, *, account: str = ""
    ) -> Iterator[Page]:
        """Balance transactions created in ``[created_gte, created_lte]``, 100 a page, newest
        first, each with its ``source`` expanded (the charge, refund or dispute behind it)."""
        params = {"created": {"gte": created_gte, "lte": created_lte}, "expand": ["data.source"]}
        return self.pages("/v1/balance_transactions", params, account=account)

    def session_for_payment_intent(self, intent: str, *, account: str = "") -> dict[str, Any] | None:
        """The Checkout Session that made a PaymentIntent, with all its line items, or None
        (an Elements payment, a subscription renewal)."""
        page = self.page("/v1/checkout/sessions",
                         {"payment_intent": intent, "expand": ["data.line_items"], "limit": 1},
                         account=account)
        return self.complete_session(page.data[0], account=account) if page.data else None

    def invoice_paid_by(self, intent: str, *, account: str = "") -> dict[str, Any] | None:
        """The invoice a PaymentIntent paid, expanded, through ``GET /v1/invoice_payments``
        (basil and later have no ``payment_intent.invoice``); a paid payment's first. None
        when the PaymentIntent paid no invoice."""
        page = self.page("/v1/invoice_payments",
                         {"payment": {"type": "payment_intent", "payment_intent": intent},
                          "expand": ["data.invoice"]}, account=account)
        ranked = sorted(page.data, key=lambda x: x.get("status") != "paid")
        invoice = ranked[0].get("invoice") if ranked else None
        if isinstance(invoice, str):
            return self.get(f"/v1/invoices/{invoice}", None, account=account)
        return invoice if isinstance(invoice, dict) else None

    def invoice_with_lines(self, invoice_id: str, *, account: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """An invoice and all its lines (a second request only past the embedded first page)."""
        invoice = self.get(f"/v1/invoices/{invoice_id}", None, account=account)
        return invoice, self.invoice_lines(invoice, account=account)

    def product_names(self, product_ids: list[str], *, account: str = "") -> dict[str, str]:
        """Names of products, 100 to a request (``GET /v1/products?ids[]=``)."""
        names: dict[str, str] = {}
        for start in range(0, len(product_ids), PAGE_LIMIT):
            chunk = product_ids[start : start + PAGE_LIMIT]
            page = self.page("/v1/products", {"ids": chunk}, account=account)
            names.update((p["id"], p.get("name") or "") for p in page.data)
        return names

    def report_types(self, *, account: str = "") -> list[dict[str, Any]]:
        return list(self.get("/v1/reporting/report_types", None, account=account).get("data") or [])

    def create_report_run(
        self, report_type: str, parameters: Mapping[str, Any], *, idempotency_key: str, account: str = ""
    ) -> dict[str, Any]:
        """``POST /v1/reporting/report_runs``; retried like a read under the same
        ``idempotency_key``, so a retry never starts a second run."""
        return self.post("/v1/reporting/report_runs",
                         {"report_type": report_type, "parameters": dict(parameters)},
                         idempotency_key=idempotency_key, account=account)

    # --- webhook endpoints (``indexer webhooks``) ---------------------------------------------

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        """Every webhook endpoint of the key's account and mode."""
        return list(self.list_all("/v1/webhook_endpoints", {}))

    def create_webhook_endpoint(
        self, url: str, events: list[str], *, connect: bool = False, metadata: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """A new endpoint rendering events at ``api_version``; the answer holds its ``secret``,
        which Stripe shows this once only."""
        params: dict[str, Any] = {"url": url, "enabled_events": list(events), "api_version": self.api_version}
        if connect:
            params["connect"] = True
        if metadata:
            params["metadata"] = dict(metadata)
        if description:
            params["description"] = description
        return self.post("/v1/webhook_endpoints", params)

    def update_webhook_endpoint(
        self, endpoint_id: str, *, events: list[str], metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Set an endpoint's event types (its URL, secret and API version stay)."""
        params: dict[str, Any] = {"enabled_events": list(events)}
        if metadata:
            params["metadata"] = dict(metadata)
        return self.post(f"/v1/webhook_endpoints/{endpoint_id}", params)


def session_list_params(created_gte: int, created_lte: int, **filters: Any) -> dict[str, Any]:
    """List parameters of ``GET /v1/checkout/sessions`` with line items embedded."""
    return {
        "created": {"gte": created_gte, "lte": created_lte},
        "expand": ["data.line_items"],
        **{k: v for k, v in filters.items() if v is not None},
    }


