"""A student's subscription: starting one through Stripe Checkout, reading it, and the answers
to cancel / resume / change (Stripe is asked by subscriptions.flows, with no connection held).

Starting one: `prepare_checkout` (checks, and our INCOMPLETE row: the one-live-per-student
index makes a racing second checkout a 409) commits before Stripe is asked; `record_checkout`
stores the session; `abandon_checkout` closes the row if Stripe failed. None of them commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import text

from medgrader.auth.users import User
from medgrader.checkout.errors import EmailNotVerified
from medgrader.checkout.service import PROFILE, REPLACE_CUSTOMER, STORE_CUSTOMER
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.models.subscriptions import SubscriptionStatus
from medgrader.subscriptions import repository
from medgrader.subscriptions.errors import (
    AlreadySubscribed,
    NoSubscription,
    PlanNotAvailable,
    PlanNotFound,
    SubscriptionNotActive,
)
from medgrader.subscriptions.schemas import SubscriptionOut

ONE_LIVE_INDEX = "uq_subscriptions_one_live_per_student"
CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)
# A row whose Checkout Session was never recorded (the process died while Stripe answered):
# after this long it no longer keeps the student from subscribing.
STALE_INCOMPLETE = timedelta(minutes=10)

_CLOSE_STALE = text(
    """
    UPDATE subscriptions SET status = 'CANCELED', canceled_at = now(), updated_at = now()
     WHERE student_id = :student_id AND status = 'INCOMPLETE'
       AND stripe_checkout_session_id IS NULL AND created_at < :before
    """
)


@dataclass(frozen=True)
class SubscriptionCheckout:
    subscription_id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    stripe_price_id: str
    customer_id: str | None
    customer_name: str


async def prepare_checkout(db: Db, user: User, plan_id: uuid.UUID) -> SubscriptionCheckout:
    if user.email_verified_at is None:
        raise EmailNotVerified()
    plan = await repository.get_plan(db, plan_id)
    if plan is None:
        raise PlanNotFound()
    if not plan.is_active:
        raise PlanNotAvailable()
    stale_before = datetime.now(UTC) - STALE_INCOMPLETE
    await db.execute(_CLOSE_STALE, {"student_id": user.id, "before": stale_before})
    try:
        async with db.savepoint():
            row_id = await repository.insert_incomplete(db, student_id=user.id, plan_id=plan.id)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == ONE_LIVE_INDEX:
            raise AlreadySubscribed() from exc
        raise
    profile = (await db.execute(PROFILE, {"id": user.id})).one()
    return SubscriptionCheckout(
        subscription_id=row_id,
        plan_id=plan.id,
        plan_name=plan.name,
        stripe_price_id=plan.stripe_price_id,
        customer_id=profile.stripe_customer_id,
        customer_name=f"{profile.first_name} {profile.last_name}".strip(),
    )


def session_params(
    ctx: AppContext, user: User, plan: SubscriptionCheckout, customer_id: str
) -> dict[str, Any]:
    frontend = ctx.settings.frontend_url.rstrip("/")
    # The row id travels on Stripe's subscription: its invoices and events carry it, so a paid
    # invoice finds our row even before checkout.session.completed has linked it.
    metadata = {
        "student_id": str(user.id),
        "plan_id": str(plan.plan_id),
        "subscription_row_id": str(plan.subscription_id),
    }
    return {
        "mode": "subscription",
        "line_items": [{"price": plan.stripe_price_id, "quantity": 1}],
        "customer": customer_id,
        "client_reference_id": str(user.id),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": f"{frontend}/subscriptions/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{frontend}/credits/cancel",
        "expires_at": int((datetime.now(UTC) + CHECKOUT_LIFETIME).timestamp()),
    }


async def record_checkout(
    db: Db, user: User, plan: SubscriptionCheckout, customer_id: str, session_id: str,
    *, replaces: str | None = None,
) -> None:  # fmt: skip
    if replaces is not None:
        await db.execute(
            REPLACE_CUSTOMER, {"customer": customer_id, "id": user.id, "missing": replaces}
        )
    elif plan.customer_id is None:
        await db.execute(STORE_CUSTOMER, {"customer": customer_id, "id": user.id})
    await repository.set_fields(
        db, plan.subscription_id, stripe_checkout_session_id=session_id,
        stripe_customer_id=customer_id,
    )  # fmt: skip


async def abandon_checkout(db: Db, plan: SubscriptionCheckout) -> None:
    """Stripe failed: the INCOMPLETE row made for this checkout is closed at once."""
    await repository.set_fields(
        db, plan.subscription_id, status=SubscriptionStatus.CANCELED, canceled_at=datetime.now(UTC)
    )


def subscription_out(row: Any) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        plan_id=row.plan_id,
        plan_name=row.plan_name,
        status=row.status,
        credits_per_period=row.credits_per_period,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        next_plan_id=row.next_plan_id,
        next_plan_name=row.next_plan_name,
        change_effective_at=row.current_period_end if row.next_plan_id else None,
    )


async def current(db: Db, user: User) -> Any:
    row = await repository.current_for_student(db, user.id)
    if row is None:
        raise NoSubscription()
    return row


async def current_manageable(db: Db, user: User) -> Any:
    """The student's subscription that Stripe runs now (ACTIVE or PAST_DUE)."""
    row = await current(db, user)
    live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
    if row.status not in live or row.stripe_subscription_id is None:
        raise SubscriptionNotActive()
    return row


async def plan_for_change(db: Db, row: Any, plan_id: uuid.UUID) -> Any:
    plan = await repository.get_plan(db, plan_id)
    if plan is None:
        raise PlanNotFound()
    if not plan.is_active:
        raise PlanNotAvailable()
    return plan


async def record_change(db: Db, row: Any, plan: Any | None) -> None:
    """The next renewal bills `plan` (None, or back to the current plan: nothing pending)."""
    pending = None if plan is None or plan.id == row.plan_id else plan.id
    await repository.set_fields(db, row.id, next_plan_id=pending)
