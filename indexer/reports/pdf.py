"""One product's month as a PDF an accountant can file (reportlab).

A4 landscape: the product's name and id, the month, the account and mode in the title; where
the figures come from; a table of the month's transactions (date, buyer, description,
quantity, gross, fee, net, currency; refunds and disputes as negative rows) that flows across
pages with its header repeated; totals per currency; "Page n of m" on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#9aa5b1")
BAND = colors.HexColor("#f0f4f8")
HEAD = colors.HexColor("#d9e2ec")
NEGATIVE = colors.HexColor("#a61b1b")


@dataclass(frozen=True, slots=True)
class StatementRow:
    date: str
    buyer: str
    email: str
    description: str
    reference: str
    quantity: str
    gross: Decimal
    fee: Decimal | None
    net: Decimal | None
    currency: str


@dataclass(frozen=True, slots=True)
class Total:
    currency: str
    transactions: int
    gross: Decimal
    fee: Decimal | None
    net: Decimal | None


@dataclass(frozen=True, slots=True)
class Statement:
    product_id: str
    product_name: str
    month_title: str
    account: str
    mode: str
    source: str
    generated: str
    rows: Sequence[StatementRow]
    totals: Sequence[Total]


def money(value: Decimal | None, exponent: int) -> str:
    """``1,234.50`` / ``-49.00`` / ``1,500`` (zero-decimal); empty for an unknown amount."""
    if value is None:
        return ""
    return f"{value:,.{exponent}f}"


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("cell", parent=base["BodyText"], fontName="Helvetica", fontSize=8,
                          leading=10, textColor=INK)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName="Helvetica-Bold",
                                fontSize=17, leading=21, alignment=0, spaceAfter=2, textColor=INK),
        "meta": ParagraphStyle("meta", parent=body, fontSize=9.5, leading=13, textColor=MUTED),
        "h2": ParagraphStyle("h2", parent=body, fontName="Helvetica-Bold", fontSize=11,
                             leading=14, spaceBefore=8, spaceAfter=4),
        "cell": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7, leading=9, textColor=MUTED),
        "num": ParagraphStyle("num", parent=body, alignment=TA_RIGHT),
    }


class _NumberedCanvas(Canvas):
    """Draws "Page n of m" and the running footer once the page count is known."""

    footer = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            width, _ = self._pagesize
            self.setFont("Helvetica", 7.5)
            self.setFillColor(MUTED)
            self.setStrokeColor(RULE)
            self.line(15 * mm, 12 * mm, width - 15 * mm, 12 * mm)
            self.drawString(15 * mm, 8 * mm, self.footer)
            self.drawRightString(width - 15 * mm, 8 * mm, f"Page {number} of {total}")
            super().showPage()
        super().save()


def write_statement(out: IO[bytes], statement: Statement, exponents: dict[str, int]) -> None:
    """Write ``statement`` as a PDF to ``out``; ``exponents`` gives each currency's decimals."""
    styles = _styles()
    doc = SimpleDocTemplate(
        out, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
        topMargin=14 * mm, bottomMargin=18 * mm,
        title=f"{statement.product_name} — {statement.month_title}",
        author="indexer", subject=f"{statement.product_id} {statement.month_title}",
    )
    story: list[Any] = [
        Paragraph(escape(statement.product_name or statement.product_id), styles["title"]),
        Paragraph(f"Product <b>{escape(statement.product_id)}</b> &nbsp;·&nbsp; "
                  f"<b>{escape(statement.month_title)}</b> &nbsp;·&nbsp; "
                  f"Account {escape(statement.account)} &nbsp;·&nbsp; {escape(statement.mode)}",
                  styles["meta"]),
        Paragraph(escape(statement.source), styles["meta"]),
        Spacer(1, 5 * mm),
        Paragraph("Transactions", styles["h2"]),
    ]
    story.append(_transactions(statement, styles, exponents, doc.width))
    story += [Spacer(1, 4 * mm), Paragraph("Totals", styles["h2"]),
              _totals(statement, styles, exponents)]
    _NumberedCanvas.footer = (f"{statement.product_name} ({statement.product_id}) · "
                              f"{statement.month_title} · generated {statement.generated}")
    doc.build(story, canvasmaker=_NumberedCanvas)


def _transactions(statement: Statement, styles: dict[str, ParagraphStyle],
                  exponents: dict[str, int], width: float) -> Table:
    head = ["Date", "Buyer", "Description", "Qty", "Gross", "Fee", "Net", "Cur."]
    data: list[list[Any]] = [head]
    negatives = []
    for i, row in enumerate(statement.rows, start=1):
        exp = exponents.get(row.currency, 2)
        buyer = escape(row.buyer or "—")
        if row.email:
            buyer += f"<br/><font size=7 color='#616e7c'>{escape(row.email)}</font>"
        what = escape(row.description)
        if row.reference:
            what += f"<br/><font size=7 color='#616e7c'>{escape(row.reference)}</font>"
        data.append([row.date, Paragraph(buyer, styles["cell"]), Paragraph(what, styles["cell"]),
                     row.quantity, money(row.gross, exp), money(row.fee, exp),
                     money(row.net, exp), row.currency.upper()])
        if row.gross < 0:
            negatives.append(i)
    if len(data) == 1:
        data.append(["", Paragraph("No transactions this month.", styles["cell"]), "", "", "",
                     "", "", ""])
    fixed = [22 * mm, 0, 0, 11 * mm, 24 * mm, 20 * mm, 24 * mm, 12 * mm]
    rest = width - sum(fixed)
    widths = [fixed[0], rest * 0.38, rest * 0.62, *fixed[3:]]
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (3, 0), (6, -1), "RIGHT"),
        ("ALIGN", (7, 0), (7, -1), "CENTER"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    style += [("BACKGROUND", (0, i), (-1, i), BAND) for i in range(2, len(data), 2)]
    style += [("TEXTCOLOR", (4, i), (6, i), NEGATIVE) for i in negatives]
    table.setStyle(TableStyle(style))
    return table


def _totals(statement: Statement, styles: dict[str, ParagraphStyle],
            exponents: dict[str, int]) -> Table:
    data: list[list[Any]] = [["Currency", "Transactions", "Gross", "Fee", "Net"]]
    for total in statement.totals:
        exp = exponents.get(total.currency, 2)
        data.append([total.currency.upper(), str(total.transactions), money(total.gross, exp),
                     money(total.fee, exp), money(total.net, exp)])
    table = Table(data, colWidths=[24 * mm, 28 * mm, 32 * mm, 28 * mm, 32 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
        ("FONT", (0, 1), (-1, -1), "Helvetica-Bold", 9),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
        ("LINEBELOW", (0, -1), (-1, -1), 1.2, INK),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table
