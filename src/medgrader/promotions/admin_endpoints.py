"""HTTP: /api/admin/promotions (the back office's promotions)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.promotions import service
from medgrader.promotions.schemas import (
    PromotionCreate,
    PromotionOut,
    PromotionUpdate,
    RedemptionOut,
)

router = APIRouter(prefix="/api/admin/promotions", tags=["promotions"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionOut,
    responses=errors(409, s409="promotion_code_taken, promotion_auto_apply_taken"),
)
async def create_promotion(
    body: PromotionCreate, admin: CurrentAdmin, db: RequestDb
) -> PromotionOut:
    return await service.create(db, body, admin.id)


@router.get("", response_model=list[PromotionOut])
async def list_promotions(_: CurrentAdmin, db: RequestDb) -> list[PromotionOut]:
    return await service.list_all(db)


@router.get(
    "/{promotion_id}", response_model=PromotionOut, responses=errors(404, s404="no_such_promotion")
)
async def get_promotion(promotion_id: uuid.UUID, _: CurrentAdmin, db: RequestDb) -> PromotionOut:
    return await service.get(db, promotion_id)


@router.patch(
    "/{promotion_id}",
    response_model=PromotionOut,
    responses=errors(
        404, 409, s404="no_such_promotion",
        s409="promotion_limit_below_uses, promotion_auto_apply_taken",
    ),
)  # fmt: skip
async def update_promotion(
    promotion_id: uuid.UUID, body: PromotionUpdate, _: CurrentAdmin, db: RequestDb
) -> PromotionOut:
    return await service.update(db, promotion_id, body)


@router.get(
    "/{promotion_id}/redemptions",
    response_model=list[RedemptionOut],
    responses=errors(404, s404="no_such_promotion"),
)
async def promotion_redemptions(
    promotion_id: uuid.UUID,
    _: CurrentAdmin,
    db: RequestDb,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RedemptionOut]:
    return await service.redemptions(db, promotion_id, limit=limit)
