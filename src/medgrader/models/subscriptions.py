"""Monthly (or yearly) credit plans, the students' subscriptions to them, and each paid period.

`plans` mirror a Stripe Product with one recurring Price (made when the plan is created; the
price, credits and interval never change once someone subscribed). `subscriptions` is ours,
made INCOMPLETE before Stripe's Checkout is opened and kept in step with Stripe's subscription
by its events; one live subscription per student is a partial UNIQUE index.
`subscription_invoices` is one row per PAID Stripe invoice that granted credits: UNIQUE
(stripe_invoice_id) is what makes a period's credits exactly-once (invariant 13), with its
Payment and its ledger entry. It also records the period's expiry and value (its paid lot;
when it expires, up to the plan's rolloverMaxCredits of it roll over: migration 0018).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class PlanInterval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "INCOMPLETE"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    CANCELED = "CANCELED"


# A student has at most one subscription in these states (409 already_subscribed).
LIVE_STATUSES = (
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
)


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        Index("uq_plans_name_lower", text("lower(name)"), unique=True),
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint("credits_per_period BETWEEN 1 AND 100000", name="credits_range"),
        CheckConstraint("price_pence BETWEEN 30 AND 10000000", name="price_range"),
        CheckConstraint(
            "rollover_max_credits BETWEEN 0 AND credits_per_period", name="rollover_range"
        ),
        CheckConstraint(one_of("interval", PlanInterval), name="interval"),
        CheckConstraint("currency = 'GBP'", name="currency_gbp"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    credits_per_period: Mapped[int] = mapped_column(Integer)
    price_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), server_default="GBP")
    interval: Mapped[str] = mapped_column(String(10))
    rollover_max_credits: Mapped[int] = mapped_column(Integer, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    stripe_product_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_price_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(one_of("status", SubscriptionStatus), name="status"),
        # One live subscription per student: a database rule, not a read-then-write.
        Index(
            "uq_subscriptions_one_live_per_student",
            "student_id",
            unique=True,
            postgresql_where=text(one_of("status", LIVE_STATUSES)),
        ),
        Index("ix_subscriptions_student_created", "student_id", text("created_at DESC")),
        Index("ix_subscriptions_plan", "plan_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    # The plan of the period being served (the latest paid invoice's), and the one the next
    # renewal bills when the student changed plan.
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    next_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(20), server_default="INCOMPLETE")
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    current_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default="false")
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SubscriptionInvoice(Base):
    """One paid period: the credits it granted, once per Stripe invoice."""

    __tablename__ = "subscription_invoices"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("amount_paid_pence >= 0", name="amount_nonnegative"),
        CheckConstraint("period_end > period_start", name="period_order"),
        Index("ix_subscription_invoices_subscription", "subscription_id", "period_start"),
        Index("ix_subscription_invoices_paid_at", "paid_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # UNIQUE: a period's credits are granted once per Stripe invoice (invariant 13).
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    stripe_subscription_id: Mapped[str] = mapped_column(String(255))
    billing_reason: Mapped[str] = mapped_column(String(40))
    amount_paid_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The paid lot's terms, computed in ONE place (subscriptions.grants): its credits expire at
    # the end of the invoice's period and are worth what the invoice paid.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value_pence: Mapped[int] = mapped_column(Integer)
    # Chosen before the Payment is inserted (this row is the exactly-once gate, written
    # first): the reference is checked at commit, by which time the Payment exists. The
    # ledger entry is found by its source (SUBSCRIPTION, the Stripe invoice id).
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", deferrable=True, initially="DEFERRED"), unique=True
    )
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
