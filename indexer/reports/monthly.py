"""``indexer report monthly``: one PDF per product with that month's transactions, and
``summary-YYYY-MM.csv`` (one row per product and currency: transactions, gross, fee, net).

Where the figures come from, best first: a report CSV given with ``--csv`` (raw, enriched on
the way, or already enriched), else the month's report kept by ``report fetch`` or the worker,
else the index alone (purchases, refunds and disputes: gross amounts only, and the PDF says so).
Rows are staged in a temporary SQLite file and read back product by product, so memory holds
one product's month at most; files are written in a temporary folder and moved into place
together at the end, so a failure leaves none of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from indexer import db
from indexer.answers import payments as answers
from indexer.errors import BadInput, UsageError
from indexer.reports import kept
from indexer.reports.balance_csv import ReportReader, parse_time, safe_cell, unsafe_cell
from indexer.reports.enrich import EnrichResult, enriched_rows, open_resolver, prepare
from indexer.reports.money import allocate, currency_exponent, parse_amount
from indexer.reports.pdf import Statement, StatementRow, Total, write_statement
from indexer.reports.period import Month, zone
from indexer.stripe_api import StripeAPI

SUMMARY_COLUMNS = ("product_id", "product_name", "currency", "transactions", "gross", "fee", "net")
UNASSIGNED = {
    "unmatched": "(payments that bought no indexed product)",
    "no_payment": "(no payment: Stripe fees, payouts, adjustments)",
    "": "(lines without a catalog product, e.g. amount-only invoice items)",
}
CATEGORY_LABELS = {"charge": "Payment", "refund": "Refund", "dispute": "Dispute",
                   "dispute_reversal": "Dispute won", "charge_failure": "Payment failed",
                   "partial_capture_reversal": "Uncaptured remainder", "refund_failure": "Refund failed"}


@dataclass
class MonthlyResult:
    month: str
    directory: Path
    pdfs: list[Path] = field(default_factory=list)
    summary: Path | None = None
    source: str = ""
    rows: int = 0
    outside_month: int = 0
    unassigned: Counter[str] = field(default_factory=Counter)
    enrich: EnrichResult | None = None

    def describe(self) -> str:
        extra = f"; {self.outside_month} rows outside {self.month} left out" if self.outside_month else ""
        return (f"{len(self.pdfs)} product PDFs and {self.summary.name if self.summary else ''} in "
                f"{self.directory} from {self.source} ({self.rows} rows{extra})")


class _Stage:
    """The month's rows in a temporary SQLite file, read back one product at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = sqlite3.connect(folder / "stage.sqlite")
        self._products: list[tuple[str, str]] | None = None
        self.db.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, product_id TEXT, product_name TEXT, "
            "currency TEXT, ts INTEGER, date TEXT, buyer TEXT, email TEXT, description TEXT, "
            "reference TEXT, quantity TEXT, gross TEXT, fee TEXT, net TEXT)")
        self.pending: list[tuple[object, ...]] = []

    def add(self, *row: object) -> None:
        self.pending.append(row)
        if len(self.pending) >= 5000:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO rows (product_id, product_name, currency, ts, date, "
                            "buyer, email, description, reference, quantity, gross, fee, net) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", self.pending)
        self.pending.clear()

    def products(self) -> list[tuple[str, str]]:
        if self._products is None:
            self.flush()
            self.db.execute("CREATE INDEX rows_product ON rows (product_id, ts, seq)")
            self._products = [(pid, name or "") for pid, name in self.db.execute(
                "SELECT product_id, max(product_name) FROM rows GROUP BY product_id ORDER BY 2, 1")]
        return self._products

    def rows_of(self, product_id: str) -> Iterator[StatementRow]:
        for row in self.db.execute(
                "SELECT date, buyer, email, description, reference, quantity, gross, fee, net, "
                "currency FROM rows WHERE product_id = ? ORDER BY ts, seq", (product_id,)):
            date, buyer, email, what, ref, qty, gross, fee, net, cur = row
            yield StatementRow(date, buyer, email, what, ref, qty, Decimal(gross),
                               None if fee is None else Decimal(fee),
                               None if net is None else Decimal(net), cur)

    def close(self) -> None:
        self.db.close()


