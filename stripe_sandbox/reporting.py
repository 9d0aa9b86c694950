"""Stripe's reporting: report types, report runs that finish later, their CSV files, and the
balance transactions they are made of, rendered as Stripe renders them.

The itemized balance report (``balance_change_from_activity.itemized.N``) lists every balance
transaction of an interval except payouts, one row each, with the columns asked for (or the
type's ``default_columns``), amounts as major-unit decimal strings. Column sets follow Stripe's
documentation for versions 1 to 3; versions 4 to 7, whose column pages are not public, are
version 3 plus ``trace_id`` and ``trace_id_status`` (an assumption: a reader must go by the
header anyway). Versions 4 and later default to the nine columns of the Dashboard's download,
whose times are in the report's timezone; 1 to 3 default to the same nine in UTC.

A run is ``pending`` when created; :class:`ReportRunner` finishes it ``delay`` seconds later
(``succeeded`` with a ``file``, or ``failed`` for a share ``fail_rate`` of runs) and emits
``reporting.report_run.succeeded`` / ``.failed``. Like Stripe, these report types need a
live-mode key unless the runner allows test mode.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from . import records as r
from .balance import ZERO_DECIMAL
from .store import Scope, Store

DAY = 86400
ITEMIZED = "balance_change_from_activity.itemized"
SUMMARY = "balance.summary.1"
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}

_ADDRESS = ("line1", "line2", "city", "state", "postal_code", "country")
ITEMIZED_3 = (
    "balance_transaction_id", "created_utc", "created", "available_on_utc", "available_on",
    "currency", "gross", "fee", "net", "reporting_category", "source_id", "description",
    "customer_facing_amount", "customer_facing_currency", "regulatory_tag",
    "automatic_payout_id", "automatic_payout_effective_at_utc", "automatic_payout_effective_at",
    "customer_id", "customer_email", "customer_name", "customer_description",
    *(f"customer_shipping_address_{x}" for x in _ADDRESS),
    *(f"customer_address_{x}" for x in _ADDRESS),
    *(f"shipping_address_{x}" for x in _ADDRESS),
    *(f"card_address_{x}" for x in _ADDRESS),
    "charge_id", "payment_intent_id", "charge_created_utc", "charge_created", "invoice_id",
    "invoice_number", "subscription_id", "payment_method_type", "is_link", "card_brand",
    "card_funding", "card_country", "statement_descriptor", "dispute_reason",
    "connected_account_id", "connected_account_name", "connected_account_country",
    "connected_account_direct_charge_id",
)
_LOCAL_ONLY = {"created", "available_on", "charge_created", "automatic_payout_effective_at_utc"}
ITEMIZED_2 = tuple(c for c in ITEMIZED_3 if c not in _LOCAL_ONLY)
_NEW_IN_2 = {"regulatory_tag", "invoice_number", "dispute_reason",
             *(f"customer_shipping_address_{x}" for x in _ADDRESS),
             *(f"customer_address_{x}" for x in _ADDRESS),
             *(f"card_address_{x}" for x in _ADDRESS),
             *(c for c in ITEMIZED_3 if c.startswith("connected_account_"))}
ITEMIZED_1 = tuple(c for c in ITEMIZED_2 if c not in _NEW_IN_2)
ITEMIZED_4 = (*ITEMIZED_3, "trace_id", "trace_id_status")
DEFAULT_UTC = ("balance_transaction_id", "created_utc", "available_on_utc", "currency", "gross",
               "fee", "net", "reporting_category", "description")
DEFAULT_DASHBOARD = ("balance_transaction_id", "created", "available_on", "currency", "gross",
                     "fee", "net", "reporting_category", "description")
SUMMARY_COLUMNS = ("category", "currency", "description", "count", "gross", "fee", "net_amount")

#: report type id -> (name, version, columns, default columns)
REPORT_TYPES: dict[str, tuple[str, int, tuple[str, ...], tuple[str, ...]]] = {
    SUMMARY: ("Balance summary", 1, SUMMARY_COLUMNS, ("category", "currency", "description",
                                                       "net_amount")),
    **{f"{ITEMIZED}.{n}": ("Itemized balance change from activity", n, columns, default)
       for n, columns, default in (
           (1, ITEMIZED_1, DEFAULT_UTC), (2, ITEMIZED_2, DEFAULT_UTC), (3, ITEMIZED_3, DEFAULT_UTC),
           (4, ITEMIZED_4, DEFAULT_DASHBOARD), (5, ITEMIZED_4, DEFAULT_DASHBOARD),
           (6, ITEMIZED_4, DEFAULT_DASHBOARD), (7, ITEMIZED_4, DEFAULT_DASHBOARD))},
}
#: When the sandbox's report types were last changed (``updated``).
TYPES_UPDATED = 1780000000


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def major(amount: int, currency: str) -> str:
    """Minor units as the report writes them: ``49.00``, ``1500`` (JPY), ``-0.31``."""
    exp = exponent(currency)
    return f"{Decimal(amount).scaleb(-exp):.{exp}f}"


# -- report types -----------------------------------------------------------------------------


def data_available(store: Store, scope: Scope) -> tuple[int, int]:
    """``(data_available_start, data_available_end)``: from the day the account started (its
    first product or balance transaction in ``scope``) to the last whole day (UTC) before now."""
    end = store.now() // DAY * DAY
    firsts = [found[0].created for kind in ("product", "balance_transaction")
              if (found := store.oldest_first(kind, scope, (None, end))[:1])]
    start = min(firsts) // DAY * DAY if firsts else end - DAY
    return min(start, end - DAY), end


def report_type(store: Store, type_id: str, scope: Scope) -> dict[str, Any]:
    name, version, _, default = REPORT_TYPES[type_id]
    start, end = data_available(store, scope)
    return {
        "id": type_id, "object": "reporting.report_type", "data_available_end": end,
        "data_available_start": start, "default_columns": list(default), "livemode": scope[0],
        "name": name, "updated": TYPES_UPDATED, "version": version,
    }


# -- rendering --------------------------------------------------------------------------------


def balance_transaction(store: Store, bt: r.BalanceTransaction) -> dict[str, Any]:
    fee_details = []
    if bt.fee:
        fee_details.append({
            "amount": bt.fee, "application": None, "currency": bt.currency,
            "description": "Stripe processing fees" if bt.type != "adjustment" else "Dispute fee",
            "type": bt.fee_type,
        })
    return {
        "id": bt.id, "object": "balance_transaction", "amount": bt.amount,
        "available_on": bt.available_on, "balance_type": "payments", "created": bt.created,
        "currency": bt.currency, "description": bt.description, "exchange_rate": None,
        "fee": bt.fee, "fee_details": fee_details, "net": bt.net,
        "reporting_category": bt.reporting_category, "source": bt.source,
        "status": "available" if bt.available_on <= store.now() else "pending", "type": bt.type,
    }


def file(store: Store, f: r.File) -> dict[str, Any]:
    return {
        "id": f.id, "object": "file", "created": f.created, "expires_at": f.expires_at,
        "filename": f.filename, "purpose": f.purpose, "size": len(f.data), "title": f.title,
        "type": f.type, "url": f"{store.files_base}/v1/files/{f.id}/contents",
    }


def report_run(store: Store, run: r.ReportRun) -> dict[str, Any]:
    result = store.files.get(run.result) if run.result else None
    return {
        "id": run.id, "object": "reporting.report_run", "created": run.created,
        "error": run.error, "livemode": run.live, "parameters": dict(run.parameters),
        "report_type": run.report_type, "result": file(store, result) if result else None,
        "status": run.status, "succeeded_at": run.succeeded_at,
    }


# -- the report's rows ------------------------------------------------------------------------


def transactions(store: Store, scope: Scope, start: int, end: int,
                 currency: str | None = None, category: str | None = None
                 ) -> Iterator[r.BalanceTransaction]:
    """Balance transactions created in ``[start, end)``, oldest first, payouts left out."""
    for bt in store.oldest_first("balance_transaction", scope, (start, end - 1)):
        if bt.type == "payout":
            continue
        if currency and bt.currency != currency:
            continue
        if category and bt.reporting_category != category:
            continue
        yield bt


class _RowFacts:
    """What one balance transaction's row says, looked up once: source, charge, customer..."""

    def __init__(self, store: Store, bt: r.BalanceTransaction, zone: ZoneInfo) -> None:
        self.bt = bt
        self.zone = zone
        source = store.find(bt.source) if bt.source else None
        self.source = source
        charge = source if isinstance(source, r.Charge) else None
        if charge is None and source is not None and getattr(source, "charge", None):
            charge = store.charges.get(source.charge)  # type: ignore[union-attr]
        self.charge = charge
        self.customer = store.customers.get(charge.customer) if charge and charge.customer else None
        self.invoice = _invoice_of(store, charge)

    def time(self, ts: int | None, local: bool) -> str:
        if ts is None:
            return ""
        when = datetime.fromtimestamp(ts, UTC)
        if local:
            when = when.astimezone(self.zone)
        return when.strftime("%Y-%m-%d %H:%M:%S")

    def value(self, column: str) -> str:
        bt, charge, cus = self.bt, self.charge, self.customer
        if column.startswith("customer_address_") and cus is not None and cus.address:
            return cus.address[_ADDRESS.index(column.removeprefix("customer_address_"))] or ""
        simple: dict[str, Any] = {
            "balance_transaction_id": bt.id,
            "created_utc": self.time(bt.created, False), "created": self.time(bt.created, True),
            "available_on_utc": self.time(bt.available_on, False),
            "available_on": self.time(bt.available_on, True),
            "currency": bt.currency, "gross": major(bt.amount, bt.currency),
            "fee": major(bt.fee, bt.currency), "net": major(bt.net, bt.currency),
            "reporting_category": bt.reporting_category, "source_id": bt.source,
            "description": bt.description,
            "customer_facing_amount": major(bt.amount, bt.currency) if charge else None,
            "customer_facing_currency": bt.currency if charge else None,
            "customer_id": cus.id if cus else None, "customer_email": cus.email if cus else None,
            "customer_name": cus.name if cus else None,
            "customer_description": cus.description if cus else None,
            "charge_id": charge.id if charge else None,
            "payment_intent_id": charge.payment_intent if charge else None,
            "charge_created_utc": self.time(charge.created, False) if charge else None,
            "charge_created": self.time(charge.created, True) if charge else None,
            "invoice_id": self.invoice.id if self.invoice else None,
            "invoice_number": self.invoice.number if self.invoice else None,
            "subscription_id": self.invoice.subscription if self.invoice else None,
            "payment_method_type": charge.method_type if charge else None,
            "is_link": "false" if charge else None,
            "card_brand": "visa" if charge and charge.method_type == "card" else None,
            "card_funding": "credit" if charge and charge.method_type == "card" else None,
            "card_country": "US" if charge and charge.method_type == "card" else None,
            "dispute_reason": self.source.reason if isinstance(self.source, r.Dispute) else None,
        }
        value = simple.get(column)
        return "" if value is None else str(value)


