"""Which payment, and which products, a balance report row belongs to: the index first, then
Stripe, each payment asked once.

A row names its payment by ``invoice_id`` or ``payment_intent_id``, else by ``charge_id`` or a
``source_id`` (a charge, or a refund, dispute or payment-failure refund of one), else only by its
``balance_transaction_id`` (the Dashboard's default download). Refund, dispute and failure rows
carry the *original* payment's ids, so they resolve to that payment like its charge row.

The index answers a whole batch of rows in a few statements (``indexer.answers.payments``).
What it lacks is asked of Stripe: the balance transactions of a file without id columns were
listed beforehand (``prefetch``) and kept in the index; a charge or refund the index never met
is read once; a payment the index does not hold is read once through
``GET /v1/checkout/sessions?payment_intent=`` (its line items), or its invoice with its lines
(``invoice_payments`` tells a subscription renewal's invoice); a payment with neither bought no
product (``unmatched``). Stripe's answers go through the same pure mapping as the worker's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sqlalchemy import Connection, Engine

from indexer import db
from indexer.answers import payments as answers
from indexer.errors import ConfigError
from indexer.index import mapping
from indexer.reports.parts import (
    NO_PAYMENT,
    UNMATCHED,
    Part,
    Resolved,
    RowRef,
    indexed_one,
    matched,
    parts_of,
)
from indexer.stripe_api import StripeAPI

#: Categories that never belong to a payment: a Dashboard row of these needs no lookup.
NO_PAYMENT_CATEGORIES = frozenset({
    "fee", "tax", "payout", "payout_reversal", "transfer", "transfer_reversal", "topup",
    "topup_reversal", "network_cost", "platform_earning", "platform_earning_refund",
    "connect_collection_transfer", "connect_reserved_funds", "advance", "advance_funding",
    "anticipation_repayment", "financing_paydown", "financing_paydown_reversal",
    "financing_payout", "financing_payout_reversal", "issuing_authorization_hold",
    "issuing_authorization_release", "issuing_dispute", "issuing_transaction",
    "climate_order_purchase", "climate_order_refund", "contribution", "risk_reserved_funds",
    "payment_network_reserve_hold", "payment_network_reserve_release",
})
CHARGE_PREFIXES = ("ch_", "py_")
SOURCE_PATHS = {"re_": "/v1/refunds/", "pyr_": "/v1/refunds/", "dp_": "/v1/disputes/",
                "du_": "/v1/disputes/"}

SESSION_FIRST, INVOICE_FIRST, SESSION_ONLY = "session_first", "invoice_first", "session_only"

Pointer = tuple[str, str]
"""``(kind, id)``: ``invoice``, ``intent``, ``charge``, ``source`` or ``txn``."""


class Resolver:
    """Resolves batches of rows; remembers what Stripe said for the whole run.

    ``offline``: the index alone; what it lacks is ``unmatched`` and Stripe is never asked
    (the dashboard's reports, made while a person waits on a page, with no Stripe key needed).
    """

    def __init__(self, engine: Engine, *, account: str = "",
                 api: Callable[[], StripeAPI] | None = None, threads: int = 8,
                 offline: bool = False) -> None:
        self.engine = engine
        self.account = account
        self.offline = offline
        self._api_factory = api
        self._api: StripeAPI | None = None
        self.threads = threads
        self.asked: dict[Pointer, tuple[Part, ...] | None] = {}
        self.pointers: dict[Pointer, Pointer | None] = {}
        self.names: dict[str, str] = {}
        #: product names the index holds ("" when none), read once per product for the run
        self.index_names: dict[str, str] = {}
        self.fresh_txns: set[str] = set()
        #: PaymentIntent -> the invoice it paid, listed beforehand (``prefetch``); taken once
        self.listed_invoices: dict[str, dict[str, Any]] = {}
        #: whether the file has an ``invoice_id`` column (set by the reader of the file)
        self.rows_name_invoices = False

    def stripe(self) -> StripeAPI:
        """The Stripe client, made when first needed; ``ConfigError`` without a key."""
        if self._api is None:
            if self._api_factory is None:
                raise ConfigError("rows of this report name payments the index does not hold; "
                                  "set STRIPE_API_KEY to resolve them through Stripe")
            self._api = self._api_factory()
        return self._api

    @property
    def requests(self) -> int:
        return 0 if self._api is None else self._api.request_count

    # --- one batch ---------------------------------------------------------------------------

    def resolve(self, refs: Sequence[RowRef]) -> list[Resolved]:
        pointers = [_pointer(ref) for ref in refs]
        asked = [False] * len(refs)
        txns = [p[1] for p in pointers if p and p[0] == "txn"]
        known = db.read(self.engine, lambda c: answers.balance_sources(c, self.account, txns)) if txns else {}
        missing = [t for t in dict.fromkeys(txns) if t not in known]
        if missing:
            known.update(self._fetch_balance_transactions(missing))
        for i, pointer in enumerate(pointers if txns else ()):
            if pointer and pointer[0] == "txn":
                source = known.get(pointer[1])
                asked[i] = pointer[1] in self.fresh_txns
                pointers[i] = _from_balance(source) if source else ("unknown", pointer[1])
        self._follow(pointers, asked, "source", self._sources)
        self._follow(pointers, asked, "charge", self._charges)
        return self._payments(refs, pointers, asked)

    def _follow(self, pointers: list[Pointer | None], asked: list[bool], kind: str,
                lookup: Callable[[list[str]], dict[str, tuple[Pointer | None, bool]]]) -> None:
        """Replace each ``kind`` pointer with what it leads to (one lookup for the batch)."""
        wanted = list(dict.fromkeys(p[1] for p in pointers if p and p[0] == kind))
        if not wanted:
            return
        found = lookup(wanted)
        for i, pointer in enumerate(pointers):
            if pointer and pointer[0] == kind:
                pointers[i], by_stripe = found.get(pointer[1], (None, False))
                asked[i] = asked[i] or by_stripe

    def _sources(self, ids: list[str]) -> dict[str, tuple[Pointer | None, bool]]:
        """Refunds and disputes (and payment-failure refunds): their charge's payment."""
        known = db.read(self.engine, lambda c: answers.charges_of_sources(c, self.account, ids))
        out: dict[str, tuple[Pointer | None, bool]] = {
            i: (_payment_pointer(pi, charge), False) for i, (charge, pi) in known.items()}
        for source_id, pointer in self._ask_each(
                [i for i in ids if i not in out], self._stripe_source).items():
            out[source_id] = (pointer, True)
        return out

    def _charges(self, ids: list[str]) -> dict[str, tuple[Pointer | None, bool]]:
        known = db.read(self.engine, lambda c: answers.intents_by_charge(c, self.account, ids))
        out: dict[str, tuple[Pointer | None, bool]] = {
            c: (("intent", pi), False) for c, pi in known.items()}
        for charge, pointer in self._ask_each(
                [c for c in ids if c not in out], self._stripe_charge).items():
            out[charge] = (pointer, True)
        return out

    def _payments(self, refs: Sequence[RowRef], pointers: list[Pointer | None],
                  asked: list[bool]) -> list[Resolved]:
        invoices = {ref.invoice for ref in refs if ref.invoice}
        intents = {p[1] for p in pointers if p and p[0] == "intent"}
        invoices |= {p[1] for p in pointers if p and p[0] == "invoice"}
        intents |= {ref.intent for ref in refs if ref.intent}
        def read(conn: Connection) -> tuple[dict[str, list[answers.PartLine]], ...]:
            by_invoice = answers.part_lines(conn, self.account, "invoice", list(invoices))
            by_intent = answers.part_lines(conn, self.account, "payment_intent", list(intents))
            products = {line.product_id for table in (by_invoice, by_intent)
                        for lines in table.values() for line in lines}
            unnamed = [pid for pid in products if pid and pid not in self.index_names]
            if unnamed:
                named = answers.product_names(conn, self.account, unnamed)
                self.index_names.update((pid, named.get(pid, "")) for pid in unnamed)
            return by_invoice, by_intent

        by_invoice, by_intent = db.read(self.engine, read)
        # each indexed payment resolved once, as ``index``; ``stripe`` only for a row whose
        # way to the payment went through Stripe (rare: made when met)
        indexed: dict[Pointer, Resolved] = {}
        names = self.index_names
        for kind, table in (("invoice", by_invoice), ("intent", by_intent)):
            for key, lines in table.items():
                indexed[(kind, key)] = (indexed_one(lines[0], names) if len(lines) == 1
                                        else matched("index", parts_of(lines, names)))
        get = indexed.get
        known = [(get(("invoice", ref.invoice)) if ref.invoice else None)
                 or (get(("intent", ref.intent)) if ref.intent else None)
                 or (get(p) if p else None) for ref, p in zip(refs, pointers, strict=True)]
        if None not in known and True not in asked:  # every row's payment indexed (the usual)
            return cast(list[Resolved], known)
        unindexed: dict[Pointer, str] = {}
        for ref, p, found in zip(refs, pointers, known, strict=True):
            if found is None and p and p[0] in ("invoice", "intent") and p not in self.asked:
                if self.rows_name_invoices:  # the row would name the invoice it paid
                    unindexed[p] = SESSION_ONLY
                elif unindexed.get(p) != INVOICE_FIRST:
                    unindexed[p] = INVOICE_FIRST if says_invoice(ref.description) else SESSION_FIRST
        self._ask_payments(unindexed)
        out: list[Resolved] = []
        append = out.append
        by_stripe_made: dict[int, Resolved] = {}

        def from_stripe(parts: tuple[Part, ...]) -> Resolved:
            found = by_stripe_made.get(id(parts))
            if found is None:
                found = by_stripe_made[id(parts)] = matched("stripe", parts)
            return found

        for ref, pointer, by_stripe, found in zip(refs, pointers, asked, known, strict=True):
            if found is not None:
                append(from_stripe(found.parts) if by_stripe else found)
            elif pointer is None:
                append(NO_PAYMENT if ref.category in NO_PAYMENT_CATEGORIES
                       or not _is_payment_row(ref) else UNMATCHED)
            elif pointer[0] == "unknown":
                append(NO_PAYMENT if ref.category in NO_PAYMENT_CATEGORIES else UNMATCHED)
            else:
                asked_parts = self.asked.get(pointer)
                append(from_stripe(asked_parts) if asked_parts else UNMATCHED)
        return out

    # --- Stripe ------------------------------------------------------------------------------

    def _ask_each(self, ids: list[str], ask: Callable[[str], Pointer | None]
                  ) -> dict[str, Pointer | None]:
        """``ask`` each id once per run (concurrently), remembering the answers."""
        todo = [i for i in ids if ("via", i) not in self.pointers]
        if todo and self.offline:
            return dict.fromkeys(ids)
        if todo:
            self.stripe()
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                for ident, pointer in zip(todo, pool.map(ask, todo), strict=True):
                    self.pointers[("via", ident)] = pointer
        return {i: self.pointers[("via", i)] for i in ids}

    def _stripe_source(self, source_id: str) -> Pointer | None:
        path = next((path for prefix, path in SOURCE_PATHS.items() if source_id.startswith(prefix)), None)
        if path is None:
            return None
        obj = self.stripe().retrieve(path + source_id, account=self.account)
        return _payment_pointer(mapping.expand_id(obj.get("payment_intent")),
                                mapping.expand_id(obj.get("charge")), stripe_charge=self._stripe_charge)

    def _stripe_charge(self, charge_id: str) -> Pointer | None:
        charge = self.stripe().retrieve(f"/v1/charges/{charge_id}", account=self.account)
        intent = mapping.expand_id(charge.get("payment_intent"))
        if intent:
            return ("intent", intent)
        invoice = mapping.expand_id(charge.get("invoice"))
        return ("invoice", invoice) if invoice else None

    def _ask_payments(self, wanted: dict[Pointer, str]) -> None:
        """Ask Stripe for each payment (``pointer -> where to look first``: ``INVOICE_FIRST``
        when its row looks like an invoice's, ``SESSION_ONLY`` when its row would have named
        an invoice)."""
        if not wanted:
            return
        if self.offline:
            self.asked.update(dict.fromkeys(wanted))
            return
        api = self.stripe()
        pointers = list(wanted)
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            found = list(pool.map(lambda p: self._stripe_payment(api, p, wanted[p]), pointers))
        unnamed = sorted({line.product_id for lines in found if lines for line in lines
                          if line.product_id and line.product_id not in self.names})
        if unnamed:
            self.names.update(db.read(self.engine,
                                      lambda c: answers.product_names(c, self.account, unnamed)))
            rest = [pid for pid in unnamed if pid not in self.names]
            if rest:
                self.names.update({k: v for k, v in api.product_names(rest, account=self.account).items() if v})
        for pointer, lines in zip(pointers, found, strict=True):
            self.asked[pointer] = parts_of(lines, self.names) if lines else None

    def _stripe_payment(self, api: StripeAPI, pointer: Pointer, order: str
                        ) -> list[mapping.PurchaseRow]:
        """The lines of a payment the index lacks, read as the worker reads them. A payment
        that never succeeded (a failed delayed payment) still shows what it was for. A
        PaymentIntent is looked up as a Checkout payment first, as an invoice's first when its
        row's description reads like an invoice's (``Subscription creation``...), and as a
        Checkout payment only when the file has an ``invoice_id`` column that its row leaves
        empty: Stripe fills it for a payment of an invoice, so asking ``invoice_payments``
        would be a request answered with nothing (a bare PaymentIntent's second request)."""
        kind, ident = pointer
        if kind == "invoice":
            invoice, lines = api.invoice_with_lines(ident, account=self.account)
            return _invoice_rows(invoice, lines, self.account)
        lookups: list[Callable[[], list[mapping.PurchaseRow] | None]] = [
            lambda: self._session_rows(api, ident), lambda: self._invoice_rows(api, ident)]
        if order == SESSION_ONLY:
            lookups = lookups[:1]
        for lookup in reversed(lookups) if order == INVOICE_FIRST else lookups:
            rows = lookup()
            if rows is not None:
                return rows
        return []

    def _session_rows(self, api: StripeAPI, intent: str) -> list[mapping.PurchaseRow] | None:
        session = api.session_for_payment_intent(intent, account=self.account)
        if session is None:
            return None
        items = session.get("line_items", {}).get("data", [])
        as_paid = {**session, "status": "complete", "payment_status": "paid"}
        return list(mapping.session_purchase(as_paid, items, account=self.account).rows)

    def _invoice_rows(self, api: StripeAPI, intent: str) -> list[mapping.PurchaseRow] | None:
        invoice = self.listed_invoices.pop(intent, None) or api.invoice_paid_by(intent, account=self.account)
        if invoice is None:
            return None
        return _invoice_rows(invoice, api.invoice_lines(invoice, account=self.account), self.account)

    def _fetch_balance_transactions(self, ids: list[str]) -> dict[str, answers.BalanceSource]:
        """Balance transactions no listing brought: one request each (a file with neither id
        nor time columns)."""
        from indexer.reports.prefetch import keep_balance_page

        if self.offline:
            return {}
        api = self.stripe()
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            objects = list(pool.map(
                lambda t: api.retrieve(f"/v1/balance_transactions/{t}", account=self.account,
                                       expand=["source"]), ids))
        rows = keep_balance_page(self.engine, self.account, api.livemode, objects)
        self.fresh_txns.update(ids)
        return {row["id"]: answers.BalanceSource(row["id"], row["reporting_category"],
                                                 row["source_id"], row["charge"],
                                                 row["payment_intent"]) for row in rows}


def _invoice_rows(invoice: dict[str, object], lines: list[dict[str, object]], account: str
                  ) -> list[mapping.PurchaseRow]:
    as_paid = {**invoice, "status": "paid"}
    return list(mapping.invoice_purchase(as_paid, lines, account=account).rows)


INVOICE_DESCRIPTIONS = ("subscription creation", "subscription update", "payment for invoice",
                        "invoice ")


def says_invoice(description: str) -> bool:
    """Whether a charge row's description is one Stripe gives invoice payments."""
    return description.strip().lower().startswith(INVOICE_DESCRIPTIONS)


def _pointer(ref: RowRef) -> Pointer | None:
    if ref.invoice:
        return ("invoice", ref.invoice)
    if ref.intent:
        return ("intent", ref.intent)
    if ref.charge:
        return ("charge", ref.charge)
    if ref.source:
        if ref.source.startswith(CHARGE_PREFIXES):
            return ("charge", ref.source)
        if ref.source.startswith(tuple(SOURCE_PATHS)):
            return ("source", ref.source)
        return None
    if ref.txn and ref.category not in NO_PAYMENT_CATEGORIES:
        return ("txn", ref.txn)
    return None


def _payment_pointer(intent: str | None, charge: str | None, *,
                     stripe_charge: Callable[[str], Pointer | None] | None = None) -> Pointer | None:
    if intent:
        return ("intent", intent)
    if charge:
        return stripe_charge(charge) if stripe_charge else ("charge", charge)
    return None


def _from_balance(source: answers.BalanceSource) -> Pointer | None:
    if source.payment_intent:
        return ("intent", source.payment_intent)
    if source.charge:
        return ("charge", source.charge)
    if source.source_id and source.source_id.startswith(tuple(SOURCE_PATHS)):
        return ("source", source.source_id)
    return None


def _is_payment_row(ref: RowRef) -> bool:
    return bool(ref.invoice or ref.intent or ref.charge or ref.source.startswith(
        (*CHARGE_PREFIXES, *SOURCE_PATHS)))
