"""The ``Generator`` and :func:`generate`: the seed history, written oldest first.

Actions wait in a time-ordered queue (a buyer completes a session minutes after opening it, a
refund comes days later, a subscription renews at its period end) and go through
:mod:`stripe_sandbox.billing` only, so every object emits the events Stripe would, when it
happened. What the history covers is listed in the package docstring.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import balance
from .. import billing as b
from .. import records as r
from ..store import Store
from .catalog import HUGE_LINES, CatalogBuilder, Shop

OLD_API_VERSION = "2025-02-24.acacia"
DAY = 86400
HISTORY_DAYS = 395
# Share of the history written before the account upgraded its API version.
UPGRADE_AT = 0.45
LARGE_LINES = (11, 40)

# Per-session kinds and their weights (of ``size``); forced cases are added on top.
KINDS = (("link", 34), ("api", 22), ("subscription", 9), ("invoice_creation", 5),
         ("delayed", 6), ("abandoned", 16), ("free", 2), ("setup", 1), ("known", 5))



class Generator(CatalogBuilder):
    """Writes the history of :func:`generate`; actions run in time order from a heap."""

    def __init__(self, store: Store, size: int, seed: int, now: int) -> None:
        self.store = store
        self.size = max(size, 1)
        self.rng = random.Random(f"sandbox-generator:{seed}")
        self.now = now
        self.start = now - HISTORY_DAYS * DAY
        self.upgrade_at = self.start + int(HISTORY_DAYS * DAY * UPGRADE_AT)
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.counts: dict[str, int] = {}
        self.highlights: dict[str, Any] = {}

    # -- scheduling ------------------------------------------------------------------------
    def at(self, t: int, fn: Callable[..., None], *args: Any) -> None:
        """Runs ``fn(ctx_time, *args)`` at ``t``; what would happen after ``now`` never does."""
        if t <= self.now:
            self._seq += 1
            heapq.heappush(self._queue, (t, self._seq, fn, args))

    def run(self) -> None:
        store = self.store
        store.event_api_version = OLD_API_VERSION
        try:
            while self._queue:
                t, _, fn, args = heapq.heappop(self._queue)
                if t >= self.upgrade_at and store.event_api_version is not None:
                    store.event_api_version = None
                fn(t, *args)
        finally:
            store.event_api_version = None

    def ctx(self, shop: Shop, t: int) -> b.Ctx:
        return b.Ctx(self.store, shop.scope, now=t)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def when(self, recent: float = 0.0) -> int:
        """A moment in the history, denser towards the present (a growing business)."""
        span = self.now - self.start - 2 * DAY
        u = self.rng.random() ** 0.7
        return self.start + 2 * DAY + int(span * (recent + (1 - recent) * u))

    # -- the plan ----------------------------------------------------------------------------
    def plan(self) -> None:
        rng = self.rng
        account = self.store.new_id("acct")
        self.highlights["connect_account"] = account
        shops = [
            (Shop((False, None), "test"), 0.84, 1.0),
            (Shop((True, None), "live"), 0.11, 0.4),
            (Shop((False, account), "connect"), 0.05, 0.2),
        ]
        for shop, _, scale in shops:
            self.at(self.start, self.build_catalog, shop, scale)
        main = shops[0][0]
        kinds = [k for k, _ in KINDS]
        weights = [w for _, w in KINDS]
        for shop, share, _ in shops:
            n = max(12, round(self.size * share))
            for kind in rng.choices(kinds, weights, k=n):
                self.at(self.when(), self.session, shop, kind)
            # Every shop has at least one of each kind that matters for the index.
            for kind in ("link", "api", "subscription", "delayed", "abandoned", "known"):
                self.at(self.when(0.2), self.session, shop, kind)
            self.at(self.now - rng.randint(3600, 20 * 3600), self.session, shop, "open")
            for _ in range(max(2, round(self.size * share / 12))):
                self.at(self.when(), self.elements_invoice, shop)
        for _ in range(max(3, self.size // 150)):
            self.at(self.when(), self.session, main, "large")
        for _ in range(max(2, self.size // 4000)):
            self.at(self.when(), self.session, main, "huge")
        for _ in range(max(2, self.size // 3000)):
            self.at(self.when(), self.session, main, "delayed_fail")
        # The guest who comes back with different casing, before and after the API upgrade.
        self.at(self.start + 20 * DAY, self.guest_twice, main, "Jenny.Rosen@Example.COM")
        self.at(self.upgrade_at + 20 * DAY, self.guest_twice, main, "jenny.rosen@example.com")
        self.highlights["guest_email"] = "jenny.rosen@example.com"
        for _ in range(max(2, self.size // 5000)):
            self.at(self.when(), self.pending_items_invoice, main)
        for _ in range(max(3, self.size // 500)):
            self.at(self.when(), self.bare_payment, main)
        for frac in (0.3, 0.75):
            self.at(self.start + int((self.now - self.start) * frac), self.rename_star, main)
        for shop, _, _ in shops:
            for month_start in _month_starts(self.start, self.now):
                self.at(month_start + 2 * 3600, self.stripe_fees, shop, month_start)

    # -- checkout ----------------------------------------------------------------------------
    def session(self, t: int, shop: Shop, kind: str) -> None:
        rng = self.rng
        ctx = self.ctx(shop, t)
        fields: dict[str, Any] = {"success_url": "https://shop.example.com/thanks",
                                  "cancel_url": "https://shop.example.com/cart"}
        mode = "payment"
        outcome = "paid"
        guest = True
        if kind in ("link", "delayed", "delayed_fail") and rng.random() < 0.7:
            link = rng.choice(shop.links)
            lines = list(link.lines)
            fields.update(payment_link=link.id, customer_creation=link.customer_creation,
                          invoice_creation=link.invoice_creation)
            if any(self.store.prices[p].interval for p, _, _ in lines):
                mode = "subscription"
                fields.pop("customer_creation")
                fields.pop("invoice_creation")
        elif kind == "subscription":
            mode = "subscription"
            price = rng.choice(shop.recurring)
            lines = [(price.id, 1, self._name(price))]
            if rng.random() < 0.3:
                fee = self._price(shop, price.currency)
                lines.append((fee.id, 1, self._name(fee)))
            if rng.random() < 0.5:
                fields["customer"] = self.customer(shop, t).id
        elif kind == "free":
            assert shop.free is not None
            lines = [(shop.free.id, 1, self._name(shop.free))]
        elif kind == "setup":
            mode = "setup"
            lines = []
            fields["currency"] = "usd"
            fields["customer"] = self.customer(shop, t).id
        elif kind in ("large", "huge"):
            n = HUGE_LINES if kind == "huge" else rng.randint(*LARGE_LINES)
            lines = [(p.id, rng.randint(1, 3), self._name(p)) for p in rng.sample(shop.parts, n)]
            self.count("sessions_over_100_lines" if n > 100 else "sessions_over_10_lines")
        else:
            currency = rng.choice(("usd", "usd", "eur", "gbp"))
            if kind == "delayed" or kind == "delayed_fail":
                currency = rng.choice(("usd", "eur"))
            pool = shop.one_time.get(currency) or shop.one_time["usd"]
            picked = rng.sample(pool, k=min(len(pool), rng.randint(1, 4)))
            star = next((p for p in shop.star_prices
                         if p.currency == picked[0].currency and not p.interval), None)
            if star is not None and star not in picked and rng.random() < 0.3:
                picked[0] = star
            lines = [(p.id, rng.choice((1, 1, 1, 2, 3)), self._name(p)) for p in picked]
            if rng.random() < 0.15:  # embedded Checkout: no redirect URLs, a return URL
                fields.update(ui_mode="embedded_page", success_url=None, cancel_url=None)
                self.count("sessions_embedded")
            if kind == "known":
                fields["customer"] = self.customer(shop, t).id
            elif kind == "invoice_creation":
                fields.update(invoice_creation=True, customer_creation="always")
            elif rng.random() < 0.25:
                fields["customer_creation"] = "always"
            if rng.random() < 0.3:
                name, email = self.guest(shop)
                fields["customer_email"] = email
        if kind in ("delayed", "delayed_fail"):
            fields["payment_method_types"] = ("card", "sepa_debit" if self._currency(lines) == "eur"
                                              else "us_bank_account")
            outcome = "delayed"
        if fields.get("customer") or fields.get("customer_creation") == "always" or mode != "payment":
            guest = False
        sess = b.create_session(ctx, mode, lines, **fields)
        self.count("sessions")
        self.count(f"sessions_{mode}")
        if fields.get("payment_link"):
            self.count("sessions_from_links")
        if kind in ("abandoned", "open"):
            self.at(sess.expires_at, self.expire, shop, sess.id)
            return
        name, email = self.guest(shop) if guest else self.person()
        if sess.customer_email and guest:
            email = sess.customer_email
        later = t + rng.randint(30, 1200)
        self.at(later, self.complete, shop, sess.id, email, name, outcome, kind)

    def _currency(self, lines: list[r.Line]) -> str:
        return self.store.prices[lines[0][0]].currency if lines else "usd"

    def guest_twice(self, t: int, shop: Shop, email: str) -> None:
        price = shop.star_prices[0]
        ctx = self.ctx(shop, t)
        sess = b.create_session(ctx, "payment", [(price.id, 1, self._name(price))],
                                success_url="https://shop.example.com/thanks")
        self.count("sessions")
        self.count("sessions_payment")
        self.at(t + 300, self.complete, shop, sess.id, email, "Jenny Rosen", "paid", "api")

    def complete(self, t: int, shop: Shop, sess_id: str, email: str, name: str, outcome: str,
                 kind: str) -> None:
        ctx = self.ctx(shop, t)
        sess = b.complete_session(ctx, self.store.sessions[sess_id], email=email, name=name,
                                  outcome=outcome)
        if sess.customer is None:
            self.count("guest_checkouts")
        if outcome == "delayed":
            succeeded = kind != "delayed_fail" and self.rng.random() < 0.75
            self.at(t + self.rng.randint(2 * DAY, 5 * DAY), self.settle, shop, sess_id, succeeded)
            return
        self.after_payment(t, shop, sess)

    def settle(self, t: int, shop: Shop, sess_id: str, succeeded: bool) -> None:
        sess = b.settle_session(self.ctx(shop, t), self.store.sessions[sess_id], succeeded)
        self.count("delayed_succeeded" if succeeded else "delayed_failed")
        if succeeded:
            self.after_payment(t, shop, sess)

    def expire(self, t: int, shop: Shop, sess_id: str) -> None:
        b.expire_session(self.ctx(shop, t), self.store.sessions[sess_id])
        self.count("sessions_expired")

    def after_payment(self, t: int, shop: Shop, sess: r.Session) -> None:
        """What may follow a paid session: renewals, a refund, a dispute."""
        store = self.store
        if sess.mode == "subscription" and sess.subscription:
            sub = store.subscriptions[sess.subscription]
            self.at(sub.current_period_end, self.renew, shop, sub.id)
            inv = store.invoices[sess.invoice] if sess.invoice else None
            self.maybe_refund(t, shop, inv.charge if inv else None)
        elif sess.payment_intent:
            self.maybe_refund(t, shop, store.payment_intents[sess.payment_intent].latest_charge)

    # -- money back --------------------------------------------------------------------------
    def maybe_refund(self, t: int, shop: Shop, charge_id: str | None) -> None:
        if charge_id is None:
            return
        roll = self.rng.random()
        later = t + self.rng.randint(DAY, 40 * DAY)
        if roll < 0.04:
            self.at(later, self.refund, shop, charge_id, "full")
        elif roll < 0.065:
            self.at(later, self.refund, shop, charge_id, "partial")
        elif roll < 0.075:
            self.at(later, self.refund, shop, charge_id, "partial_then_rest")
        elif roll < 0.087:
            self.at(later, self.dispute, shop, charge_id)

    def refund(self, t: int, shop: Shop, charge_id: str, how: str) -> None:
        charge = self.store.charges[charge_id]
        if charge.status != "succeeded" or charge.amount_refunded >= charge.amount:
            return
        ctx = self.ctx(shop, t)
        if how == "full":
            b.create_refund(ctx, charge, reason="requested_by_customer")
            self.count("refunds_full")
            return
        part = max(1, charge.amount // self.rng.choice((2, 3, 4)))
        b.create_refund(ctx, charge, amount=part, reason="requested_by_customer")
        self.count("refunds_partial")
        if how == "partial_then_rest":
            self.at(t + self.rng.randint(DAY, 10 * DAY), self.refund, shop, charge_id, "full")

    def dispute(self, t: int, shop: Shop, charge_id: str) -> None:
        charge = self.store.charges[charge_id]
        if charge.disputed or charge.amount_refunded:
            return
        reason = self.rng.choice(("fraudulent", "product_not_received", "duplicate"))
        dispute = b.create_dispute(self.ctx(shop, t), charge, reason=reason)
        self.count("disputes")
        roll = self.rng.random()
        if roll < 0.8:
            self.at(t + self.rng.randint(7 * DAY, 30 * DAY), self.close_dispute, shop,
                    dispute.id, roll < 0.45)

    def close_dispute(self, t: int, shop: Shop, dispute_id: str, won: bool) -> None:
        b.close_dispute(self.ctx(shop, t), self.store.disputes[dispute_id], won)
        self.count("disputes_won" if won else "disputes_lost")

    def stripe_fees(self, t: int, shop: Shop, month_start: int) -> None:
        """Stripe bills its monthly fees for the month before: a usage fee and its tax, two
        balance transactions with no source (amounts derived from the month, not the RNG)."""
        last = datetime.fromtimestamp(month_start - DAY, UTC)
        period = f"({last:%Y-%m}-01 - {last:%Y-%m-%d})"
        amount = 250 + (month_start // DAY) % 400
        ctx = self.ctx(shop, t)
        balance.record_stripe_fee(ctx, f"usage:{month_start}", amount, "usd",
                                  f"Billing - Usage Fee {period}")
        balance.record_stripe_fee(ctx, f"tax:{month_start}", amount // 10, "usd",
                                  f"Tax on Stripe fees {period}", tax=True)
        self.count("stripe_fee_months")

    # -- subscriptions and invoices ----------------------------------------------------------
    def renew(self, t: int, shop: Shop, sub_id: str) -> None:
        sub = self.store.subscriptions[sub_id]
        ctx = self.ctx(shop, t)
        if self.rng.random() < 0.22:
            b.cancel_subscription(ctx, sub)
            self.count("subscriptions_canceled")
            return
        inv = b.advance_subscription(ctx, sub)
        self.count("renewals")
        self.maybe_refund(t, shop, inv.charge)
        self.at(self.store.subscriptions[sub_id].current_period_end, self.renew, shop, sub_id)

    def elements_invoice(self, t: int, shop: Shop) -> None:
        """An invoice paid through Elements or the hosted invoice page: no Checkout Session."""
        rng = self.rng
        cus = self.customer(shop, t)
        if rng.random() < 0.1:
            # Like the stripe-cli trigger: a customer with no email, an amount-only line.
            cus = b.create_customer(self.ctx(shop, t), description="(created by seed data)")
        ctx = self.ctx(shop, t)
        pool = shop.one_time.get(rng.choice(("usd", "usd", "eur"))) or shop.one_time["usd"]
        currency = pool[0].currency
        inv = b.create_invoice(ctx, cus, currency=currency, auto_advance=False)
        for price in rng.sample(pool, k=min(len(pool), rng.randint(1, 2))):
            b.create_invoice_item(ctx, cus, price=price, quantity=rng.randint(1, 3), invoice=inv)
        if rng.random() < 0.3 or cus.email is None:
            b.create_invoice_item(ctx, cus, amount=2000, currency=currency,
                                  description="Setup fee", invoice=inv)
            self.count("invoices_with_amount_only_lines")
        self.count("elements_invoices")
        self.at(t + rng.randint(60, 3600), self.finish_invoice, shop, inv.id)

    def bare_payment(self, t: int, shop: Shop) -> None:
        """A PaymentIntent confirmed through Elements with no session or invoice: no product,
        so no purchase, though it has charges, refunds and disputes like any other."""
        cus = self.customer(shop, t) if self.rng.random() < 0.5 else None
        pi = b.create_payment(self.ctx(shop, t), self.rng.choice((1000, 2500, 5000)), "usd",
                              customer=cus, email=cus.email if cus else None,
                              description="Custom order")
        self.count("payments_without_products")
        self.maybe_refund(t, shop, pi.latest_charge)

    def pending_items_invoice(self, t: int, shop: Shop) -> None:
        """Invoice items created first, then swept into a new invoice (``include``)."""
        cus = self.customer(shop, t)
        ctx = self.ctx(shop, t)
        for _ in range(2):
            b.create_invoice_item(ctx, cus, price=self._price(shop, "usd"))
        inv = b.create_invoice(ctx, cus, include_pending=True)
        self.count("elements_invoices")
        self.at(t + 600, self.finish_invoice, shop, inv.id)

    def finish_invoice(self, t: int, shop: Shop, inv_id: str) -> None:
        ctx = self.ctx(shop, t)
        inv = b.finalize_invoice(ctx, self.store.invoices[inv_id])
        roll = self.rng.random()
        if roll < 0.12:
            self.count("invoices_left_open")
            return
        self.at(t + self.rng.randint(60, 3 * DAY), self.pay_invoice, shop, inv.id, roll < 0.18)

    def pay_invoice(self, t: int, shop: Shop, inv_id: str, out_of_band: bool) -> None:
        inv = b.pay_invoice(self.ctx(shop, t), self.store.invoices[inv_id],
                            paid_out_of_band=out_of_band)
        self.count("invoices_paid_out_of_band" if out_of_band else "elements_invoices_paid")
        self.maybe_refund(t, shop, inv.charge)


def _month_starts(start: int, end: int) -> list[int]:
    """The first second (UTC) of every month that begins in ``(start, end]``."""
    when = datetime.fromtimestamp(start, UTC).replace(day=1, hour=0, minute=0, second=0)
    found = []
    while True:
        year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
        when = when.replace(year=year, month=month)
        if when.timestamp() > end:
            return found
        found.append(int(when.timestamp()))


def generate(store: Store, size: int = 1000, seed: int = 0, *, now: int | None = None
             ) -> dict[str, Any]:
    """Fills ``store`` with ~13 months of history ending at ``now``; returns a summary.

    ``size`` is about the number of checkout sessions. Ids come from a factory reseeded from
    ``seed`` (and the store's record count), so the same call on an equal store gives the same
    ids. The cyclic garbage collector is paused while writing, and what is alive afterwards is
    moved out of its reach (``gc.freeze``, after a collection first so no garbage is frozen):
    the records are acyclic, and rescanning a million of them, while writing and again in the
    server afterwards, would otherwise take most of the time of a large run.
    """
    now = store.now() if now is None else now
    # The ids depend on the seed and on what the store already holds, so seeding the same
    # store twice with one seed cannot make an id twice.
    digest = hashlib.sha256(f"sandbox-generator-ids:{seed}:{store._seq}".encode()).digest()
    store.ids.reseed(int.from_bytes(digest[:8], "big"))
    gen = Generator(store, size, seed, now)
    # Millions of small, acyclic records: the cyclic collector would rescan them all over
    # again as they pile up (most of the time of a large run); nothing here makes cycles.
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        gen.plan()
        gen.run()
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    return summary(store, gen)


def summary(store: Store, gen: Generator) -> dict[str, Any]:
    by_version: dict[str, int] = {}
    for event in store.events.values():
        by_version[event.api_version] = by_version.get(event.api_version, 0) + 1
    statuses: dict[str, int] = {}
    for sess in store.sessions.values():
        key = f"{sess.status}/{sess.payment_status}"
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "now": gen.now,
        "since": gen.start,
        "api_version_upgraded_at": gen.upgrade_at,
        "objects": {kind: len(coll) for kind, coll in store.collections.items()},
        "sessions_by_status": dict(sorted(statuses.items())),
        "events_by_api_version": by_version,
        "counts": dict(sorted(gen.counts.items())),
        **gen.highlights,
    }