def _decimal(text: str, currency: str) -> Decimal | None:
    if not text.strip():
        return None
    amount = parse_amount(text, currency)
    return Decimal(amount.units).scaleb(-amount.decimals)


def _from_report(rows: Iterable[list[str]], month: Month, stage: _Stage, result: MonthlyResult,
                 label: str) -> None:
    """Stage an enriched report's rows of the month (the first row is the header)."""
    it = iter(rows)
    header = next(it)
    pos = {name: i for i, name in reversed(list(enumerate(header)))}
    start, end = month.bounds()
    utc = "created_utc" in pos
    time_col = pos.get("created_utc", pos.get("created"))

    def cell(row: list[str], name: str) -> str:
        i = pos.get(name)
        return row[i] if i is not None else ""

    def typed(row: list[str], name: str) -> str:
        """A name or email as typed (an enriched file neutralises formulas: ``safe_cell``)."""
        return unsafe_cell(cell(row, name))

    for line, row in enumerate(it, start=2):
        result.rows += 1
        when = parse_time(row[time_col]) if time_col is not None else None
        if when is not None and not utc:
            naive = dt.datetime.fromtimestamp(when, dt.UTC).replace(tzinfo=None)
            when = int(naive.replace(tzinfo=zone(month.timezone)).timestamp())
        if when is not None and not start <= when < end:
            result.outside_month += 1
            continue
        currency = cell(row, "currency").lower()
        try:
            gross = _decimal(cell(row, "gross"), currency) or Decimal(0)
            fee = _decimal(cell(row, "fee"), currency)
            net = _decimal(cell(row, "net"), currency)
        except ValueError as exc:
            raise BadInput(f"{label}, row {line}: {exc}") from None
        product = cell(row, "product_id")
        if not product:
            key = UNASSIGNED.get(cell(row, "match"), UNASSIGNED[""])
            stage.add(f"\0{key}", key, currency, when or 0, "", "", "", "", "", "",
                      str(gross), None if fee is None else str(fee), None if net is None else str(net))
            continue
        category = cell(row, "reporting_category")
        what = CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())
        if cell(row, "description"):
            what += f" — {cell(row, 'description')}"
        if cell(row, "split"):
            what += f" (part {cell(row, 'split')} of the payment)"
        reference = (cell(row, "payment_intent_id") or cell(row, "charge_id")
                     or cell(row, "source_id") or cell(row, "balance_transaction_id"))
        date = month.local(when).strftime("%Y-%m-%d") if when is not None else ""
        stage.add(product, typed(row, "product_name"), currency, when or 0, date,
                  typed(row, "buyer_name") or cell(row, "customer_name"),
                  typed(row, "buyer_email") or cell(row, "customer_email"), what, reference,
                  cell(row, "quantity") if category == "charge" else "", str(gross),
                  None if fee is None else str(fee), None if net is None else str(net))


def _from_index(engine: Engine, account: str, livemode: bool, month: Month, stage: _Stage,
                result: MonthlyResult) -> None:
    start, end = month.bounds()

    def minor(units: int, currency: str) -> str:
        return str(Decimal(units).scaleb(-currency_exponent(currency)))

    def stage_lines(lines: Iterable[answers.PaymentLine]) -> None:
        for line in lines:
            result.rows += 1
            if not line.product_id:
                result.unassigned["sales without a product"] += 1
                continue
            stage.add(line.product_id, line.product_name or line.description or "",
                      line.currency, line.purchased_at,
                      month.local(line.purchased_at).strftime("%Y-%m-%d"), line.name or "",
                      line.email or "", f"Sale — {line.description or line.product_id}",
                      line.invoice or line.checkout_session or line.payment_intent or "",
                      str(line.quantity), minor(line.amount_total, line.currency), None, None)

    with db.transaction(engine) as conn:  # a streamed read: PostgreSQL's cursor needs a transaction
        stage_lines(answers.month_lines(conn, account, livemode, start, end))
    back = db.read(engine, lambda c: answers.month_money_back(c, account, livemode, start, end))
    intents = sorted({m.payment_intent for m in back if m.payment_intent})
    lines = db.read(engine, lambda c: answers.lines_by_payment_intent(c, account, intents))
    for money_back in back:
        group = lines.get(money_back.payment_intent or "")
        result.rows += 1
        if not group:
            result.unassigned[f"{money_back.kind}s of payments not in the index"] += 1
            continue
        shares = allocate(-money_back.amount, [x.amount_total for x in group])
        label = "Refund" if money_back.kind == "refund" else f"Dispute ({money_back.reason or 'open'})"
        for line, share in zip(group, shares, strict=True):
            if not line.product_id or not share:
                continue
            stage.add(line.product_id, line.product_name or "", money_back.currency,
                      money_back.created, month.local(money_back.created).strftime("%Y-%m-%d"),
                      line.name or "", line.email or "", f"{label} — {line.description or ''}",
                      money_back.id, "", minor(share, money_back.currency), None, None)


