"""HTTP: /api/admin/payments (administrators only): the list, a refund's preview, refunds."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse

from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import replayed_header
from medgrader.core.openapi import errors
from medgrader.core.schemas import Rfc3339DateTime, names_pattern
from medgrader.ledger.service import StudentNotFound
from medgrader.models.payments import PaymentStatus
from medgrader.payments import service
from medgrader.payments.flows import refund_payment
from medgrader.payments.refunds import preview_refund
from medgrader.payments.schemas import PaymentPage, RefundOut, RefundPreviewOut, RefundRequest

router = APIRouter(prefix="/api/admin/payments", tags=["admin"])


@router.get(
    "",
    response_model=PaymentPage,
    responses=errors(
        400, 404, s400="invalid_cursor", s404="student_not_found (also for a malformed id)"
    ),
)
async def list_payments(
    admin: CurrentAdmin,
    db: RequestDb,
    student_id: Annotated[str | None, Query(alias="studentId")] = None,
    status_filter: Annotated[
        str | None,
        Query(
            alias="status",
            description="SUCCEEDED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED, DISPUTE_LOST",
            pattern=names_pattern(PaymentStatus.__members__, many=False),
        ),
    ] = None,
    from_: Annotated[
        Rfc3339DateTime | None, Query(alias="from", description="created at or after")
    ] = None,
    to: Annotated[Rfc3339DateTime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> PaymentPage:
    """Every student's payments, newest first, with their refunds and dispute."""
    student = None
    if student_id:
        try:
            student = uuid.UUID(student_id)
        except ValueError:
            raise StudentNotFound() from None
    return await service.list_payments(
        db, limit=limit, cursor=cursor, student_id=student, status=status_filter,
        from_ts=from_, to_ts=to,
    )  # fmt: skip


@router.get("/{payment_id}/refund-preview", response_model=RefundPreviewOut)
async def refund_preview(
    payment_id: str,
    admin: CurrentAdmin,
    db: RequestDb,
    amount: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
) -> RefundPreviewOut:
    """What refunding `amount` pence (default: all that is left) would take back now."""
    return (await preview_refund(db, payment_id, amount)).out()


@router.post(
    "/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundOut,
    responses={
        404: {"description": "payment_not_found"},
        409: {"description": "payment_disputed, credits_already_spent (with "
              "refundableWithoutNegativeBalance), payment_not_refundable, "
              "idempotency_key_reused"},
        422: {"description": "amount_not_refundable (with refundableAmount), validation_error"},
        502: {"description": "Stripe unreachable or refused; nothing was refunded (a retry "
              "under the same Idempotency-Key sends the same request again)"},
    },
)  # fmt: skip
async def create_refund(
    payment_id: str,
    body: RefundRequest,
    admin: CurrentAdmin,
    db: RequestDb,
    ctx: Ctx,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional, 8-255 visible ASCII characters; forwarded to Stripe, so "
            "a retried request never refunds twice, and answered again as the first time.",
        ),
    ] = None,
) -> JSONResponse:
    """Refund a payment (all that is left by default) and take back its credits by the rule
    min(C, ceil(C*R/A)); you are recorded as the actor on the ledger entry."""
    refunded = await refund_payment(
        db, ctx, payment_id=payment_id, admin_id=admin.id, amount=body.amount,
        reason=body.reason, note=body.note or None,
        allow_negative_balance=body.allow_negative_balance, idempotency_key=idempotency_key,
    )  # fmt: skip
    body_out = refunded.refund.model_dump(mode="json", by_alias=True)
    return JSONResponse(body_out, status_code=201, headers=replayed_header(refunded.replayed))
