"""Request and response bodies of the promotion endpoints (back office and redeeming a code).

What a promotion may be is checked here (422 validation_error) and again by the table's
CHECKs: a purchase promotion (a discount, bonus credits, or both) or a credit code
(`grantCredits` alone).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from medgrader.core.schemas import (
    ApiModel,
    Rfc3339DateTime,
    WholeNumber,
    refuse_nul,
    trimmed_text,
)

# As sent: letters in either case (codes compare without regard to case; stored upper-cased).
CODE_INPUT_PATTERN = r"^[A-Za-z0-9_-]{4,40}$"


def _no_nul_first(value: object) -> object:
    # Before the pattern: a NUL is refused as such (the message every string field gives).
    return refuse_nul(value) if isinstance(value, str) else value


Code = Annotated[str, BeforeValidator(_no_nul_first), Field(pattern=CODE_INPUT_PATTERN)]
Description = trimmed_text(max_length=500, required=False)


def _int(low: int, high: int) -> Any:
    return Annotated[int, Field(strict=True, ge=low, le=high), WholeNumber]


Percent = _int(1, 100)
BonusPercent = _int(1, 500)
Pence = _int(1, 10_000_000)
MinPence = _int(0, 10_000_000)
Credits = _int(1, 1_000_000)
Days = _int(1, 3650)
Count = _int(1, 10_000_000)
Flag = Annotated[bool, Field(strict=True)]


class PromotionCreate(ApiModel):
    code: Code
    description: Description | None = None
    discount_percent: Percent | None = None
    discount_amount_minor: Pence | None = None
    bonus_credits_percent: BonusPercent | None = None
    bonus_credits: Credits | None = None
    grant_credits: Credits | None = None
    credits_expire_days: Days | None = None
    package_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)] | None = None
    min_amount_minor: MinPence | None = None
    first_purchase_only: Flag = False
    auto_apply: Flag = False
    max_redemptions: Count | None = None
    max_per_student: Count = 1
    starts_at: Rfc3339DateTime | None = None
    ends_at: Rfc3339DateTime | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PromotionCreate:
        if self.discount_percent is not None and self.discount_amount_minor is not None:
            raise ValueError("give discountPercent or discountAmountMinor, not both")
        if self.bonus_credits_percent is not None and self.bonus_credits is not None:
            raise ValueError("give bonusCreditsPercent or bonusCredits, not both")
        changes_purchase = any(
            v is not None
            for v in (
                self.discount_percent,
                self.discount_amount_minor,
                self.bonus_credits_percent,
                self.bonus_credits,
            )
        )
        if self.grant_credits is not None:
            if changes_purchase:
                raise ValueError("a credit code (grantCredits) has no discount and no bonus")
            purchase_only = {
                "packageIds": self.package_ids,
                "minAmountMinor": self.min_amount_minor,
                "firstPurchaseOnly": self.first_purchase_only or None,
                "autoApply": self.auto_apply or None,
            }
            given = [name for name, value in purchase_only.items() if value is not None]
            if given:
                raise ValueError(f"a credit code has no purchase: {', '.join(given)} do not apply")
        elif not changes_purchase:
            raise ValueError(
                "a promotion needs a discount, bonus credits, or both, or grantCredits alone"
            )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("endsAt must be after startsAt")
        return self


class PromotionUpdate(ApiModel):
    """Partial update: only the fields present in the body change."""

    description: Description | None = None
    ends_at: Rfc3339DateTime | None = None
    max_redemptions: Count | None = None
    active: Flag | None = None

    def changes(self) -> dict[str, Any]:
        columns = {"description": "description", "ends_at": "ends_at",
                   "max_redemptions": "max_redemptions", "active": "active"}  # fmt: skip
        return {columns[name]: getattr(self, name) for name in self.model_fields_set}


class PromotionCounts(ApiModel):
    reserved: int
    redeemed: int
    released: int
    discounts_given: int  # minor units, over redeemed uses
    credits_granted: int


class PromotionOut(ApiModel):
    id: uuid.UUID
    code: str
    kind: Literal["purchase", "credits"]
    description: str | None
    discount_percent: int | None
    discount_amount_minor: int | None
    bonus_credits_percent: int | None
    bonus_credits: int | None
    grant_credits: int | None
    credits_expire_days: int | None
    package_ids: list[uuid.UUID] | None
    min_amount_minor: int | None
    first_purchase_only: bool
    auto_apply: bool
    max_redemptions: int | None
    max_per_student: int
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool
    created_at: datetime
    updated_at: datetime
    counts: PromotionCounts


class RedemptionOut(ApiModel):
    id: uuid.UUID
    student_id: uuid.UUID
    student_email: str
    status: str
    checkout_session_id: str | None
    discount: int
    credits: int
    created_at: datetime
    redeemed_at: datetime | None
    released_at: datetime | None


class RedeemRequest(ApiModel):
    code: Code


class RedeemOut(ApiModel):
    credits: int
    # The credits' lot; until credit lots land, the ledger entry that granted them.
    lot_id: uuid.UUID
    expires_at: datetime | None
    balance: int
