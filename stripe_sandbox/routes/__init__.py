"""Stripe's ``/v1`` endpoints: validation of each call's params, list filters, then billing.

Handlers take a :class:`~stripe_sandbox.endpoints.Request` and the path arguments and return the
JSON-ready body; state changes go through :mod:`stripe_sandbox.billing`, bodies through
:mod:`stripe_sandbox.render`. One module per resource family; ``StripeRoutes`` joins them.
"""

from __future__ import annotations

from .billing import BillingRoutes
from .catalog import CatalogRoutes
from .checkout import CheckoutRoutes
from .events import EventRoutes
from .payments import PaymentRoutes

__all__ = ["StripeRoutes"]


class StripeRoutes(CatalogRoutes, CheckoutRoutes, PaymentRoutes, BillingRoutes, EventRoutes):
    """The ``/v1`` endpoints the indexer and its tests use, with Stripe's rules and errors."""
