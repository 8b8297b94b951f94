"""HTTP: /api/plans (anyone) and /api/subscriptions/... (a student's own subscription).

Checkout, cancel, resume, change and the portal call Stripe: their unit of work commits its
first transaction before the call and holds no connection during it (subscriptions.flows).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from medgrader.auth.deps import CurrentStudent
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.subscriptions import flows, plans, service
from medgrader.subscriptions.schemas import (
    PlanChangeIn,
    PlanOut,
    PortalOut,
    SubscriptionCheckoutIn,
    SubscriptionCheckoutOut,
    SubscriptionOut,
)

plans_router = APIRouter(prefix="/api/plans", tags=["subscriptions"])
router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])
NOT_LIVE = "subscription_not_active: not started yet, or canceled"


@plans_router.get("", response_model=list[PlanOut])
async def list_plans(db: RequestDb) -> list[PlanOut]:
    """The active plans, cheapest first."""
    return [PlanOut.model_validate(p) for p in await plans.list_plans(db)]


@plans_router.get(
    "/{plan_id}", response_model=PlanOut, responses=errors(404, s404="plan_not_found")
)
async def get_plan(plan_id: uuid.UUID, db: RequestDb) -> PlanOut:
    return PlanOut.model_validate(await plans.get_plan(db, plan_id))


@router.post(
    "/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionCheckoutOut,
    responses=errors(
        404, 409, 422, 502, s404="plan_not_found", s409="already_subscribed",
        s422="plan_not_available", s502="Stripe unreachable or refused; nothing was created",
    ),
)  # fmt: skip
async def checkout(
    body: SubscriptionCheckoutIn, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> SubscriptionCheckoutOut:
    return await flows.start_checkout(db, ctx, user, body.plan_id)  # type: ignore[no-any-return]


@router.get(
    "/current", response_model=SubscriptionOut, responses=errors(404, s404="no_subscription")
)
async def current(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> SubscriptionOut:
    """The student's subscription (the live one, else the latest). One still INCOMPLETE is
    first checked with Stripe, so the return from Checkout shows it paid at once."""
    row = await flows.refresh_incomplete(db, ctx, await service.current(db, user))
    return service.subscription_out(row)


@router.post(
    "/current/cancel",
    response_model=SubscriptionOut,
    responses=errors(404, 409, 502, s404="no_subscription", s409=NOT_LIVE),
)
async def cancel(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> SubscriptionOut:
    """Cancel at the end of the period already paid (its credits stay until they expire)."""
    return await flows.set_cancel_at_period_end(db, ctx, user, cancel=True)


@router.post(
    "/current/resume",
    response_model=SubscriptionOut,
    responses=errors(404, 409, 502, s404="no_subscription", s409=NOT_LIVE),
)
async def resume(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> SubscriptionOut:
    """Undo a cancellation at the period's end."""
    return await flows.set_cancel_at_period_end(db, ctx, user, cancel=False)


@router.post(
    "/current/change",
    response_model=SubscriptionOut,
    responses=errors(
        404, 409, 422, 502, s404="no_subscription, plan_not_found", s409=NOT_LIVE,
        s422="plan_not_available, plan_unchanged",
    ),
)  # fmt: skip
async def change(
    body: PlanChangeIn, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> SubscriptionOut:
    """Another plan from the next renewal on (no proration): `changeEffectiveAt` says when."""
    return await flows.change_plan(db, ctx, user, body.plan_id)


@router.post(
    "/portal",
    response_model=PortalOut,
    responses=errors(404, 409, 502, s404="no_subscription", s409=NOT_LIVE),
)
async def portal(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> PortalOut:
    """A Stripe Billing Portal session: update the card, see invoices, cancel."""
    return PortalOut(url=await flows.portal_url(db, ctx, user))