@dataclass
class StagedMonth:
    """A month's rows, staged and ready to be written: every product's PDF together
    (``monthly``), or one PDF or the summary alone (the dashboard, on demand)."""

    month: Month
    account: str
    livemode: bool
    stage: _Stage
    result: MonthlyResult
    fees: bool
    generated: str
    exponents: dict[str, int] = field(default_factory=dict)

    def products(self) -> list[tuple[str, str]]:
        """``(product_id, name)`` of every product with a PDF, by name."""
        return [(pid, name) for pid, name in self.stage.products() if not pid.startswith("\0")]

    def _totals_of(self, product_id: str) -> tuple[list[StatementRow], list[Total]]:
        rows = list(self.stage.rows_of(product_id))
        totals = _totals(rows, self.fees)
        for total in totals:
            self.exponents.setdefault(total.currency, currency_exponent(total.currency))
        return rows, totals

    def _summary_rows(self, product_id: str, name: str, totals: list[Total]) -> list[list[str]]:
        out = []
        for row in totals:
            exp = self.exponents[row.currency]
            out.append([
                "" if product_id.startswith("\0") else product_id, safe_cell(name), row.currency,
                str(row.transactions), f"{row.gross:.{exp}f}",
                "" if row.fee is None else f"{row.fee:.{exp}f}",
                "" if row.net is None else f"{row.net:.{exp}f}"])
        return out

    def _pdf(self, product_id: str, name: str, rows: list[StatementRow], totals: list[Total],
             out: IO[bytes]) -> None:
        note = (f"Source: {self.result.source}. Gross, Stripe fee and net per transaction, in "
                "the currency Stripe settled it in." if self.fees else
                "Source: the index alone (purchases, refunds and disputes). Amounts are gross, "
                "as the buyer paid; Stripe's fees and the net are in the balance report only "
                "(indexer report fetch, or --csv).")
        statement = Statement(
            product_id=product_id, product_name=name, month_title=self.month.title,
            account=self.account or "platform (your own account)",
            mode="live mode" if self.livemode else "test mode", source=note,
            generated=self.generated, rows=rows, totals=totals)
        write_statement(out, statement, self.exponents)

    def write_pdf(self, product_id: str, out: IO[bytes]) -> bool:
        """One product's PDF into ``out``; False (nothing written) when it has none."""
        for pid, name in self.products():
            if pid == product_id:
                rows, totals = self._totals_of(pid)
                self._pdf(pid, name, rows, totals, out)
                return True
        return False

    def write_summary(self, out: IO[str]) -> None:
        """``summary-YYYY-MM.csv`` into ``out``."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SUMMARY_COLUMNS)
        for product_id, name in self.stage.products():
            writer.writerows(self._summary_rows(product_id, name, self._totals_of(product_id)[1]))

    def write_all(self, folder: Path) -> None:
        """Every product's PDF and the summary into ``folder`` (noted in ``result``)."""
        summary_rows: list[list[str]] = []
        for product_id, name in self.stage.products():
            rows, totals = self._totals_of(product_id)
            summary_rows += self._summary_rows(product_id, name, totals)
            if product_id.startswith("\0"):
                continue
            path = folder / f"{product_id}-{self.month.label}.pdf"
            with path.open("wb") as out:
                self._pdf(product_id, name, rows, totals, out)
            self.result.pdfs.append(path)
        summary = folder / f"summary-{self.month.label}.csv"
        with summary.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(SUMMARY_COLUMNS)
            writer.writerows(summary_rows)
        self.result.summary = summary


