"""The one seam over stripe-python's private internals: every use of an SDK name that starts
with ``_`` is in this module, and ``tests/test_stripe_sdk.py`` fails the day one of them moves.

Why there are any: a backfill reads list pages of a hundred Checkout Sessions with their line
items, 400 KB each, and is CPU-bound in one interpreter. The SDK's public ``raw_request``
decodes every body into ``OrderedDict``s (``StripeResponse``) and formats a debug line holding
the whole body, ``repr``'d, whether or not anyone logs it. ``bench/backfill.py --variants``
measures the backfill with this fast path beside the public one (``FAST = False``); the
figures are in the README. Only ``indexer.stripe_requests`` calls this module.

What is private here, and what it is for:

* ``stripe._api_requestor.log_debug`` (the name the requestor calls): replaced by a gate that
  calls the SDK's own function only when ``stripe`` logs at DEBUG or ``stripe.log`` /
  ``STRIPE_LOG`` asks for debug output;
* ``stripe._util.STRIPE_LOG``: the environment's debug switch, read by that gate;
* ``StripeClient._requestor`` and its ``request_raw`` (one HTTP request: body, status,
  headers) and ``_interpret_response`` (the SDK's errors for a non-2xx body), so that a 2xx body
  is decoded once, by ``json.loads``, into plain dicts;
* ``stripe._request_options.extract_options_from_dict`` (``stripe_account``,
  ``idempotency_key``... out of the parameters, as ``raw_request`` does);
* ``StripeClient._requestor._options.stripe_version``: the API version the client pins.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import stripe
from stripe import _api_requestor, _util
from stripe._request_options import extract_options_from_dict

__all__ = ["FAST", "api_version", "debug_log_gated", "gate_debug_log", "request_json", "ungate_debug_log"]

#: The fast path (the requestor's raw request, bodies decoded by ``json.loads``); ``False`` is
#: the SDK's public ``raw_request``, for the benchmark's comparison.
FAST = True

_sdk_logger = logging.getLogger("stripe")
#: The SDK's own ``log_debug``, as found at import.
_sdk_log_debug = _api_requestor.log_debug


def _debug_wanted() -> bool:
    return _sdk_logger.isEnabledFor(logging.DEBUG) or "debug" in (stripe.log, _util.STRIPE_LOG)


def _gated_log_debug(message: str, **params: Any) -> None:
    """The SDK's debug line, formatted only when someone will read it."""
    if _debug_wanted():
        _sdk_log_debug(message, **params)


def gate_debug_log() -> None:
    """Have the SDK's requestor format its debug lines (one is each response body, ``repr``'d
    whole) only when they will be read."""
    _api_requestor.log_debug = _gated_log_debug  # type: ignore[assignment]


def ungate_debug_log() -> None:
    """The SDK's own ``log_debug`` again (for the benchmark's comparison)."""
    _api_requestor.log_debug = _sdk_log_debug


def debug_log_gated() -> bool:
    return _api_requestor.log_debug is _gated_log_debug


def request_json(client: stripe.StripeClient, method: str, path: str, query: dict[str, Any]) -> dict[str, Any]:
    """One ``method`` request of ``path`` (a ``/v1`` path) with ``query`` (parameters, plus
    request options such as ``stripe_account`` and ``idempotency_key``); the decoded JSON body
    as plain dicts. A non-2xx answer raises the SDK's usual error (``stripe.RateLimitError``,
    ``stripe.AuthenticationError``...), with its ``http_status`` and ``headers``."""
    if not FAST:
        return client.raw_request(method, path, **query).data  # type: ignore[no-any-return]
    options, params = extract_options_from_dict(query)
    requestor = client._requestor
    body, status, headers = requestor.request_raw(
        method, path, params=params, options=options, base_address="api", api_mode="V1",
        usage=["raw_request"],
    )
    if 200 <= status < 300:
        with contextlib.suppress(ValueError):
            return json.loads(body)  # type: ignore[arg-type,no-any-return]
    response = requestor._interpret_response(body, status, headers, "V1")
    return response.data  # type: ignore[no-any-return]


def api_version(client: stripe.StripeClient) -> str:
    """The ``Stripe-Version`` every request of ``client`` is sent with."""
    return str(client._requestor._options.stripe_version)


gate_debug_log()
