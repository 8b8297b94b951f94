"""Our record of each Stripe Checkout Session: the authority on what a payment must buy."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class CheckoutStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


class CheckoutSession(Base):
    __tablename__ = "checkout_sessions"
    __table_args__ = (
        CheckConstraint(one_of("status", CheckoutStatus), name="status"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint(
            "(status = 'COMPLETED') = (completed_at IS NOT NULL)", name="completed_at_iff_completed"
        ),
        Index("ix_checkout_sessions_student_created", "student_id", text("created_at DESC")),
        # The back office's conversion figures count sessions by creation time (0011).
        Index("ix_checkout_sessions_created", "created_at"),
        Index(
            "ix_checkout_sessions_pending_expiry",
            "expires_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    stripe_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_packages.id"))
    # Snapshot at creation: a later catalogue edit never changes what this session buys.
    package_name: Mapped[str] = mapped_column(String(100))
    credits: Mapped[int] = mapped_column(Integer)
    amount_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), server_default="PENDING")
    session_url: Mapped[str | None] = mapped_column(String(2048))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
