"""The VAT return's figures: sums of the documents issued on London dates from..to.

Exactly the documents' sums, nothing estimated: sales are the receipts; credit notes count
against them and the debit notes that cancel credit notes count back. Box 1 (VAT due on
sales) = receipts' VAT - credit notes' VAT + debit notes' VAT; box 6 (net sales) the same with
the net amounts. VAT on prepaid credits is due when the money is received: a receipt's issue
date follows its payment within minutes, and the documents are what the business files.
"""

from __future__ import annotations

from datetime import date

from medgrader.db.session import Db
from medgrader.documents import repository
from medgrader.documents.schemas import VatReport


def quarter_of(day: date) -> tuple[date, date]:
    """The calendar quarter holding `day`: its first and last days."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    first = date(day.year, first_month, 1)
    after = date(day.year + first_month // 10, (first_month + 2) % 12 + 1, 1)  # next quarter
    return first, date.fromordinal(after.toordinal() - 1)


async def vat_report(db: Db, first: date, last: date) -> VatReport:
    sums = await repository.report_sums(db, first, last)
    sales_net, sales_vat = int(sums.sales_net), int(sums.sales_vat)
    notes_net, notes_vat = int(sums.notes_net), int(sums.notes_vat)
    return VatReport(
        from_=first,
        to=last,
        sales_net_minor=sales_net,
        sales_vat_minor=sales_vat,
        credit_notes_net_minor=notes_net,
        credit_notes_vat_minor=notes_vat,
        vat_due_minor=sales_vat - notes_vat,
        net_sales_minor=sales_net - notes_net,
        documents=int(sums.documents),
    )
