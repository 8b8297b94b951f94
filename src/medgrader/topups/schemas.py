"""Request and response bodies of saved cards and automatic top-up (amounts in pence)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints

from medgrader.core.schemas import ApiModel, NoNul, WholeNumber
from medgrader.models.topups import THRESHOLD_MAX


class PaymentMethodOut(ApiModel):
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class SetupCreated(ApiModel):
    session_url: str
    session_id: str


class AutoTopUpIn(ApiModel):
    enabled: StrictBool
    threshold_credits: Annotated[int, Field(ge=0, le=THRESHOLD_MAX, strict=True), WholeNumber]
    package_id: uuid.UUID
    monthly_limit_minor: Annotated[int, Field(gt=0, le=100_000_000, strict=True), WholeNumber]
    # Which saved card to charge; by default the newest one.
    payment_method_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=255), NoNul] | None
    ) = None


class AttemptOut(ApiModel):
    id: uuid.UUID
    status: Literal["QUEUED", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELED"]
    package_name: str
    credits: int
    amount_minor: int
    currency: str
    failure_code: str | None
    decline_code: str | None
    payment_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None


class AutoTopUpOut(ApiModel):
    enabled: bool
    threshold_credits: int | None
    package_id: uuid.UUID | None
    monthly_limit_minor: int | None
    state: Literal["ACTIVE", "OFF", "SUSPENDED"]
    suspended_reason: str | None
    payment_method: PaymentMethodOut | None
    spent_this_month_minor: int
    attempts: list[AttemptOut]
