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

import contextlib
import csv
import gc
import io
import itertools
import operator
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from indexer.errors import BadInput
from indexer.reports.balance_csv import (
    ENRICH_COLUMNS,
    ReportHeader,
    ReportReader,
    atomic_output,
    csv_text,
)
from indexer.reports.money import allocate, format_minor, parse_amount
from indexer.reports.parts import Part, Resolved, RowRef, part_cells
from indexer.reports.prefetch import Prefetched, prefetch
from indexer.reports.resolve import Resolver
from indexer.stripe_api import StripeAPI

BATCH = 2000
MATCHES = ("index", "stripe", "no_payment", "unmatched")
AMOUNT_COLUMNS = ("gross", "fee", "net")
EMPTY = [""]


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
        width = len(header.columns)
        at = [pos.get(name, width) for name in (
            "balance_transaction_id", "reporting_category", "source_id", "charge_id",
            "payment_intent_id", "invoice_id", "description")]
        self._ids = operator.itemgetter(*at)
        self._complete = width not in at
        self._make = RowRef._make
        self.currency = pos["currency"]
        self.amounts = [(name, pos[name]) for name in AMOUNT_COLUMNS if name in pos]
        #: the first and last column of the amounts (what differs between a split row's parts)
        self.amount_span = (min(i for _, i in self.amounts), max(i for _, i in self.amounts))
        self.shares: dict[tuple[str, tuple[str, ...], tuple[int, ...]], list[tuple[int, list[str]]]] = {}

    def ref(self, row: list[str]) -> RowRef:
        if self._complete:
            return self._make(self._ids(row))
        return self._make(self._ids(row + EMPTY))

    def refs(self, rows: list[list[str]]) -> list[RowRef]:
        """``ref`` of each row (a batch at a time: one call instead of one per row)."""
        new, ids = tuple.__new__, self._ids
        if self._complete:
            return [new(RowRef, ids(row)) for row in rows]
        return [new(RowRef, ids(row + EMPTY)) for row in rows]


SHARES_KEPT = 20_000


def _shares_of(shape: RowShape, row: list[str], parts: tuple[Part, ...], label: str
               ) -> list[tuple[int, list[str]]]:
    amounts = tuple(row[i] for _, i in shape.amounts)
    key = (row[shape.currency], amounts, tuple(p.weight for p in parts))
    shares = shape.shares.get(key)
    if shares is None:
        shares = _shares(shape, row, key[0], list(key[2]), label)
        if len(shape.shares) >= SHARES_KEPT:
            shape.shares.clear()
        shape.shares[key] = shares
    return shares


def expand_row(shape: RowShape, row: list[str], resolved: Resolved, label: str) -> list[list[str]]:
    """The output rows of one input row (``label``: the file, for an error message)."""
    parts = resolved.parts
    if len(parts) < 2:
        return [row + resolved.cells]
    shares = _shares_of(shape, row, parts, label)
    out = []
    for k, part in enumerate(parts):
        cells = list(row)
        for i, texts in shares:
            cells[i] = texts[k]
        out.append(cells + part_cells(part, f"{k + 1}/{len(parts)}", resolved.match))
    return out


def split_text(shape: RowShape, row: list[str], resolved: Resolved, label: str, newline: str) -> str:
    """``expand_row`` of a split row as CSV text, as the csv module writes it: the cells
    before and after the amounts, the same in every part, are encoded once."""
    parts = resolved.parts
    shares = _shares_of(shape, row, parts, label)
    lo, hi = shape.amount_span
    head = csv_text(row[:lo]) + "," if lo else ""
    tail = "," + csv_text(row[hi + 1 :]) if hi + 1 < len(row) else ""
    middle = row[lo : hi + 1]
    count = len(parts)
    lines = []
    for k, part in enumerate(parts):
        cells = list(middle)
        for i, texts in shares:
            cells[i - lo] = texts[k]
        added = csv_text(part_cells(part, f"{k + 1}/{count}", resolved.match))
        lines.append(f"{head}{csv_text(cells)}{tail},{added}{newline}")
    return "".join(lines)


