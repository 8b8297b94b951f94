"""Queries for plans and subscriptions (Core statements on the models' tables)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, func, insert, select, text, update

from medgrader.db.session import Db
from medgrader.models.subscriptions import (
    LIVE_STATUSES,
    Plan,
    Subscription,
    SubscriptionStatus,
)

PLANS = Plan.__table__
SUBSCRIPTIONS = Subscription.__table__


async def list_plans(db: Db, *, include_inactive: bool) -> list[Any]:
    query = select(PLANS).order_by(PLANS.c.price_pence, func.lower(PLANS.c.name))
    if not include_inactive:
        query = query.where(PLANS.c.is_active.is_(True))
    return (await db.execute(query)).all()


async def get_plan(db: Db, plan_id: uuid.UUID) -> Any | None:
    return (await db.execute(select(PLANS).where(PLANS.c.id == plan_id))).one_or_none()


async def plan_by_price(db: Db, stripe_price_id: str) -> Any | None:
    query = select(PLANS).where(PLANS.c.stripe_price_id == stripe_price_id)
    return (await db.execute(query)).one_or_none()


async def name_taken(db: Db, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    query = select(exists().where(func.lower(PLANS.c.name) == name.lower()))
    if other_than is not None:
        query = select(
            exists().where(func.lower(PLANS.c.name) == name.lower(), PLANS.c.id != other_than)
        )
    return bool(await db.scalar(query))


async def insert_plan(db: Db, values: dict[str, Any]) -> Any:
    return (await db.execute(insert(PLANS).values(**values).returning(PLANS))).one()


async def update_plan(db: Db, plan_id: uuid.UUID, changes: dict[str, Any]) -> Any | None:
    statement = (
        update(PLANS)
        .where(PLANS.c.id == plan_id)
        .values(**changes, updated_at=func.now())
        .returning(PLANS)
    )
    return (await db.execute(statement)).one_or_none()


async def plan_has_had_subscriber(db: Db, plan_id: uuid.UUID) -> bool:
    """Anyone who ever subscribed to it, or was moved to it at a renewal."""
    query = select(
        exists().where(
            (SUBSCRIPTIONS.c.plan_id == plan_id) | (SUBSCRIPTIONS.c.next_plan_id == plan_id)
        )
    )
    return bool(await db.scalar(query))


# -- subscriptions --------------------------------------------------------------------------
_WITH_PLAN = """
    SELECT s.*, p.name AS plan_name, p.credits_per_period, p.price_pence, p.interval,
           p.rollover_max_credits, n.name AS next_plan_name
      FROM subscriptions s
      JOIN plans p ON p.id = s.plan_id
      LEFT JOIN plans n ON n.id = s.next_plan_id
"""
_CURRENT = text(
    _WITH_PLAN
    + """
     WHERE s.student_id = :student_id
     ORDER BY (s.status <> 'CANCELED') DESC, s.created_at DESC
     LIMIT 1
    """
)
_BY_ID = text(_WITH_PLAN + " WHERE s.id = :id")


async def current_for_student(db: Db, student_id: uuid.UUID) -> Any | None:
    """The student's live subscription, else their latest one."""
    return (await db.execute(_CURRENT, {"student_id": student_id})).one_or_none()


async def by_id(db: Db, subscription_id: uuid.UUID) -> Any | None:
    return (await db.execute(_BY_ID, {"id": subscription_id})).one_or_none()


async def live_exists(db: Db, student_id: uuid.UUID) -> bool:
    query = select(
        exists().where(
            SUBSCRIPTIONS.c.student_id == student_id, SUBSCRIPTIONS.c.status.in_(LIVE_STATUSES)
        )
    )
    return bool(await db.scalar(query))


async def insert_incomplete(db: Db, *, student_id: uuid.UUID, plan_id: uuid.UUID) -> uuid.UUID:
    """Our INCOMPLETE row, before Stripe is asked; the one-live index refuses a second."""
    statement = (
        insert(SUBSCRIPTIONS)
        .values(student_id=student_id, plan_id=plan_id, status=SubscriptionStatus.INCOMPLETE)
        .returning(SUBSCRIPTIONS.c.id)
    )
    return (await db.execute(statement)).scalar_one()  # type: ignore[no-any-return]


async def set_fields(db: Db, subscription_id: uuid.UUID, **values: Any) -> None:
    statement = (
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == subscription_id)
        .values(**values, updated_at=func.now())
    )
    await db.execute(statement)


_LOCK = text("SELECT * FROM subscriptions WHERE id = :id FOR UPDATE")
_LOCK_BY_STRIPE = text("SELECT * FROM subscriptions WHERE stripe_subscription_id = :sid FOR UPDATE")
_LOCK_BY_SESSION = text(
    "SELECT * FROM subscriptions WHERE stripe_checkout_session_id = :sid FOR UPDATE"
)


async def lock(db: Db, subscription_id: uuid.UUID) -> Any | None:
    return (await db.execute(_LOCK, {"id": subscription_id})).one_or_none()


async def lock_by_stripe_id(db: Db, stripe_subscription_id: str) -> Any | None:
    return (await db.execute(_LOCK_BY_STRIPE, {"sid": stripe_subscription_id})).one_or_none()


async def lock_by_session(db: Db, stripe_session_id: str) -> Any | None:
    return (await db.execute(_LOCK_BY_SESSION, {"sid": stripe_session_id})).one_or_none()


_KNOWN = text(
    """
    SELECT id, stripe_subscription_id FROM subscriptions
     WHERE stripe_subscription_id IS NOT NULL AND (status <> 'CANCELED' OR updated_at > :since)
     ORDER BY id
    """
)


async def known_for_reconciliation(db: Db, since: Any) -> list[Any]:
    """Subscriptions linked to Stripe that may have paid invoices to look at: every live one,
    and those canceled since `since` (their last invoice may still be undelivered)."""
    return (await db.execute(_KNOWN, {"since": since})).all()


_BACK_OFFICE = text(
    """
    SELECT s.id, s.status, s.current_period_start, s.current_period_end,
           s.cancel_at_period_end, s.created_at, u.email, p.name AS plan_name,
           (SELECT i.stripe_invoice_id || ' ' || to_char(i.paid_at, 'YYYY-MM-DD')
              FROM subscription_invoices i WHERE i.subscription_id = s.id
             ORDER BY i.period_start DESC LIMIT 1) AS latest_invoice
      FROM subscriptions s
      JOIN users u ON u.id = s.student_id
      JOIN plans p ON p.id = s.plan_id
     ORDER BY s.created_at DESC
     LIMIT :limit
    """
)


async def back_office_list(db: Db, *, limit: int) -> list[Any]:
    """The newest subscriptions, for the back office: status, student, plan, period and the
    latest paid invoice."""
    return (await db.execute(_BACK_OFFICE, {"limit": limit})).all()
