"""Request and response bodies of the checkout endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from medgrader.core.schemas import ApiModel

CheckoutStatusName = Literal["PENDING", "COMPLETED", "EXPIRED", "FAILED"]


class CheckoutRequest(ApiModel):
    package_id: uuid.UUID
    # Save the card for later off-session use (automatic top-up); the Checkout page says so.
    save_card: bool = False


class CheckoutCreated(ApiModel):
    session_url: str
    session_id: str
    expires_at: datetime
    amount: int  # pence
    currency: str
    credits: int


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
