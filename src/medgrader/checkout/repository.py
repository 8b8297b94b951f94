"""Queries for our checkout-session rows. Plain SQL: the fulfilment path is hot."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db

_COLUMNS = """id, stripe_session_id, student_id, package_id, package_name, credits, amount_pence,
              currency, status, session_url, stripe_payment_intent_id, expires_at, completed_at,
              created_at, discount_pence, promotion_id"""

_INSERT = text(
    f"""
    INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id, package_name,
                                   credits, amount_pence, currency, status, session_url, expires_at,
                                   discount_pence, promotion_id)
    VALUES (:stripe_session_id, :student_id, :package_id, :package_name, :credits, :amount_pence,
            :currency, 'PENDING', :session_url, :expires_at, :discount_pence, :promotion_id)
    RETURNING {_COLUMNS}
    """  # noqa: S608 - only the constant column list is interpolated
)
_BY_STRIPE_ID = text(f"SELECT {_COLUMNS} FROM checkout_sessions WHERE stripe_session_id = :sid")  # noqa: S608
# With, for the fulfilment, when its credits would expire (the package's validityDays from
# now; NULL: never).
LOCK_BY_STRIPE_ID = text(
    f"""
    SELECT {_COLUMNS},
           (SELECT now() + k.validity_days * INTERVAL '1 day' FROM credit_packages k
             WHERE k.id = checkout_sessions.package_id) AS lot_expires_at
      FROM checkout_sessions WHERE stripe_session_id = :sid FOR UPDATE
    """  # noqa: S608
)
# Status moves that never overwrite a COMPLETED session (nor go back from a final state).
_MARK = text(
    """
    UPDATE checkout_sessions SET status = :status, updated_at = now()
     WHERE id = :id AND status = 'PENDING'
    RETURNING status
    """
)
# Reconciliation's work list, oldest deadline first, walked by keyset (expires_at, id) on the
# partial index ix_checkout_sessions_pending_expiry.
_PENDING_BEFORE = text(
    """
    SELECT id, stripe_session_id, expires_at FROM checkout_sessions
     WHERE status = 'PENDING' AND created_at < :created_before
       AND (CAST(:after_expires AS timestamptz) IS NULL
            OR (expires_at, id) > (CAST(:after_expires AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY expires_at, id
     LIMIT :limit
    """
)
_PAGE = text(
    f"""
    SELECT {_COLUMNS} FROM checkout_sessions
     WHERE student_id = :student_id
       AND (CAST(:after_created AS timestamptz) IS NULL
            OR (created_at, id) < (CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY created_at DESC, id DESC
     LIMIT :limit
    """  # noqa: S608 - only the constant column list is interpolated
)

# The student's open session for this package with this promotion (typed, or the auto-apply
# one when no code is typed), still good for a while: a retried checkout gets it back.
_OPEN_PROMOTED = text(
    """
    SELECT c.stripe_session_id, c.session_url, c.expires_at, c.amount_pence, c.discount_pence,
           c.credits, c.currency, r.bonus_credits, p.code
      FROM checkout_sessions c
      JOIN promotions p ON p.id = c.promotion_id
      JOIN promotion_redemptions r ON r.checkout_session_id = c.id AND r.status = 'RESERVED'
     WHERE c.student_id = :student_id AND c.package_id = :package_id AND c.status = 'PENDING'
       AND c.expires_at > now() + interval '10 minutes'
       AND (p.code = :code OR (CAST(:code AS varchar) IS NULL AND p.auto_apply AND p.active))
     ORDER BY c.created_at DESC
     LIMIT 1
    """
)


async def open_promoted(
    db: Db, student_id: uuid.UUID, package_id: uuid.UUID, code: str | None
) -> Row[Any] | None:
    params = {"student_id": student_id, "package_id": package_id, "code": code}
    return (await db.execute(_OPEN_PROMOTED, params)).one_or_none()


async def insert(db: Db, **values: Any) -> Row[Any]:
    return (await db.execute(_INSERT, values)).one()


async def by_stripe_id(db: Db, stripe_session_id: str) -> Row[Any] | None:
    return (await db.execute(_BY_STRIPE_ID, {"sid": stripe_session_id})).one_or_none()


async def lock_by_stripe_id(db: Db, stripe_session_id: str) -> Row[Any] | None:
    """Our row, locked until the transaction ends: fulfilments of one session serialize here."""
    return (await db.execute(LOCK_BY_STRIPE_ID, {"sid": stripe_session_id})).one_or_none()


async def mark_if_pending(db: Db, row_id: uuid.UUID, status: str) -> bool:
    return (await db.execute(_MARK, {"id": row_id, "status": status})).first() is not None


async def page_for_student(
    db: Db,
    student_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row[Any]]:
    after_created, after_id = after if after is not None else (None, None)
    result = await db.execute(
        _PAGE,
        {
            "student_id": student_id,
            "after_created": after_created,
            "after_id": after_id,
            "limit": limit,
        },
    )
    return list(result)


async def pending_created_before(
    db: Db,
    created_before: datetime,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row[Any]]:
    """PENDING sessions created before the cutoff, after the keyset position (if any)."""
    after_expires, after_id = after if after is not None else (None, None)
    result = await db.execute(
        _PENDING_BEFORE,
        {
            "created_before": created_before,
            "after_expires": after_expires,
            "after_id": after_id,
            "limit": limit,
        },
    )
    return list(result)
