"""Live answers: a product's customers straight from the Stripe API, for ``customers --live``.

The user has no index (or does not trust it): the product's purchases are read by the same
routes as ``backfill --product`` into a throwaway SQLite file, then read back with the same
query as the index's answer. So the live answer and the index's answer are one mapping, one set
of rules (a subscription's session and invoice counted once, refunds, guests by lower-cased
email, one entry per customer and currency) and cannot drift apart. Nothing outlives the call.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer import db
from indexer.answers import queries
from indexer.history import backfill
from indexer.stripe_api import StripeAPI


def live_customers(
    api: StripeAPI, product_id: str, *, account: str = "", include_refunded: bool = False,
    concurrency: int = 8, links_only: bool = False,
) -> Iterator[dict[str, Any]]:
    """The product's customer entries (``indexer.answers.queries`` customer entries: ``id``,
    ``customer``, ``email``, ``name``, ``purchases``, ``quantity``, ``amount_total``,
    ``currency``, ``first_purchased_at``, ``last_purchased_at``, ``amounts``...), read from Stripe.

    Raises ``StripeError`` (exit 4) when Stripe refuses, e.g. an unknown product.
    """
    with tempfile.TemporaryDirectory(prefix="indexer-live-") as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'live.db'}")
        try:
            db.migrate(engine)
            request = backfill.Request(product=product_id, links_only=links_only, account=account)
            backfill.run(engine, api, request, concurrency=concurrency)
            filters = queries.Filters(account=account, livemode=api.livemode, include_refunded=include_refunded)
            yield from queries.iter_product_customers(engine, product_id, filters)
        finally:
            engine.dispose()
