"""Pure mapping from Stripe objects (plain dicts, as JSON) to index rows.

Webhooks, event catch-up and backfill all call these functions, so one purchase always
gives the same rows whichever way it arrived. Nothing here does I/O or reads the clock.

One module per Stripe family, all built on the readers in ``fields``:

* ``sessions``: Checkout Sessions;
* ``invoices``: invoices and their lines, in both API shapes (before and after basil);
* ``refunds``: refunds, disputes, and the split of a refund over a payment's lines;
* ``products``: catalog products;
* ``rows``: the row dataclasses and ``MappingError``.

Callers import from this package (``from indexer.index import mapping``), not the modules.
"""

from __future__ import annotations

from indexer.index.mapping.fields import expand_id, guest_key
from indexer.index.mapping.invoices import (
    invoice_needs_payments_lookup,
    invoice_payment_intent,
    invoice_purchase,
    invoice_subscription,
    line_price,
    line_product,
    line_subscription,
)
from indexer.index.mapping.products import product_row
from indexer.index.mapping.refunds import allocate_refund, dispute_row, refund_row
from indexer.index.mapping.rows import (
    DisputeRow,
    MappingError,
    ProductRow,
    PurchaseRow,
    PurchaseSource,
    RefundRow,
)
from indexer.index.mapping.sessions import (
    PAID_SESSION_STATUSES,
    is_purchase_session,
    session_purchase,
)

__all__ = [
    "PAID_SESSION_STATUSES",
    "DisputeRow",
    "MappingError",
    "ProductRow",
    "PurchaseRow",
    "PurchaseSource",
    "RefundRow",
    "allocate_refund",
    "dispute_row",
    "expand_id",
    "guest_key",
    "invoice_needs_payments_lookup",
    "invoice_payment_intent",
    "invoice_purchase",
    "invoice_subscription",
    "is_purchase_session",
    "line_price",
    "line_product",
    "line_subscription",
    "product_row",
    "refund_row",
    "session_purchase",
]
