"""What Stripe does when something happens: the state changes and the events they emit.

The HTTP handlers and the seed generator both go through these functions, so API-created and
generated data follow the same rules. Every function takes the moment it happens at (``now``),
which lets the generator write history and the server act at wall-clock time.

One module per concern: ``context`` (``Ctx``, calendar), ``catalog``, ``checkout``,
``payments`` (with refunds and disputes), ``invoices``, ``subscriptions``. Callers use this
package's names (``from stripe_sandbox import billing as b``).
"""

from .catalog import (
    create_customer,
    create_payment_link,
    create_price,
    create_product,
    update_product,
)
from .checkout import complete_session, create_session, expire_session, settle_session
from .context import DELAYED_METHODS, SESSION_TTL, Ctx, add_interval
from .invoices import create_invoice, create_invoice_item, finalize_invoice, pay_invoice
from .payments import close_dispute, create_dispute, create_payment, create_refund
from .subscriptions import advance_subscription, cancel_subscription, create_subscription

__all__ = [
    "DELAYED_METHODS",
    "SESSION_TTL",
    "Ctx",
    "add_interval",
    "advance_subscription",
    "cancel_subscription",
    "close_dispute",
    "complete_session",
    "create_customer",
    "create_dispute",
    "create_invoice",
    "create_invoice_item",
    "create_payment",
    "create_payment_link",
    "create_price",
    "create_product",
    "create_refund",
    "create_session",
    "create_subscription",
    "expire_session",
    "finalize_invoice",
    "pay_invoice",
    "settle_session",
    "update_product",
]
