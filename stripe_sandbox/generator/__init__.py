"""Deterministic seed data: about a year of realistic sales history, and the truth about it.

:func:`generate` writes ~13 months of history into a :class:`~stripe_sandbox.store.Store`
through :mod:`billing` only, so every object emits the events Stripe would, at the time it
happened. Actions are kept in a time-ordered queue (a buyer completes a session minutes after
opening it, a refund comes days later, a subscription renews at its period end), so records and
events are written oldest first. The same ``size`` and ``seed`` (and ``now``) give the same ids
and data.

It covers every trap of Stripe's objects that the index meets: one product sold through
several prices (one-time and recurring, several currencies, a zero-decimal one) and several
payment links; hosted sessions not from a link; guests known only by ``customer_details.email``
in mixed case (one guest buys twice with different casing); sessions with more than 10 and more
than 100 line items; subscription checkouts and their renewals; invoices paid with no Checkout
Session (Elements), including amount-only lines and out-of-band payments; delayed payments that
succeed and that fail; full, partial and two-step refunds; disputes; expired and still-open
sessions; free and setup-mode sessions; test-mode and live-mode data; a Connect account; events
at an old API version (the account upgraded from ``2025-02-24.acacia`` part way through); and
product renames.

:func:`truth` answers "who bought what" straight from the store's records, following
the README's "What counts as a purchase", independently of the indexer's code.

The modules: ``history`` (``Generator``, :func:`generate`), ``catalog`` (shops, products,
buyers), ``truth`` (:func:`truth`, :func:`purchases`, :func:`refunded_pairs`).
"""

from .history import HISTORY_DAYS, OLD_API_VERSION, Generator, generate, summary
from .truth import Purchase, purchases, refunded_pairs, truth

__all__ = [
    "HISTORY_DAYS",
    "OLD_API_VERSION",
    "Generator",
    "Purchase",
    "generate",
    "purchases",
    "refunded_pairs",
    "summary",
    "truth",
]
