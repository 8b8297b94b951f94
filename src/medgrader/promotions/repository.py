"""Queries for promotions and their figures. Plain SQL; nothing here commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from medgrader.db.session import Db

COLUMNS = """id, code, description, discount_percent, discount_amount_pence,
             bonus_credits_percent, bonus_credits, grant_credits, credits_expire_days,
             package_ids, min_amount_pence, first_purchase_only, auto_apply, max_redemptions,
             max_per_student, starts_at, ends_at, active, created_at, updated_at"""
# The figures of each promotion: live and released uses, and what the redeemed ones gave.
COUNTS = """
    COALESCE((SELECT count(*) FILTER (WHERE r.status = 'RESERVED') FROM promotion_redemptions r
               WHERE r.promotion_id = p.id), 0) AS reserved,
    COALESCE((SELECT count(*) FILTER (WHERE r.status = 'REDEEMED') FROM promotion_redemptions r
               WHERE r.promotion_id = p.id), 0) AS redeemed,
    COALESCE((SELECT count(*) FILTER (WHERE r.status = 'RELEASED') FROM promotion_redemptions r
               WHERE r.promotion_id = p.id), 0) AS released,
    COALESCE((SELECT sum(r.discount_pence) FROM promotion_redemptions r
               WHERE r.promotion_id = p.id AND r.status = 'REDEEMED'), 0) AS discounts_given,
    COALESCE((SELECT sum(r.granted_credits) FROM promotion_redemptions r
               WHERE r.promotion_id = p.id AND r.status = 'REDEEMED'), 0) AS credits_granted
"""
_P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in COLUMNS.split(","))

_INSERT = text(
    """
    INSERT INTO promotions (code, description, discount_percent, discount_amount_pence,
        bonus_credits_percent, bonus_credits, grant_credits, credits_expire_days, package_ids,
        min_amount_pence, first_purchase_only, auto_apply, max_redemptions, max_per_student,
        starts_at, ends_at, created_by)
    VALUES (:code, :description, :discount_percent, :discount_amount_pence,
        :bonus_credits_percent, :bonus_credits, :grant_credits, :credits_expire_days,
        :package_ids, :min_amount_pence, :first_purchase_only, :auto_apply, :max_redemptions,
        :max_per_student, :starts_at, :ends_at, :created_by)
    RETURNING id
    """
).bindparams(bindparam("package_ids", type_=ARRAY(UUID(as_uuid=True))))
_ONE = text(f"SELECT {_P_COLUMNS}, {COUNTS} FROM promotions p WHERE p.id = :id")  # noqa: S608
_ALL = text(f"SELECT {_P_COLUMNS}, {COUNTS} FROM promotions p ORDER BY p.created_at DESC, p.id")  # noqa: S608
_BY_CODE = text(f"SELECT {COLUMNS} FROM promotions WHERE code = :code")  # noqa: S608
_AUTO_APPLY = text(f"SELECT {COLUMNS} FROM promotions WHERE auto_apply AND active")  # noqa: S608
# The lock every use of the promotion queues on (promotions.limits), re-reading it fresh.
_LOCK = text(f"SELECT {COLUMNS} FROM promotions WHERE id = :id FOR NO KEY UPDATE")  # noqa: S608
_LIVE_USES = text(
    """
    SELECT count(*) FROM promotion_redemptions
     WHERE promotion_id = :id AND status IN ('RESERVED', 'REDEEMED')
    """
)
_KNOWN_PACKAGES = text("SELECT count(*) FROM credit_packages WHERE id = ANY(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
)
_REDEMPTIONS = text(
    """
    SELECT r.id, r.student_id, u.email AS student_email, r.status,
           s.stripe_session_id AS checkout_session_id, r.discount_pence,
           GREATEST(r.granted_credits, r.bonus_credits) AS credits,
           r.created_at, r.redeemed_at, r.released_at
      FROM promotion_redemptions r
      JOIN users u ON u.id = r.student_id
      LEFT JOIN checkout_sessions s ON s.id = r.checkout_session_id
     WHERE r.promotion_id = :id
     ORDER BY r.created_at DESC, r.id
     LIMIT :limit
    """
)


async def insert(db: Db, values: dict[str, Any]) -> uuid.UUID:
    return (await db.execute(_INSERT, values)).scalar_one()  # type: ignore[no-any-return]


async def one_with_counts(db: Db, promotion_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_ONE, {"id": promotion_id})).one_or_none()


async def all_with_counts(db: Db) -> list[Row[Any]]:
    return list(await db.execute(_ALL))


async def by_code(db: Db, code: str) -> Row[Any] | None:
    return (await db.execute(_BY_CODE, {"code": code})).one_or_none()


async def auto_apply(db: Db) -> Row[Any] | None:
    return (await db.execute(_AUTO_APPLY)).one_or_none()


async def lock(db: Db, promotion_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_LOCK, {"id": promotion_id})).one_or_none()


async def live_uses(db: Db, promotion_id: uuid.UUID) -> int:
    return int(await db.scalar(_LIVE_USES, {"id": promotion_id}))


async def known_packages(db: Db, ids: list[uuid.UUID]) -> int:
    return int(await db.scalar(_KNOWN_PACKAGES, {"ids": ids}))


async def update(db: Db, promotion_id: uuid.UUID, changes: dict[str, Any]) -> None:
    # Column names come from PromotionUpdate.changes (a fixed set), never from the request.
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    await db.execute(
        text(f"UPDATE promotions SET {assignments}, updated_at = now() WHERE id = :id"),  # noqa: S608
        {**changes, "id": promotion_id},
    )


async def redemptions(db: Db, promotion_id: uuid.UUID, *, limit: int) -> list[Row[Any]]:
    return list(await db.execute(_REDEMPTIONS, {"id": promotion_id, "limit": limit}))
