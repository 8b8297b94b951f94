"""Keeping our subscription row in step with Stripe's: one function, `apply_stripe_subscription`,
for the `customer.subscription.*` webhooks (the subscription retrieved from Stripe when the
event is handled, so late or reordered events cannot move it back), the student's own
cancel / resume / change (Stripe's answer), and the Checkout Session that started it.

CANCELED is final: nothing moves a row out of it. The period comes from Stripe's subscription
item (API 2026-10-28: `items.data[].current_period_start|end`) and only moves forward.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from medgrader.checkout.fulfilment import Outcome
from medgrader.db.session import Db
from medgrader.models.subscriptions import SubscriptionStatus
from medgrader.subscriptions import repository
from medgrader.subscriptions.invoices import lock_subscription

log = structlog.get_logger(__name__)

STATUS_FROM_STRIPE = {
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "trialing": SubscriptionStatus.ACTIVE,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}


def _at(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if type(value) is int else None


def _period(stripe_sub: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    items = (stripe_sub.get("items") or {}).get("data") or []
    item = items[0] if items and isinstance(items[0], dict) else {}
    start = item.get("current_period_start", stripe_sub.get("current_period_start"))
    end = item.get("current_period_end", stripe_sub.get("current_period_end"))
    return _at(start), _at(end)


async def apply_stripe_subscription(db: Db, stripe_sub: dict[str, Any]) -> Outcome:
    stripe_id = stripe_sub.get("id")
    if not isinstance(stripe_id, str):
        return Outcome("malformed: subscription id")
    row = await lock_subscription(db, stripe_sub, stripe_id)
    if row is None:
        return Outcome("unknown_subscription")
    if row.status == SubscriptionStatus.CANCELED:
        return Outcome("unchanged: already CANCELED")
    status = STATUS_FROM_STRIPE.get(str(stripe_sub.get("status")))
    if status is None:
        return Outcome(f"unchanged: stripe status {stripe_sub.get('status')!r}")
    if status == SubscriptionStatus.INCOMPLETE and row.status != SubscriptionStatus.INCOMPLETE:
        status = row.status  # never back to INCOMPLETE once started
    values: dict[str, Any] = {
        "status": status,
        "cancel_at_period_end": bool(stripe_sub.get("cancel_at_period_end"))
        or stripe_sub.get("cancel_at") is not None,
    }
    start, end = _period(stripe_sub)
    if end is not None and (row.current_period_end is None or end >= row.current_period_end):
        values["current_period_start"], values["current_period_end"] = start, end
    if status == SubscriptionStatus.CANCELED:
        values["canceled_at"] = _at(stripe_sub.get("ended_at")) or datetime.now(UTC)
        values["next_plan_id"] = None
    await repository.set_fields(db, row.id, **values)
    return Outcome(f"subscription_{status.lower()}")


async def session_completed(db: Db, session: dict[str, Any]) -> Outcome:
    """A subscription's Checkout Session completed: it links our row to Stripe's subscription
    and customer, and grants nothing (the paid invoice does, exactly once)."""
    row = await repository.lock_by_session(db, str(session.get("id")))
    if row is None:
        return Outcome("unknown_subscription_session")
    stripe_id, customer = session.get("subscription"), session.get("customer")
    stripe_id = stripe_id.get("id") if isinstance(stripe_id, dict) else stripe_id
    customer = customer.get("id") if isinstance(customer, dict) else customer
    if row.stripe_subscription_id is None and isinstance(stripe_id, str):
        await repository.set_fields(db, row.id, stripe_subscription_id=stripe_id)
    if row.stripe_customer_id is None and isinstance(customer, str):
        await repository.set_fields(db, row.id, stripe_customer_id=customer)
    return Outcome("subscription_session_completed")


async def session_expired(db: Db, session: dict[str, Any]) -> Outcome:
    """A subscription's Checkout Session expired unpaid: its INCOMPLETE row is closed, so the
    student may subscribe again."""
    row = await repository.lock_by_session(db, str(session.get("id")))
    if row is None:
        return Outcome("unknown_subscription_session")
    if row.status != SubscriptionStatus.INCOMPLETE or row.stripe_subscription_id is not None:
        return Outcome(f"unchanged: {row.status}")
    await repository.set_fields(
        db, row.id, status=SubscriptionStatus.CANCELED, canceled_at=datetime.now(UTC)
    )
    return Outcome("subscription_checkout_expired")
