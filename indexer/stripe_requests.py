"""One request to Stripe, paced, counted and retried: the transport under ``StripeAPI``.

``StripeAPI`` (``indexer.stripe_api``) holds the resource calls (lists, sessions, invoices,
reports, webhook endpoints); this module is how each of their requests goes out and what
happens when it fails, so the retry policy lives in one place:

* requests are paced by a client-side token bucket shared by every thread using the object,
  and by a cap on requests in flight (``indexer.pacing``);
* 429, 5xx and network errors are retried with exponential backoff (with jitter), honouring
  ``Stripe-Should-Retry`` (``false`` means never) and ``Retry-After``; after ``max_retries``
  attempts, or when the total wait would pass ``max_wait`` seconds, ``StripeUnavailable``;
* 401/403 raise ``StripeAuthError``; any other 4xx raises ``StripeError`` naming the request.

A 429 also slows the shared pace (or, for ``Stripe-Rate-Limited-Reason: *-concurrency``, the
requests in flight), so every thread backs off at once instead of each one finding out for
itself, and the pace settles about the limit the server keeps.

The SDK's own retries are off (``max_network_retries=0``): one retry policy, here, and
``request_count`` counts every HTTP request actually sent, retries included. Every path is
checked before it is sent, so a value from a payload never chooses another path.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
import stripe

from indexer import stripe_sdk
from indexer.errors import StripeAuthError, StripeError, StripeUnavailable
from indexer.pacing import ConcurrencyLimit, TokenBucket

__all__ = ["DEFAULT_LIVE_RATE", "DEFAULT_TEST_RATE", "StripeRequests", "is_stripe_id", "object_path"]

#: Client-side pace (requests per second) under Stripe's read limits: 100/s live, 25/s in
#: test mode. A little headroom is left for the other processes (worker, web) on the same key.
DEFAULT_LIVE_RATE = 90.0
DEFAULT_TEST_RATE = 23.0

#: An id Stripe generates (``cs_test_a1B2...``, ``in_...``, ``re_...``): letters, digits and
#: underscores. Only such ids are put into a request's path.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
#: A path this client requests: ``/v1/`` and segments of id characters (a product id chosen by
#: its owner may hold ``-`` or ``.``), never a ``.``/``..`` segment, an escape or a query.
_PATH = re.compile(r"/v1(/[A-Za-z0-9_.\-]+)+")
_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,250}")


def is_stripe_id(value: object) -> bool:
    """Whether ``value`` is a string shaped like an id Stripe generates."""
    return isinstance(value, str) and STRIPE_ID.fullmatch(value) is not None


def object_path(template: str, *ids: object) -> str:
    """``template`` (``"/v1/refunds/{}"``) with ``ids`` filled in, each checked to be a Stripe
    id: a value from a payload never chooses another path (``../../v1/customers``)."""
    for value in ids:
        if not is_stripe_id(value):
            raise StripeError(f"refusing to request {template}: {value!r:.60} is not a Stripe id")
    return template.format(*ids)


def _check_request(path: str, account: str) -> None:
    if _PATH.fullmatch(path) is None or any(part in (".", "..") for part in path.split("/")):
        raise StripeError(f"refusing to request {path!r:.100}: not a Stripe API path")
    if account and _ACCOUNT.fullmatch(account) is None:
        raise StripeError(f"refusing to request {path}: {account!r:.60} is not a Connect account id")


class StripeRequests:
    """Paced, counted and retried requests with one API key. Safe to share between threads."""

    #: 429 answers received so far (``request_count`` counts them too)
    throttled: int = 0

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
        self.concurrency = ConcurrencyLimit()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._count_lock = threading.Lock()
        self._count = 0
        self.retries = 0
        self.rate_limited = 0

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far by this object (retries included)."""
        with self._count_lock:
            return self._count

    # --- one request ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, account: str = "") -> dict[str, Any]:
        """GET ``path`` with retries; the decoded JSON body."""
        return self._send("get", path, dict(params or {}), account)

    def post(
        self, path: str, params: Mapping[str, Any], *, idempotency_key: str | None = None, account: str = ""
    ) -> dict[str, Any]:
        """POST ``path`` with the retries of ``get``. Every attempt carries one
        ``Idempotency-Key``, so a retried create never makes a second object."""
        query = {**params, "idempotency_key": idempotency_key or f"indexer-{uuid.uuid4()}"}
        return self._send("post", path, query, account)

    def _send(self, method: str, path: str, query: dict[str, Any], account: str) -> dict[str, Any]:
        """The one retry loop: paced by the shared bucket and concurrency limit, every request
        counted; 429, 5xx and network errors retried (see the module's docstring)."""
        _check_request(path, account)
        if account:
            query["stripe_account"] = account
        waited = 0.0
        attempt = 0
        while True:
            self.bucket.acquire()
            sent_at = time.monotonic()
            with self._count_lock:
                self._count += 1
            try:
                with self.concurrency:
                    body = stripe_sdk.request_json(self._client, method, path, query)
                self.bucket.accepted()
                return body
            except (stripe.AuthenticationError, stripe.PermissionError) as exc:
                raise (_read_error if method == "get" else _write_error)(exc, path) from exc
            except (stripe.APIConnectionError, stripe.StripeError) as exc:
                self._note_refusal(exc)
                if getattr(exc, "http_status", None) == 429:
                    self._throttled(exc, sent_at)
                elif getattr(exc, "http_status", None):
                    self.bucket.accepted()
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    if _is_transient(exc):
                        raise StripeUnavailable(f"{method.upper()} {path}: {_describe(exc)}") from exc
                    raise StripeError(f"{method.upper()} {path} failed: {_describe(exc)}") from exc
                if attempt >= self.max_retries or waited + delay > self.max_wait:
                    raise StripeUnavailable(self._gave_up(method, path, exc, attempt + 1, waited)) from exc
                with self._count_lock:
                    self.retries += 1
                time.sleep(delay)
                waited += delay
                attempt += 1

    def _throttled(self, exc: Exception, sent_at: float | None = None) -> None:
        """Slow every thread down for what the 429 says was exceeded
        (``Stripe-Rate-Limited-Reason``): the number of requests at once (``*-concurrency``),
        one object's own limit (``resource-specific``: only this request waits), else the rate.
        A ``Retry-After`` holds every thread that long."""
        headers = getattr(exc, "headers", None) or {}
        reason = _header(headers, "Stripe-Rate-Limited-Reason") or ""
        with self._count_lock:
            self.rate_limited += 1
        if reason == "resource-specific":
            return
        if "concurrency" in reason:
            self.concurrency.throttled(self.concurrency.active + 1)
        else:
            self.bucket.throttled(sent_at)
        retry_after = _seconds(_header(headers, "Retry-After"))
        if retry_after:
            self.bucket.pause(min(retry_after, self.max_wait))

    def _gave_up(self, method: str, path: str, exc: Exception, attempts: int, waited: float) -> str:
        """Why the last retry was the last: a network failure names the address that could not
        be reached (STRIPE_API_BASE, often a typo or a sandbox not started), in one line."""
        if isinstance(exc, stripe.APIConnectionError):
            return (f"cannot reach Stripe at {self.api_base} ({_network_reason(exc)}) "
                    f"after {attempts} attempts in {waited:.0f} s")
        return f"{method.upper()} {path}: Stripe unavailable after {attempts} attempts ({_describe(exc)})"

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
        retry_after = _seconds(_header(headers, "Retry-After"))
        if retry_after:
            delay = max(delay, retry_after)
        return delay

    # --- the client's version, and files ----------------------------------------------------

    @property
    def api_version(self) -> str:
        """The ``Stripe-Version`` every request of this client is read at (the SDK's pinned
        version): the version a webhook endpoint should render its events at, so that webhook
        payloads and the objects the worker re-reads have one shape."""
        return stripe_sdk.api_version(self._client)

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

    def _note_refusal(self, exc: Exception) -> None:
        """Count a 429 (``throttled``), for the worker's metrics."""
        if getattr(exc, "http_status", None) == 429:
            with self._count_lock:
                self.throttled += 1


