"""Request and response bodies of the checkout endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from medgrader.core.schemas import ApiModel
from medgrader.promotions.schemas import Code

CheckoutStatusName = Literal["PENDING", "COMPLETED", "EXPIRED", "FAILED"]


class CheckoutRequest(ApiModel):
    package_id: uuid.UUID
    promotion_code: Code | None = None
    # Save the card for later off-session use (automatic top-up); the Checkout page says so.
    # Strict: 0, 1 or "true" are refused (422), as the schema says (a boolean).
    save_card: Annotated[bool, Field(strict=True)] = False


class CheckoutQuote(ApiModel):
    """What a checkout will charge and credit (the preview; the checkout's answer too)."""

    amount: int  # pence: what will be charged
    currency: str
    credits: int  # the package's
    original_amount: int  # the package's price
    discount: int
    bonus_credits: int
    promotion_code: str | None = Field(default=None)


class CheckoutCreated(CheckoutQuote):
    session_url: str
    session_id: str
    expires_at: datetime


class CheckoutStatusOut(ApiModel):
    session_id: str
    status: CheckoutStatusName
    package_name: str
    credits: int
    amount: int  # pence
    currency: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None


class CheckoutSessionPage(ApiModel):
    items: list[CheckoutStatusOut]
    # Pass back as ?cursor= for the next (older) page; null on the last page.
    next_cursor: str | None
