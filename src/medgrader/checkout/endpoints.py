"""HTTP: /api/payments/credit-checkout, /checkout-status/{id}, /checkout-sessions.

The first two call Stripe: their unit of work commits its first transaction (the caller's
token check and the reads) before the call and holds no connection during it
(medgrader.checkout.flows).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from medgrader.auth.deps import CurrentStudent, CurrentUser
from medgrader.checkout import answers, service
from medgrader.checkout.flows import refresh_pending, start_checkout
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutQuote,
    CheckoutRequest,
    CheckoutSessionPage,
    CheckoutStatusOut,
)
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.promotions.schemas import CODE_INPUT_PATTERN

PROMOTION_REFUSALS = (
    "promotion_not_found, promotion_not_applicable, promotion_exhausted, "
    "promotion_already_used, first_purchase_only (nothing written)"
)
router = APIRouter(prefix="/api/payments", tags=["checkout"])


@router.post(
    "/credit-checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutCreated,
    responses=errors(
        404,
        409,
        422,
        429,
        502,
        s404="package_not_found",
        s409="package_inactive",
        s422=PROMOTION_REFUSALS,
        s429="rate_limited: too many checkouts for this student",
        s502="Stripe unreachable or refused; nothing was created",
    ),
)
async def credit_checkout(
    body: CheckoutRequest, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> CheckoutCreated:
    # committed before the 201
    return await start_checkout(
        db, ctx, user, body.package_id, body.promotion_code, save_card=body.save_card
    )


@router.get(
    "/credit-checkout/preview",
    response_model=CheckoutQuote,
    responses=errors(
        404, 409, 422, s404="package_not_found", s409="package_inactive", s422=PROMOTION_REFUSALS
    ),
)
async def credit_checkout_preview(
    user: CurrentStudent,
    db: RequestDb,
    package_id: Annotated[uuid.UUID, Query(alias="packageId")],
    promotion_code: Annotated[
        str | None, Query(alias="promotionCode", pattern=CODE_INPUT_PATTERN)
    ] = None,
) -> CheckoutQuote:
    """What a checkout would charge and credit (the code's discount and bonus, or the
    auto-apply offer); opens nothing and writes nothing."""
    return await service.preview_checkout(db, user, package_id, promotion_code)


@router.get(
    "/checkout-status/{session_id}",
    response_model=CheckoutStatusOut,
    responses=errors(502, s502="Stripe unreachable while checking a pending session"),
)
async def checkout_status(
    session_id: str, user: CurrentUser, db: RequestDb, ctx: Ctx
) -> CheckoutStatusOut:
    row = await answers.find_session(db, user, session_id)
    return answers.status_out(await refresh_pending(db, ctx, row))


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
    return await answers.list_sessions(db, user, limit=limit, cursor=cursor)
