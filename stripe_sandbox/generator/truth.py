"""The truth about seed data: "who bought what" straight from the store's records.

Follows the README's "What counts as a purchase", independently of the indexer's code, so
that tests and benches can check the indexer against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Store


@dataclass(frozen=True, slots=True)
class Purchase:
    """One purchased product, read from the store's records (not from rendered JSON)."""

    source: str
    product: str
    customer: str
    charge: str | None
    fully_refunded: bool


def purchases(store: Store, *, live: bool = False, account: str | None = None) -> list[Purchase]:
    """Every (source, product) purchase of one mode and account, as the README defines one.

    A complete session paid or needing no payment counts, and so does a paid invoice; a
    session and the invoice it created are one payment but name the same products and
    customer, so sets built from both come out the same. Guests are their lower-cased email.
    """
    out: list[Purchase] = []
    with store.lock:
        sessions = list(store.sessions.values())
        invoices = list(store.invoices.values())
    for sess in sessions:
        if sess.live != live or sess.account != account or sess.status != "complete":
            continue
        if sess.payment_status not in ("paid", "no_payment_required"):
            continue
        who = sess.customer or (sess.email or "").lower()
        charge = None
        if sess.payment_intent:
            charge = store.payment_intents[sess.payment_intent].latest_charge
        elif sess.invoice:
            charge = store.invoices[sess.invoice].charge
        refunded = _fully_refunded(store, charge)
        for price_id, _, _ in sess.lines:
            out.append(Purchase(sess.id, store.prices[price_id].product, who, charge, refunded))
    for inv in invoices:
        if inv.live != live or inv.account != account or inv.status != "paid":
            continue
        refunded = _fully_refunded(store, inv.charge)
        for line in inv.lines:
            product = line.product or (store.prices[line.price].product if line.price else None)
            if product is not None and inv.customer is not None:
                out.append(Purchase(inv.id, product, inv.customer, inv.charge, refunded))
    return out


def _fully_refunded(store: Store, charge_id: str | None) -> bool:
    if charge_id is None:
        return False
    charge = store.charges[charge_id]
    return charge.amount > 0 and charge.amount_refunded >= charge.amount


def truth(store: Store, *, live: bool = False, account: str | None = None,
          include_refunded: bool = False) -> dict[str, set[str]]:
    """Product id -> customer keys (``cus_...`` or a guest's lower-cased email).

    By default a (product, customer) pair whose every purchase was fully refunded is left out,
    as in the ``product_customers`` view and the query API; ``include_refunded=True`` keeps it.
    """
    out: dict[str, set[str]] = {}
    for p in purchases(store, live=live, account=account):
        if include_refunded or not p.fully_refunded:
            out.setdefault(p.product, set()).add(p.customer)
    return out


def refunded_pairs(store: Store, *, live: bool = False, account: str | None = None
                   ) -> set[tuple[str, str]]:
    """(product, customer) pairs that bought, but every one of whose purchases was refunded."""
    every = truth(store, live=live, account=account, include_refunded=True)
    kept = truth(store, live=live, account=account)
    return {(prod, who) for prod, whos in every.items() for who in whos - kept.get(prod, set())}
