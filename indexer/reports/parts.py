"""What enrichment adds to a balance report row: the products of its payment (``Part``, one per
product, weighted by its amount for a split), and the resolved columns (``Resolved``), made once
per payment as CSV text so that each of its rows only appends them.

Pure: no database or Stripe (``resolve`` finds the lines; this turns them into parts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from indexer.answers import payments as answers
from indexer.reports.balance_csv import FORMULA_STARTS, csv_text, safe_cell


class Part(NamedTuple):
    """One product of a payment: the enriched columns of its row, and its share's weight."""

    product_id: str
    product_name: str
    price_id: str
    quantity: int
    weight: int
    buyer_customer_id: str
    buyer_email: str
    buyer_name: str
    checkout_session_id: str


class RowRef(NamedTuple):
    """The ids a row carries (empty strings when absent)."""

    txn: str
    category: str
    source: str
    charge: str
    intent: str
    invoice: str
    description: str = ""


def part_cells(part: Part, split: str, match: str) -> list[str]:
    """The columns enrichment adds for ``part``: text a person or a buyer typed (product and
    buyer names, email) neutralised against spreadsheet formulas (``safe_cell``)."""
    return [part.product_id, safe_cell(part.product_name), part.price_id, str(part.quantity),
            part.buyer_customer_id, safe_cell(part.buyer_email), safe_cell(part.buyer_name),
            part.checkout_session_id, split, match]


class Resolved:
    """``match`` (``index``, ``stripe``, ``no_payment``, ``unmatched``) and the payment's
    parts (empty unless matched); ``text``: the columns enrichment adds to a row of this
    payment when it is not split, as CSV text after a comma (made once per payment, not per
    row); ``cells``: the same as a list, made when asked."""

    __slots__ = ("match", "parts", "text")

    def __init__(self, match: str, parts: tuple[Part, ...], text: str) -> None:
        self.match = match
        self.parts = parts
        self.text = text

    @property
    def cells(self) -> list[str]:
        if len(self.parts) == 1:
            return part_cells(self.parts[0], "", self.match)
        return [""] * 9 + [self.match]

    @classmethod
    def of(cls, match: str, parts: tuple[Part, ...] = ()) -> Resolved:
        if len(parts) == 1:
            part = parts[0]
            name, email, buyer = part.product_name, part.buyer_email, part.buyer_name
            if (name and name[0] in FORMULA_STARTS) or (email and email[0] in FORMULA_STARTS) or (
                    buyer and buyer[0] in FORMULA_STARTS):
                name, email, buyer = safe_cell(name), safe_cell(email), safe_cell(buyer)
            cells = [part.product_id, name, part.price_id, str(part.quantity),
                     part.buyer_customer_id, email, buyer, part.checkout_session_id, "", match]
        else:
            cells = [""] * 9 + [match]
        return cls(match, parts, "," + csv_text(cells))


NO_PAYMENT = Resolved.of("no_payment")
UNMATCHED = Resolved.of("unmatched")


class _Line(Protocol):
    """What ``parts_of`` reads of a purchase line: the index's rows and Stripe's mapped ones alike."""

    product_id: str | None
    price_id: str | None
    quantity: int
    amount_total: int
    customer_id: str | None
    email: str | None
    name: str | None
    checkout_session: str | None
    description: str | None


def indexed_one(line: answers.PartLine, names: dict[str, str]) -> Resolved:
    """``matched("index", parts_of([line], names))`` for a payment of one line (most
    payments), in one step: it runs once per payment of a report."""
    product, price, quantity, amount, customer, email, buyer, session, description = line
    part = Part(product or "", (names.get(product, "") or description or "") if product else "",
                price or "", quantity, amount, customer or "", email or "", buyer or "", session or "")
    return Resolved.of("index" if product else "unmatched", (part,))


def parts_of(lines: Sequence[_Line], names: dict[str, str]) -> tuple[Part, ...]:
    """A payment's lines as one part per product, in the order of first appearance; several
    lines of one product add up (their prices listed, space-separated). Lines without a product
    (an amount-only invoice item) make one part with no product."""
    if len(lines) == 1:
        line = lines[0]
        product = line.product_id
        return (Part(
            product or "", (names.get(product, "") or line.description or "") if product else "",
            line.price_id or "", line.quantity, line.amount_total, line.customer_id or "",
            line.email or "", line.name or "", line.checkout_session or ""),)
    groups: dict[str | None, list[_Line]] = {}
    for line in lines:
        group = groups.get(line.product_id)
        if group is None:
            groups[line.product_id] = [line]
        else:
            group.append(line)
    first = lines[0] if lines else None
    customer = (first.customer_id if first else None) or ""
    email = (first.email if first else None) or ""
    buyer = (first.name if first else None) or ""
    parts = []
    for product, group in groups.items():
        if len(group) == 1:  # the usual case: each product on one line
            line = group[0]
            parts.append(Part(
                product or "", (names.get(product, "") or line.description or "") if product else "",
                line.price_id or "", line.quantity, line.amount_total, customer, email, buyer,
                line.checkout_session or ""))
            continue
        prices = list(dict.fromkeys(x.price_id for x in group if x.price_id))
        name = names.get(product, "") if product else ""
        if product and not name:
            name = next((x.description for x in group if x.description), "") or ""
        parts.append(Part(
            product_id=product or "", product_name=name, price_id=" ".join(prices),
            quantity=sum(x.quantity for x in group), weight=sum(x.amount_total for x in group),
            buyer_customer_id=customer, buyer_email=email, buyer_name=buyer,
            checkout_session_id=next((x.checkout_session for x in group if x.checkout_session), ""),
        ))
    return tuple(parts)


def matched(match: str, parts: tuple[Part, ...]) -> Resolved:
    """A payment that bought no catalog product is ``unmatched`` (its buyer still shown)."""
    for part in parts:
        if part.product_id:
            return Resolved.of(match, parts)
    return Resolved.of("unmatched", parts)