def _read_error(exc: Exception, path: str) -> StripeAuthError:
    """A refused key on a read, never retried: a 403 says the key needs read access."""
    if isinstance(exc, stripe.AuthenticationError):
        return StripeAuthError(f"Stripe rejected the API key (HTTP {exc.http_status}): {_message(exc)}")
    return StripeAuthError(f"the API key may not read {path} (HTTP 403): {_message(exc)}; "
                           "a restricted key needs read access to it")


def _write_error(exc: Exception, path: str) -> StripeAuthError:
    """A refused key on a write (webhook setup, report runs): a 403 says which key writes."""
    if isinstance(exc, stripe.AuthenticationError):
        return StripeAuthError(f"Stripe rejected the API key (HTTP {exc.http_status}): {_message(exc)}")
    return StripeAuthError(
        f"the API key may not write {path} (HTTP 403): {_message(exc)}; use a secret key, or a "
        "restricted key with write access to Webhook Endpoints"
    )


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    try:
        for key, value in headers.items():
            if key.lower() == name.lower():
                return str(value).strip().lower()
    except AttributeError:
        return None
    return None


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (an HTTP date, or nonsense, is None)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 < seconds < math.inf else None


def _is_transient(exc: Exception) -> bool:
    status = getattr(exc, "http_status", None)
    return isinstance(exc, stripe.APIConnectionError) or status == 429 or (status or 0) >= 500


def _message(exc: Exception) -> str:
    """One line: the SDK's network errors span several lines of boilerplate."""
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.APIConnectionError) and "(Network error:" in text:
        text = text.split("(Network error:", 1)[1].rstrip(")")
    return " ".join(text.split())


def _network_reason(exc: Exception) -> str:
    """``connection refused``, ``name or service not known``, ``timed out``... from the
    several nested messages of a requests error wrapped by the SDK."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^\"')(]+)", text)
    if found:
        return found.group(1).strip().lower()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    return _message(exc)


def _describe(exc: Exception) -> str:
    status = getattr(exc, "http_status", None)
    prefix = f"HTTP {status}: " if status else ""
    return prefix + _message(exc)
