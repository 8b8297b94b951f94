"""HTTP: /api/admin/students/{id}/credit-adjustments (administrators only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import JSONResponse

from medgrader.admin import service
from medgrader.admin.schemas import AdjustmentOut, AdjustmentRequest
from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import RequestDb
from medgrader.core.errors import replayed_header
from medgrader.ledger.service import StudentNotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post(
    "/students/{student_id}/credit-adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=AdjustmentOut,
    responses={
        404: {"description": "student_not_found (also for a malformed id)"},
        409: {
            "description": "adjustment_exceeds_balance: a negative adjustment the available"
            " balance does not cover (nothing posted); idempotency_key_reused;"
            " request_in_progress"
        },
    },
)
async def create_credit_adjustment(
    student_id: str,
    body: AdjustmentRequest,
    admin: CurrentAdmin,
    db: RequestDb,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional, 8-255 visible ASCII characters (e.g. a UUID). Send one "
            "whenever the request may be retried: without it a retry adjusts twice.",
        ),
    ] = None,
) -> JSONResponse:
    """Add (amount > 0) or remove (amount < 0) a student's credits as an ADMIN_ADJUSTMENT entry
    that records you as its actor.

    **Retries.** The `Idempotency-Key` header is optional, but **without it the request is not
    idempotent**: if a response is lost (a timeout, a dropped connection) and you send the
    request again, a second adjustment is posted and the student is credited or debited twice.
    Send a fresh key (e.g. a UUID) per intended adjustment and reuse it on retries: the same key
    with the same body replays the first answer (status and body, header
    `Idempotent-Replayed: true`) and posts nothing; with a different body it is 409
    `idempotency_key_reused`; while the first request is still running, 409
    `request_in_progress`. Keys are kept at least 24 hours, per student and per operation:
    a key the student used for their own spends never collides with yours.
    """
    try:
        target = uuid.UUID(student_id)
    except ValueError:
        raise StudentNotFound() from None
    adjusted = await service.adjust_credits(
        db,
        student_id=target,
        amount=body.amount,
        reason=body.reason,
        actor_id=admin.id,
        idempotency_key=idempotency_key,
        expires_at=body.expires_at,
    )
    return JSONResponse(
        adjusted.out().model_dump(mode="json", by_alias=True),
        status_code=201,
        headers=replayed_header(adjusted.replayed),
    )
