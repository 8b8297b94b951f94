"""Credit lots: where every credit of a balance came from, and what took it.

Every CREDIT entry creates one lot (a given-back credit entry one per lot it replaces); every
DEBIT entry takes credits out of lots as movements (`lot_movements`): a spend or a capture
(USE), a negative admin adjustment (ADJUSTMENT), a refund or dispute (CLAWBACK), an
expiry (EXPIRY) and a subscription period's rollover (ROLLOVER: out of the expiring period's
lot, into a new PAID lot of source ROLLOVER whose `origin_movement_id` is that movement; its
value is the movement's, so value moves on and is neither recognised nor breakage). A hold
reserves credits in lots (`lot_reservations`, summed in `credit_lots.reserved`) without moving
them; its capture moves them. A clawback that finds no credits leaves a debt (`credit_debts`)
that the next credits pay, as CLAWBACK movements of the clawback's entry. The writer is the SQL
in migrations 0013, 0018 and their successors (`ledger_post` and the `lots_*` functions),
called only by ledger.service. Invariants (checked by the audit, lots.audit):

- a lot's `amount - remaining` is the sum of its movements, `reserved` the sum of its
  reservations, `0 <= reserved <= remaining <= amount`;
- a balance is the sum of its lots' remainders minus its debts;
- a paid lot's movements carry value so that the value out is floor(V * (amount - remaining)
  / amount), exactly: recognised + breakage + clawed back + rolled over + deferred = V (what
  rolled over is the ROLLOVER lot's own V).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, one_of, uuid_pk


class LotKind(StrEnum):
    PAID = "PAID"
    GRANTED = "GRANTED"


class LotSource(StrEnum):
    """Where a lot came from (later issues add their own; the column is not constrained)."""

    PURCHASE = "PURCHASE"
    WELCOME_BONUS = "WELCOME_BONUS"
    ADMIN_GRANT = "ADMIN_GRANT"
    PROMOTION = "PROMOTION"  # a promotion's bonus credits or a credit code's (issue 18)
    SUBSCRIPTION = "SUBSCRIPTION"  # a paid subscription period's credits (issue 19)
    TOP_UP = "TOP_UP"  # an automatic top-up's package, bought off-session (issue 20)
    # What a subscription period's lot still held at its expiry, up to the plan's
    # rolloverMaxCredits, moved on to the next period (issue 19, migration 0018).
    ROLLOVER = "ROLLOVER"


class MovementKind(StrEnum):
    USE = "USE"
    ADJUSTMENT = "ADJUSTMENT"
    CLAWBACK = "CLAWBACK"
    EXPIRY = "EXPIRY"
    ROLLOVER = "ROLLOVER"  # out of a period's expiring lot into its ROLLOVER lot (0018)


DEFAULT_PRIORITY = 50
# The source_id of an EXPIRY entry: "lot:<lot id>" for what the lot held when it expired, and
# "lot:<lot id>:hold:<hold id>" for what a hold gave back to it afterwards. A partial UNIQUE
# index on credit_transactions makes each exactly once.
EXPIRY_SOURCE_PREFIX = "lot:"


class CreditLot(Base):
    __tablename__ = "credit_lots"
    __table_args__ = (
        CheckConstraint(one_of("kind", LotKind), name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "reserved >= 0 AND reserved <= remaining AND remaining <= amount",
            name="remaining_range",
        ),
        CheckConstraint("priority BETWEEN 0 AND 100", name="priority_range"),
        CheckConstraint(
            "(value_minor IS NULL) = (currency IS NULL)"
            " AND (value_minor IS NULL OR value_minor >= 0)"
            " AND (kind = 'PAID' OR value_minor IS NULL)",
            name="value",
        ),
        # The spend order. No index names remaining or reserved (not even in a predicate), so
        # that the hot path's UPDATE of them is a HOT update (no index entry written).
        Index(
            "ix_credit_lots_spend_order",
            "student_id",
            "priority",
            "expires_at",
            text("(kind = 'PAID')"),
            "seq",
        ),
        # The expiry job finds lots past their expiry that it has not settled yet.
        Index(
            "ix_credit_lots_due",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL AND NOT swept"),
        ),
        Index("ix_credit_lots_student_seq", "student_id", text("seq DESC")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The CREDIT entry that created the lot.
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_transactions.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Its expiry has been written down (what was free in it then expired, once); set by
    # lots_settle, never on the spend path.
    swept: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("50"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    value_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    # A given-back lot: the clawback movement whose credits it returns; a ROLLOVER lot: the
    # ROLLOVER movement out of the period's lot that it carries on.
    origin_movement_id: Mapped[int | None] = mapped_column(
        ForeignKey("lot_movements.id", use_alter=True), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )


class LotMovement(Base):
    __tablename__ = "lot_movements"
    __table_args__ = (
        CheckConstraint(one_of("kind", MovementKind), name="kind"),
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("value_minor IS NULL OR value_minor >= 0", name="value_positive"),
        # Revenue by day reads movements by date; BRIN: next to nothing on the hot insert path.
        Index("ix_lot_movements_created_brin", "created_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_lots.id", ondelete="RESTRICT"), index=True
    )
    # The DEBIT entry the credits went to (a debt's payment: the clawback that made the debt).
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_transactions.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    credits: Mapped[int] = mapped_column(BigInteger)
    # For a paid lot: the value that left with these credits (lots' floor rule).
    value_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )


class LotReservation(Base):
    """Credits an ACTIVE hold reserves in a lot (the row goes when the hold ends)."""

    __tablename__ = "lot_reservations"
    __table_args__ = (CheckConstraint("credits >= 0", name="credits_not_negative"),)

    hold_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_holds.id", ondelete="RESTRICT"), primary_key=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_lots.id", ondelete="RESTRICT"), primary_key=True
    )
    credits: Mapped[int] = mapped_column(BigInteger)


class CreditDebt(Base):
    """What a clawback could not take: paid first by the next credits."""

    __tablename__ = "credit_debts"
    __table_args__ = (
        CheckConstraint("amount > 0 AND remaining >= 0 AND remaining <= amount", name="range"),
        Index("ix_credit_debts_open", "student_id", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_transactions.id", ondelete="RESTRICT"), unique=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
