"""The only module that talks to Stripe: a thin, thread-safe client over the official SDK.

It returns plain ``dict``s (decoded JSON, never ``StripeObject``), pages lists in full, paces
requests with a client-side token bucket shared by every thread using the object, and retries
what is worth retrying:

* 429, 5xx and network errors are retried with exponential backoff (with jitter), honouring
  ``Stripe-Should-Retry`` (``false`` means never) and ``Retry-After``; after ``max_retries``
  attempts, or when the total wait would pass ``max_wait`` seconds, ``StripeUnavailable``;
* 401/403 raise ``StripeAuthError``; any other 4xx raises ``StripeError`` naming the request.

A 429 also pauses the shared bucket, so every thread backs off at once instead of each one
finding out for itself.

The SDK's own retries are off (``max_network_retries=0``): one retry policy, here, and
``request_count`` counts every HTTP request actually sent, retries included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import requests
import stripe
from stripe import _api_requestor
from stripe._request_options import extract_options_from_dict

from indexer.errors import StripeAuthError, StripeError, StripeUnavailable
from indexer.index.mapping import invoice_payment_intent as _payments_intent

if TYPE_CHECKING:
    from indexer.config import Settings

__all__ = ["DEFAULT_LIVE_RATE", "DEFAULT_TEST_RATE", "Page", "StripeAPI", "TokenBucket"]

#: Client-side pace (requests per second) under Stripe's read limits: 100/s live, 25/s in
#: test mode. A little headroom is left for the other processes (worker, web) on the same key.
DEFAULT_LIVE_RATE = 90.0
DEFAULT_TEST_RATE = 23.0

PAGE_LIMIT = 100


def _quiet_sdk_debug_log() -> None:
    """Skip the SDK's debug log lines unless someone will read them.

    stripe-python formats every debug line before asking the logger, and one of them is each
    response body, ``repr``'d whole: for a backfill's 400 KB list pages that was a tenth of its
    CPU. The SDK's own function still runs whenever ``stripe`` logs at DEBUG or ``STRIPE_LOG``
    (or ``stripe.log``) asks for debug output.
    """
    sdk_log_debug = _api_requestor.log_debug
    if getattr(sdk_log_debug, "gated", False):
        return
    sdk_logger = logging.getLogger("stripe")

    def log_debug(message: str, **params: Any) -> None:
        if sdk_logger.isEnabledFor(logging.DEBUG) or "debug" in (stripe.log, stripe._util.STRIPE_LOG):
            sdk_log_debug(message, **params)

    log_debug.gated = True  # type: ignore[attr-defined]
    _api_requestor.log_debug = log_debug  # type: ignore[assignment]


_quiet_sdk_debug_log()


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    Implemented as a virtual clock (GCRA): each ``acquire`` reserves the next free slot under
    the lock and sleeps outside it, so waiting threads do not serialise on the lock.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self._interval = 1.0 / self.rate
        burst = max(1.0, burst if burst is not None else min(self.rate, 5.0))
        self._tolerance = (burst - 1.0) * self._interval
        self._next = 0.0  # theoretical arrival time of the next request
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may be sent. Returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now - self._tolerance)
            self._next = slot + self._interval
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
            return wait
        return 0.0

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (the server said: slow down)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class Page:
    """One page of a Stripe list: its objects, and whether more follow."""

    __slots__ = ("data", "has_more")

    def __init__(self, data: list[dict[str, Any]], has_more: bool) -> None:
        self.data = data
        self.has_more = has_more

    @property
    def last_id(self) -> str | None:
        return self.data[-1]["id"] if self.data else None


class StripeAPI:
    """Typed reads of the Stripe API. Safe to share between threads."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        rate: float | None = None,
        max_retries: int = 6,
        max_wait: float = 120.0,
        backoff: float = 0.5,
        timeout: float = 80.0,
    ) -> None:
        self.livemode = "_live_" in api_key
        self._api_key = api_key
        self.timeout = timeout
        self.api_base = api_base.rstrip("/")
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff = backoff
        if rate is None:
            rate = DEFAULT_LIVE_RATE if self.livemode else DEFAULT_TEST_RATE
        self.rate = rate
        self.bucket = TokenBucket(rate)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._count_lock = threading.Lock()
        self._count = 0
        self.retries = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, rate: float | None = None) -> StripeAPI:
        """``ConfigError`` when ``STRIPE_API_KEY`` is not set."""
        return cls(settings.require_stripe_key(), api_base=settings.stripe_api_base, rate=rate)

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far by this object (retries included)."""
        with self._count_lock:
            return self._count

    # --- one request ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, account: str = "") -> dict[str, Any]:
        """GET ``path`` with retries; the decoded JSON body."""
        query = dict(params or {})
        if account:
            query["stripe_account"] = account
        waited = 0.0
        attempt = 0
        while True:
            self.bucket.acquire()
            with self._count_lock:
                self._count += 1
            try:
                return self._get_json(path, query)
            except stripe.AuthenticationError as exc:
                raise StripeAuthError(
                    f"Stripe rejected the API key (HTTP {exc.http_status}): {_message(exc)}"
                ) from exc
            except stripe.PermissionError as exc:
                raise StripeAuthError(
                    f"the API key may not read {path} (HTTP 403): {_message(exc)}; "
                    "a restricted key needs read access to it"
                ) from exc
            except (stripe.APIConnectionError, stripe.StripeError) as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    if _is_transient(exc):
                        raise StripeUnavailable(f"GET {path}: {_describe(exc)}") from exc
                    raise StripeError(f"GET {path} failed: {_describe(exc)}") from exc
                if attempt >= self.max_retries or waited + delay > self.max_wait:
                    raise StripeUnavailable(
                        f"GET {path}: Stripe unavailable after {attempt + 1} attempts "
                        f"({_describe(exc)})"
                    ) from exc
                if getattr(exc, "http_status", None) == 429:
                    self.bucket.pause(delay)
                with self._count_lock:
                    self.retries += 1
                time.sleep(delay)
                waited += delay
                attempt += 1

    def _get_json(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        """``StripeClient.raw_request("get", ...)``, decoding a success body into plain dicts.

        The SDK decodes every body into ``OrderedDict``s, which costs 2.5 times the CPU of
        ``json.loads``: noticeable for a backfill, whose list pages of a hundred sessions with
        their line items run to 400 KB. Anything but a decodable 2xx body goes back to the SDK,
        which raises its usual errors.
        """
        options, params = extract_options_from_dict(query)
        requestor = self._client._requestor
        body, status, headers = requestor.request_raw(
            "get", path, params=params, options=options, base_address="api", api_mode="V1",
            usage=["raw_request"],
        )
        if 200 <= status < 300:
            with contextlib.suppress(ValueError):
                return json.loads(body)  # type: ignore[arg-type]
        response = requestor._interpret_response(body, status, headers, "V1")
        return response.data  # type: ignore[no-any-return]

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying ``exc``, or None when it must not be retried."""
        headers = getattr(exc, "headers", None) or {}
        should = _header(headers, "Stripe-Should-Retry")
        status = getattr(exc, "http_status", None)
        if should == "false":
            return None
        if not (
            should == "true"
            or isinstance(exc, stripe.APIConnectionError)
            or status == 429
            or (status is not None and status >= 500)
        ):
            return None
        delay = min(self.backoff * (2**attempt), 20.0) * (0.5 + random.random() / 2)
        retry_after = _header(headers, "Retry-After")
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        return delay

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
        items = self._rest_of(embedded, f"/v1/checkout/sessions/{session['id']}/line_items", account=account)
        session["line_items"] = {"object": "list", "data": items, "has_more": False,
                                 "url": f"/v1/checkout/sessions/{session['id']}/line_items"}
        return session

    def retrieve_session(self, session_id: str, *, account: str = "") -> dict[str, Any]:
        """A session with ``line_items`` expanded and complete."""
        session = self.get(f"/v1/checkout/sessions/{session_id}", {"expand": ["line_items"]}, account=account)
        return self.complete_session(session, account=account)

    # --- invoices ---------------------------------------------------------------------------

    def invoice_lines(self, invoice: dict[str, Any], *, account: str = "") -> list[dict[str, Any]]:
        """All lines: the embedded first page plus ``/v1/invoices/{id}/lines`` past ``has_more``."""
        return self._rest_of(invoice.get("lines"), f"/v1/invoices/{invoice['id']}/lines", account=account)

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

    def post(
        self, path: str, params: Mapping[str, Any], *, idempotency_key: str, account: str = ""
    ) -> dict[str, Any]:
        """POST ``path`` with the retries of ``get``; safe to retry thanks to the key."""
        query: dict[str, Any] = {**params, "idempotency_key": idempotency_key}
        if account:
            query["stripe_account"] = account
        waited, attempt = 0.0, 0
        while True:
            self.bucket.acquire()
            with self._count_lock:
                self._count += 1
            try:
                options, body = extract_options_from_dict(query)
                return self._client._requestor.request(  # type: ignore[no-any-return]
                    "post", path, params=body, options=options, base_address="api",
                    usage=["raw_request"],
                ).to_dict()
            except stripe.AuthenticationError as exc:
                raise StripeAuthError(f"Stripe rejected the API key (HTTP {exc.http_status}): {_message(exc)}") from exc
            except (stripe.APIConnectionError, stripe.StripeError) as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    kind = StripeUnavailable if _is_transient(exc) else StripeError
                    raise kind(f"POST {path} failed: {_describe(exc)}") from exc
                if attempt >= self.max_retries or waited + delay > self.max_wait:
                    raise StripeUnavailable(f"POST {path}: Stripe unavailable after {attempt + 1} attempts ({_describe(exc)})") from exc
                time.sleep(delay)
                waited += delay
                attempt += 1

    def download(self, url: str, sink: BinaryIO, *, chunk_size: int = 1 << 20) -> int:
        """Stream a Stripe file (a report run's ``result.url``) into ``sink`` with the secret
        key, as Stripe wants; the bytes written. The key goes only to ``files.stripe.com`` or to
        the configured API base's host (a sandbox)."""
        parts = urlsplit(url)
        allowed = {"files.stripe.com", urlsplit(self.api_base).netloc}
        if parts.scheme not in ("https", "http") or parts.netloc not in allowed:
            raise StripeError(f"refusing to send the API key to {parts.scheme}://{parts.netloc}: "
                              "report files come from files.stripe.com")
        self.bucket.acquire()
        with self._count_lock:
            self._count += 1
        try:
            with requests.get(url, headers={"Authorization": f"Bearer {self._api_key}"},
                              stream=True, timeout=self.timeout) as response:
                if response.status_code in (401, 403):
                    raise StripeAuthError(f"Stripe refused the file download (HTTP {response.status_code})")
                if response.status_code >= 400:
                    kind = StripeUnavailable if response.status_code >= 500 or response.status_code == 429 else StripeError
                    raise kind(f"GET {parts.path}: HTTP {response.status_code}")
                written = 0
                for block in response.iter_content(chunk_size):
                    sink.write(block)
                    written += len(block)
                return written
        except requests.RequestException as exc:
            raise StripeUnavailable(f"GET {parts.path}: {exc.__class__.__name__}: {exc}") from exc


def session_list_params(created_gte: int, created_lte: int, **filters: Any) -> dict[str, Any]:
    """List parameters of ``GET /v1/checkout/sessions`` with line items embedded."""
    return {
        "created": {"gte": created_gte, "lte": created_lte},
        "expand": ["data.line_items"],
        **{k: v for k, v in filters.items() if v is not None},
    }


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    try:
        for key, value in headers.items():
            if key.lower() == name.lower():
                return str(value).strip().lower()
    except AttributeError:
        return None
    return None


def _is_transient(exc: Exception) -> bool:
    status = getattr(exc, "http_status", None)
    return isinstance(exc, stripe.APIConnectionError) or status == 429 or (status or 0) >= 500


def _message(exc: Exception) -> str:
    """One line: the SDK's network errors span several lines of boilerplate."""
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.APIConnectionError) and "(Network error:" in text:
        text = text.split("(Network error:", 1)[1].rstrip(")")
    return " ".join(text.split())


def _describe(exc: Exception) -> str:
    status = getattr(exc, "http_status", None)
    prefix = f"HTTP {status}: " if status else ""
    return prefix + _message(exc)
