"""Request and response bodies of /api/admin/* credit adjustments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, field_validator, model_validator

from medgrader.core.schemas import ApiModel, WholeNumber
from medgrader.credits.schemas import Reason

MAX_ADJUSTMENT = 1_000_000
# Signed: positive adds credits, negative takes them away. Strict, like every credit amount.
# "not 0" is in the published schema too, so a client (or schemathesis) knows 0 is refused.
AdjustmentAmount = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_ADJUSTMENT,
        le=MAX_ADJUSTMENT,
        json_schema_extra={"not": {"const": 0}},
    ),
    WholeNumber,
]


class AdjustmentRequest(ApiModel):
    amount: AdjustmentAmount
    reason: Reason
    # A positive adjustment's credits expire at this instant (ISO 8601 with its zone, in the
    # future); absent: never. Not for a negative amount.
    expires_at: AwareDatetime | None = None

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value

    @model_validator(mode="after")
    def _expiry_of_a_grant(self) -> AdjustmentRequest:
        if self.expires_at is not None and self.amount < 0:
            raise ValueError("expiresAt: only a positive adjustment has an expiry")
        return self


class AdjustmentOut(ApiModel):
    transaction_id: uuid.UUID
    student_id: uuid.UUID
    type: str  # CREDIT (amount > 0 was asked) or DEBIT
    amount: int  # the magnitude, as in /api/credits/transactions; `type` gives the sign
    balance_after: int
    source_type: str  # ADMIN_ADJUSTMENT
    description: str
    actor_id: uuid.UUID
    created_at: datetime
