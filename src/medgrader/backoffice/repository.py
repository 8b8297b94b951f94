"""Queries behind the back office's lists and record pages (reads only).

Lists are newest first, `limit + 1` rows so the caller knows whether a next page exists,
paged by offset: they are for people, who look at the first few pages.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db

_STUDENTS = text(
    """
    SELECT u.id, u.email, p.first_name, p.last_name, p.credit_balance, u.created_at
      FROM student_profiles p JOIN users u ON u.id = p.user_id
     WHERE CAST(:q AS text) IS NULL
        OR u.email ILIKE :pattern
        OR (p.first_name || ' ' || p.last_name) ILIKE :pattern
     ORDER BY u.created_at DESC, u.id
     LIMIT :limit OFFSET :offset
    """
)
_STUDENT = text(
    """
    SELECT u.id, u.email, u.created_at, u.email_verified_at, p.first_name, p.last_name,
           p.credit_balance, p.stripe_customer_id
      FROM student_profiles p JOIN users u ON u.id = p.user_id
     WHERE u.id = :id
    """
)
_EMAILS = text("SELECT id, email FROM users WHERE id = ANY(:ids)")
_SESSIONS = text(
    """
    SELECT stripe_session_id, status, package_name, credits, amount_pence, currency, created_at,
           completed_at
      FROM checkout_sessions WHERE student_id = :id
     ORDER BY created_at DESC LIMIT :limit
    """
)
_EVENT_TYPES = text("SELECT DISTINCT type FROM webhook_events ORDER BY type")


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def students(db: Db, q: str | None, *, limit: int, offset: int) -> list[Row[Any]]:
    params = {"q": q, "pattern": _like(q or ""), "limit": limit, "offset": offset}
    return list(await db.execute(_STUDENTS, params))


async def student(db: Db, student_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_STUDENT, {"id": student_id})).one_or_none()


async def emails_of(db: Db, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Email by user id, for the lists that show who a payment belongs to."""
    if not user_ids:
        return {}
    rows = await db.execute(_EMAILS, {"ids": list(set(user_ids))})
    return {row.id: row.email for row in rows}


async def checkout_sessions(db: Db, student_id: uuid.UUID, *, limit: int) -> list[Row[Any]]:
    return list(await db.execute(_SESSIONS, {"id": student_id, "limit": limit}))


async def event_types(db: Db) -> list[str]:
    return list((await db.execute(_EVENT_TYPES)).scalars())
