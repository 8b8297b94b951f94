"""Promotions (discounts, bonus credits, credit codes) and their redemptions.

A promotion either changes a purchase (a discount, bonus credits, or both) or is a credit code
(`grant_credits` alone); the CHECKs say so, whatever the API let through. Each use is one
`promotion_redemptions` row: RESERVED when a checkout opens (or, briefly, while Stripe is asked:
`claimed_until`), REDEEMED when the purchase is fulfilled (a credit code is redeemed at once),
RELEASED when the session expires or fails, or the purchase is fully refunded.

The limits are database rules, not read-then-writes:
- every live use (RESERVED or REDEEMED) of a limited promotion holds one of its numbered places
  (`slot` in 1..max_redemptions): a partial UNIQUE index lets no two live uses share one, so no
  more than max_redemptions can ever be live at once;
- every live use of a student holds one of their places (`student_slot` in 1..max_per_student),
  unique in the same way;
- one redemption per checkout session (UNIQUE checkout_session_id), invariant 13.
The places are chosen under the promotion's row lock (promotions.limits), so racing checkouts
queue there and the losers get a refusal, not a unique violation.
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
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class RedemptionStatus(StrEnum):
    RESERVED = "RESERVED"
    REDEEMED = "REDEEMED"
    RELEASED = "RELEASED"


LIVE = (RedemptionStatus.RESERVED, RedemptionStatus.REDEEMED)
CODE_PATTERN = "^[A-Z0-9_-]{4,40}$"


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (
        # Stored upper-cased: codes compare without regard to case, UNIQUE on the stored text.
        CheckConstraint(f"code ~ '{CODE_PATTERN}'", name="code_format"),
        CheckConstraint("discount_percent BETWEEN 1 AND 100", name="discount_percent_range"),
        CheckConstraint("discount_amount_pence > 0", name="discount_amount_positive"),
        CheckConstraint(
            "discount_percent IS NULL OR discount_amount_pence IS NULL", name="one_discount"
        ),
        CheckConstraint("bonus_credits_percent BETWEEN 1 AND 500", name="bonus_percent_range"),
        CheckConstraint("bonus_credits > 0", name="bonus_credits_positive"),
        CheckConstraint("bonus_credits_percent IS NULL OR bonus_credits IS NULL", name="one_bonus"),
        CheckConstraint("grant_credits > 0", name="grant_credits_positive"),
        # A purchase promotion (some discount or bonus, no grant) or a credit code (a grant,
        # nothing else): never both, never neither.
        CheckConstraint(
            "(grant_credits IS NULL) = (discount_percent IS NOT NULL"
            " OR discount_amount_pence IS NOT NULL OR bonus_credits_percent IS NOT NULL"
            " OR bonus_credits IS NOT NULL)",
            name="purchase_or_credit_code",
        ),
        CheckConstraint("credits_expire_days > 0", name="expire_days_positive"),
        CheckConstraint("min_amount_pence >= 0", name="min_amount_nonnegative"),
        CheckConstraint("max_redemptions > 0", name="max_redemptions_positive"),
        CheckConstraint("max_per_student > 0", name="max_per_student_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # At most one active auto-apply promotion: the index is on a constant.
        Index(
            "uq_promotions_one_auto_apply",
            text("(true)"),
            unique=True,
            postgresql_where=text("auto_apply AND active"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    discount_percent: Mapped[int | None] = mapped_column(Integer)
    discount_amount_pence: Mapped[int | None] = mapped_column(Integer)
    bonus_credits_percent: Mapped[int | None] = mapped_column(Integer)
    bonus_credits: Mapped[int | None] = mapped_column(Integer)
    grant_credits: Mapped[int | None] = mapped_column(Integer)
    credits_expire_days: Mapped[int | None] = mapped_column(Integer)
    package_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid()))
    min_amount_pence: Mapped[int | None] = mapped_column(Integer)
    first_purchase_only: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    auto_apply: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    max_per_student: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PromotionRedemption(Base):
    __tablename__ = "promotion_redemptions"
    __table_args__ = (
        CheckConstraint(one_of("status", RedemptionStatus), name="status"),
        CheckConstraint("slot > 0", name="slot_positive"),
        CheckConstraint("student_slot > 0", name="student_slot_positive"),
        CheckConstraint("discount_pence >= 0", name="discount_nonnegative"),
        CheckConstraint("bonus_credits >= 0", name="bonus_nonnegative"),
        CheckConstraint("granted_credits >= 0", name="granted_nonnegative"),
        CheckConstraint(
            "bonus_taken_back BETWEEN 0 AND granted_credits", name="bonus_taken_back_range"
        ),
        CheckConstraint(
            "(status = 'REDEEMED') = (redeemed_at IS NOT NULL)", name="redeemed_at_iff_redeemed"
        ),
        # The limits, as database rules (see the module's docstring).
        Index(
            "uq_promotion_redemptions_live_slot",
            "promotion_id",
            "slot",
            unique=True,
            postgresql_where=text(one_of("status", LIVE)),
        ),
        Index(
            "uq_promotion_redemptions_live_student_slot",
            "promotion_id",
            "student_id",
            "student_slot",
            unique=True,
            postgresql_where=text(one_of("status", LIVE)),
        ),
        # One first-purchase checkout open per student, whichever first-purchase promotion.
        Index(
            "uq_promotion_redemptions_one_open_first_purchase",
            "student_id",
            unique=True,
            postgresql_where=text("first_purchase AND status = 'RESERVED'"),
        ),
        Index("ix_promotion_redemptions_student", "student_id", "status"),
        Index("ix_promotion_redemptions_promotion", "promotion_id", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    promotion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("promotions.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    status: Mapped[str] = mapped_column(String(10))
    # NULL when the promotion has no global limit (or for a use honoured past its limit: a
    # session paid after its reservation was released; the audit reports it).
    slot: Mapped[int | None] = mapped_column(Integer)
    student_slot: Mapped[int | None] = mapped_column(Integer)
    # One redemption per checkout session (invariant 13); NULL for a credit code, and for a
    # checkout reservation while Stripe is being asked (then claimed_until bounds it).
    checkout_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checkout_sessions.id"), unique=True
    )
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_purchase: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    package_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_packages.id"))
    original_amount_pence: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    discount_pence: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bonus_credits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Credits actually granted (bonus at fulfilment, or a credit code's grant).
    granted_credits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Of a bonus, what money returned took back: min(B, ceil(B*R/A)) (payments.returns).
    bonus_taken_back: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credit_transactions.id"), unique=True
    )
    release_reason: Mapped[str | None] = mapped_column(String(30))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
