"""Accounts: users, the registrations waiting for their emailed code, and role profiles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
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

ROLES = ("student", "instructor")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are stored lower-cased; the index makes case-insensitive uniqueness a database
        # rule even for rows written by hand.
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        CheckConstraint(one_of("role", ROLES), name="role"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320))
    # NULL for an account created by Google sign-in: no password signs it in until a reset.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # The Google account (`sub` claim) linked to this user; it never changes for an account.
    google_sub: Mapped[str | None] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    is_admin: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Carried in every access token (`ver`); a password reset bumps it, ending every token.
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PendingRegistration(Base):
    """A sign-up waiting for its one-time code. The code is stored only as a keyed hash."""

    __tablename__ = "pending_registrations"
    __table_args__ = (
        Index("uq_pending_registrations_email_lower", text("lower(email)"), unique=True),
        CheckConstraint(one_of("role", ROLES), name="role"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    otp_hash: Mapped[str | None] = mapped_column(String(128))
    otp_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    send_window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sends_in_window: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = created_at()


class StudentProfile(Base):
    __tablename__ = "student_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Changed only by medgrader.ledger, always in the same transaction as a ledger entry.
    credit_balance: Mapped[int] = mapped_column(BigInteger, server_default="0")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    default_payment_method: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class InstructorProfile(Base):
    __tablename__ = "instructor_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
