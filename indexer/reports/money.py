"""Amounts as the balance report writes them, and exact sharing in minor units.

The report writes ``gross``, ``fee`` and ``net`` as major-unit decimal strings of the settlement
currency (``49.00``, ``1500`` for JPY, ``-0.31``; with ``decimal_separator`` a comma). They are
read with ``Decimal`` into integers of the smallest unit the cell or the currency uses, shared
among parts with largest remainders, and written back with the same separator and at least as
many decimals as the input had, so that the parts add up to the original exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

__all__ = ["Amount", "allocate", "currency_exponent", "format_minor", "parse_amount"]

#: Stripe's zero- and three-decimal currencies; every other one has two decimals.
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
                          "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
_PLAIN = re.compile(r"^(-?\d+)(?:\.(\d+))?$")


def currency_exponent(currency: str) -> int:
    """Decimals of ``currency``'s minor unit (2 unless Stripe says otherwise)."""
    code = currency.strip().lower()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


class Amount(NamedTuple):
    """A cell's amount: ``units`` of ``10**-decimals``, written with ``separator`` (a tuple:
    one is made per amount of every split row, and a tuple is the cheapest to make)."""

    units: int
    decimals: int
    separator: str = "."

    def at(self, decimals: int) -> int:
        """The amount in units of ``10**-decimals`` (``decimals`` >= ``self.decimals``)."""
        return self.units * 10 ** (decimals - self.decimals)


def parse_amount(text: str, currency: str) -> Amount:
    """``"-1,234.50"`` is refused (no thousands separators in Stripe's files); ``"49,00"`` is a
    comma decimal separator. ``ValueError`` for anything that is not a plain decimal."""
    plain = _PLAIN.match(text)
    if plain is not None:
        whole, frac = plain.group(1), plain.group(2) or ""
        exponent = currency_exponent(currency)
        decimals = max(len(frac), exponent)
        units = int(whole + frac) * 10 ** (decimals - len(frac))
        return Amount(units, decimals, ".")
    raw = text.strip()
    separator = "."
    if "," in raw:
        if "." in raw or raw.count(",") > 1:
            raise ValueError(f"not an amount: {text!r}")
        separator = ","
        raw = raw.replace(",", ".")
    if not raw or raw.lstrip("+-").startswith(".") or raw.endswith("."):
        raise ValueError(f"not an amount: {text!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite() or "e" in raw.lower():
        raise ValueError(f"not an amount: {text!r}")
    written = len(raw.split(".", 1)[1]) if "." in raw else 0
    decimals = max(written, currency_exponent(currency))
    return Amount(int(value.scaleb(decimals)), decimals, separator)


def format_minor(units: int, decimals: int, separator: str = ".") -> str:
    """``units`` of ``10**-decimals`` as the report writes them: ``-16.33``, ``1500``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals) if decimals else (abs(units), 0)
    if not decimals:
        return f"{sign}{whole}"
    return f"{sign}{whole}{separator}{frac:0{decimals}d}"


def allocate(total: int, weights: list[int]) -> list[int]:
    """Share ``total`` (any sign) among ``weights`` in proportion, as integers summing exactly
    to ``total``. Largest remainders, ties to the earlier part; negative weights count as zero;
    when every weight is zero the first part takes everything."""
    if not weights:
        raise ValueError("nothing to share among")
    clean = [max(w, 0) for w in weights]
    whole = sum(clean)
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    magnitude, sign = abs(total), (-1 if total < 0 else 1)
    shares = [magnitude * w // whole for w in clean]
    remainders = [magnitude * w % whole for w in clean]
    # largest remainder first; a stable sort keeps ties in order, even reversed
    order = sorted(range(len(clean)), key=remainders.__getitem__, reverse=True)
    for i in order[: magnitude - sum(shares)]:
        shares[i] += 1
    return [sign * share for share in shares]
