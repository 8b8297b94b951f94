"""Issuing VAT documents: each exactly once, numbered without gaps, never changed.

`issue_due_documents(db, seller, payment_id)` is THE way documents come to exist (the receipt
job, the returns jobs, the sweep and the backfill all call it, inside their own transaction;
nothing here commits). Under the payment's row lock it reads what the payment already has and
issues what is missing, in this order: the receipt; then, for every refund ever seen succeeded
and every dispute lost, a credit note; for a refund that failed after it succeeded, a debit
note cancelling its credit note. It can run any number of times, in any order with the events:
what exists is never issued again (and the partial UNIQUE indexes would refuse it).

What a document says is fixed at issue: the seller from the settings of the process that
issues it, the buyer from the student's account and billing details then, the amounts by
documents.vat. A credit note is issued against its receipt: its buyer, rate and form are the
receipt's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from medgrader.auth.access import may_see
from medgrader.auth.users import User
from medgrader.config import Settings, is_uk_vat_number, normalise_vat_number
from medgrader.db.session import Db
from medgrader.documents import repository
from medgrader.documents.errors import BillingDetailsNotFound, DocumentNotFound, InvalidVatNumber
from medgrader.documents.pdf import filename_of, render_pdf
from medgrader.documents.schemas import BillingDetailsIn, BillingDetailsOut, DocumentOut
from medgrader.documents.vat import VatSplit, credit_split, split
from medgrader.models.documents import DocumentForm, DocumentType, Series
from medgrader.payments.errors import PaymentNotFound

log = structlog.get_logger(__name__)

# Above this total (pence, VAT included) a simplified VAT invoice is not allowed (HMRC: £250).
SIMPLIFIED_LIMIT_MINOR = 25_000


@dataclass(frozen=True)
class Seller:
    """Who issues the documents, and the numbering and VAT that apply (from Settings)."""

    name: str
    address: str
    vat_number: str | None
    rate_percent: Decimal
    prefix: str

    @classmethod
    def of(cls, settings: Settings) -> Seller:
        return cls(
            name=settings.seller_name,
            address="\n".join(settings.seller_address_lines),
            vat_number=settings.vat_number,
            rate_percent=settings.vat_rate_percent,
            prefix=settings.document_number_prefix,
        )

    @property
    def rate(self) -> Decimal | None:
        """The VAT rate documents carry; None when the seller is not VAT-registered."""
        return self.rate_percent if self.vat_number else None

    def number_prefix(self, series: Series) -> str:
        if series is Series.CREDIT_NOTES:
            return f"{self.prefix}-CN-"
        return f"{self.prefix}-"


def receipt_form(*, registered: bool, has_billing: bool, total: int) -> DocumentForm:
    if not registered:
        return DocumentForm.RECEIPT
    if has_billing or total > SIMPLIFIED_LIMIT_MINOR:
        return DocumentForm.FULL
    return DocumentForm.SIMPLIFIED


def _buyer_address(payment: Any) -> str | None:
    if payment.billing_name is None:
        return None
    lines = [payment.address_line1, payment.address_line2, payment.city, payment.postcode,
             payment.country]  # fmt: skip
    return "\n".join(line for line in lines if line)


def _seller_values(seller: Seller, series: Series) -> dict[str, Any]:
    return {
        "prefix": seller.number_prefix(series),
        "series": series.value,
        "seller_name": seller.name,
        "seller_address": seller.address,
        "seller_vat_number": seller.vat_number,
    }


def _amounts(amounts: VatSplit, *, list_total: int, rate: Decimal | None) -> dict[str, Any]:
    return {
        "list_total": list_total,
        "discount": list_total - amounts.total,
        "total": amounts.total,
        "vat": amounts.vat,
        "net": amounts.net,
        "rate": rate,
    }


async def _issue_receipt(db: Db, seller: Seller, payment: Any) -> Any:
    total = int(payment.amount_pence)
    # The list price is never below what was paid (a seam for promotions: repository).
    list_total = max(int(payment.list_price), total)
    has_billing = payment.billing_name is not None
    form = receipt_form(registered=seller.vat_number is not None, has_billing=has_billing,
                        total=total)  # fmt: skip
    name = payment.billing_name or f"{payment.first_name} {payment.last_name}".strip()
    values = (
        _seller_values(seller, Series.RECEIPTS)
        | {
            "type": DocumentType.RECEIPT.value,
            "form": form.value,
            "payment_id": payment.id,
            "student_id": payment.student_id,
            "receipt_id": None,
            "refund_id": None,
            "dispute_id": None,
            "cancels_id": None,
            "supplied_at": payment.paid_at,
            "currency": payment.currency,
            "buyer_name": name,
            "buyer_email": payment.email,
            "buyer_address": _buyer_address(payment),
            "buyer_company": payment.company_name,
            "buyer_vat_number": payment.billing_vat_number,
            "description": f"{payment.package_name}: {payment.credits} credits",
            "quantity": 1,
        }
        | _amounts(split(total, seller.rate), list_total=list_total, rate=seller.rate)
    )
    return await repository.issue(db, values)


def _note_values(seller: Seller, receipt: Any, document_type: DocumentType) -> dict[str, Any]:
    """What a note copies from its receipt: the buyer, the supply, the form."""
    return _seller_values(seller, Series.CREDIT_NOTES) | {
        "type": document_type.value,
        "form": receipt.form,
        "payment_id": receipt.payment_id,
        "student_id": receipt.student_id,
        "receipt_id": receipt.id,
        "supplied_at": receipt.supplied_at,
        "currency": receipt.currency,
        "buyer_name": receipt.buyer_name,
        "buyer_email": receipt.buyer_email,
        "buyer_address": receipt.buyer_address,
        "buyer_company": receipt.buyer_company,
        "buyer_vat_number": receipt.buyer_vat_number,
        "quantity": 1,
    }


@dataclass
class _Credited:
    """What the notes of one receipt credit so far (credit notes minus debit notes)."""

    total: int = 0
    vat: int = 0

    def add(self, document: Any) -> None:
        sign = -1 if document.type == DocumentType.DEBIT_NOTE else 1
        if document.type != DocumentType.RECEIPT:
            self.total += sign * int(document.total_minor)
            self.vat += sign * int(document.vat_minor)


async def issue_due_documents(db: Db, seller: Seller, payment_id: uuid.UUID) -> list[Any]:
    """Issue every document the payment is due and lacks (see the module docstring); returns
    the documents issued now (empty when there was nothing to do or no such payment)."""
    payment = await repository.lock_payment(db, payment_id)
    if payment is None:
        return []
    existing = await repository.documents_of(db, payment_id)
    issued: list[Any] = []
    receipt = next((d for d in existing if d.type == DocumentType.RECEIPT), None)
    if receipt is None:
        receipt = await _issue_receipt(db, seller, payment)
        issued.append(receipt)
    credited = _Credited()
    notes_by_refund: dict[uuid.UUID, dict[str, Any]] = {}
    notes_by_dispute: set[uuid.UUID] = set()
    for document in existing:
        credited.add(document)
        if document.refund_id is not None:
            notes_by_refund.setdefault(document.refund_id, {})[document.type] = document
        if document.dispute_id is not None:
            notes_by_dispute.add(document.dispute_id)
    returns = await repository.returns_due(db, payment_id) if payment.has_returns else []
    for due in returns:
        if due.kind == "dispute":
            if due.id in notes_by_dispute:
                continue
            note = await _credit_note(db, seller, receipt, due, credited, refund=False)
            if note is not None:
                issued.append(note)
            continue
        notes = notes_by_refund.get(due.id, {})
        credit_note = notes.get(DocumentType.CREDIT_NOTE)
        if credit_note is None:
            credit_note = await _credit_note(db, seller, receipt, due, credited, refund=True)
            if credit_note is None:
                continue
            issued.append(credit_note)
        if due.status in ("failed", "canceled") and DocumentType.DEBIT_NOTE not in notes:
            issued.append(await _debit_note(db, seller, receipt, credit_note, credited))
    if issued:
        log.info("documents issued", payment_id=str(payment_id),
                 numbers=[d.number for d in issued])  # fmt: skip
    return issued


async def _credit_note(
    db: Db, seller: Seller, receipt: Any, due: Any, credited: _Credited, *, refund: bool
) -> Any | None:
    rate = receipt.vat_rate_percent
    amounts = credit_split(
        amount=int(due.amount_pence),
        credited_before=credited.total,
        vat_credited_before=credited.vat,
        receipt_total=int(receipt.total_minor),
        receipt_vat=int(receipt.vat_minor),
        rate_percent=rate,
    )
    if amounts.total == 0:
        # Nothing left to credit on this receipt (more returned than paid cannot happen: the
        # payments' CHECKs; a £0.00 receipt has nothing to credit).
        log.warning("no credit note: nothing left to credit", receipt=receipt.number,
                    stripe_id=due.stripe_id)  # fmt: skip
        return None
    what = "Refund" if refund else "Dispute lost"
    values = _note_values(seller, receipt, DocumentType.CREDIT_NOTE) | {
        "refund_id": due.id if refund else None,
        "dispute_id": None if refund else due.id,
        "cancels_id": None,
        "description": f"{what} against receipt {receipt.number} ({receipt.description})",
    } | _amounts(amounts, list_total=amounts.total, rate=rate)  # fmt: skip
    note = await repository.issue(db, values)
    credited.add(note)
    return note


async def _debit_note(
    db: Db, seller: Seller, receipt: Any, credit_note: Any, credited: _Credited
) -> Any:
    """Cancels a credit note exactly (its refund failed after it succeeded)."""
    values = _note_values(seller, receipt, DocumentType.DEBIT_NOTE) | {
        "refund_id": credit_note.refund_id,
        "dispute_id": None,
        "cancels_id": credit_note.id,
        "description": f"Cancels credit note {credit_note.number}: the refund failed",
        "list_total": credit_note.list_total_minor,
        "discount": credit_note.discount_minor,
        "total": credit_note.total_minor,
        "vat": credit_note.vat_minor,
        "net": credit_note.net_minor,
        "rate": credit_note.vat_rate_percent,
    }
    note = await repository.issue(db, values)
    credited.add(note)
    return note


# -- reading ------------------------------------------------------------------------------


def document_url(number: str) -> str:
    return f"/api/documents/{number}.pdf"


def document_out(row: Any) -> DocumentOut:
    return DocumentOut(
        number=row.number,
        type=row.type,
        issued_at=row.issued_at,
        total_minor=row.total_minor,
        vat_minor=row.vat_minor,
        net_minor=row.net_minor,
        url=document_url(row.number),
    )


async def payment_documents(db: Db, user: User, payment_id: uuid.UUID) -> list[DocumentOut]:
    """The payment's documents in order of issue (owner or admin; anyone else: 404)."""
    owner = await repository.payment_owner(db, payment_id)
    if owner is None or not may_see(user, owner):
        raise PaymentNotFound()
    return [document_out(row) for row in await repository.list_of_payment(db, payment_id)]


