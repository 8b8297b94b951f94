"""Credit holds: reservations of credits for live usage (voice tutoring), not ledger entries.

A hold moves no balance. While ACTIVE and unexpired it counts against the student's available
balance (balance minus held); it ends CAPTURED (into one USAGE ledger entry), RELEASED or
EXPIRED. Expiry is a comparison with the database clock, so an expired hold stops counting
the moment `expires_at` passes; the sweep job only writes the EXPIRED status down later.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, one_of, uuid_pk
from medgrader.models.ledger import CreditTransaction


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


# The one definition of an active hold: ACTIVE and not yet at expires_at (`now()` is the
# transaction's start time). "Held" is what a student's active holds reserve: every reader of
# the available balance uses it (the ledger's debit guard, hold creation and extension, the
# balance endpoint, the audit); the limit on active holds counts the same rows.
_ACTIVE_OF_STUDENT = "h.student_id = {student} AND h.status = 'ACTIVE' AND h.expires_at > now()"
# (Only the constant predicate above is interpolated.)
HELD_BY_STUDENT = f"""(
    SELECT COALESCE(SUM(h.amount), 0) FROM credit_holds h WHERE {_ACTIVE_OF_STUDENT}
)"""  # noqa: S608
ACTIVE_BY_STUDENT = f"(SELECT count(*) FROM credit_holds h WHERE {_ACTIVE_OF_STUDENT})"  # noqa: S608


def held_sql(student: str) -> str:
    """The held total of the student named by the SQL expression `student` (e.g. ':student_id')."""
    return HELD_BY_STUDENT.format(student=student)


def active_count_sql(student: str) -> str:
    """How many active holds the student named by the SQL expression `student` has."""
    return ACTIVE_BY_STUDENT.format(student=student)


# The source_id of a capture's USAGE entry: one per hold (a UNIQUE index, migration 0008).
CAPTURE_SOURCE_PREFIX = "hold:"


class CreditHold(Base):
    __tablename__ = "credit_holds"
    __table_args__ = (
        CheckConstraint(one_of("status", HoldStatus), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("ttl_seconds BETWEEN 60 AND 86400", name="ttl_range"),
        # captured_amount is set exactly when the hold was captured, and never above the hold.
        CheckConstraint(
            "(status = 'CAPTURED') = (captured_amount IS NOT NULL)"
            " AND (captured_amount IS NULL OR captured_amount BETWEEN 1 AND amount)",
            name="captured_amount",
        ),
        CheckConstraint("(status = 'ACTIVE') = (closed_at IS NULL)", name="closed_at"),
        # What the available balance sums: a partial index only ACTIVE rows stay in.
        Index(
            "ix_credit_holds_active",
            "student_id",
            "expires_at",
            postgresql_include=["amount"],
            postgresql_where=text("status = 'ACTIVE'"),
        ),
        Index("ix_credit_holds_student_seq", "student_id", text("seq DESC")),
        Index("ix_credit_holds_sweep", "expires_at", postgresql_where=text("status = 'ACTIVE'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Orders a student's list (cursor pagination), like the ledger's seq.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    # users.id, not student_profiles: a hold insert's FK lock must not land on the hot balance
    # row (see migration 0003); creation still requires a student profile.
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(10), server_default=HoldStatus.ACTIVE.value)
    # Credits reserved (kept when the hold closes; "held now" is 0 once it is not ACTIVE).
    amount: Mapped[int] = mapped_column(BigInteger)
    captured_amount: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    ttl_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# A hold is captured at most once: at most one USAGE entry may carry its source_id. Declared
# here, beside the holds, though it indexes the ledger's table (spends leave source_id NULL).
Index(
    "uq_credit_transactions_hold_capture",
    CreditTransaction.source_id,
    unique=True,
    postgresql_where=text(f"source_type = 'USAGE' AND source_id LIKE '{CAPTURE_SOURCE_PREFIX}%'"),
)
