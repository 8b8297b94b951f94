"""A document's PDF, drawn by fpdf2 from the document's stored fields alone.

Nothing but the row goes in (no settings, no clock: the PDF's creation date is the document's
issue time), so rendering a document again gives the same content. The font (DejaVu Sans,
bundled in fonts/ with its licence) covers names in any European script and the pound sign.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from medgrader.core.money import format_money
from medgrader.models.documents import DocumentForm, DocumentType

FONTS = Path(__file__).resolve().parent / "fonts"
LONDON = ZoneInfo("Europe/London")

TITLES = {
    (DocumentType.RECEIPT, DocumentForm.RECEIPT): "Receipt",
    (DocumentType.RECEIPT, DocumentForm.SIMPLIFIED): "VAT receipt (simplified VAT invoice)",
    (DocumentType.RECEIPT, DocumentForm.FULL): "VAT invoice",
}
NOTE_TITLES = {DocumentType.CREDIT_NOTE: "Credit note", DocumentType.DEBIT_NOTE: "Debit note"}


def title_of(document: Any) -> str:
    if document.type == DocumentType.RECEIPT:
        return TITLES[(DocumentType.RECEIPT, DocumentForm(document.form))]
    return NOTE_TITLES[DocumentType(document.type)]


def filename_of(number: str) -> str:
    return f"{number}.pdf"


def _rate(rate: Decimal) -> str:
    return f"{rate.normalize():f}%"


@lru_cache(maxsize=1)
def _font_files() -> tuple[str, str]:
    return str(FONTS / "DejaVuSans.ttf"), str(FONTS / "DejaVuSans-Bold.ttf")


class _Page:
    def __init__(self, document: Any) -> None:
        # fpdf2 (with fontTools) is imported here, not at the top: it is about a sixth of a
        # process's import time, and of our processes only the job worker and a PDF download
        # draw documents (every `medgrader` command, API and test process imports this module).
        from fpdf import FPDF

        pdf = FPDF(format="A4")
        regular, bold = _font_files()
        pdf.add_font("DejaVu", "", regular)
        pdf.add_font("DejaVu", "B", bold)
        pdf.set_creation_date(document.issued_at)
        pdf.set_title(f"{title_of(document)} {document.number}")
        pdf.set_author(document.seller_name)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_page()
        self.pdf = pdf

    def line(self, text: str, *, size: int = 10, bold: bool = False, height: float = 5) -> None:
        from fpdf.enums import XPos, YPos

        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        self.pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, label: str, value: str, *, bold: bool = False) -> None:
        from fpdf.enums import XPos, YPos

        self.pdf.set_font("DejaVu", "B" if bold else "", 10)
        self.pdf.cell(120, 6, label)
        self.pdf.cell(0, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def gap(self, height: float = 4) -> None:
        self.pdf.ln(height)


def render_pdf(document: Any, *, receipt_number: str | None = None, cancels: str | None = None
               ) -> bytes:  # fmt: skip
    """The PDF of one document row (documents.repository.DOCUMENT_COLUMNS). A note names the
    receipt it credits (`receipt_number`) and a debit note the credit note it cancels."""
    page = _Page(document)
    money = document.currency
    registered = document.vat_rate_percent is not None
    page.line(title_of(document), size=18, bold=True, height=9)
    page.line(f"Number: {document.number}")
    issued = document.issued_at.astimezone(LONDON)
    supplied = document.supplied_at.astimezone(LONDON)
    page.line(f"Date of issue: {issued:%d %B %Y}")
    page.line(f"Time of supply: {supplied:%d %B %Y %H:%M} (UK time)")
    if receipt_number:
        page.line(f"Against receipt: {receipt_number}")
    if cancels:
        page.line(f"Cancels credit note: {cancels}")
    page.gap()
    page.line("From", bold=True)
    page.line(document.seller_name)
    if document.seller_address:
        page.line(document.seller_address)
    if document.seller_vat_number:
        page.line(f"VAT registration number: {document.seller_vat_number}")
    page.gap()
    page.line("To", bold=True)
    if document.buyer_company:
        page.line(document.buyer_company)
    page.line(document.buyer_name)
    if document.buyer_address:
        page.line(document.buyer_address)
    page.line(document.buyer_email)
    if document.buyer_vat_number:
        page.line(f"VAT number: {document.buyer_vat_number}")
    page.gap()
    page.line("Description", bold=True)
    page.line(document.description)
    page.gap(2)
    full = document.form == DocumentForm.FULL
    if full:
        page.row("Quantity", str(document.quantity))
        page.row("Unit price (incl. VAT)", format_money(int(document.list_total_minor), money))
    if document.discount_minor:
        page.row("Price before discount", format_money(int(document.list_total_minor), money))
        page.row("Discount", format_money(-int(document.discount_minor), money))
    if registered:
        rate = _rate(document.vat_rate_percent)
        page.row("Net (excl. VAT)" if not full else "Net per line (excl. VAT)",
                 format_money(int(document.net_minor), money))  # fmt: skip
        page.row(f"VAT rate: {rate}" if full else f"VAT at {rate}",
                 format_money(int(document.vat_minor), money))  # fmt: skip
        if full:
            page.row("Total VAT", format_money(int(document.vat_minor), money))
    label = "Total including VAT" if registered else "Total"
    if document.type == DocumentType.CREDIT_NOTE:
        label = "Total credited" + (" including VAT" if registered else "")
    elif document.type == DocumentType.DEBIT_NOTE:
        label = "Total debited" + (" including VAT" if registered else "")
    page.row(label, format_money(int(document.total_minor), money), bold=True)
    if not registered:
        page.gap()
        page.line("The seller is not registered for VAT: no VAT is charged.", size=8)
    return bytes(page.pdf.output())
