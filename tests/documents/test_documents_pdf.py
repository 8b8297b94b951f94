"""The PDF from a document's fields alone (a discounted purchase included: the promotions'
seam), and which receipt is which form of VAT invoice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from medgrader.documents.pdf import render_pdf
from medgrader.documents.service import receipt_form
from medgrader.documents.vat import split
from medgrader.models.documents import DocumentForm
from tests.documents.support import pdf_text


def document(**changes: Any) -> SimpleNamespace:
    paid = split(4500, Decimal(20))
    fields = {
        "id": uuid.uuid4(), "number": "MG-000042", "type": "RECEIPT", "form": "SIMPLIFIED",
        "issued_at": datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        "supplied_at": datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
        "seller_name": "MedGrader Ltd", "seller_address": "1 High Street\nLondon",
        "seller_vat_number": "GB123456789", "buyer_name": "Zoë Łukasz",
        "buyer_email": "zoe@example.com", "buyer_address": None, "buyer_company": None,
        "buyer_vat_number": None, "description": "Value: 500 credits", "quantity": 1,
        "list_total_minor": 5000, "discount_minor": 500, "total_minor": paid.total,
        "vat_minor": paid.vat, "net_minor": paid.net, "vat_rate_percent": Decimal("20.00"),
        "currency": "GBP",
    }  # fmt: skip
    return SimpleNamespace(**(fields | changes))


def test_a_discounted_receipt_shows_the_discount_and_vat_on_what_was_paid() -> None:
    text = pdf_text(render_pdf(document()))
    for field in ("VAT receipt (simplified VAT invoice)", "MG-000042", "Zoë Łukasz",
                  "Price before discount £50.00", "Discount -£5.00", "VAT at 20% £7.50",
                  "Total including VAT £45.00", "01 July 2026 10:30 (UK time)"):  # fmt: skip
        assert field in text, field


def test_rendering_again_gives_the_same_bytes() -> None:
    row = document()
    assert render_pdf(row) == render_pdf(row)


def test_not_registered_shows_no_vat_lines() -> None:
    plain = document(form="RECEIPT", seller_vat_number=None, vat_rate_percent=None, vat_minor=0,
                     net_minor=4500)  # fmt: skip
    text = pdf_text(render_pdf(plain))
    assert "Receipt" in text
    assert "VAT at" not in text
    assert "not registered for VAT" in text
    assert "Total £45.00" in text


def test_which_form() -> None:
    assert receipt_form(registered=False, has_billing=True, total=90_000) is DocumentForm.RECEIPT
    assert receipt_form(registered=True, has_billing=False, total=25_000) is DocumentForm.SIMPLIFIED
    assert receipt_form(registered=True, has_billing=False, total=25_001) is DocumentForm.FULL
    assert receipt_form(registered=True, has_billing=True, total=0) is DocumentForm.FULL
