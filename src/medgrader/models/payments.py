"""A Payment per fulfilled purchase: the money side of a PURCHASE ledger entry."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, updated_at, uuid_pk


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("type IN ('CREDITS')", name="type"),
        CheckConstraint(
            "status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'DISPUTED')",
            name="status",
        ),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint(
            "amount_refunded_pence BETWEEN 0 AND amount_pence", name="refund_within_amount"
        ),
        Index("ix_payments_student_created", "student_id", text("created_at DESC")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    checkout_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkout_sessions.id"), unique=True
    )
    # UNIQUE: one Payment per paid Checkout Session, enforced by the database (invariant 2).
    stripe_checkout_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    type: Mapped[str] = mapped_column(String(20), server_default="CREDITS")
    status: Mapped[str] = mapped_column(String(30), server_default="SUCCEEDED")
    amount_pence: Mapped[int] = mapped_column(Integer)
    amount_refunded_pence: Mapped[int] = mapped_column(Integer, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(Integer)
    package_name: Mapped[str] = mapped_column(String(100))
    receipt_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
