"""Queries behind the back office's lists and record pages (reads only).

Lists are newest first, `limit + 1` rows so the caller knows whether a next page exists,
paged by offset: they are for people, who look at the first few pages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

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
_PAYMENT_COLUMNS = """p.id, p.student_id, u.email, p.status, p.amount_pence,
    p.amount_refunded_pence, p.amount_disputed_pence, p.currency, p.credits,
    p.credits_clawed_back, p.package_name,
    p.stripe_checkout_session_id, p.stripe_payment_intent_id, p.stripe_charge_id, p.paid_at,
    p.receipt_sent_at, p.created_at"""
_PAYMENTS = text(
    f"""
    SELECT {_PAYMENT_COLUMNS}
      FROM payments p JOIN users u ON u.id = p.student_id
     WHERE (CAST(:student_id AS uuid) IS NULL OR p.student_id = CAST(:student_id AS uuid))
       AND (CAST(:status AS text) IS NULL OR p.status = :status)
       AND (CAST(:package AS text) IS NULL OR p.package_name = :package)
       AND (CAST(:email AS text) IS NULL OR u.email ILIKE :email_pattern)
       AND (CAST(:start AS timestamptz) IS NULL OR p.paid_at >= CAST(:start AS timestamptz))
       AND (CAST(:end AS timestamptz) IS NULL OR p.paid_at < CAST(:end AS timestamptz))
     ORDER BY p.created_at DESC, p.id
     LIMIT :limit OFFSET :offset
    """  # noqa: S608 - only the constant column list is interpolated
)
_PAYMENT = text(
    f"SELECT {_PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.student_id"  # noqa: S608
    " WHERE p.id = :id"
)
_REFUNDS = text(
    """
    SELECT r.id, r.stripe_refund_id, r.amount_pence, r.currency, r.status, r.reason, r.note,
           r.failure_reason, r.credits_clawed_back, r.created_at, a.email AS actor_email
      FROM refunds r LEFT JOIN users a ON a.id = r.actor_id
     WHERE r.payment_id = :id ORDER BY r.created_at
    """
)
_DISPUTES = text(
    """
    SELECT id, stripe_dispute_id, amount_pence, currency, status, reason, funds_withdrawn_pence,
           created_at
      FROM disputes WHERE payment_id = :id ORDER BY created_at
    """
)
_SESSIONS = text(
    """
    SELECT stripe_session_id, status, package_name, credits, amount_pence, currency, created_at,
           completed_at
      FROM checkout_sessions WHERE student_id = :id
     ORDER BY created_at DESC LIMIT :limit
    """
)
_PACKAGE_NAMES = text("SELECT DISTINCT package_name FROM payments ORDER BY package_name")
_EVENTS = text(
    """
    SELECT id, type, received_at, processed_at, outcome, attempts
      FROM webhook_events
     WHERE (CAST(:type AS text) IS NULL OR type = :type)
       AND (CAST(:outcome AS text) IS NULL OR outcome ILIKE :outcome_pattern)
       AND (NOT :unprocessed OR processed_at IS NULL)
     ORDER BY received_at DESC, id
     LIMIT :limit OFFSET :offset
    """
)
_EVENT = text(
    """
    SELECT id, type, received_at, processed_at, outcome, attempts, payload::text AS payload
      FROM webhook_events WHERE id = :id
    """
)
_EVENT_TYPES = text("SELECT DISTINCT type FROM webhook_events ORDER BY type")


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def students(
    session: AsyncSession, q: str | None, *, limit: int, offset: int
) -> list[Row[Any]]:
    params = {"q": q, "pattern": _like(q or ""), "limit": limit, "offset": offset}
    return list(await session.execute(_STUDENTS, params))


async def student(session: AsyncSession, student_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(_STUDENT, {"id": student_id})).one_or_none()


@dataclass(frozen=True)
class PaymentFilters:
    student_id: uuid.UUID | None = None
    status: str | None = None
    package: str | None = None
    email: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def payments(
    session: AsyncSession, filters: PaymentFilters, *, limit: int, offset: int
) -> list[Row[Any]]:
    params = {
        "student_id": filters.student_id,
        "status": filters.status,
        "package": filters.package,
        "email": filters.email,
        "email_pattern": _like(filters.email or ""),
        "start": filters.start,
        "end": filters.end,
        "limit": limit,
        "offset": offset,
    }
    return list(await session.execute(_PAYMENTS, params))


async def payment(session: AsyncSession, payment_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(_PAYMENT, {"id": payment_id})).one_or_none()


async def refunds(session: AsyncSession, payment_id: uuid.UUID) -> list[Row[Any]]:
    return list(await session.execute(_REFUNDS, {"id": payment_id}))


async def disputes(session: AsyncSession, payment_id: uuid.UUID) -> list[Row[Any]]:
    return list(await session.execute(_DISPUTES, {"id": payment_id}))


async def checkout_sessions(
    session: AsyncSession, student_id: uuid.UUID, *, limit: int
) -> list[Row[Any]]:
    return list(await session.execute(_SESSIONS, {"id": student_id, "limit": limit}))


async def package_names(session: AsyncSession) -> list[str]:
    return list((await session.execute(_PACKAGE_NAMES)).scalars())


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    outcome: str | None = None
    unprocessed: bool = False


async def events(
    session: AsyncSession, filters: EventFilters, *, limit: int, offset: int
) -> list[Row[Any]]:
    params = {
        "type": filters.type,
        "outcome": filters.outcome,
        "outcome_pattern": _like(filters.outcome or ""),
        "unprocessed": filters.unprocessed,
        "limit": limit,
        "offset": offset,
    }
    return list(await session.execute(_EVENTS, params))


async def event(session: AsyncSession, event_id: str) -> Row[Any] | None:
    return (await session.execute(_EVENT, {"id": event_id})).one_or_none()


async def event_types(session: AsyncSession) -> list[str]:
    return list((await session.execute(_EVENT_TYPES)).scalars())
