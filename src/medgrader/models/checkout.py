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
        # What Stripe must charge: 0 only for a 100 % discount (Stripe: no_payment_required).
        CheckConstraint("amount_pence >= 0", name="amount_nonnegative"),
        # A discount only ever comes from a promotion reserved for this session.
        CheckConstraint(
            "discount_pence >= 0 AND (discount_pence = 0 OR promotion_id IS NOT NULL)",
            name="discount_from_promotion",
        ),
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
    # The amount charged: the package's price less the promotion's discount.
    amount_pence: Mapped[int] = mapped_column(Integer)
    discount_pence: Mapped[int] = mapped_column(Integer, server_default="0")
    promotion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("promotions.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), server_default="PENDING")
    session_url: Mapped[str | None] = mapped_column(String(2048))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
