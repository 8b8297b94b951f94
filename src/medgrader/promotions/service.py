"""The back office's promotions: create, list, read with their figures, change.

Invariants kept here: codes are stored upper-cased and unique (409 on a clash, whatever the
case sent); at most one active auto-apply promotion (a partial UNIQUE index, 409); a limit is
never lowered below the uses live now (read under the promotion's row lock, the lock every
reservation takes, so no reservation slips in between).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from medgrader.core.errors import Unprocessable
from medgrader.db.session import Db
from medgrader.promotions import repository
from medgrader.promotions.errors import (
    AutoApplyTaken,
    LimitBelowUses,
    NoSuchPromotion,
    PromotionCodeTaken,
)
from medgrader.promotions.rules import normalise
from medgrader.promotions.schemas import (
    PromotionCounts,
    PromotionCreate,
    PromotionOut,
    PromotionUpdate,
    RedemptionOut,
)

_CLASHES = {
    "uq_promotions_code": PromotionCodeTaken,
    "uq_promotions_one_auto_apply": AutoApplyTaken,
}


@asynccontextmanager
async def _unique(db: Db) -> AsyncIterator[None]:
    """A savepoint in which a clash on a UNIQUE rule becomes its 409."""
    try:
        async with db.savepoint():
            yield
    except psycopg.errors.UniqueViolation as exc:
        refusal = _CLASHES.get(exc.diag.constraint_name or "")
        if refusal is None:
            raise
        raise refusal() from exc


def out(row: Any) -> PromotionOut:
    return PromotionOut(
        id=row.id, code=row.code,
        kind="credits" if row.grant_credits is not None else "purchase",
        description=row.description, discount_percent=row.discount_percent,
        discount_amount_minor=row.discount_amount_pence,
        bonus_credits_percent=row.bonus_credits_percent, bonus_credits=row.bonus_credits,
        grant_credits=row.grant_credits, credits_expire_days=row.credits_expire_days,
        package_ids=row.package_ids, min_amount_minor=row.min_amount_pence,
        first_purchase_only=row.first_purchase_only, auto_apply=row.auto_apply,
        max_redemptions=row.max_redemptions, max_per_student=row.max_per_student,
        starts_at=row.starts_at, ends_at=row.ends_at, active=row.active,
        created_at=row.created_at, updated_at=row.updated_at,
        counts=PromotionCounts(
            reserved=row.reserved, redeemed=row.redeemed, released=row.released,
            discounts_given=row.discounts_given, credits_granted=row.credits_granted,
        ),
    )  # fmt: skip


async def create(db: Db, body: PromotionCreate, admin_id: uuid.UUID) -> PromotionOut:
    if body.package_ids is not None:
        ids = list(dict.fromkeys(body.package_ids))
        if await repository.known_packages(db, ids) != len(ids):
            raise Unprocessable("packageIds names a package that does not exist.")
    values = {
        "code": normalise(body.code), "description": body.description,
        "discount_percent": body.discount_percent,
        "discount_amount_pence": body.discount_amount_minor,
        "bonus_credits_percent": body.bonus_credits_percent, "bonus_credits": body.bonus_credits,
        "grant_credits": body.grant_credits, "credits_expire_days": body.credits_expire_days,
        "package_ids": body.package_ids, "min_amount_pence": body.min_amount_minor,
        "first_purchase_only": body.first_purchase_only, "auto_apply": body.auto_apply,
        "max_redemptions": body.max_redemptions, "max_per_student": body.max_per_student,
        "starts_at": body.starts_at, "ends_at": body.ends_at, "created_by": admin_id,
    }  # fmt: skip
    async with _unique(db):
        promotion_id = await repository.insert(db, values)
    return await get(db, promotion_id)


async def get(db: Db, promotion_id: uuid.UUID) -> PromotionOut:
    row = await repository.one_with_counts(db, promotion_id)
    if row is None:
        raise NoSuchPromotion()
    return out(row)


async def list_all(db: Db) -> list[PromotionOut]:
    return [out(row) for row in await repository.all_with_counts(db)]


async def update(db: Db, promotion_id: uuid.UUID, body: PromotionUpdate) -> PromotionOut:
    changes = body.changes()
    if changes.get("active") is None:
        changes.pop("active", None)
    locked = await repository.lock(db, promotion_id)
    if locked is None:
        raise NoSuchPromotion()
    if not changes:
        return await get(db, promotion_id)
    if "max_redemptions" in changes:
        limit = changes["max_redemptions"]
        if limit is not None and limit < await repository.live_uses(db, promotion_id):
            raise LimitBelowUses()
    ends_at = changes.get("ends_at")
    if ends_at is not None and locked.starts_at is not None and ends_at <= locked.starts_at:
        raise Unprocessable("endsAt must be after startsAt.")
    async with _unique(db):
        await repository.update(db, promotion_id, changes)
    return await get(db, promotion_id)


async def redemptions(db: Db, promotion_id: uuid.UUID, *, limit: int) -> list[RedemptionOut]:
    await get(db, promotion_id)
    rows = await repository.redemptions(db, promotion_id, limit=limit)
    return [
        RedemptionOut(
            id=r.id, student_id=r.student_id, student_email=r.student_email, status=r.status,
            checkout_session_id=r.checkout_session_id, discount=r.discount_pence,
            credits=r.credits, created_at=r.created_at, redeemed_at=r.redeemed_at,
            released_at=r.released_at,
        )
        for r in rows
    ]  # fmt: skip
