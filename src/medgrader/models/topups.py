"""Automatic top-up: a student's settings and the attempts to charge their saved card.

One `auto_top_up_settings` row per student who ever configured it. An attempt is queued by
the debit that leaves the available balance at or below the threshold (ledger.threshold), in
the debit's own transaction; a job charges the card off-session and settles it (topups.
charging). The database guards what must never happen twice (invariant 13):

- at most one attempt in flight (QUEUED or PROCESSING) per student: a partial UNIQUE index,
  so fifty debits crossing the threshold at once queue one attempt;
- one PaymentIntent per attempt (UNIQUE stripe_payment_intent_id), one Payment per attempt
  (payments.top_up_attempt_id UNIQUE) and one TOP_UP ledger entry per attempt (a partial
  UNIQUE index on credit_transactions.source_id, plus its idempotency key).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class AttemptStatus(StrEnum):
    QUEUED = "QUEUED"  # waiting for the job
    PROCESSING = "PROCESSING"  # the job asked Stripe (or is about to): the outcome may be there
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"  # never charged: the card or the setting went away first


IN_FLIGHT = (AttemptStatus.QUEUED, AttemptStatus.PROCESSING)


class TopUpState(StrEnum):
    """What GET /api/credits/auto-top-up calls the settings (derived, not stored)."""

    ACTIVE = "ACTIVE"
    OFF = "OFF"
    SUSPENDED = "SUSPENDED"


THRESHOLD_MAX = 100_000


class AutoTopUpSettings(Base):
    __tablename__ = "auto_top_up_settings"
    __table_args__ = (
        CheckConstraint(f"threshold_credits BETWEEN 0 AND {THRESHOLD_MAX}", name="threshold"),
        CheckConstraint("monthly_limit_pence > 0", name="monthly_limit_positive"),
        CheckConstraint("consecutive_failures >= 0", name="failures_non_negative"),
        # Turned on only with a card to charge.
        CheckConstraint("NOT enabled OR payment_method_id IS NOT NULL", name="enabled_has_card"),
        CheckConstraint(
            "(suspended_at IS NULL) = (suspended_reason IS NULL)", name="suspended_has_reason"
        ),
    )

    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("student_profiles.user_id"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    threshold_credits: Mapped[int] = mapped_column(Integer)
    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_packages.id"))
    monthly_limit_pence: Mapped[int] = mapped_column(Integer)
    # The saved card charged (a Stripe PaymentMethod of the student's Customer) and what the
    # wallet shows of it; its fingerprint tells "a different card" apart after a suspension.
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    card_fingerprint: Mapped[str | None] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(30))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    # Guards: failures in a row (reset by a success), and the suspension they lead to.
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class AutoTopUpAttempt(Base):
    __tablename__ = "auto_top_up_attempts"
    __table_args__ = (
        CheckConstraint(one_of("status", AttemptStatus), name="status"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint(
            f"({one_of('status', IN_FLIGHT)}) = (finished_at IS NULL)", name="finished_iff_done"
        ),
        # At most one attempt in flight per student: THE guard against a runaway loop or
        # racing debits charging twice (invariant 13). The enqueue's ON CONFLICT names it.
        Index(
            "uq_auto_top_up_attempts_in_flight",
            "student_id",
            unique=True,
            postgresql_where=text(one_of("status", IN_FLIGHT)),
        ),
        Index("ix_auto_top_up_attempts_student_created", "student_id", text("created_at DESC")),
        # Reconciliation reads the attempts still in flight, oldest first.
        Index(
            "ix_auto_top_up_attempts_in_flight_updated",
            "updated_at",
            postgresql_where=text(one_of("status", IN_FLIGHT)),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    # Snapshot when queued: a later catalogue or settings edit never changes what it charges.
    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_packages.id"))
    package_name: Mapped[str] = mapped_column(String(100))
    credits: Mapped[int] = mapped_column(Integer)
    amount_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), server_default="QUEUED")
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Stripe's error code (authentication_required, card_declined...) and decline code.
    failure_code: Mapped[str | None] = mapped_column(String(100))
    decline_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    # The on-session Checkout the failure email links to (one per attempt, first writer wins).
    recovery_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
