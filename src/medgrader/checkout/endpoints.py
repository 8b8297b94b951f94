"""HTTP: /api/payments/credit-checkout, /checkout-status/{id}, /checkout-sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from medgrader.auth.deps import CurrentStudent, CurrentUser
from medgrader.checkout import service
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutRequest,
    CheckoutSessionPage,
    CheckoutStatusOut,
)
from medgrader.core.deps import Ctx, DbSession

router = APIRouter(prefix="/api/payments", tags=["checkout"])


@router.post(
    "/credit-checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutCreated,
    responses={502: {"description": "Stripe unreachable or refused; nothing was created"}},
)
async def credit_checkout(
    body: CheckoutRequest, user: CurrentStudent, ctx: Ctx, session: DbSession
) -> CheckoutCreated:
    return await service.create_checkout(session, ctx, user, body.package_id)


@router.get("/checkout-status/{session_id}", response_model=CheckoutStatusOut)
async def checkout_status(
    session_id: str, user: CurrentUser, ctx: Ctx, session: DbSession
) -> CheckoutStatusOut:
    return await service.checkout_status(session, ctx, user, session_id)


@router.get("/checkout-sessions", response_model=CheckoutSessionPage)
async def checkout_sessions(
    user: CurrentStudent,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CheckoutSessionPage:
    return await service.list_sessions(session, user, limit=limit, cursor=cursor)
