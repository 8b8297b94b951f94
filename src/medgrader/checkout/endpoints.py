"""HTTP: /api/payments/credit-checkout, /checkout-status/{id}, /checkout-sessions.

The first two call Stripe: their unit of work commits its first transaction (the caller's
token check and the reads) before the call and holds no connection during it
(medgrader.checkout.flows).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from medgrader.auth.deps import CurrentStudent, CurrentUser
from medgrader.checkout import service
from medgrader.checkout.flows import refresh_pending, start_checkout
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutRequest,
    CheckoutSessionPage,
    CheckoutStatusOut,
)
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors

router = APIRouter(prefix="/api/payments", tags=["checkout"])


@router.post(
    "/credit-checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutCreated,
    responses=errors(
        404,
        409,
        429,
        502,
        s404="package_not_found",
        s409="package_inactive",
        s429="rate_limited: too many checkouts for this student",
        s502="Stripe unreachable or refused; nothing was created",
    ),
)
async def credit_checkout(
    body: CheckoutRequest, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> CheckoutCreated:
    # committed before the 201
    return await start_checkout(db, ctx, user, body.package_id, save_card=body.save_card)


@router.get(
    "/checkout-status/{session_id}",
    response_model=CheckoutStatusOut,
    responses=errors(502, s502="Stripe unreachable while checking a pending session"),
)
async def checkout_status(
    session_id: str, user: CurrentUser, db: RequestDb, ctx: Ctx
) -> CheckoutStatusOut:
    row = await service.find_session(db, user, session_id)
    return service.status_out(await refresh_pending(db, ctx, row))


@router.get(
    "/checkout-sessions",
    response_model=CheckoutSessionPage,
    responses=errors(400, s400="invalid_cursor: not a cursor this API handed out"),
)
async def checkout_sessions(
    user: CurrentStudent,
    db: RequestDb,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CheckoutSessionPage:
    return await service.list_sessions(db, user, limit=limit, cursor=cursor)
