"""Applying stored events to the index, a batch at a time.

Sessions are re-read from Stripe rather than trusted from the payload: ``completed`` may arrive
after ``async_payment_succeeded``, and the session's current state is the truth either way. Only
a state that never changes again and is no purchase (``expired``, ``async_payment_failed``) is
taken from the payload, at no request. Reads
are batched: the line items of many sessions come from one ``GET /v1/checkout/sessions`` page with
``expand[]=data.line_items`` over their ``created`` range, so a burst costs fewer Stripe requests
than events. Invoices are taken from the payload (``paid`` is final), completed from the API only
where the payload is a first page or lacks the payment (many of those at once: from pages of
their payments, not a lookup each). A batch of events is written and marked
done in one transaction (each event alone if the batch fails), so a crash never leaves an event
half applied. The families of a batch fetch at once (their requests share one pool) and write one
after another, so a batch waits for its slowest family's round trips, not for their sum.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from indexer import db
from indexer.errors import IndexerError, StripeError
from indexer.index import mapping, writes
from indexer.ingest import event_store
from indexer.stripe_api import StripeAPI, is_stripe_id, object_path, session_list_params

log = logging.getLogger(__name__)

CLUSTER_GAP_SECONDS = 600
MIN_CLUSTER_FOR_LIST = 3
LIST_CHUNK = 100
#: Sessions of a batch too far apart to cluster (a backlog, a replay, a catch-up of months) are
#: first listed over their whole range when there are this many: newest page first, as long as
#: each page holds at least ``SPARSE_PAGE_PAYS`` of them (a page then costs less than the
#: retrieves it spares); the first page that does not ends it, so a range crowded with other
#: sessions costs one page more than retrieving them one by one.
SPARSE_MIN_FOR_LIST = 20
SPARSE_PAGE_PAYS = 5
#: Session events whose payload is a final state: a session that expired, or whose delayed
#: payment failed, never becomes a purchase, so the payload says all there is.
FINAL_SESSION_EVENTS = frozenset({"checkout.session.expired", "checkout.session.async_payment_failed"})


@dataclass(frozen=True)
class ClaimedEvent:
    id: str
    type: str
    account: str
    livemode: bool
    created: int
    attempts: int
    obj: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> ClaimedEvent:
        payload = json.loads(row.payload)
        obj = payload["data"]["object"]
        if not isinstance(obj, dict):
            raise mapping.MappingError(f"data.object is a {type(obj).__name__}, not an object")
        return cls(row.id, row.type, row.account, bool(row.livemode), row.created, row.attempts, obj)


T = TypeVar("T")

Outcome = Exception | None
"""``None`` once the event is applied and marked done; else the error that stopped it."""


class Applier:
    #: The method that applies each family of ``event_store.FAMILIES``.
    HANDLERS = {
        "session": "_apply_sessions",
        "invoice": "_apply_invoices",
        "refund": "_apply_refunds",
        "dispute": "_apply_disputes",
        "product": "_apply_products",
        "report": "_apply_report_runs",
    }

    def __init__(self, engine: Engine, api: StripeAPI, *, threads: int = 8) -> None:
        self.engine = engine
        self.api = api
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stripe")
        #: one thread per family, each waiting on its own requests in ``pool``
        self.families = ThreadPoolExecutor(max_workers=len(self.HANDLERS), thread_name_prefix="family")
        #: the families write one at a time: SQLite takes one writer, and the rollups settle best so
        self.writing = threading.Lock()

    def close(self) -> None:
        self.families.shutdown(wait=True)
        self.pool.shutdown(wait=True)

    def apply(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        """Every event's outcome. Whatever one event raises is that event's outcome: a payload
        its family cannot read is refused before any request, and a family whose batch fails
        outside any one event is applied again event by event."""
        outcomes: dict[str, Outcome] = {}
        families: dict[str, list[ClaimedEvent]] = defaultdict(list)
        for event in events:
            family = event_store.family_of(event.type)
            try:
                check_readable(event, family)
            except mapping.MappingError as exc:
                outcomes[event.id] = exc
                continue
            if family in ("other", "product"):
                families[family].append(event)
            elif event.livemode != self.api.livemode:
                mode = "live" if event.livemode else "test"
                outcomes[event.id] = StripeError(
                    f"{mode}-mode event, but STRIPE_API_KEY reads the other mode; "
                    "configure a key of the event's mode"
                )
            else:
                families[family].append(event)
        skipped = [event.id for event in families.pop("other", [])]
        if skipped:
            with db.transaction(self.engine) as conn:
                event_store.finish_events(conn, skipped, "skipped")
            outcomes.update((event_id, None) for event_id in skipped)
        jobs = [self.families.submit(self._apply_family, family, group) for family, group in families.items()]
        for job in jobs:
            outcomes.update(job.result())
        return outcomes

    def _apply_family(self, family: str, group: list[ClaimedEvent]) -> dict[str, Outcome]:
        handler: Callable[[list[ClaimedEvent]], dict[str, Outcome]] = getattr(self, self.HANDLERS[family])
        try:
            return handler(group)
        except Exception:  # noqa: BLE001 - find the event that broke the batch
            log.warning("applying %d %s event(s) together failed; applying them one by one",
                        len(group), family, exc_info=True)
            return self._one_by_one(handler, group)

    @staticmethod
    def _one_by_one(
        handler: Callable[[list[ClaimedEvent]], dict[str, Outcome]], events: list[ClaimedEvent]
    ) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for event in events:
            try:
                outcomes.update(handler([event]))
            except Exception as exc:  # noqa: BLE001 - the worker decides: retry or park
                outcomes[event.id] = exc
        return outcomes

    # --- families -----------------------------------------------------------------------

    def _apply_sessions(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        by_account: dict[str, dict[str, int]] = defaultdict(dict)
        for event in events:
            if not is_final_non_purchase(event):
                by_account[event.account][event.obj["id"]] = _session_created(event)
        fetched: dict[tuple[str, str], dict[str, Any] | Exception] = {}
        for account, wanted in by_account.items():
            fetched.update(self._fetch_sessions(account, wanted))

        def source_of(event: ClaimedEvent) -> mapping.PurchaseSource:
            session = fetched.get((event.account, event.obj["id"]))
            if session is None and is_final_non_purchase(event):  # the payload says all there is
                return mapping.session_purchase(event.obj, [], account=event.account)
            if session is None:
                raise RuntimeError(f"session {event.obj['id']} was not fetched")
            if isinstance(session, Exception):
                raise session
            items = session.get("line_items", {}).get("data", [])
            return mapping.session_purchase(session, items, account=event.account)

        return self._write_all(events, source_of, writes.write_sources)

    def _fetch_sessions(
        self, account: str, wanted: dict[str, int]
    ) -> dict[tuple[str, str], dict[str, Any] | Exception]:
        """Fetch sessions with all their line items: listed by ``created`` range where dense.

        Dense clusters are cut into chunks of about a page each, listed in parallel; sessions
        whose embedded line items have more pages are completed in parallel afterwards; sparse
        sessions are listed over their range while a page pays (``SPARSE_MIN_FOR_LIST``), and
        those still missing retrieved one by one, also in parallel.
        """
        found: dict[tuple[str, str], dict[str, Any] | Exception] = {}
        singles: list[str] = []
        sparse: list[str] = []
        jobs = []
        for cluster in _clusters(wanted):
            if len(cluster) < MIN_CLUSTER_FOR_LIST:
                sparse.extend(cluster)
                continue
            for start in range(0, len(cluster), LIST_CHUNK):
                chunk = cluster[start : start + LIST_CHUNK]
                lo, hi = wanted[chunk[0]], wanted[chunk[-1]]
                jobs.append((set(chunk), self.pool.submit(self._list_range, account, lo, hi, set(chunk))))
        if len(sparse) >= SPARSE_MIN_FOR_LIST:
            lo, hi = min(wanted[sid] for sid in sparse), max(wanted[sid] for sid in sparse)
            jobs.append((set(sparse), self.pool.submit(self._list_range, account, lo, hi, set(sparse),
                                                       SPARSE_PAGE_PAYS)))
        else:
            singles.extend(sparse)
        listed: dict[str, dict[str, Any]] = {}
        for chunk_ids, job in jobs:
            try:
                sessions = job.result()
            except IndexerError as exc:
                if exc.transient:
                    found.update({(account, sid): exc for sid in chunk_ids})
                else:
                    singles.extend(chunk_ids)  # one session's odd range must not fail the others
                continue
            except Exception:  # noqa: BLE001 - each session alone, so the error finds its event
                log.warning("listing sessions failed; retrieving them one by one", exc_info=True)
                singles.extend(chunk_ids)
                continue
            listed.update(sessions)
            singles.extend(chunk_ids - sessions.keys())
        completions = {
            sid: self.pool.submit(self.api.complete_session, session, account=account)
            for sid, session in listed.items()
        }
        retrieves = {sid: self.pool.submit(self.api.retrieve_session, sid, account=account) for sid in singles}
        for sid, job in {**completions, **retrieves}.items():
            try:
                found[(account, sid)] = job.result()
            except Exception as exc:  # noqa: BLE001 - this session's event's outcome
                found[(account, sid)] = exc
        return found

    def _list_range(
        self, account: str, lo: int, hi: int, wanted: set[str], page_pays: int = 0
    ) -> dict[str, dict[str, Any]]:
        """The wanted sessions among those created in ``[lo, hi]``, line items as embedded;
        with ``page_pays``, the listing ends at the first page holding fewer of them (the
        caller retrieves the rest one by one)."""
        listed: dict[str, dict[str, Any]] = {}
        params = session_list_params(lo, hi)
        for page in self.api.pages("/v1/checkout/sessions", params, account=account):
            hits = [s for s in page.data if s["id"] in wanted]
            listed.update((s["id"], s) for s in hits)
            if len(listed) == len(wanted) or len(hits) < page_pays:
                break
        return listed

    def _apply_invoices(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        latest: dict[tuple[str, str], ClaimedEvent] = {}
        for event in events:
            key = (event.account, event.obj["id"])
            if key not in latest or latest[key].created <= event.created:
                latest[key] = event
        indexed = self._indexed_sources(latest.keys())
        todo = {key: event for key, event in latest.items()
                if not (key in indexed and event.obj.get("status") == "paid")}
        lookups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (account, _), event in todo.items():
            if mapping.invoice_needs_payments_lookup(event.obj):
                lookups[account].append(event.obj)
        intents: dict[tuple[str, str], str] = {}
        for account, invoices in lookups.items():
            if len(invoices) >= SPARSE_MIN_FOR_LIST:
                intents.update(((account, inv), pi) for inv, pi in self._listed_intents(account, invoices).items())
        jobs = {
            key: self.pool.submit(invoice_source, self.api, event.obj, account=event.account,
                                  payment_intent=intents.get(key))
            for key, event in todo.items()
        }

        def source_of(event: ClaimedEvent) -> mapping.PurchaseSource | None:
            job = jobs.get((event.account, event.obj["id"]))
            return None if job is None else job.result()

        return self._write_all(events, source_of, writes.write_sources)

    def _listed_intents(self, account: str, invoices: list[dict[str, Any]]) -> dict[str, str]:
        """The PaymentIntents of many paid invoices from pages of ``GET /v1/invoice_payments``
        (paid, created since the oldest invoice: a payment is made after its invoice) while a
        page holds ``SPARSE_PAGE_PAYS`` of them, instead of a request per invoice. Only a paid
        default payment answers for its invoice (it is the one ``invoice_payment_intent``
        takes first, whatever other pages hold); the rest are looked up one by one."""
        wanted = {invoice["id"] for invoice in invoices}
        since = min((c for c in (invoice.get("created") for invoice in invoices)
                     if isinstance(c, int) and not isinstance(c, bool)), default=0)
        found: dict[str, str] = {}
        try:
            for page in self.api.pages("/v1/invoice_payments", {"status": "paid", "created": {"gte": since}},
                                       account=account):
                hits = 0
                for payment in page.data:
                    invoice = mapping.expand_id(payment.get("invoice"))
                    payment_of = payment.get("payment") if isinstance(payment.get("payment"), dict) else {}
                    intent = mapping.expand_id(payment_of.get("payment_intent"))
                    if invoice in wanted and invoice not in found and intent and payment.get("is_default") \
                            and payment.get("status") == "paid":
                        found[invoice] = intent
                        hits += 1
                if len(found) == len(wanted) or hits < SPARSE_PAGE_PAYS:
                    break
        except Exception:  # noqa: BLE001 - each invoice is then looked up alone, as without the list
            log.warning("listing invoice payments failed; looking them up invoice by invoice", exc_info=True)
        return found

    def _indexed_sources(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Invoices already indexed: a paid invoice never changes, so a redelivery costs nothing."""
        with db.transaction(self.engine) as conn:
            return writes.indexed_sources(conn, keys)

    def _apply_refunds(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        def charge_of(event: ClaimedEvent) -> str | None:
            if event.obj.get("object") == "charge":
                return event.obj["id"]
            return mapping.expand_id(event.obj.get("charge"))

        jobs: dict[tuple[str, str], Any] = {}
        for event in events:
            charge = charge_of(event)
            key = (event.account, charge or event.obj["id"])
            if key not in jobs:
                if charge:
                    jobs[key] = self.pool.submit(self.api.refunds_for_charge, charge, account=event.account)
                else:
                    path = object_path("/v1/refunds/{}", event.obj["id"])
                    jobs[key] = self.pool.submit(lambda p=path, a=event.account: [self.api.retrieve(p, account=a)])

        def rows_of(event: ClaimedEvent) -> list[mapping.RefundRow]:
            found = jobs[(event.account, charge_of(event) or event.obj["id"])].result()
            return [mapping.refund_row(r, account=event.account, livemode=event.livemode) for r in found]

        return self._write_all(events, rows_of, lambda conn, rows: writes.write_refunds(conn, _flat(rows)))

    def _apply_disputes(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        jobs = {
            (e.account, e.obj["id"]): self.pool.submit(
                self.api.retrieve, object_path("/v1/disputes/{}", e.obj["id"]), account=e.account
            )
            for e in events
        }

        def row_of(event: ClaimedEvent) -> mapping.DisputeRow:
            return mapping.dispute_row(jobs[(event.account, event.obj["id"])].result(), account=event.account)

        return self._write_all(events, row_of, writes.write_disputes)

    def _apply_products(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        def row_of(event: ClaimedEvent) -> mapping.ProductRow:
            return mapping.product_row(event.obj, account=event.account, deleted=event.type == "product.deleted")

        return self._write_all(events, row_of, writes.write_products)

    def _apply_report_runs(self, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        """A finished report run the indexer started: its file downloaded and kept."""
        from indexer.reports.report_runs import keep_finished_run

        outcomes: dict[str, Outcome] = {}
        for event in events:
            try:
                keep_finished_run(self.engine, self.api, event.obj, account=event.account)
                with db.transaction(self.engine) as conn:
                    event_store.finish_events(conn, [event.id], "done")
                outcomes[event.id] = None
            except Exception as exc:  # noqa: BLE001 - the worker decides: retry or park
                outcomes[event.id] = exc
        return outcomes

    # --- writing ------------------------------------------------------------------------

    def _write_all(
        self,
        events: list[ClaimedEvent],
        prepare: Callable[[ClaimedEvent], T | None],
        write: Callable[[Connection, list[T]], None],
    ) -> dict[str, Outcome]:
        """Write what ``prepare`` makes of each event and mark the events done: all in one
        transaction when that succeeds, else one transaction per event, so one bad event never
        holds back the others. The events' ``done`` and their rows commit together, so the commit
        need not wait for the disk: a crash of the database server loses both, and the events
        are applied again."""
        outcomes: dict[str, Outcome] = {}
        ready: list[tuple[ClaimedEvent, T | None]] = []
        for event in events:
            try:
                ready.append((event, prepare(event)))
            except Exception as exc:  # noqa: BLE001 - the worker decides: retry or park
                outcomes[event.id] = exc
        try:
            with self.writing, db.transaction(self.engine) as conn:
                db.commit_without_waiting_for_disk(conn)
                write(conn, [item for _, item in ready if item is not None])
                event_store.finish_events(conn, [event.id for event, _ in ready], "done")
            outcomes.update((event.id, None) for event, _ in ready)
            return outcomes
        except Exception:  # noqa: BLE001 - written one by one below to find the culprit
            log.debug("batch write failed; writing events one by one", exc_info=True)
        for event, item in ready:
            try:
                with self.writing, db.transaction(self.engine) as conn:
                    db.commit_without_waiting_for_disk(conn)
                    write(conn, [] if item is None else [item])
                    event_store.finish_events(conn, [event.id], "done")
                outcomes[event.id] = None
            except Exception as exc:  # noqa: BLE001 - the worker decides: retry or park
                outcomes[event.id] = exc
        return outcomes


def invoice_source(
    api: StripeAPI, invoice: dict[str, Any], *, account: str = "", payment_intent: str | None = None
) -> mapping.PurchaseSource:
    """An invoice's rows with all its lines and its PaymentIntent; shared with the backfill.
    ``payment_intent``: the invoice's, when the caller found it already (no lookup then)."""
    if invoice.get("status") != "paid":
        return mapping.invoice_purchase(invoice, [], account=account)
    lines = api.invoice_lines(invoice, account=account)
    intent = mapping.invoice_payment_intent(invoice) or payment_intent
    if intent is None and mapping.invoice_needs_payments_lookup(invoice):
        intent = api.invoice_payment_intent(invoice["id"], account=account)
    return mapping.invoice_purchase(invoice, lines, account=account, payment_intent=intent)


def is_final_non_purchase(event: ClaimedEvent) -> bool:
    """A session event whose payload is the session's last word and no purchase: applied from
    the payload at no Stripe request (a payload that says otherwise is read from Stripe)."""
    return event.type in FINAL_SESSION_EVENTS and not mapping.is_purchase_session(event.obj)


def _flat(groups: list[list[mapping.RefundRow]]) -> list[mapping.RefundRow]:
    return [row for group in groups for row in group]


def check_readable(event: ClaimedEvent, family: str) -> None:
    """Refuse (``MappingError``) a payload without what its family's handler reads before
    anything is requested: the object's id, and a refund's charge, must be Stripe ids, which
    also keeps a payload from choosing the path of a Stripe request (``../../v1/customers``).
    Product ids may be chosen by the account owner: any short printable string."""
    obj = event.obj
    if family == "other":
        return
    if family == "product":
        value = obj.get("id")
        if not (isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()):
            raise mapping.MappingError(f"{event.type}: data.object.id is {value!r:.60}, not a product id")
        return
    _require_id(event, "id", obj.get("id"))
    if family == "refund" and obj.get("object") != "charge":
        charge = obj.get("charge")
        if charge not in (None, ""):
            _require_id(event, "charge", charge.get("id") if isinstance(charge, dict) else charge)


def _require_id(event: ClaimedEvent, field: str, value: Any) -> None:
    if not is_stripe_id(value):
        raise mapping.MappingError(f"{event.type}: data.object.{field} is {value!r:.60}, not a Stripe id")


def _session_created(event: ClaimedEvent) -> int:
    """Where to look for the session in a ``created`` range: its own ``created`` when that is
    a plausible time, else the event's (a session is created before its events)."""
    created = event.obj.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created <= event.created:
        return created
    return event.created



def _clusters(created: dict[str, int]) -> list[list[str]]:
    """Group session ids whose ``created`` times lie close together (gaps under 10 minutes)."""
    ordered = sorted(created, key=lambda sid: created[sid])
    clusters: list[list[str]] = []
    for sid in ordered:
        if clusters and created[sid] - created[clusters[-1][-1]] <= CLUSTER_GAP_SECONDS:
            clusters[-1].append(sid)
        else:
            clusters.append([sid])
    return clusters
