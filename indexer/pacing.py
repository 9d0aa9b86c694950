"""Client-side pacing of Stripe requests: a token bucket whose rate follows the 429s the server
answers, and a cap on requests in flight for Stripe's concurrency limiter. ``stripe_api`` owns
one of each per client and tells them what Stripe said; nothing here makes a request."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

__all__ = ["ConcurrencyLimit", "TokenBucket"]


class TokenBucket:
    """A thread-safe token bucket that finds the pace the server takes.

    Implemented as a virtual clock (GCRA): each ``acquire`` reserves the next free slot under
    the lock and sleeps outside it, so waiting threads do not serialise on the lock.

    ``rate`` is a ceiling. The first ``throttled`` (the server answered 429 for the rate)
    halves the pace. A later one sets it to 90% of what the server accepted (``accepted``)
    since the previous one (up to ``WINDOW`` seconds back), which is the server's limit while
    it refuses us, and never less than half the pace; the 429s of requests sent before the
    last cut are the volley it already answered and change nothing. The pace then climbs by 5% a second to just
    under the pace the server accepted, and by 0.5% a second beyond it (doubling in about two
    minutes), so it stays about the server's limit and finds a raised one within minutes.
    """

    WINDOW = 10.0
    MARGIN = 0.9
    CUT = 0.5
    FAST_CLIMB = 0.05
    SLOW_CLIMB = 0.005

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = float(rate)
        self.floor = min(self.ceiling, 0.5)
        self._burst = max(1.0, burst if burst is not None else min(self.ceiling, 5.0))
        self._next = 0.0  # theoretical arrival time of the next request
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()
        self._accepted_pace: float | None = None
        self._last_cut = -math.inf
        self._updated = time.monotonic()
        self._set_rate(self.ceiling)

    @property
    def rate(self) -> float:
        return self._rate

    def _set_rate(self, rate: float) -> None:
        self._rate = rate
        self._interval = 1.0 / rate
        self._tolerance = (min(self._burst, max(1.0, rate)) - 1.0) * self._interval

    def acquire(self) -> float:
        """Block until a request may be sent. Returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._climb(now)
            slot = max(self._next, now - self._tolerance)
            self._next = slot + self._interval
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
            return wait
        return 0.0

    def accepted(self) -> None:
        """The server answered a request (anything but a 429)."""
        with self._lock:
            now = time.monotonic()
            self._accepted.append(now)
            while self._accepted[0] < now - self.WINDOW:
                self._accepted.popleft()

    def _climb(self, now: float) -> None:
        elapsed, self._updated = now - self._updated, now
        if self._rate >= self.ceiling or now - self._last_cut < 1.0:
            return
        known = self._accepted_pace
        if known is None or self._rate < 0.95 * known:
            rate = self._rate * (1 + self.FAST_CLIMB * elapsed)
            if known is not None:
                rate = min(rate, 0.95 * known)
        else:
            rate = self._rate * (1 + self.SLOW_CLIMB * elapsed)
        self._set_rate(min(self.ceiling, rate))

    def throttled(self, sent_at: float | None = None) -> None:
        """The server refused a request for its rate: slow down (see the class docstring).

        ``sent_at`` (``time.monotonic()`` when the refused request left): a request sent
        before the last cut is one of the volley that cut answered; without it, a second's
        refusals count once."""
        with self._lock:
            now = time.monotonic()
            since = now - self._last_cut
            if (sent_at is not None and sent_at < self._last_cut) or (sent_at is None and since < 1.0):
                return
            span = max(0.5, min(since, self.WINDOW))
            accepted = sum(1 for t in self._accepted if t >= now - span) / span
            pace = self._rate * self.CUT
            if since < math.inf and accepted > 0:
                self._accepted_pace = min(self._rate, accepted)
                pace = max(pace, self._accepted_pace * self.MARGIN)
            self._last_cut = self._updated = now
            self._set_rate(max(self.floor, pace))
            self._next = max(self._next, now)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (the server said: slow down)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class ConcurrencyLimit:
    """How many requests may be in flight at once: unbounded until the server answers 429 for
    concurrency, then 70% of what was in flight, rising by one every five quiet seconds."""

    RISE_SECONDS = 5.0
    UNBOUNDED = 64

    def __init__(self) -> None:
        self.cap: int | None = None
        self.active = 0
        self._last_change = -math.inf
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            while self.cap is not None and self.active >= self.cap:
                self._rise()
                if self.cap is not None and self.active >= self.cap:
                    self._cond.wait(0.5)
            self.active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()

    def _rise(self) -> None:
        now = time.monotonic()
        if self.cap is not None and now - self._last_change >= self.RISE_SECONDS:
            self.cap = None if self.cap + 1 >= self.UNBOUNDED else self.cap + 1
            self._last_change = now

    def throttled(self, in_flight: int) -> None:
        with self._cond:
            now = time.monotonic()
            if now - self._last_change < 1.0:
                return
            self.cap = max(1, int(in_flight * 0.7))
            self._last_change = now
