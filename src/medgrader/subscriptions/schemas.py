"""Request and response bodies of the plan and subscription endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from medgrader.core.schemas import ApiModel, WholeNumber, trimmed_text

PlanName = trimmed_text(max_length=100)
Description = trimmed_text(max_length=500, required=False)
Interval = Literal["month", "year"]


def _int(low: int, high: int) -> Any:
    return Annotated[int, Field(strict=True, ge=low, le=high), WholeNumber]


CreditsPerPeriod = _int(1, 100_000)
PriceMinor = _int(30, 10_000_000)  # Stripe's smallest GBP charge is 30p
Rollover = _int(0, 100_000)
Flag = Annotated[bool, Field(strict=True)]


class PlanCreate(ApiModel):
    name: PlanName
    description: Description | None = None
    credits_per_period: CreditsPerPeriod
    price_minor: PriceMinor
    interval: Interval
    rollover_max_credits: Rollover = 0

    @model_validator(mode="after")
    def _rollover_within_period(self) -> PlanCreate:
        if self.rollover_max_credits > self.credits_per_period:
            raise ValueError("rolloverMaxCredits may not exceed creditsPerPeriod")
        return self


# The fields that define what a subscriber pays and gets: frozen once a plan has had one.
TERMS = ("credits_per_period", "price_pence", "interval", "rollover_max_credits")


def _not_null(schema: dict[str, Any]) -> None:
    """JSON schema of an optional field that refuses null: its non-null branch alone."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    schema.pop("default", None)


def _optional() -> Any:
    return Field(default=None, json_schema_extra=_not_null)


class PlanUpdate(ApiModel):
    """Partial update: only the fields sent change (null only clears the description)."""

    name: PlanName | None = _optional()
    description: Description | None = None
    is_active: Flag | None = _optional()
    credits_per_period: CreditsPerPeriod | None = _optional()
    price_minor: PriceMinor | None = _optional()
    interval: Interval | None = _optional()
    rollover_max_credits: Rollover | None = _optional()

    @field_validator(
        "name", "is_active", "credits_per_period", "price_minor", "interval",
        "rollover_max_credits",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        """Column name -> new value, for the fields the client sent."""
        columns = {"price_minor": "price_pence"}
        return {columns.get(k, k): getattr(self, k) for k in self.model_fields_set}


class PlanOut(ApiModel):
    id: uuid.UUID
    name: str
    description: str | None
    credits_per_period: int
    price_minor: int = Field(validation_alias="price_pence")
    currency: str
    interval: str
    rollover_max_credits: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SubscriptionCheckoutIn(ApiModel):
    plan_id: uuid.UUID


class SubscriptionCheckoutOut(ApiModel):
    session_url: str
    session_id: str


class SubscriptionOut(ApiModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    status: str
    credits_per_period: int
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    # A plan change waiting for the next renewal, and when it takes effect.
    next_plan_id: uuid.UUID | None = None
    next_plan_name: str | None = None
    change_effective_at: datetime | None = None


class PlanChangeIn(ApiModel):
    plan_id: uuid.UUID


class PortalOut(ApiModel):
    url: str
