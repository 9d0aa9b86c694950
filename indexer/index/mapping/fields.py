"""Small readers of Stripe fields that fail with a ``MappingError`` instead of a KeyError.

Shared by every mapping module, so that a malformed object reads the same way whichever
family it belongs to, and the buyer's key is made in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from indexer.index.mapping.rows import MappingError, PurchaseSource


def stripe_object(value: Any, expected: str) -> dict[str, Any]:
    """Check that ``value`` is a dict of Stripe type ``expected`` with an id.

    A missing ``object`` key is tolerated (hand-built dicts); a different one is an error, which
    catches passing an event instead of its ``data.object``.
    """
    if not isinstance(value, dict):
        hint = " (convert a StripeObject with to_dict())" if hasattr(value, "to_dict") else ""
        raise MappingError(f"expected a {expected} dict, got {type(value).__name__}{hint}")
    kind = value.get("object")
    if kind is not None and kind != expected:
        raise MappingError(f"expected object {expected!r}, got {kind!r} (id {value.get('id')!r})")
    if not isinstance(value.get("id"), str) or not value["id"]:
        raise MappingError(f"{expected} has no id")
    return value


def dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def int_field(obj: Any, key: str, default: int | None = None) -> int:
    """An integer field (amounts, timestamps); ``default`` when absent, else a MappingError."""
    if not isinstance(obj, dict):
        raise MappingError(f"expected an object with {key!r}, got {obj!r:.80}")
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise MappingError(
            f"{obj.get('object', 'object')} {obj.get('id')}: {key} is not an integer"
        )
    return value


def str_field(obj: Any, key: str) -> str | None:
    """A non-empty string field, or None: Stripe sends both null and ``""`` for "not set"."""
    value = dig(obj, key)
    return value if isinstance(value, str) and value else None


def livemode_of(obj: dict[str, Any]) -> bool:
    """``livemode``, required: a guess would mix test and live data."""
    value = obj.get("livemode")
    if not isinstance(value, bool):
        raise MappingError(f"{obj.get('object', 'object')} {obj.get('id')}: livemode is missing")
    return value


def account_of(account: str | None) -> str:
    """``""`` (or None, as ``event.account`` is for the platform) or an ``acct_`` id."""
    if not account:
        return ""
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise MappingError(f"account must be '' or 'acct_...', got {account!r}")
    return account


def expand_id(value: Any) -> str | None:
    """The id of an expandable field: an id string, an expanded object, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    raise MappingError(f"expected an id or an expanded object, got {value!r:.80}")


def guest_key(email: str) -> str:
    """Stable key of a guest buyer: emails compare case-insensitively, as the contract says."""
    return "guest_" + hashlib.sha256(email.lower().encode()).hexdigest()[:24]


def buyer_key(customer_id: str | None, email: str | None, source_id: str) -> str:
    """Who bought: the Customer, else the guest's email, else the source itself (no buyer known)."""
    if customer_id:
        return customer_id
    if email:
        return guest_key(email)
    return "anon_" + source_id


def unique_by_id(items: Iterable[Any], expected: str) -> list[dict[str, Any]]:
    """Drop repeated ids, keeping the first.

    A caller may join an event's embedded first page (rendered at the event's API version) with
    pages fetched later at the SDK's version, so one line can arrive twice in two shapes.
    """
    if isinstance(items, (dict, str)):
        raise MappingError(f"expected a list of {expected} objects, got {type(items).__name__}")
    seen: set[str] = set()
    out = []
    for item in items:
        item = stripe_object(item, expected)
        if item["id"] not in seen:
            seen.add(item["id"])
            out.append(item)
    return out


def purchase_items(
    source: PurchaseSource, items: Iterable[Any], expected: str, listed: object, what: str
) -> list[dict[str, Any]]:
    """The items of a purchase (a session's line items, an invoice's lines), unique by id. A
    purchase given none while its object lists some (``listed``) is refused: its rows would be lost."""
    unique = unique_by_id(items, expected)
    if not unique and listed:
        raise MappingError(f"{source.source_type} {source.source_id}: {what} exist but none were given")
    return unique