async def document_pdf(db: Db, user: User, number: str) -> tuple[str, bytes]:
    """(file name, PDF) of a document, rendered from its stored fields (owner or admin)."""
    document = await repository.by_number(db, number)
    if document is None or not may_see(user, document.student_id):
        raise DocumentNotFound()
    return await rendered(db, document)


async def rendered(db: Db, document: Any) -> tuple[str, bytes]:
    """(file name, PDF) of a document row; a note names its receipt (and the credit note it
    cancels) by number."""
    related = await repository.numbers_of(db, [document.receipt_id, document.cancels_id])
    pdf = render_pdf(
        document,
        receipt_number=related.get(document.receipt_id),
        cancels=related.get(document.cancels_id),
    )
    return filename_of(document.number), pdf


# -- billing details ----------------------------------------------------------------------


def _billing_out(row: Any) -> BillingDetailsOut:
    return BillingDetailsOut.model_validate(row)


async def save_billing_details(
    db: Db, student_id: uuid.UUID, details: BillingDetailsIn
) -> BillingDetailsOut:
    vat_number = details.vat_number or None
    if vat_number is not None:
        if not is_uk_vat_number(vat_number):
            raise InvalidVatNumber()
        vat_number = normalise_vat_number(vat_number)
    values = details.model_dump() | {
        "student_id": student_id,
        "vat_number": vat_number,
        "address_line2": details.address_line2 or None,
        "company_name": details.company_name or None,
    }
    await repository.save_billing(db, values)
    row = await repository.billing_of(db, student_id)
    return _billing_out(row)


async def billing_details(db: Db, student_id: uuid.UUID) -> BillingDetailsOut:
    row = await repository.billing_of(db, student_id)
    if row is None:
        raise BillingDetailsNotFound()
    return _billing_out(row)
