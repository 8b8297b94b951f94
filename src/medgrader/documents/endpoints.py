"""HTTP: a payment's VAT documents, a document's PDF, the student's billing details."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from medgrader.auth.deps import CurrentStudent, CurrentUser
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.documents import service
from medgrader.documents.schemas import BillingDetailsIn, BillingDetailsOut, DocumentOut

router = APIRouter(tags=["documents"])


@router.get(
    "/api/payments/{payment_id:uuid}/documents",
    response_model=list[DocumentOut],
    responses=errors(404, s404="payment_not_found"),
)
async def payment_documents(
    payment_id: uuid.UUID, user: CurrentUser, db: RequestDb
) -> list[DocumentOut]:
    """The payment's receipt, credit notes and debit notes, in order of issue (the payment's
    student or an admin)."""
    return await service.payment_documents(db, user, payment_id)


@router.get(
    "/api/documents/{number}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}} | errors(404),
)
async def document_pdf(number: str, user: CurrentUser, db: RequestDb) -> Response:
    """The document's PDF, rendered from its stored fields (its student or an admin)."""
    filename, pdf = await service.document_pdf(db, user, number[:40])
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/api/billing-details",
    response_model=BillingDetailsOut,
    responses=errors(404, s404="billing_details_not_found"),
)
async def get_billing_details(student: CurrentStudent, db: RequestDb) -> BillingDetailsOut:
    return await service.billing_details(db, student.id)


@router.put(
    "/api/billing-details",
    response_model=BillingDetailsOut,
    responses=errors(422, s422="validation_error or invalid_vat_number"),
)
async def put_billing_details(
    body: BillingDetailsIn, student: CurrentStudent, db: RequestDb
) -> BillingDetailsOut:
    """What your later documents carry: with billing details, a receipt is a full VAT
    invoice. Documents already issued never change."""
    return await service.save_billing_details(db, student.id, body)
