"""The sandbox over HTTP: Stripe's REST API (form bodies in, JSON out) on a threaded server.

``SandboxServer`` owns the transport and the knobs (auth, ``Stripe-Version``, ``Stripe-Account``,
latency, rate limit, injected failures, idempotency keys, ``Request-Id``); :class:`Api` owns the
routes: Stripe's ``/v1`` endpoints (:mod:`.routes`, :mod:`.webhook_endpoints`) and the sandbox's own test controls
(:mod:`.actions`). Every state change goes through :mod:`billing` (which emits the events), every
response body through :mod:`render`. Requests are handled one at a time under the store's lock:
rendering is CPU-bound (the GIL serialises it anyway) and billing's multi-step changes must not
interleave. Only the latency sleep happens outside the lock, so slow responses still overlap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .actions import SandboxActions
from .endpoints import Raw, Request
from .errors import StripeError, invalid
from .ids import request_id
from .params import parse_form
from .render import version
from .reporting_routes import ReportingRoutes
from .routes import StripeRoutes
from .store import Scope, Store
from .webhook_endpoints import WebhookEndpointRoutes

log = logging.getLogger("stripe_sandbox")

KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
IDEMPOTENCY_CACHE = 10_000
#: The longest request line served; ``http.server`` stops at 64 KB with an HTML 414.
MAX_REQUEST_LINE = 1024 * 1024


class Api(StripeRoutes, WebhookEndpointRoutes, ReportingRoutes, SandboxActions):
    """Every endpoint over a :class:`Store` (no HTTP here: params in, JSON-ready dict out)."""


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

    def handle_one_request(self) -> None:
        """``BaseHTTPRequestHandler``'s, taking request lines up to ``MAX_REQUEST_LINE`` bytes
        (its own limit is 64 KB): an id of any length gets Stripe's JSON answer (``No such
        ...``), as from Stripe, and only a longer line is refused, in JSON too."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.command = ""
                self.send_error(HTTPStatus.BAD_REQUEST, "The request line is too long.")
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            handler = getattr(self, f"do_{self.command}", None)
            if handler is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r}).")
                return
            handler()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What ``http.server`` refuses itself (a malformed request, a header line too long)
        in Stripe's error shape, never its HTML page; the connection closes."""
        status = HTTPStatus(code)
        kind = "invalid_request_error" if code < 500 else "api_error"
        body = _dump({"error": {"type": kind, "message": message or f"{status.phrase}."}})
        head = [f"HTTP/1.1 {code} {status.phrase}", "Server: stripe-sandbox", "Content-Type: application/json",
                f"Content-Length: {len(body)}", "Connection: close"]
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        status, payload, headers = self.server.sandbox.handle(
            self.command, self.path, self.headers, body)
        reason = HTTPStatus(status).phrase
        content_type = headers.pop("Content-Type", "application/json")
        head = [f"HTTP/1.1 {status} {reason}", "Server: stripe-sandbox",
                f"Content-Type: {content_type}", f"Content-Length: {len(payload)}"]
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
    Report runs finish ``report_delay`` seconds after they are made; ``report_fail_rate`` of
    them fail; ``test_mode_reports`` lets test-mode keys run them (Stripe wants live mode).
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *,
                 latency_ms: float = 0, rate_limit: float | None = None,
                 fail_rate: float = 0.0, webhooks: Any = None, seed: int = 0,
                 report_delay: float = 1.0, report_fail_rate: float = 0.0,
                 test_mode_reports: bool = False) -> None:
        self.store = store
        self.host = host
        self.latency = latency_ms / 1000.0
        self.bucket = _Bucket(rate_limit) if rate_limit else None
        self.fail_rate = fail_rate
        self.api = Api(store, webhooks)
        self.api.stats = self.stats
        self.api.reports.delay = report_delay
        self.api.reports.fail_rate = report_fail_rate
        self.api.reports.allow_test_mode = test_mode_reports
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
        store.files_base = self.url
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
        self.api.stop_deliveries()
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
                    out_headers["Stripe-Rate-Limited-Reason"] = "global-rate"
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
            if isinstance(result, Raw):
                out_headers["Content-Type"] = result.content_type
                return 200, result.data, out_headers
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
