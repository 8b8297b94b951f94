"""Request and response bodies of /api/credits/holds*."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from medgrader.core.schemas import ApiModel, WholeNumber
from medgrader.credits.schemas import MAX_SPEND, Reason

MIN_TTL_SECONDS, MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS = 60, 86_400, 900
# A hold never reserves more than one spend may take, extensions included.
MAX_HOLD = MAX_SPEND

# Strict, like spend amounts: "5", 5.0 and true are refused (422).
HoldAmount = Annotated[int, Field(strict=True, ge=1, le=MAX_HOLD), WholeNumber]
ExtraAmount = Annotated[int, Field(strict=True, ge=0, le=MAX_HOLD), WholeNumber]
CaptureAmount = Annotated[int, Field(strict=True, ge=0, le=MAX_HOLD), WholeNumber]
TtlSeconds = Annotated[int, Field(strict=True, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS), WholeNumber]


class HoldCreateRequest(ApiModel):
    amount: HoldAmount
    reason: Reason
    ttl_seconds: TtlSeconds = DEFAULT_TTL_SECONDS


class HoldExtendRequest(ApiModel):
    # Credits added to the hold (0 or absent: only renew its expiry).
    additional_amount: ExtraAmount = 0
    # The hold then expires this many seconds from now (never earlier than it already did);
    # absent: the hold's own ttl (the one it was created or last extended with).
    ttl_seconds: TtlSeconds | None = None


class HoldCaptureRequest(ApiModel):
    # Credits to charge, at most the held amount; absent: all of it. 0 releases the hold.
    amount: CaptureAmount | None = None


class HoldOut(ApiModel):
    hold_id: uuid.UUID
    status: str  # ACTIVE, CAPTURED, RELEASED or EXPIRED
    amount: int  # held now: the reserved credits while ACTIVE, 0 once the hold has ended
    captured_amount: int  # 0 unless CAPTURED
    reason: str
    created_at: datetime
    expires_at: datetime
    # The student's balance minus their active holds, when this answer was made.
    available_balance: int
    # The capture's USAGE ledger entry; null unless CAPTURED.
    transaction_id: uuid.UUID | None = None


class HoldPage(ApiModel):
    items: list[HoldOut]
    next_cursor: str | None
