"""HTTP: GET /api/payments (your own) and /api/payments/{id}. Registered after the checkout
routes that share the prefix."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from medgrader.auth.deps import CurrentStudent, CurrentUser
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.payments import service
from medgrader.payments.schemas import PaymentOut, PaymentPage

router = APIRouter(prefix="/api/payments", tags=["payments"])


@router.get("", response_model=PaymentPage, responses=errors(400, s400="invalid_cursor"))
async def list_payments(
    student: CurrentStudent,
    db: RequestDb,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> PaymentPage:
    """Your payments, newest first, with their refunds and dispute. Pass the previous page's
    nextCursor as `cursor`."""
    return await service.list_payments(db, limit=limit, cursor=cursor, student_id=student.id)


# Only a UUID matches, so that /api/payments/credit-checkout and the other fixed paths beside
# this one are never also "a payment id" (a 405 there lists exactly the methods they have).
@router.get("/{payment_id:uuid}", response_model=PaymentOut)
async def get_payment(payment_id: uuid.UUID, user: CurrentUser, db: RequestDb) -> PaymentOut:
    return await service.get_payment(db, user, str(payment_id))
