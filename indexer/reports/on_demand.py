"""A month's reports made on demand from its kept report run: what the dashboard lists and serves.

Nothing is written anywhere to be served later: each file is made when asked, from the month's
newest kept report, enriched from the index alone (``offline``: a person waits on the page, so
Stripe is never asked, and the dashboard needs no Stripe key), and handed over a piece at a
time. The enriched CSV streams as it is made; a PDF is made whole (reportlab lays out a whole
document) into a spooled temporary file and streams from there.

Listing a month's PDFs needs the month enriched, so the list is remembered per run for
``LIST_SECONDS``: a kept file never changes, but the index does (a payment indexed later moves
its rows from ``unmatched`` to a product).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from indexer.errors import IndexerError
from indexer.reports import kept
from indexer.reports.balance_csv import ReportReader
from indexer.reports.enrich import EnrichResult, enriched_text, open_resolver, prepare
from indexer.reports.monthly import StagedMonth, staged_month
from indexer.reports.period import Month

LIST_SECONDS = 60.0
PIECE = 1 << 16


@dataclass(frozen=True, slots=True)
class MonthFile:
    """One file of a month: ``name`` is unique within the month and is what the URL says."""

    name: str
    title: str
    media_type: str
    product_id: str = ""

    @property
    def kind(self) -> str:
        return self.name.rsplit(".", 1)[-1].upper()


@dataclass(frozen=True, slots=True)
class KeptMonth:
    """A month with a kept report run, in one account and mode, and the files made from it."""

    month: str
    account: str
    livemode: bool
    run_id: str
    report_type: str
    files: list[MonthFile]
    problem: str = ""

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def title(self) -> str:
        """``July 2026``."""
        return Month.parse(self.month).title


@dataclass(frozen=True, slots=True)
class ServedFile:
    file: MonthFile
    pieces: Iterator[bytes]


_listed: dict[tuple[str, int | None], tuple[float, list[MonthFile]]] = {}
_listed_lock = threading.Lock()


def kept_months(engine: Engine) -> list[KeptMonth]:
    """Every month with a kept report run (per account and mode), newest first, with its
    files: the enriched report, the summary, and one PDF per product with activity."""
    months = []
    for run in kept.kept_runs(engine):
        try:
            files, problem = _files(engine, run), ""
        except IndexerError as err:  # a kept file that is not a report: said on its month only
            files, problem = [], err.public_message
        months.append(KeptMonth(run.month or "", run.account, run.livemode, run.id,
                                run.report_type, files, problem))
    return months


def month_file(engine: Engine, month: str, name: str, *, account: str = "",
               livemode: bool | None = None) -> ServedFile | None:
    """The file ``name`` of ``month``'s kept report (None when there is no such file)."""
    run = _run(engine, month, account, livemode)
    if run is None:
        return None
    try:
        wanted = next((f for f in _files(engine, run) if f.name == name), None)
    except IndexerError:
        return None
    if wanted is None:
        return None
    if wanted.name == _enriched_name(month):
        return ServedFile(wanted, _enriched_pieces(engine, run))
    with _staged(engine, run) as staged:
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - handed to the stream
        if wanted.product_id:
            if not staged.write_pdf(wanted.product_id, spool):
                spool.close()
                return None
        else:
            text = _TextTo(spool)
            staged.write_summary(text)
    spool.seek(0)
    return ServedFile(wanted, _spooled_pieces(spool))


def _run(engine: Engine, month: str, account: str, livemode: bool | None) -> kept.KeptRun | None:
    for run in kept.kept_runs(engine):
        if run.month == month and run.account == account and livemode in (None, run.livemode):
            return run
    return None


def _enriched_name(month: str) -> str:
    return f"enriched-{month}.csv"


def _enriched_file(month: str) -> MonthFile:
    return MonthFile(_enriched_name(month), "Balance report with products", "text/csv")


def _files(engine: Engine, run: kept.KeptRun) -> list[MonthFile]:
    key = (run.id, run.kept_at)
    now = time.monotonic()
    with _listed_lock:
        found = _listed.get(key)
        if found is not None and now - found[0] < LIST_SECONDS:
            return found[1]
    month = run.month or ""
    with _staged(engine, run) as staged:
        files = [_enriched_file(month),
                 MonthFile(f"summary-{month}.csv", "Summary per product", "text/csv")]
        files += [MonthFile(f"{pid}-{month}.pdf", name or pid, "application/pdf", pid)
                  for pid, name in staged.products()]
    with _listed_lock:
        for old in [k for k, (at, _) in _listed.items() if now - at >= LIST_SECONDS]:
            del _listed[old]
        _listed[key] = (now, files)
    return files


@contextmanager
def _staged(engine: Engine, run: kept.KeptRun) -> Iterator[StagedMonth]:
    """``staged_month`` over a run's kept file (copied to a temporary folder first)."""
    folder = Path(tempfile.mkdtemp(prefix="indexer-dashboard-report-"))
    try:
        source = _copy_kept(engine, run, folder)
        month = Month.parse(run.month or "", run.timezone or "Etc/UTC")
        with staged_month(month, engine=engine, account=run.account, livemode=run.livemode,
                          csv_path=source, offline=True, folder=folder) as staged:
            staged.result.source = (f"the kept report of {run.month} ({run.report_type}, run "
                                    f"{run.id}), enriched from the index")
            yield staged
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_kept(engine: Engine, run: kept.KeptRun, folder: Path) -> Path:
    local = folder / f"{run.id}.csv"
    with local.open("wb") as out:
        for piece in kept.file_pieces(engine, run.id):
            out.write(piece)
    return local


def _enriched_pieces(engine: Engine, run: kept.KeptRun) -> Iterator[bytes]:
    """The kept report enriched from the index, a batch of rows at a time."""
    folder = Path(tempfile.mkdtemp(prefix="indexer-dashboard-report-"))
    try:
        source = _copy_kept(engine, run, folder)
        label = f"the kept report of {run.month} ({run.id})"
        resolver = open_resolver(engine, account=run.account, offline=True)
        with ReportReader(source, label=label) as reader:
            already = reader.header.enriched
        if already:
            with source.open("rb") as done:
                while piece := done.read(PIECE):
                    yield piece
            return
        prepare(source, resolver, label)
        with ReportReader(source, label=label) as reader:
            for text in enriched_text(reader, resolver, EnrichResult()):
                yield text.encode("utf-8")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spooled_pieces(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while piece := spool.read(PIECE):
            yield piece
    finally:
        spool.close()


class _TextTo:
    """A text file over a binary one (UTF-8), enough for ``csv.writer``."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(text.encode("utf-8"))
        return len(text)
