"""HTTP: /api/admin/plans (the back office's plans; each a Stripe Product and Price)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.subscriptions import flows, plans
from medgrader.subscriptions.schemas import PlanCreate, PlanOut, PlanUpdate

router = APIRouter(prefix="/api/admin/plans", tags=["subscriptions"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanOut,
    responses=errors(409, 502, s409="plan_name_taken", s502="Stripe refused; nothing created"),
)
async def create_plan(body: PlanCreate, _: CurrentAdmin, db: RequestDb, ctx: Ctx) -> PlanOut:
    return PlanOut.model_validate(await flows.create_plan(db, ctx, body))


@router.get("", response_model=list[PlanOut])
async def list_plans(_: CurrentAdmin, db: RequestDb) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await plans.list_plans(db, include_inactive=True)]


@router.patch(
    "/{plan_id}",
    response_model=PlanOut,
    responses=errors(
        404, 409, 502, s404="plan_not_found", s409="plan_name_taken, plan_in_use",
        s502="Stripe refused; nothing changed",
    ),
)  # fmt: skip
async def update_plan(
    plan_id: uuid.UUID, body: PlanUpdate, _: CurrentAdmin, db: RequestDb, ctx: Ctx
) -> PlanOut:
    return PlanOut.model_validate(await flows.update_plan(db, ctx, plan_id, body))
