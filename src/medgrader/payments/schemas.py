"""Response bodies of the payment endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from medgrader.core.schemas import ApiModel


class PaymentOut(ApiModel):
    id: uuid.UUID
    student_id: uuid.UUID
    type: str
    status: str
    amount: int  # pence
    amount_refunded: int  # pence
    currency: str
    credits: int
    package_name: str
    stripe_checkout_session_id: str
    stripe_payment_intent_id: str | None
    paid_at: datetime
    receipt_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
