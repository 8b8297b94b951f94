"""HTTP: GET /api/payments/{id}. Registered after the checkout routes that share the prefix."""

from __future__ import annotations

from fastapi import APIRouter

from medgrader.auth.deps import CurrentUser
from medgrader.core.deps import DbSession
from medgrader.payments import service
from medgrader.payments.schemas import PaymentOut

router = APIRouter(prefix="/api/payments", tags=["payments"])


@router.get("/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, user: CurrentUser, session: DbSession) -> PaymentOut:
    return await service.get_payment(session, user, payment_id)
