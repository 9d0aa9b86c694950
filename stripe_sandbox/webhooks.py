"""Signed webhook delivery from the sandbox, the way Stripe delivers to an endpoint.

:class:`WebhookSender` listens to the store's events (and, with ``backlog``, first queues the
history already there, oldest first), renders each at its own frozen API version (or at the
endpoint's ``api_version`` when one is set, as Stripe does for a versioned endpoint) and POSTs
it with ``Stripe-Signature: t=<unix>,v1=<hmac-sha256 hex of "t.body">`` (plus the fake ``v0``
Stripe adds to test-mode events). A non-2xx answer or a connection error is retried with
exponential backoff, re-signed with a fresh timestamp each time, up to ``max_attempts``; then
the event is counted as failed. A few threads with keep-alive connections deliver at once.

For tests of an indexer: ``duplicate_rate`` delivers that share of events a second time, and
``shuffle`` takes each next event at random from the first ``shuffle`` waiting ones, both
driven by ``seed``. A Stripe endpoint belongs to one mode, and is either an account endpoint
or a Connect endpoint: ``livemode`` and ``connect`` (None: both) choose which events it gets
(``account``: only that connected account's, for an endpoint the account made itself), and
``events`` (its ``enabled_events``; None or ``*``: every type) which types.
Bodies are pretty-printed like Stripe's; ``pretty=False`` sends compact
JSON, which renders faster (the indenting encoder is pure Python).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import records as r
from .render import Renderer, version
from .store import Store

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
# Stripe signs test-mode events a second time under a scheme receivers must ignore.
V0_SECRET = b"sandbox-v0-scheme-not-for-verification"


def signature_header(body: bytes, secret: str, timestamp: int, *, livemode: bool = True) -> str:
    """``Stripe-Signature`` for ``body``: ``t=...,v1=...`` (and ``v0=...`` in test mode)."""
    signed = str(timestamp).encode() + b"." + body
    header = f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"
    if not livemode:
        header += f",v0={hmac.new(V0_SECRET, signed, hashlib.sha256).hexdigest()}"
    return header


@dataclass(slots=True)
class _Delivery:
    event: r.Event
    attempt: int = 0
    duplicate: bool = False
    body: bytes | None = None


class WebhookSender:
    def __init__(
        self,
        store: Store,
        url: str,
        secret: str,
        *,
        api_version: str | None = None,
        concurrency: int = 4,
        backlog: bool = True,
        max_attempts: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
        duplicate_rate: float = 0.0,
        shuffle: int = 0,
        seed: int = 0,
        pretty: bool = True,
        livemode: bool | None = None,
        connect: bool | None = None,
        events: Iterable[str] | None = None,
        account: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url must be http(s)://host[:port]/path, got {url!r}")
        self.store = store
        self.url = url
        self.secret = secret
        self.api_version = api_version
        self.concurrency = max(1, concurrency)
        self.backlog = backlog
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.duplicate_rate = duplicate_rate
        self.shuffle = shuffle
        self._indent = 2 if pretty else None
        self.livemode = livemode
        self.connect = connect
        self.events = None if events is None else frozenset(events)
        self.account = account
        self.enabled = True
        self._parts = parts
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._renderer = Renderer(store)
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._ready: deque[_Delivery] = deque()
        self._later: list[tuple[float, int, _Delivery]] = []
        self._seq = 0
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._running = False
        self._counts = {"delivered": 0, "failed": 0, "attempts": 0, "retries": 0,
                        "duplicates": 0}
        self.last_error: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> WebhookSender:
        if self._running:
            return self
        self._running = True
        store = self.store
        # Under the store's lock nothing is emitted between the snapshot and the subscription:
        # an event is either in the backlog or reaches the listener, never both or neither.
        with store.lock:
            history = [e for e in store.ordered("event") if self.wants(e)] if self.backlog else []
            store.subscribe(self._on_event)
        with self._cond:
            self._ready.extend(_Delivery(e) for e in history)
        for i in range(self.concurrency):
            t = threading.Thread(target=self._work, name=f"webhooks-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops delivering; what is still queued stays counted as pending."""
        self.store.unsubscribe(self._on_event)
        with self._cond:
            self._running = False
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def __enter__(self) -> WebhookSender:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "configured": True,
                "url": self.url,
                "running": self._running,
                "pending": len(self._ready) + len(self._later) + self._in_flight,
                "retrying": len(self._later),
                **self._counts,
                "last_error": self.last_error,
            }

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once nothing is queued, waiting for a retry or in flight (within ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready or self._later or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    # -- queue -----------------------------------------------------------------------------
    def wants(self, event: r.Event) -> bool:
        """Whether this endpoint gets the event: enabled, its mode, own account vs Connect,
        and its event types."""
        if not self.enabled or (self.livemode is not None and event.live != self.livemode):
            return False
        if self.connect is not None and bool(event.account) != self.connect:
            return False
        if self.account is not None and event.account != self.account:
            return False
        return self.events is None or "*" in self.events or event.type in self.events

    def _on_event(self, event: r.Event) -> None:
        if not self.wants(event):
            return
        with self._cond:
            self._ready.append(_Delivery(event))
            self._cond.notify()

    def _take(self) -> _Delivery | None:
        """The next delivery due, waiting for one; None when stopping."""
        with self._cond:
            while self._running:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    self._ready.append(heapq.heappop(self._later)[2])
                if self._ready:
                    if self.shuffle > 1 and len(self._ready) > 1:
                        pick = self._rng.randrange(min(self.shuffle, len(self._ready)))
                        self._ready.rotate(-pick)
                        item = self._ready.popleft()
                        self._ready.rotate(pick)
                    else:
                        item = self._ready.popleft()
                    self._in_flight += 1
                    return item
                wait = self._later[0][0] - now if self._later else None
                self._cond.wait(wait)
            return None

    def _done(self, item: _Delivery, ok: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if ok:
                if item.duplicate:
                    self._counts["duplicates"] += 1
                else:
                    self._counts["delivered"] += 1
                    if self.duplicate_rate and self._rng.random() < self.duplicate_rate:
                        self._ready.append(_Delivery(item.event, duplicate=True, body=item.body))
            elif item.attempt >= self.max_attempts:
                self._counts["failed"] += 1
                log.warning("webhook %s for %s failed after %d attempts: %s", item.event.id,
                            item.event.type, item.attempt, self.last_error)
            else:
                delay = min(self.max_backoff, self.backoff * 2 ** (item.attempt - 1))
                self._seq += 1
                heapq.heappush(self._later, (time.monotonic() + delay, self._seq, item))
            self._cond.notify_all()

    # -- delivery --------------------------------------------------------------------------
    def render(self, event: r.Event) -> bytes:
        """The body Stripe would POST: the event at its own version, or at the endpoint's."""
        if self.api_version is not None and event.api_version != self.api_version:
            event = event.evolve(api_version=self.api_version)
        obj = self._renderer.event(event, version(event.api_version))
        return json.dumps(obj, indent=self._indent).encode()

    def _work(self) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while True:
                item = self._take()
                if item is None:
                    return
                ok = False
                try:
                    if item.body is None:
                        item.body = self.render(item.event)
                    conn, ok = self._post(conn, item)
                except Exception as exc:  # a rendering bug must not kill the thread
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("cannot render event %s", item.event.id)
                    item.attempt = self.max_attempts
                self._done(item, ok)
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        port = self._parts.port
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(self._parts.hostname, port, timeout=self.timeout)
        return http.client.HTTPConnection(self._parts.hostname, port, timeout=self.timeout)

    def _post(self, conn: http.client.HTTPConnection | None, item: _Delivery
              ) -> tuple[http.client.HTTPConnection | None, bool]:
        assert item.body is not None
        item.attempt += 1
        with self._cond:
            self._counts["attempts"] += 1
            if item.attempt > 1:
                self._counts["retries"] += 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
            "Stripe-Signature": signature_header(item.body, self.secret, int(time.time()),
                                                 livemode=item.event.live),
        }
        try:
            if conn is None:
                conn = self._connect()
            conn.request("POST", self._path, body=item.body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            if conn is not None:
                conn.close()
            return None, False
        if 200 <= resp.status < 300:
            return conn, True
        self.last_error = f"HTTP {resp.status}"
        return conn, False
