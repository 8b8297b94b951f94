"""The credit ledger: append-only entries, one per balance change."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, one_of, uuid_pk


class EntryType(StrEnum):
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


class SourceType(StrEnum):
    PURCHASE = "PURCHASE"
    WELCOME_BONUS = "WELCOME_BONUS"
    USAGE = "USAGE"
    REFUND = "REFUND"
    DISPUTE = "DISPUTE"
    ADMIN_ADJUSTMENT = "ADMIN_ADJUSTMENT"
    # Bonus credits of a purchase made with a promotion (source_id: the Checkout Session).
    PROMOTION_BONUS = "PROMOTION_BONUS"
    # Credits of a credit code (source_id: the redemption).
    PROMOTION_CODE = "PROMOTION_CODE"
    # Credits of a lot that reached its expiresAt unused (models.lots; one entry per lot).
    EXPIRY = "EXPIRY"
    # A paid subscription period's credits (source_id: the Stripe invoice).
    SUBSCRIPTION = "SUBSCRIPTION"
    # An automatic top-up's package, bought off-session (source_id: the attempt's id).
    TOP_UP = "TOP_UP"
    # A subscription period's lot rolling over into the next period (source_id "lot:<lot id>"
    # of the period's lot): a DEBIT out of it and a CREDIT making the ROLLOVER lot, one each.
    ROLLOVER = "ROLLOVER"


# Only money taken back (a refund or a lost dispute) may push a balance below zero.
CLAWBACK_SOURCES = (SourceType.REFUND, SourceType.DISPUTE)


class CreditTransaction(Base):
    __tablename__ = "credit_transactions"
    __table_args__ = (
        # The CHECKs are generated from the enums (the same text as migration 0001 wrote).
        CheckConstraint(one_of("entry_type", EntryType), name="entry_type"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("source_type", SourceType), name="source_type"),
        # The database's own guard for invariant 5: a debit may leave a negative balance only
        # when it is a clawback. balance_after is what the atomic UPDATE returned.
        CheckConstraint(
            f"balance_after >= 0 OR entry_type = '{EntryType.CREDIT}'"
            f" OR {one_of('source_type', CLAWBACK_SOURCES)}",
            name="no_negative_unless_clawback",
        ),
        Index("ix_credit_transactions_student_seq", "student_id", text("seq DESC")),
        # Exports read entries by date; BRIN: next to nothing on the hot insert path (0011).
        Index("ix_credit_transactions_created_brin", "created_at", postgresql_using="brin"),
        # One PURCHASE entry per paid Checkout Session, whoever fulfils it (invariant 2).
        Index(
            "uq_credit_transactions_purchase_source",
            "source_id",
            unique=True,
            postgresql_where=text("source_type = 'PURCHASE'"),
        ),
        # One bonus per promoted Checkout Session, whoever fulfils it (invariant 13).
        Index(
            "uq_credit_transactions_promotion_bonus_source",
            "source_id",
            unique=True,
            postgresql_where=text("source_type = 'PROMOTION_BONUS'"),
        ),
        # One grant per paid subscription invoice, whoever delivers it (invariant 13).
        Index(
            "uq_credit_transactions_subscription_source",
            "source_id",
            unique=True,
            postgresql_where=text("source_type = 'SUBSCRIPTION'"),
        ),
        # One TOP_UP entry per automatic top-up attempt, whoever settles it.
        Index(
            "uq_credit_transactions_top_up_source",
            "source_id",
            unique=True,
            postgresql_where=text("source_type = 'TOP_UP'"),
        ),
        # A period's lot rolls over once: one DEBIT and one CREDIT per lot (migration 0018).
        Index(
            "uq_credit_transactions_rollover_source",
            "source_id",
            "entry_type",
            unique=True,
            postgresql_where=text("source_type = 'ROLLOVER'"),
        ),
        # A payment's clawback and return entries (source_id is the payment id), for the audit.
        Index(
            "ix_credit_transactions_returns",
            "source_id",
            postgresql_where=text(one_of("source_type", CLAWBACK_SOURCES)),
        ),
        # Each lot expires exactly once ("lot:<id>"), and what each hold gives back to an
        # expired lot expires once more ("lot:<id>:hold:<id>"): a database rule (0013).
        Index(
            "uq_credit_transactions_expiry_source",
            "source_id",
            unique=True,
            postgresql_where=text("source_type = 'EXPIRY'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Monotonic across commits to the same student (entries are written after the balance row
    # is locked), so it orders the balanceAfter chain and the cursor pagination.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("student_profiles.user_id", ondelete="RESTRICT")
    )
    entry_type: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    source_type: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
