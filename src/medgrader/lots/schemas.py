"""The lots' JSON: a student's lots and expiries, and the liability report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from medgrader.core.schemas import ApiModel

LOT_STATUSES = ("ACTIVE", "EXPIRED", "CONSUMED")


class LotOut(ApiModel):
    id: uuid.UUID
    kind: str  # PAID or GRANTED
    source: str  # PURCHASE, WELCOME_BONUS, ADMIN_GRANT, ...
    status: str  # ACTIVE, EXPIRED or CONSUMED
    amount: int
    remaining: int
    expires_at: datetime | None  # null: never
    created_at: datetime
    value_minor: int | None  # a paid lot's value in minor units (pence); null when granted
    currency: str | None


class LotPage(ApiModel):
    items: list[LotOut]
    # Pass as `cursor` to get the next (older) page; null on the last page.
    next_cursor: str | None


class Expiring(ApiModel):
    amount: int
    expires_at: datetime


class CreditLiability(ApiModel):
    at: datetime
    currency: Literal["GBP"] = "GBP"
    paid_credits_outstanding: int
    granted_credits_outstanding: int
    # The value of unspent, unexpired paid credits, in minor units (lots' floor rule).
    deferred_revenue: int