def _invoice_of(store: Store, charge: r.Charge | None) -> r.Invoice | None:
    if charge is None:
        return None
    invoice_id = charge.invoice
    if invoice_id is None and charge.payment_intent:
        pi = store.payment_intents.get(charge.payment_intent)
        invoice_id = pi.invoice if pi else None
        if invoice_id is None:
            found, _ = store.page("invoice_payment", (charge.live, charge.account), limit=1,
                                  index=("payment_intent", charge.payment_intent))
            invoice_id = found[0].invoice if found else None
    return store.invoices.get(invoice_id) if invoice_id else None


def render_csv(store: Store, run: r.ReportRun) -> bytes:
    """The report file of a run: a header line, then one line per row (RFC 4180)."""
    params = run.parameters
    scope = (run.live, run.account)
    start, end = int(params["interval_start"]), int(params["interval_end"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = transactions(store, scope, start, end, params.get("currency"),
                        params.get("reporting_category"))
    if run.report_type == SUMMARY:
        columns = params.get("columns") or list(REPORT_TYPES[SUMMARY][3])
        writer.writerow(columns)
        for line in _summary(rows):
            writer.writerow([line[c] for c in columns])
        return out.getvalue().encode()
    columns = params.get("columns") or list(REPORT_TYPES[run.report_type][3])
    zone = ZoneInfo(params.get("timezone") or "Etc/UTC")
    writer.writerow(columns)
    for bt in rows:
        facts = _RowFacts(store, bt, zone)
        writer.writerow([facts.value(c) for c in columns])
    return out.getvalue().encode()


def _summary(rows: Iterator[r.BalanceTransaction]) -> list[dict[str, str]]:
    sums: dict[tuple[str, str], list[int]] = {}
    for bt in rows:
        entry = sums.setdefault((bt.reporting_category, bt.currency), [0, 0, 0])
        entry[0] += 1
        entry[1] += bt.amount
        entry[2] += bt.fee
    return [{"category": cat, "currency": cur, "description": cat.replace("_", " ").title(),
             "count": str(n), "gross": major(gross, cur), "fee": major(fee, cur),
             "net_amount": major(gross - fee, cur)}
            for (cat, cur), (n, gross, fee) in sorted(sums.items())]


# -- runs -------------------------------------------------------------------------------------


class ReportRunner:
    """Finishes pending report runs ``delay`` seconds after they were created, in a timer
    thread each (and on the next reporting request, whichever comes first).

    ``fail_rate`` of runs fail; ``allow_test_mode`` lets test-mode keys run the balance
    reports, which Stripe refuses.
    """

    def __init__(self, store: Store, *, delay: float = 1.0, fail_rate: float = 0.0,
                 allow_test_mode: bool = False, seed: int = 0) -> None:
        self.store = store
        self.delay = delay
        self.fail_rate = fail_rate
        self.allow_test_mode = allow_test_mode
        self._rng = random.Random(f"report-runs:{seed}")
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, run: r.ReportRun) -> None:
        with self._lock:
            self._due[run.id] = time.monotonic() + self.delay
        timer = threading.Timer(self.delay, self.finish_due)
        timer.daemon = True
        timer.start()

    def finish_due(self) -> None:
        """Finish every run whose time has come."""
        now = time.monotonic()
        with self._lock:
            due = [run_id for run_id, at in self._due.items() if at <= now]
            for run_id in due:
                del self._due[run_id]
        for run_id in due:
            self._finish(run_id)

    def _finish(self, run_id: str) -> None:
        from .billing import Ctx

        store = self.store
        with store.lock:
            run = store.report_runs[run_id]
            ctx = Ctx(store, (run.live, run.account))
            with self._lock:
                failed = self._rng.random() < self.fail_rate
            if failed:
                run = store.update(run, status="failed",
                                   error="The report could not be generated. Please try again.")
                ctx.emit("reporting.report_run.failed", run)
                return
            data = render_csv(store, run)
            name = f"frr_{run.id[4:]}.csv"
            f = r.File(id=store.new_id("file", run.live), created=ctx.now, live=run.live,
                       account=run.account, filename=name, title=f"{run.report_type} {name}",
                       data=data, expires_at=ctx.now + 365 * DAY)
            store.insert(f)
            run = store.update(run, status="succeeded", result=f.id, succeeded_at=ctx.now)
            ctx.emit("reporting.report_run.succeeded", run)
