"""HTTP: /api/payments/credit-checkout, /checkout-status/{id}, /checkout-sessions.

The first two call Stripe, so they are their own transaction edge: short transactions before
and after the call, none during it (see medgrader.checkout.stripe_sync). Their caller is
looked up in a short transaction too (auth.deps.BriefUser), not in the request-long
`DbSession`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from medgrader.auth.deps import BriefStudent, BriefUser, CurrentStudent
from medgrader.checkout import service
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutRequest,
    CheckoutSessionPage,
    CheckoutStatusOut,
)
from medgrader.checkout.stripe_sync import refresh_pending, start_checkout
from medgrader.core.context import short_transaction
from medgrader.core.deps import Ctx, DbSession
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
async def credit_checkout(body: CheckoutRequest, user: BriefStudent, ctx: Ctx) -> CheckoutCreated:
    return await start_checkout(ctx, user, body.package_id)  # committed before the 201


@router.get(
    "/checkout-status/{session_id}",
    response_model=CheckoutStatusOut,
    responses=errors(502, s502="Stripe unreachable while checking a pending session"),
)
async def checkout_status(session_id: str, user: BriefUser, ctx: Ctx) -> CheckoutStatusOut:
    async with short_transaction(ctx) as session:
        row = await service.find_session(session, user, session_id)
    return service.status_out(await refresh_pending(ctx, row))


@router.get(
    "/checkout-sessions",
    response_model=CheckoutSessionPage,
    responses=errors(400, s400="invalid_cursor: not a cursor this API handed out"),
)
async def checkout_sessions(
    user: CurrentStudent,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CheckoutSessionPage:
    return await service.list_sessions(session, user, limit=limit, cursor=cursor)
