"""``indexer report enrich``: the itemized balance report with product and buyer columns.

The output is the input, every column in its order and every cell as it was, followed by
``ENRICH_COLUMNS``. A payment that bought several products becomes one row per product
(``split`` = ``k/n``), its ``gross``, ``fee`` and ``net`` shared in proportion to the line
amounts, in the input's own number format, so that the parts add up exactly to the original;
refund, dispute and failure rows are shared the same way through their original payment.
Rows are streamed a batch at a time, so memory does not grow with the file; the output
appears whole or not at all.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from indexer.errors import BadInput
from indexer.reports.balance_csv import ENRICH_COLUMNS, ReportHeader, ReportReader, atomic_output
from indexer.reports.money import allocate, format_minor, parse_amount
from indexer.reports.prefetch import Prefetched, prefetch
from indexer.reports.resolve import Part, Resolved, Resolver, RowRef
from indexer.stripe_api import StripeAPI

BATCH = 2000
MATCHES = ("index", "stripe", "no_payment", "unmatched")
AMOUNT_COLUMNS = ("gross", "fee", "net")


@dataclass
class EnrichResult:
    """What a run did: rows read and written, rows by ``match``, Stripe requests made."""

    rows_in: int = 0
    rows_out: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    prefetched: Prefetched = field(default_factory=Prefetched)

    def summary(self) -> str:
        counts = ", ".join(f"{self.matches.get(m, 0)} {m}" for m in MATCHES)
        return (f"{self.rows_in} rows in, {self.rows_out} rows out: {counts}; "
                f"{self.requests} Stripe request{'s' if self.requests != 1 else ''}")


class RowShape:
    """Where a header keeps what enrichment reads, looked up once for the whole file."""

    def __init__(self, header: ReportHeader) -> None:
        self.header = header
        pos = header.position
        self.ids = [pos.get(name) for name in (
            "balance_transaction_id", "reporting_category", "source_id", "charge_id",
            "payment_intent_id", "invoice_id", "description")]
        self.currency = pos["currency"]
        self.amounts = [(name, pos[name]) for name in AMOUNT_COLUMNS if name in pos]

    def ref(self, row: list[str]) -> RowRef:
        cells = [row[i].strip() if i is not None else "" for i in self.ids]
        return RowRef(*cells)


def _part_cells(part: Part, split: str, match: str) -> list[str]:
    return [part.product_id, part.product_name, part.price_id, str(part.quantity),
            part.buyer_customer_id, part.buyer_email, part.buyer_name, part.checkout_session_id,
            split, match]


def expand_row(shape: RowShape, row: list[str], resolved: Resolved, where: str) -> list[list[str]]:
    """The output rows of one input row."""
    parts = resolved.parts
    if not parts:
        return [row + [""] * (len(ENRICH_COLUMNS) - 1) + [resolved.match]]
    if len(parts) == 1:
        return [row + _part_cells(parts[0], "", resolved.match)]
    currency = row[shape.currency]
    weights = [p.weight for p in parts]
    shares: dict[int, list[str]] = {}
    parsed = {}
    for name, i in shape.amounts:
        if not row[i].strip():
            continue
        try:
            parsed[name] = (i, parse_amount(row[i], currency))
        except ValueError:
            raise BadInput(f"{where}: {name} is not an amount: {row[i]!r}") from None
    decimals = max((a.decimals for _, a in parsed.values()), default=0)
    units = {name: amount.at(decimals) for name, (_, amount) in parsed.items()}
    split_units: dict[str, list[int]] = {}
    for name in ("gross", "fee"):
        if name in units:
            split_units[name] = allocate(units[name], weights)
    if "net" in units:
        if "gross" in units and "fee" in units and units["gross"] - units["fee"] == units["net"]:
            split_units["net"] = [g - f for g, f in zip(split_units["gross"], split_units["fee"], strict=True)]
        else:
            split_units["net"] = allocate(units["net"], weights)
    for name, (i, amount) in parsed.items():
        shares[i] = [format_minor(u, decimals, amount.separator) for u in split_units[name]]
    out = []
    for k, part in enumerate(parts):
        cells = list(row)
        for i, texts in shares.items():
            cells[i] = texts[k]
        out.append(cells + _part_cells(part, f"{k + 1}/{len(parts)}", resolved.match))
    return out


def enriched_rows(reader: ReportReader, resolver: Resolver, result: EnrichResult,
                  batch: int = BATCH) -> Iterator[list[str]]:
    """The output rows (header first) of ``reader``'s report, a batch of input rows at a time."""
    shape = RowShape(reader.header)
    yield [*reader.header.columns, *ENRICH_COLUMNS]
    numbered = ((reader.line, row) for row in reader.rows())
    while chunk := list(itertools.islice(numbered, batch)):
        resolved = resolver.resolve([shape.ref(row) for _, row in chunk])
        for (line, row), outcome in zip(chunk, resolved, strict=True):
            result.rows_in += 1
            result.matches[outcome.match] += 1
            for out in expand_row(shape, row, outcome, f"{reader.label}, line {line}"):
                result.rows_out += 1
                yield out
        result.requests = resolver.requests


def open_resolver(engine: Engine, *, account: str = "",
                  api: Callable[[], StripeAPI] | None = None) -> Resolver:
    return Resolver(engine, account=account, api=api)


def prepare(source: Path, resolver: Resolver, label: str | None = None) -> Prefetched:
    """Read the file once for what a file without id columns needs from Stripe beforehand;
    refuses a file that is already enriched."""
    with ReportReader(source, label=label) as reader:
        if reader.header.enriched:
            raise BadInput(f"{reader.label} is already enriched (it ends with the columns "
                           "enrichment adds)")
        return prefetch(resolver, reader)


def enrich(source: Path, target: Path | None, *, engine: Engine, account: str = "",
           api: Callable[[], StripeAPI] | None = None, label: str | None = None,
           batch: int = BATCH) -> EnrichResult:
    """Enrich ``source`` into ``target`` (None: standard output); see the module docstring."""
    resolver = open_resolver(engine, account=account, api=api)
    result = EnrichResult()
    result.prefetched = prepare(source, resolver, label)
    with ReportReader(source, label=label) as reader, atomic_output(target) as out:
        writer = csv.writer(out, lineterminator=reader.newline)
        writer.writerows(enriched_rows(reader, resolver, result, batch))
    result.requests = resolver.requests
    return result
