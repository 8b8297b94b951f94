"""A Payment per fulfilled purchase, and the money that goes back: refunds and disputes.

`payments` carries the running totals that the one returns function (payments.returns) keeps
in step with Stripe under the payment's row lock: the amount refunded (refunds pending or
succeeded), the dispute funds withdrawn and not reinstated, and the credits taken back for
them. `refunds` and `disputes` mirror Stripe's objects, keyed by Stripe's ids.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class PaymentStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"
    DISPUTE_LOST = "DISPUTE_LOST"


class PaymentType(StrEnum):
    CREDITS = "CREDITS"  # a Checkout Session's purchase of a package
    SUBSCRIPTION = "SUBSCRIPTION"  # a paid subscription invoice


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("type", PaymentType), name="type"),
        # A purchase (Checkout Session or automatic top-up) has no invoice; a subscription
        # payment has its invoice (one_source: then nothing else).
        CheckConstraint(
            "(type = 'CREDITS' AND stripe_invoice_id IS NULL)"
            " OR (type = 'SUBSCRIPTION' AND stripe_invoice_id IS NOT NULL)",
            name="type_has_its_source",
        ),
        CheckConstraint(one_of("status", PaymentStatus), name="status"),
        # 0 for a purchase a promotion made free (nothing to refund).
        CheckConstraint("amount_pence >= 0", name="amount_nonnegative"),
        CheckConstraint(
            "amount_refunded_pence BETWEEN 0 AND amount_pence", name="refund_within_amount"
        ),
        CheckConstraint(
            "amount_disputed_pence BETWEEN 0 AND amount_pence", name="dispute_within_amount"
        ),
        # Invariant 8's ceiling, as a database rule: never more credits back than were bought.
        CheckConstraint(
            "credits_clawed_back BETWEEN 0 AND credits", name="clawback_within_credits"
        ),
        Index("ix_payments_student_created", "student_id", text("created_at DESC")),
        Index("ix_payments_created", text("created_at DESC")),
        Index("ix_payments_paid_at", "paid_at"),
        # A Payment comes from exactly one of: a paid Checkout Session, an automatic top-up
        # attempt (its off-session PaymentIntent), a paid subscription invoice; a Checkout
        # Session's payment has both its ids, any other neither.
        CheckConstraint(
            "num_nonnulls(checkout_session_id, top_up_attempt_id, stripe_invoice_id) = 1"
            " AND (checkout_session_id IS NULL) = (stripe_checkout_session_id IS NULL)",
            name="one_source",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    checkout_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checkout_sessions.id"), unique=True
    )
    # UNIQUE: one Payment per paid Checkout Session, enforced by the database (invariant 2).
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # UNIQUE: one Payment per paid subscription invoice (invariant 13).
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    # UNIQUE: one Payment per succeeded automatic top-up attempt (invariant 13).
    top_up_attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("auto_top_up_attempts.id"), unique=True
    )
    # UNIQUE: payments made from intents directly (top-ups, invoices) are one per intent too.
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    type: Mapped[str] = mapped_column(String(20), server_default="CREDITS")
    status: Mapped[str] = mapped_column(String(30), server_default="SUCCEEDED")
    amount_pence: Mapped[int] = mapped_column(Integer)
    # Refunds Stripe reports pending or succeeded (as Stripe's charge.amount_refunded counts).
    amount_refunded_pence: Mapped[int] = mapped_column(Integer, server_default="0")
    # Dispute funds withdrawn and not reinstated.
    amount_disputed_pence: Mapped[int] = mapped_column(Integer, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(Integer)
    # ceil(credits * (refunded + disputed) / amount), capped at credits: what the ledger holds
    # as REFUND/DISPUTE entries for this payment, net of returns.
    credits_clawed_back: Mapped[int] = mapped_column(Integer, server_default="0")
    # Bumped by every change to the totals; each ledger entry that moves credits back or forth
    # for this payment carries it in its UNIQUE idempotency key (returns:<payment>:<version>),
    # so two writers that bypassed the row lock could never both post.
    returns_version: Mapped[int] = mapped_column(Integer, server_default="0")
    package_name: Mapped[str] = mapped_column(String(100))
    receipt_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


REFUND_STATUSES = ("requires_action", "pending", "succeeded", "failed", "canceled")


class Refund(Base):
    """Our mirror of one Stripe refund of a payment."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint(one_of("status", REFUND_STATUSES), name="status"),
        CheckConstraint("credits_clawed_back >= 0", name="share_non_negative"),
        Index("ix_refunds_payment", "payment_id", "created_at"),
        Index("ix_refunds_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    stripe_refund_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    amount_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(String(500))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    # This refund's share of the clawback, fixed when it was first recorded (by whichever path).
    credits_clawed_back: Mapped[int] = mapped_column(Integer, server_default="0")
    # When we first saw it succeeded (kept if it fails later, Stripe's 5126): its credit note
    # is due from then on, and a debit note cancels it if the refund then fails.
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    stripe_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Dispute(Base):
    """Our mirror of one Stripe dispute (chargeback) of a payment."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("funds_withdrawn_pence >= 0", name="withdrawn_non_negative"),
        Index("ix_disputes_payment", "payment_id"),
        Index("ix_disputes_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    stripe_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    amount_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(50))
    # Funds withdrawn and not reinstated, per the dispute's balance transactions.
    funds_withdrawn_pence: Mapped[int] = mapped_column(Integer, server_default="0")
    # How many balance transactions the newest observation had: observations only move forward.
    balance_transaction_count: Mapped[int] = mapped_column(Integer, server_default="0")
    stripe_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
