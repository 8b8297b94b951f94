"""Response bodies of the payment endpoints (and the admin refund)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from medgrader.core.schemas import ApiModel, NoNul, WholeNumber


class RefundOut(ApiModel):
    id: str  # Stripe's re_ id
    payment_id: uuid.UUID
    amount: int  # pence
    status: str  # PENDING, REQUIRES_ACTION, SUCCEEDED, FAILED, CANCELED
    credits_clawed_back: int  # this refund's share by the rule, fixed when first recorded
    reason: str | None = None
    note: str | None = None
    failure_reason: str | None = None
    created_at: datetime


class DisputeOut(ApiModel):
    id: str  # Stripe's du_ id
    amount: int  # pence
    status: str  # Stripe's dispute status, e.g. needs_response, under_review, won, lost
    reason: str | None
    funds_withdrawn: int  # pence withdrawn and not reinstated


class PaymentOut(ApiModel):
    id: uuid.UUID
    student_id: uuid.UUID
    type: str
    status: str  # SUCCEEDED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED, DISPUTE_LOST
    amount: int  # pence
    amount_refunded: int  # pence, refunds pending or succeeded
    amount_disputed: int  # pence, dispute funds withdrawn and not reinstated
    credits_clawed_back: int  # credits taken back in total for this payment
    currency: str
    credits: int
    package_name: str
    # A purchase's Checkout Session; an automatic top-up has none, and a subscription payment
    # (type SUBSCRIPTION) has none and names its invoice and subscription instead.
    stripe_checkout_session_id: str | None
    stripe_invoice_id: str | None = None
    stripe_subscription_id: str | None = None
    stripe_payment_intent_id: str | None
    stripe_charge_id: str | None
    paid_at: datetime
    receipt_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refunds: list[RefundOut]
    dispute: DisputeOut | None


class PaymentPage(ApiModel):
    items: list[PaymentOut]
    # Pass as `cursor` to get the next (older) page; null on the last page.
    next_cursor: str | None


RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]
RefundNote = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoNul]


class RefundRequest(ApiModel):
    # Pence; default: all that is still refundable. Strict: 5.5, "5" and true are refused (5.0
    # is the integer 5 in JSON, as the published schema says).
    amount: Annotated[int, Field(strict=True, ge=1, le=10_000_000), WholeNumber] | None = None
    reason: RefundReason | None = None
    note: RefundNote | None = None
    allow_negative_balance: Annotated[bool, Field(strict=True)] = False


class RefundPreviewOut(ApiModel):
    payment_id: uuid.UUID
    amount: int  # pence this refund would return
    refundable_amount: int  # pence still refundable
    credits_to_claw_back: int
    balance: int
    balance_after: int
    refundable_without_negative_balance: int  # pence
    disputed: bool
