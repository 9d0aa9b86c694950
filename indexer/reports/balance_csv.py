"""Reading any version of Stripe's itemized balance report by its header, and writing files
that are never seen half-written.

Columns are found by name, never by position: versions 1 to 7, the Dashboard's nine default
columns and any explicit ``columns`` choice all read the same way. What enrichment needs of a
row is its ``reporting_category``, ``currency`` and ``gross`` (``fee`` and ``net`` when
present) and whatever ids it carries (``balance_transaction_id``, ``source_id``,
``charge_id``, ``payment_intent_id``, ``invoice_id``). Times are ``created_utc`` (UTC) or
else ``created`` (the report's timezone). Cells go through the ``csv`` module, so descriptions
with commas, quotes and line breaks survive unchanged; a byte-order mark is tolerated.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from indexer.answers.export import FORMULA_STARTS, neutralised
from indexer.errors import BadInput

#: The columns ``indexer report enrich`` adds, in this order, after the input's own.
ENRICH_COLUMNS = ("product_id", "product_name", "price_id", "quantity", "buyer_customer_id",
                  "buyer_email", "buyer_name", "checkout_session_id", "split", "match")
REQUIRED = ("reporting_category", "currency", "gross")
PAYMENT_ID_COLUMNS = ("charge_id", "payment_intent_id", "invoice_id", "source_id")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")

csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """The header of a report: its columns and where each one is."""

    columns: tuple[str, ...]
    position: dict[str, int]

    @classmethod
    def parse(cls, columns: list[str], source: str) -> ReportHeader:
        names = tuple(c.strip() for c in columns)
        position: dict[str, int] = {}
        for i, name in enumerate(names):
            position.setdefault(name, i)
        missing = [c for c in REQUIRED if c not in position]
        if missing:
            shown = ",".join(names[:6]) + (",..." if len(names) > 6 else "")
            raise BadInput(f"{source} is not an itemized balance report: its header has no "
                           f"{' or '.join(missing)} column (header: {shown or 'empty'})")
        return cls(names, position)

    def has(self, name: str) -> bool:
        return name in self.position

    @property
    def has_payment_ids(self) -> bool:
        """Whether rows can name their payment themselves (else only a balance transaction)."""
        return any(c in self.position for c in PAYMENT_ID_COLUMNS)

    @property
    def enriched(self) -> bool:
        """Whether this is already an enriched file (the added columns end it)."""
        return self.columns[-len(ENRICH_COLUMNS):] == ENRICH_COLUMNS

    @property
    def time_column(self) -> tuple[str, bool] | None:
        """``(column, is_utc)`` of the transaction time, or None."""
        if "created_utc" in self.position:
            return "created_utc", True
        if "created" in self.position:
            return "created", False
        return None

    def cell(self, row: list[str], name: str) -> str:
        i = self.position.get(name)
        return row[i] if i is not None and i < len(row) else ""


def parse_time(text: str) -> int | None:
    """A report's ``YYYY-MM-DD HH:MM:SS`` (no zone: the column says which) as Unix seconds,
    read as UTC; None for an empty or unreadable cell."""
    text = text.strip()
    if not text:
        return None
    for fmt in TIME_FORMATS:
        with contextlib.suppress(ValueError):
            return int(dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).timestamp())
    with contextlib.suppress(ValueError):
        return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    return None


class ReportReader:
    """Rows of a report file, streamed; ``header`` is read on opening, ``newline`` is the
    file's own line ending (kept when writing)."""

    def __init__(self, path: Path, *, label: str | None = None) -> None:
        self.path = path
        self.label = label or str(path)
        try:
            with path.open("rb") as raw:
                first = raw.readline()
            self.newline = "\r\n" if first.endswith(b"\r\n") else "\n"
            self._file: IO[str] = path.open(newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            raise BadInput(f"no such file: {self.label}") from None
        except IsADirectoryError:
            raise BadInput(f"{self.label} is a directory, not a CSV file") from None
        except OSError as exc:
            raise BadInput(f"cannot read {self.label}: {exc.strerror}") from None
        # the csv reader reads one copy of the file's lines, ``rows_with_text`` takes each row's
        # own lines from the other (``line_num`` says how many): both in C, line by line
        lines, self._copy = itertools.tee(self._file)
        self._reader = csv.reader(lines)
        first_row = self._next()
        if first_row is None:
            self._file.close()
            raise BadInput(f"{self.label} is empty: not an itemized balance report")
        try:
            self.header = ReportHeader.parse(first_row, self.label)
        except BadInput:
            self._file.close()
            raise
        self.line = 1
        self._taken = self._reader.line_num
        for _ in itertools.islice(self._copy, self._taken):  # the header's own lines
            pass

    def _next(self) -> list[str] | None:
        with self._read_errors():
            return next(self._reader, None)

    @contextlib.contextmanager
    def _read_errors(self) -> Iterator[None]:
        """A file that is not UTF-8 or not CSV, as one line naming the file (and the line)."""
        try:
            yield
        except UnicodeDecodeError:
            raise BadInput(f"{self.label} is not UTF-8 text: not a CSV report") from None
        except csv.Error as exc:
            raise BadInput(f"{self.label}, line {self._reader.line_num}: {exc}") from None

    def rows(self) -> Iterator[list[str]]:
        """The rows after the header (blank lines skipped)."""
        self._copy = None  # not read: let the lines go as the reader passes them
        width = len(self.header.columns)
        reader = self._reader
        with self._read_errors():
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    self._wrong_width(row)
                yield row
        self.line = reader.line_num

    def rows_with_text(self) -> Iterator[tuple[list[str], str]]:
        """Like ``rows``, each row with its text as the file has it (its line ending cut):
        what a writer that keeps rows unchanged copies instead of writing the cells again."""
        copy = self._copy
        if copy is None:
            raise RuntimeError("the rows of this report were read already")
        take = copy.__next__
        width = len(self.header.columns)
        reader = self._reader
        taken = self._taken
        with self._read_errors():
            for row in reader:
                upto = reader.line_num
                text = take() if upto == taken + 1 else "".join(itertools.islice(copy, upto - taken))
                taken = upto
                if len(row) != width:
                    if not row:
                        continue
                    self._wrong_width(row)
                yield row, text.rstrip("\r\n")
        self.line = reader.line_num

    def _wrong_width(self, row: list[str]) -> None:
        self.line = self._reader.line_num
        raise BadInput(f"{self.label}, line {self.line}: {len(row)} fields where the header has "
                       f"{len(self.header.columns)}")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def csv_text(cells: list[str]) -> str:
    """``cells`` as one CSV line (no line ending), quoted as the csv module quotes."""
    joined = ",".join(cells)
    if (joined.count(",") == len(cells) - 1 and '"' not in joined and "\n" not in joined
            and "\r" not in joined):
        return joined
    out = io.StringIO()
    # the line ending is cut after: the writer quotes a cell holding any of its characters,
    # so a name typed with a line break stays one cell
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()[:-2]


def safe_cell(text: str) -> str:
    """``text`` for a CSV cell a spreadsheet will open: a value starting like a formula
    (``=HYPERLINK(...)``, ``+1``, ``-2``, ``@SUM``) gets a leading ``'``, which spreadsheets
    show as text and do not evaluate. Only for text people typed (product and buyer names,
    emails), never for Stripe's amounts or ids."""
    return neutralised(text)


def unsafe_cell(text: str) -> str:
    """``safe_cell`` undone: the value as it was typed (for a PDF, which evaluates nothing)."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_STARTS) else text


@contextlib.contextmanager
def atomic_output(target: Path | None, *, binary: bool = False) -> Iterator[IO]:  # type: ignore[type-arg]
    """A file to write ``target`` through: it appears whole when the block ends, or not at all.

    Written beside the target and renamed over it on success (the same file system, so the
    rename is atomic); removed on any error. ``None`` means standard output, which gets the
    finished file copied to it, so a failure there prints nothing either.
    """
    directory = target.parent if target is not None else None
    if directory is not None and not directory.is_dir():
        raise BadInput(f"cannot write {target}: no directory {directory}")
    fd, tmp = tempfile.mkstemp(prefix=".indexer-", suffix=".part", dir=directory)
    tmp_path = Path(tmp)
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, mode, **kwargs) as out:
            yield out
        if target is None:
            with tmp_path.open("rb") as done:
                while block := done.read(1 << 20):
                    sys.stdout.buffer.write(block)
            sys.stdout.buffer.flush()
            tmp_path.unlink()
        else:
            os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
