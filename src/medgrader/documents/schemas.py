"""Request and response bodies of the documents endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from medgrader.core.schemas import ApiModel, trimmed_text

Line = trimmed_text(max_length=200)
OptionalLine = trimmed_text(max_length=200, required=False)


class DocumentOut(ApiModel):
    number: str
    type: Literal["RECEIPT", "CREDIT_NOTE", "DEBIT_NOTE"]
    issued_at: datetime
    total_minor: int  # pence, VAT included
    vat_minor: int
    net_minor: int
    url: str  # GET it for the PDF


class BillingDetailsIn(ApiModel):
    """What later documents carry (a full VAT invoice). Empty optional fields are dropped."""

    name: Line
    address_line1: Line
    address_line2: OptionalLine | None = None
    city: trimmed_text(max_length=100)  # type: ignore[valid-type]
    postcode: trimmed_text(max_length=20)  # type: ignore[valid-type]
    country: trimmed_text(max_length=100)  # type: ignore[valid-type]
    company_name: OptionalLine | None = None
    vat_number: trimmed_text(max_length=20, required=False) | None = None  # type: ignore[valid-type]


class BillingDetailsOut(BillingDetailsIn):
    updated_at: datetime


class VatReport(ApiModel):
    """The VAT return's figures for documents issued on London dates from..to (inclusive)."""

    from_: date = Field(alias="from")
    to: date
    sales_net_minor: int
    sales_vat_minor: int
    # Credit notes less the debit notes that cancel some of them.
    credit_notes_net_minor: int
    credit_notes_vat_minor: int
    vat_due_minor: int  # box 1
    net_sales_minor: int  # box 6
    documents: int
