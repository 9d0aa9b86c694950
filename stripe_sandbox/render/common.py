"""What every resource renderer shares: the API version's flags and a few small fields."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import records as r

EMBEDDED_LIST_LIMIT = 10

ADDRESS_NULL = {"city": None, "country": None, "line1": None, "line2": None,
                "postal_code": None, "state": None}


class Version:
    """What changed between API versions, as flags on a parsed ``Stripe-Version``."""

    __slots__ = ("name", "pre_basil", "pre_clover", "pre_dahlia")

    def __init__(self, name: str) -> None:
        self.name = name
        date = name[:10]
        self.pre_basil = date < "2025-03-31"
        self.pre_clover = date < "2025-09-30"
        self.pre_dahlia = date < "2026-03-25"


@lru_cache(maxsize=64)
def version(name: str) -> Version:
    return Version(name)


def address(addr: r.Address | None) -> dict[str, Any] | None:
    if addr is None:
        return None
    line1, line2, city, state, postal_code, country = addr
    return {"city": city, "country": country, "line1": line1, "line2": line2,
            "postal_code": postal_code, "state": state}


def metadata(meta: dict[str, str] | None) -> dict[str, str]:
    return dict(meta) if meta else {}


def empty_list(url: str) -> dict[str, Any]:
    return {"object": "list", "data": [], "has_more": False, "url": url}


