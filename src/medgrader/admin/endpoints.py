"""HTTP: /api/admin/students/{id}/credit-adjustments (administrators only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import JSONResponse

from medgrader.admin import service
from medgrader.admin.schemas import AdjustmentOut, AdjustmentRequest
from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import DbSession
from medgrader.ledger.service import StudentNotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post(
    "/students/{student_id}/credit-adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=AdjustmentOut,
    responses={
        404: {"description": "student_not_found (also for a malformed id)"},
        409: {"description": "insufficient_credits, idempotency_key_reused, request_in_progress"},
    },
)
async def create_credit_adjustment(
    student_id: str,
    body: AdjustmentRequest,
    admin: CurrentAdmin,
    session: DbSession,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Add (amount > 0) or remove (amount < 0) a student's credits as an ADMIN_ADJUSTMENT entry
    that records you as its actor. An optional Idempotency-Key makes retries safe."""
    try:
        target = uuid.UUID(student_id)
    except ValueError:
        raise StudentNotFound() from None
    outcome = await service.adjust_credits(
        session,
        student_id=target,
        amount=body.amount,
        reason=body.reason,
        actor_id=admin.id,
        idempotency_key=idempotency_key,
    )
    # Returned, not raised: with a key, a refusal is recorded and must commit.
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