def _shares(shape: RowShape, row: list[str], currency: str, weights: list[int], label: str
            ) -> list[tuple[int, list[str]]]:
    """``(column, each part's amount text)`` of a split row's amounts. The same amounts split
    the same way (a price bought again and again) are worked out once (``RowShape.shares``)."""
    parsed = {}
    for name, i in shape.amounts:
        if not row[i].strip():
            continue
        try:
            parsed[name] = (i, parse_amount(row[i], currency))
        except ValueError:
            where = f"{label}, row of {shape.ref(row).txn or 'no id'}"
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
    return [(i, [format_minor(u, decimals, amount.separator) for u in split_units[name]])
            for name, (i, amount) in parsed.items()]


def enriched_batches(reader: ReportReader, resolver: Resolver, result: EnrichResult,
                     batch: int = BATCH) -> Iterator[list[list[str]]]:
    """The output rows of ``reader``'s report, header first, a batch of input rows at a time
    (a row of a payment that is not split is the input row and the payment's cells)."""
    shape = RowShape(reader.header)
    resolver.rows_name_invoices = reader.header.has("invoice_id")
    yield [[*reader.header.columns, *ENRICH_COLUMNS]]
    rows = reader.rows()
    matches = result.matches
    while chunk := list(itertools.islice(rows, batch)):
        out: list[list[str]] = []
        append = out.append
        for row, outcome in zip(chunk, resolver.resolve(shape.refs(chunk)), strict=True):
            matches[outcome.match] += 1
            if len(outcome.parts) < 2:
                append(row + outcome.cells)
            else:
                out += expand_row(shape, row, outcome, reader.label)
        result.rows_in += len(chunk)
        result.rows_out += len(out)
        result.requests = resolver.requests
        yield out


def enriched_rows(reader: ReportReader, resolver: Resolver, result: EnrichResult,
                  batch: int = BATCH) -> Iterator[list[str]]:
    """``enriched_batches``, row by row."""
    return itertools.chain.from_iterable(enriched_batches(reader, resolver, result, batch))


def enriched_text(reader: ReportReader, resolver: Resolver, result: EnrichResult,
                  batch: int = BATCH) -> Iterator[str]:
    """``enriched_batches`` as the file's text, a batch at a time (header first): a row that
    is not split is written as the input has it, byte for byte, followed by its payment's
    cells (encoded once per payment)."""
    shape = RowShape(reader.header)
    resolver.rows_name_invoices = reader.header.has("invoice_id")
    newline = reader.newline
    side = io.StringIO()
    writer = csv.writer(side, lineterminator=newline)

    def taken() -> str:
        text = side.getvalue()
        side.seek(0)
        side.truncate()
        return text

    writer.writerow([*reader.header.columns, *ENRICH_COLUMNS])
    yield taken()
    rows = reader.rows_with_text()
    matches = result.matches
    while chunk := list(itertools.islice(rows, batch)):
        resolved = resolver.resolve(shape.refs([row for row, _ in chunk]))
        text: list[str] = []
        for (row, raw), outcome in zip(chunk, resolved, strict=True):
            matches[outcome.match] += 1
            if len(outcome.parts) < 2:
                text.append(f"{raw}{outcome.text}{newline}")
                result.rows_out += 1
                continue
            text.append(split_text(shape, row, outcome, reader.label, newline))
            result.rows_out += len(outcome.parts)
        result.rows_in += len(chunk)
        result.requests = resolver.requests
        yield "".join(text)


def _write_enriched(reader: ReportReader, resolver: Resolver, result: EnrichResult,
                    out: IO[str], batch: int) -> None:
    for text in enriched_text(reader, resolver, result, batch):
        out.write(text)


#: The collector's first threshold while a file is enriched (Python's default: 700).
GC_THRESHOLD = 50_000
_gc_lock = threading.Lock()
_gc_runs = 0
_gc_saved = gc.get_threshold()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic collector's first threshold raised.

    A batch holds a few thousand rows and their answers at once, and the collector, which
    runs each time 700 more objects are alive, would pass over them dozens of times per batch
    and move them into older generations whose passes walk every object of the process; yet
    they form no cycles and reference counting frees them when the batch is written. Nested
    and concurrent runs share one raise; the last to finish restores the thresholds."""
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(GC_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_saved)


def open_resolver(engine: Engine, *, account: str = "",
                  api: Callable[[], StripeAPI] | None = None, offline: bool = False) -> Resolver:
    return Resolver(engine, account=account, api=api, offline=offline)


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
    with ReportReader(source, label=label) as reader, atomic_output(target) as out, _fewer_collections():
        _write_enriched(reader, resolver, result, out, batch)
    result.requests = resolver.requests
    return result
