"""Request and response bodies of /api/credits/*."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from medgrader.core.schemas import ApiModel, WholeNumber, trimmed_text
from medgrader.lots.schemas import Expiring

MAX_SPEND = 1_000_000
MAX_REASON = 200
# Strict: "5", 5.0 and true are refused, and 2**63 fails the bound (422) instead of
# overflowing a BIGINT (500).
SpendAmount = Annotated[int, Field(strict=True, ge=1, le=MAX_SPEND), WholeNumber]
Reason = trimmed_text(max_length=MAX_REASON)


class SpendRequest(ApiModel):
    amount: SpendAmount
    reason: Reason


class SpendResponse(ApiModel):
    transaction_id: uuid.UUID
    balance_after: int


class BalanceResponse(ApiModel):
    # The sum of the ledger, less credits past their expiry whose EXPIRY entry the job has not
    # written yet (they stopped counting at their expiresAt).
    balance: int
    held: int  # reserved by active, unexpired holds (medgrader.holds)
    available: int  # balance - held: what spends and new holds may use
    # What the unexpired lots hold, bought and given (they add up to the balance when it is
    # zero or more; a debt from a clawback is paid by the next credits).
    paid: int = 0
    granted: int = 0
    # The next three expiries: [{amount, expiresAt}], soonest first.
    expiring: list[Expiring] = Field(default_factory=list)


class TransactionOut(ApiModel):
    id: uuid.UUID
    type: str  # CREDIT or DEBIT
    amount: int  # always positive; the type says which way it moved
    balance_after: int
    source_type: str
    source_id: str | None
    description: str
    created_at: datetime


class TransactionPage(ApiModel):
    items: list[TransactionOut]
    # Pass as `cursor` to get the next (older) page; null on the last page.
    next_cursor: str | None