@contextmanager
def staged_month(month: Month, *, engine: Engine, account: str = "", livemode: bool | None = None,
                 csv_path: Path | None = None, api: Callable[[], StripeAPI] | None = None,
                 offline: bool = False, folder: Path | None = None,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
                 ) -> Iterator[StagedMonth]:
    """The month's rows from the best source, staged in a temporary folder (inside ``folder``
    when given) that is removed on leaving. ``offline``: a report is enriched from the index
    alone, never asking Stripe."""
    if livemode is None:
        livemode = db.read(engine, lambda c: answers.index_livemode(c, account))
    work = Path(tempfile.mkdtemp(prefix=".indexer-monthly-", dir=folder))
    stage: _Stage | None = None
    try:
        stage = _Stage(work)
        result = MonthlyResult(month.label, folder or work)
        fees = _collect(month, stage, result, engine=engine, account=account, livemode=livemode,
                        csv_path=csv_path, api=api, work=work, offline=offline)
        yield StagedMonth(month, account, livemode, stage, result, fees,
                          now().strftime("%Y-%m-%d %H:%M UTC"))
    finally:
        if stage is not None:
            stage.close()
        shutil.rmtree(work, ignore_errors=True)


def monthly(month: Month, directory: Path, *, engine: Engine, account: str = "",
            livemode: bool | None = None, csv_path: Path | None = None,
            api: Callable[[], StripeAPI] | None = None,
            now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> MonthlyResult:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"-o {directory} is a file, not a directory", param="output")
    directory.mkdir(parents=True, exist_ok=True)
    with staged_month(month, engine=engine, account=account, livemode=livemode,
                      csv_path=csv_path, api=api, folder=directory, now=now) as staged:
        work = Path(staged.stage.folder)
        staged.write_all(work)
        result = staged.result
        result.directory = directory
        for produced in [*result.pdfs, result.summary]:
            assert produced is not None
            os.replace(produced, directory / produced.name)
        result.pdfs = [directory / p.name for p in result.pdfs]
        result.summary = directory / result.summary.name  # type: ignore[union-attr]
    return result


def _collect(month: Month, stage: _Stage, result: MonthlyResult, *, engine: Engine, account: str,
             livemode: bool, csv_path: Path | None, api: Callable[[], StripeAPI] | None,
             work: Path, offline: bool = False) -> bool:
    """Stage the month's rows from the best source; whether they carry Stripe's fees."""
    source: Path | None = csv_path
    label = str(csv_path) if csv_path else ""
    if source is None:
        run = kept.kept_for_month(engine, account, livemode, month.label)
        if run is not None:
            source = work / "kept.csv"
            with source.open("wb") as out:
                for piece in kept.file_pieces(engine, run.id):
                    out.write(piece)
            label = f"the kept report of {month.label} ({run.report_type}, run {run.id})"
    if source is None:
        result.source = "the index alone"
        _from_index(engine, account, livemode, month, stage, result)
        return False
    with ReportReader(source, label=label) as reader:
        already = reader.header.enriched
    if already:
        with ReportReader(source, label=label) as reader:
            _from_report(iter([list(reader.header.columns), *reader.rows()]), month, stage, result, label)
        result.source = label
        return True
    resolver = open_resolver(engine, account=account, api=api, offline=offline)
    result.enrich = EnrichResult()
    result.enrich.prefetched = prepare(source, resolver, label)
    with ReportReader(source, label=label) as reader:
        _from_report(enriched_rows(reader, resolver, result.enrich), month, stage, result, label)
    result.source = f"{label}, enriched{' from the index alone' if offline else ''}"
    return True


def _totals(rows: list[StatementRow], fees: bool) -> list[Total]:
    sums: dict[str, list[Decimal | int]] = {}
    for row in rows:
        entry = sums.setdefault(row.currency, [0, Decimal(0), Decimal(0), Decimal(0)])
        entry[0] += 1
        entry[1] += row.gross
        entry[2] += row.fee or 0
        entry[3] += row.net if row.net is not None else row.gross - (row.fee or 0)
    return [Total(cur, int(n), Decimal(g), Decimal(f) if fees else None, Decimal(net) if fees else None)
            for cur, (n, g, f, net) in sorted(sums.items())]
