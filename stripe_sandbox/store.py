"""In-memory, thread-safe state of one fake Stripe platform (all modes and Connect accounts).

Plain-Python read access for tests: ``store.products``, ``store.prices``, ``store.customers``,
``store.payment_links``, ``store.sessions``, ``store.payment_intents``, ``store.charges``,
``store.refunds``, ``store.disputes``, ``store.invoices``, ``store.invoice_items``,
``store.invoice_payments``, ``store.subscriptions``, ``store.events``,
``store.balance_transactions`` (with ``store.failure_refunds``, their ``pyr_`` sources),
``store.report_runs`` and ``store.files`` are dicts of id ->
record (see :mod:`records`; every record has ``live`` and ``account``), in insertion order.
``store.line_items(session_or_link_id)`` and ``store.invoice_lines(invoice_id)`` give lines with
their rendered ids and amounts.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stripe import _api_version

from . import records as r
from .ids import IdFactory, child_id

DEFAULT_API_VERSION: str = _api_version._ApiVersion.CURRENT

Scope = tuple[bool, str | None]


class OrderedIndex:
    """Ids sorted by (created, seq); lists walk it from the newest end."""

    __slots__ = ("keys", "ids")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.ids: list[str] = []

    def add(self, key: int, obj_id: str) -> None:
        if not self.keys or key > self.keys[-1]:
            self.keys.append(key)
            self.ids.append(obj_id)
            return
        pos = bisect_left(self.keys, key)
        if pos < len(self.keys) and self.keys[pos] == key:
            return
        insort(self.keys, key)
        self.ids.insert(pos, obj_id)

    def __len__(self) -> int:
        return len(self.keys)


def sort_key(rec: r.Record) -> int:
    return (rec.created << 32) | rec.seq


@dataclass(frozen=True, slots=True)
class LineItemView:
    """A checkout or payment-link line item as Stripe would report it."""

    id: str
    price: str
    product: str
    quantity: int
    currency: str
    unit_amount: int
    amount_subtotal: int
    amount_total: int
    description: str


@dataclass(frozen=True, slots=True)
class InvoiceLineView:
    id: str
    line: r.InvoiceLine


class Store:
    def __init__(
        self,
        seed: int = 0,
        api_version: str = DEFAULT_API_VERSION,
        event_retention_days: int | None = 30,
    ) -> None:
        self.lock = threading.RLock()
        self.ids = IdFactory(seed)
        self.api_version = api_version
        # The account's API version when an event is made, if it differs from the version
        # requests are answered in (the seed generator writes history from before an upgrade).
        self.event_api_version: str | None = None
        self.event_retention_days = event_retention_days
        self.clock: Callable[[], int] | None = None
        # Where file contents are served (``File.url``); the server sets its own address.
        self.files_base = "https://files.stripe.com"
        self.products: dict[str, r.Product] = {}
        self.prices: dict[str, r.Price] = {}
        self.customers: dict[str, r.Customer] = {}
        self.payment_links: dict[str, r.PaymentLink] = {}
        self.sessions: dict[str, r.Session] = {}
        self.payment_intents: dict[str, r.PaymentIntent] = {}
        self.charges: dict[str, r.Charge] = {}
        self.refunds: dict[str, r.Refund] = {}
        self.disputes: dict[str, r.Dispute] = {}
        self.invoices: dict[str, r.Invoice] = {}
        self.invoice_items: dict[str, r.InvoiceItem] = {}
        self.invoice_payments: dict[str, r.InvoicePayment] = {}
        self.subscriptions: dict[str, r.Subscription] = {}
        self.events: dict[str, r.Event] = {}
        self.webhook_endpoints: dict[str, r.WebhookEndpoint] = {}
        self.failure_refunds: dict[str, r.PaymentFailureRefund] = {}
        self.balance_transactions: dict[str, r.BalanceTransaction] = {}
        self.report_runs: dict[str, r.ReportRun] = {}
        self.files: dict[str, r.File] = {}
        self.collections: dict[str, dict[str, Any]] = {
            "product": self.products,
            "price": self.prices,
            "customer": self.customers,
            "payment_link": self.payment_links,
            "checkout.session": self.sessions,
            "payment_intent": self.payment_intents,
            "charge": self.charges,
            "refund": self.refunds,
            "dispute": self.disputes,
            "invoice": self.invoices,
            "invoiceitem": self.invoice_items,
            "invoice_payment": self.invoice_payments,
            "subscription": self.subscriptions,
            "event": self.events,
            "webhook_endpoint": self.webhook_endpoints,
            "payment_failure_refund": self.failure_refunds,
            "balance_transaction": self.balance_transactions,
            "reporting.report_run": self.report_runs,
            "file": self.files,
        }
        self.accounts: set[str] = set()
        self._indexes: dict[tuple[Any, ...], OrderedIndex] = {}
        self._seq = 0
        self._listeners: list[Callable[[r.Event], None]] = []

    def now(self) -> int:
        return self.clock() if self.clock else int(time.time())

    def get(self, kind: str, obj_id: str) -> Any:
        return self.collections[kind].get(obj_id)

    def find(self, obj_id: str) -> r.Record | None:
        for coll in self.collections.values():
            rec = coll.get(obj_id)
            if rec is not None:
                return rec
        return None

    def new_id(self, prefix: str, live: bool = False) -> str:
        return self.ids.new(prefix, live)

    # -- writes -------------------------------------------------------------------------
    def insert(self, rec: r.Record, **secondary: str | None) -> Any:
        """Adds a record to its collection and list index; ``secondary`` adds filter indexes."""
        with self.lock:
            self._seq += 1
            rec.seq = self._seq
            self.collections[rec.KIND][rec.id] = rec
            if rec.account:
                self.accounts.add(rec.account)
            key = sort_key(rec)
            self._idx(rec.KIND, rec.live, rec.account, None, None).add(key, rec.id)
            for name, value in secondary.items():
                if value is not None:
                    self._idx(rec.KIND, rec.live, rec.account, name, value).add(key, rec.id)
        return rec

    def update(self, rec: r.Record, **changes: Any) -> Any:
        """Stores a changed copy; earlier event snapshots keep the old version."""
        with self.lock:
            current = self.collections[rec.KIND][rec.id]
            new = current.evolve(**changes)
            self.collections[rec.KIND][rec.id] = new
        return new

    def delete(self, rec: r.Record) -> None:
        """Removes a record (e.g. a deleted product) from its collection and every list index."""
        with self.lock:
            self.collections[rec.KIND].pop(rec.id, None)
            key = sort_key(rec)
            for (kind, live, account, _, _), idx in self._indexes.items():
                if kind != rec.KIND or live != rec.live or account != rec.account:
                    continue
                pos = bisect_left(idx.keys, key)
                if pos < len(idx.keys) and idx.keys[pos] == key and idx.ids[pos] == rec.id:
                    del idx.keys[pos]
                    del idx.ids[pos]

    def add_to_index(self, rec: r.Record, name: str, value: str | None) -> None:
        if value is None:
            return
        with self.lock:
            self._idx(rec.KIND, rec.live, rec.account, name, value).add(sort_key(rec), rec.id)

    def emit(
        self,
        type_: str,
        obj: r.Record,
        created: int | None = None,
        previous: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> r.Event:
        with self.lock:
            event = r.Event(
                id=self.new_id("evt"),
                created=created if created is not None else self.now(),
                live=obj.live,
                account=obj.account,
                type=type_,
                obj=self.collections[obj.KIND].get(obj.id, obj),
                previous=previous,
                api_version=self.event_api_version or self.api_version,
                request_id=request_id,
            )
            self.insert(event)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event

    def subscribe(self, listener: Callable[[r.Event], None]) -> None:
        with self.lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[r.Event], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- reads --------------------------------------------------------------------------
    def _idx(
        self, kind: str, live: bool, account: str | None, name: str | None, value: str | None
    ) -> OrderedIndex:
        key = (kind, live, account, name, value)
        idx = self._indexes.get(key)
        if idx is None:
            idx = self._indexes[key] = OrderedIndex()
        return idx

    def count(self, kind: str, live: bool, account: str | None = None) -> int:
        return len(self._idx(kind, live, account, None, None))

    def ordered(self, kind: str, live: bool | None = None) -> list[Any]:
        """All records of a kind, oldest first (for tests and the webhook backlog)."""
        with self.lock:
            recs = [
                x for x in self.collections[kind].values() if live is None or x.live == live
            ]
        recs.sort(key=sort_key)
        return recs

    def page(
        self,
        kind: str,
        scope: Scope,
        *,
        limit: int = 10,
        index: tuple[str, str] | None = None,
        created: tuple[int | None, int | None] = (None, None),
        starting_after: r.Record | None = None,
        ending_before: r.Record | None = None,
        where: Callable[[Any], bool] | None = None,
    ) -> tuple[list[Any], bool]:
        """One page of a reverse-chronological list.

        ``created`` is an inclusive (lowest, highest) ``created`` bound; ``index`` selects a
        secondary index (filter name, value) to walk instead of the whole list.
        """
        live, account = scope
        coll = self.collections[kind]
        with self.lock:
            name, value = index if index else (None, None)
            idx = self._indexes.get((kind, live, account, name, value))
            if idx is None:
                return [], False
            keys, ids = idx.keys, idx.ids
            low, high = created
            lo = 0 if low is None else bisect_left(keys, low << 32)
            hi = len(keys) if high is None else bisect_left(keys, (high + 1) << 32)
            found: list[Any] = []
            if ending_before is not None:
                pos = max(lo, bisect_right(keys, sort_key(ending_before)))
                while pos < hi and len(found) <= limit:
                    rec = coll[ids[pos]]
                    if where is None or where(rec):
                        found.append(rec)
                    pos += 1
                has_more = len(found) > limit
                found = found[:limit]
                found.reverse()
                return found, has_more
            if starting_after is not None:
                hi = min(hi, bisect_left(keys, sort_key(starting_after)))
            pos = hi - 1
            while pos >= lo and len(found) <= limit:
                rec = coll[ids[pos]]
                if where is None or where(rec):
                    found.append(rec)
                pos -= 1
            has_more = len(found) > limit
            return found[:limit], has_more

    def oldest_first(self, kind: str, scope: Scope,
                     created: tuple[int | None, int | None] = (None, None)) -> list[Any]:
        """The records of ``kind`` in ``scope`` created within the inclusive bounds, oldest
        first (a report's order)."""
        live, account = scope
        coll = self.collections[kind]
        with self.lock:
            idx = self._indexes.get((kind, live, account, None, None))
            if idx is None:
                return []
            low, high = created
            lo = 0 if low is None else bisect_left(idx.keys, low << 32)
            hi = len(idx.keys) if high is None else bisect_left(idx.keys, (high + 1) << 32)
            return [coll[obj_id] for obj_id in idx.ids[lo:hi]]

    # -- derived views ------------------------------------------------------------------
    def line_items(self, parent_id: str) -> list[LineItemView]:
        """Line items of a checkout session or payment link, in creation order."""
        parent = self.sessions.get(parent_id) or self.payment_links.get(parent_id)
        if parent is None:
            raise KeyError(parent_id)
        return [self.line_view(parent_id, i, line) for i, line in enumerate(parent.lines)]

    def line_view(self, parent_id: str, index: int, line: r.Line) -> LineItemView:
        price_id, quantity, description = line
        price = self.prices[price_id]
        amount = (price.unit_amount or 0) * quantity
        return LineItemView(
            id=child_id("li", parent_id, index),
            price=price_id,
            product=price.product,
            quantity=quantity,
            currency=price.currency,
            unit_amount=price.unit_amount or 0,
            amount_subtotal=amount,
            amount_total=amount,
            description=description,
        )

    def invoice_lines(self, invoice_id: str) -> list[InvoiceLineView]:
        inv = self.invoices[invoice_id]
        return [
            InvoiceLineView(child_id("il", invoice_id, i), line) for i, line in enumerate(inv.lines)
        ]

    def refunds_for(self, charge_id: str) -> list[r.Refund]:
        return [x for x in self.refunds.values() if x.charge == charge_id]

    def scopes(self) -> Iterable[Scope]:
        with self.lock:
            return sorted(
                {(k[1], k[2]) for k in self._indexes if k[3] is None},
                key=lambda s: (s[0], s[1] or ""),
            )
